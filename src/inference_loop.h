// One thread per context that runs every llama.cpp call on that context, in order.
// Keeping decode on one persistent thread (rather than a rotating libuv worker) is what
// lets the compute threadpool stay warm between tokens; see README "Threads".
#pragma once
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace llama_napi {

class InferenceLoop {
 public:
  using Job = std::function<void()>;
  // Background work between jobs: one step of it; returns whether more remains.
  using Step = std::function<bool()>;

  // `interrupt` makes the job in flight end soon (it raises the owner's abort flags); it is
  // called from another thread when the process exits. `step` runs whenever no job is
  // queued, for as long as it reports work left (and once after every job).
  InferenceLoop(std::function<void()> interrupt, Step step);
  ~InferenceLoop();  // stops and joins
  InferenceLoop(const InferenceLoop&) = delete;
  InferenceLoop& operator=(const InferenceLoop&) = delete;

  // Queues a job; false once Stop() was called (the job is dropped).
  bool Post(Job job);
  // Runs `last` after the queued jobs, then ends the thread. Idempotent.
  void Stop(Job last = nullptr);
  // Waits for the thread to end (after Stop()).
  void Join();

  // Interrupts, stops and joins every loop in the process. Called from the JS 'exit' event:
  // Node's process.exit() runs no environment cleanup on the main thread before exit(), whose
  // static destructors (llama.cpp's among them) must not run under a computing thread.
  static void StopAll();

 private:
  void Run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::function<void()> interrupt_;
  Step step_;
  std::thread thread_;
};

}  // namespace llama_napi
