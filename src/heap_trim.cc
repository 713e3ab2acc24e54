#include "heap_trim.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace llama_napi {

void TrimHeap() {
#if defined(__GLIBC__)
  malloc_trim(0);  // also releases whole free pages inside every arena, not only the heap's top
#endif
}

}  // namespace llama_napi
