#include "token_logprobs.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace llama_napi {

void ComputeTokenLogprobs(const float* logits, int32_t n_vocab, llama_token chosen, int32_t k,
                          std::vector<llama_token>& order, TokenLogprobs& out) {
  // log softmax: logit - (max + log Σ exp(logit - max)), stable for any logit range.
  float max = -std::numeric_limits<float>::infinity();
  for (int32_t t = 0; t < n_vocab; t++) max = std::max(max, logits[t]);
  double sum = 0;
  for (int32_t t = 0; t < n_vocab; t++) sum += std::exp(static_cast<double>(logits[t] - max));
  const double log_normalizer = static_cast<double>(max) + std::log(sum);
  auto logprob = [&](llama_token t) { return static_cast<float>(static_cast<double>(logits[t]) - log_normalizer); };

  out.logprob = logprob(chosen);
  out.top_ids.clear();
  out.top_logprobs.clear();
  const int32_t n = std::min(k, n_vocab);
  if (n <= 0) return;
  order.resize(static_cast<size_t>(n_vocab));
  for (int32_t t = 0; t < n_vocab; t++) order[static_cast<size_t>(t)] = t;
  std::partial_sort(order.begin(), order.begin() + n, order.end(), [logits](llama_token a, llama_token b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  });
  for (int32_t i = 0; i < n; i++) {
    const llama_token t = order[static_cast<size_t>(i)];
    out.top_ids.push_back(t);
    out.top_logprobs.push_back(logprob(t));
  }
}

}  // namespace llama_napi
