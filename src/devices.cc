#include "devices.h"

#include <algorithm>
#include <cctype>

#include "rpc.h"

namespace llama_napi {

namespace {

const char* DeviceTypeName(enum ggml_backend_dev_type type) {
  switch (type) {
    case GGML_BACKEND_DEVICE_TYPE_CPU: return "cpu";
    case GGML_BACKEND_DEVICE_TYPE_GPU: return "gpu";
    case GGML_BACKEND_DEVICE_TYPE_IGPU: return "igpu";
    case GGML_BACKEND_DEVICE_TYPE_ACCEL: return "accel";
    default: return "other";
  }
}

}  // namespace

Napi::Value ListDevices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto registry = RpcRegistryLock();
  const size_t count = ggml_backend_dev_count();
  Napi::Array out = Napi::Array::New(env, count);
  for (size_t i = 0; i < count; i++) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    size_t free = 0, total = 0;
    if (!RpcDeviceMemory(dev, &free, &total)) ggml_backend_dev_memory(dev, &free, &total);
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", ggml_backend_dev_name(dev));
    d.Set("description", ggml_backend_dev_description(dev));
    d.Set("type", DeviceTypeName(ggml_backend_dev_type(dev)));
    d.Set("backend", reg != nullptr ? ggml_backend_reg_name(reg) : "");
    d.Set("memoryFree", static_cast<double>(free));
    d.Set("memoryTotal", static_cast<double>(total));
    out.Set(static_cast<uint32_t>(i), d);
  }
  return out;
}

ggml_backend_buffer_type_t BufferTypeForDevice(const std::string& name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (lower == "cpu") return ggml_backend_cpu_buffer_type();
  ggml_backend_dev_t dev = ggml_backend_dev_by_name(name.c_str());  // case-insensitive, as llama.cpp's tools
  return dev != nullptr ? ggml_backend_dev_buffer_type(dev) : nullptr;
}

}  // namespace llama_napi
