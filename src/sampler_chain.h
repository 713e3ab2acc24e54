// Builds a llama.cpp sampler chain from the stage list the TS layer chose
// (lib/sampling.ts decides which stages, in which order, with which values).
#pragma once
#include <napi.h>

#include "llama.h"

namespace llama_napi {

// JS thread. Throws ERR_INVALID_ARG on a malformed stage, ERR_GRAMMAR on a grammar or JSON
// schema that does not compile. The caller owns the chain, which is for one generation (a
// grammar keeps its parse state in it).
// A chain of just `greedy` gives nullptr: the engine takes the argmax itself, which skips
// building llama.cpp's candidate array of the whole vocabulary for every token. Any other
// stage (a logit bias, a grammar) needs that array, so it always gets a real chain.
// A chain with a grammar or a logit bias ends with a guard after its dist/greedy stage that
// refuses a token every candidate of which was excluded (see MakeSelectionGuard).
// `device_capable` (optional) is set to whether every stage can run in llama.cpp's backend
// sampling exactly as on the host (see src/backend_sampling.h); false for penalties, logit
// biases and grammars.
llama_sampler* BuildSamplerChain(Napi::Env env, Napi::Array stages, const llama_vocab* vocab, bool* device_capable = nullptr);

}  // namespace llama_napi
