// The compiler thread, JSON schemas, and the entry points of grammar.h. GBNF itself is checked
// and compiled in grammar_gbnf.cc, the sampler stages live in grammar_stages.cc.
//
// The one file that includes llama.cpp's common/json-schema-to-grammar.h (not a public header;
// CMakeLists.txt compiles just that converter from common/).
#include "grammar.h"

#include <cstdint>
#include <exception>
#include <functional>
#include <string>

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
#include "grammar_internal.h"
#include "json-schema-to-grammar.h"

namespace llama_napi {
namespace {

// Limits that keep llama.cpp's recursive and expanding code within bounds. Compilation runs on a
// thread of its own with kCompilerStack bytes of stack (reserved, touched only as needed), so the
// caller's stack (a worker_thread has 4 MiB, some platforms' secondary threads 512 KiB) does not
// matter and these limits (and grammar_gbnf.cc's) can be generous.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LLAMA_NAPI_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(LLAMA_NAPI_ASAN)
// AddressSanitizer's red zones make each frame of llama.cpp's recursions several times larger:
// the same grammars, at the same limits, need a proportionally larger (still only reserved) stack.
constexpr size_t kCompilerStack = size_t{512} << 20;
#else
constexpr size_t kCompilerStack = size_t{64} << 20;
#endif
// JSON schemas: json_schema_to_grammar recurses per nesting level, and runs std::regex (which
// recurses per character of a match) over property names and $ref values.
constexpr size_t kMaxSchemaBytes = size_t{1} << 20;
constexpr size_t kMaxSchemaDepth = 128;
constexpr size_t kMaxSchemaName = 4096;

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

}  // namespace

// The caller blocks for as long as compiling takes (a parse: microseconds to milliseconds).
void OnCompilerThread(const std::function<void()>& body) {
  CompilerJob job{&body, nullptr};
#ifdef _WIN32
  const uintptr_t handle = _beginthreadex(nullptr, static_cast<unsigned>(kCompilerStack), CompilerThreadMain, &job,
                                          STACK_SIZE_PARAM_IS_A_RESERVATION, nullptr);
  if (handle == 0) throw NativeError(kErrNative, "could not start the grammar compiler thread");
  WaitForSingleObject(reinterpret_cast<HANDLE>(handle), INFINITE);
  CloseHandle(reinterpret_cast<HANDLE>(handle));
#else
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kCompilerStack);
  pthread_t thread;
  const int rc = pthread_create(&thread, &attr, CompilerThreadMain, &job);
  pthread_attr_destroy(&attr);
  if (rc != 0) throw NativeError(kErrNative, "could not start the grammar compiler thread");
  pthread_join(thread, nullptr);
#endif
  if (job.error) std::rethrow_exception(job.error);
}

// ---- JSON schemas -----------------------------------------------------------------------

namespace {

// Property names and $ref values reach std::regex inside json_schema_to_grammar.
void CheckSchemaNames(const common_json& node) {
  if (node.is_object()) {
    for (const auto& entry : node.items()) {
      if (entry.key().size() > kMaxSchemaName) {
        GrammarFail("invalid jsonSchema: a property name is longer than " + std::to_string(kMaxSchemaName) + " bytes");
      }
      if (entry.key() == "$ref" && entry.value().is_string() && entry.value().get<std::string>().size() > kMaxSchemaName) {
        GrammarFail("invalid jsonSchema: a $ref is longer than " + std::to_string(kMaxSchemaName) + " bytes");
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
    GrammarFail("invalid jsonSchema: " + std::to_string(text.size()) + " bytes of JSON, more than the " + std::to_string(kMaxSchemaBytes) + " allowed");
  }
  // Nesting depth, on the text (brackets outside strings), before anything recurses over it.
  size_t depth = 0;
  for (size_t i = 0; i < text.size(); i++) {
    const char c = text[i];
    if (c == '"') {
      for (i++; i < text.size() && text[i] != '"'; i += text[i] == '\\' ? 2 : 1) {
      }
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxSchemaDepth) GrammarFail("invalid jsonSchema: nested more than " + std::to_string(kMaxSchemaDepth) + " levels deep");
    } else if ((c == '}' || c == ']') && depth > 0) {
      depth--;
    }
  }
  common_json schema;
  try {
    schema = common_json::parse(text);
  } catch (const std::exception& e) {
    GrammarFail(std::string("invalid jsonSchema: not JSON (") + ClipDetail(e.what(), 200) + ")");
  }
  if (!schema.is_object()) GrammarFail("invalid jsonSchema: a schema must be a JSON object");
  CheckSchemaNames(schema);
  try {
    return json_schema_to_grammar(schema, /* force_gbnf = */ true);
  } catch (const std::exception& e) {
    GrammarFail("invalid jsonSchema: " + ClipDetail(e.what()));
  }
}

}  // namespace

// ---- shared by the grammar files, and the entry points ------------------------------------

void GrammarFail(const std::string& message) { throw NativeError(kErrGrammar, message); }

std::string ClipDetail(std::string text, size_t max) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.size() > max) {
    size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) cut--;  // not inside a UTF-8 character
    text = text.substr(0, cut) + "…";
  }
  return text;
}

llama_sampler* CompileGrammar(const llama_vocab* vocab, const std::string& gbnf) {
  llama_sampler* out = nullptr;
  OnCompilerThread([&] { out = CompileGbnfHere(vocab, gbnf); });
  return out;
}

std::string JsonSchemaToGbnf(const std::string& schema_json) {
  std::string out;
  OnCompilerThread([&] {
    out = ConvertHere(schema_json);
    // What it returns must also compile (json_schema_to_grammar writes a self-referencing
    // $ref as a left-recursive rule, for one).
    llama_sampler_free(CompileGbnfHere(nullptr, out));
  });
  return out;
}

llama_sampler* CompileJsonSchema(const llama_vocab* vocab, const std::string& schema_json) {
  llama_sampler* out = nullptr;
  OnCompilerThread([&] { out = CompileGbnfHere(vocab, ConvertHere(schema_json)); });
  return out;
}

Napi::Value JsonSchemaToGrammarJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) ThrowCoded(env, kErrInvalidArg, "jsonSchemaToGrammar(schemaJson) expects a string");
  const std::string text = info[0].As<Napi::String>().Utf8Value();
  std::string grammar;
  try {
    grammar = JsonSchemaToGbnf(text);
  } catch (const NativeError& e) {
    ThrowCoded(env, e.code(), e.what());
  } catch (const std::exception& e) {
    ThrowCoded(env, kErrNative, e.what());
  }
  return Napi::String::New(env, grammar);
}

}  // namespace llama_napi
