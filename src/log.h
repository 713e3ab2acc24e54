// Routes llama.cpp/ggml log lines. The llama.cpp log callback is process-wide, but JS
// loggers belong to one Node environment (main thread or a worker_thread), so each
// environment registers a sink; the callback fans out to the sinks that want the level.
// Nothing is ever printed: with no sink, lines are dropped, except that the most recent
// warning/error lines of the calling thread are kept to enrich error messages.
#pragma once
#include <napi.h>

#include <functional>
#include <string>

namespace llama_napi {

// Installs the process-wide callback (once) and counts this environment in.
void LogAttach();
// Counts an environment out; the last one out removes its sink.
void LogDetach(napi_env env);

// Sets or clears (null function) the JS logger of `env`.
void LogSetSink(Napi::Env env, Napi::Function logger, int min_level);

// Warning/error text llama.cpp logged on this thread since the last LogTakeRecent().
std::string LogTakeRecent();

// Sets (or, with an empty function, clears) an observer of every line llama.cpp logs on the
// calling thread, at any level (CONT lines carry the level of the line they continue). For
// llama.cpp calls whose only progress report is their log (llama_model_quantize). The
// observer runs inside llama.cpp's log call: it must be quick and must not throw.
void LogSetThreadObserver(std::function<void(int level, const char* text)> observer);

// Sets a thread observer for the lifetime of the scope.
class ScopedLogObserver {
 public:
  explicit ScopedLogObserver(std::function<void(int level, const char* text)> observer) {
    LogSetThreadObserver(std::move(observer));
  }
  ~ScopedLogObserver() { LogSetThreadObserver(nullptr); }
  ScopedLogObserver(const ScopedLogObserver&) = delete;
  ScopedLogObserver& operator=(const ScopedLogObserver&) = delete;
};

}  // namespace llama_napi
