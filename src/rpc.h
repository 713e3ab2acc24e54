// llama.cpp's RPC backend (libggml-rpc, loaded by lib/backends.ts): remote servers as devices of
// a model, whether a model's servers have failed, and ggml's RPC server on a thread of its own.
// The client's failure handling comes from vendor/patches/0004-rpc-failures-are-errors.patch:
// a failed server never aborts the process, its dispatcher counts the failure instead
// (ggml_backend_rpc_failure_count), and these helpers turn that count into ERR_RPC.
#pragma once
#include <napi.h>

#include <mutex>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "model_handle.h"

namespace llama_napi {

// rpcAddServers(endpoints, timeoutMs) → Promise<[{ endpoint, devices: string[] }]>: sets the
// send/receive timeout of new connections, registers each server's devices with ggml (once
// per endpoint and process) on a libuv worker; ERR_RPC when a server cannot be registered.
Napi::Value RpcAddServers(const Napi::CallbackInfo& info);

// rpcConnected(endpoint) → whether this process holds a healthy connection to that server.
Napi::Value RpcConnected(const Napi::CallbackInfo& info);

// The `devices` list for a model (NULL-terminated; empty: leave llama.cpp's default). Once any
// server is registered, every model gets an explicit list, so that a model without
// `rpcServers` never lands on a remote: its own servers' devices first (in the order given,
// as llama.cpp's --rpc), then the local GPUs as llama.cpp's default choice would take them.
std::vector<ggml_backend_dev_t> RpcModelDevices(Napi::Env env, Napi::Object opts);

// Held while ggml's device registry is read on the JS thread: a registration on a worker adds
// to it (ggml's registry has no lock of its own).
std::unique_lock<std::mutex> RpcRegistryLock();

// For an RPC device: its memory as the server reported it when last registered, without asking
// it now (a network exchange, never on the JS thread), and true. False for other devices.
// Call with RpcRegistryLock() held.
bool RpcDeviceMemory(ggml_backend_dev_t dev, size_t* free, size_t* total);

// A model's servers and their failure counts now, for ModelHandle (load time).
void RpcSnapshot(const std::vector<std::string>& endpoints, std::vector<uint64_t>& counts);
std::vector<std::string> RpcEndpointsFromJs(Napi::Env env, Napi::Object opts);

// "" while every server of the model is healthy; else the ERR_RPC message. Once failed, a model
// stays failed (its weights or state on that server are gone) until it is disposed.
std::string RpcFailure(ModelHandle& model);
// Same, from the counts a load started with.
std::string RpcFailureSince(const std::vector<std::string>& endpoints, const std::vector<uint64_t>& counts);

// startRpcServer({ endpoint, cacheDir, threads, devices }) → Promise<{ port, stop() → Promise }>.
Napi::Value RpcStartServer(const Napi::CallbackInfo& info);

}  // namespace llama_napi
