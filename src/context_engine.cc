#include "context_engine.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "backend_sampling.h"
#include "errors.h"
#include "log.h"
#include "rpc.h"

namespace llama_napi {

ContextEngine::ContextEngine(ModelRef model, const EngineParams& p, const std::atomic<bool>* abort)
    : model_(std::move(model)), abort_(abort), burst_window_us_(p.burst_window_us) {
  LogTakeRecent();
  llama_context_params cp = ContextParamsFor(p);
  cp.abort_callback = AbortCallback;  // decode stops between graph nodes
  cp.abort_callback_data = this;
  ctx_ = llama_init_from_model(model_->model, cp);
  if (ctx_ == nullptr) {
    std::string why = LogTakeRecent();
    const std::string rpc_failure = RpcFailure(*model_);  // a remote server failed: not a memory shortage
    if (!rpc_failure.empty()) throw NativeError(kErrRpc, rpc_failure);
    throw NativeError(OutOfMemoryCode(why, kErrContextCreate),
                      "llama.cpp could not create the context" + (why.empty() ? "" : ": " + why));
  }
  if (!threadpools_.Attach(ctx_, p.threads, p.threads_batch, p.poll)) {
    ReleaseContext();
    throw NativeError(kErrContextCreate, "could not create the compute threadpool");
  }
  batch_ = llama_batch_init(static_cast<int32_t>(llama_n_batch(ctx_)), 0, 1);
  sequences_.resize(llama_n_seq_max(ctx_));
  piece_.resize(256);
}

ContextEngine::~ContextEngine() {
  FailAll(kErrDisposed, "the context was disposed");
  ReleaseContext();
}

void ContextEngine::ReleaseContext() {
  if (batch_.token != nullptr) llama_batch_free(batch_);
  batch_ = {};
  if (ctx_ != nullptr) {
    llama_free(ctx_);
    ctx_ = nullptr;
  }
  threadpools_.Free();
}

bool ContextEngine::AbortCallback(void* engine) { return static_cast<const ContextEngine*>(engine)->DecodeShouldStop(); }

bool ContextEngine::DecodeShouldStop() const {
  if (abort_->load(std::memory_order_relaxed)) return true;
  // Only when every request in the batch was aborted: the others still need this decode.
  bool any = false;
  for (const auto& slot : active_) {
    if (slot->batch_tokens == 0) continue;
    if (!slot->Aborted()) return false;
    any = true;
  }
  return any;
}

void ContextEngine::Submit(SlotRequest request) {
  auto slot = std::make_unique<Slot>();
  slot->request = std::move(request);
  slot->result.prompt_tokens = static_cast<int32_t>(slot->request.prompt.size());
  waiting_.push_back(std::move(slot));
  if (burst_window_us_ > 0 && active_.empty()) {
    burst_last_ = NowMicros();
    if (burst_first_ == 0) burst_first_ = burst_last_;
  }
}

bool ContextEngine::Gathering() {
  if (burst_first_ == 0) return false;
  size_t free = 0;
  for (const Sequence& seq : sequences_) free += seq.busy ? 0 : 1;
  const int64_t now = NowMicros();
  // Each arrival extends the wait by one window, up to four windows after the first request.
  if (active_.empty() && waiting_.size() < free && now - burst_last_ < burst_window_us_ &&
      now - burst_first_ < 4 * burst_window_us_) {
    return true;
  }
  burst_first_ = burst_last_ = 0;
  return false;
}

void ContextEngine::FillBatch() {
  const int32_t capacity = static_cast<int32_t>(llama_n_batch(ctx_));
  batch_.n_tokens = 0;
  auto add = [&](Slot& slot, llama_token token, bool logits) {
    const int32_t i = batch_.n_tokens++;
    Sequence& seq = sequences_[static_cast<size_t>(slot.seq)];
    batch_.token[i] = token;
    batch_.pos[i] = static_cast<llama_pos>(seq.held.size() + slot.batch_tokens);
    batch_.n_seq_id[i] = 1;
    batch_.seq_id[i][0] = slot.seq;
    batch_.logits[i] = logits;
    slot.batch_tokens++;
    if (logits) slot.batch_index = i;
  };
  for (auto& slot : active_) {
    slot->batch_index = -1;
    slot->batch_tokens = 0;
  }
  // Generating requests first: one token each, so a long prompt never starves them. In the
  // order of their sequence ids: llama.cpp decodes the tokens of a split KV cache in one pass
  // only for consecutive ids in increasing order (llama_batch_allocr::split_equal), and reuses
  // the previous step's graph for a batch of the same shape. With more of them than a batch
  // holds, the first one served rotates, so none waits twice in a row.
  std::vector<Slot*>& generating = generating_;
  generating.clear();
  for (auto& slot : active_) {
    if (slot->next >= 0) generating.push_back(slot.get());
  }
  std::sort(generating.begin(), generating.end(), [](const Slot* a, const Slot* b) { return a->seq < b->seq; });
  const size_t n = generating.size();
  if (n <= static_cast<size_t>(capacity)) first_ = 0;
  for (size_t k = 0; k < n && batch_.n_tokens < capacity; k++) {
    Slot& slot = *generating[(first_ + k) % n];
    add(slot, slot.next, true);
  }
  first_ = n > 0 ? (first_ + 1) % n : 0;
  // Then prompt chunks, highest priority first (admission order among equals).
  std::vector<Slot*>& prompts = prompting_;
  prompts.clear();
  for (auto& slot : active_) {
    if (slot->next < 0) prompts.push_back(slot.get());
  }
  std::stable_sort(prompts.begin(), prompts.end(), [](const Slot* a, const Slot* b) {
    return a->request.priority > b->request.priority;
  });
  for (Slot* slot : prompts) {
    const std::vector<llama_token>& prompt = slot->request.prompt;
    // A pooled embedding is computed over one batch: the whole input goes in, or waits.
    if (slot->request.embed && prompt.size() - slot->prompt_done > static_cast<size_t>(capacity - batch_.n_tokens)) continue;
    while (slot->prompt_done + slot->batch_tokens < prompt.size() && batch_.n_tokens < capacity) {
      const size_t at = slot->prompt_done + slot->batch_tokens;
      add(*slot, prompt[at], at + 1 == prompt.size());
    }
  }
}

bool ContextEngine::Step() {
  if (abort_->load(std::memory_order_relaxed)) {
    FailAll(kErrAborted, "the context was aborted");
    return false;
  }
  if (RpcFailed()) return false;
  if (Gathering()) {
    // The loop runs the submissions posted meanwhile, then steps again.
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    return true;
  }
  Admit();
  for (size_t i = 0; i < active_.size();) {
    if (active_[i]->Aborted()) {
      Finish(*active_[i], "abort");  // removes it
    } else {
      i++;
    }
  }
  if (active_.empty()) return !waiting_.empty();

  FillBatch();
  if (batch_.n_tokens == 0) return true;
  LogTakeRecent();  // so an error message carries only this decode's log lines
  bool decoded = false;
  try {
    decoded = CheckDecode(llama_decode(ctx_, batch_));
  } catch (const NativeError& e) {
    if (RpcFailed()) return false;
    // llama.cpp may keep part of a failed batch: the sequences in it start over next time.
    for (size_t i = active_.size(); i-- > 0;) {
      if (active_[i]->batch_tokens > 0) Fail(*active_[i], e.code(), e.what());
    }
    return !active_.empty() || !waiting_.empty();
  }
  if (!decoded) {
    if (abort_->load(std::memory_order_relaxed)) {
      FailAll(kErrAborted, "the context was aborted");
      return false;
    }
    // Every request in the batch was aborted; llama.cpp may have kept part of the batch.
    for (size_t i = active_.size(); i-- > 0;) {
      Slot& slot = *active_[i];
      if (slot.batch_tokens == 0) continue;
      ForgetSequence(slot.seq);
      Finish(slot, "abort");
    }
    return !active_.empty() || !waiting_.empty();
  }
  // RPC computes asynchronously: a server that failed during this step shows only once it is
  // done, and its outputs are zeros, so nothing of this step may be used.
  if (!model_->rpc_endpoints.empty()) llama_synchronize(ctx_);
  if (RpcFailed()) return false;
  Collect();
  return !active_.empty() || !waiting_.empty();
}

bool ContextEngine::RpcFailed() {
  if (model_->rpc_endpoints.empty()) return false;
  const std::string failure = RpcFailure(*model_);
  if (failure.empty()) return false;
  FailAll(kErrRpc, failure);
  return true;
}

void ContextEngine::Collect() {
  bool synced = false;
  for (size_t i = active_.size(); i-- > 0;) {
    Slot& slot = *active_[i];
    if (slot.batch_tokens == 0) continue;
    Sequence& seq = sequences_[static_cast<size_t>(slot.seq)];
    if (slot.next >= 0) {
      seq.held.push_back(slot.next);
      slot.next = -1;
    } else {
      const auto from = slot.request.prompt.begin() + static_cast<std::ptrdiff_t>(slot.prompt_done);
      seq.held.insert(seq.held.end(), from, from + static_cast<std::ptrdiff_t>(slot.batch_tokens));
      slot.prompt_done += slot.batch_tokens;
      if (slot.prompt_done == slot.request.prompt.size()) {
        // GPU backends return before the work is done; the prompt time must include it.
        if (!synced) llama_synchronize(ctx_);
        synced = true;
        slot.prompt_done_at = NowMicros();
        slot.result.prompt_micros = slot.prompt_done_at - slot.started_at;
      }
    }
    if (slot.batch_index >= 0) Sample(slot);
  }
}

void ContextEngine::Sample(Slot& slot) {
  try {
    if (slot.request.embed || slot.request.logits_only) {
      const float* values = slot.request.embed ? llama_get_embeddings_seq(ctx_, slot.seq) : llama_get_logits_ith(ctx_, slot.batch_index);
      if (values == nullptr) {
        throw NativeError(kErrDecode, slot.request.embed ? "llama.cpp returned no embedding (is the pooling type 'none'?)"
                                                           : "llama.cpp returned no logits");
      }
      std::vector<float> out(values, values + (slot.request.embed ? EmbeddingSize() : VocabSize()));
      auto on_logits = slot.request.on_logits;
      Release(slot);
      on_logits(std::move(out));
      return;
    }
    // llama_sampler_sample also accepts the token into the chain.
    llama_token token = slot.on_device       ? SampleAttached(ctx_, slot)
                        : slot.request.chain ? llama_sampler_sample(slot.request.chain.get(), ctx_, slot.batch_index)
                                             : Argmax(slot.batch_index);
    if (llama_vocab_is_eog(model_->vocab, token)) return Finish(slot, "eog");
    int32_t n = llama_token_to_piece(model_->vocab, token, piece_.data(), static_cast<int32_t>(piece_.size()), 0, false);
    if (n < 0) {
      piece_.resize(static_cast<size_t>(-n));
      n = llama_token_to_piece(model_->vocab, token, piece_.data(), static_cast<int32_t>(piece_.size()), 0, false);
    }
    const TokenLogprobs* logprobs = nullptr;
    if (slot.request.top_logprobs >= 0) {
      const float* logits = llama_get_logits_ith(ctx_, slot.batch_index);
      if (logits == nullptr) throw NativeError(kErrDecode, "llama.cpp returned no logits");
      ComputeTokenLogprobs(logits, VocabSize(), token, slot.request.top_logprobs, logprob_order_, logprobs_);
      logprobs = &logprobs_;
    }
    slot.request.on_token(token, piece_.data(), n > 0 ? static_cast<size_t>(n) : 0, logprobs);
    slot.result.generated_tokens++;
    if (slot.request.max_tokens >= 0 && slot.result.generated_tokens >= slot.request.max_tokens) return Finish(slot, "length");
    // Prompt plus generated tokens never exceed the sequence (the last one needs no slot of
    // its own only because generation stops here).
    if (sequences_[static_cast<size_t>(slot.seq)].held.size() + 1 >= SequenceSize()) return Finish(slot, "context-full");
    slot.next = token;
  } catch (const NativeError& e) {
    Fail(slot, e.code(), e.what());
  }
}

void ContextEngine::Finish(Slot& slot, const char* reason) {
  slot.result.finish_reason = reason;
  const int64_t now = NowMicros();
  if (slot.prompt_done_at == 0) {
    slot.result.prompt_micros = now - slot.started_at;
  } else {
    slot.result.generate_micros = now - slot.prompt_done_at;
  }
  GenerateResult result = slot.result;
  auto on_done = slot.request.on_done;
  Release(slot);
  on_done(result);
}

void ContextEngine::Fail(Slot& slot, const std::string& code, const std::string& message) {
  auto on_error = slot.request.on_error;
  if (slot.seq >= 0) ForgetSequence(slot.seq);
  Release(slot);
  on_error(code, message);
}

int32_t ContextEngine::EmbeddingSize() const {
  return llama_pooling_type(ctx_) == LLAMA_POOLING_TYPE_RANK ? static_cast<int32_t>(llama_model_n_cls_out(model_->model))
                                                             : llama_model_n_embd(model_->model);
}

void ContextEngine::FailAll(const std::string& code, const std::string& message) {
  std::deque<std::unique_ptr<Slot>> waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& slot : waiting) slot->request.on_error(code, message);
  while (!active_.empty()) Fail(*active_.back(), code, message);
}

bool ContextEngine::CheckDecode(int32_t status) {
  if (status == 0) return true;
  if (status == 2) return false;
  if (status == 1) throw NativeError(kErrContextFull, "no room left in the context's KV cache");
  std::string why = LogTakeRecent();
  throw NativeError(OutOfMemoryCode(why, kErrDecode),
                    "llama_decode failed with status " + std::to_string(status) + (why.empty() ? "" : ": " + why));
}

llama_token ContextEngine::Argmax(int32_t i) {
  const float* logits = llama_get_logits_ith(ctx_, i);
  if (logits == nullptr) throw NativeError(kErrDecode, "llama.cpp returned no logits");
  const int32_t n = VocabSize();
  llama_token best = 0;
  for (int32_t t = 1; t < n; t++) {
    if (logits[t] > logits[best]) best = t;
  }
  return best;
}

}  // namespace llama_napi
