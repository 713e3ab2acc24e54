#include "context_engine.h"

#include <algorithm>
#include <chrono>

#include "errors.h"
#include "ggml-backend.h"
#include "log.h"

namespace llama_napi {

namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}


}  // namespace

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

ContextEngine::ContextEngine(ModelRef model, const EngineParams& p, const std::atomic<bool>* abort)
    : model_(std::move(model)), abort_(abort) {
  LogTakeRecent();
  ggml_backend_reg_t cpu = ggml_backend_reg_by_name("CPU");
  if (cpu != nullptr) {
    tp_api_.create = reinterpret_cast<decltype(tp_api_.create)>(ggml_backend_reg_get_proc_address(cpu, "ggml_threadpool_new"));
    tp_api_.destroy = reinterpret_cast<decltype(tp_api_.destroy)>(ggml_backend_reg_get_proc_address(cpu, "ggml_threadpool_free"));
    tp_api_.pause = reinterpret_cast<decltype(tp_api_.pause)>(ggml_backend_reg_get_proc_address(cpu, "ggml_threadpool_pause"));
    tp_api_.resume = reinterpret_cast<decltype(tp_api_.resume)>(ggml_backend_reg_get_proc_address(cpu, "ggml_threadpool_resume"));
  }

  llama_context_params cp = ContextParamsFor(p);
  cp.abort_callback = AbortCallback;         // decode stops between graph nodes
  cp.abort_callback_data = this;
  ctx_ = llama_init_from_model(model_->model, cp);
  if (ctx_ == nullptr) {
    std::string why = LogTakeRecent();
    throw NativeError("ERR_CONTEXT_CREATE", "llama.cpp could not create the context" + (why.empty() ? "" : ": " + why));
  }

  if (tp_api_.create && tp_api_.destroy) {
    // A persistent threadpool attached to the context, as llama-bench does: without one,
    // ggml (built without OpenMP) makes a throw-away pool for every graph, a thread spawn per
    // token. With OpenMP the team is OpenMP's, kept per calling thread: our loop thread.
    auto make = [&](int32_t n) {
      ggml_threadpool_params tpp = ggml_threadpool_params_default(n);
      tpp.poll = p.poll;
      tpp.paused = true;
      return tp_api_.create(&tpp);
    };
    threadpool_ = make(p.threads);
    if (p.threads_batch != p.threads) threadpool_batch_ = make(p.threads_batch);
    if (threadpool_ == nullptr || (p.threads_batch != p.threads && threadpool_batch_ == nullptr)) {
      ReleaseContext();
      throw NativeError("ERR_CONTEXT_CREATE", "could not create the compute threadpool");
    }
    llama_attach_threadpool(ctx_, threadpool_, threadpool_batch_);
  }
  batch_ = llama_batch_init(static_cast<int32_t>(llama_n_batch(ctx_)), 0, 1);
  sequences_.resize(llama_n_seq_max(ctx_));
  piece_.resize(256);
}

ContextEngine::~ContextEngine() {
  FailAll("ERR_DISPOSED", "the context was disposed");
  ReleaseContext();
}

void ContextEngine::ReleaseContext() {
  if (batch_.token != nullptr) llama_batch_free(batch_);
  batch_ = {};
  if (ctx_ != nullptr) {
    llama_free(ctx_);
    ctx_ = nullptr;
  }
  if (threadpool_batch_ != nullptr) tp_api_.destroy(threadpool_batch_);
  if (threadpool_ != nullptr) tp_api_.destroy(threadpool_);
  threadpool_ = threadpool_batch_ = nullptr;
}

void ContextEngine::Pause() {
  if (!tp_api_.pause) return;
  if (threadpool_) tp_api_.pause(threadpool_);
  if (threadpool_batch_) tp_api_.pause(threadpool_batch_);
}

void ContextEngine::Resume() {
  if (!tp_api_.resume) return;
  if (threadpool_) tp_api_.resume(threadpool_);
  if (threadpool_batch_) tp_api_.resume(threadpool_batch_);
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
}

bool ContextEngine::Admissible(Slot& slot) {
  const std::vector<llama_token>& prompt = slot.request.prompt;
  if (prompt.empty()) {
    Fail(slot, "ERR_INVALID_ARG", "the prompt is empty");
    return false;
  }
  if (prompt.size() >= SequenceSize()) {
    Fail(slot, "ERR_CONTEXT_FULL", "the prompt (" + std::to_string(prompt.size()) + " tokens) does not fit a sequence of the context (" +
                                       std::to_string(SequenceSize()) + " tokens)");
    return false;
  }
  // An embedding is pooled over one batch: its input must fit one (TS says so in its own words).
  if (slot.request.embed && prompt.size() > llama_n_ubatch(ctx_)) {
    Fail(slot, "ERR_CONTEXT_FULL", "the input (" + std::to_string(prompt.size()) + " tokens) exceeds ubatchSize");
    return false;
  }
  const int32_t n_vocab = VocabSize();
  for (llama_token t : prompt) {
    if (t < 0 || t >= n_vocab) {
      Fail(slot, "ERR_INVALID_ARG", "token id " + std::to_string(t) + " out of range");
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
    FailAll("ERR_ABORTED", "the context was aborted");
    return false;
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
    // llama.cpp may keep part of a failed batch: the sequences in it start over next time.
    for (size_t i = active_.size(); i-- > 0;) {
      if (active_[i]->batch_tokens > 0) Fail(*active_[i], e.code(), e.what());
    }
    return !active_.empty() || !waiting_.empty();
  }
  if (!decoded) {
    if (abort_->load(std::memory_order_relaxed)) {
      FailAll("ERR_ABORTED", "the context was aborted");
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
  Collect();
  return !active_.empty() || !waiting_.empty();
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
        throw NativeError("ERR_DECODE", slot.request.embed ? "llama.cpp returned no embedding (is the pooling type 'none'?)"
                                                           : "llama.cpp returned no logits");
      }
      std::vector<float> out(values, values + (slot.request.embed ? EmbeddingSize() : VocabSize()));
      auto on_logits = slot.request.on_logits;
      Release(slot);
      on_logits(std::move(out));
      return;
    }
    // llama_sampler_sample also accepts the token into the chain.
    llama_token token = slot.request.chain ? llama_sampler_sample(slot.request.chain.get(), ctx_, slot.batch_index)
                                           : Argmax(slot.batch_index);
    if (llama_vocab_is_eog(model_->vocab, token)) return Finish(slot, "eog");
    int32_t n = llama_token_to_piece(model_->vocab, token, piece_.data(), static_cast<int32_t>(piece_.size()), 0, false);
    if (n < 0) {
      piece_.resize(static_cast<size_t>(-n));
      n = llama_token_to_piece(model_->vocab, token, piece_.data(), static_cast<int32_t>(piece_.size()), 0, false);
    }
    slot.request.on_token(token, piece_.data(), n > 0 ? static_cast<size_t>(n) : 0);
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

void ContextEngine::ForgetSequence(llama_seq_id id) {
  sequences_[static_cast<size_t>(id)].held.clear();
  llama_memory_t memory = llama_get_memory(ctx_);
  if (memory != nullptr) llama_memory_seq_rm(memory, id, -1, -1);
}

int32_t ContextEngine::EmbeddingSize() const {
  return llama_pooling_type(ctx_) == LLAMA_POOLING_TYPE_RANK ? static_cast<int32_t>(llama_model_n_cls_out(model_->model))
                                                             : llama_model_n_embd(model_->model);
}

void ContextEngine::Release(Slot& slot) {
  if (slot.seq >= 0) sequences_[static_cast<size_t>(slot.seq)].busy = false;
  for (size_t i = 0; i < active_.size(); i++) {
    if (active_[i].get() == &slot) {
      active_.erase(active_.begin() + static_cast<std::ptrdiff_t>(i));
      return;
    }
  }
  // A waiting request (never admitted) is removed by its caller.
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
  if (status == 1) throw NativeError("ERR_CONTEXT_FULL", "no room left in the context's KV cache");
  std::string why = LogTakeRecent();
  throw NativeError("ERR_DECODE", "llama_decode failed with status " + std::to_string(status) + (why.empty() ? "" : ": " + why));
}

llama_token ContextEngine::Argmax(int32_t i) {
  const float* logits = llama_get_logits_ith(ctx_, i);
  if (logits == nullptr) throw NativeError("ERR_DECODE", "llama.cpp returned no logits");
  const int32_t n = VocabSize();
  llama_token best = 0;
  for (int32_t t = 1; t < n; t++) {
    if (logits[t] > logits[best]) best = t;
  }
  return best;
}

}  // namespace llama_napi
