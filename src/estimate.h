// estimateMemory(): what loading a model and creating one context would allocate, per device,
// from llama.cpp's own simulation (llama_model_params.no_alloc), without allocating it.
#pragma once
#include <napi.h>

namespace llama_napi {

// estimateMemory(path, modelParams, contextParams) → Promise<NativeMemoryEstimate>.
Napi::Value EstimateMemory(const Napi::CallbackInfo& info);

}  // namespace llama_napi
