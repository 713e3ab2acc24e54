// The log-probabilities a generation reports with each token when asked (`topLogprobs`):
// of the model's own distribution at that step, softmax over the raw logits, before any
// sampler stage (temperature, penalties, logit bias, grammar) — as llama-server reports them
// by default, and what OpenAI's `logprobs` describe.
#pragma once
#include <cstdint>
#include <vector>

#include "llama.h"

namespace llama_napi {

struct TokenLogprobs {
  float logprob = 0;                // of the chosen token
  std::vector<llama_token> top_ids;  // the `k` most likely tokens, most likely first
  std::vector<float> top_logprobs;   // their log-probabilities
};

// Fills `out` for `chosen` and the `k` most likely tokens of `logits` (ties: lower id first).
// `order` is scratch space, kept by the caller so a step allocates nothing.
void ComputeTokenLogprobs(const float* logits, int32_t n_vocab, llama_token chosen, int32_t k,
                          std::vector<llama_token>& order, TokenLogprobs& out);

}  // namespace llama_napi
