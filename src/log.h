// Routes llama.cpp/ggml log lines. The llama.cpp log callback is process-wide, but JS
// loggers belong to one Node environment (main thread or a worker_thread), so each
// environment registers a sink; the callback fans out to the sinks that want the level.
// Nothing is ever printed: with no sink, lines are dropped, except that the most recent
// warning/error lines of the calling thread are kept to enrich error messages.
#pragma once
#include <napi.h>

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

}  // namespace llama_napi
