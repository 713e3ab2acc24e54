// Builds a llama.cpp sampler chain from the stage list the TS layer chose
// (lib/sampling.ts decides which stages, in which order, with which values).
#pragma once
#include <napi.h>

#include "llama.h"

namespace llama_napi {

// JS thread. Throws ERR_INVALID_ARG on a malformed stage. The caller owns the chain.
// A chain of just `greedy` gives nullptr: the engine takes the argmax itself, which skips
// building llama.cpp's candidate array of the whole vocabulary for every token.
llama_sampler* BuildSamplerChain(Napi::Env env, Napi::Array stages, const llama_vocab* vocab);

}  // namespace llama_napi
