// A llama_context with its compute threadpool, driven only from its InferenceLoop thread.
// Plain C++: no N-API in here, so every call can run off the JS thread. The class is defined
// across context_engine.cc (creation and the step), context_engine_sequences.cc (admission and
// the per-sequence prompt cache) and compute_threadpool.cc (its CPU threads).
#pragma once
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "compute_threadpool.h"
#include "engine_params.h"
#include "llama.h"
#include "model_handle.h"
#include "slot.h"

namespace llama_napi {

// Serves any number of requests at once, one llama_decode per step for all of them
// (continuous batching, as llama.cpp's server does): each active request has a sequence of
// its own; prompts are decoded in n_batch-sized chunks beside the other requests' next
// tokens; a request that finds no free sequence waits, first come first served.
class ContextEngine {
 public:
  // Throws NativeError(ERR_CONTEXT_CREATE). `abort` (the whole context's) is polled by
  // llama.cpp between graph nodes.
  ContextEngine(ModelRef model, const EngineParams& params, const std::atomic<bool>* abort);
  ~ContextEngine();  // fails the requests still queued or running with ERR_DISPOSED
  ContextEngine(const ContextEngine&) = delete;
  ContextEngine& operator=(const ContextEngine&) = delete;

  uint32_t Size() const { return llama_n_ctx(ctx_); }
  // Tokens one sequence holds: the context is split evenly between its sequences.
  uint32_t SequenceSize() const { return llama_n_ctx_seq(ctx_); }
  int32_t VocabSize() const { return llama_vocab_n_tokens(model_->vocab); }
  // Values per embedding (llama.cpp's n_embd, or its classifier outputs for rank pooling).
  int32_t EmbeddingSize() const;

  // Queues a request; it starts at the next Step() that finds a free sequence.
  void Submit(SlotRequest request);
  // One scheduling step: admits waiting requests, decodes one batch for every active one,
  // samples their next tokens. Returns whether work remains.
  bool Step();
  // Fails every queued and running request.
  void FailAll(const std::string& code, const std::string& message);

  // Threads sleep while the context is idle so an idle model costs no CPU.
  void Pause() { threadpools_.Pause(); }
  void Resume() { threadpools_.Resume(); }

 private:
  struct Sequence {
    std::vector<llama_token> held;  // tokens whose KV entries it holds, in position order
    bool busy = false;
  };

  // ---- which sequence serves which request, and what it keeps cached (context_engine_sequences.cc)

  // Gives waiting requests a free sequence (longest common prefix first, else the lowest id)
  // and keeps the reusable part of what it holds. Rejects prompts that cannot run.
  void Admit();
  bool Admissible(Slot& slot);
  // Keeps the longest common prefix of the prompt and the sequence's tokens (at most all but
  // the last prompt token, whose logits are needed); returns how many were kept.
  size_t KeepPrefix(Sequence& seq, llama_seq_id id, const std::vector<llama_token>& tokens, bool reuse);
  // Frees the slot's sequence (its tokens stay cached for the next request) and the slot.
  void Release(Slot& slot);
  // Empties a sequence: after a failed or aborted decode llama.cpp may hold part of a batch.
  void ForgetSequence(llama_seq_id id);

  // ---- the step: batch, decode, sample (context_engine.cc)

  // Fills batch_ with each generating slot's next token, then prompt chunks.
  void FillBatch();
  // After a decode: samples, emits, finishes slots.
  void Collect();
  void Sample(Slot& slot);
  void Finish(Slot& slot, const char* reason);
  void Fail(Slot& slot, const std::string& code, const std::string& message);
  // Maps a llama_decode status to true (ok), false (aborted) or a thrown NativeError.
  bool CheckDecode(int32_t status);
  // Fails every request with ERR_RPC when one of the model's RPC servers has failed (src/rpc.h).
  bool RpcFailed();
  // The most likely next token at batch index `i` (the first one on ties, as llama.cpp's greedy sampler).
  llama_token Argmax(int32_t i);
  // Whether an idle engine should wait a little longer before admitting: requests keep arriving
  // within the burst window and sequences are still free (see EngineParams::burst_window_us).
  bool Gathering();
  // Whether llama.cpp should stop the decode in flight.
  bool DecodeShouldStop() const;
  static bool AbortCallback(void* engine);
  // Frees the context, then its threadpools.
  void ReleaseContext();

  ModelRef model_;
  const std::atomic<bool>* abort_;
  ComputeThreadpools threadpools_;
  llama_context* ctx_ = nullptr;
  llama_batch batch_{};
  std::vector<Sequence> sequences_;
  std::deque<std::unique_ptr<Slot>> waiting_;
  std::vector<std::unique_ptr<Slot>> active_;
  size_t first_ = 0;  // which generating request goes first when not all fit one batch
  std::vector<Slot*> generating_, prompting_;  // FillBatch's lists, kept to spare an allocation per step
  std::string piece_;
  // A burst of requests arriving at an idle engine: when its first and latest requests came
  // (0: none). Its prompts are admitted together, so they decode as one batch of equal
  // sequences instead of the first one alone while the rest wait a whole prompt step.
  const int64_t burst_window_us_;
  int64_t burst_first_ = 0;
  int64_t burst_last_ = 0;
  TokenLogprobs logprobs_;             // scratch of Sample for requests that ask for them
  std::vector<llama_token> logprob_order_;
};

}  // namespace llama_napi
