/* The C test guest: the guest functions of simpleguest (guests/simpleguest), by the
 * same names and signatures, so that the host's integration tests run one test body
 * against both. A function here does what its Rust twin does; the comments say only
 * where C differs. Plus a few that misuse the C API on purpose (hostile.c). */
#include <hyperlight_guest.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest.h"

/* --- Every value type, there and back. --- */

static void echo_i32(hl_call *c) { hl_return_i32(c, hl_arg_i32(c, 0)); }
static void echo_u32(hl_call *c) { hl_return_u32(c, hl_arg_u32(c, 0)); }
static void echo_i64(hl_call *c) { hl_return_i64(c, hl_arg_i64(c, 0)); }
static void echo_u64(hl_call *c) { hl_return_u64(c, hl_arg_u64(c, 0)); }
static void echo_f32(hl_call *c) { hl_return_f32(c, hl_arg_f32(c, 0)); }
static void echo_f64(hl_call *c) { hl_return_f64(c, hl_arg_f64(c, 0)); }
static void echo_bool(hl_call *c) { hl_return_bool(c, hl_arg_bool(c, 0)); }

static void echo_string(hl_call *c) {
    size_t len;
    const char *s = hl_arg_string(c, 0, &len);
    hl_return_string(c, s, len);
}

static void echo_bytes(hl_call *c) {
    size_t len;
    const uint8_t *b = hl_arg_bytes(c, 0, &len);
    hl_return_bytes(c, b, len);
}

static void return_unit(hl_call *c) { (void)c; }

/* --- Many parameters. --- */

static void add(hl_call *c) {
    /* Wrapping, as the Rust twin's wrapping_add: signed overflow is undefined in C. */
    hl_return_i32(c, (int32_t)((uint32_t)hl_arg_i32(c, 0) + (uint32_t)hl_arg_i32(c, 1)));
}

static void sum_eight(hl_call *c) {
    size_t len;
    hl_arg_string(c, 7, &len);
    double sum = (double)hl_arg_i32(c, 0) + (double)hl_arg_u32(c, 1) + (double)hl_arg_i64(c, 2) +
                 (double)hl_arg_u64(c, 3) + (double)hl_arg_f32(c, 4) + hl_arg_f64(c, 5) +
                 (hl_arg_bool(c, 6) ? 1.0 : 0.0) + (double)len;
    hl_return_f64(c, sum);
}

static void concat12(hl_call *c) {
    char *joined = NULL;
    size_t total = 0;
    for (size_t i = 0; i < 12; i++) {
        size_t len;
        const char *s = hl_arg_string(c, i, &len);
        joined = realloc(joined, total + len + 1);
        memcpy(joined + total, s, len);
        total += len;
    }
    hl_return_string(c, joined, total);
    free(joined);
}

static void square(hl_call *c) {
    int64_t x = hl_arg_i64(c, 0);
    hl_return_i64(c, (int64_t)((uint64_t)x * (uint64_t)x));
}

/* --- Calls into the host; each passes the host's error on unchanged. --- */

/* Sets the result of `c` from a host call: its value, or its error. */
static void host_result(hl_call *c, hl_status status, hl_value *v) {
    if (status != HL_OK) {
        hl_fail_with_host_error(c);
        return;
    }
    hl_return_value(c, v);
    hl_value_free(v);
}

static void call_host_add(hl_call *c) {
    hl_value args[] = {hl_i32(hl_arg_i32(c, 0)), hl_i32(hl_arg_i32(c, 1))};
    hl_value r;
    host_result(c, hl_call_host("HostAdd", HL_TYPE_I32, args, 2, &r), &r);
}

static void call_host_echo(hl_call *c) {
    size_t len;
    const char *s = hl_arg_string(c, 0, &len);
    hl_value arg = hl_string(s, len);
    hl_value r;
    host_result(c, hl_call_host("HostEcho", HL_TYPE_STRING, &arg, 1, &r), &r);
}

static void call_host_named(hl_call *c) {
    hl_value r;
    host_result(c, hl_call_host(hl_arg_string(c, 0, NULL), HL_TYPE_STRING, NULL, 0, &r), &r);
}

static void call_host_add_wrong_types(hl_call *c) {
    hl_value args[] = {hl_cstring("one"), hl_cstring("two")};
    hl_value r;
    host_result(c, hl_call_host("HostAdd", HL_TYPE_I32, args, 2, &r), &r);
}

static void call_host_add_wrong_count(hl_call *c) {
    hl_value arg = hl_i32(1);
    hl_value r;
    host_result(c, hl_call_host("HostAdd", HL_TYPE_I32, &arg, 1, &r), &r);
}

static void call_host_fail(hl_call *c) {
    size_t len;
    const char *s = hl_arg_string(c, 0, &len);
    hl_value arg = hl_string(s, len);
    hl_value r;
    host_result(c, hl_call_host("HostFail", HL_TYPE_UNIT, &arg, 1, &r), &r);
}

static void call_host_twice(hl_call *c) {
    hl_value args[] = {hl_i32(hl_arg_i32(c, 0)), hl_i32(1)};
    hl_value once;
    if (hl_call_host("HostAdd", HL_TYPE_I32, args, 2, &once) != HL_OK) {
        hl_fail_with_host_error(c);
        return;
    }
    args[0] = once;
    hl_value r;
    host_result(c, hl_call_host("HostAdd", HL_TYPE_I32, args, 2, &r), &r);
}

static void call_host_sum_eight(hl_call *c) {
    size_t len;
    const char *s = hl_arg_string(c, 7, &len);
    hl_value args[] = {
        hl_i32(hl_arg_i32(c, 0)), hl_u32(hl_arg_u32(c, 1)), hl_i64(hl_arg_i64(c, 2)), hl_u64(hl_arg_u64(c, 3)),
        hl_f32(hl_arg_f32(c, 4)), hl_f64(hl_arg_f64(c, 5)), hl_bool(hl_arg_bool(c, 6)), hl_string(s, len),
    };
    hl_value r;
    host_result(c, hl_call_host("HostSumEight", HL_TYPE_F64, args, 8, &r), &r);
}

/* --- printf through the host's print function. --- */

static void print(hl_call *c) {
    size_t len;
    const char *s = hl_arg_string(c, 0, &len);
    printf("%.*s\n", (int)len, s);
}

static void print_many(hl_call *c) {
    uint32_t n = hl_arg_u32(c, 0);
    for (uint32_t i = 0; i < n; i++) printf("line %u of %u\n", i, n);
}

/* --- Failures. --- */

static void panic_(hl_call *c) { hl_panic(hl_arg_string(c, 0, NULL)); }
static void abort_(hl_call *c) { hl_abort(hl_arg_i32(c, 0), hl_arg_string(c, 1, NULL)); }
static void fail(hl_call *c) { hl_fail(c, hl_arg_string(c, 0, NULL)); }

/* --- The heap, and state kept between calls. --- */

static uint64_t counter;

static void large_allocation(hl_call *c) {
    uint64_t size = hl_arg_u64(c, 0);
    volatile uint8_t *p = malloc((size_t)size);
    if (!p) {
        hl_fail(c, "size does not fit the address space");
        return;
    }
    for (uint64_t i = 0; i < size; i += 4096) p[i] = 0xa5;
    free((void *)p);
    hl_return_u64(c, size);
}

static void allocate_and_free(hl_call *c) {
    uint32_t n = hl_arg_u32(c, 0);
    uint64_t size = hl_arg_u64(c, 1);
    for (uint32_t i = 0; i < n; i++) {
        volatile uint8_t *p = malloc((size_t)size);
        if (size) memset((void *)p, (int)(i & 0xff), (size_t)size);
        free((void *)p);
    }
    hl_return_u64(c, (uint64_t)n * size);
}

static void buffer_of_size(hl_call *c) {
    uint64_t n = hl_arg_u64(c, 0);
    uint8_t *b = malloc((size_t)n);
    for (uint64_t i = 0; i < n; i++) b[i] = (uint8_t)(i % 251);
    hl_return_bytes(c, b, (size_t)n);
    free(b);
}

static void counter_(hl_call *c) { hl_return_u64(c, ++counter); }
static void read_counter(hl_call *c) { hl_return_u64(c, counter); }

/* Blocks kept from one call to the next. */
static void **hoard;
static uint64_t hoard_len;

static void hoard_(hl_call *c) {
    uint32_t n = hl_arg_u32(c, 0);
    uint64_t size = hl_arg_u64(c, 1);
    hoard = realloc(hoard, (size_t)(hoard_len + n) * sizeof *hoard);
    for (uint32_t i = 0; i < n; i++) {
        void *block = malloc((size_t)size);
        memset(block, (int)(i & 0xff), (size_t)size);
        hoard[hoard_len++] = block;
    }
    hl_return_u64(c, hoard_len);
}

static void hoard_count(hl_call *c) { hl_return_u64(c, hoard_len); }

/* SSE state for the snapshot tests. Not %xmm0, unlike the Rust twin: this guest and
 * its library are built with SSE, and the library's code between calls may use
 * %xmm0 as scratch; it has no reason to touch %xmm15. */
static void set_xmm0(hl_call *c) {
    uint64_t v = hl_arg_u64(c, 0);
    __asm__ volatile("movq %0, %%xmm15" : : "r"(v) : "xmm15");
}

static void get_xmm0(hl_call *c) {
    uint64_t v;
    __asm__ volatile("movq %%xmm15, %0" : "=r"(v));
    hl_return_u64(c, v);
}

static void seed(hl_call *c) {
    uint8_t s[32];
    hl_seed(s);
    hl_return_bytes(c, s, sizeof s);
}

static void random_(hl_call *c) {
    uint64_t r;
    hl_random(&r, sizeof r);
    hl_return_u64(c, r);
}

/* The registration table: name, result, parameters, function. */
#define P(...) ((const hl_type[]){__VA_ARGS__})
#define N(...) (sizeof((const hl_type[]){__VA_ARGS__}) / sizeof(hl_type))
#define REG(name, ret, fn, ...) hl_register_function(name, ret, N(__VA_ARGS__), P(__VA_ARGS__), fn)
#define REG0(name, ret, fn) hl_register_function(name, ret, 0, NULL, fn)

int hyperlight_main(void) {
    REG("EchoI32", HL_TYPE_I32, echo_i32, HL_TYPE_I32);
    REG("EchoU32", HL_TYPE_U32, echo_u32, HL_TYPE_U32);
    REG("EchoI64", HL_TYPE_I64, echo_i64, HL_TYPE_I64);
    REG("EchoU64", HL_TYPE_U64, echo_u64, HL_TYPE_U64);
    REG("EchoF32", HL_TYPE_F32, echo_f32, HL_TYPE_F32);
    REG("EchoF64", HL_TYPE_F64, echo_f64, HL_TYPE_F64);
    REG("EchoBool", HL_TYPE_BOOL, echo_bool, HL_TYPE_BOOL);
    REG("EchoString", HL_TYPE_STRING, echo_string, HL_TYPE_STRING);
    REG("EchoBytes", HL_TYPE_BYTES, echo_bytes, HL_TYPE_BYTES);
    REG0("ReturnUnit", HL_TYPE_UNIT, return_unit);

    REG("Add", HL_TYPE_I32, add, HL_TYPE_I32, HL_TYPE_I32);
    REG("SumEight", HL_TYPE_F64, sum_eight, HL_TYPE_I32, HL_TYPE_U32, HL_TYPE_I64, HL_TYPE_U64, HL_TYPE_F32,
        HL_TYPE_F64, HL_TYPE_BOOL, HL_TYPE_STRING);
    REG("Concat12", HL_TYPE_STRING, concat12, HL_TYPE_STRING, HL_TYPE_STRING, HL_TYPE_STRING, HL_TYPE_STRING,
        HL_TYPE_STRING, HL_TYPE_STRING, HL_TYPE_STRING, HL_TYPE_STRING, HL_TYPE_STRING, HL_TYPE_STRING,
        HL_TYPE_STRING, HL_TYPE_STRING);
    REG("Square", HL_TYPE_I64, square, HL_TYPE_I64);

    REG("CallHostAdd", HL_TYPE_I32, call_host_add, HL_TYPE_I32, HL_TYPE_I32);
    REG("CallHostEcho", HL_TYPE_STRING, call_host_echo, HL_TYPE_STRING);
    REG("CallHostNamed", HL_TYPE_STRING, call_host_named, HL_TYPE_STRING);
    REG0("CallHostAddWrongTypes", HL_TYPE_I32, call_host_add_wrong_types);
    REG0("CallHostAddWrongCount", HL_TYPE_I32, call_host_add_wrong_count);
    REG("CallHostFail", HL_TYPE_UNIT, call_host_fail, HL_TYPE_STRING);
    REG("CallHostTwice", HL_TYPE_I32, call_host_twice, HL_TYPE_I32);
    REG("CallHostSumEight", HL_TYPE_F64, call_host_sum_eight, HL_TYPE_I32, HL_TYPE_U32, HL_TYPE_I64, HL_TYPE_U64,
        HL_TYPE_F32, HL_TYPE_F64, HL_TYPE_BOOL, HL_TYPE_STRING);

    REG("Print", HL_TYPE_UNIT, print, HL_TYPE_STRING);
    REG("PrintMany", HL_TYPE_UNIT, print_many, HL_TYPE_U32);

    REG("Panic", HL_TYPE_UNIT, panic_, HL_TYPE_STRING);
    REG("Abort", HL_TYPE_UNIT, abort_, HL_TYPE_I32, HL_TYPE_STRING);
    REG("Fail", HL_TYPE_UNIT, fail, HL_TYPE_STRING);

    REG("LargeAllocation", HL_TYPE_U64, large_allocation, HL_TYPE_U64);
    REG("AllocateAndFree", HL_TYPE_U64, allocate_and_free, HL_TYPE_U32, HL_TYPE_U64);
    REG("BufferOfSize", HL_TYPE_BYTES, buffer_of_size, HL_TYPE_U64);
    REG0("Counter", HL_TYPE_U64, counter_);
    REG0("ReadCounter", HL_TYPE_U64, read_counter);

    REG("Hoard", HL_TYPE_U64, hoard_, HL_TYPE_U32, HL_TYPE_U64);
    REG0("HoardCount", HL_TYPE_U64, hoard_count);
    REG("SetXmm0", HL_TYPE_UNIT, set_xmm0, HL_TYPE_U64);
    REG0("GetXmm0", HL_TYPE_U64, get_xmm0);
    REG0("Seed", HL_TYPE_BYTES, seed);
    REG0("Random", HL_TYPE_U64, random_);

    register_faults();
    register_hostile();
    register_runtime();
    return 0;
}
