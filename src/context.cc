#include "context.h"

#include <cstring>
#include <vector>

#include "addon_data.h"
#include "errors.h"
#include "js_completion.h"
#include "model.h"
#include "sampler_chain.h"

namespace llama_napi {

namespace {

std::vector<llama_token> TokensArg(Napi::Env env, Napi::Value value) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    ThrowCoded(env, "ERR_INVALID_ARG", "tokens must be an Int32Array");
  }
  Napi::Int32Array a = value.As<Napi::Int32Array>();
  return std::vector<llama_token>(a.Data(), a.Data() + a.ElementLength());
}

uint32_t UintField(Napi::Env env, Napi::Object o, const char* name, uint32_t min) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) ThrowCoded(env, "ERR_INVALID_ARG", std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= 1e9)) ThrowCoded(env, "ERR_INVALID_ARG", std::string(name) + " out of range");
  return static_cast<uint32_t>(d);
}

// The KV cache types the TS layer offers, by name.
ggml_type CacheTypeField(Napi::Env env, Napi::Object o, const char* name) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) return GGML_TYPE_F16;
  const std::string type = v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
  if (type == "f16") return GGML_TYPE_F16;
  if (type == "q8_0") return GGML_TYPE_Q8_0;
  if (type == "q4_0") return GGML_TYPE_Q4_0;
  ThrowCoded(env, "ERR_INVALID_ARG", std::string(name) + " must be f16, q8_0 or q4_0");
}

llama_flash_attn_type FlashAttnField(Napi::Env env, Napi::Object o) {
  Napi::Value v = o.Get("flashAttention");
  if (v.IsUndefined()) return LLAMA_FLASH_ATTN_TYPE_AUTO;
  const std::string mode = v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
  if (mode == "auto") return LLAMA_FLASH_ATTN_TYPE_AUTO;
  if (mode == "on") return LLAMA_FLASH_ATTN_TYPE_ENABLED;
  if (mode == "off") return LLAMA_FLASH_ATTN_TYPE_DISABLED;
  ThrowCoded(env, "ERR_INVALID_ARG", "flashAttention must be auto, on or off");
}

// Runs a job body, turning every C++ failure into a coded rejection.
void Guarded(JsCompletion* completion, const std::atomic<bool>& disposed, const std::function<void()>& body) {
  try {
    body();
  } catch (const NativeError& e) {
    completion->Reject(disposed.load() ? "ERR_DISPOSED" : e.code(), disposed.load() ? "the context was disposed" : e.what());
  } catch (const std::bad_alloc&) {
    completion->Reject("ERR_NATIVE", "out of memory");
  } catch (const std::exception& e) {
    completion->Reject("ERR_NATIVE", e.what());
  }
}

}  // namespace

EngineParams EngineParamsFromJs(Napi::Env env, Napi::Object o) {
  EngineParams p{};
  p.context_size = UintField(env, o, "contextSize", 1);
  p.batch_size = UintField(env, o, "batchSize", 1);
  p.ubatch_size = UintField(env, o, "ubatchSize", 1);
  p.threads = static_cast<int32_t>(UintField(env, o, "threads", 1));
  p.threads_batch = static_cast<int32_t>(UintField(env, o, "threadsBatch", 1));
  p.poll = UintField(env, o, "poll", 0);
  p.sequences = UintField(env, o, "sequences", 1);
  if (p.poll > 100) ThrowCoded(env, "ERR_INVALID_ARG", "poll out of range");
  p.flash_attn = FlashAttnField(env, o);
  p.type_k = CacheTypeField(env, o, "kvCacheTypeK");
  p.type_v = CacheTypeField(env, o, "kvCacheTypeV");
  if (ggml_is_quantized(p.type_v) && p.flash_attn == LLAMA_FLASH_ATTN_TYPE_DISABLED) {
    ThrowCoded(env, "ERR_INVALID_ARG", "a quantized V cache needs flash attention");
  }
  return p;
}

Napi::Function Context::Define(Napi::Env env) {
  return DefineClass(env, "Context",
                     {
                         InstanceMethod<&Context::Init>("init"),
                         InstanceMethod<&Context::Size>("size"),
                         InstanceMethod<&Context::Evaluate>("evaluate"),
                         InstanceMethod<&Context::Generate>("generate"),
                         InstanceMethod<&Context::Abort>("abort"),
                         InstanceMethod<&Context::Dispose>("dispose"),
                     });
}

Context::Context(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Context>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) ThrowCoded(env, "ERR_INVALID_ARG", "new Context(model) expects a Model");
  Napi::Object model_object = info[0].As<Napi::Object>();
  if (!model_object.InstanceOf(AddonData::Of(env).model_ctor.Value())) {
    ThrowCoded(env, "ERR_INVALID_ARG", "new Context(model) expects a Model");
  }
  model_ = Model::Unwrap(model_object)->Acquire(env);
  model_object_ = Napi::Persistent(model_object);
  loop_ = std::make_unique<InferenceLoop>([this] {
    disposed_ = true;
    abort_ = true;
  });
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
  if (disposed_) ThrowCoded(env, "ERR_DISPOSED", "the context has been disposed");
}

void Context::PostJob(JsCompletion* completion, std::function<void()> job) {
  if (!loop_->Post(std::move(job))) completion->Reject("ERR_DISPOSED", "the context has been disposed");
}

Napi::Value Context::Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  if (initialised_) ThrowCoded(env, "ERR_BUSY", "init() may be called once per context");
  if (info.Length() < 1 || !info[0].IsObject()) ThrowCoded(env, "ERR_INVALID_ARG", "init(params) expects an object");
  EngineParams p = EngineParamsFromJs(env, info[0].As<Napi::Object>());
  initialised_ = true;

  auto* completion = new JsCompletion(env, Value(), Napi::Function());
  PostJob(completion, [this, p, completion] {
    Guarded(completion, disposed_, [&] {
      engine_ = std::make_unique<ContextEngine>(model_, p, &abort_);
      engine_->Pause();
      size_ = engine_->Size();
      if (disposed_) throw NativeError("ERR_DISPOSED", "the context was disposed");
      completion->Resolve([](Napi::Env env) { return env.Undefined(); });
    });
  });
  return completion->Promise();
}

Napi::Value Context::Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), size_.load()); }

Napi::Value Context::Evaluate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  std::vector<llama_token> tokens = TokensArg(env, info[0]);
  abort_ = false;  // reset at submission: an abort() for an earlier job cannot leak into this one
  auto* completion = new JsCompletion(env, Value(), Napi::Function());
  PostJob(completion, [this, tokens = std::move(tokens), completion] {
    Guarded(completion, disposed_, [&] {
      if (!engine_) throw NativeError("ERR_INVALID_ARG", "the context is not initialised");
      engine_->Resume();
      auto logits = std::make_shared<std::vector<float>>(engine_->Evaluate(tokens));
      engine_->Pause();
      if (disposed_) throw NativeError("ERR_DISPOSED", "the context was disposed");
      completion->Resolve([logits](Napi::Env env) {
        Napi::Float32Array out = Napi::Float32Array::New(env, logits->size());
        std::memcpy(out.Data(), logits->data(), logits->size() * sizeof(float));
        return out;
      });
    });
    if (engine_) engine_->Pause();
  });
  return completion->Promise();
}

Napi::Value Context::Generate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  if (info.Length() < 4 || !info[1].IsArray() || !info[2].IsObject() || !info[3].IsFunction()) {
    ThrowCoded(env, "ERR_INVALID_ARG", "generate(prompt, sampler, params, onTokens)");
  }
  std::vector<llama_token> prompt = TokensArg(env, info[0]);
  Napi::Value max_value = info[2].As<Napi::Object>().Get("maxTokens");
  if (!max_value.IsNumber()) ThrowCoded(env, "ERR_INVALID_ARG", "maxTokens must be a number");
  const double max_d = max_value.As<Napi::Number>().DoubleValue();
  const int32_t max_tokens = max_d < 0 || max_d > INT32_MAX ? -1 : static_cast<int32_t>(max_d);
  const bool reuse_prefix = info[2].As<Napi::Object>().Get("cachePrompt").ToBoolean();
  std::shared_ptr<llama_sampler> chain(BuildSamplerChain(env, info[1].As<Napi::Array>(), model_->vocab),
                                       [](llama_sampler* s) { if (s != nullptr) llama_sampler_free(s); });

  abort_ = false;  // reset at submission, see Evaluate
  auto* completion = new JsCompletion(env, Value(), info[3].As<Napi::Function>());
  PostJob(completion, [this, prompt = std::move(prompt), chain, max_tokens, reuse_prefix, completion] {
    Guarded(completion, disposed_, [&] {
      if (!engine_) throw NativeError("ERR_INVALID_ARG", "the context is not initialised");
      engine_->Resume();
      GenerateResult r = engine_->Generate(prompt, chain.get(), max_tokens, reuse_prefix,
                                           [completion](llama_token t, const char* bytes, size_t n) { completion->PushToken(t, bytes, n); });
      engine_->Pause();
      if (disposed_) throw NativeError("ERR_DISPOSED", "the context was disposed");
      completion->Resolve([r](Napi::Env env) {
        Napi::Object out = Napi::Object::New(env);
        out.Set("finishReason", r.finish_reason);
        out.Set("promptTokens", r.prompt_tokens);
        out.Set("cachedTokens", r.cached_tokens);
        out.Set("generatedTokens", r.generated_tokens);
        out.Set("promptMicros", static_cast<double>(r.prompt_micros));
        out.Set("generateMicros", static_cast<double>(r.generate_micros));
        return out;
      });
    });
    if (engine_) engine_->Pause();
  });
  return completion->Promise();
}

void Context::Abort(const Napi::CallbackInfo&) { abort_ = true; }

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
