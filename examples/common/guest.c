/* Freestanding guest side of the runtime: COM1 output, the multiboot command line,
   exit through QEMU's isa-debug-exit (port 0xf4: exit code = (status << 1) | 1). */
#include "guest.h"

#define COM1 0x3F8

static const char *cmdline = "";

static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static void serial_init(void)
{
    outb(COM1 + 1, 0x00);           /* no interrupts */
    outb(COM1 + 3, 0x80);           /* DLAB */
    outb(COM1 + 0, 0x01);           /* 115200 baud */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);           /* 8N1 */
    outb(COM1 + 2, 0xC7);           /* FIFO on, cleared */
}

void put_char(char c)
{
    while (!(inb(COM1 + 5) & 0x20))
        ;
    outb(COM1, (u8)c);
}

void exit_guest(u32 status)
{
    outb(0xF4, (u8)status);
    for (;;)
        __asm__ volatile("cli; hlt");
}

int capturing_expected(void) { return 0; }

/* Paging with an identity map of 4 KiB pages: the same program then runs through the MMU
   (every access translated), so its speed shows the cost of the software TLB. */
#define MAX_PAGING_MIB 64
static u32 page_directory[1024] __attribute__((aligned(4096)));
static u32 page_tables[MAX_PAGING_MIB / 4][1024] __attribute__((aligned(4096)));

void enable_paging(u32 mib)
{
    if (mib > MAX_PAGING_MIB) mib = MAX_PAGING_MIB;
    for (u32 page = 0; page < mib * 256; page++)
        page_tables[page / 1024][page % 1024] = (page << 12) | 3;       /* present, writable */
    for (u32 t = 0; t < (mib + 3) / 4; t++)
        page_directory[t] = (u32)page_tables[t] | 3;
    __asm__ volatile("mov %0, %%cr3\n\tmov %%cr0, %%eax\n\tor $0x80000000, %%eax\n\tmov %%eax, %%cr0"
                     : : "r"(page_directory) : "eax", "memory");
}

static int starts_with(const char *s, const char *key)
{
    while (*key) if (*s++ != *key++) return 0;
    return *s == '=';
}

u32 option(const char *key, u32 fallback)
{
    for (const char *p = cmdline; *p; p++) {
        if ((p == cmdline || p[-1] == ' ') && starts_with(p, key)) {
            u32 v = 0;
            for (p += 1; *p && *p != '='; p++) ;
            for (p++; *p >= '0' && *p <= '9'; p++) v = v * 10 + (*p - '0');
            return v;
        }
    }
    return fallback;
}

struct multiboot_info { u32 flags, mem_lower, mem_upper, boot_device, cmdline; };

u32 kmain(u32 magic, struct multiboot_info *mbi)
{
    serial_init();
    if (magic == 0x2BADB002 && (mbi->flags & 4))
        cmdline = (const char *)mbi->cmdline;
    return guest_main();
}
