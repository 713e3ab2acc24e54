// Failures cross the N-API boundary as JS Errors with a stable `code` (see lib/native.ts).
#pragma once
#include <napi.h>

#include <stdexcept>
#include <string>

#include "error_codes.h"

namespace llama_napi {

// Thrown on worker threads; turned into a coded JS Error on the JS thread.
class NativeError : public std::runtime_error {
 public:
  NativeError(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

// The one place that tells an allocation failure from other failures: `code` unless `what` (an
// exception's text, or the log lines llama.cpp wrote before it gave up) says that memory ran
// out, then kErrOutOfMemory. llama.cpp reports a failed allocation only as text (it returns
// null or a status and logs, or throws std::runtime_error), so the texts are matched here.
const char* OutOfMemoryCode(const std::string& what, const char* code);

Napi::Error CodedError(Napi::Env env, const std::string& code, const std::string& message);

// Throws a coded JS exception (node-addon-api is built with C++ exceptions).
[[noreturn]] void ThrowCoded(Napi::Env env, const std::string& code, const std::string& message);

// Runs the body of a thread-safe-function callback. Such a callback is a C callback: an
// exception escaping it would terminate the process. While an environment is torn down
// (worker.terminate(), exit) every call into JS fails and node-addon-api throws, so those
// failures are dropped here: nobody is left to receive the value.
template <typename Body>
void GuardJsCallback(Body&& body) noexcept {
  try {
    body();
  } catch (...) {
  }
}

}  // namespace llama_napi
