/* limits.h of the hyperlight guest C runtime: gcc's own, without the C library's
 * limits.h it would otherwise look for (there is none: the guest has no libc). */
#ifndef HYPERLIGHT_LIMITS_H
#define HYPERLIGHT_LIMITS_H
#ifndef _LIBC_LIMITS_H_
#define _LIBC_LIMITS_H_ 1
#endif
#include_next <limits.h>
#endif
