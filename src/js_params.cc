#include "js_params.h"

#include <algorithm>
#include <cstdint>
#include <regex>

#include "devices.h"
#include "errors.h"
#include "rpc.h"

namespace llama_napi {

namespace {

// Offload placement (validated in TS; checked again here, since a bad value would reach
// llama.cpp off the JS thread). Absent fields keep llama.cpp's defaults.
LoadPlacement ReadPlacement(Napi::Env env, Napi::Object opts, llama_model_params& params) {
  LoadPlacement out;
  Napi::Value main_gpu = opts.Get("mainGpu");
  if (main_gpu.IsNumber()) params.main_gpu = main_gpu.As<Napi::Number>().Int32Value();
  Napi::Value split_mode = opts.Get("splitMode");
  if (split_mode.IsNumber()) {
    const int32_t mode = split_mode.As<Napi::Number>().Int32Value();
    if (mode < LLAMA_SPLIT_MODE_NONE || mode > LLAMA_SPLIT_MODE_ROW) ThrowCoded(env, kErrInvalidArg, "splitMode out of range");
    params.split_mode = static_cast<llama_split_mode>(mode);
  }
  Napi::Value split = opts.Get("tensorSplit");
  if (split.IsArray()) {
    Napi::Array a = split.As<Napi::Array>();
    if (a.Length() > llama_max_devices()) ThrowCoded(env, kErrInvalidArg, "tensorSplit has more entries than llama_max_devices()");
    if (a.Length() > 0) {
      out.tensor_split.assign(llama_max_devices(), 0.0f);  // llama.cpp reads llama_max_devices() floats
      for (uint32_t i = 0; i < a.Length(); i++) out.tensor_split[i] = a.Get(i).ToNumber().FloatValue();
    }
  }
  out.devices = RpcModelDevices(env, opts);
  Napi::Value overrides = opts.Get("tensorOverrides");
  if (overrides.IsArray()) {
    Napi::Array a = overrides.As<Napi::Array>();
    if (a.Length() >= llama_max_tensor_buft_overrides()) ThrowCoded(env, kErrInvalidArg, "too many tensor overrides");
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value entry = a.Get(i);
      if (!entry.IsObject()) ThrowCoded(env, kErrInvalidArg, "a tensor override must be { pattern, device }");
      Napi::Object o = entry.As<Napi::Object>();
      const std::string pattern = o.Get("pattern").ToString().Utf8Value();
      const std::string device = o.Get("device").ToString().Utf8Value();
      // llama.cpp compiles each pattern with std::regex while loading: compile it here first,
      // so a pattern std::regex rejects is an argument error, never an exception in the loader.
      try {
        std::regex compiled(pattern);
      } catch (const std::regex_error& e) {
        ThrowCoded(env, kErrInvalidArg, "invalid tensor override pattern \"" + pattern + "\": " + e.what());
      }
      ggml_backend_buffer_type_t buft = BufferTypeForDevice(device);
      if (buft == nullptr) ThrowCoded(env, kErrInvalidArg, "unknown device \"" + device + "\" in a tensor override");
      out.patterns.push_back(pattern);
      out.bufts.push_back(buft);
    }
  }
  return out;
}

uint32_t UintField(Napi::Env env, Napi::Object o, const char* name, uint32_t min) {
  Napi::Value v = o.Get(name);
  if (!v.IsNumber()) ThrowCoded(env, kErrInvalidArg, std::string(name) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= 1e9)) ThrowCoded(env, kErrInvalidArg, std::string(name) + " out of range");
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
  ThrowCoded(env, kErrInvalidArg, std::string(name) + " must be f16, q8_0 or q4_0");
}

llama_flash_attn_type FlashAttnField(Napi::Env env, Napi::Object o) {
  Napi::Value v = o.Get("flashAttention");
  if (v.IsUndefined()) return LLAMA_FLASH_ATTN_TYPE_AUTO;
  const std::string mode = v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
  if (mode == "auto") return LLAMA_FLASH_ATTN_TYPE_AUTO;
  if (mode == "on") return LLAMA_FLASH_ATTN_TYPE_ENABLED;
  if (mode == "off") return LLAMA_FLASH_ATTN_TYPE_DISABLED;
  ThrowCoded(env, kErrInvalidArg, "flashAttention must be auto, on or off");
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
  ThrowCoded(env, kErrInvalidArg, "pooling must be mean, cls, last or rank");
}

}  // namespace

void LoadPlacement::Apply(llama_model_params& params) {
  if (!tensor_split.empty()) params.tensor_split = tensor_split.data();
  if (!devices.empty()) params.devices = devices.data();
  overrides.clear();
  if (patterns.empty()) return;
  for (size_t i = 0; i < patterns.size(); i++) overrides.push_back({patterns[i].c_str(), bufts[i]});
  overrides.push_back({nullptr, nullptr});  // NULL-terminated
  params.tensor_buft_overrides = overrides.data();
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

EngineParams EngineParamsFromJs(Napi::Env env, Napi::Object o) {
  EngineParams p{};
  p.context_size = UintField(env, o, "contextSize", 1);
  p.batch_size = UintField(env, o, "batchSize", 1);
  p.ubatch_size = UintField(env, o, "ubatchSize", 1);
  p.threads = static_cast<int32_t>(UintField(env, o, "threads", 1));
  p.threads_batch = static_cast<int32_t>(UintField(env, o, "threadsBatch", 1));
  p.poll = UintField(env, o, "poll", 0);
  p.sequences = UintField(env, o, "sequences", 1);
  p.burst_window_us = !o.Get("burstWindowMicros").IsUndefined() ? UintField(env, o, "burstWindowMicros", 0) : 0;
  if (p.burst_window_us > 1'000'000) ThrowCoded(env, kErrInvalidArg, "burstWindowMicros out of range");
  if (p.poll > 100) ThrowCoded(env, kErrInvalidArg, "poll out of range");
  p.flash_attn = FlashAttnField(env, o);
  p.embeddings = o.Get("embeddings").ToBoolean();
  p.pooling = PoolingField(env, o);
  p.type_k = CacheTypeField(env, o, "kvCacheTypeK");
  p.type_v = CacheTypeField(env, o, "kvCacheTypeV");
  // llama.cpp reserves the pooling graph with n_ubatch / n_seq_max tokens per sequence and
  // asserts (aborting the process) when that does not divide evenly.
  if (p.embeddings && p.ubatch_size % p.sequences != 0) {
    ThrowCoded(env, kErrInvalidArg, "an embedding context needs ubatchSize divisible by sequences");
  }
  if (ggml_is_quantized(p.type_v) && p.flash_attn == LLAMA_FLASH_ATTN_TYPE_DISABLED) {
    ThrowCoded(env, kErrInvalidArg, "a quantized V cache needs flash attention");
  }
  return p;
}

void GenerateParamsFromJs(Napi::Env env, Napi::Object params, SlotRequest& request) {
  Napi::Value max_value = params.Get("maxTokens");
  if (!max_value.IsNumber()) ThrowCoded(env, kErrInvalidArg, "maxTokens must be a number");
  const double max_d = max_value.As<Napi::Number>().DoubleValue();
  request.max_tokens = max_d < 0 || max_d > INT32_MAX ? -1 : static_cast<int32_t>(max_d);
  request.reuse_prefix = params.Get("cachePrompt").ToBoolean();
  Napi::Value priority = params.Get("priority");
  if (priority.IsNumber()) request.priority = priority.As<Napi::Number>().Int32Value();
  Napi::Value top_logprobs = params.Get("topLogprobs");
  if (top_logprobs.IsNumber()) request.top_logprobs = std::max(-1, top_logprobs.As<Napi::Number>().Int32Value());
  request.device_sampling = params.Get("deviceSampling").ToBoolean();
}

std::vector<llama_token> TokensFromJs(Napi::Env env, Napi::Value value) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    ThrowCoded(env, kErrInvalidArg, "tokens must be an Int32Array");
  }
  Napi::Int32Array a = value.As<Napi::Int32Array>();
  return std::vector<llama_token>(a.Data(), a.Data() + a.ElementLength());
}

std::vector<ChatMessage> ChatMessagesFromJs(Napi::Env env, Napi::Array list) {
  std::vector<ChatMessage> messages;
  messages.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    if (!v.IsObject()) ThrowCoded(env, kErrInvalidArg, "chat messages must be objects");
    Napi::Object m = v.As<Napi::Object>();
    if (!m.Get("role").IsString() || !m.Get("content").IsString()) {
      ThrowCoded(env, kErrInvalidArg, "chat messages need string role and content");
    }
    messages.push_back({m.Get("role").As<Napi::String>().Utf8Value(), m.Get("content").As<Napi::String>().Utf8Value()});
  }
  return messages;
}

llama_model_quantize_params QuantizeParamsFromJs(Napi::Env env, Napi::Object opts) {
  Napi::Value ftype = opts.Get("ftype");
  Napi::Value threads = opts.Get("threads");
  if (!ftype.IsNumber() || !threads.IsNumber()) ThrowCoded(env, kErrInvalidArg, "quantize params need numeric ftype and threads");
  // llama.cpp's defaults (no requantizing, output.weight quantized, no imatrix); the TS layer
  // has already checked that ftype is one llama.cpp can produce without an importance matrix.
  llama_model_quantize_params params = llama_model_quantize_default_params();
  params.ftype = static_cast<llama_ftype>(ftype.As<Napi::Number>().Int32Value());
  params.nthread = threads.As<Napi::Number>().Int32Value();
  return params;
}

}  // namespace llama_napi
