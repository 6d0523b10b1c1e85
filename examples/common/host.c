/* Host side of the runtime: the same examples as Linux programs (gcc -m32), so their
   results can be checked against the host CPU.  Options come as argv key=value words. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "guest.h"

static int host_argc;
static char **host_argv;

void put_char(char c) { (void)!write(1, &c, 1); }

void exit_guest(u32 status) { exit((int)status); }

int capturing_expected(void)
{
    for (int i = 1; i < host_argc; i++)
        if (!strcmp(host_argv[i], "--expected"))
            return 1;
    return 0;
}

u32 option(const char *key, u32 fallback)
{
    size_t n = strlen(key);
    for (int i = 1; i < host_argc; i++)
        if (!strncmp(host_argv[i], key, n) && host_argv[i][n] == '=')
            return (u32)strtoul(host_argv[i] + n + 1, 0, 10);
    return fallback;
}

int main(int argc, char **argv)
{
    host_argc = argc;
    host_argv = argv;
    exit_guest(guest_main());
}

void enable_paging(u32 mib) { (void)mib; }      /* the host process already runs paged */
