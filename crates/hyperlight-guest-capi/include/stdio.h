/* stdio.h of the hyperlight guest C runtime: formatting, and output to the host's
 * print function (HostPrint). There are no files: stdout is the host's print
 * function, unbuffered (each printf is one host call). */
#ifndef HYPERLIGHT_STDIO_H
#define HYPERLIGHT_STDIO_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EOF (-1)

/* The conversions d i u o x X c s p f F e E g G and %%, with the flags - + space #
 * 0, width and precision (also *), and the length modifiers hh h l ll j z t L.
 * Not supported: %n (it writes through a pointer; refused, nothing is written),
 * %a, wide characters. They return the length of the whole output, as C does. */
int vsnprintf(char *restrict buf, size_t size, const char *restrict format, va_list ap)
    __attribute__((format(printf, 3, 0)));
int snprintf(char *restrict buf, size_t size, const char *restrict format, ...)
    __attribute__((format(printf, 3, 4)));
int vprintf(const char *restrict format, va_list ap) __attribute__((format(printf, 1, 0)));
int printf(const char *restrict format, ...) __attribute__((format(printf, 1, 2)));
/* The string and a newline. */
int puts(const char *s);
int putchar(int c);

#ifdef __cplusplus
}
#endif

#endif
