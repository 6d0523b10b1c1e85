"""Hypothesis strategies and the one check every instruction test calls.

`check(engine, asm, data)` draws random registers (pointer registers into the
data region), random arithmetic flags (DF clear unless asked), random data
memory, runs `asm` on Unicorn and on `engine`, and asserts identical results.

Example:
    @given(data=st.data())
    def test_add(engine, data):
        check(engine, "add eax, ebx", data)
"""

import random

from hypothesis import strategies as st

from .oracle import GPRS, POINTERS, STACK_TOP, DATA_SIZE, assemble, assert_same, run_unicorn, run_vmm

u32 = st.integers(0, 0xFFFFFFFF)
INTERESTING = st.sampled_from([0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
                               0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFE, 0xFFFFFFFF])
VALUE = st.one_of(u32, INTERESTING, st.integers(0, 40))
ARITH_FLAGS = st.integers(0, 0xFFF).map(lambda f: (f & 0x8D5) | 0x2)


# Mnemonic prefixes of forms that use memory without a bracketed operand (the stack, strings).
IMPLICIT_MEMORY = ("push", "pop", "call", "ret", "enter", "leave", "int", "iret",
                   "movs", "stos", "lods", "scas", "cmps", "ins", "outs", "xlat")


def pointers_free(asm):
    """True if `asm` touches no memory, so ESI, EDI, EBP and ESP may hold any value."""
    words = asm.replace(",", " ").split()
    return ("[" not in asm and ".byte" not in asm           # raw encodings may have memory operands
            and not any(word.startswith(IMPLICIT_MEMORY) for word in words))


def check(engine, asm, data, regs=None, df=False, oracle_asm=None):
    """Differential run of `asm`; `regs` maps register names to fixed values or strategies.
    Registers not given are random; ESI, EDI, EBP and ESP point into the data region and the
    stack only if the snippet touches memory.  `oracle_asm`, if given, is what Unicorn runs
    instead: an encoding of the same length that means on Unicorn's CPU model what `asm`
    means on vmm's."""
    regs = dict(regs or {})
    initial = {}
    free = pointers_free(asm)
    for name in GPRS:
        chosen = regs.get(name)
        if chosen is None and free:
            chosen = VALUE
        elif chosen is None:
            chosen = STACK_TOP if name == "esp" else POINTERS.get(name, VALUE)
        initial[name] = data.draw(chosen, label=name) if isinstance(chosen, st.SearchStrategy) else chosen
    eflags = data.draw(ARITH_FLAGS, label="eflags")
    if df:
        eflags |= data.draw(st.sampled_from([0, 0x400]), label="DF")
    seed = data.draw(st.integers(0, 2**32 - 1), label="memory seed")   # 8 KiB drawn whole is too big
    memory = random.Random(seed).randbytes(DATA_SIZE)
    code = assemble(asm)
    oracle = run_unicorn(assemble(oracle_asm) if oracle_asm else code, initial, eflags, memory)
    ours = run_vmm(engine, code, initial, eflags, memory)
    assert_same(asm, oracle, ours, {k: hex(v) for k, v in initial.items()} | {"eflags": hex(eflags)})
