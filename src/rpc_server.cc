// startRpcServer: ggml's RPC server on a thread of its own (see rpc.h).
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "errors.h"
#include "log.h"
#include "rpc.h"
#include "rpc_api.h"

namespace llama_napi {

namespace {

// One ggml RPC server on a thread of its own. The thread-safe function is ref'd while the
// server runs (the process stays alive, as with a listening net.Server) and carries the two
// events to JS: listening (or not), and stopped. stop() asks ggml to shut the sockets down;
// the thread then returns and is joined on the JS thread.
class RpcServer {
 public:
  RpcServer(Napi::Env env, std::string endpoint, std::string cache_dir, size_t threads, std::vector<ggml_backend_dev_t> devices)
      : started_(Napi::Promise::Deferred::New(env)),
        endpoint_(std::move(endpoint)),
        cache_dir_(std::move(cache_dir)),
        threads_(threads),
        devices_(std::move(devices)) {}

  Napi::Promise Start(Napi::Env env, ServeFn serve, StopServerFn stop) {
    stop_ = stop;
    tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function(), "llama-napi:rpc-server", 0, 1, this,
                                          [](Napi::Env, RpcServer* self) { self->Finalize(); });
    napi_add_env_cleanup_hook(env, &RpcServer::Teardown, this);
    thread_ = std::thread([this, serve] {
      serve(endpoint_.c_str(), cache_dir_.empty() ? nullptr : cache_dir_.c_str(), threads_, devices_.size(), devices_.data(),
            &RpcServer::OnListening, this);
      finished_ = true;
      std::string why = LogTakeRecent();
      tsfn_.BlockingCall([this, why](Napi::Env env, Napi::Function) {
        GuardJsCallback([&] {
          if (!listening_reported_) {
            listening_reported_ = true;
            started_.Reject(CodedError(env, kErrRpc, "the RPC server could not listen on " + endpoint_ +
                                                         (why.empty() ? "" : ": " + why)).Value());
          }
          ended_ = true;
          for (auto& d : stopped_) d.Resolve(env.Undefined());
          stopped_.clear();
        });
      });
      tsfn_.Release();
    });
    return started_.Promise();
  }

 private:
  static void OnListening(void* user_data, int port) {
    auto* self = static_cast<RpcServer*>(user_data);
    if (port < 0) return;  // reported when serve() returns
    self->tsfn_.BlockingCall([self, port](Napi::Env env, Napi::Function) {
      GuardJsCallback([&] {
        self->listening_reported_ = true;
        Napi::Object out = Napi::Object::New(env);
        out.Set("port", port);
        out.Set("stop", Napi::Function::New(env, [self](const Napi::CallbackInfo& info) -> Napi::Value {
                  auto d = Napi::Promise::Deferred::New(info.Env());
                  if (self->ended_) {
                    d.Resolve(info.Env().Undefined());
                  } else {
                    self->stopped_.push_back(d);
                    self->stop_(self);
                  }
                  return d.Promise();
                }));
        self->started_.Resolve(out);
      });
    });
  }

  // JS thread, after the last call: the thread has returned.
  void Finalize() {
    if (thread_.joinable()) thread_.join();
    napi_remove_env_cleanup_hook(started_.Env(), &RpcServer::Teardown, this);
    // `this` stays alive: a stop function handed out may still be called (it resolves at once).
  }

  // Environment teardown (process exit, worker.terminate()): stop and wait.
  static void Teardown(void* arg) {
    auto* self = static_cast<RpcServer*>(arg);
    self->stop_(self);
    if (self->thread_.joinable()) self->thread_.join();
  }

  Napi::Promise::Deferred started_;
  std::vector<Napi::Promise::Deferred> stopped_;
  std::string endpoint_;
  std::string cache_dir_;
  size_t threads_;
  std::vector<ggml_backend_dev_t> devices_;
  StopServerFn stop_ = nullptr;
  Napi::ThreadSafeFunction tsfn_;
  std::thread thread_;
  std::atomic<bool> finished_{false};
  bool listening_reported_ = false;
  bool ended_ = false;  // JS thread: the thread's last message has arrived
};

}  // namespace

Napi::Value RpcStartServer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) ThrowCoded(env, kErrInvalidArg, "startRpcServer(options)");
  Napi::Object o = info[0].As<Napi::Object>();
  if (!o.Get("endpoint").IsString() || !o.Get("threads").IsNumber()) {
    ThrowCoded(env, kErrInvalidArg, "startRpcServer({ endpoint, threads, devices, cacheDir })");
  }
  RpcApi api = RpcBackendApi();
  if (api.serve == nullptr || api.stop_server == nullptr) ThrowCoded(env, kErrRpc, kNoRpc);
  const double threads = o.Get("threads").As<Napi::Number>().DoubleValue();
  if (!(threads >= 1 && threads <= 1024)) ThrowCoded(env, kErrInvalidArg, "threads out of range");
  std::vector<ggml_backend_dev_t> devices;
  Napi::Value names = o.Get("devices");
  if (names.IsArray()) {
    Napi::Array a = names.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      const std::string name = a.Get(i).ToString().Utf8Value();
      ggml_backend_dev_t dev = ggml_backend_dev_by_name(name.c_str());
      if (dev == nullptr) ThrowCoded(env, kErrInvalidArg, "unknown device \"" + name + "\" (see listDevices())");
      devices.push_back(dev);
    }
  }
  if (devices.empty()) {
    // tools/rpc's default: the accelerators, else the CPU (never a remote device of our own).
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
      ggml_backend_dev_t dev = ggml_backend_dev_get(i);
      ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
      if (reg != nullptr && std::string(ggml_backend_reg_name(reg)).rfind("RPC", 0) == 0) continue;
      if (ggml_backend_dev_type(dev) != GGML_BACKEND_DEVICE_TYPE_CPU) devices.push_back(dev);
    }
    if (devices.empty()) {
      ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
      if (cpu != nullptr) devices.push_back(cpu);
    }
  }
  if (devices.empty()) ThrowCoded(env, kErrRpc, "no device to serve");
  Napi::Value cache = o.Get("cacheDir");
  auto* server = new RpcServer(env, o.Get("endpoint").As<Napi::String>().Utf8Value(),
                               cache.IsString() ? cache.As<Napi::String>().Utf8Value() : std::string(),
                               static_cast<size_t>(threads), std::move(devices));
  return server->Start(env, api.serve, api.stop_server);
}

}  // namespace llama_napi
