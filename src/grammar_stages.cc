// The sampler stages of constrained generation: the gate that keeps llama.cpp's grammar sampler
// deaf to the prompt, and the guard that refuses a token every candidate of which was excluded.
#include <cmath>
#include <exception>
#include <string>

#include "errors.h"
#include "grammar.h"
#include "grammar_internal.h"

namespace llama_napi {
namespace {

// llama.cpp's grammar sampler, deaf to accept() until the first apply() (see CompileGrammar).
struct GatedGrammar {
  llama_sampler* inner;
  bool armed;
};

llama_sampler* MakeGate(llama_sampler* inner, bool armed);

const char* GateName(const llama_sampler*) { return "llama-napi-grammar"; }

void GateAccept(llama_sampler* s, llama_token token) {
  auto* gate = static_cast<GatedGrammar*>(s->ctx);
  if (!gate->armed) return;
  try {
    llama_sampler_accept(gate->inner, token);
  } catch (const std::exception& e) {
    // llama.cpp throws std::runtime_error for a token its grammar cannot take (the guard stops
    // those first); as a coded error it fails only this generation, like any other.
    throw NativeError(kErrGrammar, std::string("the grammar could not take the sampled token: ") + e.what());
  }
}

void GateApply(llama_sampler* s, llama_token_data_array* cur_p) {
  auto* gate = static_cast<GatedGrammar*>(s->ctx);
  gate->armed = true;
  llama_sampler_apply(gate->inner, cur_p);
}

void GateReset(llama_sampler* s) {
  auto* gate = static_cast<GatedGrammar*>(s->ctx);
  gate->armed = false;
  llama_sampler_reset(gate->inner);
}

llama_sampler* GateClone(const llama_sampler* s) {
  const auto* gate = static_cast<const GatedGrammar*>(s->ctx);
  llama_sampler* inner = llama_sampler_clone(gate->inner);
  return inner != nullptr ? MakeGate(inner, gate->armed) : nullptr;
}

void GateFree(llama_sampler* s) {
  auto* gate = static_cast<GatedGrammar*>(s->ctx);
  llama_sampler_free(gate->inner);
  delete gate;
}

llama_sampler_i* GateInterface() {
  static llama_sampler_i iface = [] {
    llama_sampler_i i{};
    i.name = GateName;
    i.accept = GateAccept;
    i.apply = GateApply;
    i.reset = GateReset;
    i.clone = GateClone;
    i.free = GateFree;
    return i;
  }();
  return &iface;
}

llama_sampler* MakeGate(llama_sampler* inner, bool armed) {
  return llama_sampler_init(GateInterface(), new GatedGrammar{inner, armed});
}

struct SelectionGuard {
  std::string code;
};

const char* GuardName(const llama_sampler*) { return "llama-napi-guard"; }

void GuardApply(llama_sampler* s, llama_token_data_array* cur_p) {
  const auto* guard = static_cast<const SelectionGuard*>(s->ctx);
  const bool grammar = guard->code == kErrGrammar;
  if (cur_p->selected < 0 || static_cast<size_t>(cur_p->selected) >= cur_p->size) {
    throw NativeError(guard->code, "no token was selected");
  }
  // Excluded tokens have a logit of -inf (NaN would mean it was computed from one).
  if (!(cur_p->data[cur_p->selected].logit > -INFINITY)) {
    throw NativeError(guard->code, grammar ? "no token can continue the text: the grammar (with logitBias) excludes every candidate"
                                           : "logitBias excludes every token");
  }
}

llama_sampler* GuardClone(const llama_sampler* s) {
  return MakeSelectionGuard(static_cast<const SelectionGuard*>(s->ctx)->code);
}

void GuardFree(llama_sampler* s) { delete static_cast<SelectionGuard*>(s->ctx); }

llama_sampler_i* GuardInterface() {
  static llama_sampler_i iface = [] {
    llama_sampler_i i{};
    i.name = GuardName;
    i.apply = GuardApply;
    i.clone = GuardClone;
    i.free = GuardFree;
    return i;
  }();
  return &iface;
}

}  // namespace

llama_sampler* MakeGrammarGate(llama_sampler* inner) { return MakeGate(inner, false); }

llama_sampler* MakeSelectionGuard(const std::string& code) {
  return llama_sampler_init(GuardInterface(), new SelectionGuard{code});
}

}  // namespace llama_napi
