"""The open bus (vmm/x86/mmu.py `open_bus`, set for a PC OS such as Linux) on every engine:
a guest access to a physical address no RAM or device claims reads all ones (byte, word,
dword) and a write there is dropped, and the run goes on; the first such accesses are kept
in `mmu.unassigned`.  Without it (the default) the run stops with reason "error" naming
the address."""

import pytest

from tests.asmguest import machine_with

HOLE = 0x40000000            # far past the 2 MiB of RAM, and no device there

ACCESSES = f"""
    mov eax, 0x11111111
    mov ebx, 0x22222222
    mov ecx, 0x33333333
    mov al, [{HOLE:#x}]
    mov bx, [{HOLE + 0x10:#x}]
    mov ecx, [{HOLE + 0x20:#x}]
    mov dword ptr [{HOLE + 0x30:#x}], 0x12345678
    mov byte ptr [{HOLE + 0x31:#x}], 0x9a
    mov edx, [{HOLE + 0x30:#x}]            ; the write did not stick
    mov esi, 0x600d
    cli
    hlt
"""


def test_unassigned_reads_are_all_ones_and_writes_are_dropped(engine):
    """Byte, word and dword reads give all ones in just the bytes read; writes vanish (a read
    back is all ones) and the guest reaches its hlt."""
    m = machine_with(engine, ACCESSES)
    m.mmu.open_bus = True
    result = m.run(max_insns=1000)
    assert result.reason == "halt", result.message
    assert m.reg_read("eax") == 0x111111FF
    assert m.reg_read("ebx") == 0x2222FFFF
    assert m.reg_read("ecx") == 0xFFFFFFFF
    assert m.reg_read("edx") == 0xFFFFFFFF
    assert m.reg_read("esi") == 0x600D


def test_unassigned_accesses_are_recorded_in_order(engine):
    """mmu.unassigned keeps (kind, address) of the first accesses, reads and writes, in the
    order the guest made them."""
    m = machine_with(engine, ACCESSES)
    m.mmu.open_bus = True
    assert m.run(max_insns=1000).reason == "halt"
    assert m.mmu.unassigned == [("read", HOLE), ("read", HOLE + 0x10), ("read", HOLE + 0x20),
                                ("write", HOLE + 0x30), ("write", HOLE + 0x31), ("read", HOLE + 0x30)]


def test_only_the_first_few_accesses_are_kept(engine):
    """A loop touching the hole many times runs to its end; `unassigned` stays short (the
    first 8 accesses)."""
    m = machine_with(engine, f"""
        mov ecx, 100
        mov edi, {HOLE:#x}
    again:
        mov eax, [edi]
        add edi, 4
        loop again
        cli
        hlt
    """)
    m.mmu.open_bus = True
    result = m.run(max_insns=10_000)
    assert result.reason == "halt", result.message
    assert m.mmu.unassigned == [("read", HOLE + 4 * n) for n in range(8)]
    assert m.reg_read("edi") == HOLE + 400


@pytest.mark.parametrize("insn, kind, size", [
    (f"mov al, [{HOLE + 5:#x}]", "read", 1),
    (f"mov ax, [{HOLE + 5:#x}]", "read", 2),
    (f"mov eax, [{HOLE + 5:#x}]", "read", 4),
    (f"mov dword ptr [{HOLE + 5:#x}], 1", "write", 4),
])
def test_without_open_bus_the_run_stops_naming_the_address(engine, insn, kind, size):
    """The default: the first unassigned access stops the run (reason "error") with the
    kind, size and address, before the instructions after it; nothing is recorded."""
    m = machine_with(engine, f"mov ebx, 1\n{insn}\nmov ebx, 2\ncli\nhlt")
    assert m.mmu.open_bus is False
    result = m.run(max_insns=1000)
    assert result.reason == "error"
    assert f"{kind} of {size} bytes at {HOLE + 5:#010x}" in result.message and "outside guest RAM" in result.message
    assert m.reg_read("ebx") == 1 and m.mmu.unassigned == []
