// The ggml backend device registry as JS sees it: listDevices(), and the lookup that turns a
// tensor-override target ("cpu" or a device name) into a buffer type.
#pragma once
#include <napi.h>

#include <string>

#include "ggml-backend.h"

namespace llama_napi {

// listDevices(): [{ name, description, type, backend, memoryFree, memoryTotal }].
Napi::Value ListDevices(const Napi::CallbackInfo& info);

// "cpu" (any case) → the CPU buffer type, so llama.cpp still considers its repacked CPU
// variants; another name → that device's default buffer type; unknown → nullptr.
ggml_backend_buffer_type_t BufferTypeForDevice(const std::string& name);

}  // namespace llama_napi
