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

bool AbortRequested(void* data) { return static_cast<const std::atomic<bool>*>(data)->load(std::memory_order_relaxed); }

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
  cp.abort_callback = AbortRequested;        // decode stops between graph nodes
  cp.abort_callback_data = const_cast<std::atomic<bool>*>(abort_);
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
      Release();
      throw NativeError("ERR_CONTEXT_CREATE", "could not create the compute threadpool");
    }
    llama_attach_threadpool(ctx_, threadpool_, threadpool_batch_);
  }
}

ContextEngine::~ContextEngine() { Release(); }

void ContextEngine::Release() {
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

void ContextEngine::CheckPrompt(const std::vector<llama_token>& tokens) const {
  if (tokens.empty()) throw NativeError("ERR_INVALID_ARG", "the prompt is empty");
  if (tokens.size() >= Size()) {
    throw NativeError("ERR_CONTEXT_FULL", "the prompt (" + std::to_string(tokens.size()) +
                                              " tokens) does not fit the context (" + std::to_string(Size()) + ")");
  }
  const int32_t n_vocab = VocabSize();
  for (llama_token t : tokens) {
    if (t < 0 || t >= n_vocab) throw NativeError("ERR_INVALID_ARG", "token id " + std::to_string(t) + " out of range");
  }
}

bool ContextEngine::CheckDecode(int32_t status) {
  if (status == 0) return true;
  if (status == 2) return false;
  if (status == 1) throw NativeError("ERR_CONTEXT_FULL", "no room left in the context's KV cache");
  std::string why = LogTakeRecent();
  throw NativeError("ERR_DECODE", "llama_decode failed with status " + std::to_string(status) + (why.empty() ? "" : ": " + why));
}

size_t ContextEngine::KeepPrefix(const std::vector<llama_token>& tokens, bool reuse) {
  llama_memory_t memory = llama_get_memory(ctx_);
  size_t n = 0;
  if (reuse) {
    const size_t limit = std::min(held_.size(), tokens.size() - 1);
    while (n < limit && held_[n] == tokens[n]) n++;
  }
  // Some memories (recurrent models) cannot cut a sequence in the middle: start over then.
  if (n > 0 && !llama_memory_seq_rm(memory, 0, static_cast<llama_pos>(n), -1)) n = 0;
  // Metadata only (as llama-bench does): zeroing the whole KV buffer would cost time to
  // first token in proportion to the context size, and every cell is rewritten before use.
  if (n == 0) llama_memory_clear(memory, false);
  held_.resize(n);
  return n;
}

bool ContextEngine::DecodePrompt(const std::vector<llama_token>& tokens, size_t from) {
  const size_t step = llama_n_batch(ctx_);
  scratch_.assign(tokens.begin(), tokens.end());
  for (size_t i = from; i < scratch_.size(); i += step) {
    if (abort_->load(std::memory_order_relaxed)) return false;
    const int32_t n = static_cast<int32_t>(std::min(step, scratch_.size() - i));
    held_.clear();  // until this batch is in: a failed or aborted decode may leave part of it
    if (!CheckDecode(llama_decode(ctx_, llama_batch_get_one(scratch_.data() + i, n)))) return false;
    held_.assign(scratch_.begin(), scratch_.begin() + static_cast<std::ptrdiff_t>(i) + n);
  }
  // GPU backends return before the work is done; the prompt time must include it.
  llama_synchronize(ctx_);
  return true;
}

bool ContextEngine::DecodeNext(llama_token token) {
  std::vector<llama_token> held = std::move(held_);
  held_.clear();
  if (!CheckDecode(llama_decode(ctx_, llama_batch_get_one(&token, 1)))) return false;
  held_ = std::move(held);
  held_.push_back(token);
  return true;
}

llama_token ContextEngine::Argmax() {
  const float* logits = llama_get_logits_ith(ctx_, -1);
  if (logits == nullptr) throw NativeError("ERR_DECODE", "llama.cpp returned no logits");
  const int32_t n = VocabSize();
  llama_token best = 0;
  for (int32_t i = 1; i < n; i++) {
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

std::vector<float> ContextEngine::Evaluate(const std::vector<llama_token>& tokens) {
  CheckPrompt(tokens);
  LogTakeRecent();
  if (!DecodePrompt(tokens, KeepPrefix(tokens, false))) throw NativeError("ERR_ABORTED", "evaluation aborted");
  const float* logits = llama_get_logits_ith(ctx_, -1);
  if (logits == nullptr) throw NativeError("ERR_DECODE", "llama.cpp returned no logits");
  return std::vector<float>(logits, logits + VocabSize());
}

GenerateResult ContextEngine::Generate(const std::vector<llama_token>& prompt, llama_sampler* chain,
                                       int32_t max_tokens, bool reuse_prefix, const TokenEmitter& emit) {
  CheckPrompt(prompt);
  LogTakeRecent();
  GenerateResult r;
  r.prompt_tokens = static_cast<int32_t>(prompt.size());

  // Penalty samplers look back over the prompt too, as llama.cpp's CLI does.
  if (chain != nullptr) {
    for (llama_token t : prompt) llama_sampler_accept(chain, t);
  }

  const int64_t t0 = NowMicros();
  const size_t kept = KeepPrefix(prompt, reuse_prefix);
  r.cached_tokens = static_cast<int32_t>(kept);
  if (!DecodePrompt(prompt, kept)) {
    r.finish_reason = "abort";
    r.prompt_micros = NowMicros() - t0;
    return r;
  }
  const int64_t t1 = NowMicros();
  r.prompt_micros = t1 - t0;

  const uint32_t n_ctx = Size();
  uint32_t n_past = static_cast<uint32_t>(prompt.size());
  std::string piece(256, '\0');
  for (;;) {
    if (abort_->load(std::memory_order_relaxed)) {
      r.finish_reason = "abort";
      break;
    }
    // llama_sampler_sample also accepts the token into the chain.
    llama_token token = chain != nullptr ? llama_sampler_sample(chain, ctx_, -1) : Argmax();
    if (llama_vocab_is_eog(model_->vocab, token)) {
      r.finish_reason = "eog";
      break;
    }
    int32_t n = llama_token_to_piece(model_->vocab, token, piece.data(), static_cast<int32_t>(piece.size()), 0, false);
    if (n < 0) {
      piece.resize(static_cast<size_t>(-n));
      n = llama_token_to_piece(model_->vocab, token, piece.data(), static_cast<int32_t>(piece.size()), 0, false);
    }
    emit(token, piece.data(), n > 0 ? static_cast<size_t>(n) : 0);
    r.generated_tokens++;
    if (max_tokens >= 0 && r.generated_tokens >= max_tokens) {
      r.finish_reason = "length";
      break;
    }
    // Prompt plus generated tokens never exceed the context (the last one needs no slot
    // of its own only because generation stops here).
    if (n_past + 1 >= n_ctx) {
      r.finish_reason = "context-full";
      break;
    }
    if (!DecodeNext(token)) {
      r.finish_reason = "abort";
      break;
    }
    n_past++;
  }
  r.generate_micros = NowMicros() - t1;
  return r;
}

}  // namespace llama_napi
