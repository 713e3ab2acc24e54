#include "js_completion.h"

#include <cstring>

#include "errors.h"

namespace llama_napi {

JsCompletion::JsCompletion(Napi::Env env, Napi::Object owner, Napi::Function on_tokens)
    : deferred_(Napi::Promise::Deferred::New(env)),
      owner_(Napi::Persistent(owner)),
      tsfn_(Napi::ThreadSafeFunction::New(env, on_tokens, "llama-napi:job", 0, 1)) {}

void JsCompletion::PushToken(int32_t token, const char* bytes, size_t length, const TokenLogprobs* logprobs) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tokens_.push_back(token);
    bytes_.append(bytes, length);
    if (logprobs != nullptr) {
      logprobs_.push_back(logprobs->logprob);
      top_ids_.insert(top_ids_.end(), logprobs->top_ids.begin(), logprobs->top_ids.end());
      top_logprobs_.insert(top_logprobs_.end(), logprobs->top_logprobs.begin(), logprobs->top_logprobs.end());
    }
    if (drain_queued_) return;
    drain_queued_ = true;
  }
  tsfn_.NonBlockingCall([this](Napi::Env env, Napi::Function fn) { GuardJsCallback([&] { Drain(env, fn); }); });
}

void JsCompletion::Drain(Napi::Env env, Napi::Function on_tokens) {
  std::vector<int32_t> tokens;
  std::string bytes;
  std::vector<float> logprobs;
  std::vector<int32_t> top_ids;
  std::vector<float> top_logprobs;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    tokens.swap(tokens_);
    bytes.swap(bytes_);
    logprobs.swap(logprobs_);
    top_ids.swap(top_ids_);
    top_logprobs.swap(top_logprobs_);
    drain_queued_ = false;
  }
  if (tokens.empty() || on_tokens.IsEmpty()) return;
  Napi::Int32Array ids = Napi::Int32Array::New(env, tokens.size());
  std::memcpy(ids.Data(), tokens.data(), tokens.size() * sizeof(int32_t));
  Napi::Uint8Array text = Napi::Uint8Array::New(env, bytes.size());
  if (!bytes.empty()) std::memcpy(text.Data(), bytes.data(), bytes.size());
  if (logprobs.empty()) {
    on_tokens.Call({ids, text});
    return;
  }
  auto floats = [env](const std::vector<float>& v) {
    Napi::Float32Array a = Napi::Float32Array::New(env, v.size());
    if (!v.empty()) std::memcpy(a.Data(), v.data(), v.size() * sizeof(float));
    return a;
  };
  Napi::Int32Array top = Napi::Int32Array::New(env, top_ids.size());
  if (!top_ids.empty()) std::memcpy(top.Data(), top_ids.data(), top_ids.size() * sizeof(int32_t));
  on_tokens.Call({ids, text, floats(logprobs), top, floats(top_logprobs)});
}

void JsCompletion::Settle(std::function<void(Napi::Env)> settle) {
  // Queued after every drain, so the promise settles after the last token arrived.
  // `this` may be deleted on the JS thread before BlockingCall returns: use a copy.
  Napi::ThreadSafeFunction tsfn = tsfn_;
  napi_status status = tsfn.BlockingCall([this, settle = std::move(settle)](Napi::Env env, Napi::Function fn) {
    GuardJsCallback([&] { Drain(env, fn); });
    GuardJsCallback([&] { settle(env); });
    GuardJsCallback([&] { owner_.Reset(); });
    delete this;
  });
  // On napi_closing the environment is shutting down: nobody is left to settle for.
  (void)status;
  tsfn.Release();
}

void JsCompletion::Resolve(MakeValue make) {
  Settle([this, make = std::move(make)](Napi::Env env) { deferred_.Resolve(make(env)); });
}

void JsCompletion::Reject(std::string code, std::string message) {
  Settle([this, code = std::move(code), message = std::move(message)](Napi::Env env) {
    deferred_.Reject(CodedError(env, code, message).Value());
  });
}

}  // namespace llama_napi
