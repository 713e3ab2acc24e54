#include "running_loads.h"

#include <condition_variable>
#include <mutex>
#include <set>

namespace llama_napi {

namespace {

struct Registry {
  std::mutex mutex;
  std::condition_variable done;
  std::multiset<std::shared_ptr<std::atomic<bool>>> running;
};

// Never destroyed: exit() may run static destructors while a load still holds the lock.
Registry& TheRegistry() {
  static auto* registry = new Registry();
  return *registry;
}

}  // namespace

RunningLoad::RunningLoad(std::shared_ptr<std::atomic<bool>> abort) : abort_(std::move(abort)) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.running.insert(abort_);
}

RunningLoad::~RunningLoad() {
  Registry& r = TheRegistry();
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    r.running.erase(r.running.find(abort_));
  }
  r.done.notify_all();
}

void RunningLoad::AbortAllAndWait() {
  Registry& r = TheRegistry();
  std::unique_lock<std::mutex> lock(r.mutex);
  for (const auto& abort : r.running) abort->store(true);
  r.done.wait(lock, [&r] { return r.running.empty(); });
}

size_t RunningLoad::Count() {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return r.running.size();
}

}  // namespace llama_napi
