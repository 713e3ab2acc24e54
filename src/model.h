// Model: one llama_model. Loading runs on a libuv worker; detokenize/info and tokenize are
// read-only vocab calls on the JS thread, tokenizeMany tokenizes long texts on a libuv worker.
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>

#include "model_handle.h"

namespace llama_napi {

class Model : public Napi::ObjectWrap<Model> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Model(const Napi::CallbackInfo& info);

  // The loaded model for a new context; throws ERR_DISPOSED / ERR_INVALID_ARG.
  ModelRef Acquire(Napi::Env env) const;

 private:
  friend class LoadJob;

  Napi::Value Load(const Napi::CallbackInfo& info);
  void AbortLoad(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Tokenize(const Napi::CallbackInfo& info);
  Napi::Value TokenizeMany(const Napi::CallbackInfo& info);
  Napi::Value Detokenize(const Napi::CallbackInfo& info);
  Napi::Value TokenPiece(const Napi::CallbackInfo& info);
  Napi::Value ApplyChatTemplate(const Napi::CallbackInfo& info);
  Napi::Value ControlTokens(const Napi::CallbackInfo& info);
  void Dispose(const Napi::CallbackInfo& info);

  const ModelHandle& Loaded(Napi::Env env) const;

  ModelRef handle_;
  bool loading_ = false;
  bool disposed_ = false;
  // Shared with the load worker: read by llama.cpp's progress callback.
  std::shared_ptr<std::atomic<bool>> abort_load_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace llama_napi
