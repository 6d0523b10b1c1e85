"""The page walk in IR that fills the TLB for translated code (vmm.translator.pagewalk), on
every engine against the interpreter (which always walks in Python): page tables whose
accessed and dirty bits are already set, so the native walk does the fills, through 4 KiB
and 4 MiB pages, global pages across CR3 reloads, and more pages than the fill log holds."""

import struct

from tests.asmguest import ORIGIN, assemble, new_machine
from tests.x86.test_paging import ALIAS, ALIAS_PHYS, PD, PROLOGUE, PT0, PT1, A, D, G, P, PS, RW
from vmm.lockstep import snapshot
from vmm.x86.tlb import LOG_CAPACITY

SET = P | RW | A | D
BIG = 0x800000                     # a 4 MiB page: linear 8 MiB -> physical 0 (CR4.PSE)
MANY = 0xC00000                    # 5 x 4 MiB through PT2: 1024 linear pages each, all on ALIAS_PHYS's frame
PT2 = 0x103000
CLEAN = 0x5000                     # a page whose dirty bit is clear


def tables():
    """Identity for the first 2 MiB, ALIAS -> ALIAS_PHYS (global), BIG, and MANY."""
    image = {PD: struct.pack("<II", PT0 | SET, PT1 | SET)}
    image[PD + 4 * (BIG >> 22)] = struct.pack("<I", 0 | SET | PS)
    image[PD + 4 * (MANY >> 22)] = struct.pack("<I", PT2 | SET) * 5
    image[PT0] = b"".join(struct.pack("<I", (n << 12) | SET) for n in range(512))
    image[PT0 + 4 * (CLEAN >> 12)] = struct.pack("<I", CLEAN | P | RW | A)     # read first, then written
    image[PT1] = struct.pack("<I", ALIAS_PHYS | SET | G)
    image[PT2] = struct.pack("<I", ALIAS_PHYS | SET) * 1024
    return image


# Five passes, each after a CR3 reload (PGE on: ALIAS's global entry stays): a walk over the
# 1024 pages of MANY (reads and writes), reads through the 4 MiB page and through ALIAS.
GUEST = PROLOGUE + f"""
    mov eax, cr4
    or eax, 0x90                  ; PSE, PGE
    mov cr4, eax
    mov edi, 5
    xor ebx, ebx
again:
    mov eax, cr3
    mov cr3, eax
    mov esi, {MANY:#x}
    mov ecx, 1024
pages:
    add ebx, [esi + 8]
    mov [esi + 12], ebx
    add esi, 0x1000
    loop pages
    add ebx, [{BIG + ALIAS_PHYS + 8:#x}]
    add ebx, [{ALIAS + 12:#x}]
    add ebx, [{CLEAN:#x}]
    mov [{CLEAN + 4:#x}], ebx
    dec edi
    jnz again
    cli
    hlt
"""


def run(engine, guest=GUEST):
    m = new_machine(engine)
    for address, blob in {**tables(), ALIAS_PHYS: struct.pack("<IIII", 0, 0, 7, 0)}.items():
        m.mem_write(address, blob)
    m.mem_write(ORIGIN, assemble(guest))
    m.reg_write("eip", ORIGIN)
    m.reg_write("esp", 0x80000)
    result = m.run(max_insns=1_000_000)
    assert result.reason == "halt", result.message
    return m, result


def test_native_fills_match_the_interpreter(engine):
    ref, ref_result = run("interp")
    m, result = run(engine)
    assert result.instructions == ref_result.instructions and snapshot(m) == snapshot(ref)
    assert m.mem_read(ALIAS_PHYS, 16) == ref.mem_read(ALIAS_PHYS, 16)
    for table in (PT0, PT2):                                            # no A/D bit differs
        assert m.mem_read(table, 4096) == ref.mem_read(table, 4096)
    if m.translator is not None:
        assert m.mmu.tlb.log.walks > 4 * 1024                           # the passes after the first
        m.mmu.tlb.drain()
        assert ALIAS >> 12 in m.mmu.tlb.global_pages and MANY >> 12 in m.mmu.tlb.local_pages


def test_more_fills_than_the_log_holds():
    # Without a CR3 reload, each pass going on to the next 4 MiB of MANY: 5 x 1024 fills
    # overflow the log; the monitor's walk takes the log into its sets when it is full, and
    # native fills go on.
    guest = GUEST.replace("    mov eax, cr3\n    mov cr3, eax\n    mov esi, {MANY:#x}\n".format(MANY=MANY), "")
    guest = guest.replace("    mov edi, 5\n", f"    mov edi, 5\n    mov esi, {MANY:#x}\n")
    assert guest.count("cr3") == 1                     # PROLOGUE's only
    m, _ = run("jit-tier2", guest)
    ref, _ = run("interp", guest)
    assert snapshot(m) == snapshot(ref)
    assert m.mmu.tlb.log.walks > LOG_CAPACITY
