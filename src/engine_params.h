// What a context is created with, as plain C++ (read from JS by EngineParamsFromJs in
// js_params.cc), and the llama_context_params it stands for. Shared by the context engine and
// estimateMemory(), which plans a context without creating one.
#pragma once
#include <cstdint>

#include "llama.h"

namespace llama_napi {

struct EngineParams {
  uint32_t context_size;
  uint32_t batch_size;
  uint32_t ubatch_size;
  int32_t threads;
  int32_t threads_batch;
  uint32_t poll;
  uint32_t sequences;
  llama_flash_attn_type flash_attn = LLAMA_FLASH_ATTN_TYPE_AUTO;
  ggml_type type_k = GGML_TYPE_F16;
  ggml_type type_v = GGML_TYPE_F16;
  bool embeddings = false;  // output pooled embeddings instead of logits
  enum llama_pooling_type pooling = LLAMA_POOLING_TYPE_UNSPECIFIED;
  // How long an idle context waits for more requests after one arrives, so that the prompts of
  // a burst decode in one batch (0: start at once). See ContextEngine::Gathering.
  uint32_t burst_window_us = 0;
};

// The llama_context_params these parameters stand for (no callbacks attached).
llama_context_params ContextParamsFor(const EngineParams& p);

}  // namespace llama_napi
