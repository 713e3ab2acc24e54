// Constrained sampling: GBNF grammars through llama.cpp's grammar sampler, and JSON schemas
// converted to GBNF by llama.cpp's own json_schema_to_grammar (common/). llama.cpp aborts the
// process on some grammars and overflows the stack on others, so every input is checked and
// compiled here first; a bad one becomes an ERR_GRAMMAR error, never a crash.
#pragma once
#include <napi.h>

#include <string>

#include "llama.h"

namespace llama_napi {

// Compiles a GBNF grammar (start rule `root`) into a sampler stage for one generation. Throws
// NativeError ERR_GRAMMAR with llama.cpp's reason. The stage ignores accept() until its first
// apply(): the engine feeds the prompt to the chain for the penalties, and a grammar constrains
// only the generated text.
llama_sampler* CompileGrammar(const llama_vocab* vocab, const std::string& gbnf);

// Converts a JSON schema (as JSON text) to GBNF and checks that the GBNF compiles. Throws
// NativeError ERR_GRAMMAR.
std::string JsonSchemaToGbnf(const std::string& schema_json);

// Converts and compiles in one step (one trip to the compiler thread).
llama_sampler* CompileJsonSchema(const llama_vocab* vocab, const std::string& schema_json);

// The stage after the token-selecting one (dist/greedy) in a chain with constraints: if the
// selected token is one the constraints excluded (logit -inf: every candidate was excluded),
// it throws NativeError(`code`) before the chain accepts the token. llama.cpp's grammar would
// abort the process on an excluded end-of-generation token.
llama_sampler* MakeSelectionGuard(const std::string& code);

// jsonSchemaToGrammar(schemaJson: string): string. Throws ERR_GRAMMAR / ERR_INVALID_ARG.
Napi::Value JsonSchemaToGrammarJs(const Napi::CallbackInfo& info);

}  // namespace llama_napi
