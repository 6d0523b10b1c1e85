/* A small protected-mode kernel that exercises what a PC and an i686 offer an OS:
   its own GDT (ring 0 and 3) and TSS, an IDT for every exception and the 16 remapped PIC
   IRQs, the PIT as a preemptive scheduler tick, paging (4 KiB tables, one 4 MiB PSE page,
   global kernel pages, a page directory per task), system calls by int 0x80 and sysenter,
   demand paging, lazy x87 switching through CR0.TS and #NM, user faults that kill only
   the task, and serial input by interrupt.  It ends with a PASS/FAIL line per check.

   Output is the same on every correct PC whatever the timing: tasks and the kernel's notes
   about them write into per-task buffers, printed in task order once all tasks are done,
   and no tick count or physical address is printed. */
#include "os.h"

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
#define READ_CR(n) ({ u32 v_; __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v_)); v_; })
#define WRITE_CR(n, v) __asm__ volatile("mov %0, %%cr" #n : : "r"(v) : "memory")
static inline void wrmsr(u32 msr, u32 lo) { __asm__ volatile("wrmsr" : : "c"(msr), "a"(lo), "d"(0)); }

#define CR0_MP (1u << 1)
#define CR0_EM (1u << 2)
#define CR0_TS (1u << 3)
#define CR0_NE (1u << 5)
#define CR0_WP (1u << 16)
#define CR0_PG (1u << 31)
#define CR4_PSE (1u << 4)
#define CR4_PGE (1u << 7)
#define PTE_P 0x001
#define PTE_W 0x002
#define PTE_U 0x004
#define PDE_PS 0x080
#define PTE_G 0x100

#define COM1 0x3F8
#define PIT_DIVISOR 100         /* 11.9 kHz: vmm's virtual clock runs at one instruction per ns,
                                   so a tick is ~84,000 instructions there (100 Hz would make the
                                   test runs on vmm's interpreter take minutes) */
#define ECHO_TICKS (3 * 11932)  /* wait up to ~3 s for the input's terminating newline */
#define WATCHDOG_TICKS 2000     /* tasks still running after ~0.17 s are stopped (they need a
                                   few ticks; a broken #NM or timer would keep them spinning) */
#define POOL_BASE 0x00400000u   /* the frame pool is the 4 MiB PSE page, mapped 1:1 */
#define POOL_END  0x00800000u
#define ALIAS     0x003FF000u   /* last 4 KiB page of the kernel's table, for the PSE check */

/* ---- tasks ------------------------------------------------------------------------------ */
enum { RUNNABLE, EXITED, KILLED };

struct task {
    u32 ksp;                        /* kernel stack pointer while switched out */
    u32 *pd;                        /* page directory (physical = virtual in the kernel) */
    const char *name;
    u32 state, exit_code, kill_vector, kill_err, kill_cr2;
    u32 preemptions, fpu_restores, int80_calls, sysenter_calls, demand_faults;
    u32 result[NRESULTS], results;  /* SYS_RESULT values, and a bit per result given */
    u32 fpu_used, out_len;
    u8 fpu[108] __attribute__((aligned(16)));   /* fnsave image */
    char out[1024];                 /* what the task and the kernel wrote about it */
    u32 kstack[1024] __attribute__((aligned(16)));
};

static const struct { const char *name; void (*entry)(u32); u32 arg; } programs[] = {
    {"alpha", worker_task, 0x1000}, {"beta", worker_task, 0x2001},
    {"bad-div", bad_task, BAD_DIVIDE}, {"bad-gp", bad_task, BAD_PORT}, {"bad-pf", bad_task, BAD_KERNEL_WRITE},
};
#define NTASKS (sizeof programs / sizeof programs[0])
static struct task tasks[NTASKS], boot;        /* boot: kmain's own context, the idle task */
static struct task *cur = &boot, *fpu_owner, *sink;
static volatile u32 ticks;

/* ---- output: COM1, or the buffer of the task being written about ------------------------ */
void put_char(char c)
{
    if (sink) {
        if (sink->out_len < sizeof sink->out) sink->out[sink->out_len++] = c;
        return;
    }
    while (!(inb(COM1 + 5) & 0x20))
        ;
    outb(COM1, (u8)c);
}

void exit_guest(u32 status)
{
    outb(0xF4, (u8)status);
    for (;;) __asm__ volatile("cli; hlt");
}

static void flush_task_output(struct task *t)
{
    for (u32 i = 0; i < t->out_len; i++) {
        if (i == 0 || t->out[i - 1] == '\n') { put_str(t->name); put_str(": "); }
        put_char(t->out[i]);
    }
}

/* ---- serial input by interrupt (IRQ 4): bytes wait in a ring until the echo phase -------- */
static volatile u8 rx[256];
static volatile u32 rx_head, rx_tail;

static void uart_init(void)
{
    /* The FIFO control register is left alone: switching the FIFOs on would discard a byte
       that arrived before the kernel started.  Receive interrupts are enabled only once the
       PIC is set up (kmain): its initialisation resets the edge detector, and an edge the
       line made before that would be lost. */
    outb(COM1 + 1, 0x00);           /* no interrupts yet */
    outb(COM1 + 3, 0x80);           /* DLAB: 115200 baud */
    outb(COM1 + 0, 0x01);
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);           /* 8N1 */
    outb(COM1 + 4, 0x0B);           /* DTR, RTS, OUT2 (gates the IRQ line to the PIC) */
}

static void uart_irq(void)
{
    while (inb(COM1 + 5) & 1) {
        u8 c = inb(COM1);
        if (rx_head - rx_tail < sizeof rx) rx[rx_head++ % sizeof rx] = c;
    }
}

/* ---- descriptors: GDT with ring 0 and 3 segments and the TSS, IDT ----------------------- */
static struct {
    u32 link, esp0, ss0, unused[22];
    u16 trap, iomap;
} tss;
static u64 gdt[6];
static struct { u16 off_lo, sel; u8 zero, type; u16 off_hi; } idt[256];
extern const u32 isr_table[49];
extern char sysenter_entry[], trap_return[], __user_start[], __user_end[];
void switch_to(u32 *save_esp, u32 next_esp);

static u64 descriptor(u32 base, u32 limit, u32 type)   /* type: access byte | flags << 8 */
{
    return (limit & 0xFFFF) | (u64)(base & 0xFFFFFF) << 16 | (u64)(type & 0xFF) << 40 |
           (u64)(limit >> 16 & 0xF) << 48 | (u64)(type >> 8 & 0xF) << 52 | (u64)(base >> 24) << 56;
}

static void load_descriptor_tables(void)
{
    struct __attribute__((packed)) { u16 limit; u32 base; } gdtr = {sizeof gdt - 1, (u32)gdt},
                                                                idtr = {sizeof idt - 1, (u32)idt};
    gdt[1] = descriptor(0, 0xFFFFF, 0xC9A);            /* ring 0 code, 4 GiB */
    gdt[2] = descriptor(0, 0xFFFFF, 0xC92);            /* ring 0 data */
    gdt[3] = descriptor(0, 0xFFFFF, 0xCFA);            /* ring 3 code */
    gdt[4] = descriptor(0, 0xFFFFF, 0xCF2);            /* ring 3 data */
    gdt[5] = descriptor((u32)&tss, sizeof tss - 1, 0x089);
    tss.ss0 = KERNEL_DS;
    tss.iomap = sizeof tss;                            /* no I/O bitmap: ring 3 port I/O is #GP */
    for (u32 v = 0; v < 49; v++) {
        u32 vector = v < 48 ? v : 0x80, off = isr_table[v];
        idt[vector].off_lo = off & 0xFFFF;
        idt[vector].off_hi = off >> 16;
        idt[vector].sel = KERNEL_CS;
        idt[vector].type = vector == 0x80 ? 0xEE : 0x8E;   /* interrupt gates; only 0x80 is DPL 3 */
    }
    __asm__ volatile("lgdt %0\n\tlidt %1\n\t"
                     "ljmp %2, $1f\n1:\t"
                     "mov %3, %%ds\n\tmov %3, %%es\n\tmov %3, %%ss\n\tmov %3, %%fs\n\tmov %3, %%gs\n\t"
                     "ltr %w4"
                     : : "m"(gdtr), "m"(idtr), "i"(KERNEL_CS), "r"(KERNEL_DS), "r"(TSS_SEL) : "memory");
}

/* ---- PIC (IRQs 0-15 at vectors 32-47) and PIT channel 0 -------------------------------- */
static void pic_pit_init(void)
{
    outb(0x20, 0x11); outb(0xA0, 0x11);     /* ICW1: edge triggered, cascade, ICW4 follows */
    outb(0x21, 0x20); outb(0xA1, 0x28);     /* ICW2: vector bases */
    outb(0x21, 0x04); outb(0xA1, 0x02);     /* ICW3: slave on IRQ 2 */
    outb(0x21, 0x01); outb(0xA1, 0x01);     /* ICW4: 8086 mode */
    outb(0x21, (u8)~(1 << 0 | 1 << 2 | 1 << 4)); /* timer, cascade, COM1 */
    outb(0xA1, 0xFF);
    outb(0x43, 0x34);                       /* channel 0, lo/hi byte, mode 2 (rate generator) */
    outb(0x40, PIT_DIVISOR & 0xFF);
    outb(0x40, PIT_DIVISOR >> 8);
}

/* ---- paging ----------------------------------------------------------------------------- */
static u32 kernel_pt[1024] __attribute__((aligned(4096)));
static u32 *kernel_pd, next_frame = POOL_BASE;

static u32 *alloc_frame(void)
{
    u32 *frame = (u32 *)next_frame;
    if (next_frame >= POOL_END) { put_str("os: out of frames\n"); exit_guest(3); }
    next_frame += 4096;
    for (u32 i = 0; i < 1024; i++) frame[i] = 0;
    return frame;
}

/* A directory sharing the kernel: the first 4 MiB through kernel_pt (global supervisor
   pages, page 0 absent to catch null pointers, the user code read-only for ring 3), the
   next 4 MiB as one global 4 MiB page holding the frame pool. */
static u32 *new_directory(void)
{
    u32 *pd = alloc_frame();
    pd[0] = (u32)kernel_pt | PTE_P | PTE_W | PTE_U;
    pd[1] = POOL_BASE | PTE_P | PTE_W | PDE_PS | PTE_G;
    return pd;
}

static void paging_init(void)
{
    for (u32 page = 1; page < 1024; page++) {
        u32 addr = page << 12;
        int user = addr >= (u32)__user_start && addr < (u32)__user_end;
        kernel_pt[page] = addr | PTE_P | (user ? PTE_U : PTE_W | PTE_G);
    }
    kernel_pd = new_directory();
    WRITE_CR(3, (u32)kernel_pd);
    WRITE_CR(4, READ_CR(4) | CR4_PSE | CR4_PGE);
    WRITE_CR(0, (READ_CR(0) & ~CR0_EM) | CR0_PG | CR0_WP | CR0_NE | CR0_MP);
}

/* The 4 MiB page really maps 4 MiB: a pool frame written through a 4 KiB alias in
   kernel_pt reads back through the PSE mapping, and the other way round. */
static int pse_alias_check(void)
{
    u32 *frame = alloc_frame();
    volatile u32 *alias = (volatile u32 *)ALIAS, *direct = frame;
    kernel_pt[ALIAS >> 12] = (u32)frame | PTE_P | PTE_W;
    __asm__ volatile("invlpg (%0)" : : "r"(ALIAS) : "memory");
    alias[5] = 0x5A5A1234;
    int ok = direct[5] == 0x5A5A1234;
    direct[6] = 0xC0FFEE;
    ok = ok && alias[6] == 0xC0FFEE;
    kernel_pt[ALIAS >> 12] = 0;
    __asm__ volatile("invlpg (%0)" : : "r"(ALIAS) : "memory");
    return ok;
}

/* ---- scheduling: round robin over runnable tasks, the boot context when none is left ---- */
static void schedule(void)
{
    struct task *next = &boot, *prev = cur;
    u32 from = cur == &boot ? NTASKS - 1 : (u32)(cur - tasks);
    for (u32 i = 1; i <= NTASKS; i++)
        if (tasks[(from + i) % NTASKS].state == RUNNABLE) { next = &tasks[(from + i) % NTASKS]; break; }
    if (next == cur) return;
    cur = next;
    WRITE_CR(3, (u32)(next == &boot ? kernel_pd : next->pd));  /* global kernel pages stay in the TLB */
    tss.esp0 = (u32)(next->kstack + 1024);
    wrmsr(0x175, tss.esp0);                                    /* SYSENTER_ESP follows the task */
    WRITE_CR(0, READ_CR(0) | CR0_TS);                          /* the next x87 use raises #NM */
    switch_to(&prev->ksp, next->ksp);
}

struct frame {
    u32 edi, esi, ebp, esp_, ebx, edx, ecx, eax;   /* pusha */
    u32 es, ds, vector, err;
    u32 eip, cs, eflags, esp, ss;                  /* esp, ss: only when coming from ring 3 */
};

static void create_task(struct task *t, const char *name, void (*entry)(u32), u32 arg)
{
    t->name = name;
    t->pd = new_directory();
    u32 *user_pt = alloc_frame(), *stack = alloc_frame();
    t->pd[USER_BASE >> 22] = (u32)user_pt | PTE_P | PTE_W | PTE_U;
    user_pt[((USER_STACK - USER_BASE) >> 12) - 1] = (u32)stack | PTE_P | PTE_W | PTE_U;
    stack[1023] = arg;                              /* entry(arg), returning to address 0 */
    /* The kernel stack as switch_to leaves it: four callee-saved registers, trap_return,
       then a trap frame that irets to ring 3 at entry with interrupts on. */
    struct frame *f = (struct frame *)(t->kstack + 1024) - 1;
    *f = (struct frame){.es = USER_DS, .ds = USER_DS, .eip = (u32)entry, .cs = USER_CS,
                        .eflags = 0x202, .esp = USER_STACK - 8, .ss = USER_DS};
    u32 *sp = (u32 *)f;
    *--sp = (u32)trap_return;
    sp -= 4;
    t->ksp = (u32)sp;
}

static void end_task(u32 state)
{
    cur->state = state;
    if (fpu_owner == cur) fpu_owner = 0;
    schedule();                                     /* never comes back */
}

/* ---- system calls (int 0x80 and sysenter share this) ----------------------------------- */
static int user_buffer(u32 p, u32 n)
{
    int in_code = p >= (u32)__user_start && p + n <= (u32)__user_end;
    int in_region = p >= USER_BASE && p + n <= USER_END;
    return n <= 256 && p + n >= p && (in_code || in_region);
}

static const char *const result_names[NRESULTS] = {"x87 rounded", "x87 double lo", "x87 double hi",
                                                   "x87 control word", "page sum"};

static u32 syscall(u32 nr, u32 a1, u32 a2)
{
    switch (nr) {
    case SYS_WRITE:
        if (!user_buffer(a1, a2)) return -1u;
        sink = cur;
        for (u32 i = 0; i < a2; i++) put_char(((const char *)a1)[i]);
        sink = 0;
        return a2;
    case SYS_EXIT:
        cur->exit_code = a1;
        sink = cur; put_str("kernel: exit "); put_dec(a1); put_char('\n'); sink = 0;
        end_task(EXITED);
        return 0;
    case SYS_INFO:
        return a1 == INFO_PREEMPTIONS ? cur->preemptions : cur->fpu_restores;
    case SYS_RESULT:
        if (a1 >= NRESULTS) return -1u;
        cur->result[a1] = a2;
        cur->results |= 1u << a1;
        sink = cur;
        put_str("kernel: result "); put_str(result_names[a1]); put_str(" = "); put_hex(a2); put_char('\n');
        sink = 0;
        return 0;
    }
    return -1u;
}

u32 sysenter_call(u32 nr, u32 a1, u32 a2)          /* from sysenter_entry (entry.S) */
{
    cur->sysenter_calls++;
    return syscall(nr, a1, a2);
}

/* ---- traps ---------------------------------------------------------------------------- */
static const char *const exception_names[20] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
    "#DF", "#09", "#TS", "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM"};

static void report_fault(struct frame *f, u32 cr2)
{
    put_str(f->vector < 20 ? exception_names[f->vector] : "exception");
    put_str(" err "); put_hex(f->err);
    put_str(" eip "); put_hex(f->eip);
    if (f->vector == 14) { put_str(" cr2 "); put_hex(cr2); }
}

/* #PF on an absent page of the task's demand region: map a zeroed frame and retry. */
static int demand_page(struct frame *f, u32 addr)
{
    if (cur == &boot || f->err & PTE_P || addr < DEMAND_BASE || addr >= DEMAND_BASE + DEMAND_PAGES * 4096)
        return 0;
    u32 *user_pt = (u32 *)(cur->pd[USER_BASE >> 22] & ~0xFFFu);
    user_pt[(addr - USER_BASE) >> 12] = (u32)alloc_frame() | PTE_P | PTE_W | PTE_U;
    cur->demand_faults++;
    sink = cur;
    put_str("kernel: #PF at "); put_hex(addr); put_str(" err "); put_hex(f->err); put_str(": mapped a zeroed page\n");
    sink = 0;
    return 1;
}

/* #NM: the task touched the x87 after a switch.  Save the owner's state, restore ours. */
static void fpu_switch(void)
{
    __asm__ volatile("clts");
    if (fpu_owner == cur) return;
    if (fpu_owner) __asm__ volatile("fnsave %0" : "=m"(fpu_owner->fpu));
    if (cur->fpu_used) {
        __asm__ volatile("frstor %0" : : "m"(cur->fpu));
        cur->fpu_restores++;
    } else {
        __asm__ volatile("fninit");
        cur->fpu_used = 1;
    }
    fpu_owner = cur;
}

static void watchdog(void)
{
    for (u32 i = 0; i < NTASKS; i++)
        if (tasks[i].state == RUNNABLE) {
            tasks[i].state = KILLED;
            tasks[i].kill_vector = -1u;
            sink = &tasks[i]; put_str("kernel: stopped by the watchdog\n"); sink = 0;
        }
    fpu_owner = 0;
}

static void irq(struct frame *f)
{
    u32 line = f->vector - 32;
    if (line == 4) uart_irq();
    if (line >= 8) outb(0xA0, 0x20);
    outb(0x20, 0x20);                               /* EOI before a switch: it may be long */
    if (line == 0) {
        ticks++;
        if ((f->cs & 3) == 3) cur->preemptions++;
        if (ticks == WATCHDOG_TICKS) watchdog();
        schedule();
    }
}

void trap(struct frame *f)                          /* from trap_common (entry.S) */
{
    u32 cr2 = READ_CR(2);
    if (f->vector >= 32 && f->vector < 48)
        irq(f);
    else if (f->vector == 0x80) {
        cur->int80_calls++;
        f->eax = syscall(f->eax, f->ebx, f->esi);
    } else if (f->vector == 7 && (f->cs & 3) == 3)
        fpu_switch();
    else if (f->vector == 14 && demand_page(f, cr2))
        return;
    else if ((f->cs & 3) == 3) {                    /* a user fault kills only that task */
        cur->kill_vector = f->vector;
        cur->kill_err = f->err;
        cur->kill_cr2 = cr2;
        sink = cur; put_str("kernel: killed by "); report_fault(f, cr2); put_char('\n'); sink = 0;
        end_task(KILLED);
    } else {
        put_str("os: PANIC: ring 0 "); report_fault(f, cr2); put_char('\n');
        exit_guest(3);
    }
}

/* ---- the self-check --------------------------------------------------------------------- */
static u32 checks, failures;

static void check(const char *who, const char *what, int ok)
{
    put_str(ok ? "PASS " : "FAIL ");
    if (who) { put_str(who); put_str(": "); }
    put_str(what);
    put_char('\n');
    checks++;
    failures += !ok;
}

static void check_worker(struct task *t, u32 salt, u32 rounded)
{
    check(t->name, "ran to its exit", t->state == EXITED && t->exit_code == 0 && t->results == (1u << NRESULTS) - 1);
    check(t->name, "system calls by int 0x80 and by sysenter", t->int80_calls && t->sysenter_calls);
    check(t->name, "5 demand-paged faults; own data back after the other task wrote the same addresses",
          t->demand_faults == 5 && t->result[RES_PAGES] == salt * 10);
    check(t->name, salt & 1 ? "x87 sqrt(2)*1e6 rounded toward zero = 1414213, control word kept"
                            : "x87 sqrt(2)*1e6 rounded to nearest = 1414214, control word kept",
          t->result[RES_FPU] == rounded && t->result[RES_FPU_CW] == WORKER_CW(salt));
    check(t->name, "x87 state restored lazily (#NM, fnsave/frstor) after the other task used it",
          t->fpu_restores >= 1);
    check(t->name, "preempted by the timer in ring 3 at least twice", t->preemptions >= 2);
}

static void check_killed(struct task *t, u32 vector, u32 err, u32 cr2, const char *what)
{
    check(t->name, what, t->state == KILLED && t->kill_vector == vector && t->kill_err == err &&
                         (vector != 14 || t->kill_cr2 == cr2));
}

static int cpu_features_present(void)
{
    u32 a, b, c, d;
    const u32 want = 1 << 0 | 1 << 3 | 1 << 4 | 1 << 5 | 1 << 11 | 1 << 13 | 1 << 15;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1));
    return (d & want) == want;
}

/* ---- echo: serial input, received by IRQ 4, printed until a newline or ~3 s pass ---------- */
static void echo(void)
{
    u32 start = ticks, count = 0, ended = 0;
    put_str("os: echo> ");
    while (!ended && ticks - start < ECHO_TICKS) {
        if (rx_tail == rx_head) {
            __asm__ volatile("sti; hlt; cli");      /* sti's shadow: no wake-up is lost */
            continue;
        }
        u8 c = rx[rx_tail++ % sizeof rx];
        if (c == '\n' || c == '\r') ended = 1;
        else { put_char(c >= 0x20 && c < 0x7F ? c : '?'); count++; }
    }
    put_str("\nos: echo: "); put_dec(count);
    put_str(ended ? " bytes by interrupt, ended by newline\n" : " bytes by interrupt, timed out\n");
}

u32 kmain(void)                                     /* from start.S, interrupts off */
{
    uart_init();
    put_str("os: booting\n");
    check(0, "cpuid reports fpu, pse, tsc, msr, sep, pge, cmov", cpu_features_present());
    load_descriptor_tables();
    pic_pit_init();
    outb(COM1 + 1, 0x01);                           /* UART: interrupt on received data */
    paging_init();
    check(0, "a 4 MiB page (pse) and a 4 KiB alias reach the same frame", pse_alias_check());
    wrmsr(0x174, KERNEL_CS);                        /* SYSENTER_CS; SS is CS + 8 */
    wrmsr(0x176, (u32)sysenter_entry);
    for (u32 i = 0; i < NTASKS; i++) create_task(&tasks[i], programs[i].name, programs[i].entry, programs[i].arg);
    put_str("os: running 5 ring-3 tasks\n");
    schedule();                                     /* back here once every task has ended */
    for (u32 i = 0; i < NTASKS; i++) flush_task_output(&tasks[i]);
    echo();

    check_worker(&tasks[0], programs[0].arg, 1414214);
    check_worker(&tasks[1], programs[1].arg, 1414213);
    check_killed(&tasks[2], 0, 0, 0, "killed by #DE");
    check_killed(&tasks[3], 13, 0, 0, "killed by #GP(0) for port I/O");
    check_killed(&tasks[4], 14, 7, 0x00100000, "killed by #PF (err 7: present, write, user) at 0x00100000");
    if (failures) { put_str("os: "); put_dec(failures); put_str(" of "); put_dec(checks); put_str(" checks failed\n"); }
    else { put_str("os: all "); put_dec(checks); put_str(" checks passed\n"); }
    return failures ? 1 : 0;
}
