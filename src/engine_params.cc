#include "engine_params.h"

namespace llama_napi {

llama_context_params ContextParamsFor(const EngineParams& p) {
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = p.context_size;                 // KV cache length in tokens
  cp.n_batch = p.batch_size;                 // most tokens one llama_decode may take
  cp.n_ubatch = p.ubatch_size;               // tokens per compute graph
  cp.n_seq_max = p.sequences;                // parallel sequences the KV cache serves
  cp.n_threads = p.threads;                  // threads for single-token generation
  cp.n_threads_batch = p.threads_batch;      // threads for prompt batches
  cp.flash_attn_type = p.flash_attn;         // fused attention: auto / on / off
  cp.type_k = p.type_k;                      // KV cache element types (quantized V needs flash attention)
  cp.type_v = p.type_v;
  cp.no_perf = true;                         // we time what we report ourselves
  cp.embeddings = p.embeddings;              // pooled embeddings out, no logits
  cp.pooling_type = p.pooling;               // unspecified: the model's own
  // Embedding contexts share one KV stream between their sequences, as llama-embedding runs
  // them (each input may use the whole context; inputs are short-lived).
  cp.kv_unified = p.embeddings;
  return cp;
}

}  // namespace llama_napi
