// Context: one llama_context, owned by an InferenceLoop thread. Every method posts a job
// to that thread and returns a promise; nothing here blocks the JS thread on llama.cpp.
#pragma once
#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "context_engine.h"
#include "inference_loop.h"
#include "model_handle.h"

namespace llama_napi {

class Context : public Napi::ObjectWrap<Context> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Context(const Napi::CallbackInfo& info);
  ~Context() override;

  // Abort, stop the thread, free; blocks briefly (llama.cpp checks abort between graph
  // nodes). Used by the destructor and at environment teardown. Idempotent.
  void Shutdown();
  // The environment's AddonData is going away: stop using it.
  void DetachAddon() { addon_ = nullptr; }

 private:
  Napi::Value Init(const Napi::CallbackInfo& info);
  Napi::Value Size(const Napi::CallbackInfo& info);
  Napi::Value SequenceSize(const Napi::CallbackInfo& info);
  Napi::Value Evaluate(const Napi::CallbackInfo& info);
  Napi::Value Embed(const Napi::CallbackInfo& info);
  // evaluate(tokens) → last logits, or embed(tokens) → pooled embedding.
  Napi::Value VectorJob(const Napi::CallbackInfo& info, bool embed);
  Napi::Value Generate(const Napi::CallbackInfo& info);
  // abort(id): that job; abort(): every job of this context.
  void Abort(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  void EnsureUsable(Napi::Env env) const;
  // Loop thread: one scheduling step of the engine (threads wake for work, sleep when idle).
  bool StepEngine();
  // JS thread: the abort flag of a new job, found again by its JS-chosen id in Abort().
  std::shared_ptr<std::atomic<bool>> NewJobFlag(Napi::Env env, Napi::Value id);
  // Rejects `completion` with the engine's code, or ERR_DISPOSED once disposed.
  std::function<void(const std::string&, const std::string&)> Rejecter(class JsCompletion* completion);
  // Hands a request to the engine on the loop thread.
  void Submit(class JsCompletion* completion, SlotRequest request);
  // Posts a job that settles `completion`; rejects it with ERR_DISPOSED if the loop is stopping.
  void PostJob(class JsCompletion* completion, std::function<void()> job);
  void Unregister();
  void Register(Napi::Env env);

  ModelRef model_;
  Napi::ObjectReference model_object_;  // a context pins its JS model object
  std::atomic<bool> abort_{false};
  std::atomic<bool> disposed_{false};
  std::atomic<uint32_t> size_{0};
  std::atomic<uint32_t> sequence_size_{0};
  bool running_ = false;  // loop thread: the compute threads are awake
  std::unordered_map<uint32_t, std::shared_ptr<std::atomic<bool>>> job_flags_;  // JS thread
  bool initialised_ = false;
  std::unique_ptr<ContextEngine> engine_;  // touched only on the loop thread
  std::unique_ptr<InferenceLoop> loop_;
  struct AddonData* addon_ = nullptr;
};

}  // namespace llama_napi
