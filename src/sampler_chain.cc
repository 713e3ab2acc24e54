#include "sampler_chain.h"

#include <cmath>
#include <memory>
#include <string>

#include "errors.h"

namespace llama_napi {

namespace {

double Field(Napi::Env env, Napi::Object stage, const char* name) {
  Napi::Value v = stage.Get(name);
  if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue())) {
    ThrowCoded(env, "ERR_INVALID_ARG", std::string("sampler stage field '") + name + "' must be a finite number");
  }
  return v.As<Napi::Number>().DoubleValue();
}

llama_sampler* MakeStage(Napi::Env env, Napi::Object s, const llama_vocab* vocab) {
  const std::string type = s.Get("type").ToString().Utf8Value();
  if (type == "penalties") {
    return llama_sampler_init_penalties(llama_vocab_n_tokens(vocab), static_cast<int32_t>(Field(env, s, "lastN")), static_cast<float>(Field(env, s, "repeat")),
                                        static_cast<float>(Field(env, s, "frequency")), static_cast<float>(Field(env, s, "presence")));
  }
  if (type == "topK") return llama_sampler_init_top_k(static_cast<int32_t>(Field(env, s, "k")));
  if (type == "topP") return llama_sampler_init_top_p(static_cast<float>(Field(env, s, "p")), static_cast<size_t>(Field(env, s, "minKeep")));
  if (type == "minP") return llama_sampler_init_min_p(static_cast<float>(Field(env, s, "p")), static_cast<size_t>(Field(env, s, "minKeep")));
  if (type == "temperature") return llama_sampler_init_temp(static_cast<float>(Field(env, s, "t")));
  if (type == "dist") return llama_sampler_init_dist(static_cast<uint32_t>(Field(env, s, "seed")));
  if (type == "greedy") return llama_sampler_init_greedy();
  ThrowCoded(env, "ERR_INVALID_ARG", "unknown sampler stage '" + type + "'");
}

}  // namespace

llama_sampler* BuildSamplerChain(Napi::Env env, Napi::Array stages, const llama_vocab* vocab) {
  llama_sampler_chain_params params = llama_sampler_chain_default_params();
  params.no_perf = true;
  std::unique_ptr<llama_sampler, decltype(&llama_sampler_free)> chain(llama_sampler_chain_init(params), llama_sampler_free);
  const uint32_t n = stages.Length();
  // llama_sampler_sample() asserts that the chain selected a token: only dist/greedy do.
  const std::string last = n > 0 && stages.Get(n - 1).IsObject()
                               ? stages.Get(n - 1).As<Napi::Object>().Get("type").ToString().Utf8Value()
                               : std::string();
  if (last != "dist" && last != "greedy") ThrowCoded(env, "ERR_INVALID_ARG", "a sampler chain must end with 'dist' or 'greedy'");
  if (n == 1 && last == "greedy") return nullptr;
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value v = stages.Get(i);
    if (!v.IsObject()) ThrowCoded(env, "ERR_INVALID_ARG", "sampler stages must be objects");
    llama_sampler_chain_add(chain.get(), MakeStage(env, v.As<Napi::Object>(), vocab));  // the chain owns the stage
  }
  return chain.release();
}

}  // namespace llama_napi
