// One request to a context (a generation, or an evaluation that only wants logits) and its
// state while the context's scheduler (ContextEngine::Step) serves it in a sequence of its own.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "llama.h"
#include "token_logprobs.h"

namespace llama_napi {

// The clock of a request's timings (started_at, prompt_done_at).
inline int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct GenerateResult {
  std::string finish_reason;  // eog | length | abort | context-full
  int32_t prompt_tokens = 0;
  int32_t cached_tokens = 0;  // prompt tokens whose KV entries were kept from an earlier request
  int32_t generated_tokens = 0;
  int64_t prompt_micros = 0;
  int64_t generate_micros = 0;
  bool sampled_on_device = false;  // every token was chosen inside the decode graph (backend_sampling.h)
};

// What the caller asks and how it hears back. Callbacks run on the loop thread; exactly one
// of on_done / on_logits / on_error is called, once.
struct SlotRequest {
  std::vector<llama_token> prompt;
  std::shared_ptr<llama_sampler> chain;  // null: greedy (argmax)
  int32_t max_tokens = -1;               // -1: no limit
  bool reuse_prefix = true;              // keep the KV entries of a common prefix
  bool logits_only = false;              // evaluate the prompt, report the last logits, stop
  bool embed = false;                    // evaluate the prompt, report its pooled embedding, stop
  int32_t priority = 0;                  // higher: admitted and given prompt room first
  int32_t top_logprobs = -1;             // -1: no log-probabilities; k >= 0: the chosen token's and the top k
  bool device_sampling = false;          // sample inside the decode graph if llama.cpp can (backend_sampling.h)
  std::shared_ptr<const std::atomic<bool>> abort;
  // `logprobs` is null unless the request asked for them (top_logprobs >= 0).
  std::function<void(llama_token, const char* piece, size_t length, const TokenLogprobs* logprobs)> on_token;
  std::function<void(const GenerateResult&)> on_done;
  std::function<void(std::vector<float>)> on_logits;  // logits_only and embed
  std::function<void(const std::string& code, const std::string& message)> on_error;
};

// A request being served. `seq` is its llama.cpp sequence id while it holds one.
struct Slot {
  SlotRequest request;
  llama_seq_id seq = -1;
  size_t prompt_done = 0;  // prompt tokens decoded (cached ones included)
  llama_token next = -1;   // sampled and emitted, to be decoded in the next step
  int32_t batch_index = -1;  // where this slot's logits are in the current batch, -1: none
  size_t batch_tokens = 0;   // tokens this slot put into the current batch
  GenerateResult result;
  int64_t started_at = 0;
  int64_t prompt_done_at = 0;
  bool on_device = false;  // its chain is its sequence's backend sampler (backend_sampling.h)

  bool Aborted() const { return request.abort && request.abort->load(std::memory_order_relaxed); }
};

}  // namespace llama_napi
