/* assert.h of the hyperlight guest C runtime: a false assertion stops the guest
 * like a Rust panic (GuestPanic at the host, naming the expression, function, file
 * and line). Define NDEBUG to compile assertions out. */
#undef assert
#ifdef NDEBUG
#define assert(expr) ((void)0)
#else
#ifdef __cplusplus
extern "C"
#endif
_Noreturn void __hl_assert_fail(const char *expr, const char *file, int line, const char *function);
#define assert(expr) ((expr) ? (void)0 : __hl_assert_fail(#expr, __FILE__, __LINE__, __func__))
#endif
#ifndef __cplusplus
#define static_assert _Static_assert
#endif
