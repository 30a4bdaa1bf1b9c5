/*
 * hyperlight_guest.h: the C API of hyperlight guests.
 *
 * A guest is a static x86_64 ELF that a hyperlight host runs in a micro-VM, in user
 * mode, with no operating system. In C it is a program that defines
 *
 *     int hyperlight_main(void);
 *
 * registers its guest functions there (hl_register_function), and returns 0. The
 * host then calls those functions by name with typed arguments; each receives an
 * hl_call *, reads its arguments with hl_arg_*, and sets its result with
 * hl_return_* (or fails with hl_fail). Guest functions may call the host
 * (hl_call_host), print (printf, hl_print), log (hl_log) and stop the guest
 * (hl_abort, hl_panic, abort, assert).
 *
 * Build (docs/writing-a-c-guest.md has the whole guide):
 *
 *     gcc -std=c11 -O2 -ffreestanding -nostdinc -isystem "$(gcc -print-file-name=include)" \
 *         -I CAPI/include -fPIE -fno-stack-protector -fstack-clash-protection \
 *         -nostdlib -static-pie -Wl,-e,_start -o guest main.c CAPI/libhyperlight_guest_capi.a
 *
 * Types: the values that cross the boundary are int32_t, uint32_t, int64_t,
 * uint64_t, float, double, bool, strings (UTF-8, with an explicit length) and byte
 * buffers (with an explicit length). Floats cross as C passes them: the library is
 * built for the ordinary x86_64 ABI (floats in SSE registers), as gcc builds C; do
 * not build a guest with -mno-sse or -msoft-float.
 *
 * Ownership, everywhere:
 *   - What C passes in (names, strings, buffers, hl_value arrays) stays C's: the
 *     library copies what it keeps before the function returns.
 *   - Arguments a guest function reads (hl_arg_string, hl_arg_bytes) belong to the
 *     library and live until the guest function returns.
 *   - A string or bytes result of hl_call_host is malloc'ed and belongs to the
 *     caller: free(value.as.string.ptr), or hl_value_free(&value).
 *   - hl_host_error's message belongs to the library and lives until the next
 *     hl_call_host.
 *   - An hl_call * is a handle, valid only while its function runs.
 *
 * Misuse (a stale hl_call *, an argument read as another type, a second result, a
 * string that is not UTF-8 or has no NUL, a type code that names no type, a length
 * longer than the call buffers) never reaches the host as garbage: the call fails,
 * and the host caller gets a typed error (ReturnType for a result of the wrong type,
 * TooLarge for a result longer than the output buffer, GuestFailed naming the API
 * function and the fault for the rest). Misuse in hyperlight_main fails init.
 */
#ifndef HYPERLIGHT_GUEST_H
#define HYPERLIGHT_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this API: 1. */
#define HL_CAPI_VERSION 1

/* The types of values, and of parameters and results. HL_TYPE_UNIT is a result
 * type only (a function that returns nothing). */
typedef enum hl_type {
    HL_TYPE_UNIT = 0,
    HL_TYPE_I32 = 1,
    HL_TYPE_U32 = 2,
    HL_TYPE_I64 = 3,
    HL_TYPE_U64 = 4,
    HL_TYPE_F32 = 5,
    HL_TYPE_F64 = 6,
    HL_TYPE_BOOL = 7,
    HL_TYPE_STRING = 8,
    HL_TYPE_BYTES = 9,
} hl_type;

/* Why a host call failed (HL_OK: it did not). hl_host_error() has the message. */
typedef enum hl_status {
    HL_OK = 0,
    HL_ERR_HOST_FUNCTION_NOT_FOUND = 1, /* no host function has the name */
    HL_ERR_ARGUMENT_COUNT = 2,          /* it takes another number of arguments */
    HL_ERR_ARGUMENT_TYPE = 3,           /* an argument has another type */
    HL_ERR_RETURN_TYPE = 4,             /* it returned another type than asked for */
    HL_ERR_HOST_FUNCTION_FAILED = 5,    /* it returned an error */
    HL_ERR_TOO_LARGE = 6,               /* the arguments do not fit the output buffer */
    HL_ERR_BAD_MESSAGE = 7,             /* the host's reply could not be decoded */
    HL_ERR_INVALID_ARGUMENT = 8,        /* refused here: nothing went to the host */
    HL_ERR_OTHER = 9,
} hl_status;

/* Log levels, as the host's log receives them. */
typedef enum hl_log_level {
    HL_LOG_ERROR = 1,
    HL_LOG_WARN = 2,
    HL_LOG_INFO = 3,
    HL_LOG_DEBUG = 4,
    HL_LOG_TRACE = 5,
} hl_log_level;

/* A value of any type: host-call arguments and results. Build one with the hl_*
 * constructors below. */
typedef struct hl_value {
    hl_type type;
    union {
        int32_t i32;
        uint32_t u32;
        int64_t i64;
        uint64_t u64;
        float f32;
        double f64;
        bool boolean;
        struct {
            const char *ptr; /* UTF-8, len bytes; a result's is followed by a NUL */
            size_t len;
        } string;
        struct {
            const uint8_t *ptr;
            size_t len;
        } bytes;
    } as;
} hl_value;

/* A call of a guest function that is running: an opaque handle. */
typedef struct hl_call hl_call;

/* A guest function: reads its arguments from `call` and sets its result there. */
typedef void (*hl_function)(hl_call *call);

/* --- Init ----------------------------------------------------------------------- */

/* The guest's init, defined by the program: register the guest functions and
 * return 0. Runs once, before the first call; it may call the host and print. A
 * non-zero return fails init (GuestAbort with that code at the host). The
 * assembler name keeps the symbol hyperlight_main for the runtime's own hook. */
int hyperlight_main(void) __asm__("hl_c_main");

/* Makes `function` callable by the host as `name` (UTF-8, NUL-terminated; copied),
 * taking `param_count` parameters of the types `params` (copied; none may be
 * HL_TYPE_UNIT; at most 64) and returning `returns`. The host learns the signature
 * at init, and every call's arguments are checked against it (count, then types)
 * before `function` runs. Registering a name again replaces the function. Call it
 * from hyperlight_main. */
void hl_register_function(const char *name, hl_type returns, size_t param_count, const hl_type *params,
                          hl_function function);

/* --- Arguments (in a guest function) ---------------------------------------------- */

/* The number of arguments of `call`. */
size_t hl_arg_count(hl_call *call);

/* The type of argument `index` of `call`. */
hl_type hl_arg_type(hl_call *call, size_t index);

/* Argument `index` of `call`, which must have the getter's type (checked: another
 * type or a missing index returns 0 and fails the call). */
int32_t hl_arg_i32(hl_call *call, size_t index);
uint32_t hl_arg_u32(hl_call *call, size_t index);
int64_t hl_arg_i64(hl_call *call, size_t index);
uint64_t hl_arg_u64(hl_call *call, size_t index);
float hl_arg_f32(hl_call *call, size_t index);
double hl_arg_f64(hl_call *call, size_t index);
bool hl_arg_bool(hl_call *call, size_t index);

/* A string argument: UTF-8, *len bytes (len may be NULL), followed by a NUL; it may
 * contain NULs itself. Owned by the library until the guest function returns. */
const char *hl_arg_string(hl_call *call, size_t index, size_t *len);

/* A bytes argument: *len bytes (len may be NULL); never NULL, even when empty.
 * Owned by the library until the guest function returns. */
const uint8_t *hl_arg_bytes(hl_call *call, size_t index, size_t *len);

/* --- Results (in a guest function) ------------------------------------------------ */

/* Sets the result of `call` (once: a second result fails the call). It must have
 * the function's declared return type, or the host caller gets ReturnType; a
 * function that sets none returns unit. Strings and bytes are copied; a string must
 * be UTF-8. A result longer than the output buffer is TooLarge at the host. */
void hl_return_i32(hl_call *call, int32_t value);
void hl_return_u32(hl_call *call, uint32_t value);
void hl_return_i64(hl_call *call, int64_t value);
void hl_return_u64(hl_call *call, uint64_t value);
void hl_return_f32(hl_call *call, float value);
void hl_return_f64(hl_call *call, double value);
void hl_return_bool(hl_call *call, bool value);
void hl_return_string(hl_call *call, const char *text, size_t len);
void hl_return_cstring(hl_call *call, const char *text); /* NUL-terminated */
void hl_return_bytes(hl_call *call, const uint8_t *data, size_t len);
void hl_return_value(hl_call *call, const hl_value *value);

/* Fails the call with `message` (UTF-8, NUL-terminated; copied): the host caller
 * gets GuestFailed with the function's name and the message. */
void hl_fail(hl_call *call, const char *message);

/* Fails the call with the error of the last failed hl_call_host, unchanged: the
 * host caller gets it with its own kind (HostFunctionNotFound, HostFunctionFailed,
 * ArgumentType, ...), as a Rust guest passes an error on with `?`. */
void hl_fail_with_host_error(hl_call *call);

/* --- Host calls ----------------------------------------------------------------- */

/* Calls host function `name` (NUL-terminated) with the `arg_count` values `args`
 * (copied; none may be HL_TYPE_UNIT), expecting a result of type `returns`. On
 * HL_OK, *result (if `result` is not NULL) is the value: a string or bytes result
 * is malloc'ed, followed by a NUL, and the caller's to free. On failure *result is
 * unit and hl_host_error() says why; pass the error on with
 * hl_fail_with_host_error. One VM exit, as in a Rust guest. */
hl_status hl_call_host(const char *name, hl_type returns, const hl_value *args, size_t arg_count,
                       hl_value *result);

/* The message of the last failed hl_call_host ("" if the last one succeeded).
 * Owned by the library until the next hl_call_host. */
const char *hl_host_error(void);

/* Frees the string or bytes of a result of hl_call_host, and makes it unit. */
void hl_value_free(hl_value *value);

/* Constructors of argument values. Strings and bytes are borrowed, not copied: they
 * must live until hl_call_host returns. */
static inline hl_value hl_i32(int32_t v) { hl_value x = {HL_TYPE_I32, {.i32 = v}}; return x; }
static inline hl_value hl_u32(uint32_t v) { hl_value x = {HL_TYPE_U32, {.u32 = v}}; return x; }
static inline hl_value hl_i64(int64_t v) { hl_value x = {HL_TYPE_I64, {.i64 = v}}; return x; }
static inline hl_value hl_u64(uint64_t v) { hl_value x = {HL_TYPE_U64, {.u64 = v}}; return x; }
static inline hl_value hl_f32(float v) { hl_value x = {HL_TYPE_F32, {.f32 = v}}; return x; }
static inline hl_value hl_f64(double v) { hl_value x = {HL_TYPE_F64, {.f64 = v}}; return x; }
static inline hl_value hl_bool(bool v) { hl_value x = {HL_TYPE_BOOL, {.boolean = v}}; return x; }
static inline hl_value hl_string(const char *s, size_t len) {
    hl_value x = {HL_TYPE_STRING, {.string = {s, len}}};
    return x;
}
static inline hl_value hl_cstring(const char *s) { return hl_string(s, __builtin_strlen(s)); }
static inline hl_value hl_bytes(const uint8_t *p, size_t len) {
    hl_value x = {HL_TYPE_BYTES, {.bytes = {p, len}}};
    return x;
}

/* --- Output, randomness, stopping ----------------------------------------------- */

/* Sends `len` bytes of text to the host's print function (HostPrint); bytes that
 * are not UTF-8 arrive as U+FFFD. printf, puts and putchar go the same way. */
void hl_print(const char *text, size_t len);

/* Sends `message` (NUL-terminated) to the host's log (HostLog) at `level`. A host
 * without a log function drops it; logging never fails the caller. */
void hl_log(hl_log_level level, const char *message);

/* hl_log with the record attributed to `file` (NUL-terminated, or NULL for none) and
 * `line`, as the host's log shows them. Nothing is formatted or sent when the host
 * does not want records at `level` (the host sets it per sandbox), so a filtered
 * record costs no VM exit. */
void hl_log_at(hl_log_level level, const char *file, uint32_t line, const char *message);

/* Logs `message` at `level` with the caller's file and line. */
#define HL_LOG(level, message) hl_log_at((level), __FILE__, (uint32_t)__LINE__, (message))

/* Fills `len` bytes at `buf` with random bytes: ChaCha20 keyed by a seed the host
 * renews in every sandbox and after every restore. Draw them when needed: random
 * bytes kept from init are the same in every sandbox of a snapshot. */
void hl_random(void *buf, size_t len);

/* Copies the host's current 32-byte seed for this sandbox to `out`. */
void hl_seed(uint8_t out[32]);

/* Stops the guest for good: the host caller gets GuestAbort with `code` and
 * `message` (NUL-terminated, or NULL). The sandbox answers the next call. */
_Noreturn void hl_abort(int32_t code, const char *message);

/* Stops the guest as a Rust panic does: the host caller gets GuestPanic with
 * `message`. assert() ends here when its expression is false. */
_Noreturn void hl_panic(const char *message);

#ifdef __cplusplus
}
#endif

#endif /* HYPERLIGHT_GUEST_H */
