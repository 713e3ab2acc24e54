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

  InferenceLoop();
  ~InferenceLoop();  // stops and joins
  InferenceLoop(const InferenceLoop&) = delete;
  InferenceLoop& operator=(const InferenceLoop&) = delete;

  // Queues a job; false once Stop() was called (the job is dropped).
  bool Post(Job job);
  // Runs `last` after the queued jobs, then ends the thread. Idempotent.
  void Stop(Job last = nullptr);
  // Waits for the thread to end (after Stop()).
  void Join();

 private:
  void Run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace llama_napi
