// Text to tokens: the one llama_tokenize wrapper behind Model.tokenize (on the JS thread) and
// Model.tokenizeMany (on a libuv worker). Tokenizing is not cheap: ~0.6 ms per KB of
// English text with the Llama vocabulary on the 2-vCPU machine (64 ms for 100 KB), long enough
// that a server must not do it on the thread that streams everyone's tokens.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

#include "llama.h"
#include "model_handle.h"

namespace llama_napi {

// Tokenizes `text` into `out`. False, with `error` set, when llama.cpp cannot (a vocabulary
// missing the byte token a character falls back to). Any thread.
bool TokenizeText(const llama_vocab* vocab, const std::string& text, bool add_special, bool parse_special,
                  std::vector<llama_token>& out, std::string& error);

// Tokenizes every text on a libuv worker; the promise resolves to one Int32Array per text, in
// order, or rejects ERR_NATIVE. `model` keeps the vocabulary alive while it runs, even if the
// Model is disposed meanwhile.
Napi::Promise TokenizeManyOnWorker(Napi::Env env, ModelRef model, std::vector<std::string> texts, bool add_special,
                                   bool parse_special);

}  // namespace llama_napi
