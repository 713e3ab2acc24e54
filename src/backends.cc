#include "backends.h"

#include <map>
#include <mutex>
#include <string>

#include "errors.h"
#include "ggml-backend.h"

#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#else
#include <dlfcn.h>
#endif

namespace llama_napi {

namespace {

// The platform loader, only to ask a module its score and to learn why a load fails (ggml's
// own loader logs the reason but returns nothing but null).
class Library {
 public:
  explicit Library(const std::string& path) {
#ifdef _WIN32
    const int n = MultiByteToWideChar(CP_UTF8, 0, path.c_str(), -1, nullptr, 0);
    std::wstring wide(n > 0 ? n - 1 : 0, L'\0');
    if (n > 0) MultiByteToWideChar(CP_UTF8, 0, path.c_str(), -1, wide.data(), n);
    // Dependencies (the ggml DLLs) resolve from the module's own folder.
    handle_ = LoadLibraryExW(wide.c_str(), nullptr, LOAD_WITH_ALTERED_SEARCH_PATH);
    if (handle_ == nullptr) error_ = "LoadLibrary failed with error " + std::to_string(GetLastError());
#else
    handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr) {
      const char* reason = dlerror();
      error_ = reason != nullptr ? reason : "dlopen failed";
    }
#endif
  }
  ~Library() {
    if (handle_ == nullptr) return;
#ifdef _WIN32
    FreeLibrary(static_cast<HMODULE>(handle_));
#else
    dlclose(handle_);
#endif
  }
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;

  bool ok() const { return handle_ != nullptr; }
  const std::string& error() const { return error_; }
  void* symbol(const char* name) const {
#ifdef _WIN32
    return reinterpret_cast<void*>(GetProcAddress(static_cast<HMODULE>(handle_), name));
#else
    return dlsym(handle_, name);
#endif
  }

 private:
  void* handle_ = nullptr;
  std::string error_;
};

std::string PathArg(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) ThrowCoded(info.Env(), kErrInvalidArg, "expected a backend library path");
  return info[0].As<Napi::String>().Utf8Value();
}

std::mutex loaded_mutex;
std::map<std::string, ggml_backend_reg_t>& Loaded() {
  static auto* loaded = new std::map<std::string, ggml_backend_reg_t>();  // process lifetime
  return *loaded;
}

}  // namespace

Napi::Value BackendScore(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = PathArg(info);
  Library lib(path);
  if (!lib.ok()) ThrowCoded(env, kErrBackend, "cannot load " + path + ": " + lib.error());
  using ScoreFn = int (*)();
  auto score = reinterpret_cast<ScoreFn>(lib.symbol("ggml_backend_score"));
  if (score == nullptr) return env.Null();
  return Napi::Number::New(env, score());
}

Napi::Value LoadBackend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = PathArg(info);
  std::lock_guard<std::mutex> lock(loaded_mutex);
  ggml_backend_reg_t reg = nullptr;
  auto found = Loaded().find(path);
  if (found != Loaded().end()) {
    reg = found->second;
  } else {
    {
      Library probe(path);  // the dynamic loader's reason, if any (missing libcuda, driver…)
      if (!probe.ok()) ThrowCoded(env, kErrBackend, "cannot load " + path + ": " + probe.error());
    }
    reg = ggml_backend_load(path.c_str());
    if (reg == nullptr) {
      ThrowCoded(env, kErrBackend,
                 "ggml could not initialise the backend in " + path +
                     " (not supported on this machine, or built for another ggml version)");
    }
    Loaded()[path] = reg;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("name", ggml_backend_reg_name(reg));
  out.Set("devices", static_cast<double>(ggml_backend_reg_dev_count(reg)));
  return out;
}

Napi::Value CpuFeatures(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  ggml_backend_reg_t cpu = ggml_backend_reg_by_name("CPU");
  if (cpu == nullptr) return out;
  auto get_features = reinterpret_cast<ggml_backend_get_features_t>(ggml_backend_reg_get_proc_address(cpu, "ggml_backend_get_features"));
  if (get_features == nullptr) return out;
  uint32_t i = 0;
  for (ggml_backend_feature* f = get_features(cpu); f != nullptr && f->name != nullptr; f++) {
    Napi::Array pair = Napi::Array::New(env, 2);
    pair.Set(0u, f->name);
    pair.Set(1u, f->value != nullptr ? f->value : "");
    out.Set(i++, pair);
  }
  return out;
}

}  // namespace llama_napi
