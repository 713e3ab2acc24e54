#include "inference_loop.h"

#include <set>

namespace llama_napi {

namespace {

// Every live loop in the process. Deliberately never destroyed, so that no exit-time
// destructor order can leave a loop thread with a dangling registry.
struct Registry {
  std::mutex mutex;
  std::set<InferenceLoop*> loops;
};
Registry& Live() {
  static Registry* registry = new Registry();
  return *registry;
}

}  // namespace

InferenceLoop::InferenceLoop(std::function<void()> interrupt, Step step)
    : interrupt_(std::move(interrupt)), step_(std::move(step)) {
  {
    std::lock_guard<std::mutex> lock(Live().mutex);
    Live().loops.insert(this);
  }
  thread_ = std::thread([this] { Run(); });
}

InferenceLoop::~InferenceLoop() {
  {
    std::lock_guard<std::mutex> lock(Live().mutex);
    Live().loops.erase(this);
  }
  Stop();
  Join();
}

void InferenceLoop::StopAll() {
  std::lock_guard<std::mutex> lock(Live().mutex);
  for (InferenceLoop* loop : Live().loops) {
    if (loop->interrupt_) loop->interrupt_();
    loop->Stop();
  }
  for (InferenceLoop* loop : Live().loops) loop->Join();
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
  bool working = false;  // the step has work left (touched by this thread only)
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (!working) wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (!queue_.empty()) {
        job = std::move(queue_.front());
        queue_.pop_front();
      } else if (stopping_) {
        return;  // stopping and drained
      }
    }
    if (job) {
      job();
      working = true;  // the job may have given the step work
    } else {
      working = step_ && step_();
    }
  }
}

}  // namespace llama_napi
