/* stdlib.h of the hyperlight guest C runtime.
 *
 * The heap is the guest's (its size is the host's SandboxBuilder::heap_size).
 * Blocks are 16-byte aligned. Running out of heap does not return NULL: it stops
 * the call, and the host caller gets GuestOutOfMemory with the size asked for (as
 * in a Rust guest); NULL comes back only for sizes no heap could hold. free() and
 * realloc() of a pointer that malloc did not return, or that was freed already,
 * stop the guest with GuestAbort (code 6). */
#ifndef HYPERLIGHT_STDLIB_H
#define HYPERLIGHT_STDLIB_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

void *malloc(size_t size);
void *calloc(size_t count, size_t size);
void *realloc(void *ptr, size_t size);
void free(void *ptr);

/* Stops the guest: GuestAbort with code 6 (SIGABRT's number) at the host. */
_Noreturn void abort(void);

int abs(int x);
long labs(long x);
long long llabs(long long x);
/* Decimal, octal (0...) or hexadecimal (0x...) for base 0, as C specifies; no errno:
 * out-of-range values saturate. */
long strtol(const char *restrict s, char **restrict end, int base);
unsigned long strtoul(const char *restrict s, char **restrict end, int base);
long long strtoll(const char *restrict s, char **restrict end, int base);
unsigned long long strtoull(const char *restrict s, char **restrict end, int base);
int atoi(const char *s);
long atol(const char *s);

#ifdef __cplusplus
}
#endif

#endif
