// What the grammar files share; the public side is grammar.h. grammar.cc: the compiler thread,
// JSON schemas and the entry points; grammar_gbnf.cc: GBNF checks and compiling;
// grammar_stages.cc: the sampler stages a compiled grammar runs in.
#pragma once
#include <cstddef>
#include <functional>
#include <string>

#include "llama.h"

namespace llama_napi {

// Longest llama.cpp detail quoted in a message.
constexpr size_t kMaxGrammarDetail = 600;

// Throws NativeError(ERR_GRAMMAR).
[[noreturn]] void GrammarFail(const std::string& message);

// `text` without trailing blanks, cut to `max` bytes (on a UTF-8 character boundary) with an ellipsis.
std::string ClipDetail(std::string text, size_t max = kMaxGrammarDetail);

// Runs `body` on a thread with a large stack, waits, and rethrows what it threw: llama.cpp's
// grammar parser and json_schema_to_grammar recurse per nesting level, and the caller's stack
// (a worker_thread has 4 MiB, some platforms' secondary threads 512 KiB) may not suffice.
void OnCompilerThread(const std::function<void()>& body);

// On the compiler thread: checks and compiles GBNF (start rule `root`) into a gated grammar stage.
// Without a vocabulary (a check of a converted schema), `<token>`s do not parse and `<[id]>`s are
// not range-checked.
llama_sampler* CompileGbnfHere(const llama_vocab* vocab, const std::string& text);

// llama.cpp's grammar sampler `inner` (owned from now on), deaf to accept() until its first
// apply() (see CompileGrammar in grammar.h).
llama_sampler* MakeGrammarGate(llama_sampler* inner);

}  // namespace llama_napi
