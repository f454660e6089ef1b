// CAllocationCount: how many heap allocations the calling thread has made, for the training
// step's allocation check (metrics.jsonl "allocations", launch/bench, the tests). The program
// defines malloc, calloc, realloc, posix_memalign, aligned_alloc and memalign itself: each adds
// one to a thread-local counter and calls glibc's own implementation (__libc_*), so every caller
// in the process, the Swift runtime and the C libraries included, is counted on its thread.
#pragma once

/// Allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign) made by the
/// calling thread since it started.
unsigned long pt_thread_allocations(void);
