#include "quantize.h"

#include <cstdio>
#include <string>

#include "errors.h"
#include "js_params.h"
#include "llama.h"
#include "log.h"
#include "progress_job.h"

namespace llama_napi {
namespace {

// One llama_model_quantize run.
//
// llama.cpp's quantize API has neither a progress callback nor an abort flag. Its only
// report is one log line per tensor ("[  12/  23] blk.0.attn_q.weight - [...]", see
// llama-quant.cpp), logged on the calling thread, so a thread-local log observer turns those
// lines into progress. Once started, a run cannot be interrupted: the TS layer waits for it.
class QuantizeJob : public ProgressJob {
 public:
  QuantizeJob(Napi::Env env, std::string input, std::string output, llama_model_quantize_params params,
              Napi::Function on_progress)
      : ProgressJob(env, "llama-napi:quantize", on_progress),
        input_(std::move(input)),
        output_(std::move(output)),
        params_(params) {}

 private:
  // Worker thread.
  void Execute() override {
    LogTakeRecent();
    uint32_t rc;
    {
      ScopedLogObserver observer([this](int, const char* text) { OnLogLine(text); });
      rc = llama_model_quantize(input_.c_str(), output_.c_str(), &params_);
    }
    if (rc != 0) {
      std::string why = LogTakeRecent();
      Fail(kErrQuantize, "llama.cpp could not quantize \"" + input_ + "\"" + (why.empty() ? "" : ": " + why));
    } else {
      ReportProgress(1.0f);
    }
  }

  // Worker thread, inside llama.cpp's log call. Line i announces tensor i, so i - 1 are done.
  void OnLogLine(const char* text) {
    if (text[0] != '[') return;
    int i = 0;
    int n = 0;
    if (std::sscanf(text, "[%d/%d]", &i, &n) != 2 || n <= 0 || i < 1 || i > n) return;
    ReportProgress(static_cast<float>(i - 1) / static_cast<float>(n));
  }

  std::string input_;
  std::string output_;
  llama_model_quantize_params params_;
};

}  // namespace

Napi::Value Quantize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsObject()) {
    ThrowCoded(env, kErrInvalidArg, "quantize(input, output, params, onProgress) expects two strings and an object");
  }
  llama_model_quantize_params params = QuantizeParamsFromJs(env, info[2].As<Napi::Object>());
  Napi::Function on_progress = info.Length() > 3 && info[3].IsFunction() ? info[3].As<Napi::Function>() : Napi::Function();
  return ProgressJob::Start(env, new QuantizeJob(env, info[0].As<Napi::String>().Utf8Value(),
                                                 info[1].As<Napi::String>().Utf8Value(), params, on_progress));
}

}  // namespace llama_napi
