// The loaded llama_model, shared by the Model wrap and every context made from it:
// the weights are freed when the last owner lets go, so a context can never outlive them.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "heap_trim.h"
#include "llama.h"

namespace llama_napi {

struct ModelHandle {
  ModelHandle(llama_model* m, bool vocab_only_) : model(m), vocab(llama_model_get_vocab(m)), vocab_only(vocab_only_) {}
  ~ModelHandle() {
    llama_model_free(model);
    TrimHeap();  // a disposed model's memory goes back to the system, not to a fragmented heap
  }
  ModelHandle(const ModelHandle&) = delete;
  ModelHandle& operator=(const ModelHandle&) = delete;

  llama_model* const model;
  const llama_vocab* const vocab;
  const bool vocab_only;  // no weights: tokenizer only, no contexts
  // RPC servers holding part of it (rpcServers; src/rpc.h), their failure counts when it loaded,
  // and the index of the one that failed since (-1: none). Set before the handle is shared.
  std::vector<std::string> rpc_endpoints;
  std::vector<uint64_t> rpc_failures_at_load;
  std::atomic<int> rpc_failed{-1};
};

using ModelRef = std::shared_ptr<ModelHandle>;

}  // namespace llama_napi
