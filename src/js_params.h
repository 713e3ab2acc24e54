// Every reader of a JS parameter object into the plain C++ that llama.cpp or the engine takes.
// The TS layer validates and defaults every option first (lib/native.ts names the shapes); a
// reader checks again only what would crash llama.cpp, or reach it misread, off the JS thread,
// and throws ERR_INVALID_ARG for it.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "chat_template.h"
#include "engine_params.h"
#include "llama.h"
#include "slot.h"

namespace llama_napi {

// Where weights go, copied out of the JS params: the storage llama_model_params points into.
struct LoadPlacement {
  std::vector<float> tensor_split;                // empty: llama.cpp's default split
  std::vector<std::string> patterns;              // tensor-name regexes, first match wins
  std::vector<ggml_backend_buffer_type_t> bufts;  // one per pattern
  std::vector<llama_model_tensor_buft_override> overrides;
  std::vector<ggml_backend_dev_t> devices;        // NULL-terminated; empty: llama.cpp's default (src/rpc.h)

  // Points `params` into this object, which must outlive the load.
  void Apply(llama_model_params& params);
};

// NativeModelParams → llama_model_params; `placement` receives the storage the params will
// point into once Apply()d.
llama_model_params ModelParamsFromJs(Napi::Env env, Napi::Object params, LoadPlacement& placement);

// NativeContextParams → EngineParams.
EngineParams EngineParamsFromJs(Napi::Env env, Napi::Object params);

// The generation limits of generate()'s params (maxTokens, cachePrompt, priority) into `request`.
void GenerateParamsFromJs(Napi::Env env, Napi::Object params, SlotRequest& request);

// An Int32Array of token ids, copied (ids are range-checked by the engine, against its vocabulary).
std::vector<llama_token> TokensFromJs(Napi::Env env, Napi::Value tokens);

// [{ role, content }] → ChatMessages.
std::vector<ChatMessage> ChatMessagesFromJs(Napi::Env env, Napi::Array messages);

// { ftype, threads } → llama_model_quantize_params (llama.cpp's defaults for the rest).
llama_model_quantize_params QuantizeParamsFromJs(Napi::Env env, Napi::Object params);

}  // namespace llama_napi
