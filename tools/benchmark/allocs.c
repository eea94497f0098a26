/* allocs.c -- tally-bench's count of allocations: malloc, calloc and realloc
 * wrapped at link time (-Wl,--wrap, tools/benchmark/meson.build), so a run can
 * report libtally's allocations per event (alloc_count, common.h). */
#include <stddef.h>

#include "common.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
static unsigned long long allocs; /* atomically incremented */

void *__wrap_malloc(size_t n) {
    __atomic_fetch_add(&allocs, 1, __ATOMIC_RELAXED);
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m) {
    __atomic_fetch_add(&allocs, 1, __ATOMIC_RELAXED);
    return __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n) {
    __atomic_fetch_add(&allocs, 1, __ATOMIC_RELAXED);
    return __real_realloc(p, n);
}
unsigned long long alloc_count(void) { return __atomic_load_n(&allocs, __ATOMIC_RELAXED); }
