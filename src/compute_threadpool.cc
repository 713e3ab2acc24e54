#include "compute_threadpool.h"

#include "ggml-backend.h"

namespace llama_napi {

ComputeThreadpools::ComputeThreadpools() {
  ggml_backend_reg_t cpu = ggml_backend_reg_by_name("CPU");
  if (cpu == nullptr) return;
  api_.create = reinterpret_cast<decltype(api_.create)>(ggml_backend_reg_get_proc_address(cpu, "ggml_threadpool_new"));
  api_.destroy = reinterpret_cast<decltype(api_.destroy)>(ggml_backend_reg_get_proc_address(cpu, "ggml_threadpool_free"));
  api_.pause = reinterpret_cast<decltype(api_.pause)>(ggml_backend_reg_get_proc_address(cpu, "ggml_threadpool_pause"));
  api_.resume = reinterpret_cast<decltype(api_.resume)>(ggml_backend_reg_get_proc_address(cpu, "ggml_threadpool_resume"));
}

bool ComputeThreadpools::Attach(llama_context* ctx, int32_t threads, int32_t threads_batch, uint32_t poll) {
  if (!api_.create || !api_.destroy) return true;
  auto make = [&](int32_t n) {
    ggml_threadpool_params tpp = ggml_threadpool_params_default(n);
    tpp.poll = poll;
    tpp.paused = true;
    return api_.create(&tpp);
  };
  threadpool_ = make(threads);
  if (threads_batch != threads) threadpool_batch_ = make(threads_batch);
  if (threadpool_ == nullptr || (threads_batch != threads && threadpool_batch_ == nullptr)) return false;
  llama_attach_threadpool(ctx, threadpool_, threadpool_batch_);
  return true;
}

void ComputeThreadpools::Free() {
  if (threadpool_batch_ != nullptr) api_.destroy(threadpool_batch_);
  if (threadpool_ != nullptr) api_.destroy(threadpool_);
  threadpool_ = threadpool_batch_ = nullptr;
}

void ComputeThreadpools::Pause() {
  if (!api_.pause) return;
  if (threadpool_) api_.pause(threadpool_);
  if (threadpool_batch_) api_.pause(threadpool_batch_);
}

void ComputeThreadpools::Resume() {
  if (!api_.resume) return;
  if (threadpool_) api_.resume(threadpool_);
  if (threadpool_batch_) api_.resume(threadpool_batch_);
}

}  // namespace llama_napi
