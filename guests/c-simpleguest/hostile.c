/* Misuse of the C API on purpose: each function breaks one rule of the header, and
 * the host's tests (crates/hyperlight-host/tests/capi.rs) check that the call
 * fails with a typed error and the sandbox answers the next call. */
#include <hyperlight_guest.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guest.h"

/* A string result that is not UTF-8. */
static void bad_utf8_result(hl_call *c) { hl_return_string(c, "ok\xff\xfe", 4); }

/* Declared to return i32, returns a string. */
static void wrong_result_type(hl_call *c) { hl_return_cstring(c, "not a number"); }

/* Declared to return i32, returns nothing. */
static void no_result(hl_call *c) { (void)c; }

/* Two results. */
static void result_twice(hl_call *c) {
    hl_return_i32(c, 1);
    hl_return_i32(c, 2);
}

/* A length far past anything that exists. */
static void huge_length(hl_call *c) { hl_return_bytes(c, (const uint8_t *)"x", SIZE_MAX / 2); }

/* A null buffer with a length. */
static void null_with_length(hl_call *c) { hl_return_bytes(c, NULL, 10); }

/* A failure message with no NUL anywhere in the bytes the library may read. */
static void unterminated_message(hl_call *c) {
    size_t n = 128 << 10; /* past the 64 KiB the library reads */
    char *text = malloc(n);
    memset(text, 'x', n);
    hl_fail(c, text);
    free(text);
}

/* A handle that was never a call's. */
static void forged_handle(hl_call *c) {
    (void)c;
    hl_return_i32((hl_call *)(uintptr_t)0x1234, 5);
}

/* A handle kept from an earlier call. */
static hl_call *kept;
static void keep_handle(hl_call *c) { kept = c; }
static void stale_handle(hl_call *c) {
    (void)c;
    hl_return_i32(kept, 5);
}

/* An i32 argument read as a string, and an argument that does not exist. */
static void wrong_getter(hl_call *c) {
    size_t len;
    hl_arg_string(c, 0, &len);
    hl_return_i32(c, (int32_t)len);
}
static void missing_argument(hl_call *c) { hl_return_i32(c, hl_arg_i32(c, 3)); }

/* Host calls with input the library refuses: the status comes back, nothing reaches
 * the host. `kind` picks the fault; the result is the status. */
static void host_call_misuse(hl_call *c) {
    const char *kind = hl_arg_string(c, 0, NULL);
    hl_value r;
    hl_status status;
    if (!strcmp(kind, "type_code")) {
        status = hl_call_host("HostAdd", (hl_type)99, NULL, 0, &r);
    } else if (!strcmp(kind, "argument_type")) {
        hl_value v = {(hl_type)42, {.u64 = 0}};
        status = hl_call_host("HostAdd", HL_TYPE_I32, &v, 1, &r);
    } else if (!strcmp(kind, "unit_argument")) {
        hl_value v = {HL_TYPE_UNIT, {.u64 = 0}};
        status = hl_call_host("HostAdd", HL_TYPE_I32, &v, 1, &r);
    } else if (!strcmp(kind, "utf8")) {
        hl_value v = hl_string("\xc3\x28", 2);
        status = hl_call_host("HostEcho", HL_TYPE_STRING, &v, 1, &r);
    } else if (!strcmp(kind, "null_name")) {
        status = hl_call_host(NULL, HL_TYPE_UNIT, NULL, 0, &r);
    } else if (!strcmp(kind, "null_args")) {
        status = hl_call_host("HostAdd", HL_TYPE_I32, NULL, 2, &r);
    } else if (!strcmp(kind, "huge_string")) {
        hl_value v = hl_string("x", SIZE_MAX / 4);
        status = hl_call_host("HostEcho", HL_TYPE_STRING, &v, 1, &r);
    } else if (!strcmp(kind, "too_many")) {
        static hl_value many[100];
        for (int i = 0; i < 100; i++) many[i] = hl_i32(i);
        status = hl_call_host("HostAdd", HL_TYPE_I32, many, 100, &r);
    } else if (!strcmp(kind, "pass_on")) {
        /* Refused, then passed on as the call's error. */
        hl_call_host("HostAdd", (hl_type)99, NULL, 0, &r);
        hl_fail_with_host_error(c);
        return;
    } else {
        hl_fail(c, "unknown kind");
        return;
    }
    if (r.type != HL_TYPE_UNIT) {
        hl_fail(c, "a failed host call left a result");
        return;
    }
    hl_return_i32(c, (int32_t)status);
}

/* hl_fail_with_host_error when no host call failed. */
static void no_host_error(hl_call *c) {
    hl_value r;
    hl_value args[] = {hl_i32(1), hl_i32(2)};
    hl_call_host("HostAdd", HL_TYPE_I32, args, 2, &r); /* succeeds */
    hl_fail_with_host_error(c);
}

/* free() of a pointer malloc did not return, and of one freed already. */
static void bad_free(hl_call *c) {
    (void)c;
    static uint64_t not_a_block[8];
    free(&not_a_block[4]);
}
static void double_free(hl_call *c) {
    (void)c;
    void *p = malloc(32);
    free(p);
    free(p);
}

/* Registering while a call runs. */
static void register_late(hl_call *c) { hl_register_function("Late", HL_TYPE_UNIT, 0, NULL, no_result); (void)c; }

void register_hostile(void) {
    static const hl_type i32[] = {HL_TYPE_I32};
    static const hl_type string[] = {HL_TYPE_STRING};
    hl_register_function("BadUtf8Result", HL_TYPE_STRING, 0, NULL, bad_utf8_result);
    hl_register_function("WrongResultType", HL_TYPE_I32, 0, NULL, wrong_result_type);
    hl_register_function("NoResult", HL_TYPE_I32, 0, NULL, no_result);
    hl_register_function("ResultTwice", HL_TYPE_I32, 0, NULL, result_twice);
    hl_register_function("HugeLength", HL_TYPE_BYTES, 0, NULL, huge_length);
    hl_register_function("NullWithLength", HL_TYPE_BYTES, 0, NULL, null_with_length);
    hl_register_function("UnterminatedMessage", HL_TYPE_UNIT, 0, NULL, unterminated_message);
    hl_register_function("ForgedHandle", HL_TYPE_I32, 0, NULL, forged_handle);
    hl_register_function("KeepHandle", HL_TYPE_UNIT, 0, NULL, keep_handle);
    hl_register_function("StaleHandle", HL_TYPE_I32, 0, NULL, stale_handle);
    hl_register_function("WrongGetter", HL_TYPE_I32, 1, i32, wrong_getter);
    hl_register_function("MissingArgument", HL_TYPE_I32, 1, i32, missing_argument);
    hl_register_function("HostCallMisuse", HL_TYPE_I32, 1, string, host_call_misuse);
    hl_register_function("NoHostError", HL_TYPE_UNIT, 0, NULL, no_host_error);
    hl_register_function("BadFree", HL_TYPE_UNIT, 0, NULL, bad_free);
    hl_register_function("DoubleFree", HL_TYPE_UNIT, 0, NULL, double_free);
    hl_register_function("RegisterLate", HL_TYPE_UNIT, 0, NULL, register_late);
}
