/* The C runtime at work: printf's conversions, the string functions, the heap, log
 * and assert; the host's tests compare the results with what glibc gives. */
#include <assert.h>
#include <ctype.h>
#include <hyperlight_guest.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest.h"

/* snprintf of a fixed set of conversions, joined by '|'. */
static void format_cases(hl_call *c) {
    char out[1024];
    int n = snprintf(out, sizeof out,
                     "%d|%5d|%-5d|%05d|%+d|% d|%x|%#X|%o|%#o|%u|%lld|%llu|%zu|%hhd|%hu|%c|%s|%.3s|%-6s|%6s|"
                     "%10.2f|%-10.3f|%+.1f|%f|%e|%E|%.0e|%g|%g|%g|%G|%#g|%.3g|%08.3f|%f|%f|%p|%%|%.0f|%#.0f|%5.1s|",
                     -42, 42, 42, 42, 42, 42, 255u, 255u, 8u, 8u, 4000000000u, -9000000000000000000ll,
                     18000000000000000000ull, (size_t)12345, 300, 70000, 'z', "hello", "abcdef", "ab", "ab",
                     3.14159, -2.5, 0.05, 1.0 / 3.0, 123456.789, 0.000123, 5e10, 100000.0, 1000000.0, 0.0001,
                     1e-5, 1.5, 2.0 / 3.0, -3.14159, 1e300 * 1e300, -(1e300 * 1e300) * 0.0 /* -nan or nan */,
                     (void *)0x1234, 2.5, 3.0, "xyz");
    (void)n;
    hl_return_cstring(c, out);
}

/* snprintf into a buffer too small: the whole length comes back, the output is cut
 * and terminated. */
static void snprintf_truncates(hl_call *c) {
    char small[8];
    int n = snprintf(small, sizeof small, "%s %d", "hello world", 42);
    char out[64];
    snprintf(out, sizeof out, "%d:%s:%d", n, small, snprintf(NULL, 0, "%05d", 7));
    hl_return_cstring(c, out);
}

/* The string and number functions, each result joined by ','. */
static void strings(hl_call *c) {
    char buf[128] = "abc";
    strcat(buf, "def");
    strncat(buf, "ghijkl", 2);
    char copy[16];
    strncpy(copy, "xy", sizeof copy);
    char *dup = strdup(buf);
    char *ndup = strndup(buf, 3);
    char *end;
    long hex = strtol("  -0x1fZ", &end, 0);
    char out[512];
    snprintf(out, sizeof out, "%s,%zu,%d,%d,%d,%s,%s,%s,%s,%s,%s,%ld,%s,%lu,%lld,%d,%d,%c,%d,%s,%d", buf,
             strlen(buf), strcmp("abc", "abd") < 0, strncmp("abcx", "abcy", 3), strcmp("b", "a") > 0,
             strchr(buf, 'd'), strrchr("a/b/c", '/'), strstr(buf, "efg"), strstr(buf, "zz") ? "found" : "none",
             dup, ndup, hex, end, strtoul("777", NULL, 8), strtoll("-9223372036854775808", NULL, 10),
             atoi("  123abc"), abs(-5), toupper('q'), isdigit('7') && !isalpha('7'), copy,
             memcmp("ab", "ac", 2) < 0);
    free(dup);
    free(ndup);
    hl_return_cstring(c, out);
}

/* malloc, calloc, realloc and free, `n` rounds, checking every byte they hand
 * back; returns how many blocks were checked. */
static void heap_rounds(hl_call *c) {
    uint32_t n = hl_arg_u32(c, 0);
    uint8_t *blocks[32] = {0};
    size_t sizes[32] = {0};
    uint64_t checked = 0;
    for (uint32_t round = 0; round < n; round++) {
        size_t i = round % 32;
        if (blocks[i]) {
            for (size_t j = 0; j < sizes[i]; j++) {
                if (blocks[i][j] != (uint8_t)(i + j)) {
                    hl_fail(c, "a block changed");
                    return;
                }
            }
            checked++;
            if (round % 3 == 0) {
                size_t grown = sizes[i] * 2 + 1;
                blocks[i] = realloc(blocks[i], grown);
                for (size_t j = sizes[i]; j < grown; j++) blocks[i][j] = (uint8_t)(i + j);
                sizes[i] = grown;
                continue;
            }
            free(blocks[i]);
        }
        sizes[i] = (round * 7919u) % 3000;
        blocks[i] = round % 2 ? calloc(sizes[i], 1) : malloc(sizes[i]);
        if (((uintptr_t)blocks[i] & 15) != 0) {
            hl_fail(c, "a block is not 16-byte aligned");
            return;
        }
        for (size_t j = 0; j < sizes[i]; j++) {
            if (round % 2 && blocks[i][j] != 0) {
                hl_fail(c, "calloc did not zero");
                return;
            }
            blocks[i][j] = (uint8_t)(i + j);
        }
    }
    for (size_t i = 0; i < 32; i++) free(blocks[i]);
    hl_return_u64(c, checked);
}

static void assert_false(hl_call *c) {
    int one = hl_arg_i32(c, 0);
    assert(one == 2);
}

static void call_abort(hl_call *c) {
    (void)c;
    abort();
}

/* Logs at the given level with this file and line, then once more without them. */
static void log_(hl_call *c) {
    hl_log_level level = (hl_log_level)hl_arg_u32(c, 0);
    const char *message = hl_arg_string(c, 1, NULL);
    HL_LOG(level, message);
    hl_log(level, message);
}

/* Hardware floating point in the guest: a*b + a/b - sqrt-free, native SSE. */
static void float_math(hl_call *c) {
    double a = hl_arg_f64(c, 0), b = hl_arg_f64(c, 1);
    float x = hl_arg_f32(c, 2);
    hl_return_f64(c, a * b + a / b + (double)(x * x));
}

/* A guest function that calls the host, which calls back into the guest: the C
 * API's calls nest. As simpleguest's RecurseThen with "ok". */
static void recurse_then(hl_call *c) {
    uint32_t levels = hl_arg_u32(c, 0);
    size_t len;
    const char *what = hl_arg_string(c, 1, &len);
    if (levels == 0) {
        hl_return_u32(c, 0);
        return;
    }
    hl_value args[] = {hl_u32(levels - 1), hl_string(what, len)};
    hl_value below;
    if (hl_call_host("HostRecurse", HL_TYPE_U32, args, 2, &below) != HL_OK) {
        hl_fail_with_host_error(c);
        return;
    }
    /* The argument this call read is still there after the nested calls. */
    if (hl_arg_u32(c, 0) != levels) {
        hl_fail(c, "an argument changed under a nested call");
        return;
    }
    hl_return_u32(c, below.as.u32 + 1);
}

void register_runtime(void) {
    static const hl_type u32[] = {HL_TYPE_U32};
    static const hl_type i32[] = {HL_TYPE_I32};
    static const hl_type log_params[] = {HL_TYPE_U32, HL_TYPE_STRING};
    static const hl_type math[] = {HL_TYPE_F64, HL_TYPE_F64, HL_TYPE_F32};
    static const hl_type recurse[] = {HL_TYPE_U32, HL_TYPE_STRING};
    hl_register_function("FormatCases", HL_TYPE_STRING, 0, NULL, format_cases);
    hl_register_function("SnprintfTruncates", HL_TYPE_STRING, 0, NULL, snprintf_truncates);
    hl_register_function("Strings", HL_TYPE_STRING, 0, NULL, strings);
    hl_register_function("HeapRounds", HL_TYPE_U64, 1, u32, heap_rounds);
    hl_register_function("AssertFalse", HL_TYPE_UNIT, 1, i32, assert_false);
    hl_register_function("CallAbort", HL_TYPE_UNIT, 0, NULL, call_abort);
    hl_register_function("Log", HL_TYPE_UNIT, 2, log_params, log_);
    hl_register_function("FloatMath", HL_TYPE_F64, 3, math, float_math);
    hl_register_function("RecurseThen", HL_TYPE_U32, 2, recurse, recurse_then);
}
