/* printf and friends of the C runtime: vsnprintf does the formatting, the rest
 * send its output to the host's print function (one host call per printf).
 * Floating-point digits come from the library's exact Rust formatter
 * (hl_format_double); sign, width and padding are done here. */
#include <hyperlight_guest.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t hl_format_double(double value, char conversion, int precision, bool alternate, char *buf, size_t capacity);

/* Where the output goes: `buf[0..size-1]`, always counting every byte. */
struct out {
    char *buf;
    size_t size;
    size_t len;
};

static void put(struct out *o, char c) {
    if (o->len + 1 < o->size) o->buf[o->len] = c;
    o->len++;
}

static void put_n(struct out *o, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++) put(o, s[i]);
}

static void pad(struct out *o, char c, size_t n) {
    for (size_t i = 0; i < n; i++) put(o, c);
}

struct spec {
    bool left, plus, space, alt, zero;
    int width;     /* 0: none */
    int precision; /* -1: none */
};

/* `prefix` (sign, 0x), then `body`, in a field of the spec's width; zero padding
 * goes between them. */
static void field(struct out *o, const struct spec *s, const char *prefix, const char *body, size_t body_len,
                  size_t zeros) {
    size_t prefix_len = strlen(prefix);
    size_t len = prefix_len + zeros + body_len;
    size_t width = s->width > 0 ? (size_t)s->width : 0;
    size_t fill = width > len ? width - len : 0;
    if (!s->left && !s->zero) pad(o, ' ', fill);
    put_n(o, prefix, prefix_len);
    if (!s->left && s->zero) pad(o, '0', fill);
    pad(o, '0', zeros);
    put_n(o, body, body_len);
    if (s->left) pad(o, ' ', fill);
}

static void integer(struct out *o, struct spec s, uintmax_t magnitude, bool negative, unsigned base, bool upper,
                    const char *alt_prefix) {
    char digits[24];
    size_t n = 0;
    const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    while (magnitude) {
        digits[sizeof digits - 1 - n++] = set[magnitude % base];
        magnitude /= base;
    }
    if (s.precision >= 0) s.zero = false;
    size_t precision = s.precision >= 0 ? (size_t)s.precision : 1;
    size_t zeros = precision > n ? precision - n : 0;
    if (base == 8 && s.alt && zeros == 0 && (n == 0 || digits[sizeof digits - n] != '0')) zeros = 1;
    const char *prefix = negative ? "-" : s.plus ? "+" : s.space ? " " : "";
    char both[4] = {0};
    if (alt_prefix && n > 0) {
        size_t p = strlen(prefix);
        memcpy(both, prefix, p);
        memcpy(both + p, alt_prefix, strlen(alt_prefix));
        prefix = both;
    }
    field(o, &s, prefix, digits + sizeof digits - n, n, zeros);
}

static void floating(struct out *o, struct spec s, double v, char conversion) {
    char digits[512];
    bool negative = __builtin_signbit(v);
    size_t n = hl_format_double(v, conversion, s.precision, s.alt, digits, sizeof digits);
    char *body = digits;
    if (n > sizeof digits) {
        /* Longer than the stack buffer (a huge %f or precision): format once more. */
        body = malloc(n);
        if (!body) return;
        hl_format_double(v, conversion, s.precision, s.alt, body, n);
    }
    if (v != v || __builtin_isinf(v)) s.zero = false;
    const char *prefix = negative ? "-" : s.plus ? "+" : s.space ? " " : "";
    field(o, &s, prefix, body, n, 0);
    if (body != digits) free(body);
}

int vsnprintf(char *restrict buf, size_t size, const char *restrict format, va_list ap) {
    struct out o = {buf, size, 0};
    for (const char *f = format; *f; f++) {
        if (*f != '%') {
            put(&o, *f);
            continue;
        }
        struct spec s = {false, false, false, false, false, 0, -1};
        for (;; f++) {
            char c = f[1];
            if (c == '-') s.left = true;
            else if (c == '+') s.plus = true;
            else if (c == ' ') s.space = true;
            else if (c == '#') s.alt = true;
            else if (c == '0') s.zero = true;
            else break;
        }
        f++;
        if (*f == '*') {
            s.width = va_arg(ap, int);
            if (s.width < 0) s.left = true, s.width = -s.width;
            f++;
        } else {
            while (*f >= '0' && *f <= '9') s.width = s.width * 10 + (*f++ - '0');
        }
        if (*f == '.') {
            f++;
            s.precision = 0;
            if (*f == '*') {
                s.precision = va_arg(ap, int);
                f++;
            } else {
                while (*f >= '0' && *f <= '9') s.precision = s.precision * 10 + (*f++ - '0');
            }
        }
        if (s.left) s.zero = false;
        /* Length: 'H' hh, 'h', 'l', 'L' ll (and long double, read as double), 'j',
         * 'z', 't'. */
        char length = 0;
        if (f[0] == 'h' && f[1] == 'h') length = 'H', f += 2;
        else if (f[0] == 'l' && f[1] == 'l') length = 'q', f += 2;
        else if (*f == 'h' || *f == 'l' || *f == 'j' || *f == 'z' || *f == 't' || *f == 'L') length = *f++;
        char conversion = *f;
        switch (conversion) {
        case 'd':
        case 'i': {
            intmax_t v;
            if (length == 'l') v = va_arg(ap, long);
            else if (length == 'q' || length == 'j') v = va_arg(ap, long long);
            else if (length == 'z' || length == 't') v = va_arg(ap, ptrdiff_t);
            else v = va_arg(ap, int);
            if (length == 'H') v = (signed char)v;
            else if (length == 'h') v = (short)v;
            uintmax_t m = v < 0 ? -(uintmax_t)v : (uintmax_t)v;
            integer(&o, s, m, v < 0, 10, false, NULL);
            break;
        }
        case 'u':
        case 'o':
        case 'x':
        case 'X': {
            uintmax_t v;
            if (length == 'l') v = va_arg(ap, unsigned long);
            else if (length == 'q' || length == 'j') v = va_arg(ap, unsigned long long);
            else if (length == 'z' || length == 't') v = va_arg(ap, size_t);
            else v = va_arg(ap, unsigned);
            if (length == 'H') v = (unsigned char)v;
            else if (length == 'h') v = (unsigned short)v;
            s.plus = s.space = false;
            unsigned base = conversion == 'u' ? 10 : conversion == 'o' ? 8 : 16;
            const char *alt = NULL;
            if (s.alt && conversion == 'x') alt = "0x";
            if (s.alt && conversion == 'X') alt = "0X";
            integer(&o, s, v, false, base, conversion == 'X', alt);
            break;
        }
        case 'p': {
            void *p = va_arg(ap, void *);
            s.plus = s.space = false;
            integer(&o, s, (uintptr_t)p, false, 16, false, "0x");
            break;
        }
        case 'c': {
            char c = (char)va_arg(ap, int);
            s.zero = false;
            field(&o, &s, "", &c, 1, 0);
            break;
        }
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (!str) str = "(null)";
            size_t n = s.precision >= 0 ? strnlen(str, (size_t)s.precision) : strlen(str);
            s.zero = false;
            field(&o, &s, "", str, n, 0);
            break;
        }
        case 'f':
        case 'F':
        case 'e':
        case 'E':
        case 'g':
        case 'G':
            floating(&o, s, va_arg(ap, double), conversion);
            break;
        case '%':
            put(&o, '%');
            break;
        case 'n':
            /* Refused: it writes through a pointer from the format's arguments. */
            (void)va_arg(ap, void *);
            break;
        case 0:
            f--; /* a lone '%' at the end */
            break;
        default:
            /* Unknown: written as it is. */
            put(&o, '%');
            put(&o, conversion);
            break;
        }
    }
    if (size > 0) o.buf[o.len < size ? o.len : size - 1] = 0;
    return o.len > INT32_MAX ? -1 : (int)o.len;
}

int snprintf(char *restrict buf, size_t size, const char *restrict format, ...) {
    va_list ap;
    va_start(ap, format);
    int n = vsnprintf(buf, size, format, ap);
    va_end(ap);
    return n;
}

int vprintf(const char *restrict format, va_list ap) {
    char small[512];
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(small, sizeof small, format, ap);
    if (n < 0) {
        va_end(again);
        return n;
    }
    if ((size_t)n < sizeof small) {
        hl_print(small, (size_t)n);
    } else {
        char *big = malloc((size_t)n + 1);
        if (big) {
            vsnprintf(big, (size_t)n + 1, format, again);
            hl_print(big, (size_t)n);
            free(big);
        }
    }
    va_end(again);
    return n;
}

int printf(const char *restrict format, ...) {
    va_list ap;
    va_start(ap, format);
    int n = vprintf(format, ap);
    va_end(ap);
    return n;
}

int puts(const char *s) {
    size_t n = strlen(s);
    char *line = malloc(n + 1);
    if (!line) return EOF;
    memcpy(line, s, n);
    line[n] = '\n';
    hl_print(line, n + 1);
    free(line);
    return (int)(n + 1);
}

int putchar(int c) {
    char ch = (char)c;
    hl_print(&ch, 1);
    return (unsigned char)c;
}
