// The CPU compute threads of one context: created once and kept, asleep while the context is idle.
// Without a persistent pool, ggml (built without OpenMP) makes a throw-away pool for every graph:
// a thread spawn per token. With OpenMP the team is OpenMP's, kept per calling thread: the
// context's loop thread. llama-bench attaches its pools the same way.
#pragma once
#include <cstdint>

#include "ggml-cpu.h"
#include "llama.h"

namespace llama_napi {

class ComputeThreadpools {
 public:
  ComputeThreadpools();  // finds the CPU backend's threadpool functions
  ~ComputeThreadpools() { Free(); }
  ComputeThreadpools(const ComputeThreadpools&) = delete;
  ComputeThreadpools& operator=(const ComputeThreadpools&) = delete;

  // Creates paused pools (one for generation, another for prompt batches if their thread counts
  // differ) and attaches them to `ctx`. False when the CPU backend could not create them; true,
  // doing nothing, when it offers no threadpool functions (ggml then manages its threads itself).
  bool Attach(llama_context* ctx, int32_t threads, int32_t threads_batch, uint32_t poll);
  // Frees the pools: only after the context that uses them.
  void Free();

  // Threads sleep while the context is idle so an idle model costs no CPU.
  void Pause();
  void Resume();

 private:
  // Threadpool functions come from the CPU backend's registry (llama-bench does the
  // same), so this also works when backends are loaded dynamically.
  struct Api {
    decltype(ggml_threadpool_new)* create = nullptr;
    decltype(ggml_threadpool_free)* destroy = nullptr;
    decltype(ggml_threadpool_pause)* pause = nullptr;
    decltype(ggml_threadpool_resume)* resume = nullptr;
  };

  Api api_;
  ggml_threadpool* threadpool_ = nullptr;
  ggml_threadpool* threadpool_batch_ = nullptr;
};

}  // namespace llama_napi
