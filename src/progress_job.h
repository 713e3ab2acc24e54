// Work that runs on a libuv threadpool thread, reports progress to a JS callback and settles one
// promise: a model load (LoadJob, model.cc) and a quantization (QuantizeJob, quantize.cc). A
// derived job supplies the work and what happens on the JS thread before the promise settles;
// this class owns the rest: the thread-safe function, the progress throttle, the single settle
// and the job's lifetime, including at environment teardown.
//
// Progress reports and the settle travel through the same thread-safe function, so every report
// reaches JS before the promise settles.
#pragma once
#include <napi.h>

#include <string>

namespace llama_napi {

class ProgressJob {
 public:
  // JS thread. Queues `job` on the libuv threadpool and returns its promise. The job belongs to its
  // thread-safe function from construction on; see ~ProgressJob for when it is freed.
  static Napi::Promise Start(Napi::Env env, ProgressJob* job);

  ProgressJob(const ProgressJob&) = delete;
  ProgressJob& operator=(const ProgressJob&) = delete;

 protected:
  // JS thread. `name` labels the work for async_hooks; `on_progress(fraction)` may be empty.
  ProgressJob(Napi::Env env, const char* name, Napi::Function on_progress);
  // Runs on the JS thread, from the thread-safe function's finalizer: after the settle, or at
  // environment teardown without one (then Complete() never ran, and a derived destructor frees
  // what the work produced for JS).
  virtual ~ProgressJob() = default;

  // Worker thread (a thread of its own that the libuv worker starts and joins: own_thread.h): the
  // work. A failure is reported with Fail(); a C++ exception becomes ERR_NATIVE (ERR_OUT_OF_MEMORY
  // for an allocation failure, see OutOfMemoryCode).
  virtual void Execute() = 0;
  // JS thread, just before the promise settles: hands the result to its owner, or Fail()s.
  virtual void Complete(Napi::Env) {}

  // Worker thread: passes `fraction` (0..1) to on_progress when it is 1 or has grown by at least
  // 1% since the last report, so a busy event loop is not flooded.
  void ReportProgress(float fraction);
  // The promise rejects with this code and message (the last call wins).
  void Fail(std::string code, std::string message);
  bool Failed() const { return !code_.empty(); }

 private:
  friend class ProgressJobCarrier;
  // JS thread: one message of the thread-safe function: a progress report (`fraction`) or, with
  // no fraction, the settle.
  static void Deliver(Napi::Env env, Napi::Function on_progress, ProgressJob* job, float* fraction);
  using Channel = Napi::TypedThreadSafeFunction<ProgressJob, float, &ProgressJob::Deliver>;

  // Worker thread: Execute(), then queue the settle.
  void Run();
  // JS thread.
  void Settle(Napi::Env env);

  Napi::Promise::Deferred deferred_;
  Channel channel_;
  const char* name_;
  const bool has_progress_;
  float last_sent_ = -1.0f;  // worker thread only
  std::string code_;
  std::string message_;
};

}  // namespace llama_napi
