#include "rpc_api.h"

#include <mutex>

namespace llama_napi {

// Asking ggml's registry on every step would also read it while a worker may be adding to it:
// the addresses never change once the module is loaded, so they are cached.
RpcApi RpcBackendApi() {
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

}  // namespace llama_napi
