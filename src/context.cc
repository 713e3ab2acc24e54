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

// Pooling of embedding contexts by name; absent: the model's own.
enum llama_pooling_type PoolingField(Napi::Env env, Napi::Object o) {
  Napi::Value v = o.Get("pooling");
  if (v.IsUndefined()) return LLAMA_POOLING_TYPE_UNSPECIFIED;
  const std::string type = v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
  if (type == "mean") return LLAMA_POOLING_TYPE_MEAN;
  if (type == "cls") return LLAMA_POOLING_TYPE_CLS;
  if (type == "last") return LLAMA_POOLING_TYPE_LAST;
  if (type == "rank") return LLAMA_POOLING_TYPE_RANK;
  ThrowCoded(env, "ERR_INVALID_ARG", "pooling must be mean, cls, last or rank");
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
  p.embeddings = o.Get("embeddings").ToBoolean();
  p.pooling = PoolingField(env, o);
  p.type_k = CacheTypeField(env, o, "kvCacheTypeK");
  p.type_v = CacheTypeField(env, o, "kvCacheTypeV");
  // llama.cpp reserves the pooling graph with n_ubatch / n_seq_max tokens per sequence and
  // asserts (aborting the process) when that does not divide evenly.
  if (p.embeddings && p.ubatch_size % p.sequences != 0) {
    ThrowCoded(env, "ERR_INVALID_ARG", "an embedding context needs ubatchSize divisible by sequences");
  }
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
  if (info.Length() < 1 || !info[0].IsObject()) ThrowCoded(env, "ERR_INVALID_ARG", "new Context(model) expects a Model");
  Napi::Object model_object = info[0].As<Napi::Object>();
  if (!model_object.InstanceOf(AddonData::Of(env).model_ctor.Value())) {
    ThrowCoded(env, "ERR_INVALID_ARG", "new Context(model) expects a Model");
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
      sequence_size_ = engine_->SequenceSize();
      if (disposed_) throw NativeError("ERR_DISPOSED", "the context was disposed");
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
    engine_->FailAll("ERR_NATIVE", e.what());
  }
  if (!more) {
    engine_->Pause();
    running_ = false;
  }
  return more;
}

std::shared_ptr<std::atomic<bool>> Context::NewJobFlag(Napi::Env env, Napi::Value id) {
  if (!id.IsNumber() && !id.IsUndefined()) ThrowCoded(env, "ERR_INVALID_ARG", "a job id must be a number");
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
      completion->Reject("ERR_DISPOSED", "the context was disposed");
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
  request.prompt = TokensArg(env, info[0]);
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
  request.on_done = [completion](const GenerateResult&) { completion->Reject("ERR_ABORTED", "evaluation aborted"); };
  request.on_error = Rejecter(completion);
  Submit(completion, std::move(request));
  return completion->Promise();
}

void Context::Submit(JsCompletion* completion, SlotRequest request) {
  auto shared = std::make_shared<SlotRequest>(std::move(request));
  PostJob(completion, [this, shared, completion] {
    if (!engine_) {
      completion->Reject("ERR_INVALID_ARG", "the context is not initialised");
      return;
    }
    engine_->Submit(std::move(*shared));
  });
}

Napi::Value Context::Generate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EnsureUsable(env);
  if (info.Length() < 4 || !info[1].IsArray() || !info[2].IsObject() || !info[3].IsFunction()) {
    ThrowCoded(env, "ERR_INVALID_ARG", "generate(prompt, sampler, params, onTokens)");
  }
  Napi::Object params = info[2].As<Napi::Object>();
  SlotRequest request;
  request.prompt = TokensArg(env, info[0]);
  Napi::Value max_value = params.Get("maxTokens");
  if (!max_value.IsNumber()) ThrowCoded(env, "ERR_INVALID_ARG", "maxTokens must be a number");
  const double max_d = max_value.As<Napi::Number>().DoubleValue();
  request.max_tokens = max_d < 0 || max_d > INT32_MAX ? -1 : static_cast<int32_t>(max_d);
  request.reuse_prefix = params.Get("cachePrompt").ToBoolean();
  Napi::Value priority = params.Get("priority");
  if (priority.IsNumber()) request.priority = priority.As<Napi::Number>().Int32Value();
  request.chain.reset(BuildSamplerChain(env, info[1].As<Napi::Array>(), model_->vocab),
                      [](llama_sampler* s) { if (s != nullptr) llama_sampler_free(s); });
  if (!request.chain.get()) request.chain.reset();  // greedy: the engine takes the argmax itself
  request.abort = NewJobFlag(env, params.Get("id"));

  auto* completion = new JsCompletion(env, Value(), info[3].As<Napi::Function>());
  request.on_token = [completion](llama_token t, const char* bytes, size_t n) { completion->PushToken(t, bytes, n); };
  request.on_done = [completion](const GenerateResult& r) {
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
