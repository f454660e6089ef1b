// Counting wrappers over glibc's allocator (see CAllocationCount.h). The executable's
// definitions take precedence over libc's for every shared library (ELF symbol interposition);
// free needs no wrapper. One thread-local increment per call: nothing shared, no atomics.
#include "CAllocationCount.h"
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static _Thread_local unsigned long allocations;

unsigned long pt_thread_allocations(void) { return allocations; }

void *malloc(size_t size) {
  allocations++;
  return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
  allocations++;
  return __libc_calloc(count, size);
}

void *realloc(void *p, size_t size) {
  allocations++;
  return __libc_realloc(p, size);
}

void *memalign(size_t alignment, size_t size) {
  allocations++;
  return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
  allocations++;
  return __libc_memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
  if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return 22;  // EINVAL
  allocations++;
  void *p = __libc_memalign(alignment, size);
  if (p == NULL && size != 0) return 12;  // ENOMEM
  *out = p;
  return 0;
}
