#include "grammar.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#ifdef _WIN32
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <process.h>
#include <windows.h>
#else
#include <pthread.h>
#endif

#include "errors.h"
#include "json-schema-to-grammar.h"
// llama.cpp's internal GBNF parser (vendor/llama.cpp/src, on the include path for llama-ext.h):
// its public entry point prints parse errors to stderr and reports only "failed to parse
// grammar", so the addon drives the parser itself to get the reason and print nothing.
#include "llama-grammar.h"
#include "log.h"

namespace llama_napi {
namespace {

// Limits that keep llama.cpp's recursive and expanding code within bounds. Compilation runs on a
// thread of its own with kCompilerStack bytes of stack (reserved, touched only as needed), so the
// caller's stack (a worker_thread has 4 MiB, some platforms' secondary threads 512 KiB) does not
// matter and these limits can be generous.
constexpr size_t kCompilerStack = size_t{64} << 20;
// GBNF text. llama.cpp's parser recurses once per nested parenthesis.
constexpr size_t kMaxGrammarBytes = size_t{1} << 20;
constexpr size_t kMaxNesting = 256;
// Grammar elements that repetitions (`x{m,n}`, `*`, `+`, `?`) may add: the parser writes out
// x{m,n} as m copies of x plus n-m rules, so a few bytes can ask for gigabytes.
constexpr uint64_t kMaxRepeatedElements = 4'000'000;
// Rules after parsing: llama.cpp's left-recursion check recurses through chains of rules.
constexpr size_t kMaxRules = 100'000;
// JSON schemas: json_schema_to_grammar recurses per nesting level, and runs std::regex (which
// recurses per character of a match) over property names and $ref values.
constexpr size_t kMaxSchemaBytes = size_t{1} << 20;
constexpr size_t kMaxSchemaDepth = 128;
constexpr size_t kMaxSchemaName = 4096;
// Longest llama.cpp detail quoted in a message.
constexpr size_t kMaxDetail = 600;

[[noreturn]] void Fail(const std::string& message) { throw NativeError("ERR_GRAMMAR", message); }

std::string Clip(std::string text, size_t max = kMaxDetail) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.size() > max) {
    size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) cut--;  // not inside a UTF-8 character
    text = text.substr(0, cut) + "…";
  }
  return text;
}

// ---- the compiler thread ----------------------------------------------------------------

struct CompilerJob {
  const std::function<void()>* body;
  std::exception_ptr error;
};

void RunCompilerJob(CompilerJob* job) noexcept {
  try {
    (*job->body)();
  } catch (...) {
    job->error = std::current_exception();
  }
}

#ifdef _WIN32
unsigned __stdcall CompilerThreadMain(void* job) {
  RunCompilerJob(static_cast<CompilerJob*>(job));
  return 0;
}
#else
void* CompilerThreadMain(void* job) {
  RunCompilerJob(static_cast<CompilerJob*>(job));
  return nullptr;
}
#endif

// Runs `body` on a thread with a kCompilerStack stack, waits, and rethrows what it threw.
// The caller blocks for as long as compiling takes (a parse: microseconds to milliseconds).
void OnCompilerThread(const std::function<void()>& body) {
  CompilerJob job{&body, nullptr};
#ifdef _WIN32
  const uintptr_t handle = _beginthreadex(nullptr, static_cast<unsigned>(kCompilerStack), CompilerThreadMain, &job,
                                          STACK_SIZE_PARAM_IS_A_RESERVATION, nullptr);
  if (handle == 0) throw NativeError("ERR_NATIVE", "could not start the grammar compiler thread");
  WaitForSingleObject(reinterpret_cast<HANDLE>(handle), INFINITE);
  CloseHandle(reinterpret_cast<HANDLE>(handle));
#else
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kCompilerStack);
  pthread_t thread;
  const int rc = pthread_create(&thread, &attr, CompilerThreadMain, &job);
  pthread_attr_destroy(&attr);
  if (rc != 0) throw NativeError("ERR_NATIVE", "could not start the grammar compiler thread");
  pthread_join(thread, nullptr);
#endif
  if (job.error) std::rethrow_exception(job.error);
}

// ---- GBNF -------------------------------------------------------------------------------

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Blank space and `#` comments, as llama.cpp's parser skips them between rules.
const char* SkipBlank(const char* pos) {
  while (IsSpace(*pos) || *pos == '#') {
    if (*pos == '#') {
      while (*pos != '\0' && *pos != '\r' && *pos != '\n') pos++;
    } else {
      pos++;
    }
  }
  return pos;
}

// "expecting name at <rest of the text>" → "expecting name at line 2, column 7 (near `…`)".
std::string Located(const std::string& message, const std::string& text) {
  const size_t at = message.find(" at ");
  if (at == std::string::npos) return Clip(message);
  const std::string rest = message.substr(at + 4);
  if (rest.size() > text.size() || text.compare(text.size() - rest.size(), rest.size(), rest) != 0) return Clip(message);
  const size_t offset = text.size() - rest.size();
  size_t line = 1, column = 1;
  for (size_t i = 0; i < offset; i++) {
    if (text[i] == '\n') {
      line++;
      column = 1;
    } else if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) {
      column++;
    }
  }
  std::string near = rest.substr(0, rest.find_first_of("\r\n"));
  near = rest.empty() ? "end of text" : "`" + Clip(near, 40) + "`";
  return message.substr(0, at) + " at line " + std::to_string(line) + ", column " + std::to_string(column) + " (near " + near + ")";
}

// What llama.cpp's parser does not guard against, checked on the raw text: nesting depth, and
// how much its repetitions expand (`x{m,n}` with n < m even loops ~2^64 times).
void CheckGrammarText(const std::string& s) {
  if (s.size() > kMaxGrammarBytes) {
    Fail("invalid grammar: " + std::to_string(s.size()) + " bytes, more than the " + std::to_string(kMaxGrammarBytes) + " allowed");
  }
  if (s.find('\0') != std::string::npos) Fail("invalid grammar: it contains a NUL character (write \\x00 in a literal)");
  const size_t n = s.size();
  size_t depth = 0;
  uint64_t repeated = 0;
  uint64_t last_item = 1;  // grammar elements of the item a repetition applies to
  auto skip_space = [&](size_t j) {
    while (j < n && IsSpace(s[j])) j++;
    return j;
  };
  auto read_count = [&](size_t& j, uint64_t& value) {
    const size_t start = j;
    value = 0;
    for (; j < n && s[j] >= '0' && s[j] <= '9'; j++) value = value > 1'000'000'000'000 ? value : value * 10 + static_cast<uint64_t>(s[j] - '0');
    return j > start;
  };
  auto add = [&](uint64_t elements, const std::string& what) {
    repeated += elements;
    if (repeated > kMaxRepeatedElements) {
      Fail("invalid grammar: " + what + " expand" + (what == "its repetitions" ? "" : "s") + " to more than " + std::to_string(kMaxRepeatedElements) + " elements");
    }
  };
  for (size_t i = 0; i < n;) {
    const char c = s[i];
    if (c == '#') {
      while (i < n && s[i] != '\r' && s[i] != '\n') i++;
      continue;
    }
    if (c == '"' || c == '[') {
      // A literal is one element per character, a class about one per character.
      const char close = c == '"' ? '"' : ']';
      const size_t start = i;
      for (i++; i < n && s[i] != close; i += s[i] == '\\' ? 2 : 1) {
      }
      i++;
      last_item = std::max<uint64_t>(1, i - start);
      continue;
    }
    if (c == '<') {
      while (i < n && s[i] != '>') i++;
      i++;
      last_item = 1;
      continue;
    }
    if (c == '(') {
      if (++depth > kMaxNesting) Fail("invalid grammar: parentheses nested more than " + std::to_string(kMaxNesting) + " deep");
    } else if (c == ')') {
      if (depth > 0) depth--;
      last_item = 1;  // a group is one reference to a generated rule
    } else if (c == '*' || c == '+' || c == '?') {
      add(last_item + 3, "its repetitions");
    } else if (c == '{') {
      size_t j = skip_space(i + 1);
      uint64_t lo = 0;
      uint64_t hi = 0;
      if (read_count(j, lo)) {
        j = skip_space(j);
        bool bounded = true;
        hi = lo;
        if (j < n && s[j] == ',') {
          j = skip_space(j + 1);
          bounded = read_count(j, hi);
          j = skip_space(j);
        }
        if (j < n && s[j] == '}') {
          if (bounded && hi < lo) {
            Fail("invalid grammar: repetition {" + std::to_string(lo) + "," + std::to_string(hi) + "} has a maximum below its minimum");
          }
          const uint64_t elements = (last_item + 3) * std::max<uint64_t>(1, bounded ? hi : lo + 1);
          add(elements, elements > kMaxRepeatedElements ? "repetition " + s.substr(i, j + 1 - i) : "its repetitions");
        }
      }
    } else if (!IsSpace(c)) {
      last_item = 1;
    }
    i++;
  }
}

std::string RuleName(const llama_grammar_parser& parser, uint32_t id) {
  for (const auto& [name, symbol] : parser.symbol_ids) {
    if (symbol == id) return name;
  }
  return "#" + std::to_string(id);
}

// "… left recursion detected for nonterminal at index 3" → the rule's name, when there is one.
std::string WithRuleName(const std::string& why, const llama_grammar_parser& parser) {
  const std::string marker = "at index ";
  const size_t at = why.find(marker);
  if (at == std::string::npos) return why;
  size_t i = at + marker.size();
  uint64_t index = 0;
  const size_t start = i;
  for (; i < why.size() && why[i] >= '0' && why[i] <= '9' && index < 1'000'000'000; i++) index = index * 10 + static_cast<uint64_t>(why[i] - '0');
  if (i == start || index >= parser.rules.size()) return why;
  return why + " (rule '" + RuleName(parser, static_cast<uint32_t>(index)) + "')";
}

// ---- the sampler stages -----------------------------------------------------------------

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
    throw NativeError("ERR_GRAMMAR", std::string("the grammar could not take the sampled token: ") + e.what());
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
  const bool grammar = guard->code == "ERR_GRAMMAR";
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

// ---- compiling --------------------------------------------------------------------------

// On the compiler thread. Without a vocabulary (a check of a converted schema), `<token>`s do
// not parse and `<[id]>`s are not range-checked.
llama_sampler* CompileHere(const llama_vocab* vocab, const std::string& text) {
  CheckGrammarText(text);
  // Parse as llama_grammar_parser::parse() does, but keep the reason of a failure. Once this
  // succeeds, llama.cpp's own parse of the same text succeeds too, so it never prints.
  llama_grammar_parser parser(vocab);
  try {
    const char* pos = SkipBlank(text.c_str());
    while (*pos != '\0') {
      pos = parser.parse_rule(pos);
      if (parser.rules.size() > kMaxRules) Fail("invalid grammar: more than " + std::to_string(kMaxRules) + " rules");
    }
  } catch (const NativeError&) {
    throw;
  } catch (const std::exception& e) {
    Fail("invalid grammar: " + Located(e.what(), text));
  }
  if (parser.rules.empty()) Fail("invalid grammar: it defines no rules");
  if (parser.rules.size() > kMaxRules) Fail("invalid grammar: more than " + std::to_string(kMaxRules) + " rules");
  const uint32_t n_vocab = vocab != nullptr ? static_cast<uint32_t>(llama_vocab_n_tokens(vocab)) : UINT32_MAX;
  for (uint32_t id = 0; id < parser.rules.size(); id++) {
    const auto& rule = parser.rules[id];
    if (rule.empty()) Fail("invalid grammar: rule '" + RuleName(parser, id) + "' is used but not defined");
    for (const llama_grammar_element& e : rule) {
      if (e.type == LLAMA_GRETYPE_RULE_REF && (e.value >= parser.rules.size() || parser.rules[e.value].empty())) {
        Fail("invalid grammar: rule '" + RuleName(parser, e.value) + "' is used but not defined");
      }
      if ((e.type == LLAMA_GRETYPE_TOKEN || e.type == LLAMA_GRETYPE_TOKEN_NOT) && e.value >= n_vocab) {
        Fail("invalid grammar: token id " + std::to_string(e.value) + " is outside the vocabulary [0, " + std::to_string(n_vocab) + ")");
      }
    }
  }
  if (parser.symbol_ids.find("root") == parser.symbol_ids.end()) Fail("invalid grammar: it has no 'root' rule");

  LogTakeRecent();
  llama_sampler* inner = llama_sampler_init_grammar(vocab, text.c_str(), "root");
  if (inner == nullptr) {
    // Left recursion, reported through llama.cpp's log (kept per thread by log.cc).
    const std::string why = LogTakeRecent();
    Fail("invalid grammar: " + (why.empty() ? std::string("llama.cpp rejected it") : WithRuleName(Clip(why), parser)));
  }
  return MakeGate(inner, false);
}

// Property names and $ref values reach std::regex inside json_schema_to_grammar.
void CheckSchemaNames(const common_json& node) {
  if (node.is_object()) {
    for (const auto& entry : node.items()) {
      if (entry.key().size() > kMaxSchemaName) {
        Fail("invalid jsonSchema: a property name is longer than " + std::to_string(kMaxSchemaName) + " bytes");
      }
      if (entry.key() == "$ref" && entry.value().is_string() && entry.value().get<std::string>().size() > kMaxSchemaName) {
        Fail("invalid jsonSchema: a $ref is longer than " + std::to_string(kMaxSchemaName) + " bytes");
      }
      CheckSchemaNames(entry.value());
    }
  } else if (node.is_array()) {
    for (const common_json& item : node) CheckSchemaNames(item);
  }
}

// On the compiler thread.
std::string ConvertHere(const std::string& text) {
  if (text.size() > kMaxSchemaBytes) {
    Fail("invalid jsonSchema: " + std::to_string(text.size()) + " bytes of JSON, more than the " + std::to_string(kMaxSchemaBytes) + " allowed");
  }
  // Nesting depth, on the text (brackets outside strings), before anything recurses over it.
  size_t depth = 0;
  for (size_t i = 0; i < text.size(); i++) {
    const char c = text[i];
    if (c == '"') {
      for (i++; i < text.size() && text[i] != '"'; i += text[i] == '\\' ? 2 : 1) {
      }
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxSchemaDepth) Fail("invalid jsonSchema: nested more than " + std::to_string(kMaxSchemaDepth) + " levels deep");
    } else if ((c == '}' || c == ']') && depth > 0) {
      depth--;
    }
  }
  common_json schema;
  try {
    schema = common_json::parse(text);
  } catch (const std::exception& e) {
    Fail(std::string("invalid jsonSchema: not JSON (") + Clip(e.what(), 200) + ")");
  }
  if (!schema.is_object()) Fail("invalid jsonSchema: a schema must be a JSON object");
  CheckSchemaNames(schema);
  try {
    return json_schema_to_grammar(schema, /* force_gbnf = */ true);
  } catch (const std::exception& e) {
    Fail("invalid jsonSchema: " + Clip(e.what()));
  }
}

}  // namespace

llama_sampler* CompileGrammar(const llama_vocab* vocab, const std::string& gbnf) {
  llama_sampler* out = nullptr;
  OnCompilerThread([&] { out = CompileHere(vocab, gbnf); });
  return out;
}

std::string JsonSchemaToGbnf(const std::string& schema_json) {
  std::string out;
  OnCompilerThread([&] {
    out = ConvertHere(schema_json);
    // What it returns must also compile (json_schema_to_grammar writes a self-referencing
    // $ref as a left-recursive rule, for one).
    llama_sampler_free(CompileHere(nullptr, out));
  });
  return out;
}

llama_sampler* CompileJsonSchema(const llama_vocab* vocab, const std::string& schema_json) {
  llama_sampler* out = nullptr;
  OnCompilerThread([&] { out = CompileHere(vocab, ConvertHere(schema_json)); });
  return out;
}

llama_sampler* MakeSelectionGuard(const std::string& code) {
  return llama_sampler_init(GuardInterface(), new SelectionGuard{code});
}

Napi::Value JsonSchemaToGrammarJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) ThrowCoded(env, "ERR_INVALID_ARG", "jsonSchemaToGrammar(schemaJson) expects a string");
  const std::string text = info[0].As<Napi::String>().Utf8Value();
  std::string grammar;
  try {
    grammar = JsonSchemaToGbnf(text);
  } catch (const NativeError& e) {
    ThrowCoded(env, e.code(), e.what());
  } catch (const std::exception& e) {
    ThrowCoded(env, "ERR_NATIVE", e.what());
  }
  return Napi::String::New(env, grammar);
}

}  // namespace llama_napi
