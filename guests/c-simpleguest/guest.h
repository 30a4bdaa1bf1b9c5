/* The parts of the C test guest, each registering its functions. */
#ifndef C_SIMPLEGUEST_H
#define C_SIMPLEGUEST_H
void register_faults(void);  /* faults.c: CPU exceptions on purpose, and spinning */
void register_hostile(void); /* hostile.c: misuse of the C API on purpose */
void register_runtime(void); /* runtime.c: the C runtime (printf, strings, heap, assert) */
#endif
