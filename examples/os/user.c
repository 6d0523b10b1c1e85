/* The ring-3 tasks.  This file is compiled on its own and its sections renamed .user*
   (see the Makefile), so it is linked into pages the kernel maps user-accessible and
   read-only: the tasks keep their data on their stack and in their demand-paged region. */
#include "os.h"

/* int 0x80: the interrupt-gate path (DPL 3 gate, stack switch through TSS.ESP0). */
static u32 sys_int80(u32 nr, u32 a1, u32 a2)
{
    u32 ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a1), "S"(a2) : "memory");
    return ret;
}

/* sysenter: the fast path (SYSENTER_CS/ESP/EIP MSRs); the kernel returns with sysexit to
   EDX with ESP = ECX, so the caller saves them there. */
static u32 sys_fast(u32 nr, u32 a1, u32 a2)
{
    u32 ret;
    __asm__ volatile("mov %%esp, %%ecx\n\t"
                     "mov $1f, %%edx\n\t"
                     "sysenter\n"
                     "1:"
                     : "=a"(ret) : "a"(nr), "b"(a1), "S"(a2) : "ecx", "edx", "memory");
    return ret;
}

static u32 length(const char *s)
{
    u32 n = 0;
    while (s[n]) n++;
    return n;
}

static void say(const char *s) { sys_int80(SYS_WRITE, (u32)s, length(s)); }
static void say_fast(const char *s) { sys_fast(SYS_WRITE, (u32)s, length(s)); }

/* alpha (even salt) and beta (odd salt) run this same code, preempted by the timer. */
void worker_task(u32 salt)
{
    volatile u32 *page = (volatile u32 *)DEMAND_BASE;
    const u32 words = 4096 / sizeof(u32);
    say("hello via int 0x80\n");
    say_fast("hello via sysenter\n");

    /* Demand paging: four writes and one read of pages that are not mapped yet; each is one
       #PF that the kernel logs (address, error code) and answers with a zeroed frame.  Both
       tasks use the same virtual addresses with different values. */
    for (u32 i = 0; i < 4; i++)
        page[i * words] = salt * (i + 1);
    u32 untouched = page[4 * words];

    /* x87 state that must survive preemption: this task's control word (rounding mode) and
       two live stack registers.  The task then spins touching the FPU until the kernel has
       restored its state once (frstor after the other task took the FPU), and only then
       finishes the computation: sqrt(2) * 10^6, rounded by the task's control word. */
    u16 cw = WORKER_CW(salt), cw_after;
    u32 two = 2, million = 1000000, rounded, bits[2];
    __asm__ volatile("fninit\n\tfldcw %0\n\tfildl %1\n\tfsqrt\n\tfildl %2"
                     : : "m"(cw), "m"(two), "m"(million));
    while (sys_int80(SYS_INFO, INFO_FPU_RESTORES, 0) == 0)
        __asm__ volatile("fxch\n\tfxch");
    __asm__ volatile("fmulp\n\tfstl %0\n\tfistpl %1\n\tfnstcw %2"
                     : "=m"(bits), "=m"(rounded), "=m"(cw_after));

    /* Time slicing: run until the timer has interrupted this task in ring 3 twice. */
    while (sys_fast(SYS_INFO, INFO_PREEMPTIONS, 0) < 2)
        ;

    /* Read the pages back after the other task ran: each address space kept its own frames. */
    u32 sum = untouched;
    for (u32 i = 0; i < 4; i++)
        sum += page[i * words];

    sys_fast(SYS_RESULT, RES_FPU, rounded);
    sys_fast(SYS_RESULT, RES_FPU_BITS_HI, bits[1]);
    sys_fast(SYS_RESULT, RES_FPU_BITS_LO, bits[0]);
    sys_int80(SYS_RESULT, RES_FPU_CW, cw_after);
    sys_int80(SYS_RESULT, RES_PAGES, sum);
    sys_int80(SYS_EXIT, 0, 0);
}

/* The bad tasks: each does one thing ring 3 may not do and is killed by the kernel. */
void bad_task(u32 how)
{
    if (how == BAD_DIVIDE) {
        say("dividing by zero\n");
        __asm__ volatile("xor %%edx, %%edx\n\tdivl %1" : : "a"(1), "r"(0) : "edx");
    } else if (how == BAD_PORT) {
        say("writing the debug-exit port\n");      /* IOPL 0 and no I/O bitmap: #GP(0) */
        __asm__ volatile("outb %%al, $0xf4" : : "a"(0x55));
    } else {
        say("writing kernel memory\n");             /* present, supervisor-only: #PF err 7 */
        *(volatile u32 *)0x00100000 = 0;
    }
    sys_int80(SYS_EXIT, 1, 0);                      /* not reached */
}
