// GBNF grammars: the checks llama.cpp's parser lacks, and compiling into a sampler stage.
//
// The one file that includes llama.cpp's private llama-grammar.h (vendor/llama.cpp/src, not
// include/): a llama.cpp upgrade that changes llama_grammar_parser touches only this file.
// Its public entry point prints parse errors to stderr and reports only "failed to parse
// grammar", so the addon drives the parser itself to get the reason and print nothing.
#include <algorithm>
#include <cstdint>
#include <exception>
#include <string>

#include "errors.h"
#include "grammar_internal.h"
#include "llama-grammar.h"
#include "log.h"

namespace llama_napi {
namespace {

// Limits that keep llama.cpp's recursive and expanding code within bounds; generous, since
// compiling runs on the compiler thread's large stack (grammar.cc).
// GBNF text. llama.cpp's parser recurses once per nested parenthesis.
constexpr size_t kMaxGrammarBytes = size_t{1} << 20;
constexpr size_t kMaxNesting = 256;
// Grammar elements that repetitions (`x{m,n}`, `*`, `+`, `?`) may add: the parser writes out
// x{m,n} as m copies of x plus n-m rules, so a few bytes can ask for gigabytes.
constexpr uint64_t kMaxRepeatedElements = 4'000'000;
// Rules after parsing: llama.cpp's left-recursion check recurses through chains of rules.
constexpr size_t kMaxRules = 100'000;

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
  if (at == std::string::npos) return ClipDetail(message);
  const std::string rest = message.substr(at + 4);
  if (rest.size() > text.size() || text.compare(text.size() - rest.size(), rest.size(), rest) != 0) return ClipDetail(message);
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
  near = rest.empty() ? "end of text" : "`" + ClipDetail(near, 40) + "`";
  return message.substr(0, at) + " at line " + std::to_string(line) + ", column " + std::to_string(column) + " (near " + near + ")";
}

// What llama.cpp's parser does not guard against, checked on the raw text: nesting depth, and
// how much its repetitions expand (`x{m,n}` with n < m even loops ~2^64 times).
void CheckGrammarText(const std::string& s) {
  if (s.size() > kMaxGrammarBytes) {
    GrammarFail("invalid grammar: " + std::to_string(s.size()) + " bytes, more than the " + std::to_string(kMaxGrammarBytes) + " allowed");
  }
  if (s.find('\0') != std::string::npos) GrammarFail("invalid grammar: it contains a NUL character (write \\x00 in a literal)");
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
      GrammarFail("invalid grammar: " + what + " expand" + (what == "its repetitions" ? "" : "s") + " to more than " + std::to_string(kMaxRepeatedElements) + " elements");
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
      if (++depth > kMaxNesting) GrammarFail("invalid grammar: parentheses nested more than " + std::to_string(kMaxNesting) + " deep");
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
            GrammarFail("invalid grammar: repetition {" + std::to_string(lo) + "," + std::to_string(hi) + "} has a maximum below its minimum");
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

}  // namespace

llama_sampler* CompileGbnfHere(const llama_vocab* vocab, const std::string& text) {
  CheckGrammarText(text);
  // Parse as llama_grammar_parser::parse() does, but keep the reason of a failure. Once this
  // succeeds, llama.cpp's own parse of the same text succeeds too, so it never prints.
  llama_grammar_parser parser(vocab);
  try {
    const char* pos = SkipBlank(text.c_str());
    while (*pos != '\0') {
      pos = parser.parse_rule(pos);
      if (parser.rules.size() > kMaxRules) GrammarFail("invalid grammar: more than " + std::to_string(kMaxRules) + " rules");
    }
  } catch (const NativeError&) {
    throw;
  } catch (const std::exception& e) {
    GrammarFail("invalid grammar: " + Located(e.what(), text));
  }
  if (parser.rules.empty()) GrammarFail("invalid grammar: it defines no rules");
  if (parser.rules.size() > kMaxRules) GrammarFail("invalid grammar: more than " + std::to_string(kMaxRules) + " rules");
  const uint32_t n_vocab = vocab != nullptr ? static_cast<uint32_t>(llama_vocab_n_tokens(vocab)) : UINT32_MAX;
  for (uint32_t id = 0; id < parser.rules.size(); id++) {
    const auto& rule = parser.rules[id];
    if (rule.empty()) GrammarFail("invalid grammar: rule '" + RuleName(parser, id) + "' is used but not defined");
    for (const llama_grammar_element& e : rule) {
      if (e.type == LLAMA_GRETYPE_RULE_REF && (e.value >= parser.rules.size() || parser.rules[e.value].empty())) {
        GrammarFail("invalid grammar: rule '" + RuleName(parser, e.value) + "' is used but not defined");
      }
      if ((e.type == LLAMA_GRETYPE_TOKEN || e.type == LLAMA_GRETYPE_TOKEN_NOT) && e.value >= n_vocab) {
        GrammarFail("invalid grammar: token id " + std::to_string(e.value) + " is outside the vocabulary [0, " + std::to_string(n_vocab) + ")");
      }
    }
  }
  if (parser.symbol_ids.find("root") == parser.symbol_ids.end()) GrammarFail("invalid grammar: it has no 'root' rule");

  LogTakeRecent();
  llama_sampler* inner = llama_sampler_init_grammar(vocab, text.c_str(), "root");
  if (inner == nullptr) {
    // Left recursion, reported through llama.cpp's log (kept per thread by log.cc).
    const std::string why = LogTakeRecent();
    GrammarFail("invalid grammar: " + (why.empty() ? std::string("llama.cpp rejected it") : WithRuleName(ClipDetail(why), parser)));
  }
  return MakeGrammarGate(inner);
}

}  // namespace llama_napi
