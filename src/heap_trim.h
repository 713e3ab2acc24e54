// Gives the C library's free heap memory back to the system after a model is freed. A service
// that loads and disposes models for a long time otherwise keeps the peak of what llama.cpp's
// many small allocations (vocabulary, tensor metadata, graphs) left fragmented in glibc's
// per-thread arenas: `npm run soak` measured RSS +4.9 % from cycle 100 to 1,000 without it
// (ggml's large buffers are unmapped directly, vendor/patches/0005). glibc only; elsewhere a
// no-op.
#pragma once

namespace llama_napi {

void TrimHeap();

}  // namespace llama_napi
