"""Segment limit and type checks on memory accesses (vmm/x86/segaccess.py), on every engine,
in ring-3 guests (tests/x86/ringguest.py): expand-up and expand-down limits, read-only data,
code segments, null selectors, SS (#SS(0) for pushes, pops, calls, returns, EBP-based and
ss: operands), far returns, and the new stack of a call gate (#SS(new SS)).  Expected values
are the SDM's (vol. 3, 5.3-5.4, 6.15): Unicorn and QEMU do not check data accesses against
segment limits, so neither is an oracle here (test_descriptors.py keeps Unicorn for the
loads).  The jit engines also show that a block translated while a segment was flat is not
reused once it is not (the segment bits of the translation mode)."""

import struct

import pytest

from tests.asmguest import FLAT_TABLES, new_machine, run_asm
from tests.x86.ringguest import (GDT_BASE, KCODE, RING3_STACK, TSS_BASE, UCODE, descriptor, frame, gate,
                                 registers, ring_machine)
from tests.x86.test_protection_qemu import _image as scenario_image
from vmm.x86.segaccess import is_flat

GP, SS = 13, 12
SEG, STACK_SEG, RING0_STACK_SEG = 0x38, 0x40, 0x48      # descriptors under test (ring 3, ring 0)
BASE = 0x50000
HANDLERS = """
gp_entry:                         ; note the vector, make DS usable for the recorder, record
    push 13
    jmp fix_ds
ss_entry:
    push 12
fix_ds:
    push eax
    mov ax, 0x10
    mov ds, ax
    pop eax
    pop dword ptr [0x20100]
    jmp record
"""
VECTOR_AT = 0x20100


def data(limit, access=0xF2, flags=0x4):
    """A ring-3 data descriptor at BASE: access 0xF2 read/write, 0xF0 read-only, 0xF6
    read/write expand-down; flags 0x4 is B (0 for a 16-bit expand-down bound)."""
    return descriptor(BASE, limit, access, flags)


def guest(engine, user, gdt, handlers="", kernel=""):
    """A ring-3 guest whose #GP and #SS handlers record what they found (with the vector)."""
    return ring_machine(engine, user=user, kernel=kernel, handlers=HANDLERS + handlers, gdt=gdt,
                        idt={GP: ("gp_entry", 0xE, 0), SS: ("ss_entry", 0xE, 0)})


def run_case(engine, setup, access, gdt):
    """`setup`, then `access` at `fault:`, in ring 3: (vector of the fault at `fault:` with
    error code 0, or None if the code ran on to its end; the registers the recorder saw)."""
    m = guest(engine, f"{setup}\nmov ebx, 1\nfault:\n{access}\nmov ebx, 2", gdt)
    result = m.run(max_insns=20_000)
    assert result.reason == "halt", result.message
    words, regs = frame(m), registers(m)
    if regs["ebx"] == 2:
        assert words[:2] == (m.labels["user_end"], UCODE)
        return None, regs
    assert (words[0], words[1], words[2]) == (0, m.labels["fault"], UCODE), words
    return struct.unpack("<I", m.mem_read(VECTOR_AT, 4))[0], regs


LOAD_FS = f"mov ax, {SEG | 3}\nmov fs, ax"
EXPAND_UP = [("mov eax, fs:[0xffc]", None), ("mov eax, fs:[0xffd]", GP), ("mov al, fs:[0xfff]", None),
             ("mov al, fs:[0x1000]", GP), ("mov fs:[0xffe], ax", None), ("mov dword ptr fs:[0xffe], eax", GP),
             ("add fs:[0xffd], eax", GP), ("push dword ptr fs:[0xffd]", GP), ("mov eax, fs:[0xffffffff]", GP)]


@pytest.mark.parametrize("access, vector", EXPAND_UP)
def test_expand_up_limit(engine, access, vector):
    """Offsets 0..limit: an access whose last byte is beyond the limit is #GP(0)."""
    assert run_case(engine, LOAD_FS, access, {SEG: data(0xFFF)})[0] == vector


EXPAND_DOWN = [("mov eax, fs:[0x1000]", None), ("mov eax, fs:[0xfff]", GP), ("mov al, fs:[0x800]", GP),
               ("mov eax, fs:[0xfffffffc]", None), ("mov eax, fs:[0xfffffffd]", GP)]
EXPAND_DOWN_16 = [("mov eax, fs:[0xfffc]", None), ("mov eax, fs:[0xfffd]", GP), ("mov al, fs:[0x10000]", GP),
                  ("mov al, fs:[0x1000]", None)]


@pytest.mark.parametrize("access, vector", EXPAND_DOWN)
def test_expand_down_limit(engine, access, vector):
    """Expand-down with B set: offsets limit+1..0xFFFFFFFF, the last byte included."""
    assert run_case(engine, LOAD_FS, access, {SEG: data(0xFFF, 0xF6)})[0] == vector


@pytest.mark.parametrize("access, vector", EXPAND_DOWN_16)
def test_expand_down_limit_with_b_clear(engine, access, vector):
    """Expand-down with B clear: offsets limit+1..0xFFFF."""
    assert run_case(engine, LOAD_FS, access, {SEG: data(0xFFF, 0xF6, flags=0)})[0] == vector


def test_four_gib_segment_wraps(engine):
    """A 4 GiB expand-up segment with a base: a dword at offset 0xFFFFFFFE is not checked
    and wraps round to base - 2 (Bochs and QEMU wrap too)."""
    setup = LOAD_FS + "\nmov dword ptr fs:[0xfffffffe], 0x11223344"
    vector, regs = run_case(engine, setup, f"mov ecx, dword ptr [{BASE - 2:#x}]", {SEG: descriptor(BASE, 0xFFFFFFFF, 0xF2)})
    assert (vector, regs["ecx"]) == (None, 0x11223344)


READ_ONLY = [("mov eax, fs:[0]", None), ("cmp fs:[0], eax", None), ("bt dword ptr fs:[0], eax", None),
             ("fld dword ptr fs:[0]", None), ("mov fs:[0], eax", GP), ("inc dword ptr fs:[0]", GP),
             ("bts dword ptr fs:[0], eax", GP), ("xchg fs:[0], eax", GP), ("fnstcw word ptr fs:[0]", GP)]


@pytest.mark.parametrize("access, vector", READ_ONLY)
def test_read_only_data(engine, access, vector):
    """Reads, compares and bit tests pass; anything that writes is #GP(0)."""
    assert run_case(engine, LOAD_FS + "\nxor eax, eax", access, {SEG: data(0xFFF, 0xF0)})[0] == vector


@pytest.mark.parametrize("access, vector", [("mov eax, fs:[0x10]", None), ("mov fs:[0x10], eax", GP),
                                            ("mov eax, cs:[0x1000]", None), ("mov cs:[0x1000], eax", GP)])
def test_code_segments_are_read_only(engine, access, vector):
    """Readable code in FS, and CS itself: reads pass, writes are #GP(0)."""
    assert run_case(engine, LOAD_FS, access, {SEG: descriptor(BASE, 0xFFFF, 0xFA, flags=0x4)})[0] == vector


@pytest.mark.parametrize("setup, access", [("mov ax, 0\nmov fs, ax", "mov eax, fs:[0]"),
                                           ("mov ax, 0\nmov es, ax\nmov edi, 0x40000", "stosd"),
                                           ("mov ax, 0\nmov ds, ax", "mov eax, [0x100]"),
                                           ("mov ax, 3\nmov gs, ax\nlea eax, gs:[0x100]", "mov eax, gs:[eax]")])
def test_null_selectors_are_gp_when_used(engine, setup, access):
    """Loading a null selector is allowed, using it is #GP(0) (lea does not use it)."""
    assert run_case(engine, setup, access, {})[0] == GP


LOAD_SS = f"mov ax, {STACK_SEG | 3}\nmov ss, ax\nmov esp, {{esp}}\nmov ebp, esp\nmov ecx, esp"
STACK = [(0x40000, "push eax", None), (0x40002, "push eax", SS), (0x3FFFE, "pop eax", SS),
         (0x40002, "call there\nthere:", SS), (0x3FFFE, "ret", SS), (0x3FFFD, "mov eax, [ebp]", SS),
         (0x3FFFD, "mov eax, [esp]", SS), (0x3FFFC, "mov eax, [esp]", None), (0x40002, "pushad", SS),
         (0x3FFFD, "mov eax, ss:[ecx]", SS), (0x40000, "enter 8, 0", None), (0x3FFFE, "leave", SS)]


@pytest.mark.parametrize("esp, access, vector", STACK)
def test_stack_accesses_are_checked_against_ss(engine, esp, access, vector):
    """A ring-3 stack limited to 0x3FFFF: beyond it is #SS(0), through ESP, EBP or ss:."""
    gdt = {STACK_SEG: descriptor(0, 0x3FFFF, 0xF2, flags=0x4)}
    assert run_case(engine, LOAD_SS.format(esp=esp), access, gdt)[0] == vector


@pytest.mark.parametrize("esp, vector", [(0x30004, None), (0x30000, SS)])
def test_expand_down_stack(engine, esp, vector):
    """The classic expand-down stack (B set, limit 0x2FFFF): a push below 0x30000 is #SS(0)."""
    gdt = {STACK_SEG: descriptor(0, 0x2FFFF, 0xF6, flags=0x4)}
    assert run_case(engine, LOAD_SS.format(esp=esp), "push eax", gdt)[0] == vector


def test_far_return_pops_are_checked(engine):
    """retf at the top of a limited stack: the CS word is beyond the limit, #SS(0), and
    nothing changed: ESP is the recorder's ring-3 ESP."""
    setup = LOAD_SS.format(esp=0x3FFFC) + "\nmov dword ptr [esp], 0x1234"
    vector, regs = run_case(engine, setup, "retf", {STACK_SEG: descriptor(0, 0x3FFFF, 0xF2, flags=0x4)})
    assert vector == SS


def test_call_gate_new_stack_too_small_is_ss_with_its_selector(engine):
    """A call gate to ring 0 with 8 parameters needs 48 bytes on the TSS stack; an
    expand-down SS0 with room for 40 takes the exception frame (24) but not the call:
    #SS(SS0 selector) at the lcall, ring 3's ESP untouched."""
    user = "sub esp, 32\nfault:\n.byte 0x9a\n.long 0\n.word 0x30"
    m = guest(engine, user, {0x30: 0, RING0_STACK_SEG: descriptor(0, 0x2FFFF, 0x96)}, handlers="gate_entry:\nhlt")
    m.mem_write(GDT_BASE + 0x30, struct.pack("<Q", gate(KCODE, m.labels["gate_entry"], 0xC, 3, params=8)))
    m.mem_write(TSS_BASE + 4, struct.pack("<II", 0x30000 + 40, RING0_STACK_SEG))       # ESP0, SS0
    assert m.run(max_insns=20_000).reason == "halt"
    error, eip, cs, _, esp = frame(m)[:5]
    vector = struct.unpack("<I", m.mem_read(VECTOR_AT, 4))[0]
    assert (vector, error, eip, cs, esp) == (SS, RING0_STACK_SEG, m.labels["fault"], UCODE, RING3_STACK - 32)


def _probe_flat_then_through_seg(before=""):
    """`before`, then `probe` called twice with ES flat (EDX: what the second call left in
    EAX), then once with ES = SEG; `probe:` is the access under test."""
    return f"""
    {before}
    call probe
    mov edx, eax
    call probe
    mov ax, {SEG | 3}
    mov es, ax
    call probe
    jmp done
probe:"""


def test_translation_for_a_flat_segment_is_not_reused_when_it_is_limited(engine):
    """The same code (`probe`) runs twice with ES flat, then with ES limited: the third run
    faults, so translated code keyed by the flat mode did not serve it."""
    vector, regs = run_case(engine, _probe_flat_then_through_seg(), "mov eax, es:[0x1ffd]\nret\ndone:",
                            {SEG: data(0x1FFF)})
    assert vector == GP


def test_translation_for_a_flat_segment_is_not_reused_when_it_has_a_base(engine):
    """Translated code adds no base for a flat segment (vmm.x86.segaccess.is_flat): the same
    `probe` run with ES flat, then with ES a 4 GiB segment based at BASE, must read through
    the base the second time."""
    setup = _probe_flat_then_through_seg(f"mov dword ptr [0x2000], 0x1111\nmov dword ptr [{BASE + 0x2000:#x}], 0x2222")
    vector, regs = run_case(engine, setup, "mov eax, es:[0x2000]\nret\ndone:\nmov esi, eax",
                            {SEG: descriptor(BASE, 0xFFFFFFFF, 0xF2)})
    assert (vector, regs["edx"], regs["esi"]) == (None, 0x1111, 0x2222)


def test_code_not_using_gs_is_translated_once_whatever_gs_holds():
    """FS and GS are not in the translation mode (vmm.x86.mode): code run with GS null and
    with GS flat, as a kernel runs with a thread's and a process's GS, is translated once;
    the access through GS, translated while GS was flat, still faults once GS is null."""
    setup = """
    xor ebx, ebx
    mov ax, 0
    mov gs, ax
    call probe
    call probe
    mov ebx, 1
    mov ax, 0x23
    mov gs, ax
    call probe
    call probe
    mov ax, 0
    mov gs, ax
    call probe
    jmp done
probe:
    mov eax, [0x1000]
    test ebx, ebx
    jz skip
fault:
    mov eax, gs:[0]
skip:
    ret
done:"""
    m = guest("jit", setup, {})
    assert m.run(max_insns=20_000).reason == "halt"
    assert frame(m)[:2] == (0, m.labels["fault"]) and struct.unpack("<I", m.mem_read(VECTOR_AT, 4))[0] == GP
    eips = [block.eip for block in m.translator.cache.blocks.values()]
    assert eips.count(m.labels["probe"]) == 1 and eips.count(m.labels["fault"]) == 1


TASK, TASK_BASE = 0x30, 0x13000


def _tss(eip):
    """A 32-bit TSS image entered at `eip` in ring 0 with ES = SEG, FS and GS null."""
    tss = bytearray(0x68)
    struct.pack_into("<II", tss, 0x20, eip, 0x2)                                    # EIP, EFLAGS
    struct.pack_into("<I", tss, 0x38, 0x2C000)                                      # ESP
    struct.pack_into("<6I", tss, 0x48, SEG, KCODE, 0x10, 0x10, 0, 0)                # ES CS SS DS FS GS
    return bytes(tss)


def test_segments_loaded_by_a_task_switch_are_checked(engine):
    """jmp to a TSS whose ES is limited to 0xFFF: the new task's accesses through ES are
    checked (a task switch loads the caches, and with them the translation mode)."""
    handlers = "task:\nmov ebx, 1\nmov eax, es:[0xffc]\nfault:\nmov eax, es:[0xffd]\nhlt"
    gdt = {TASK: descriptor(TASK_BASE, 0x67, 0x89, flags=0), SEG: descriptor(BASE, 0xFFF, 0x92, flags=0x4)}
    m = guest(engine, "", gdt, handlers=handlers, kernel=f".byte 0xea\n.long 0\n.word {TASK}")
    m.mem_write(TASK_BASE, _tss(m.labels["task"]))
    assert m.run(max_insns=20_000).reason == "halt"
    assert frame(m)[:3] == (0, m.labels["fault"], KCODE)
    assert struct.unpack("<I", m.mem_read(VECTOR_AT, 4))[0] == GP


def _check_mode_bits(m, insn):
    """A code hook: CpuState.seg_checks must be what the caches say before every instruction."""
    s = m.state
    expected = sum(1 << n for n in range(6) if not is_flat(n, s.seg[n].flags, s.seg[n].limit, s.seg[n].base))
    assert s.seg_checks == expected, f"seg_checks {s.seg_checks:#x}, caches say {expected:#x}, at {insn}"


def test_seg_checks_follow_every_segment_change(tmp_path):
    """The protection scenarios (gates, far calls and returns, iret to ring 3 nulling data
    segments, sysenter/sysexit, a double fault) and a task switch keep CpuState.seg_checks
    equal to what the segment caches say."""
    path = tmp_path / "guest.elf"
    path.write_bytes(scenario_image())
    m = new_machine("interp", memory_mb=16)
    m.load(str(path))
    m.hook_code(_check_mode_bits)
    assert m.run(max_insns=2_000_000).reason == "exit"
    gdt = {TASK: descriptor(TASK_BASE, 0x67, 0x89, flags=0), SEG: descriptor(BASE, 0xFFF, 0x92, flags=0x4)}
    m = guest("interp", "", gdt, handlers="task:\nmov ax, 0x23\nmov gs, ax\nhlt", kernel=f".byte 0xea\n.long 0\n.word {TASK}")
    m.mem_write(TASK_BASE, _tss(m.labels["task"]))
    m.hook_code(_check_mode_bits)
    assert m.run(max_insns=20_000).reason == "halt" and m.state.seg_checks == 0b010001      # ES, FS


def test_real_mode_load_makes_the_segment_read_write_data(engine):
    """DS holding a code segment (flat, readable) survives the switch to real mode; a
    real-mode load makes it read/write data based at selector * 16, its 4 GiB limit kept
    (unreal mode), as Bochs does: the write through it passes."""
    src = """
    lgdt [gdtr]
    mov ax, 0x08
    mov ds, ax
    mov eax, cr0
    and eax, 0xfffffffe
    mov cr0, eax
    mov ax, 0x20
    mov ds, ax
    mov dword ptr [0x100000], 5
    mov ebx, [0x100000]
    cli
    hlt
""" + FLAT_TABLES
    m, result = run_asm(engine, src)
    assert result.reason == "halt", result.message
    assert m.reg_read("ebx") == 5 and m.mem_read(0x100200, 4) == struct.pack("<I", 5)
    assert m.state.seg_checks == 1 << 3          # DS: its checks pass, but its base is not 0
