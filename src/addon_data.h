// Per-environment state (main thread or one worker_thread); no static N-API state.
// When an environment is torn down (process exit, worker.terminate()), everything it
// started is stopped here so no native thread outlives it.
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>

namespace llama_napi {

class Context;

struct AddonData {
  Napi::FunctionReference model_ctor;
  Napi::FunctionReference context_ctor;
  std::set<Context*> contexts;
  std::set<std::shared_ptr<std::atomic<bool>>> loads;

  ~AddonData();
  static AddonData& Of(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }
};

}  // namespace llama_napi
