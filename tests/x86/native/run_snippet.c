/* Runs a 32-bit code snippet natively, for tests/x86/hostfpu.py: the host CPU as the oracle.
 *
 * stdin:  u32 code length, the code (ending in ret), DATA_SIZE bytes of data.
 * stdout: the data region afterwards.
 * The data region is mapped at DATA, the code at CODE, as in the vmm run it is compared
 * with; ESI and EDI point into the data region as tests/x86/oracle.py's POINTERS do.
 * An x87 error the CPU reports (#MF: Linux sends SIGFPE at the waiting instruction) ends
 * the snippet there; stderr then says "sigfpe <offset of that instruction in the code>".
 * Build: gcc -m32 -O1 -o run_snippet run_snippet.c */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define DATA 0x10000u
#define DATA_SIZE 0x2000u
#define CODE 0x20000u

static sigjmp_buf trapped;
static volatile uint32_t trap_at;

static void on_sigfpe(int sig, siginfo_t *info, void *context) {
    (void)sig, (void)context;
    trap_at = (uint32_t)(uintptr_t)info->si_addr;
    siglongjmp(trapped, 1);
}

static int read_all(void *p, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = read(0, (char *)p + done, n - done);
        if (r <= 0) return -1;
        done += (size_t)r;
    }
    return 0;
}

int main(void) {
    uint32_t length;
    void *data = mmap((void *)DATA, DATA_SIZE, PROT_READ | PROT_WRITE,
                      MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *code = mmap((void *)CODE, 0x1000, PROT_READ | PROT_WRITE | PROT_EXEC,
                      MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data != (void *)DATA || code != (void *)CODE) return 2;
    if (read_all(&length, 4) || length > 0x1000 || read_all(code, length) || read_all(data, DATA_SIZE))
        return 3;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigfpe;
    action.sa_flags = SA_SIGINFO;
    sigaction(SIGFPE, &action, NULL);
    if (sigsetjmp(trapped, 1) == 0)
        __asm__ volatile("pushal\n\tmov %0, %%esi\n\tmov %1, %%edi\n\tcall *%2\n\tpopal"
                         :: "i"(DATA + 0x400), "i"(DATA + 0x1400), "a"(code) : "memory", "cc");
    else
        fprintf(stderr, "sigfpe %#x\n", trap_at - CODE);
    return write(1, data, DATA_SIZE) == DATA_SIZE ? 0 : 4;
}
