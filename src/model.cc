#include "model.h"

#include <regex>
#include <vector>

#include "addon_data.h"
#include "chat_template.h"
#include "devices.h"
#include "errors.h"
#include "log.h"
#include "threadpool_job.h"

namespace llama_napi {

// One model load. Runs on a libuv worker; progress reports and the final settle travel
// through the same thread-safe function, so every progress call reaches JS before the
// promise settles. Deletes itself on the JS thread once settled.
class LoadJob {
 public:
  LoadJob(Model* owner, std::string path, llama_model_params params, LoadPlacement placement, Napi::Function on_progress)
      : owner_(owner),
        owner_ref_(Napi::Persistent(owner->Value())),
        deferred_(Napi::Promise::Deferred::New(owner->Env())),
        tsfn_(Napi::ThreadSafeFunction::New(owner->Env(), on_progress, "llama-napi:load", 0, 1)),
        has_progress_(!on_progress.IsEmpty()),
        path_(std::move(path)),
        params_(params),
        placement_(std::move(placement)),
        abort_(owner->abort_load_) {
    AddonData::Of(owner->Env()).loads.insert(abort_);
  }

  ~LoadJob() {
    if (model_ != nullptr) llama_model_free(model_);  // only when settling failed (teardown)
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

  // Worker thread.
  void Run() {
    params_.progress_callback = &LoadJob::OnProgress;
    params_.progress_callback_user_data = this;
    placement_.Apply(params_);  // llama.cpp keeps these pointers for the whole load: they point into this job
    LogTakeRecent();
    model_ = llama_model_load_from_file(path_.c_str(), params_);
    if (model_ == nullptr) {
      if (abort_->load()) {
        code_ = "ERR_ABORTED";
        message_ = "model load aborted";
      } else {
        code_ = "ERR_MODEL_LOAD";
        std::string why = LogTakeRecent();
        message_ = "llama.cpp could not load the file" + (why.empty() ? "" : ": " + why);
      }
    }
    Napi::ThreadSafeFunction tsfn = tsfn_;  // `this` is gone once the settle ran
    tsfn.BlockingCall([this](Napi::Env env, Napi::Function) { Settle(env); });  // Settle guards itself
    tsfn.Release();
  }

 private:
  // JS thread.
  void Settle(Napi::Env env) {
    GuardJsCallback([&] { SettleUnguarded(env); });
    delete this;
  }

  void SettleUnguarded(Napi::Env env) {
    AddonData::Of(env).loads.erase(abort_);
    owner_->loading_ = false;
    if (model_ != nullptr && (owner_->disposed_ || abort_->load())) {
      llama_model_free(model_);
      model_ = nullptr;
      code_ = owner_->disposed_ ? "ERR_DISPOSED" : "ERR_ABORTED";
      message_ = owner_->disposed_ ? "the model was disposed while loading" : "model load aborted";
    }
    if (model_ == nullptr) {
      deferred_.Reject(CodedError(env, code_, message_).Value());
    } else {
      owner_->handle_ = std::make_shared<ModelHandle>(model_, params_.vocab_only);
      model_ = nullptr;  // owned by the handle now
      deferred_.Resolve(env.Undefined());
    }
  }

  // Worker thread; llama.cpp calls this many times per percent: JS hears every 1%.
  static bool OnProgress(float progress, void* user_data) {
    auto* self = static_cast<LoadJob*>(user_data);
    if (self->has_progress_ && (progress >= 1.0f || progress - self->last_sent_ >= 0.01f)) {
      self->last_sent_ = progress;
      self->tsfn_.NonBlockingCall([progress](Napi::Env env, Napi::Function fn) {
        GuardJsCallback([&] { fn.Call({Napi::Number::New(env, progress)}); });
      });
    }
    return !self->abort_->load();
  }

  Model* owner_;
  Napi::ObjectReference owner_ref_;  // pins the Model while its load runs
  Napi::Promise::Deferred deferred_;
  Napi::ThreadSafeFunction tsfn_;
  const bool has_progress_;
  float last_sent_ = -1.0f;
  std::string path_;
  llama_model_params params_;
  LoadPlacement placement_;
  std::shared_ptr<std::atomic<bool>> abort_;
  llama_model* model_ = nullptr;
  std::string code_;
  std::string message_;
};

void LoadPlacement::Apply(llama_model_params& params) {
  if (!tensor_split.empty()) params.tensor_split = tensor_split.data();
  overrides.clear();
  if (patterns.empty()) return;
  for (size_t i = 0; i < patterns.size(); i++) overrides.push_back({patterns[i].c_str(), bufts[i]});
  overrides.push_back({nullptr, nullptr});  // NULL-terminated
  params.tensor_buft_overrides = overrides.data();
}

// Offload placement (validated in TS; checked again here, since a bad value would reach
// llama.cpp off the JS thread). Absent fields keep llama.cpp's defaults.
static LoadPlacement ReadPlacement(Napi::Env env, Napi::Object opts, llama_model_params& params) {
  LoadPlacement out;
  Napi::Value main_gpu = opts.Get("mainGpu");
  if (main_gpu.IsNumber()) params.main_gpu = main_gpu.As<Napi::Number>().Int32Value();
  Napi::Value split_mode = opts.Get("splitMode");
  if (split_mode.IsNumber()) {
    const int32_t mode = split_mode.As<Napi::Number>().Int32Value();
    if (mode < LLAMA_SPLIT_MODE_NONE || mode > LLAMA_SPLIT_MODE_ROW) ThrowCoded(env, "ERR_INVALID_ARG", "splitMode out of range");
    params.split_mode = static_cast<llama_split_mode>(mode);
  }
  Napi::Value split = opts.Get("tensorSplit");
  if (split.IsArray()) {
    Napi::Array a = split.As<Napi::Array>();
    if (a.Length() > llama_max_devices()) ThrowCoded(env, "ERR_INVALID_ARG", "tensorSplit has more entries than llama_max_devices()");
    if (a.Length() > 0) {
      out.tensor_split.assign(llama_max_devices(), 0.0f);  // llama.cpp reads llama_max_devices() floats
      for (uint32_t i = 0; i < a.Length(); i++) out.tensor_split[i] = a.Get(i).ToNumber().FloatValue();
    }
  }
  Napi::Value overrides = opts.Get("tensorOverrides");
  if (overrides.IsArray()) {
    Napi::Array a = overrides.As<Napi::Array>();
    if (a.Length() >= llama_max_tensor_buft_overrides()) ThrowCoded(env, "ERR_INVALID_ARG", "too many tensor overrides");
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value entry = a.Get(i);
      if (!entry.IsObject()) ThrowCoded(env, "ERR_INVALID_ARG", "a tensor override must be { pattern, device }");
      Napi::Object o = entry.As<Napi::Object>();
      const std::string pattern = o.Get("pattern").ToString().Utf8Value();
      const std::string device = o.Get("device").ToString().Utf8Value();
      // llama.cpp compiles each pattern with std::regex while loading: compile it here first,
      // so a pattern std::regex rejects is an argument error, never an exception in the loader.
      try {
        std::regex compiled(pattern);
      } catch (const std::regex_error& e) {
        ThrowCoded(env, "ERR_INVALID_ARG", "invalid tensor override pattern \"" + pattern + "\": " + e.what());
      }
      ggml_backend_buffer_type_t buft = BufferTypeForDevice(device);
      if (buft == nullptr) ThrowCoded(env, "ERR_INVALID_ARG", "unknown device \"" + device + "\" in a tensor override");
      out.patterns.push_back(pattern);
      out.bufts.push_back(buft);
    }
  }
  return out;
}

llama_model_params ModelParamsFromJs(Napi::Env env, Napi::Object opts, LoadPlacement& placement) {
  llama_model_params params = llama_model_default_params();
  params.n_gpu_layers = opts.Get("gpuLayers").As<Napi::Number>().Int32Value();
  Napi::Value mmap_value = opts.Get("useMmap");
  const bool mlock = opts.Get("useMlock").ToBoolean();
  if (mmap_value.IsBoolean()) {
    const bool mmap = mmap_value.As<Napi::Boolean>().Value();
    params.load_mode = mmap ? (mlock ? LLAMA_LOAD_MODE_MMAP_MLOCK : LLAMA_LOAD_MODE_MMAP)
                            : (mlock ? LLAMA_LOAD_MODE_MLOCK : LLAMA_LOAD_MODE_NONE);
  } else {
    // llama.cpp's own choice: mmap unless a device in use cannot work from mapped memory.
    params.load_mode = mlock ? LLAMA_LOAD_MODE_MMAP_MLOCK : LLAMA_LOAD_MODE_AUTO;
  }
  params.vocab_only = opts.Get("vocabOnly").ToBoolean();
  placement = ReadPlacement(env, opts, params);
  return params;
}

Napi::Function Model::Define(Napi::Env env) {
  return DefineClass(env, "Model",
                     {
                         InstanceMethod<&Model::Load>("load"),
                         InstanceMethod<&Model::AbortLoad>("abortLoad"),
                         InstanceMethod<&Model::Info>("info"),
                         InstanceMethod<&Model::Tokenize>("tokenize"),
                         InstanceMethod<&Model::Detokenize>("detokenize"),
                         InstanceMethod<&Model::ApplyChatTemplate>("applyChatTemplate"),
                         InstanceMethod<&Model::ControlTokens>("controlTokens"),
                         InstanceMethod<&Model::Dispose>("dispose"),
                     });
}

Model::Model(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Model>(info) {}

const ModelHandle& Model::Loaded(Napi::Env env) const {
  if (disposed_) ThrowCoded(env, "ERR_DISPOSED", "the model has been disposed");
  if (!handle_) ThrowCoded(env, "ERR_INVALID_ARG", "the model is not loaded");
  return *handle_;
}

ModelRef Model::Acquire(Napi::Env env) const {
  if (Loaded(env).vocab_only) ThrowCoded(env, "ERR_INVALID_ARG", "a model loaded with vocabOnly cannot create contexts");
  return handle_;
}

Napi::Value Model::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) ThrowCoded(env, "ERR_DISPOSED", "the model has been disposed");
  if (loading_ || handle_) ThrowCoded(env, "ERR_BUSY", "load() may be called once per model");
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject()) {
    ThrowCoded(env, "ERR_INVALID_ARG", "load(path, params, onProgress) expects a string and an object");
  }
  LoadPlacement placement;
  llama_model_params params = ModelParamsFromJs(env, info[1].As<Napi::Object>(), placement);
  Napi::Function on_progress = info.Length() > 2 && info[2].IsFunction() ? info[2].As<Napi::Function>() : Napi::Function();

  loading_ = true;
  abort_load_->store(false);
  auto* job = new LoadJob(this, info[0].As<Napi::String>().Utf8Value(), params, std::move(placement), on_progress);
  Napi::Promise promise = job->Promise();
  ThreadpoolJob<LoadJob>::Queue(env, "llama-napi:load", job);
  return promise;
}

void Model::AbortLoad(const Napi::CallbackInfo&) { abort_load_->store(true); }

Napi::Value Model::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ModelHandle& h = Loaded(env);
  const llama_model* m = h.model;
  Napi::Object out = Napi::Object::New(env);

  std::vector<char> buf(256);
  auto meta = [&](const char* key) -> std::string {
    int32_t n = llama_model_meta_val_str(m, key, buf.data(), buf.size());
    if (n < 0) return {};
    if (static_cast<size_t>(n) >= buf.size()) {
      buf.resize(n + 1);
      llama_model_meta_val_str(m, key, buf.data(), buf.size());
    }
    return std::string(buf.data(), n);
  };
  auto meta_int = [&](const std::string& key) -> double {
    std::string v = meta(key.c_str());
    return v.empty() ? 0 : std::strtod(v.c_str(), nullptr);
  };
  const std::string arch = meta("general.architecture");
  char desc[256];
  llama_model_desc(m, desc, sizeof desc);

  out.Set("architecture", arch);
  out.Set("description", std::string(desc));
  out.Set("parameterCount", static_cast<double>(llama_model_n_params(m)));
  out.Set("sizeBytes", static_cast<double>(llama_model_size(m)));
  out.Set("fileType", static_cast<double>(llama_model_ftype(m)));
  out.Set("fileTypeName", std::string(llama_ftype_name(llama_model_ftype(m))));
  out.Set("trainedContextLength", llama_model_n_ctx_train(m));
  out.Set("embeddingLength", llama_model_n_embd(m));
  // A vocab-only model has no layers: llama.cpp aborts on per-layer queries, so its
  // shape comes from the metadata instead.
  out.Set("layerCount", h.vocab_only ? meta_int(arch + ".block_count") : llama_model_n_layer(m));
  out.Set("headCount", h.vocab_only ? meta_int(arch + ".attention.head_count") : llama_model_n_head(m));
  out.Set("headCountKv", h.vocab_only ? meta_int(arch + ".attention.head_count_kv") : llama_model_n_head_kv(m));
  out.Set("expertCount", meta_int(arch + ".expert_count"));
  out.Set("expertUsedCount", meta_int(arch + ".expert_used_count"));
  out.Set("vocabularySize", llama_vocab_n_tokens(h.vocab));
  out.Set("vocabularyType", static_cast<double>(llama_vocab_type(h.vocab)));
  const char* tmpl = llama_model_chat_template(m, nullptr);
  out.Set("chatTemplate", tmpl ? Napi::Value(Napi::String::New(env, tmpl)) : env.Null());
  out.Set("bosToken", llama_vocab_bos(h.vocab));
  out.Set("eosToken", llama_vocab_eos(h.vocab));
  out.Set("addBos", llama_vocab_get_add_bos(h.vocab));
  out.Set("addEos", llama_vocab_get_add_eos(h.vocab));

  Napi::Object metadata = Napi::Object::New(env);
  const int32_t count = llama_model_meta_count(m);
  std::vector<char> key(256);
  for (int32_t i = 0; i < count; i++) {
    if (llama_model_meta_key_by_index(m, i, key.data(), key.size()) < 0) continue;
    int32_t n = llama_model_meta_val_str_by_index(m, i, buf.data(), buf.size());
    if (n < 0) continue;
    if (static_cast<size_t>(n) >= buf.size()) {
      buf.resize(n + 1);
      llama_model_meta_val_str_by_index(m, i, buf.data(), buf.size());
    }
    metadata.Set(key.data(), std::string(buf.data(), n));
  }
  out.Set("metadata", metadata);
  return out;
}

Napi::Value Model::Tokenize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ModelHandle& h = Loaded(env);
  if (info.Length() < 3 || !info[0].IsString()) ThrowCoded(env, "ERR_INVALID_ARG", "tokenize(text, addSpecial, parseSpecial)");
  const std::string text = info[0].As<Napi::String>().Utf8Value();
  if (text.size() > static_cast<size_t>(INT32_MAX) / 2) ThrowCoded(env, "ERR_INVALID_ARG", "text too long to tokenize");
  const bool add_special = info[1].ToBoolean();
  const bool parse_special = info[2].ToBoolean();
  // Two calls: the first (into a guess) tells the exact count when the guess is short.
  std::vector<llama_token> tokens(text.size() + 2);
  int32_t n = llama_tokenize(h.vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                             static_cast<int32_t>(tokens.size()), add_special, parse_special);
  if (n < 0) {
    tokens.resize(-n);
    n = llama_tokenize(h.vocab, text.data(), static_cast<int32_t>(text.size()), tokens.data(),
                       static_cast<int32_t>(tokens.size()), add_special, parse_special);
  }
  if (n < 0) ThrowCoded(env, "ERR_NATIVE", "llama_tokenize failed");
  Napi::Int32Array out = Napi::Int32Array::New(env, n);
  std::copy(tokens.begin(), tokens.begin() + n, out.Data());
  return out;
}

Napi::Value Model::Detokenize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ModelHandle& h = Loaded(env);
  if (info.Length() < 3 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    ThrowCoded(env, "ERR_INVALID_ARG", "detokenize(Int32Array, removeSpecial, unparseSpecial)");
  }
  Napi::Int32Array tokens = info[0].As<Napi::Int32Array>();
  const int32_t n_vocab = llama_vocab_n_tokens(h.vocab);
  for (size_t i = 0; i < tokens.ElementLength(); i++) {
    if (tokens[i] < 0 || tokens[i] >= n_vocab) ThrowCoded(env, "ERR_INVALID_ARG", "token id out of range");
  }
  const bool remove_special = info[1].ToBoolean();
  const bool unparse_special = info[2].ToBoolean();
  std::vector<char> text(tokens.ElementLength() * 8 + 16);
  auto run = [&] {
    return llama_detokenize(h.vocab, tokens.Data(), static_cast<int32_t>(tokens.ElementLength()), text.data(),
                            static_cast<int32_t>(text.size()), remove_special, unparse_special);
  };
  int32_t n = run();
  if (n < 0) {
    text.resize(-n);
    n = run();
  }
  if (n < 0) ThrowCoded(env, "ERR_NATIVE", "llama_detokenize failed");
  Napi::Uint8Array out = Napi::Uint8Array::New(env, n);
  std::copy(text.begin(), text.begin() + n, out.Data());
  return out;
}

Napi::Value Model::ApplyChatTemplate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ModelHandle& h = Loaded(env);
  if (info.Length() < 3 || !(info[0].IsString() || info[0].IsNull()) || !info[1].IsArray()) {
    ThrowCoded(env, "ERR_INVALID_ARG", "applyChatTemplate(template | null, messages, addAssistant)");
  }
  Napi::Array list = info[1].As<Napi::Array>();
  std::vector<ChatMessage> messages;
  messages.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    if (!v.IsObject()) ThrowCoded(env, "ERR_INVALID_ARG", "chat messages must be objects");
    Napi::Object m = v.As<Napi::Object>();
    if (!m.Get("role").IsString() || !m.Get("content").IsString()) {
      ThrowCoded(env, "ERR_INVALID_ARG", "chat messages need string role and content");
    }
    messages.push_back({m.Get("role").As<Napi::String>().Utf8Value(), m.Get("content").As<Napi::String>().Utf8Value()});
  }
  const std::string tmpl = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : std::string();
  try {
    return Napi::String::New(env, llama_napi::ApplyChatTemplate(h.model, info[0].IsString() ? &tmpl : nullptr, messages,
                                                                info[2].ToBoolean()));
  } catch (const NativeError& e) {
    ThrowCoded(env, e.code(), e.what());
  }
}

Napi::Value Model::ControlTokens(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ModelHandle& h = Loaded(env);
  const auto tokens = llama_napi::ControlTokens(h.vocab);
  Napi::Array out = Napi::Array::New(env, tokens.size());
  for (uint32_t i = 0; i < tokens.size(); i++) {
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, tokens[i].first);
    pair.Set(1u, tokens[i].second);
    out.Set(i, pair);
  }
  return out;
}

void Model::Dispose(const Napi::CallbackInfo&) {
  if (disposed_) return;
  disposed_ = true;
  abort_load_->store(true);  // a load in flight ends and frees itself (LoadWorker::OnOK)
  handle_.reset();           // contexts still holding the weights keep them until they go
}

}  // namespace llama_napi
