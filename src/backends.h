// Loadable ggml backends (GGML_BACKEND_DL): the mechanism. Which files to load, and in what
// order, is decided in lib/backends.ts.
#pragma once
#include <napi.h>

namespace llama_napi {

// backendScore(path): the module's ggml_backend_score() (0: this machine cannot run it), or
// null when it has none. Loads and unloads the module without registering it; throws
// ERR_BACKEND with the dynamic loader's reason when it cannot be loaded at all.
Napi::Value BackendScore(const Napi::CallbackInfo& info);

// loadBackend(path): registers the module with ggml (ggml_backend_load) and returns
// { name, devices }. Loading a path twice returns the first registration (several Node
// environments share the process). Throws ERR_BACKEND with the reason on failure.
Napi::Value LoadBackend(const Napi::CallbackInfo& info);

// cpuFeatures(): [[name, value]] of the loaded CPU backend (ggml_backend_get_features), the
// instruction sets its variant was compiled for; [] before a CPU backend is loaded.
Napi::Value CpuFeatures(const Napi::CallbackInfo& info);

}  // namespace llama_napi
