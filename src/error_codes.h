// Every `code` the addon raises, spelled once. The strings are part of the public API: lib/errors.ts
// lists them (ERROR_CODES, a superset of these) and users branch on them, so never change one.
#pragma once

namespace llama_napi {

inline constexpr char kErrModelLoad[] = "ERR_MODEL_LOAD";          // llama.cpp could not load or read the model file
inline constexpr char kErrContextCreate[] = "ERR_CONTEXT_CREATE";  // llama.cpp could not create (or plan) a context
inline constexpr char kErrContextFull[] = "ERR_CONTEXT_FULL";      // a prompt does not fit, or the KV cache has no room
inline constexpr char kErrDecode[] = "ERR_DECODE";                 // llama_decode failed, or produced no logits/embedding
inline constexpr char kErrAborted[] = "ERR_ABORTED";               // the caller aborted a load, an evaluation or the context
inline constexpr char kErrDisposed[] = "ERR_DISPOSED";             // the object was disposed before or during the call
inline constexpr char kErrInvalidArg[] = "ERR_INVALID_ARG";        // an argument llama.cpp would crash on or misread
inline constexpr char kErrBusy[] = "ERR_BUSY";                     // a one-time call (load, init) made twice
inline constexpr char kErrQuantize[] = "ERR_QUANTIZE";             // llama_model_quantize failed
inline constexpr char kErrChatTemplate[] = "ERR_CHAT_TEMPLATE";    // no chat template, or one llama.cpp does not know
inline constexpr char kErrGrammar[] = "ERR_GRAMMAR";               // a grammar or JSON schema that does not compile or dead-ends
inline constexpr char kErrBackend[] = "ERR_BACKEND";               // a ggml backend library that cannot be loaded
inline constexpr char kErrOutOfMemory[] = "ERR_OUT_OF_MEMORY";     // an allocation of llama.cpp or ggml failed (see OutOfMemoryCode)
inline constexpr char kErrRpc[] = "ERR_RPC";                       // an RPC server unreachable, failed or hung (names the endpoint)
inline constexpr char kErrNative[] = "ERR_NATIVE";                 // anything else that failed in native code

}  // namespace llama_napi
