// Model loads in flight, process-wide, so that process exit can stop them and wait until none is
// inside llama.cpp any more (the loads' counterpart of InferenceLoop::StopAll): exit() runs static
// destructors, llama.cpp's among them, which must not run under a loading thread. A load runs on
// a libuv threadpool thread that nothing else joins.
#pragma once
#include <atomic>
#include <cstddef>
#include <memory>

namespace llama_napi {

class RunningLoad {
 public:
  // Worker thread: the load whose abort flag is `abort` is running until this is destroyed.
  explicit RunningLoad(std::shared_ptr<std::atomic<bool>> abort);
  ~RunningLoad();
  RunningLoad(const RunningLoad&) = delete;
  RunningLoad& operator=(const RunningLoad&) = delete;

  // Sets every running load's abort flag (llama.cpp checks it at each progress report) and waits
  // until each has returned. Called from the JS 'exit' event.
  static void AbortAllAndWait();
  // Loads running now (for the exit test).
  static size_t Count();

 private:
  std::shared_ptr<std::atomic<bool>> abort_;
};

}  // namespace llama_napi
