// Device sampling through llama.cpp's backend sampling API ([EXPERIMENTAL] in llama.h): a
// sequence given a sampler chain with llama_set_sampler gets that chain's stages appended to the
// decode graph, on the device that computes the output layer (the CPU backend without a GPU),
// and only the chosen token is copied back instead of a row of logits for the host to sample.
//
// The TS layer decides which requests ask for it (lib/sampling.ts); the engine attaches a
// request's chain when it admits the request and detaches it when it releases the sequence.
// Setting or clearing a sequence's sampler makes llama.cpp re-reserve its compute graphs at the
// next decode (sched_need_reserve), so that happens once per request start and end, never per
// token. Loop thread only, like every llama_context call.
#pragma once
#include "llama.h"
#include "slot.h"

namespace llama_napi {

// Gives the slot's sequence its sampler chain (for a greedy request, which has none, a chain of
// llama.cpp's greedy sampler) when the request asked for device sampling. Returns whether
// llama.cpp took it; if not, the request samples on the host as before.
bool AttachBackendSampler(llama_context* ctx, Slot& slot);

// Clears the slot's sequence's backend sampler, before the chain it points to is freed.
void DetachBackendSampler(llama_context* ctx, Slot& slot);

// The token the slot's chain chose at its batch index, accepted into the chain: the one the
// graph sampled, or, when the graph chose none (a stage the device cannot run), the host
// chain's over what the graph left — which marks the result as sampled on the host.
llama_token SampleAttached(llama_context* ctx, Slot& slot);

}  // namespace llama_napi
