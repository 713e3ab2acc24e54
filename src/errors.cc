#include "errors.h"

#include <array>
#include <string_view>

namespace llama_napi {

const char* OutOfMemoryCode(const std::string& what, const char* code) {
  // Texts of the pinned llama.cpp / ggml (grep them there when upgrading):
  static constexpr std::array<std::string_view, 8> kTexts = {
      "failed to allocate",      // ggml-backend/ggml-alloc "failed to allocate buffer of size …", llama.cpp
                                 // "failed to allocate buffer for kv cache", "… compute pp buffers", Metal
      "unable to allocate",      // llama-model.cpp "unable to allocate CPU buffer" (weights; CUDA0 etc. on a GPU)
      "insufficient memory",     // ggml_aligned_malloc: posix_memalign returned ENOMEM
      "bad_alloc",               // std::bad_alloc from operator new, as what() or in "failed to initialize the context: …"
      "Cannot allocate memory",  // strerror(ENOMEM), e.g. "mmap failed: Cannot allocate memory"
      "out of memory",           // cudaMalloc's "out of memory", Metal "(out of memory)"
      "ErrorOutOfDeviceMemory",  // Vulkan (vk::OutOfDeviceMemoryError)
      "ErrorOutOfHostMemory",    // Vulkan
  };
  for (std::string_view text : kTexts) {
    if (what.find(text) != std::string::npos) return kErrOutOfMemory;
  }
  return code;
}

Napi::Error CodedError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error;
}

void ThrowCoded(Napi::Env env, const std::string& code, const std::string& message) {
  throw CodedError(env, code, message);
}

}  // namespace llama_napi
