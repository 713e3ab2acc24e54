#include "sampler_chain.h"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"
#include "grammar.h"

namespace llama_napi {

namespace {

double Field(Napi::Env env, Napi::Object stage, const char* name) {
  Napi::Value v = stage.Get(name);
  if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue())) {
    ThrowCoded(env, kErrInvalidArg, std::string("sampler stage field '") + name + "' must be a finite number");
  }
  return v.As<Napi::Number>().DoubleValue();
}

std::string StringField(Napi::Env env, Napi::Object stage, const char* name) {
  Napi::Value v = stage.Get(name);
  if (!v.IsString()) ThrowCoded(env, kErrInvalidArg, std::string("sampler stage field '") + name + "' must be a string");
  return v.As<Napi::String>().Utf8Value();
}

bool IsTypedArray(Napi::Value v, napi_typedarray_type type) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
}

// { tokens: Int32Array, biases: Float32Array }: ids inside the vocabulary, biases finite or -inf.
llama_sampler* LogitBias(Napi::Env env, Napi::Object s, const llama_vocab* vocab) {
  Napi::Value tokens_value = s.Get("tokens");
  Napi::Value biases_value = s.Get("biases");
  if (!IsTypedArray(tokens_value, napi_int32_array) || !IsTypedArray(biases_value, napi_float32_array)) {
    ThrowCoded(env, kErrInvalidArg, "a logitBias stage needs tokens (Int32Array) and biases (Float32Array)");
  }
  Napi::Int32Array tokens = tokens_value.As<Napi::Int32Array>();
  Napi::Float32Array biases = biases_value.As<Napi::Float32Array>();
  if (tokens.ElementLength() != biases.ElementLength()) ThrowCoded(env, kErrInvalidArg, "logitBias tokens and biases differ in length");
  const int32_t n_vocab = llama_vocab_n_tokens(vocab);
  std::vector<llama_logit_bias> list(tokens.ElementLength());
  for (size_t i = 0; i < list.size(); i++) {
    const llama_token token = tokens[i];
    const float bias = biases[i];
    if (token < 0 || token >= n_vocab) ThrowCoded(env, kErrInvalidArg, "logitBias token id " + std::to_string(token) + " out of range");
    // +inf would turn the softmax into NaN; -inf bans the token.
    if (std::isnan(bias) || bias == INFINITY) ThrowCoded(env, kErrInvalidArg, "a logitBias bias must be finite or -Infinity");
    list[i] = {token, bias};
  }
  return llama_sampler_init_logit_bias(n_vocab, static_cast<int32_t>(list.size()), list.data());
}

// Grammar stages compile on a helper thread; their failures become coded JS errors.
template <typename Compile>
llama_sampler* Constraint(Napi::Env env, Compile&& compile) {
  try {
    return compile();
  } catch (const NativeError& e) {
    ThrowCoded(env, e.code(), e.what());
  } catch (const std::exception& e) {
    ThrowCoded(env, kErrNative, e.what());
  }
}

llama_sampler* MakeStage(Napi::Env env, const std::string& type, Napi::Object s, const llama_vocab* vocab) {
  if (type == "logitBias") return LogitBias(env, s, vocab);
  if (type == "penalties") {
    return llama_sampler_init_penalties(llama_vocab_n_tokens(vocab), static_cast<int32_t>(Field(env, s, "lastN")), static_cast<float>(Field(env, s, "repeat")),
                                        static_cast<float>(Field(env, s, "frequency")), static_cast<float>(Field(env, s, "presence")));
  }
  if (type == "grammar") {
    const std::string text = StringField(env, s, "grammar");
    return Constraint(env, [&] { return CompileGrammar(vocab, text); });
  }
  if (type == "jsonSchema") {
    const std::string schema = StringField(env, s, "schema");
    return Constraint(env, [&] { return CompileJsonSchema(vocab, schema); });
  }
  if (type == "topK") return llama_sampler_init_top_k(static_cast<int32_t>(Field(env, s, "k")));
  if (type == "topP") return llama_sampler_init_top_p(static_cast<float>(Field(env, s, "p")), static_cast<size_t>(Field(env, s, "minKeep")));
  if (type == "minP") return llama_sampler_init_min_p(static_cast<float>(Field(env, s, "p")), static_cast<size_t>(Field(env, s, "minKeep")));
  if (type == "temperature") return llama_sampler_init_temp(static_cast<float>(Field(env, s, "t")));
  if (type == "dist") return llama_sampler_init_dist(static_cast<uint32_t>(Field(env, s, "seed")));
  if (type == "greedy") return llama_sampler_init_greedy();
  ThrowCoded(env, kErrInvalidArg, "unknown sampler stage '" + type + "'");
}

// Whether llama.cpp's backend sampling runs this (already built) stage as the host chain would:
// the stages that implement its backend interface, with values its graph accepts. ggml_top_k
// asserts k <= the row's length; the backend top-p and min-p always keep one candidate and
// ignore min_keep, which is the host's behaviour only for min_keep <= 1.
bool DeviceStage(const std::string& type, Napi::Object s, int32_t n_vocab) {
  if (type == "greedy" || type == "dist" || type == "temperature") return true;
  if (type == "topK") {
    const double k = s.Get("k").As<Napi::Number>().DoubleValue();
    return k > 0 && k <= n_vocab;
  }
  if (type == "topP" || type == "minP") return s.Get("minKeep").As<Napi::Number>().DoubleValue() <= 1;
  return false;  // penalties, logit bias and grammars run on the host
}

}  // namespace

llama_sampler* BuildSamplerChain(Napi::Env env, Napi::Array stages, const llama_vocab* vocab, bool* device_capable) {
  llama_sampler_chain_params params = llama_sampler_chain_default_params();
  params.no_perf = true;
  std::unique_ptr<llama_sampler, decltype(&llama_sampler_free)> chain(llama_sampler_chain_init(params), llama_sampler_free);
  const uint32_t n = stages.Length();
  // llama_sampler_sample() asserts that the chain selected a token: only dist/greedy do.
  const std::string last = n > 0 && stages.Get(n - 1).IsObject()
                               ? stages.Get(n - 1).As<Napi::Object>().Get("type").ToString().Utf8Value()
                               : std::string();
  if (last != "dist" && last != "greedy") ThrowCoded(env, kErrInvalidArg, "a sampler chain must end with 'dist' or 'greedy'");
  if (device_capable != nullptr) *device_capable = true;
  // Only when greedy is the whole chain: a logit bias or a grammar must see the logits.
  if (n == 1 && last == "greedy") return nullptr;
  bool grammar = false;
  bool bias = false;
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value v = stages.Get(i);
    if (!v.IsObject()) ThrowCoded(env, kErrInvalidArg, "sampler stages must be objects");
    Napi::Object stage = v.As<Napi::Object>();
    const std::string type = stage.Get("type").ToString().Utf8Value();
    grammar = grammar || type == "grammar" || type == "jsonSchema";
    bias = bias || type == "logitBias";
    llama_sampler_chain_add(chain.get(), MakeStage(env, type, stage, vocab));  // the chain owns the stage
    if (device_capable != nullptr && !DeviceStage(type, stage, llama_vocab_n_tokens(vocab))) *device_capable = false;
  }
  if (grammar || bias) llama_sampler_chain_add(chain.get(), MakeSelectionGuard(grammar ? kErrGrammar : kErrInvalidArg));
  return chain.release();
}

}  // namespace llama_napi
