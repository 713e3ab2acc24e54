#include "inference_loop.h"

namespace llama_napi {

InferenceLoop::InferenceLoop() : thread_([this] { Run(); }) {}

InferenceLoop::~InferenceLoop() {
  Stop();
  Join();
}

bool InferenceLoop::Post(Job job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return false;
    queue_.push_back(std::move(job));
  }
  wake_.notify_one();
  return true;
}

void InferenceLoop::Stop(Job last) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    if (last) queue_.push_back(std::move(last));
  }
  wake_.notify_one();
}

void InferenceLoop::Join() {
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

void InferenceLoop::Run() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();
  }
}

}  // namespace llama_napi
