// llama.cpp's built-in chat templates and the vocabulary facts the TypeScript layer needs to
// tokenize a formatted conversation exactly (lib/chat-template.ts). Plain C++, no N-API.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "llama.h"

namespace llama_napi {

struct ChatMessage {
  std::string role;
  std::string content;
};

// Formats `messages` with llama_chat_apply_template. `tmpl` is a built-in template name or a
// template text (llama.cpp recognises the family by heuristics, no Jinja); null means the
// model's own `tokenizer.chat_template`. Throws NativeError(ERR_CHAT_TEMPLATE) when the model
// has no template or llama.cpp does not recognise it.
std::string ApplyChatTemplate(const llama_model* model, const std::string* tmpl, const std::vector<ChatMessage>& messages,
                              bool add_assistant);

// The names llama.cpp accepts as built-in templates (llama_chat_builtin_templates).
std::vector<std::string> BuiltinChatTemplates();

// Tokens that llama.cpp's tokenizer matches as whole units when it parses special tokens
// (control and unknown tokens: the ones parse_special=false leaves as text), with their text.
std::vector<std::pair<llama_token, std::string>> ControlTokens(const llama_vocab* vocab);

}  // namespace llama_napi
