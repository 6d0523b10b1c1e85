"""Instructions that cross a page boundary with paging on (vmm/x86/decoder.py `fetch` and
`Decoder.crossing`, the cache of their decodes keyed by EIP and the bytes of both pages), on
every engine: after such an instruction ran, a change to its bytes on the second page (by
the guest, by the host through Machine.mem_write, or by remapping the second page) makes the
next run execute the new instruction, never a stale cached decode.  The two linear pages
map to physical pages far apart, so the bytes are gathered from both."""

from tests.asmguest import ORIGIN, assemble, new_machine
from tests.x86.test_paging import ALIAS, ALIAS_PHYS, P, PROLOGUE, PT1, RW, tables

SECOND_PHYS, OTHER_PHYS = 0x170000, 0x180000
MAPPING = (("pte", ALIAS + 0x1000, SECOND_PHYS | P | RW),)
CROSSING = ALIAS + 0xFFE            # mov eax, imm32 (5 bytes): B8 44 | 33 22 11, then ret


def machine(engine, body):
    """Paging on (test_paging's tables plus ALIAS + 4 KiB -> SECOND_PHYS), with
    `mov eax, 0x11223344; ret` placed across the boundary at CROSSING; the guest runs `body`."""
    m = new_machine(engine)
    for addr, blob in tables(MAPPING).items():
        m.mem_write(addr, blob)
    code = assemble("mov eax, 0x11223344\nret", CROSSING)
    assert len(code) == 6
    m.mem_write(ALIAS_PHYS + 0xFFE, code[:2])
    m.mem_write(SECOND_PHYS, code[2:])
    m.mem_write(ORIGIN, assemble(PROLOGUE + body + "\ncli\nhlt\n"))
    m.reg_write("eip", ORIGIN)
    m.reg_write("esp", 0x80000)
    return m


def test_guest_write_to_the_second_page_changes_the_instruction(engine):
    """Run it, store to an immediate byte on the second page, run it again: the new
    immediate is loaded."""
    m = machine(engine, f"""
        call {CROSSING:#x}
        mov esi, eax
        mov byte ptr [{ALIAS + 0x1001:#x}], 0x99
        call {CROSSING:#x}
    """)
    result = m.run(max_insns=1000)
    assert result.reason == "halt", result.message
    assert (m.reg_read("esi"), m.reg_read("eax")) == (0x11223344, 0x11993344)


def test_guest_changes_it_on_every_pass_of_a_loop(engine):
    """A loop calls the crossing instruction 300 times and bumps its top immediate byte
    (on the second page) each time: the sum is that of every value, none read stale."""
    m = machine(engine, f"""
        mov ecx, 300
        xor esi, esi
        xor edi, edi
    again:
        call {CROSSING:#x}
        add esi, eax
        adc edi, 0
        inc byte ptr [{ALIAS + 0x1002:#x}]
        loop again
    """)
    result = m.run(max_insns=20_000)
    assert result.reason == "halt", result.message
    expected = sum(0x223344 | (((0x11 + n) & 0xFF) << 24) for n in range(300))
    assert (m.reg_read("edi") << 32) | m.reg_read("esi") == expected


def test_host_write_between_runs_changes_the_instruction(engine):
    """The host rewrites the second page's bytes with Machine.mem_write between two runs
    (another immediate): the second run, resumed after the first's hlt, executes the new
    bytes."""
    m = machine(engine, f"""
        call {CROSSING:#x}
        mov esi, eax
        cli
        hlt
        call {CROSSING:#x}
    """)
    first = m.run(max_insns=1000)
    assert first.reason == "halt" and m.reg_read("esi") == 0x11223344, first.message
    m.mem_write(SECOND_PHYS, bytes([0x77, 0x66, 0x55]))
    result = m.run(max_insns=1000)
    assert result.reason == "halt", result.message
    assert m.reg_read("eax") == 0x55667744


def test_remapped_second_page_changes_the_instruction(engine):
    """Same EIP, same first-page bytes, but the second page remapped (PTE write + invlpg) to
    a frame holding other bytes: the instruction decodes from the new frame."""
    m = machine(engine, f"""
        call {CROSSING:#x}
        mov esi, eax
        mov dword ptr [{PT1 + 4:#x}], {OTHER_PHYS | P | RW:#x}
        invlpg [{ALIAS + 0x1000:#x}]
        call {CROSSING:#x}
    """)
    m.mem_write(OTHER_PHYS, bytes([0xAA, 0xBB, 0xCC, 0xC3]))
    result = m.run(max_insns=1000)
    assert result.reason == "halt", result.message
    assert (m.reg_read("esi"), m.reg_read("eax")) == (0x11223344, 0xCCBBAA44)


def crossing_machine(engine, first_frame, first_bytes, second_bytes, after_first=None):
    """Code at linear ALIAS + 4 KiB - len(first_bytes): those bytes at the end of
    `first_frame`, the rest at the start of SECOND_PHYS; `after_first`: what the frame
    physically following `first_frame` starts with (what a decode from the first frame's
    physical address alone would see), if it is RAM."""
    m = new_machine(engine)
    extra = (("pte", ALIAS, first_frame | P | RW), ("pte", ALIAS + 0x1000, SECOND_PHYS | P | RW))
    for addr, blob in tables(extra).items():
        m.mem_write(addr, blob)
    m.mem_write(first_frame + 0x1000 - len(first_bytes), first_bytes)
    m.mem_write(SECOND_PHYS, second_bytes)
    if after_first is not None:
        m.mem_write(first_frame + 0x1000, after_first)
    start = ALIAS + 0x1000 - len(first_bytes)
    m.mem_write(ORIGIN, assemble(PROLOGUE + f"mov ebx, 0x1234\nmov eax, 0xffffffff\ncall {start:#x}\ncli\nhlt\n"))
    m.reg_write("eip", ORIGIN)
    m.reg_write("esp", 0x80000)
    return m


def test_crossing_instruction_in_the_last_page_of_ram(engine):
    """The first page is RAM's last frame: the instruction's bytes continue on the second
    linear page (mapped lower), not past the end of RAM, so it runs (it was reported as a
    fetch past the end of RAM)."""
    code = assemble("mov eax, 0x11223344\nret", 0)
    m = crossing_machine(engine, (2 << 20) - 0x1000, code[:2], code[2:])
    result = m.run(max_insns=1000)
    assert result.reason == "halt", result.message
    assert m.reg_read("eax") == 0x11223344


def test_crossing_instruction_whose_first_page_alone_decodes_as_garbage(engine):
    """`movzx eax, bl` (0F B6 C3) with only its 0F on the first page, and the physically next
    frame starting with 04 (0F 04 is no instruction): the instruction is decoded from the
    second page's bytes and runs, not #UD (the first decode came from the adjacent frame)."""
    code = assemble("movzx eax, bl\nret", 0)
    m = crossing_machine(engine, ALIAS_PHYS, code[:1], code[1:], after_first=b"\x04\x00\x00\x00")
    result = m.run(max_insns=1000)
    assert result.reason == "halt", result.message
    assert m.reg_read("eax") == 0x34


def test_undefined_bytes_wholly_on_the_first_page_are_still_ud(engine):
    """0F 04 (no instruction) ending the first page, valid code on the second: still #UD
    (no IDT here, so the run stops naming #UD at the instruction's address)."""
    m = crossing_machine(engine, ALIAS_PHYS, b"\x0f\x04", assemble("ret", 0))
    result = m.run(max_insns=1000)
    assert result.reason == "error" and "#UD" in result.message, result.message
    assert m.reg_read("eip") == ALIAS + 0xFFE
