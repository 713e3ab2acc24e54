#include "progress_job.h"

#include <exception>
#include <memory>

#include "errors.h"
#include "own_thread.h"

namespace llama_napi {

// Only carries a job to the libuv threadpool: the job settles its promise through its own
// thread-safe function, after its last progress report, so the worker's completion callback
// has nothing left to do.
class ProgressJobCarrier : public Napi::AsyncWorker {
 public:
  ProgressJobCarrier(Napi::Env env, const char* name, ProgressJob* job) : Napi::AsyncWorker(env, name), job_(job) {}

 protected:
  void Execute() override { job_->Run(); }  // `job_` may be gone once Run() returned
  void OnOK() override {}

 private:
  ProgressJob* job_;
};

// Who frees the job, and why the finalizer. The settle message may never run: at environment
// teardown (worker.terminate(), exit) Node closes every thread-safe function; a call then fails
// with napi_closing, and messages still queued are dropped (passed to Deliver with a null env).
// Deleting the job on the worker thread when the call fails is no answer: a derived job holds
// N-API references (LoadJob pins its Model) that must be released on the JS thread, and a settle
// that was queued and then dropped would still leak the job and what its work produced (a loaded
// model). The finalizer runs exactly once, on the JS thread, after the last message in the normal
// case and before the queue is dropped at teardown: it alone deletes the job.
ProgressJob::ProgressJob(Napi::Env env, const char* name, Napi::Function on_progress)
    : deferred_(Napi::Promise::Deferred::New(env)),
      channel_(Channel::New(env, on_progress, name, 0, 1, this, [](Napi::Env, void*, ProgressJob* job) { delete job; })),
      name_(name),
      has_progress_(!on_progress.IsEmpty()) {}

Napi::Promise ProgressJob::Start(Napi::Env env, ProgressJob* job) {
  Napi::Promise promise = job->deferred_.Promise();
  try {
    (new ProgressJobCarrier(env, job->name_, job))->Queue();
  } catch (...) {
    job->channel_.Release();  // nothing will run: let the finalizer free the job
    throw;
  }
  return promise;
}

void ProgressJob::Run() {
  try {
    // Not on the libuv worker itself: an OpenMP team the work starts must end with it (own_thread.h).
    RunOnOwnThread([this] { Execute(); });
  } catch (const std::exception& e) {
    Fail(OutOfMemoryCode(e.what(), kErrNative), e.what());
  }
  // Once the settle is queued the finalizer may free `this` at any moment: use a copy.
  Channel channel = channel_;
  // On napi_closing Node has already dropped this thread's use of the function (the failed call
  // counts as its release), and the function, with the job, may be freed by the finalizer at any
  // moment: touch neither, not even to Release().
  if (channel.BlockingCall(nullptr) == napi_ok) channel.Release();
}

void ProgressJob::ReportProgress(float fraction) {
  if (!has_progress_) return;
  if (fraction < 1.0f && fraction - last_sent_ < 0.01f) return;
  last_sent_ = fraction;
  auto message = std::make_unique<float>(fraction);
  if (channel_.NonBlockingCall(message.get()) == napi_ok) message.release();
}

void ProgressJob::Fail(std::string code, std::string message) {
  code_ = std::move(code);
  message_ = std::move(message);
}

void ProgressJob::Deliver(Napi::Env env, Napi::Function on_progress, ProgressJob* job, float* fraction) {
  std::unique_ptr<float> owned(fraction);
  // A message dropped at teardown: the finalizer has already freed the job, only the message is left.
  if (static_cast<napi_env>(env) == nullptr) return;
  if (owned) {
    GuardJsCallback([&] { on_progress.Call({Napi::Number::New(env, *owned)}); });
  } else {
    job->Settle(env);
  }
}

void ProgressJob::Settle(Napi::Env env) {
  GuardJsCallback([&] {
    Complete(env);
    if (Failed()) {
      deferred_.Reject(CodedError(env, code_, message_).Value());
    } else {
      deferred_.Resolve(env.Undefined());
    }
  });
}

}  // namespace llama_napi
