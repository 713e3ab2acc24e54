// The one file that includes llama.cpp's private llama-ext.h (vendor/llama.cpp/src, not include/):
// a llama.cpp upgrade that changes llama_get_memory_breakdown() touches only this file.
#include "estimate.h"

#include <string>
#include <vector>

#include "engine_params.h"
#include "errors.h"
#include "js_params.h"
#include "log.h"

// llama_get_memory_breakdown() lives in llama.cpp's staging header (src/llama-ext.h, C++, marked
// WIP upstream); it is what llama.cpp's own fit/memory-print code uses. Without it the build
// still works and estimateMemory() reports ERR_NATIVE.
// CMakeLists.txt puts llama.cpp's src/ on the include path for this.
#if __has_include("llama-ext.h")
#include "llama-ext.h"
#define LLAMA_NAPI_HAVE_BREAKDOWN 1
#endif

namespace llama_napi {

namespace {

struct Usage {
  std::string name;
  double weights = 0, kv = 0, compute = 0, free = 0, total = 0;
};

class EstimateWorker : public Napi::AsyncWorker {
 public:
  EstimateWorker(Napi::Env env, std::string path, llama_model_params mparams, LoadPlacement placement,
                 llama_context_params cparams)
      : Napi::AsyncWorker(env, "llama-napi:estimate"),
        deferred_(Napi::Promise::Deferred::New(env)),
        path_(std::move(path)),
        mparams_(mparams),
        placement_(std::move(placement)),
        cparams_(cparams) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
#ifndef LLAMA_NAPI_HAVE_BREAKDOWN
    code_ = kErrNative;
    SetError("this build has no llama.cpp memory breakdown (src/llama-ext.h)");
#else
    placement_.Apply(mparams_);
    mparams_.no_alloc = true;                      // metadata only; allocations are simulated
    mparams_.load_mode = LLAMA_LOAD_MODE_NONE;     // as llama.cpp's fit code: nothing mapped
    mparams_.progress_callback = nullptr;
    LogTakeRecent();
    llama_model* model = llama_model_load_from_file(path_.c_str(), mparams_);
    if (model == nullptr) return Fail(kErrModelLoad, "llama.cpp could not read the model");
    llama_context* ctx = llama_init_from_model(model, cparams_);
    if (ctx == nullptr) {
      llama_model_free(model);
      return Fail(kErrContextCreate, "llama.cpp could not plan the context");
    }
    // Group buffer types by device, host buffers (CPU, pinned host memory) together, as
    // llama.cpp's common_memory_breakdown_print does.
    const int n_devices = llama_model_n_devices(model);
    devices_.resize(n_devices);
    for (int i = 0; i < n_devices; i++) {
      ggml_backend_dev_t dev = llama_model_get_device(model, i);
      size_t free = 0, total = 0;
      ggml_backend_dev_memory(dev, &free, &total);
      devices_[i] = {ggml_backend_dev_name(dev), 0, 0, 0, static_cast<double>(free), static_cast<double>(total)};
    }
    if (ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU)) {
      size_t free = 0, total = 0;
      ggml_backend_dev_memory(cpu, &free, &total);
      host_ = {ggml_backend_dev_name(cpu), 0, 0, 0, static_cast<double>(free), static_cast<double>(total)};
    }
    for (const auto& [buft, mb] : llama_get_memory_breakdown(ctx)) {
      Usage* into = &host_;
      if (!ggml_backend_buft_is_host(buft)) {
        ggml_backend_dev_t dev = ggml_backend_buft_get_device(buft);
        for (int i = 0; i < n_devices; i++) {
          if (dev != nullptr && dev == llama_model_get_device(model, i)) into = &devices_[i];
        }
      }
      into->weights += static_cast<double>(mb.model);
      into->kv += static_cast<double>(mb.context);
      into->compute += static_cast<double>(mb.compute);
    }
    llama_free(ctx);
    llama_model_free(model);
#endif
  }

  void OnOK() override {
    Napi::Env env = Env();
    auto usage = [&](const Usage& u) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", u.name);
      o.Set("weights", u.weights);
      o.Set("kvCache", u.kv);
      o.Set("compute", u.compute);
      o.Set("free", u.free);
      o.Set("memoryTotal", u.total);
      return o;
    };
    Napi::Object out = Napi::Object::New(env);
    Napi::Array devices = Napi::Array::New(env, devices_.size());
    for (size_t i = 0; i < devices_.size(); i++) devices.Set(static_cast<uint32_t>(i), usage(devices_[i]));
    out.Set("devices", devices);
    out.Set("host", usage(host_));
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override {
    deferred_.Reject(CodedError(Env(), code_.empty() ? kErrNative : code_, e.Message()).Value());
  }

 private:
  void Fail(const char* code, const std::string& what) {
    std::string why = LogTakeRecent();
    // Even a plan allocates: llama.cpp sizes the KV cache's per-cell bookkeeping by the context.
    code_ = OutOfMemoryCode(why, code);
    SetError(what + (why.empty() ? "" : ": " + why));
  }

  Napi::Promise::Deferred deferred_;
  std::string path_;
  llama_model_params mparams_;
  LoadPlacement placement_;
  llama_context_params cparams_;
  std::vector<Usage> devices_;
  Usage host_;
  std::string code_;
};

}  // namespace

Napi::Value EstimateMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsObject() || !info[2].IsObject()) {
    ThrowCoded(env, kErrInvalidArg, "estimateMemory(path, modelParams, contextParams)");
  }
  LoadPlacement placement;
  llama_model_params mparams = ModelParamsFromJs(env, info[1].As<Napi::Object>(), placement);
  llama_context_params cparams = ContextParamsFor(EngineParamsFromJs(env, info[2].As<Napi::Object>()));
  auto* worker = new EstimateWorker(env, info[0].As<Napi::String>().Utf8Value(), mparams, std::move(placement), cparams);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace llama_napi
