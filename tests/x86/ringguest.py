"""A bare-metal guest with rings 0 and 3: GDT, IDT and TSS built from Python, code assembled.

The GDT (at GDT_BASE) holds flat ring-0 code/data (0x08, 0x10), flat ring-3
code/data (0x18, 0x20, used as 0x1B, 0x23), the TSS (0x28), and whatever a
test adds.  The kernel prelude loads the tables and TR, points DS/ES at the
ring-3 data segment, and `iretd`s to `user:` in ring 3 with EFLAGS = `eflags`.
Ring-0 handlers record what they see at RECORD (the frame words, their own
ESP, SS and CS, the general registers as they found them) and halt; `int 0x80`
with EAX = 1 returns instead.  The user code ends with `int 0x80` (EAX = 2).

Example:
    m = ring_machine(engine, user="int 0x80")
    result = m.run(max_insns=10_000)
    frame(m)        # the words the int 0x80 handler found on its stack, and more
"""

import struct

from tests.asmguest import ORIGIN, assemble, labels, new_machine

GDT_BASE, IDT_BASE, TSS_BASE, TABLE_POINTERS = 0x10000, 0x11000, 0x12000, 0x10F00
RECORD = 0x20000                 # handlers store their findings here (32-bit words)
RING0_STACK, RING3_STACK = 0x30000, 0x40000
KCODE, KDATA, UCODE, UDATA, TSS_SEL = 0x08, 0x10, 0x1B, 0x23, 0x28
IO_MAP_OFFSET = 0x68             # the I/O bitmap (65536 bits and a 0xFF byte) follows the TSS


def descriptor(base, limit, access, flags=0xC):
    """An 8-byte segment descriptor; `access` is the P/DPL/S/type byte, flags G D/B L AVL."""
    if flags & 8:
        limit >>= 12
    return ((limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (access << 40)
            | (((limit >> 16) & 0xF) | (flags << 4)) << 48 | ((base >> 24) << 56))


def gate(selector, offset, kind, dpl, params=0, present=True):
    """An IDT or call gate: kind 0xE interrupt, 0xF trap, 0xC call, 5 task."""
    access = (0x80 if present else 0) | (dpl << 5) | kind
    return (offset & 0xFFFF) | (selector << 16) | (params << 32) | (access << 40) | ((offset >> 16) << 48)


FLAT = 0xFFFFFFFF
STANDARD_GDT = {
    KCODE: descriptor(0, FLAT, 0x9A), KDATA: descriptor(0, FLAT, 0x92),
    0x18: descriptor(0, FLAT, 0xFA), 0x20: descriptor(0, FLAT, 0xF2),
    TSS_SEL: descriptor(TSS_BASE, IO_MAP_OFFSET + 0x2000, 0x89, flags=0),
}

PRELUDE = """
    lgdt [0x10f00]
    lidt [0x10f08]
    mov ax, 0x10
    mov ss, ax
    mov esp, 0x30000
    mov ax, 0x23
    mov ds, ax
    mov es, ax
    mov ax, 0x28
    ltr ax
    {kernel}
    push 0x23
    push 0x40000
    push {eflags}
    push 0x1b
    mov eax, user                ; Keystone assembles `push label` as a 16-bit push
    push eax
    iretd
handler_80:
    cmp eax, 1
    jne record
    iretd
record:                          ; every recording handler: frame words, ESP SS CS, registers
    mov [0x20040], eax
    mov [0x20044], ecx
    mov [0x20048], edx
    mov [0x2004c], ebx
    mov [0x20054], ebp
    mov [0x20058], esi
    mov [0x2005c], edi
    mov ebp, esp
    mov esi, 0x20000
    mov ecx, 8
copy:
    mov edx, [ebp]
    mov [esi], edx
    add ebp, 4
    add esi, 4
    loop copy
    mov [0x20020], esp
    mov word ptr [0x20024], ss
    mov word ptr [0x20028], cs
    cli
    hlt
{handlers}
user:
    {user}
    mov eax, 2
    int 0x80
user_end:
"""


def ring_machine(engine, user, kernel="", handlers="", eflags=0x2, gdt=None, idt=None, io_map=None):
    """The guest above: `user` runs in ring 3 after `kernel` ran in ring 0.  `gdt`/`idt` add
    entries ({selector: descriptor}, {vector: (label or offset or TSS selector for a task gate,
    kind, dpl[, present])}) to the
    standard ones (#GP, #NP, #SS, #TS, #DF and int 0x80 record); `io_map` {port: allowed}."""
    src = PRELUDE.format(kernel=kernel, handlers=handlers, user=user, eflags=eflags)
    where = labels(src)
    m = new_machine(engine, memory_mb=1)
    m.mem_write(ORIGIN, assemble(src))
    m.reg_write("eip", ORIGIN)
    m.reg_write("esp", RING0_STACK)
    entries = dict(STANDARD_GDT)
    entries.update(gdt or {})
    for selector, raw in entries.items():
        m.mem_write(GDT_BASE + (selector & ~7), struct.pack("<Q", raw))
    vectors = {8: ("record", 0xE, 0), 10: ("record", 0xE, 0), 11: ("record", 0xE, 0),
               12: ("record", 0xE, 0), 13: ("record", 0xE, 0), 0x80: ("handler_80", 0xE, 3)}
    vectors.update(idt or {})
    for vector, (target, kind, dpl, *present) in vectors.items():
        offset = where[target] if isinstance(target, str) else target
        selector, offset = (offset, 0) if kind == 5 else (KCODE, offset)          # task gates name a TSS
        m.mem_write(IDT_BASE + vector * 8, struct.pack("<Q", gate(selector, offset, kind, dpl, 0, *present)))
    m.mem_write(TABLE_POINTERS, struct.pack("<HI", max(entries) | 7, GDT_BASE))
    m.mem_write(TABLE_POINTERS + 8, struct.pack("<HI", 0x100 * 8 - 1, IDT_BASE))
    tss = bytearray(IO_MAP_OFFSET) + bytes([0xFF]) * (0x2000 + 1)
    struct.pack_into("<II", tss, 4, RING0_STACK, KDATA)                 # ESP0, SS0
    struct.pack_into("<H", tss, 0x66, IO_MAP_OFFSET)
    for port, allowed in (io_map or {}).items():
        byte = IO_MAP_OFFSET + port // 8
        tss[byte] = tss[byte] & ~(1 << port % 8) if allowed else tss[byte] | (1 << port % 8)
    m.mem_write(TSS_BASE, bytes(tss))
    m.labels = where
    return m


def frame(m, words=8):
    """What the recording handler stored: `words` stack words from its ESP at entry."""
    return struct.unpack(f"<{words}I", m.mem_read(RECORD, 4 * words))


def handler_state(m):
    """(ESP, SS, CS) inside the recording handler."""
    esp, ss, cs = struct.unpack("<III", m.mem_read(RECORD + 0x20, 12))
    return esp, ss & 0xFFFF, cs & 0xFFFF


def registers(m):
    """The general registers the recording handler found (ESP excepted), by name."""
    values = struct.unpack("<8I", m.mem_read(RECORD + 0x40, 32))
    return dict(zip(("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"), values))
