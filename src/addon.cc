// Registers the addon's exports (see lib/native.ts for the contract). Nothing else.
#include <napi.h>

#include <mutex>

#include "addon_data.h"
#include "backends.h"
#include "chat_template.h"
#include "context.h"
#include "devices.h"
#include "estimate.h"
#include "grammar.h"
#include "errors.h"
#include "inference_loop.h"
#include "llama.h"
#include "log.h"
#include "model.h"
#include "quantize.h"
#include "rpc.h"
#include "running_loads.h"

namespace llama_napi {

AddonData::~AddonData() {
  // Environment teardown (process exit, worker.terminate()): no native thread may outlive it.
  for (auto& flag : loads) flag->store(true);
  for (Context* context : std::set<Context*>(contexts)) {
    context->Shutdown();
    context->DetachAddon();
  }
}

namespace {

void SetLogger(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Function logger = info.Length() > 0 && info[0].IsFunction() ? info[0].As<Napi::Function>() : Napi::Function();
  const int min_level = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : GGML_LOG_LEVEL_WARN;
  LogSetSink(env, logger, min_level);
}

Napi::Value ChatTemplateNames(const Napi::CallbackInfo& info) {
  const std::vector<std::string> names = BuiltinChatTemplates();
  Napi::Array out = Napi::Array::New(info.Env(), names.size());
  for (uint32_t i = 0; i < names.size(); i++) out.Set(i, names[i]);
  return out;
}

Napi::Value FileTypeName(const Napi::CallbackInfo& info) {
  // Any int32 is safe: llama_ftype_name names unknown numbers "unknown, may not work".
  if (info.Length() < 1 || !info[0].IsNumber()) ThrowCoded(info.Env(), kErrInvalidArg, "fileTypeName(fileType) expects a number");
  return Napi::String::New(info.Env(), llama_ftype_name(static_cast<llama_ftype>(info[0].As<Napi::Number>().Int32Value())));
}

Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("llamaVersion", llama_version());
  out.Set("llamaCommit", LLAMA_NAPI_LLAMA_COMMIT);
  out.Set("systemInfo", llama_print_system_info());
  out.Set("gpuOffload", llama_supports_gpu_offload());
  out.Set("mmap", llama_supports_mmap());
  out.Set("mlock", llama_supports_mlock());
  return out;
}

void ShutdownAll(const Napi::CallbackInfo&) {
  InferenceLoop::StopAll();
  RunningLoad::AbortAllAndWait();
}

Napi::Value RunningLoads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(RunningLoad::Count()));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // llama.cpp's process-wide state is set up once, whatever number of environments load us.
  static std::once_flag backend_once;
  LogAttach();  // before backend init, so its lines are routed (and not printed) too
  std::call_once(backend_once, [] { llama_backend_init(); });
  napi_add_env_cleanup_hook(env, [](void* e) { LogDetach(static_cast<napi_env>(e)); }, static_cast<napi_env>(env));

  auto* data = new AddonData();
  env.SetInstanceData<AddonData>(data);
  Napi::Function model = Model::Define(env);
  Napi::Function context = Context::Define(env);
  data->model_ctor = Napi::Persistent(model);
  data->context_ctor = Napi::Persistent(context);

  exports.Set("Model", model);
  exports.Set("Context", context);
  exports.Set("setLogger", Napi::Function::New<SetLogger>(env, "setLogger"));
  exports.Set("shutdown", Napi::Function::New<ShutdownAll>(env, "shutdown"));
  exports.Set("runningLoads", Napi::Function::New<RunningLoads>(env, "runningLoads"));
  exports.Set("buildInfo", Napi::Function::New<BuildInfo>(env, "buildInfo"));
  exports.Set("listDevices", Napi::Function::New<ListDevices>(env, "listDevices"));
  exports.Set("rpcAddServers", Napi::Function::New<RpcAddServers>(env, "rpcAddServers"));
  exports.Set("rpcConnected", Napi::Function::New<RpcConnected>(env, "rpcConnected"));
  exports.Set("rpcStartServer", Napi::Function::New<RpcStartServer>(env, "rpcStartServer"));
  exports.Set("estimateMemory", Napi::Function::New<EstimateMemory>(env, "estimateMemory"));
  exports.Set("quantize", Napi::Function::New<Quantize>(env, "quantize"));
  exports.Set("jsonSchemaToGrammar", Napi::Function::New<JsonSchemaToGrammarJs>(env, "jsonSchemaToGrammar"));
  exports.Set("backendScore", Napi::Function::New<BackendScore>(env, "backendScore"));
  exports.Set("loadBackend", Napi::Function::New<LoadBackend>(env, "loadBackend"));
  exports.Set("cpuFeatures", Napi::Function::New<CpuFeatures>(env, "cpuFeatures"));
  exports.Set("chatTemplateNames", Napi::Function::New<ChatTemplateNames>(env, "chatTemplateNames"));
  exports.Set("fileTypeName", Napi::Function::New<FileTypeName>(env, "fileTypeName"));
  return exports;
}

}  // namespace
}  // namespace llama_napi

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return llama_napi::Init(env, exports); }

NODE_API_MODULE(llama_napi, InitAddon)
