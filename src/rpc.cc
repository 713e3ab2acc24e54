#include "rpc.h"

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "errors.h"
#include "log.h"

namespace llama_napi {

namespace {

// The functions vendor/patches/0004 adds to the RPC backend's proc-address table, and two of
// upstream's. All null when the RPC module is not loaded.
using AddServerFn = ggml_backend_reg_t (*)(const char* endpoint);
using SetTimeoutFn = void (*)(uint32_t ms);
using FailureCountFn = uint64_t (*)(const char* endpoint);
using ConnectedFn = bool (*)(const char* endpoint);
using ListeningFn = void (*)(void* user_data, int port);
using ServeFn = void (*)(const char* endpoint, const char* cache_dir, size_t n_threads, size_t n_devices,
                         ggml_backend_dev_t* devices, ListeningFn listening, void* user_data);
using StopServerFn = void (*)(void* user_data);

struct RpcApi {
  AddServerFn add_server = nullptr;
  SetTimeoutFn set_timeout = nullptr;
  FailureCountFn failure_count = nullptr;
  ConnectedFn connected = nullptr;
  ServeFn serve = nullptr;
  StopServerFn stop_server = nullptr;
};

// Looked up once the RPC module is loaded (the addresses never change; asking ggml's registry
// on every step would also read it while a worker may be adding to it).
RpcApi Api() {
  static std::mutex mutex;
  static RpcApi cached;
  std::lock_guard<std::mutex> lock(mutex);
  if (cached.add_server != nullptr) return cached;
  RpcApi api;
  ggml_backend_reg_t reg = ggml_backend_reg_by_name("RPC");
  if (reg == nullptr) return api;
  auto get = [reg](const char* name) { return ggml_backend_reg_get_proc_address(reg, name); };
  api.add_server = reinterpret_cast<AddServerFn>(get("ggml_backend_rpc_add_server"));
  api.set_timeout = reinterpret_cast<SetTimeoutFn>(get("ggml_backend_rpc_set_timeout"));
  api.failure_count = reinterpret_cast<FailureCountFn>(get("ggml_backend_rpc_failure_count"));
  api.connected = reinterpret_cast<ConnectedFn>(get("ggml_backend_rpc_connected"));
  api.serve = reinterpret_cast<ServeFn>(get("ggml_backend_rpc_serve"));
  api.stop_server = reinterpret_cast<StopServerFn>(get("ggml_backend_rpc_stop_server"));
  cached = api;
  return api;
}

const char kNoRpc[] =
    "this build has no usable RPC backend (libggml-rpc with vendor/patches/0004 next to the addon); "
    "rebuild llama-napi or reinstall it";

// Endpoints registered with ggml in this process (ggml keeps a registration for good, and
// registering one twice would list its devices twice). Process-wide, like ggml's registry.
std::mutex registered_mutex;
std::map<std::string, ggml_backend_reg_t>& Registered() {
  static auto* registered = new std::map<std::string, ggml_backend_reg_t>();  // process lifetime
  return *registered;
}

// Each RPC device's memory as its server reported it at the last registration (every load or
// estimate that names the server registers it again, on a libuv worker). listDevices reports
// these instead of asking: asking is a network exchange, which on the JS thread would block the
// event loop, up to the whole timeout for a hung server or one busy with another client.
std::map<ggml_backend_dev_t, std::pair<size_t, size_t>>& Memory() {
  static auto* memory = new std::map<ggml_backend_dev_t, std::pair<size_t, size_t>>();  // process lifetime
  return *memory;
}

class AddServersWorker : public Napi::AsyncWorker {
 public:
  AddServersWorker(Napi::Env env, std::vector<std::string> endpoints, uint32_t timeout_ms)
      : Napi::AsyncWorker(env, "llama-napi:rpc-add-servers"),
        deferred_(Napi::Promise::Deferred::New(env)),
        endpoints_(std::move(endpoints)),
        timeout_ms_(timeout_ms) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    RpcApi api = Api();
    if (api.add_server == nullptr || api.set_timeout == nullptr || api.failure_count == nullptr) return SetError(kNoRpc);
    api.set_timeout(timeout_ms_);
    // One registration at a time (workers only); registered_mutex, which the JS thread takes,
    // is never held across network I/O.
    static std::mutex adding;
    std::lock_guard<std::mutex> serial(adding);
    for (const std::string& endpoint : endpoints_) {
      ggml_backend_reg_t reg = nullptr;
      {
        std::lock_guard<std::mutex> lock(registered_mutex);
        auto found = Registered().find(endpoint);
        if (found != Registered().end()) reg = found->second;
      }
      if (reg == nullptr) {
        LogTakeRecent();
        reg = api.add_server(endpoint.c_str());
        if (reg == nullptr) {
          std::string why = LogTakeRecent();
          return SetError("the RPC server " + endpoint + " could not be registered (it reports no device, or it failed)" +
                          (why.empty() ? "" : ": " + why));
        }
        std::lock_guard<std::mutex> lock(registered_mutex);
        ggml_backend_register(reg);
        Registered()[endpoint] = reg;
      }
      std::vector<std::string> names;
      for (size_t i = 0; i < ggml_backend_reg_dev_count(reg); i++) {
        ggml_backend_dev_t dev = ggml_backend_reg_dev_get(reg, i);
        size_t free = 0, total = 0;
        ggml_backend_dev_memory(dev, &free, &total);  // 0 from a server that failed meanwhile
        std::lock_guard<std::mutex> lock(registered_mutex);
        Memory()[dev] = {free, total};
        names.push_back(ggml_backend_dev_name(dev));
      }
      result_.emplace_back(endpoint, std::move(names));
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Array out = Napi::Array::New(env, result_.size());
    for (uint32_t i = 0; i < result_.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("endpoint", result_[i].first);
      Napi::Array names = Napi::Array::New(env, result_[i].second.size());
      for (uint32_t j = 0; j < result_[i].second.size(); j++) names.Set(j, result_[i].second[j]);
      o.Set("devices", names);
      out.Set(i, o);
    }
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(CodedError(Env(), kErrRpc, e.Message()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<std::string> endpoints_;
  uint32_t timeout_ms_;
  std::vector<std::pair<std::string, std::vector<std::string>>> result_;
};

std::string FailureMessage(const std::string& endpoint, bool loading = false) {
  return "the RPC server " + endpoint + " failed" + (loading ? " during the load" : "") +
         " (unreachable, died, hung past the timeout or answered malformed): " +
         (loading ? "load the model again once the server runs"
                  : "this model cannot be used any more; dispose it and load it again once the server runs");
}

}  // namespace

Napi::Value RpcAddServers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsNumber()) {
    ThrowCoded(env, kErrInvalidArg, "rpcAddServers(endpoints, timeoutMs)");
  }
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<std::string> endpoints;
  for (uint32_t i = 0; i < list.Length(); i++) {
    if (!list.Get(i).IsString()) ThrowCoded(env, kErrInvalidArg, "RPC endpoints must be strings");
    endpoints.push_back(list.Get(i).As<Napi::String>().Utf8Value());
  }
  const double timeout = info[1].As<Napi::Number>().DoubleValue();
  if (!(timeout >= 0 && timeout <= 2147483647)) ThrowCoded(env, kErrInvalidArg, "RPC timeout out of range");
  auto* worker = new AddServersWorker(env, std::move(endpoints), static_cast<uint32_t>(timeout));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value RpcConnected(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) ThrowCoded(env, kErrInvalidArg, "rpcConnected(endpoint)");
  RpcApi api = Api();
  return Napi::Boolean::New(env, api.connected != nullptr && api.connected(info[0].As<Napi::String>().Utf8Value().c_str()));
}

std::unique_lock<std::mutex> RpcRegistryLock() { return std::unique_lock<std::mutex>(registered_mutex); }

bool RpcDeviceMemory(ggml_backend_dev_t dev, size_t* free, size_t* total) {
  ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
  if (reg == nullptr || std::string(ggml_backend_reg_name(reg)).rfind("RPC", 0) != 0) return false;
  auto found = Memory().find(dev);
  *free = found != Memory().end() ? found->second.first : 0;
  *total = found != Memory().end() ? found->second.second : 0;
  return true;
}

std::vector<std::string> RpcEndpointsFromJs(Napi::Env env, Napi::Object opts) {
  std::vector<std::string> out;
  Napi::Value v = opts.Get("rpcServers");
  if (v.IsUndefined()) return out;
  if (!v.IsArray()) ThrowCoded(env, kErrInvalidArg, "rpcServers must be an array of endpoints");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    if (!a.Get(i).IsString()) ThrowCoded(env, kErrInvalidArg, "rpcServers must be an array of endpoints");
    out.push_back(a.Get(i).As<Napi::String>().Utf8Value());
  }
  return out;
}

std::vector<ggml_backend_dev_t> RpcModelDevices(Napi::Env env, Napi::Object opts) {
  const std::vector<std::string> endpoints = RpcEndpointsFromJs(env, opts);
  std::vector<ggml_backend_dev_t> out;
  std::lock_guard<std::mutex> lock(registered_mutex);
  if (Registered().empty()) {
    if (!endpoints.empty()) ThrowCoded(env, kErrRpc, "rpcServers were not registered (rpcAddServers) before the load");
    return out;
  }
  for (const std::string& endpoint : endpoints) {
    auto found = Registered().find(endpoint);
    if (found == Registered().end()) ThrowCoded(env, kErrRpc, "the RPC server " + endpoint + " is not registered");
    for (size_t i = 0; i < ggml_backend_reg_dev_count(found->second); i++) out.push_back(ggml_backend_reg_dev_get(found->second, i));
  }
  // The local GPUs, as llama.cpp's default selection takes them (discrete ones; integrated ones
  // only when there is no discrete one); never another model's remote servers.
  std::vector<ggml_backend_dev_t> gpus, igpus;
  for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
    if (reg != nullptr && std::string(ggml_backend_reg_name(reg)).rfind("RPC", 0) == 0) continue;
    const auto type = ggml_backend_dev_type(dev);
    if (type == GGML_BACKEND_DEVICE_TYPE_GPU) gpus.push_back(dev);
    if (type == GGML_BACKEND_DEVICE_TYPE_IGPU) igpus.push_back(dev);
  }
  out.insert(out.end(), gpus.begin(), gpus.end());
  if (gpus.empty()) out.insert(out.end(), igpus.begin(), igpus.end());
  out.push_back(nullptr);  // NULL-terminated
  return out;
}

void RpcSnapshot(const std::vector<std::string>& endpoints, std::vector<uint64_t>& counts) {
  counts.clear();
  if (endpoints.empty()) return;
  RpcApi api = Api();
  for (const std::string& endpoint : endpoints) counts.push_back(api.failure_count ? api.failure_count(endpoint.c_str()) : 0);
}

std::string RpcFailureSince(const std::vector<std::string>& endpoints, const std::vector<uint64_t>& counts) {
  if (endpoints.empty()) return {};
  RpcApi api = Api();
  if (api.failure_count == nullptr) return {};
  for (size_t i = 0; i < endpoints.size() && i < counts.size(); i++) {
    if (api.failure_count(endpoints[i].c_str()) != counts[i]) return FailureMessage(endpoints[i], true);
  }
  return {};
}

std::string RpcFailure(ModelHandle& model) {
  if (model.rpc_endpoints.empty()) return {};
  int failed = model.rpc_failed.load();
  if (failed < 0) {
    RpcApi api = Api();
    if (api.failure_count == nullptr) return {};
    for (size_t i = 0; i < model.rpc_endpoints.size(); i++) {
      if (api.failure_count(model.rpc_endpoints[i].c_str()) != model.rpc_failures_at_load[i]) {
        int expected = -1;
        model.rpc_failed.compare_exchange_strong(expected, static_cast<int>(i));
        failed = model.rpc_failed.load();
        break;
      }
    }
  }
  return failed < 0 ? std::string() : FailureMessage(model.rpc_endpoints[static_cast<size_t>(failed)]);
}

// ---- the server ------------------------------------------------------------------------

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
  RpcApi api = Api();
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
