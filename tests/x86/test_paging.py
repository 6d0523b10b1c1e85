"""Paging on every engine: 4 KiB and 4 MiB pages, #PF with CR2 and the error code, accessed
and dirty bits, CR0.WP, invlpg, CR3 reloads and global pages, and self-modifying code written
through an alias.  Page tables are built by the host; the guest turns paging on itself.
Where Unicorn models the same thing (translation, A/D bits) it is the oracle; fault error
codes and TLB behaviour follow the SDM (vol. 3, 4.7 and 4.10)."""

import struct

from unicorn import Uc, UC_ARCH_X86, UC_MODE_32
from unicorn import x86_const as U

from tests.asmguest import FLAT_TABLES, ORIGIN, assemble, new_machine, set_gate

PD, PT0, PT1 = 0x100000, 0x101000, 0x102000
ALIAS, ALIAS_PHYS = 0x400000, 0x150000          # linear 4 MiB -> a page at 1.3 MiB
P, RW, US, A, D, PS, G = 1, 2, 4, 0x20, 0x40, 0x80, 0x100
PROLOGUE = f"""
    mov eax, {PD:#x}
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
"""


def tables(extra=()):
    """A page directory identity-mapping the first 2 MiB (4 KiB pages, supervisor, writable)
    and mapping ALIAS -> ALIAS_PHYS; `extra`: (pd index, pde) or (linear, pte) overrides."""
    image = {PD: struct.pack("<I", PT0 | P | RW) + struct.pack("<I", PT1 | P | RW)}
    image[PT0] = b"".join(struct.pack("<I", (n << 12) | P | RW) for n in range(512))
    image[PT1] = struct.pack("<I", ALIAS_PHYS | P | RW)
    for kind, where, value in extra:
        if kind == "pde":
            image[PD + 4 * where] = struct.pack("<I", value)
        else:
            image[(PT0 if where < 0x400000 else PT1) + 4 * ((where >> 12) & 0x3FF)] = struct.pack("<I", value)
    return image


def run_paged(engine, body, extra=(), data=None, max_insns=100_000, **options):
    """Run `body` after PROLOGUE turns paging on with `tables(extra)`, `data` in RAM
    (`options`: more Machine arguments)."""
    m = new_machine(engine, **options)
    for addr, blob in {**tables(extra), **(data or {})}.items():
        m.mem_write(addr, blob)
    m.mem_write(ORIGIN, assemble(PROLOGUE + body + "\ncli\nhlt\n"))
    m.reg_write("eip", ORIGIN)
    m.reg_write("esp", 0x80000)
    return m, m.run(max_insns=max_insns)


def pte(m, linear):
    table = PT0 if linear < 0x400000 else PT1
    return struct.unpack("<I", m.mem_read(table + 4 * ((linear >> 12) & 0x3FF), 4))[0]


def test_remapped_page_reads_and_writes_its_frame(engine):
    m, result = run_paged(engine, f"""
        mov dword ptr [{ALIAS + 0x10:#x}], 0x12345678
        mov eax, [{ALIAS + 0x10:#x}]
        mov dword ptr [0x3ffe], 0xa1b2c3d4      ; crosses from one page into the next
        mov ebx, [0x3ffe]
    """)
    assert result.reason == "halt", result.message
    assert m.reg_read("eax") == 0x12345678
    assert m.mem_read(ALIAS_PHYS + 0x10, 4) == bytes.fromhex("78563412")
    assert m.reg_read("ebx") == 0xA1B2C3D4 and m.mem_read(0x3FFE, 4) == bytes.fromhex("d4c3b2a1")


def test_translation_and_accessed_dirty_bits_match_unicorn(engine):
    body = f"""
        mov eax, [{ALIAS + 0x20:#x}]
        mov dword ptr [0x3000], 7
        mov ecx, [0x5000]
    """
    m, result = run_paged(engine, body, data={ALIAS_PHYS + 0x20: b"\x11\x22\x33\x44"})
    assert result.reason == "halt", result.message
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, 2 << 20)
    for addr, blob in {**tables(), ALIAS_PHYS + 0x20: b"\x11\x22\x33\x44"}.items():
        uc.mem_write(addr, blob)
    code = assemble(PROLOGUE + body)
    uc.mem_write(ORIGIN, code)
    uc.reg_write(U.UC_X86_REG_ESP, 0x80000)
    uc.emu_start(ORIGIN, ORIGIN + len(code))
    assert m.reg_read("eax") == uc.reg_read(U.UC_X86_REG_EAX) == 0x44332211
    for table in (PD, PT0, PT1):
        assert m.mem_read(table, 4096) == bytes(uc.mem_read(table, 4096)), hex(table)
    assert pte(m, 0x3000) & (A | D) == A | D and pte(m, 0x5000) & (A | D) == A
    assert pte(m, ALIAS) & (A | D) == A


def fault_handler(body):
    """Run `body` with an IDT whose #PF handler stores CR2 and the error code at 0x7000 and
    skips the faulting 10-byte `mov dword ptr [imm32], imm32` instruction."""
    setup = """
        lgdt [gdtr]
        lidt [idtr]
    """ + body + """
        cli
        hlt
    pf:
        mov eax, cr2
        mov [0x7000], eax
        pop eax
        mov [0x7004], eax
        add dword ptr [esp], 10
        iretd
    """ + FLAT_TABLES
    return setup


def run_with_pf_handler(engine, body, extra=()):
    m = new_machine(engine)
    for addr, blob in tables(extra).items():
        m.mem_write(addr, blob)
    code = assemble(PROLOGUE + fault_handler(body))
    m.mem_write(ORIGIN, code)
    set_gate(m, 14, ORIGIN + code.index(bytes.fromhex("0f20d0")))        # mov eax, cr2
    m.reg_write("eip", ORIGIN)
    m.reg_write("esp", 0x80000)
    result = m.run(max_insns=100_000)
    cr2, code = struct.unpack("<II", m.mem_read(0x7000, 8))
    return m, result, cr2, code


def test_not_present_page_faults_with_cr2_and_error_code(engine):
    m, result, cr2, code = run_with_pf_handler(engine, "mov dword ptr [0x00801234], 5",)
    assert result.reason == "halt", result.message
    assert cr2 == 0x00801234 and code == 0b010          # not present, write, supervisor


def test_write_protect_applies_to_supervisor_only_with_cr0_wp(engine):
    read_only = (("pte", 0x6000, 0x6000 | P),)
    m, result, cr2, code = run_with_pf_handler(engine, "mov dword ptr [0x6000], 5", read_only)
    assert result.reason == "halt" and m.mem_read(0x6000, 4) == b"\x05\0\0\0" and cr2 == 0   # WP off
    m, result, cr2, code = run_with_pf_handler(engine, """
        mov eax, cr0
        or eax, 0x10000
        mov cr0, eax
        mov dword ptr [0x6000], 5
    """, read_only)
    assert result.reason == "halt" and cr2 == 0x6000 and code == 0b011        # present, write


def test_4mib_page_with_pse(engine):
    big = (("pde", 2, 0x000000 | P | RW | PS),)            # linear 8 MiB -> physical 0 (4 MiB)
    m, result = run_paged(engine, """
        mov eax, cr4
        or eax, 0x10
        mov cr4, eax
        mov dword ptr [0x00805000], 0xabcd
    """, big)
    assert result.reason == "halt", result.message
    assert m.mem_read(0x5000, 4) == struct.pack("<I", 0xABCD)
    assert struct.unpack("<I", m.mem_read(PD + 8, 4))[0] & (A | D) == A | D


def test_invlpg_drops_a_stale_translation(engine):
    m, result = run_paged(engine, f"""
        mov eax, [{ALIAS:#x}]                    ; cached: ALIAS -> ALIAS_PHYS
        mov dword ptr [{PT1:#x}], {0x160000 | P | RW:#x}
        mov ebx, [{ALIAS:#x}]                    ; may still use the old entry
        invlpg [{ALIAS:#x}]
        mov ecx, [{ALIAS:#x}]                    ; must use the new one
    """, data={ALIAS_PHYS: b"OLD!", 0x160000: b"NEW!"})
    assert result.reason == "halt", result.message
    assert m.reg_read("eax") == int.from_bytes(b"OLD!", "little")
    assert m.reg_read("ecx") == int.from_bytes(b"NEW!", "little")


def test_cr3_reload_keeps_global_pages_only_with_pge(engine):
    glob = (("pte", ALIAS, ALIAS_PHYS | P | RW | G),)
    body = f"""
        mov eax, cr4
        or eax, 0x80
        mov cr4, eax
        mov eax, [{ALIAS:#x}]
        mov dword ptr [{PT1:#x}], {0x160000 | P | RW:#x}
        mov ebx, cr3
        mov cr3, ebx
        mov ecx, [{ALIAS:#x}]
        mov ebx, cr4
        and ebx, 0xffffff7f
        mov cr4, ebx                             ; clearing PGE flushes global entries too
        mov edx, [{ALIAS:#x}]
    """
    m, result = run_paged(engine, body, glob, data={ALIAS_PHYS: b"OLD!", 0x160000: b"NEW!"})
    assert result.reason == "halt", result.message
    assert m.reg_read("ecx") == int.from_bytes(b"OLD!", "little")
    assert m.reg_read("edx") == int.from_bytes(b"NEW!", "little")


def test_code_written_through_an_alias_is_retranslated(engine):
    # The loop body at 0x2000 is patched through ALIAS (remapped to physical 0x2000):
    # `mov eax, 1` becomes `mov eax, 2` after its first run.
    alias_code = (("pte", ALIAS, 0x2000 | P | RW),)
    m = new_machine(engine)
    for addr, blob in tables(alias_code).items():
        m.mem_write(addr, blob)
    m.mem_write(0x2000, assemble("mov eax, 1\nret", 0x2000))
    m.mem_write(ORIGIN, assemble(PROLOGUE + f"""
        call 0x2000
        mov esi, eax
        mov byte ptr [{ALIAS + 1:#x}], 2
        call 0x2000
        cli
        hlt
    """))
    m.reg_write("eip", ORIGIN)
    m.reg_write("esp", 0x80000)
    result = m.run(max_insns=1000)
    assert result.reason == "halt", result.message
    assert (m.reg_read("esi"), m.reg_read("eax")) == (1, 2)


def test_paged_loop_runs_translated(engine):
    m, result = run_paged(engine, f"""
        mov ecx, 2000
        xor eax, eax
    again:
        add eax, [{ALIAS:#x}]
        mov [{ALIAS + 4:#x}], eax
        loop again
    """, data={ALIAS_PHYS: struct.pack("<I", 3)})
    assert result.reason == "halt", result.message
    assert m.reg_read("eax") == 6000
    if m.translator is not None:
        assert m.translator.exits.get(3, 0) < 20        # STEP exits: callouts, not every access
        assert m.translator.stats()["page_walks"] >= 1   # misses were filled by the walk callback


def test_loop_invariant_and_walking_accesses_in_a_paged_loop(engine):
    # At tier 2 the loop keeps the host addresses of [edi], [edi + 4] and [esp] (their
    # registers are not written in the loop) from its first pass; the store through ESI
    # walks across two page boundaries, each a TLB miss filled inside the loop.
    m, result = run_paged(engine, f"""
        mov ecx, 3000
        mov edi, {ALIAS:#x}
        mov esi, 0x10000
        push 0
    again:
        mov eax, [edi]
        add [esp], eax
        mov [esi], ecx
        add esi, 4
        add dword ptr [edi + 4], 1
        loop again
        pop ebx
    """, data={ALIAS_PHYS: struct.pack("<II", 3, 10)})
    assert result.reason == "halt", result.message
    assert m.reg_read("ebx") == 9000
    assert m.mem_read(ALIAS_PHYS + 4, 4) == struct.pack("<I", 3010)
    assert m.mem_read(0x10000, 3000 * 4) == b"".join(struct.pack("<I", 3000 - k) for k in range(3000))
    assert pte(m, 0x12000) & D and not pte(m, 0x13000) & A         # walked this far and no further
    if m.translator is not None and m.jit_tier == 2:
        assert m.translator.stats()["loop_blocks"] >= 1


def test_read_modify_write_of_a_read_only_page_faults_as_a_write(engine):
    # The translator reads an operand it also writes through the TLB's write view: the #PF
    # must still come first, with the error code of a write, and leave the page unchanged.
    read_only = (("pte", 0x6000, 0x6000 | P),)
    m, result, cr2, code = run_with_pf_handler(engine, """
        mov eax, cr0
        or eax, 0x10000
        mov cr0, eax
        mov ecx, 20
    again:
        add dword ptr [0x6000], 0x12345678
        loop again
    """, read_only)
    assert result.reason == "halt" and cr2 == 0x6000 and code == 0b011        # present, write
    assert m.mem_read(0x6000, 4) == bytes(4)


def test_a_paged_loop_walking_down_across_pages_with_unaligned_reads(engine):
    # At tier 2 the loop keeps the page its last read found: reads walking down by 3 bytes
    # leave it for the page below, and one read straddles each boundary (the interpreter's).
    start = 0x13000 + 7
    m, result = run_paged(engine, f"""
        mov ecx, 4000
        mov esi, {start:#x}
        xor eax, eax
    again:
        add eax, [esi]
        rol eax, 1
        sub esi, 3
        loop again
    """, data={0x10000: bytes(range(256)) * 64})
    assert result.reason == "halt", result.message
    memory, expected = (bytes(range(256)) * 64), 0
    for k in range(4000):
        at = start - 3 * k - 0x10000
        expected = (expected + struct.unpack("<I", memory[at:at + 4])[0]) & 0xFFFFFFFF
        expected = ((expected << 1) | (expected >> 31)) & 0xFFFFFFFF
    assert m.reg_read("eax") == expected
    if m.translator is not None and m.jit_tier == 2:
        assert m.translator.stats()["loop_blocks"] >= 1
