/* The instruction exerciser: small inline-assembly tests of the integer IA-32 set whose
   results (values and architecturally defined flags) are compared with those captured from
   the host CPU (exerciser/expected.h, `make -C examples expected`).  Prints one line per
   test and "exerciser: N passed, M failed". */
#include "guest.h"
#include "expected.h"

#define ARITH 0x8D5u          /* CF PF AF ZF SF OF */
#define SZPC 0x0C5u           /* CF PF ZF SF: what shifts by more than 1 define */
#define CO 0x801u             /* CF OF: what rotates and multiplies define */

static u32 mix(u32 value, u32 flags, u32 mask) { return value ^ ((flags & mask) * 0x10001u); }

/* op src, dst with both in registers (operand size from the suffix: l, w or b, and the
   matching register modifier M: "", "w" or "b"); the flags are read with pushf right after. */
#define ALU_M(name, op, M, A, B, mask, pre) \
    static u32 name(void) { u32 a = (A), b = (B), f; \
        __asm__ volatile(pre op " %" M "2, %" M "0\n\tpushfl\n\tpopl %1" : "+q"(a), "=r"(f) : "q"(b) : "cc"); \
        return mix(a, f, mask); }
#define ALU(name, op, A, B, mask) ALU_M(name, op, "", A, B, mask, "")
#define ALU_CF(name, op, A, B, mask) ALU_M(name, op, "", A, B, mask, "stc\n\t")
#define UNARY_M(name, op, M, A, mask) \
    static u32 name(void) { u32 a = (A), f; \
        __asm__ volatile("clc\n\t" op " %" M "0\n\tpushfl\n\tpopl %1" : "+q"(a), "=r"(f) : : "cc"); \
        return mix(a, f, mask); }                   /* clc first: inc/dec keep CF */
#define SHIFT_M(name, op, M, A, N, mask) \
    static u32 name(void) { u32 a = (A), f; \
        __asm__ volatile(op " $" #N ", %" M "0\n\tpushfl\n\tpopl %1" : "+q"(a), "=r"(f) : : "cc"); \
        return mix(a, f, mask); }

ALU(add32, "addl", 0x7FFFFFFF, 1, ARITH)
ALU(add32_carry, "addl", 0xFFFFFFFF, 2, ARITH)
ALU_M(add16, "addw", "w", 0x12348000, 0x8000, ARITH, "")
ALU_M(add8, "addb", "b", 0x0000007F, 0x01, ARITH, "")
ALU_CF(adc32, "adcl", 0xFFFFFFFF, 0, ARITH)
ALU(sub32, "subl", 0x80000000, 1, ARITH)
ALU(sub32_borrow, "subl", 3, 5, ARITH)
ALU_CF(sbb32, "sbbl", 0, 0, ARITH)
ALU_M(sbb8, "sbbb", "b", 0x80, 0x7F, ARITH, "stc\n\t")
ALU(and32, "andl", 0xF0F0F0F0, 0x0FF00FF0, ARITH)
ALU(or32, "orl", 0x80000000, 0x1, ARITH)
ALU(xor32, "xorl", 0x5555AAAA, 0x5555AAAA, ARITH)
ALU(cmp32, "cmpl", 0x10, 0x20, ARITH)
ALU(test32, "testl", 0x80000001, 0x80000000, ARITH)
UNARY_M(inc32, "incl", "", 0x7FFFFFFF, ARITH)
UNARY_M(dec16, "decw", "w", 0x00010000, ARITH)
UNARY_M(neg32, "negl", "", 0x80000000, ARITH)
UNARY_M(neg_zero, "negl", "", 0, ARITH)
UNARY_M(not32, "notl", "", 0x0F0F1234, 0)
SHIFT_M(shl1, "shll", "", 0xC0000001, 1, ARITH & ~0x10u)
SHIFT_M(shl5, "shll", "", 0x87654321, 5, SZPC)
SHIFT_M(shr1, "shrl", "", 0x80000003, 1, ARITH & ~0x10u)
SHIFT_M(sar1, "sarl", "", 0x80000003, 1, ARITH & ~0x10u)
SHIFT_M(sar7, "sarl", "", 0x80001234, 7, SZPC)
SHIFT_M(shr8_16, "shrw", "w", 0x1234F0F0, 4, SZPC)
SHIFT_M(rol1, "roll", "", 0x80000001, 1, CO)
SHIFT_M(ror3, "rorl", "", 0x00000006, 3, 1)
SHIFT_M(rol8, "rolb", "b", 0x00000081, 1, CO)
ALU(bt_reg, "btl", 0x00000100, 8, 1)
ALU(bts_reg, "btsl", 0x00000000, 31, 1)
ALU(btr_reg, "btrl", 0xFFFFFFFF, 3, 1)
ALU(btc_reg, "btcl", 0x0000F000, 12, 1)
ALU(bsf_reg, "bsfl", 0, 0x00100000, 0x40)
ALU(bsr_reg, "bsrl", 0, 0x00100010, 0x40)
ALU(imul2, "imull", 0x10000, 0x10000, CO)
ALU(imul2_small, "imull", -7, 6, CO)

static u32 rcl_rcr(void)
{
    u32 a = 0x80000000, b = 0x00000001, f1, f2;
    __asm__ volatile("stc\n\trcll $1, %0\n\tpushfl\n\tpopl %2\n\tclc\n\trcrl $1, %1\n\tpushfl\n\tpopl %3"
                     : "+r"(a), "+r"(b), "=r"(f1), "=r"(f2) : : "cc");
    return mix(a, f1, CO) ^ mix(b, f2, 1) * 3;
}

static u32 shld_shrd(void)
{
    u32 a = 0x12345678, b = 0x9ABCDEF0, c = 0x0F0F0F0F, f;
    __asm__ volatile("shldl $8, %2, %0\n\tshrdl $12, %2, %1\n\tpushfl\n\tpopl %3"
                     : "+r"(a), "+r"(c), "+r"(b), "=r"(f) : : "cc");
    return a ^ (c * 7) ^ (f & SZPC);
}

static u32 mul_div(void)
{
    u32 lo = 0x89ABCDEF, hi, f, q, r;
    __asm__ volatile("mull %3\n\tpushfl\n\tpopl %2" : "+a"(lo), "=d"(hi), "=r"(f) : "r"(0x12345u) : "cc");
    u32 x = lo, y = hi;
    __asm__ volatile("divl %4" : "=a"(q), "=d"(r) : "a"(x), "d"(y & 0xFFF), "r"(0x7FFFu));
    return lo ^ hi ^ (f & CO) ^ q * 3 ^ r * 5;
}

static u32 idiv_signed(void)
{
    int q, r;
    __asm__ volatile("cltd\n\tidivl %3" : "=a"(q), "=d"(r) : "a"(-1000003), "r"(97));
    return (u32)q * 31 + (u32)r;
}

static u32 imul_one(void)
{
    u32 lo = 0xFFFFFFFE, hi, f;
    __asm__ volatile("imull %3\n\tpushfl\n\tpopl %2" : "+a"(lo), "=d"(hi), "=r"(f) : "r"(3u) : "cc");
    return lo ^ hi * 7 ^ (f & CO);
}

static u32 setcc_cmov(void)
{
    u32 out = 0, v = 5;
    u8 b1, b2, b3;
    __asm__ volatile("cmpl $7, %4\n\tsetl %0\n\tsetg %1\n\tsetbe %2\n\tmovl $99, %%ecx\n\tcmovl %%ecx, %3"
                     : "=q"(b1), "=q"(b2), "=q"(b3), "+r"(out) : "r"(v) : "ecx", "cc");
    return b1 | b2 << 1 | b3 << 2 | out << 8;
}

static u32 extend(void)
{
    u32 a, b, c, d;
    __asm__ volatile("movl $0x80, %%eax\n\tcbtw\n\tcwtl\n\tmovl %%eax, %0\n\tmovl $0x8000, %%eax\n\tcwtd\n\t"
                     "movl %%edx, %1\n\tmovl $-5, %%eax\n\tcltd\n\tmovl %%edx, %2\n\tmovsbl %b3, %3"
                     : "=r"(a), "=r"(b), "=r"(c), "=q"(d) : "3"(0xF0) : "eax", "edx");
    return a ^ b * 3 ^ c * 5 ^ d * 7;
}

static u32 movzx_movsx(void)
{
    u16 w = 0xFFFE;
    u32 z, s;
    __asm__ volatile("movzwl %2, %0\n\tmovswl %2, %1" : "=r"(z), "=r"(s) : "m"(w));
    return z ^ s * 3;
}

static u32 exchange(void)
{
    u32 a = 1, b = 2, m = 10, f;
    __asm__ volatile("xchgl %0, %1\n\txaddl %0, %2\n\tpushfl\n\tpopl %3" : "+r"(a), "+r"(b), "+m"(m), "=r"(f) : : "cc");
    return a ^ b << 8 ^ m << 16 ^ (f & ARITH);
}

static u32 cmpxchg_both(void)
{
    u32 mem = 5, acc = 5, f1, f2, newv = 9;
    __asm__ volatile("lock cmpxchgl %3, %1\n\tpushfl\n\tpopl %2" : "+a"(acc), "+m"(mem), "=r"(f1) : "r"(newv) : "cc");
    u32 acc2 = 1;
    __asm__ volatile("cmpxchgl %3, %1\n\tpushfl\n\tpopl %2" : "+a"(acc2), "+m"(mem), "=r"(f2) : "r"(newv) : "cc");
    return mem ^ acc << 4 ^ acc2 << 8 ^ (f1 & ARITH) ^ (f2 & ARITH) << 12;
}

static u32 cmpxchg8b_test(void)
{
    u64 mem = 0x1122334455667788ull;
    u32 lo = 0x55667788, hi = 0x11223344, f;
    __asm__ volatile("cmpxchg8b %0\n\tpushfl\n\tpopl %3" : "+m"(mem), "+a"(lo), "+d"(hi), "=r"(f)
                     : "b"(0xAAAAAAAAu), "c"(0xBBBBBBBBu) : "cc");
    return (u32)mem ^ (u32)(mem >> 32) ^ (f & 0x40);
}

static u32 bswap_lea(void)
{
    u32 a = 0x11223344, b = 3, r;
    __asm__ volatile("bswapl %0\n\tleal 7(%0,%2,4), %1" : "+r"(a), "=r"(r) : "r"(b));
    return a ^ r;
}

static u8 src_buf[64], dst_buf[64];

static u32 buffer_sum(const u8 *p, int n) { u32 s = 0; for (int i = 0; i < n; i++) s = s * 31 + p[i]; return s; }

static u32 rep_movs_stos(void)
{
    for (int i = 0; i < 64; i++) src_buf[i] = (u8)(i * 7 + 1);
    void *d = dst_buf, *s = src_buf;
    u32 n = 9;
    __asm__ volatile("cld\n\trep movsl" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    d = dst_buf + 40; n = 5;
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    d = dst_buf + 50; n = 3;
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(0xEE) : "memory");
    d = dst_buf + 56; n = 2;
    __asm__ volatile("rep stosl" : "+D"(d), "+c"(n) : "a"(0x01020304) : "memory");
    return buffer_sum(dst_buf, 64);
}

static u32 backwards_movsb(void)
{
    for (int i = 0; i < 64; i++) dst_buf[i] = 0;
    void *d = dst_buf + 15, *s = src_buf + 15;
    u32 n = 16;
    __asm__ volatile("std\n\trep movsb\n\tcld" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    return buffer_sum(dst_buf, 20) ^ (u32)((u8 *)d - dst_buf);
}

static u32 repe_cmpsb(void)
{
    static const u8 x[] = "vmm-guest-abc", y[] = "vmm-guest-abd";
    const void *p = x, *q = y;
    u32 n = sizeof(x), f;
    __asm__ volatile("cld\n\trepe cmpsb\n\tpushfl\n\tpopl %3" : "+S"(p), "+D"(q), "+c"(n), "=r"(f) : : "cc");
    return n ^ (u32)((const u8 *)p - x) << 8 ^ (f & ARITH) << 16;
}

static u32 repne_scasb(void)
{
    static const u8 s[] = "find the x here";
    const void *p = s;
    u32 n = sizeof(s);
    __asm__ volatile("cld\n\trepne scasb" : "+D"(p), "+c"(n) : "a"('x') : "cc");
    return n ^ (u32)((const u8 *)p - s) << 8;
}

static u32 lods_xlat(void)
{
    static const u8 table[] = "0123456789abcdef";
    const void *p = table + 3;
    u32 a = 0;
    __asm__ volatile("cld\n\tlodsb" : "+S"(p), "+a"(a));
    u32 x = 12;
    __asm__ volatile("xlatb" : "+a"(x) : "b"(table));
    return a ^ x << 8;
}

static u32 stack_ops(void)
{
    u32 a, b, c, f;
    __asm__ volatile("pushl $0x1234\n\tpushl $0x5678\n\tpopl %0\n\tpopl %1\n\t"
                     "movl $0x10, %%eax\n\tpushal\n\tmovl $0, %%eax\n\tpopal\n\tmovl %%eax, %2\n\t"
                     "pushfl\n\torl $0x1, (%%esp)\n\tpopfl\n\tpushfl\n\tpopl %3\n\tclc"
                     : "=r"(a), "=r"(b), "=m"(c), "=r"(f) : : "eax", "cc");
    return a ^ b << 4 ^ c << 8 ^ (f & 1) << 20;
}

static u32 __attribute__((noinline)) callee_pops(void)
{
    u32 r;
    __asm__ volatile("pushl $3\n\tpushl $4\n\tcall 1f\n\tjmp 2f\n1:\n\tmovl 4(%%esp), %0\n\taddl 8(%%esp), %0\n\tret $8\n2:"
                     : "=r"(r));
    return r;
}

static u32 enter_leave(void)
{
    u32 r;
    __asm__ volatile("pushl %%ebp\n\tmovl %%esp, %%ebp\n\tenter $16, $0\n\tmovl %%esp, %0\n\tsubl %%ebp, %0\n\tleave\n\tpopl %%ebp"
                     : "=r"(r));
    return r;
}

static u32 loops(void)
{
    u32 n = 10, count = 0, z = 0;
    __asm__ volatile("1:\n\tincl %1\n\tloop 1b" : "+c"(n), "+r"(count));
    n = 0;
    __asm__ volatile("jecxz 1f\n\tmovl $1, %1\n1:" : "+c"(n), "+r"(z));
    return count ^ z << 8;
}

static u32 lahf_sahf(void)
{
    u32 a = 0xD5 << 8, f;
    __asm__ volatile("sahf\n\tpushfl\n\tpopl %1\n\tcmpl $1, %%eax\n\tlahf" : "+a"(a), "=r"(f) : : "cc");
    return (a >> 8 & 0xD5) ^ (f & 0xD5) << 8;
}

static u32 adc_chain(void)
{
    u64 x = 0xFFFFFFFF00000001ull, y = 0x00000001FFFFFFFFull;
    return (u32)((x + y) >> 32) ^ (u32)(x + y);
}

static u32 cmc_stc(void)
{
    u32 f;
    __asm__ volatile("stc\n\tcmc\n\tcmc\n\tpushfl\n\tpopl %0\n\tclc" : "=r"(f) : : "cc");
    return f & 1;
}

static u32 word_ops(void)
{
    u32 a = 0xAAAA0001, f;
    __asm__ volatile("addw $0xFFFF, %w0\n\tincb %b0\n\tpushfl\n\tpopl %1" : "+q"(a), "=r"(f) : : "cc");
    return mix(a, f, ARITH);
}

struct test { const char *name; u32 (*fn)(void); };

static const struct test tests[] = {
    {"add32", add32}, {"add32_carry", add32_carry}, {"add16", add16}, {"add8", add8}, {"adc32", adc32},
    {"sub32", sub32}, {"sub32_borrow", sub32_borrow}, {"sbb32", sbb32}, {"sbb8", sbb8}, {"and32", and32},
    {"or32", or32}, {"xor32", xor32}, {"cmp32", cmp32}, {"test32", test32}, {"inc32", inc32},
    {"dec16", dec16}, {"neg32", neg32}, {"neg_zero", neg_zero}, {"not32", not32}, {"shl1", shl1},
    {"shl5", shl5}, {"shr1", shr1}, {"sar1", sar1}, {"sar7", sar7}, {"shr8_16", shr8_16}, {"rol1", rol1},
    {"ror3", ror3}, {"rol8", rol8}, {"bt_reg", bt_reg}, {"bts_reg", bts_reg}, {"btr_reg", btr_reg},
    {"btc_reg", btc_reg}, {"bsf_reg", bsf_reg}, {"bsr_reg", bsr_reg}, {"imul2", imul2},
    {"imul2_small", imul2_small}, {"rcl_rcr", rcl_rcr}, {"shld_shrd", shld_shrd}, {"mul_div", mul_div},
    {"idiv_signed", idiv_signed}, {"imul_one", imul_one}, {"setcc_cmov", setcc_cmov}, {"extend", extend},
    {"movzx_movsx", movzx_movsx}, {"exchange", exchange}, {"cmpxchg", cmpxchg_both},
    {"cmpxchg8b", cmpxchg8b_test}, {"bswap_lea", bswap_lea}, {"rep_movs_stos", rep_movs_stos},
    {"backwards_movsb", backwards_movsb}, {"repe_cmpsb", repe_cmpsb}, {"repne_scasb", repne_scasb},
    {"lods_xlat", lods_xlat}, {"stack_ops", stack_ops}, {"ret_imm16", callee_pops},
    {"enter_leave", enter_leave}, {"loops", loops}, {"lahf_sahf", lahf_sahf}, {"adc_chain", adc_chain},
    {"cmc_stc", cmc_stc}, {"word_ops", word_ops},
};
#define COUNT (sizeof(tests) / sizeof(tests[0]))

u32 guest_main(void)
{
    if (capturing_expected()) {
        put_str("/* Generated by `make -C examples expected`: results on the host CPU. */\n");
        put_str("static const u32 expected[] = {\n");
        for (unsigned i = 0; i < COUNT; i++) {
            put_str("    "); put_hex(tests[i].fn()); put_str(",   /* "); put_str(tests[i].name); put_str(" */\n");
        }
        put_str("};\n");
        return 0;
    }
    u32 passed = 0, failed = 0;
    for (unsigned i = 0; i < COUNT; i++) {
        u32 got = tests[i].fn();
        u32 want = i < sizeof(expected) / sizeof(expected[0]) ? expected[i] : ~got;
        if (got == want) {
            passed++;
            put_str("ok   "); put_str(tests[i].name); put_str("\n");
        } else {
            failed++;
            put_str("FAIL "); put_str(tests[i].name); put_str(" got "); put_hex(got);
            put_str(" want "); put_hex(want); put_str("\n");
        }
    }
    put_str("exerciser: "); put_dec(passed); put_str(" passed, "); put_dec(failed); put_str(" failed\n");
    return failed ? 1 : 0;
}
