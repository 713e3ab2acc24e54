#include "log.h"

#include <map>
#include <memory>
#include <mutex>

#include "errors.h"
#include "ggml.h"
#include "llama.h"

namespace llama_napi {
namespace {

struct Sink {
  Napi::ThreadSafeFunction fn;
  int min_level;
};

std::mutex g_mutex;
std::map<napi_env, Sink> g_sinks;
int g_envs = 0;

// Per-thread memory of the latest problems, so a failed load or decode can say why.
thread_local std::string t_recent;
thread_local int t_last_level = GGML_LOG_LEVEL_INFO;
constexpr size_t kRecentMax = 2048;
thread_local std::function<void(int, const char*)> t_observer;

void Remember(int level, const char* text) {
  if (level < GGML_LOG_LEVEL_WARN) return;
  t_recent += text;
  if (t_recent.size() > kRecentMax) t_recent.erase(0, t_recent.size() - kRecentMax);
}

void OnLog(ggml_log_level raw_level, const char* text, void*) {
  if (text == nullptr) return;
  // CONT lines continue the previous line and carry its level.
  int level = raw_level == GGML_LOG_LEVEL_CONT ? t_last_level : static_cast<int>(raw_level);
  t_last_level = level;
  Remember(level, text);
  if (t_observer) {
    try {
      t_observer(level, text);
    } catch (...) {
      // An observer must not throw into llama.cpp; if it does, the line is simply not observed.
    }
  }

  std::lock_guard<std::mutex> lock(g_mutex);
  for (auto& [env, sink] : g_sinks) {
    if (level < sink.min_level) continue;
    auto* line = new std::pair<int, std::string>(level, text);
    napi_status status = sink.fn.NonBlockingCall(line, [](Napi::Env env, Napi::Function fn, std::pair<int, std::string>* data) {
      std::unique_ptr<std::pair<int, std::string>> owned(data);
      if (env == nullptr || fn.IsEmpty()) return;
      GuardJsCallback([&] { fn.Call({Napi::Number::New(env, owned->first), Napi::String::New(env, owned->second)}); });
    });
    if (status != napi_ok) delete line;
  }
}

void ReleaseSinkLocked(napi_env env) {
  auto it = g_sinks.find(env);
  if (it == g_sinks.end()) return;
  it->second.fn.Release();
  g_sinks.erase(it);
}

}  // namespace

void LogAttach() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_envs++ == 0) llama_log_set(OnLog, nullptr);
}

void LogDetach(napi_env env) {
  std::lock_guard<std::mutex> lock(g_mutex);
  ReleaseSinkLocked(env);
  --g_envs;
}

void LogSetSink(Napi::Env env, Napi::Function logger, int min_level) {
  std::lock_guard<std::mutex> lock(g_mutex);
  ReleaseSinkLocked(env);
  if (logger.IsEmpty()) return;
  Sink sink{Napi::ThreadSafeFunction::New(env, logger, "llama-napi:log", 0, 1), min_level};
  // A logger must never keep the process alive.
  sink.fn.Unref(env);
  g_sinks.emplace(static_cast<napi_env>(env), std::move(sink));
}

std::string LogTakeRecent() {
  std::string out;
  out.swap(t_recent);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

void LogSetThreadObserver(std::function<void(int level, const char* text)> observer) { t_observer = std::move(observer); }

}  // namespace llama_napi
