/* The smallest example guest: a greeting on COM1, then a clean exit. */
#include "guest.h"

u32 guest_main(void)
{
    put_str("Hello from a vmm guest!\n");
    return 0;
}
