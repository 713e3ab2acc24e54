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

  // Clears the sequence, evaluates the prompt, then samples/decodes until end of
  // generation, `max_tokens` (-1: no limit), a full context or abort. A null chain means
  // greedy (argmax of the logits).
  GenerateResult Generate(const std::vector<llama_token>& prompt, llama_sampler* chain, int32_t max_tokens,
                          const TokenEmitter& emit);

 private:
  // Decodes the prompt in n_batch pieces; returns false when aborted.
  bool DecodePrompt(const std::vector<llama_token>& tokens);
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

 public:
  // Threads sleep while the context is idle so an idle model costs no CPU.
  void Pause();
  void Resume();
};

}  // namespace llama_napi
