/* The example guests' tiny runtime: output, numbers, command-line options, exit.
   Built twice: freestanding for the guest (guest.c: COM1 and isa-debug-exit) and as a
   Linux program (host.c: stdout and exit) so results can be compared with the host CPU. */
#ifndef GUEST_H
#define GUEST_H

typedef unsigned int u32;
typedef unsigned short u16;
typedef unsigned char u8;
typedef unsigned long long u64;

void put_char(char c);
void put_str(const char *s);
void put_hex(u32 v);
void put_dec(u32 v);
u32 option(const char *key, u32 fallback);   /* key=value on the command line */
void exit_guest(u32 status);
void enable_paging(u32 mib);                 /* identity-map the first mib MiB with 4 KiB pages, CR0.PG on */
int capturing_expected(void);                 /* host build run with --expected: print expected.h */

/* Entry point of every example: kmain(argc-like setup done), returns the exit status. */
u32 guest_main(void);

#endif
