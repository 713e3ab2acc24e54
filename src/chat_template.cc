#include "chat_template.h"

#include <algorithm>
#include <cstdint>

#include "errors.h"

namespace llama_napi {

std::string ApplyChatTemplate(const llama_model* model, const std::string* tmpl, const std::vector<ChatMessage>& messages,
                              bool add_assistant) {
  const char* text = tmpl != nullptr ? tmpl->c_str() : llama_model_chat_template(model, nullptr);
  // llama.cpp would fall back to ChatML silently; a wrong format is worse than an error.
  if (text == nullptr) {
    throw NativeError(kErrChatTemplate, "the model has no chat template (tokenizer.chat_template); pass one");
  }
  std::vector<llama_chat_message> chat;
  chat.reserve(messages.size());
  size_t chars = 0;
  for (const ChatMessage& m : messages) {
    chat.push_back({m.role.c_str(), m.content.c_str()});
    chars += m.role.size() + m.content.size();
  }
  std::string out(2 * chars + 256, '\0');
  auto apply = [&] {
    return llama_chat_apply_template(text, chat.data(), chat.size(), add_assistant, out.data(),
                                     static_cast<int32_t>(std::min<size_t>(out.size(), INT32_MAX)));
  };
  int32_t n = apply();
  if (n >= 0 && static_cast<size_t>(n) > out.size()) {
    out.resize(static_cast<size_t>(n));
    n = apply();
  }
  if (n < 0) {
    throw NativeError(kErrChatTemplate, "llama.cpp does not support this chat template (it knows the built-in "
                                           "templates listed by chatTemplateNames(), recognised by name or by their text)");
  }
  out.resize(static_cast<size_t>(n));
  return out;
}

std::vector<std::string> BuiltinChatTemplates() {
  const int32_t n = llama_chat_builtin_templates(nullptr, 0);
  std::vector<const char*> names(n > 0 ? static_cast<size_t>(n) : 0);
  if (n > 0) llama_chat_builtin_templates(names.data(), names.size());
  return std::vector<std::string>(names.begin(), names.end());
}

std::vector<std::pair<llama_token, std::string>> ControlTokens(const llama_vocab* vocab) {
  std::vector<std::pair<llama_token, std::string>> out;
  const int32_t n = llama_vocab_n_tokens(vocab);
  for (llama_token id = 0; id < n; id++) {
    if (llama_vocab_get_attr(vocab, id) & (LLAMA_TOKEN_ATTR_CONTROL | LLAMA_TOKEN_ATTR_UNKNOWN)) {
      const char* text = llama_vocab_get_text(vocab, id);
      if (text != nullptr && text[0] != '\0') out.emplace_back(id, text);
    }
  }
  return out;
}

}  // namespace llama_napi
