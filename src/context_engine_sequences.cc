// Admission: which free sequence serves a waiting request, and how much of what that sequence
// already holds in the KV cache (a common prompt prefix) the request can keep.
#include <algorithm>
#include <string>

#include "backend_sampling.h"
#include "context_engine.h"
#include "errors.h"

namespace llama_napi {

bool ContextEngine::Admissible(Slot& slot) {
  const std::vector<llama_token>& prompt = slot.request.prompt;
  if (prompt.empty()) {
    Fail(slot, kErrInvalidArg, "the prompt is empty");
    return false;
  }
  if (prompt.size() >= SequenceSize()) {
    Fail(slot, kErrContextFull, "the prompt (" + std::to_string(prompt.size()) + " tokens) does not fit a sequence of the context (" +
                                       std::to_string(SequenceSize()) + " tokens)");
    return false;
  }
  // An embedding is pooled over one batch: its input must fit one (TS says so in its own words).
  if (slot.request.embed && prompt.size() > llama_n_ubatch(ctx_)) {
    Fail(slot, kErrContextFull, "the input (" + std::to_string(prompt.size()) + " tokens) exceeds ubatchSize");
    return false;
  }
  const int32_t n_vocab = VocabSize();
  for (llama_token t : prompt) {
    if (t < 0 || t >= n_vocab) {
      Fail(slot, kErrInvalidArg, "token id " + std::to_string(t) + " out of range");
      return false;
    }
  }
  return true;
}

void ContextEngine::Admit() {
  while (!waiting_.empty()) {
    // Highest priority first, first come first served among equals.
    auto next = std::max_element(waiting_.begin(), waiting_.end(), [](const auto& a, const auto& b) {
      return a->request.priority < b->request.priority;
    });
    if (next != waiting_.begin()) std::rotate(waiting_.begin(), next, next + 1);
    Slot& slot = *waiting_.front();
    if (slot.Aborted()) {
      slot.result.finish_reason = "abort";
      slot.request.on_done(slot.result);
      waiting_.pop_front();
      continue;
    }
    if (!Admissible(slot)) {
      waiting_.pop_front();
      continue;
    }
    // The free sequence sharing the longest prefix with the prompt, else the lowest-numbered
    // (empty) free one: running sequences with consecutive ids decode in one pass (see FillBatch).
    int32_t best = -1;
    size_t best_common = 0;
    for (size_t i = 0; i < sequences_.size(); i++) {
      const Sequence& seq = sequences_[i];
      if (seq.busy) continue;
      size_t common = 0;
      if (slot.request.reuse_prefix) {
        const size_t limit = std::min(seq.held.size(), slot.request.prompt.size());
        while (common < limit && seq.held[common] == slot.request.prompt[common]) common++;
      }
      if (best < 0 || common > best_common) {
        best = static_cast<int32_t>(i);
        best_common = common;
      }
    }
    if (best < 0) return;  // every sequence is busy: wait for one to finish
    // Reusing less than half of what a sequence holds would throw away the rest of another
    // conversation's cache to save a few tokens: take an empty free sequence instead, if any.
    if (best_common * 2 < sequences_[static_cast<size_t>(best)].held.size()) {
      for (size_t i = 0; i < sequences_.size(); i++) {
        if (!sequences_[i].busy && sequences_[i].held.empty()) {
          best = static_cast<int32_t>(i);
          break;
        }
      }
    }

    std::unique_ptr<Slot> owned = std::move(waiting_.front());
    waiting_.pop_front();
    Sequence& seq = sequences_[static_cast<size_t>(best)];
    seq.busy = true;
    owned->seq = best;
    owned->started_at = NowMicros();
    owned->prompt_done = KeepPrefix(seq, best, owned->request.prompt, owned->request.reuse_prefix);
    owned->result.cached_tokens = static_cast<int32_t>(owned->prompt_done);
    AttachBackendSampler(ctx_, *owned);  // when the request asked to sample in the graph
    // Penalty samplers look back over the prompt too, as llama.cpp's CLI does.
    if (owned->request.chain) {
      for (llama_token t : owned->request.prompt) llama_sampler_accept(owned->request.chain.get(), t);
    }
    active_.push_back(std::move(owned));
  }
}

size_t ContextEngine::KeepPrefix(Sequence& seq, llama_seq_id id, const std::vector<llama_token>& tokens, bool reuse) {
  llama_memory_t memory = llama_get_memory(ctx_);
  if (memory == nullptr) {  // encoder-only models keep nothing between decodes
    seq.held.clear();
    return 0;
  }
  size_t n = 0;
  if (reuse) {
    const size_t limit = std::min(seq.held.size(), tokens.size() - 1);
    while (n < limit && seq.held[n] == tokens[n]) n++;
  }
  // Some memories (recurrent models) cannot cut a sequence in the middle: start over then.
  if (n > 0 && !llama_memory_seq_rm(memory, id, static_cast<llama_pos>(n), -1)) n = 0;
  if (n == 0) llama_memory_seq_rm(memory, id, -1, -1);
  seq.held.resize(n);
  return n;
}

void ContextEngine::ForgetSequence(llama_seq_id id) {
  sequences_[static_cast<size_t>(id)].held.clear();
  llama_memory_t memory = llama_get_memory(ctx_);
  if (memory != nullptr) llama_memory_seq_rm(memory, id, -1, -1);
}

void ContextEngine::Release(Slot& slot) {
  DetachBackendSampler(ctx_, slot);  // before the slot, which owns the chain, is freed
  if (slot.seq >= 0) sequences_[static_cast<size_t>(slot.seq)].busy = false;
  for (size_t i = 0; i < active_.size(); i++) {
    if (active_[i].get() == &slot) {
      active_.erase(active_.begin() + static_cast<std::ptrdiff_t>(i));
      return;
    }
  }
  // A waiting request (never admitted) is removed by its caller.
}

}  // namespace llama_napi
