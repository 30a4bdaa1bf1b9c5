/* The string and number functions of the C runtime: str*, memchr, strto*, abs.
 * Built with -fno-builtin and -fno-tree-loop-distribute-patterns, so that gcc does
 * not turn these loops into calls of themselves. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

void *memchr(const void *s, int c, size_t n) {
    const unsigned char *p = s;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == (unsigned char)c) return (void *)(p + i);
    }
    return NULL;
}

size_t strlen(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

size_t strnlen(const char *s, size_t max) {
    size_t n = 0;
    while (n < max && s[n]) n++;
    return n;
}

int strcmp(const char *a, const char *b) {
    while (*a && *a == *b) a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n) {
    for (; n > 0; n--, a++, b++) {
        if (*a != *b || !*a) return (unsigned char)*a - (unsigned char)*b;
    }
    return 0;
}

char *strcpy(char *restrict dest, const char *restrict src) {
    char *d = dest;
    while ((*d++ = *src++)) {
    }
    return dest;
}

char *strncpy(char *restrict dest, const char *restrict src, size_t n) {
    size_t i = 0;
    for (; i < n && src[i]; i++) dest[i] = src[i];
    for (; i < n; i++) dest[i] = 0;
    return dest;
}

char *strcat(char *restrict dest, const char *restrict src) {
    strcpy(dest + strlen(dest), src);
    return dest;
}

char *strncat(char *restrict dest, const char *restrict src, size_t n) {
    char *d = dest + strlen(dest);
    size_t i = 0;
    for (; i < n && src[i]; i++) d[i] = src[i];
    d[i] = 0;
    return dest;
}

char *strchr(const char *s, int c) {
    for (;; s++) {
        if (*s == (char)c) return (char *)s;
        if (!*s) return NULL;
    }
}

char *strrchr(const char *s, int c) {
    const char *found = NULL;
    for (;; s++) {
        if (*s == (char)c) found = s;
        if (!*s) return (char *)found;
    }
}

char *strstr(const char *haystack, const char *needle) {
    size_t n = strlen(needle);
    for (; *haystack; haystack++) {
        if (strncmp(haystack, needle, n) == 0) return (char *)haystack;
    }
    return n == 0 ? (char *)haystack : NULL;
}

char *strndup(const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, s, len);
        copy[len] = 0;
    }
    return copy;
}

char *strdup(const char *s) { return strndup(s, SIZE_MAX); }

int abs(int x) { return x < 0 ? -x : x; }
long labs(long x) { return x < 0 ? -x : x; }
long long llabs(long long x) { return x < 0 ? -x : x; }

/* The digits of `s` in `base` (0: by prefix), as an unsigned magnitude saturated at
 * `limit`; `*negative` for a leading '-'. `*end` (if not NULL) is set past the
 * number, or to `s` if there is none. */
static unsigned long long parse(const char *s, char **end, int base, unsigned long long limit, int *negative) {
    const char *p = s;
    while (isspace((unsigned char)*p)) p++;
    *negative = 0;
    if (*p == '+' || *p == '-') *negative = *p++ == '-';
    if ((base == 0 || base == 16) && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && isxdigit((unsigned char)p[2])) {
        p += 2;
        base = 16;
    } else if (base == 0) {
        base = *p == '0' ? 8 : 10;
    }
    unsigned long long value = 0;
    int any = 0, over = 0;
    for (;; p++) {
        int c = (unsigned char)*p, digit;
        if (isdigit(c)) digit = c - '0';
        else if (isalpha(c)) digit = tolower(c) - 'a' + 10;
        else break;
        if (digit >= base) break;
        any = 1;
        if (value > (limit - (unsigned)digit) / (unsigned)base) over = 1;
        else value = value * (unsigned)base + (unsigned)digit;
    }
    if (end) *end = (char *)(any ? p : s);
    return over ? limit : value;
}

long long strtoll(const char *restrict s, char **restrict end, int base) {
    int negative;
    unsigned long long m = parse(s, end, base, (unsigned long long)LLONG_MAX + 1, &negative);
    if (!negative) return m > (unsigned long long)LLONG_MAX ? LLONG_MAX : (long long)m;
    return m == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)m;
}

unsigned long long strtoull(const char *restrict s, char **restrict end, int base) {
    int negative;
    unsigned long long m = parse(s, end, base, ULLONG_MAX, &negative);
    return negative ? -m : m;
}

long strtol(const char *restrict s, char **restrict end, int base) { return strtoll(s, end, base); }
unsigned long strtoul(const char *restrict s, char **restrict end, int base) { return strtoull(s, end, base); }
int atoi(const char *s) { return (int)strtol(s, NULL, 10); }
long atol(const char *s) { return strtol(s, NULL, 10); }
