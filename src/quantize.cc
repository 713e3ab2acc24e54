#include "quantize.h"

#include <cstdio>
#include <string>

#include "errors.h"
#include "llama.h"
#include "log.h"
#include "threadpool_job.h"

namespace llama_napi {
namespace {

// One llama_model_quantize run. Runs on a libuv worker; progress reports and the final
// settle travel through the same thread-safe function, so every progress call reaches JS
// before the promise settles. Deletes itself on the JS thread once settled.
//
// llama.cpp's quantize API has neither a progress callback nor an abort flag. Its only
// report is one log line per tensor ("[  12/  23] blk.0.attn_q.weight - [...]", see
// llama-quant.cpp), logged on the calling thread, so a thread-local log observer turns those
// lines into progress. Once started, a run cannot be interrupted: the TS layer waits for it.
class QuantizeJob {
 public:
  QuantizeJob(Napi::Env env, std::string input, std::string output, llama_model_quantize_params params,
              Napi::Function on_progress)
      : deferred_(Napi::Promise::Deferred::New(env)),
        tsfn_(Napi::ThreadSafeFunction::New(env, on_progress, "llama-napi:quantize", 0, 1)),
        has_progress_(!on_progress.IsEmpty()),
        input_(std::move(input)),
        output_(std::move(output)),
        params_(params) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  // Worker thread.
  void Run() {
    LogTakeRecent();
    uint32_t rc;
    {
      ScopedLogObserver observer([this](int, const char* text) { OnLogLine(text); });
      rc = llama_model_quantize(input_.c_str(), output_.c_str(), &params_);
    }
    if (rc != 0) {
      std::string why = LogTakeRecent();
      message_ = "llama.cpp could not quantize \"" + input_ + "\"" + (why.empty() ? "" : ": " + why);
    } else if (has_progress_ && last_sent_ < 1.0f) {
      SendProgress(1.0f);
    }
    ok_ = rc == 0;
    Napi::ThreadSafeFunction tsfn = tsfn_;  // `this` is gone once the settle ran
    napi_status status = tsfn.BlockingCall([this](Napi::Env env, Napi::Function) { Settle(env); });
    // The environment is gone (worker.terminate(), exit): nobody is left to settle for.
    if (status != napi_ok) delete this;
    tsfn.Release();
  }

 private:
  // JS thread.
  void Settle(Napi::Env env) {
    GuardJsCallback([&] {
      if (ok_) {
        deferred_.Resolve(env.Undefined());
      } else {
        deferred_.Reject(CodedError(env, "ERR_QUANTIZE", message_).Value());
      }
    });
    delete this;
  }

  // Worker thread, inside llama.cpp's log call. Line i announces tensor i, so i - 1 are done.
  void OnLogLine(const char* text) {
    if (!has_progress_ || text[0] != '[') return;
    int i = 0;
    int n = 0;
    if (std::sscanf(text, "[%d/%d]", &i, &n) != 2 || n <= 0 || i < 1 || i > n) return;
    const float progress = static_cast<float>(i - 1) / static_cast<float>(n);
    if (progress - last_sent_ >= 0.01f) SendProgress(progress);
  }

  void SendProgress(float progress) {
    last_sent_ = progress;
    tsfn_.NonBlockingCall([progress](Napi::Env env, Napi::Function fn) {
      GuardJsCallback([&] { fn.Call({Napi::Number::New(env, progress)}); });
    });
  }

  Napi::Promise::Deferred deferred_;
  Napi::ThreadSafeFunction tsfn_;
  const bool has_progress_;
  float last_sent_ = -1.0f;
  std::string input_;
  std::string output_;
  llama_model_quantize_params params_;
  bool ok_ = false;
  std::string message_;
};

}  // namespace

Napi::Value Quantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsObject()) {
    ThrowCoded(env, "ERR_INVALID_ARG", "quantize(input, output, params, onProgress) expects two strings and an object");
  }
  Napi::Object opts = info[2].As<Napi::Object>();
  Napi::Value ftype = opts.Get("ftype");
  Napi::Value threads = opts.Get("threads");
  if (!ftype.IsNumber() || !threads.IsNumber()) ThrowCoded(env, "ERR_INVALID_ARG", "quantize params need numeric ftype and threads");
  // llama.cpp's defaults (no requantizing, output.weight quantized, no imatrix); the TS layer
  // has already checked that ftype is one llama.cpp can produce without an importance matrix.
  llama_model_quantize_params params = llama_model_quantize_default_params();
  params.ftype = static_cast<llama_ftype>(ftype.As<Napi::Number>().Int32Value());
  params.nthread = threads.As<Napi::Number>().Int32Value();
  Napi::Function on_progress = info.Length() > 3 && info[3].IsFunction() ? info[3].As<Napi::Function>() : Napi::Function();

  auto* job = new QuantizeJob(env, info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value(), params,
                              on_progress);
  Napi::Promise promise = job->Promise();
  ThreadpoolJob<QuantizeJob>::Queue(env, "llama-napi:quantize", job);
  return promise;
}

}  // namespace llama_napi
