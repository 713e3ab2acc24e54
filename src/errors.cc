#include "errors.h"

namespace llama_napi {

Napi::Error CodedError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

void ThrowCoded(Napi::Env env, const std::string& code, const std::string& message) {
  throw CodedError(env, code, message);
}

}  // namespace llama_napi
