// The loaded llama_model, shared by the Model wrap and every context made from it:
// the weights are freed when the last owner lets go, so a context can never outlive them.
#pragma once
#include <memory>

#include "llama.h"

namespace llama_napi {

struct ModelHandle {
  ModelHandle(llama_model* m, bool vocab_only_) : model(m), vocab(llama_model_get_vocab(m)), vocab_only(vocab_only_) {}
  ~ModelHandle() { llama_model_free(model); }
  ModelHandle(const ModelHandle&) = delete;
  ModelHandle& operator=(const ModelHandle&) = delete;

  llama_model* const model;
  const llama_vocab* const vocab;
  const bool vocab_only;  // no weights: tokenizer only, no contexts
};

using ModelRef = std::shared_ptr<ModelHandle>;

}  // namespace llama_napi
