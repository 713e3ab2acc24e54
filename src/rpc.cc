#include "rpc.h"

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "errors.h"
#include "rpc_api.h"
#include "log.h"

namespace llama_napi {

namespace {

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
    RpcApi api = RpcBackendApi();
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
  RpcApi api = RpcBackendApi();
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
  RpcApi api = RpcBackendApi();
  for (const std::string& endpoint : endpoints) counts.push_back(api.failure_count ? api.failure_count(endpoint.c_str()) : 0);
}

std::string RpcFailureSince(const std::vector<std::string>& endpoints, const std::vector<uint64_t>& counts) {
  if (endpoints.empty()) return {};
  RpcApi api = RpcBackendApi();
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
    RpcApi api = RpcBackendApi();
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

}  // namespace llama_napi
