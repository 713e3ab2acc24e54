#include "model.h"

#include <string>
#include <vector>

#include "addon_data.h"
#include "chat_template.h"
#include "errors.h"
#include "js_params.h"
#include "log.h"
#include "progress_job.h"
#include "rpc.h"
#include "running_loads.h"
#include "tokenize.h"

namespace llama_napi {

// llama_tokenize counts in int32_t and may return up to one token per byte plus BOS/EOS.
constexpr size_t kMaxTokenizeBytes = static_cast<size_t>(INT32_MAX) / 2;

// One model load. The weights it loads belong to the job until Complete() hands them to the
// Model; a load that ends in an abort, a dispose or environment teardown frees them itself.
class LoadJob : public ProgressJob {
 public:
  LoadJob(Model* owner, std::string path, llama_model_params params, LoadPlacement placement, Napi::Function on_progress,
          std::vector<std::string> rpc_endpoints)
      : ProgressJob(owner->Env(), "llama-napi:load", on_progress),
        rpc_endpoints_(std::move(rpc_endpoints)),
        owner_(owner),
        owner_ref_(Napi::Persistent(owner->Value())),
        path_(std::move(path)),
        params_(params),
        placement_(std::move(placement)),
        abort_(owner->abort_load_) {
    AddonData::Of(owner->Env()).loads.insert(abort_);
  }

  ~LoadJob() override {
    if (model_ != nullptr) llama_model_free(model_);  // never handed over (abort, dispose, teardown)
  }

 private:
  // Worker thread.
  void Execute() override {
    RunningLoad running(abort_);  // process exit stops and waits for this load
    params_.progress_callback = &LoadJob::OnProgress;
    params_.progress_callback_user_data = this;
    placement_.Apply(params_);  // llama.cpp keeps these pointers for the whole load: they point into this job
    LogTakeRecent();
    RpcSnapshot(rpc_endpoints_, rpc_counts_);  // a remote server that fails during the load fails it
    model_ = llama_model_load_from_file(path_.c_str(), params_);
    const std::string rpc_failure = RpcFailureSince(rpc_endpoints_, rpc_counts_);
    if (!rpc_failure.empty()) {
      if (model_ != nullptr) llama_model_free(model_);
      model_ = nullptr;
      return Fail(kErrRpc, rpc_failure);
    }
    if (model_ != nullptr) return;
    if (abort_->load()) {
      Fail(kErrAborted, "model load aborted");
    } else {
      std::string why = LogTakeRecent();
      Fail(OutOfMemoryCode(why, kErrModelLoad), "llama.cpp could not load the file" + (why.empty() ? "" : ": " + why));
    }
  }

  // JS thread.
  void Complete(Napi::Env env) override {
    AddonData::Of(env).loads.erase(abort_);
    owner_->loading_ = false;
    if (model_ == nullptr) return;  // failed on the worker
    if (owner_->disposed_ || abort_->load()) {
      llama_model_free(model_);
      model_ = nullptr;
      if (owner_->disposed_) {
        Fail(kErrDisposed, "the model was disposed while loading");
      } else {
        Fail(kErrAborted, "model load aborted");
      }
      return;
    }
    owner_->handle_ = std::make_shared<ModelHandle>(model_, params_.vocab_only);
    owner_->handle_->rpc_endpoints = std::move(rpc_endpoints_);
    owner_->handle_->rpc_failures_at_load = std::move(rpc_counts_);
    model_ = nullptr;  // owned by the handle now
  }

  // Worker thread; llama.cpp calls this many times per percent.
  static bool OnProgress(float progress, void* user_data) {
    auto* self = static_cast<LoadJob*>(user_data);
    self->ReportProgress(progress);
    return !self->abort_->load();
  }

  std::vector<std::string> rpc_endpoints_;  // rpcServers, and their failure counts at the start
  std::vector<uint64_t> rpc_counts_;
  Model* owner_;
  Napi::ObjectReference owner_ref_;  // pins the Model while its load runs
  std::string path_;
  llama_model_params params_;
  LoadPlacement placement_;
  std::shared_ptr<std::atomic<bool>> abort_;
  llama_model* model_ = nullptr;
};

Napi::Function Model::Define(Napi::Env env) {
  return DefineClass(env, "Model",
                     {
                         InstanceMethod<&Model::Load>("load"),
                         InstanceMethod<&Model::AbortLoad>("abortLoad"),
                         InstanceMethod<&Model::Info>("info"),
                         InstanceMethod<&Model::Tokenize>("tokenize"),
                         InstanceMethod<&Model::TokenizeMany>("tokenizeMany"),
                         InstanceMethod<&Model::Detokenize>("detokenize"),
                         InstanceMethod<&Model::TokenPiece>("tokenPiece"),
                         InstanceMethod<&Model::ApplyChatTemplate>("applyChatTemplate"),
                         InstanceMethod<&Model::ControlTokens>("controlTokens"),
                         InstanceMethod<&Model::Dispose>("dispose"),
                     });
}

Model::Model(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Model>(info) {}

const ModelHandle& Model::Loaded(Napi::Env env) const {
  if (disposed_) ThrowCoded(env, kErrDisposed, "the model has been disposed");
  if (!handle_) ThrowCoded(env, kErrInvalidArg, "the model is not loaded");
  return *handle_;
}

ModelRef Model::Acquire(Napi::Env env) const {
  if (Loaded(env).vocab_only) ThrowCoded(env, kErrInvalidArg, "a model loaded with vocabOnly cannot create contexts");
  const std::string rpc_failure = RpcFailure(*handle_);
  if (!rpc_failure.empty()) ThrowCoded(env, kErrRpc, rpc_failure);
  return handle_;
}

Napi::Value Model::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (disposed_) ThrowCoded(env, kErrDisposed, "the model has been disposed");
  if (loading_ || handle_) ThrowCoded(env, kErrBusy, "load() may be called once per model");
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsObject()) {
    ThrowCoded(env, kErrInvalidArg, "load(path, params, onProgress) expects a string and an object");
  }
  LoadPlacement placement;
  llama_model_params params = ModelParamsFromJs(env, info[1].As<Napi::Object>(), placement);
  Napi::Function on_progress = info.Length() > 2 && info[2].IsFunction() ? info[2].As<Napi::Function>() : Napi::Function();

  loading_ = true;
  abort_load_->store(false);
  return ProgressJob::Start(env, new LoadJob(this, info[0].As<Napi::String>().Utf8Value(), params, std::move(placement), on_progress,
                                             RpcEndpointsFromJs(env, info[1].As<Napi::Object>())));
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
  if (info.Length() < 3 || !info[0].IsString()) ThrowCoded(env, kErrInvalidArg, "tokenize(text, addSpecial, parseSpecial)");
  const std::string text = info[0].As<Napi::String>().Utf8Value();
  if (text.size() > kMaxTokenizeBytes) ThrowCoded(env, kErrInvalidArg, "text too long to tokenize");
  std::vector<llama_token> tokens;
  std::string error;
  if (!TokenizeText(h.vocab, text, info[1].ToBoolean(), info[2].ToBoolean(), tokens, error)) ThrowCoded(env, kErrNative, error);
  Napi::Int32Array out = Napi::Int32Array::New(env, tokens.size());
  std::copy(tokens.begin(), tokens.end(), out.Data());
  return out;
}

Napi::Value Model::TokenizeMany(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Loaded(env);
  if (info.Length() < 3 || !info[0].IsArray()) ThrowCoded(env, kErrInvalidArg, "tokenizeMany(texts, addSpecial, parseSpecial)");
  Napi::Array list = info[0].As<Napi::Array>();
  std::vector<std::string> texts(list.Length());
  for (uint32_t i = 0; i < texts.size(); i++) {
    Napi::Value item = list.Get(i);
    if (!item.IsString()) ThrowCoded(env, kErrInvalidArg, "tokenizeMany: texts must be strings");
    texts[i] = item.As<Napi::String>().Utf8Value();
    if (texts[i].size() > kMaxTokenizeBytes) ThrowCoded(env, kErrInvalidArg, "text too long to tokenize");
  }
  return TokenizeManyOnWorker(env, handle_, std::move(texts), info[1].ToBoolean(), info[2].ToBoolean());
}

Napi::Value Model::Detokenize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ModelHandle& h = Loaded(env);
  if (info.Length() < 3 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    ThrowCoded(env, kErrInvalidArg, "detokenize(Int32Array, removeSpecial, unparseSpecial)");
  }
  Napi::Int32Array tokens = info[0].As<Napi::Int32Array>();
  const int32_t n_vocab = llama_vocab_n_tokens(h.vocab);
  for (size_t i = 0; i < tokens.ElementLength(); i++) {
    if (tokens[i] < 0 || tokens[i] >= n_vocab) ThrowCoded(env, kErrInvalidArg, "token id out of range");
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
  if (n < 0) ThrowCoded(env, kErrNative, "llama_detokenize failed");
  Napi::Uint8Array out = Napi::Uint8Array::New(env, n);
  std::copy(text.begin(), text.begin() + n, out.Data());
  return out;
}

Napi::Value Model::TokenPiece(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ModelHandle& h = Loaded(env);
  if (info.Length() < 2 || !info[0].IsNumber()) ThrowCoded(env, kErrInvalidArg, "tokenPiece(token, special)");
  const int32_t token = info[0].As<Napi::Number>().Int32Value();
  if (token < 0 || token >= llama_vocab_n_tokens(h.vocab)) ThrowCoded(env, kErrInvalidArg, "token id out of range");
  const bool special = info[1].ToBoolean();
  std::vector<char> piece(32);
  int32_t n = llama_token_to_piece(h.vocab, token, piece.data(), static_cast<int32_t>(piece.size()), 0, special);
  if (n < 0) {
    piece.resize(static_cast<size_t>(-n));
    n = llama_token_to_piece(h.vocab, token, piece.data(), static_cast<int32_t>(piece.size()), 0, special);
  }
  if (n < 0) ThrowCoded(env, kErrNative, "llama_token_to_piece failed");
  Napi::Uint8Array out = Napi::Uint8Array::New(env, static_cast<size_t>(n));
  std::copy(piece.begin(), piece.begin() + n, out.Data());
  return out;
}

Napi::Value Model::ApplyChatTemplate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ModelHandle& h = Loaded(env);
  if (info.Length() < 3 || !(info[0].IsString() || info[0].IsNull()) || !info[1].IsArray()) {
    ThrowCoded(env, kErrInvalidArg, "applyChatTemplate(template | null, messages, addAssistant)");
  }
  const std::vector<ChatMessage> messages = ChatMessagesFromJs(env, info[1].As<Napi::Array>());
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
  abort_load_->store(true);  // a load in flight ends and frees its weights (LoadJob::Complete)
  handle_.reset();           // contexts still holding the weights keep them until they go
}

}  // namespace llama_napi
