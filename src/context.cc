#include "context.h"

#include <cstring>
#include <vector>

#include "addon_data.h"
#include "errors.h"
#include "js_completion.h"
#include "js_params.h"
#include "model.h"
#include "sampler_chain.h"

namespace llama_napi {

namespace {

// Runs a job body, turning every C++ failure into a coded rejection.
void Guarded(JsCompletion* completion, const std::atomic<bool>& disposed, const std::function<void()>& body) {
  try {
    body();
  } catch (const NativeError& e) {
    completion->Reject(disposed.load() ? kErrDisposed : e.code(), disposed.load() ? "the context was disposed" : e.what());
  } catch (const std::bad_alloc&) {
    completion->Reject(kErrOutOfMemory, "out of memory (std::bad_alloc)");
  } catch (const std::exception& e) {
    completion->Reject(OutOfMemoryCode(e.what(), kErrNative), e.what());
  }
}

}  // namespace

Napi::Function Context::Define(Napi::Env env) {
  return DefineClass(env, "Context",
                     {
                         InstanceMethod<&Context::Init>("init"),
                         InstanceMethod<&Context::Size>("size"),
                         InstanceMethod<&Context::SequenceSize>("sequenceSize"),
                         InstanceMethod<&Context::Evaluate>("evaluate"),
                         InstanceMethod<&Context::Embed>("embed"),
                         InstanceMethod<&Context::Generate>("generate"),
                         InstanceMethod<&Context::Abort>("abort"),
                         InstanceMethod<&Context::Dispose>("dispose"),
                     });
}

Context::Context(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Context>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) ThrowCoded(env, kErrInvalidArg, "new Context(model) expects a Model");
  Napi::Object model_object = info[0].As<Napi::Object>();
  if (!model_object.InstanceOf(AddonData::Of(env).model_ctor.Value())) {
    ThrowCoded(env, kErrInvalidArg, "new Context(model) expects a Model");
  }
  model_ = Model::Unwrap(model_object)->Acquire(env);
  model_object_ = Napi::Persistent(model_object);
  loop_ = std::make_unique<InferenceLoop>(
      [this] {
        disposed_ = true;
        abort_ = true;
      },
      [this] { return StepEngine(); });
  Register(env);
}

Context::~Context() { Shutdown(); }

void Context::Register(Napi::Env env) {
  addon_ = &AddonData::Of(env);
  addon_->contexts.insert(this);
}

void Context::Unregister() {
  if (addon_ != nullptr) addon_->contexts.erase(this);
  addon_ = nullptr;
}

void Context::Shutdown() {
  if (!loop_) return;
  disposed_ = true;
  abort_ = true;
  loop_->Stop([this] { engine_.reset(); });
  loop_->Join();
  loop_.reset();
  Unregister();
}

void Context::EnsureUsable(Napi::Env env) const {
  if (disposed_) ThrowCoded(env, kErrDisposed, "the context has been disposed");
}

void Context::PostJob(JsCompletion* completion, std::function<void()> job) {
  if (!loop_->Post(std::move(job))) completion->Reject(kErrDisposed, "the context has been disposed");
}

Napi::Value Context::Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  if (initialised_) ThrowCoded(env, kErrBusy, "init() may be called once per context");
  if (info.Length() < 1 || !info[0].IsObject()) ThrowCoded(env, kErrInvalidArg, "init(params) expects an object");
  EngineParams p = EngineParamsFromJs(env, info[0].As<Napi::Object>());
  initialised_ = true;

  auto* completion = new JsCompletion(env, Value(), Napi::Function());
  PostJob(completion, [this, p, completion] {
    Guarded(completion, disposed_, [&] {
      engine_ = std::make_unique<ContextEngine>(model_, p, &abort_);
      engine_->Pause();
      size_ = engine_->Size();
      sequence_size_ = engine_->SequenceSize();
      if (disposed_) throw NativeError(kErrDisposed, "the context was disposed");
      completion->Resolve([](Napi::Env env) { return env.Undefined(); });
    });
  });
  return completion->Promise();
}

Napi::Value Context::Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), size_.load()); }

Napi::Value Context::SequenceSize(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), sequence_size_.load());
}

bool Context::StepEngine() {
  if (!engine_) return false;
  if (!running_) {
    engine_->Resume();
    running_ = true;
  }
  bool more = false;
  try {
    more = engine_->Step();
  } catch (const std::exception& e) {
    engine_->FailAll(OutOfMemoryCode(e.what(), kErrNative), e.what());
  }
  if (!more) {
    engine_->Pause();
    running_ = false;
  }
  return more;
}

std::shared_ptr<std::atomic<bool>> Context::NewJobFlag(Napi::Env env, Napi::Value id) {
  if (!id.IsNumber() && !id.IsUndefined()) ThrowCoded(env, kErrInvalidArg, "a job id must be a number");
  // Flags of finished jobs are only held here: drop them.
  for (auto it = job_flags_.begin(); it != job_flags_.end();) {
    it = it->second.use_count() == 1 ? job_flags_.erase(it) : std::next(it);
  }
  auto flag = std::make_shared<std::atomic<bool>>(false);
  if (id.IsNumber()) job_flags_[id.As<Napi::Number>().Uint32Value()] = flag;
  return flag;
}

std::function<void(const std::string&, const std::string&)> Context::Rejecter(JsCompletion* completion) {
  return [this, completion](const std::string& code, const std::string& message) {
    if (disposed_.load()) {
      completion->Reject(kErrDisposed, "the context was disposed");
    } else {
      completion->Reject(code, message);
    }
  };
}

Napi::Value Context::Evaluate(const Napi::CallbackInfo& info) { return VectorJob(info, false); }

Napi::Value Context::Embed(const Napi::CallbackInfo& info) { return VectorJob(info, true); }

Napi::Value Context::VectorJob(const Napi::CallbackInfo& info, bool embed) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  SlotRequest request;
  request.prompt = TokensFromJs(env, info[0]);
  request.reuse_prefix = false;
  request.logits_only = !embed;
  request.embed = embed;
  request.abort = NewJobFlag(env, info.Length() > 1 ? info[1] : env.Undefined());
  auto* completion = new JsCompletion(env, Value(), Napi::Function());
  request.on_logits = [completion](std::vector<float> values) {
    auto shared = std::make_shared<std::vector<float>>(std::move(values));
    completion->Resolve([shared](Napi::Env env) {
      Napi::Float32Array out = Napi::Float32Array::New(env, shared->size());
      std::memcpy(out.Data(), shared->data(), shared->size() * sizeof(float));
      return out;
    });
  };
  request.on_done = [completion](const GenerateResult&) { completion->Reject(kErrAborted, "evaluation aborted"); };
  request.on_error = Rejecter(completion);
  Submit(completion, std::move(request));
  return completion->Promise();
}

void Context::Submit(JsCompletion* completion, SlotRequest request) {
  auto shared = std::make_shared<SlotRequest>(std::move(request));
  PostJob(completion, [this, shared, completion] {
    if (!engine_) {
      completion->Reject(kErrInvalidArg, "the context is not initialised");
      return;
    }
    engine_->Submit(std::move(*shared));
  });
}

Napi::Value Context::Generate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  if (info.Length() < 4 || !info[1].IsArray() || !info[2].IsObject() || !info[3].IsFunction()) {
    ThrowCoded(env, kErrInvalidArg, "generate(prompt, sampler, params, onTokens)");
  }
  Napi::Object params = info[2].As<Napi::Object>();
  SlotRequest request;
  request.prompt = TokensFromJs(env, info[0]);
  GenerateParamsFromJs(env, params, request);
  bool device_capable = false;
  request.chain.reset(BuildSamplerChain(env, info[1].As<Napi::Array>(), model_->vocab, &device_capable),
                      [](llama_sampler* s) { if (s != nullptr) llama_sampler_free(s); });
  request.device_sampling = request.device_sampling && device_capable;
  if (!request.chain.get()) request.chain.reset();  // greedy: the engine takes the argmax itself
  request.abort = NewJobFlag(env, params.Get("id"));

  auto* completion = new JsCompletion(env, Value(), info[3].As<Napi::Function>());
  request.on_token = [completion](llama_token t, const char* bytes, size_t n, const TokenLogprobs* logprobs) {
    completion->PushToken(t, bytes, n, logprobs);
  };
  request.on_done = [completion](const GenerateResult& r) {
    completion->Resolve([r](Napi::Env env) {
      Napi::Object out = Napi::Object::New(env);
      out.Set("finishReason", r.finish_reason);
      out.Set("promptTokens", r.prompt_tokens);
      out.Set("cachedTokens", r.cached_tokens);
      out.Set("generatedTokens", r.generated_tokens);
      out.Set("promptMicros", static_cast<double>(r.prompt_micros));
      out.Set("generateMicros", static_cast<double>(r.generate_micros));
      out.Set("sampledOn", r.sampled_on_device ? "device" : "host");
      return out;
    });
  };
  request.on_error = Rejecter(completion);
  Submit(completion, std::move(request));
  return completion->Promise();
}

void Context::Abort(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && info[0].IsNumber()) {
    auto it = job_flags_.find(info[0].As<Napi::Number>().Uint32Value());
    if (it != job_flags_.end()) it->second->store(true);
    return;
  }
  for (auto& entry : job_flags_) entry.second->store(true);
}

Napi::Value Context::Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!loop_ || disposed_) {
    auto done = Napi::Promise::Deferred::New(env);
    done.Resolve(env.Undefined());
    return done.Promise();
  }
  disposed_ = true;
  abort_ = true;
  auto* completion = new JsCompletion(env, Value(), Napi::Function());
  // The engine is freed on the thread that created it, after the job in flight ended.
  loop_->Stop([this, completion] {
    engine_.reset();
    completion->Resolve([this](Napi::Env env) {
      if (loop_) {
        loop_->Join();
        loop_.reset();
      }
      model_.reset();
      model_object_.Reset();
      Unregister();
      return env.Undefined();
    });
  });
  return completion->Promise();
}

}  // namespace llama_napi
