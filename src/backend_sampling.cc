#include "backend_sampling.h"

#include <memory>

namespace llama_napi {

bool AttachBackendSampler(llama_context* ctx, Slot& slot) {
  SlotRequest& request = slot.request;
  if (!request.device_sampling || slot.on_device || slot.seq < 0) return false;
  // Log-probabilities are of the raw logits, which llama.cpp does not copy back for a sequence
  // whose output is sampled in the graph.
  if (request.logits_only || request.embed || request.top_logprobs >= 0) return false;
  const bool own_greedy = !request.chain;
  if (own_greedy) {
    llama_sampler_chain_params params = llama_sampler_chain_default_params();
    params.no_perf = true;
    llama_sampler* chain = llama_sampler_chain_init(params);
    llama_sampler_chain_add(chain, llama_sampler_init_greedy());
    request.chain.reset(chain, llama_sampler_free);
  }
  // llama.cpp calls the chain's backend_init here (once per chain: it asserts on a second call,
  // and every request builds a chain of its own) and flags a graph re-reserve.
  slot.on_device = llama_set_sampler(ctx, slot.seq, request.chain.get());
  if (!slot.on_device && own_greedy) request.chain.reset();  // back to the engine's argmax
  slot.result.sampled_on_device = slot.on_device;
  return slot.on_device;
}

void DetachBackendSampler(llama_context* ctx, Slot& slot) {
  if (!slot.on_device) return;
  llama_set_sampler(ctx, slot.seq, nullptr);
  slot.on_device = false;
}

llama_token SampleAttached(llama_context* ctx, Slot& slot) {
  llama_sampler* chain = slot.request.chain.get();
  const llama_token token = llama_get_sampled_token_ith(ctx, slot.batch_index);
  if (token != LLAMA_TOKEN_NULL) {
    // What llama_sampler_sample does with a backend-sampled token. With llama.cpp's default of
    // one output per sequence per decode (n_outputs_max_per_seq = 1, which the engine never
    // exceeds) the dist stage draws from its random stream when the graph runs, one draw per
    // token as on the host, and accepting changes nothing there; with more outputs it would
    // advance the stream here, on accept.
    llama_sampler_accept(chain, token);
    return token;
  }
  slot.result.sampled_on_device = false;
  return llama_sampler_sample(chain, ctx, slot.batch_index);
}

}  // namespace llama_napi
