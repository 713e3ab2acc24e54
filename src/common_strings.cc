// The three string helpers llama.cpp's json-schema-to-grammar.cpp calls, declared in its
// common.h and defined in common.cpp. The addon compiles only the conversion and its JSON
// wrapper from llama.cpp's common library (CMakeLists.txt): common.cpp would pull in most of
// that library (sampling, logging, argument parsing). Same behaviour as llama.cpp's: split keeps
// empty pieces, join puts the separator between values only.
// The one file that includes llama.cpp's common/common.h (not a public header): an upgrade that
// changes these declarations touches only this file.
#include <string>
#include <vector>

#include "common.h"

std::string string_join(const std::vector<std::string>& values, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < values.size(); i++) {
    if (i > 0) out += separator;
    out += values[i];
  }
  return out;
}

std::vector<std::string> string_split(const std::string& str, const std::string& delimiter) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t end = str.find(delimiter); end != std::string::npos; end = str.find(delimiter, start)) {
    parts.push_back(str.substr(start, end - start));
    start = end + delimiter.size();
  }
  parts.push_back(str.substr(start));
  return parts;
}

std::string string_repeat(const std::string& str, size_t n) {
  std::string out;
  out.reserve(str.size() * n);
  for (size_t i = 0; i < n; i++) out += str;
  return out;
}
