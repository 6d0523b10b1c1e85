/* What the kernel (kernel.c, entry.S) and its ring-3 tasks (user.c) agree on: the system
   calls, the per-task virtual layout, the results a task reports and the segment selectors. */
#ifndef OS_H
#define OS_H

#include "guest.h"                          /* u32, u16, u8, put_str... */

/* Selectors (GDT order is fixed by SYSENTER: kernel CS, kernel SS = CS+8, user CS = CS+16,
   user SS = CS+24). */
#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define USER_CS   0x1B
#define USER_DS   0x23
#define TSS_SEL   0x28

/* Every task has its own page directory; its user region is at the same virtual address in
   each (so isolation is visible), backed by different frames. */
#define USER_BASE    0x40000000u           /* page directory entry 256 */
#define USER_STACK   0x40010000u           /* top of the one pre-mapped stack page */
#define DEMAND_BASE  0x40100000u           /* mapped page by page on #PF */
#define DEMAND_PAGES 8
#define USER_END     0x40400000u

/* System calls: number in EAX, arguments in EBX and ESI (int 0x80 and sysenter alike);
   sysenter callers also pass their return EIP in EDX and ESP in ECX. */
enum { SYS_WRITE, SYS_EXIT, SYS_INFO, SYS_RESULT, NSYSCALLS };
enum { INFO_PREEMPTIONS, INFO_FPU_RESTORES };             /* SYS_INFO(what) */
enum { RES_FPU, RES_FPU_BITS_LO, RES_FPU_BITS_HI, RES_FPU_CW, RES_PAGES, NRESULTS };  /* SYS_RESULT */

/* The ring-3 entry points (user.c); `arg` is the task's parameter. */
void worker_task(u32 salt);                /* the well-behaved tasks alpha and beta */
void bad_task(u32 how);                    /* dies of #DE, #GP or #PF */
enum { BAD_DIVIDE, BAD_PORT, BAD_KERNEL_WRITE };

#define WORKER_CW(salt) ((salt) & 1 ? 0x0F7F : 0x037F)     /* odd salt: round toward zero */

#endif
