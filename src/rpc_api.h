// The RPC backend's functions, looked up in its proc-address table (libggml-rpc is a loadable
// module: the addon does not link it). Shared by the client side (rpc.cc) and the server
// (rpc_server.cc).
#pragma once
#include <cstddef>
#include <cstdint>

#include "ggml-backend.h"

namespace llama_napi {

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

// Looked up once the RPC module is loaded; all null before that, or in a build without it.
RpcApi RpcBackendApi();

// The message of ERR_RPC when the module or the functions are missing.
extern const char kNoRpc[];

}  // namespace llama_napi
