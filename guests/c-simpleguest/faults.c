/* CPU exceptions on purpose, and functions that never return: the host's fault and
 * kill tests. Each fault is inline assembly, so that the CPU does exactly what the
 * name says (in C a division by zero or a null read is undefined behaviour). */
#include <hyperlight_guest.h>
#include <stdint.h>
#include <string.h>

#include "guest.h"

static void spin(hl_call *c) {
    (void)c;
    volatile uint64_t n = 0;
    for (;;) n++;
}

static void signal_then_spin(hl_call *c) {
    hl_call_host("SpinStarted", HL_TYPE_UNIT, NULL, 0, NULL);
    spin(c);
}

/* Recursion with a page-sized frame on every level: runs into the guard page. */
__attribute__((noinline)) static uint64_t recurse(uint64_t depth) {
    volatile uint8_t frame[4096];
    frame[0] = (uint8_t)depth;
    frame[7] = 1;
    if (depth == 0) return frame[0];
    return recurse(depth - 1) + frame[7];
}

/* One frame larger than the whole stack: gcc's stack-clash probes touch every page
 * on the way down, so the first touch below the stack is the guard page. */
__attribute__((noinline)) static uint8_t huge_frame(size_t i) {
    volatile uint8_t frame[4 << 20];
    frame[i] = 1;
    return frame[i];
}

static void fault(hl_call *c) {
    const char *kind = hl_arg_string(c, 0, NULL);
    if (!strcmp(kind, "ud2")) {
        __asm__ volatile("ud2");
    } else if (!strcmp(kind, "divide")) {
        uint64_t a = 1, zero = 0;
        __asm__ volatile("xor %%edx, %%edx\n\tdiv %1" : "+a"(a) : "r"(zero) : "rdx");
    } else if (!strcmp(kind, "null")) {
        uint64_t p = 0;
        __asm__ volatile("mov (%0), %0" : "+r"(p));
    } else if (!strcmp(kind, "write_code")) {
        __asm__ volatile("movb $0xc3, (%0)" : : "r"((uintptr_t)&fault) : "memory");
    } else if (!strcmp(kind, "int3")) {
        __asm__ volatile("int3");
    } else if (!strcmp(kind, "stack_overflow")) {
        hl_return_u64(c, recurse(UINT64_MAX));
        return;
    } else if (!strcmp(kind, "trap_flag")) {
        __asm__ volatile("pushfq\n\torq $0x100, (%%rsp)\n\tpopfq\n\tnop" : : : "memory", "cc");
    } else if (!strcmp(kind, "gp")) {
        __asm__ volatile("hlt");
    } else if (!strcmp(kind, "int80")) {
        __asm__ volatile("int $0x80");
    } else if (!strcmp(kind, "exec_stack")) {
        volatile uint8_t code[16];
        memset((void *)code, 0xc3, sizeof code);
        ((void (*)(void))(uintptr_t)code)();
    } else if (!strcmp(kind, "huge_frame")) {
        hl_return_u64(c, huge_frame(0));
        return;
    } else {
        char message[128];
        /* As the Rust twin's "unknown fault kind {other:?}". */
        size_t n = strlen(kind);
        if (n > 100) n = 100;
        memcpy(message, "unknown fault kind \"", 20);
        memcpy(message + 20, kind, n);
        memcpy(message + 20 + n, "\"", 2);
        hl_fail(c, message);
        return;
    }
    hl_fail(c, "the fault did not fault");
}

void register_faults(void) {
    static const hl_type string[] = {HL_TYPE_STRING};
    hl_register_function("Spin", HL_TYPE_UNIT, 0, NULL, spin);
    hl_register_function("SignalThenSpin", HL_TYPE_UNIT, 0, NULL, signal_then_spin);
    hl_register_function("Fault", HL_TYPE_UNIT, 1, string, fault);
}
