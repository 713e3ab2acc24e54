// A llama_context with its compute threadpool, driven only from its InferenceLoop thread.
// Plain C++: no N-API in here, so every call can run off the JS thread.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ggml-cpu.h"
#include "llama.h"
#include "model_handle.h"

namespace llama_napi {

struct EngineParams {
  uint32_t context_size;
  uint32_t batch_size;
  uint32_t ubatch_size;
  int32_t threads;
  int32_t threads_batch;
  uint32_t poll;
  uint32_t sequences;
  llama_flash_attn_type flash_attn = LLAMA_FLASH_ATTN_TYPE_AUTO;
  ggml_type type_k = GGML_TYPE_F16;
  ggml_type type_v = GGML_TYPE_F16;
};

// The llama_context_params these parameters stand for (no callbacks attached).
llama_context_params ContextParamsFor(const EngineParams& p);

struct GenerateResult {
  std::string finish_reason;  // eog | length | abort | context-full
  int32_t prompt_tokens = 0;
  int32_t cached_tokens = 0;  // prompt tokens whose KV entries were kept from the previous job
  int32_t generated_tokens = 0;
  int64_t prompt_micros = 0;
  int64_t generate_micros = 0;
};

// Called on the loop thread for every generated token with the bytes of its piece.
using TokenEmitter = std::function<void(llama_token, const char* piece, size_t piece_len)>;

class ContextEngine {
 public:
  // Throws NativeError(ERR_CONTEXT_CREATE). `abort` is polled by llama.cpp between graph nodes.
  ContextEngine(ModelRef model, const EngineParams& params, const std::atomic<bool>* abort);
  ~ContextEngine();
  ContextEngine(const ContextEngine&) = delete;
  ContextEngine& operator=(const ContextEngine&) = delete;

  uint32_t Size() const { return llama_n_ctx(ctx_); }
  int32_t VocabSize() const { return llama_vocab_n_tokens(model_->vocab); }

  // Clears the sequence, evaluates the tokens, returns the last token's logits.
  std::vector<float> Evaluate(const std::vector<llama_token>& tokens);

  // Evaluates the prompt, then samples/decodes until end of generation, `max_tokens` (-1: no
  // limit), a full context or abort. A null chain means greedy (argmax of the logits). With
  // `reuse_prefix`, the longest common prefix of the prompt and what the sequence already
  // holds is kept and only the rest is decoded; otherwise the sequence starts empty.
  GenerateResult Generate(const std::vector<llama_token>& prompt, llama_sampler* chain, int32_t max_tokens,
                          bool reuse_prefix, const TokenEmitter& emit);

 private:
  // Keeps the longest common prefix of `tokens` and held_ (at most all but the last token,
  // whose logits are needed) in the sequence, drops the rest; returns how many were kept.
  size_t KeepPrefix(const std::vector<llama_token>& tokens, bool reuse);
  // Decodes tokens[from..] in n_batch pieces after the kept prefix; returns false when aborted.
  bool DecodePrompt(const std::vector<llama_token>& tokens, size_t from);
  // Decodes one generated token at the end of the sequence.
  bool DecodeNext(llama_token token);
  // Maps a llama_decode status to true (ok), false (aborted) or a thrown NativeError.
  bool CheckDecode(int32_t status);
  void CheckPrompt(const std::vector<llama_token>& tokens) const;
  // The most likely next token (the first one on ties, as llama.cpp's greedy sampler).
  llama_token Argmax();
  // Frees the context, then its threadpools.
  void Release();

  // Threadpool functions come from the CPU backend's registry (llama-bench does the
  // same), so this also works when backends are loaded dynamically.
  struct ThreadpoolApi {
    decltype(ggml_threadpool_new)* create = nullptr;
    decltype(ggml_threadpool_free)* destroy = nullptr;
    decltype(ggml_threadpool_pause)* pause = nullptr;
    decltype(ggml_threadpool_resume)* resume = nullptr;
  };

  ModelRef model_;
  const std::atomic<bool>* abort_;
  ThreadpoolApi tp_api_;
  ggml_threadpool* threadpool_ = nullptr;
  ggml_threadpool* threadpool_batch_ = nullptr;
  llama_context* ctx_ = nullptr;
  std::vector<llama_token> scratch_;
  // The tokens whose KV entries sequence 0 holds, in position order. Cleared whenever a
  // decode fails or is aborted, since llama.cpp may then keep part of a batch.
  std::vector<llama_token> held_;

 public:
  // Threads sleep while the context is idle so an idle model costs no CPU.
  void Pause();
  void Resume();
};

}  // namespace llama_napi
