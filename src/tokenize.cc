#include "tokenize.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "errors.h"

namespace llama_napi {

bool TokenizeText(const llama_vocab* vocab, const std::string& text, bool add_special, bool parse_special,
                  std::vector<llama_token>& out, std::string& error) {
  // Two calls: the first (into a guess) tells the exact count when the guess is short.
  out.resize(text.size() + 2);
  int32_t n = 0;
  // llama_tokenize lets std::out_of_range through when a SentencePiece vocabulary lacks the
  // byte token (<0xXX>) that a character falls back to; uncaught, it would end the process.
  try {
    n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), out.data(),
                       static_cast<int32_t>(out.size()), add_special, parse_special);
    if (n < 0) {
      out.resize(-n);
      n = llama_tokenize(vocab, text.data(), static_cast<int32_t>(text.size()), out.data(),
                         static_cast<int32_t>(out.size()), add_special, parse_special);
    }
  } catch (const std::exception& e) {
    error = std::string("llama_tokenize failed (the vocabulary cannot encode this text): ") + e.what();
    return false;
  }
  if (n < 0) {
    error = "llama_tokenize failed";
    return false;
  }
  out.resize(n);
  return true;
}

namespace {

class TokenizeWorker : public Napi::AsyncWorker {
 public:
  TokenizeWorker(Napi::Env env, ModelRef model, std::vector<std::string> texts, bool add_special, bool parse_special)
      : Napi::AsyncWorker(env, "llama-napi:tokenize"),
        deferred_(Napi::Promise::Deferred::New(env)),
        model_(std::move(model)),
        texts_(std::move(texts)),
        add_special_(add_special),
        parse_special_(parse_special) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    tokens_.resize(texts_.size());
    std::string error;
    for (size_t i = 0; i < texts_.size(); i++) {
      if (!TokenizeText(model_->vocab, texts_[i], add_special_, parse_special_, tokens_[i], error)) return SetError(error);
      std::string().swap(texts_[i]);  // a long text's bytes are not needed twice
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Array out = Napi::Array::New(env, tokens_.size());
    for (size_t i = 0; i < tokens_.size(); i++) {
      Napi::Int32Array ids = Napi::Int32Array::New(env, tokens_[i].size());
      std::copy(tokens_[i].begin(), tokens_[i].end(), ids.Data());
      out.Set(static_cast<uint32_t>(i), ids);
    }
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(CodedError(Env(), kErrNative, e.Message()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  ModelRef model_;
  std::vector<std::string> texts_;
  const bool add_special_;
  const bool parse_special_;
  std::vector<std::vector<llama_token>> tokens_;
};

}  // namespace

Napi::Promise TokenizeManyOnWorker(Napi::Env env, ModelRef model, std::vector<std::string> texts, bool add_special,
                                   bool parse_special) {
  auto* worker = new TokenizeWorker(env, std::move(model), std::move(texts), add_special, parse_special);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace llama_napi
