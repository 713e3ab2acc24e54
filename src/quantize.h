// quantize(input, output, params, onProgress): llama_model_quantize off the JS thread.
#pragma once
#include <napi.h>

namespace llama_napi {

// quantize(input: string, output: string, params: { ftype, threads }, onProgress | null): Promise<void>
Napi::Value Quantize(const Napi::CallbackInfo& info);

}  // namespace llama_napi
