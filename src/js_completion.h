// Settles one JS promise from the inference thread, and before that streams tokens to
// a JS callback. Tokens are appended to a locked buffer and at most one drain call is
// queued at a time: every token arrives, in order, but a busy event loop receives them
// in batches instead of one wake-up each. The owner JS object stays pinned meanwhile.
#pragma once
#include <napi.h>

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "token_logprobs.h"

namespace llama_napi {

class JsCompletion {
 public:
  using MakeValue = std::function<Napi::Value(Napi::Env)>;

  // JS thread. `on_tokens(ids: Int32Array, bytes: Uint8Array)` may be empty; tokens pushed with
  // log-probabilities add `(logprobs: Float32Array, topIds: Int32Array, topLogprobs: Float32Array)`,
  // the top ones `k` per token in token order.
  JsCompletion(Napi::Env env, Napi::Object owner, Napi::Function on_tokens);
  Napi::Promise Promise() const { return deferred_.Promise(); }

  // Loop thread.
  void PushToken(int32_t token, const char* bytes, size_t length, const TokenLogprobs* logprobs = nullptr);
  // Loop thread; each consumes the completion (it deletes itself on the JS thread).
  void Resolve(MakeValue make);
  void Reject(std::string code, std::string message);

 private:
  ~JsCompletion() = default;
  void Drain(Napi::Env env, Napi::Function on_tokens);
  void Settle(std::function<void(Napi::Env)> settle);

  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference owner_;
  Napi::ThreadSafeFunction tsfn_;

  std::mutex mutex_;
  std::vector<int32_t> tokens_;
  std::string bytes_;
  std::vector<float> logprobs_;
  std::vector<int32_t> top_ids_;
  std::vector<float> top_logprobs_;
  bool drain_queued_ = false;
};

}  // namespace llama_napi
