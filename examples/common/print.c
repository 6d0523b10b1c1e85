/* Number formatting shared by the guest and host builds of the examples. */
#include "guest.h"

void put_str(const char *s) { while (*s) put_char(*s++); }

void put_hex(u32 v)
{
    put_str("0x");
    for (int shift = 28; shift >= 0; shift -= 4)
        put_char("0123456789abcdef"[(v >> shift) & 0xF]);
}

void put_dec(u32 v)
{
    char buf[12];
    int n = 0;
    do { buf[n++] = '0' + v % 10; v /= 10; } while (v);
    while (n) put_char(buf[--n]);
}
