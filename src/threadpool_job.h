// Runs a self-settling job (LoadJob, QuantizeJob: they settle their promise through their own
// thread-safe function, after every progress report) on the libuv threadpool. The worker only
// carries the job there; its completion callback has nothing left to do.
#pragma once
#include <napi.h>

namespace llama_napi {

template <typename Job>
class ThreadpoolJob : public Napi::AsyncWorker {
 public:
  static void Queue(Napi::Env env, const char* name, Job* job) { (new ThreadpoolJob(env, name, job))->Napi::AsyncWorker::Queue(); }

 protected:
  void Execute() override { job_->Run(); }
  void OnOK() override {}

 private:
  ThreadpoolJob(Napi::Env env, const char* name, Job* job) : Napi::AsyncWorker(env, name), job_(job) {}
  Job* job_;
};

}  // namespace llama_napi
