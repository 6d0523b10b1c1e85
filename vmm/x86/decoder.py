"""Decoder: Capstone (32-bit mode, with detail) over guest physical memory, cached per page.

Capstone's C API is called through vmm.x86.rawdecode (5 us an instruction, decoded and converted,
against 12 us through `CsInsn`s).

Each decoded instruction becomes an `Insn`: operands converted once
(vmm.x86.operands), prefixes read once, and its entry in the one instruction
table attached (`insn.spec`).  Decoded instructions are cached by physical
address; the 64-byte granules they came from are marked as code in memory,
and a write to such a granule drops every cached instruction on it before the
writing instruction completes, so self-modifying code is always re-decoded.
Re-decoding is cheap where the bytes did not change: the last instruction
decoded at each address is kept, and reused if memory still holds its bytes
(a store into a code granule usually rewrites one instruction of the several
there).

Instructions are decoded at an EIP (what Capstone computes relative targets from, and
what semantics write to EIP) from bytes at a physical address; the two differ with paging
or a CS base, and one physical instruction may be reached through several addresses, so
the cache key holds both (`key`).  `fetch` goes from CS:EIP through the MMU.  With paging,
an instruction near a page end may continue in the frame of the next linear page, not the
physically next one: `Decoder.paged` decodes it from both (the interpreter's fetch and the
translator's block formation both go through it).

Example:
    dec = Decoder(memory)
    insn = dec.decode(0x100000)                 # EIP == physical (paging off, CS base 0)
    insn.mnemonic, insn.size, insn.spec.cls     # ('mov', 5, 'IDENT')
    insn = fetch(machine)                       # the instruction at CS:EIP (#PF if unmapped)
"""

from capstone import Cs, CS_ARCH_X86, CS_MODE_32

from .exceptions import GP
from .mmu import FETCH, PAGE_MASK
from .operands import Unsupported, convert
from .rawdecode import RawDecoder
from .segaccess import FLAT_LIMIT
from .state import CR0_PG, CS
from .table import lookup, UNDEFINED
from ..errors import GuestFault, MemoryAccessError
from ..memory import CODE_SHIFT

MAX_INSN_BYTES = 15


def key(address, phys):
    """The cache key of an instruction decoded at EIP `address` from `phys`."""
    return phys if address == phys else phys | (address << 32)


def fetch(m):
    """The instruction at CS:EIP, its bytes found through the MMU (a #PF is raised as a
    GuestFault with EIP unchanged), all of it within the CS limit (else #GP(0), before
    any byte is read if EIP itself is beyond it).  An instruction that crosses into
    another page is decoded from both pages' bytes (`Decoder.paged`)."""
    s = m.state
    eip, cs = s.eip, s.seg[CS]
    limit = cs.limit
    if limit != FLAT_LIMIT:                     # a 4 GiB CS has nothing to check (it wraps)
        _check_code_limit(eip, 1, limit)
    linear = (cs.base + eip) & 0xFFFFFFFF
    if not s.cr[0] & CR0_PG:
        insn = m.decoder.decode(eip, linear)
    else:
        phys = m.mmu.translate(linear, FETCH)
        insn, _ = m.decoder.paged(eip, phys, lambda: m.mmu.translate(((linear | PAGE_MASK) + 1) & 0xFFFFFFFF, FETCH))
    if limit != FLAT_LIMIT:
        _check_code_limit(eip, insn.size, limit)
    return insn


def _check_code_limit(eip, size, limit):
    """#GP(0) if a fetch of `size` bytes at EIP passes the CS limit."""
    if eip + size - 1 > limit:
        raise GuestFault(GP, 0, f"code at {eip:#x} ({size} bytes) beyond the CS limit {limit:#x}")


class Insn:
    """One decoded guest instruction with everything semantics need that is known statically."""

    __slots__ = ("address", "size", "next", "id", "mnemonic", "op_str", "raw", "ops",
                 "rep", "repne", "lock", "opsize16", "addr16", "spec", "w", "why")

    def __repr__(self):
        return f"<{self.address:#x}: {self.mnemonic} {self.op_str}>"

    def text(self):
        return f"{self.mnemonic} {self.op_str}".strip()


def _undefined(address, raw, why):
    insn = Insn()
    insn.address, insn.size, insn.next = address, 1, address + 1
    insn.id, insn.mnemonic, insn.op_str = 0, "(bad)", raw[:4].hex()
    insn.raw, insn.ops, insn.w = raw, (), 32
    insn.rep = insn.repne = insn.lock = insn.opsize16 = insn.addr16 = False
    insn.spec, insn.why = UNDEFINED, why
    return insn


CROSSINGS_KEPT = 4096


class Decoder:
    """Decodes guest code at physical addresses; the cache is dropped page by page on writes."""

    def __init__(self, memory):
        self.memory = memory
        self.cs = Cs(CS_ARCH_X86, CS_MODE_32)
        self.raw = RawDecoder(self.cs)          # switches detail on
        self.cache = {}
        self.granule_index = {}         # code granule -> cached addresses touching it
        self.last = {}                  # address -> the last Insn decoded there, even if dropped
        self.crossings = {}             # (EIP, bytes) -> Insn, for instructions across pages
        memory.on_code_write.append(self.invalidate)

    def decode(self, address, phys=None):
        """The instruction at EIP `address` whose bytes are at `phys` (default: the same)."""
        if phys is None:
            phys = address
        k = key(address, phys)
        insn = self.cache.get(k)
        if insn is None:
            insn = self._decode(address, phys, k)
        return insn

    def _decode(self, address, phys, k):
        insn = self.last.get(k)
        if insn is None or self.memory.read(phys, insn.size) != insn.raw:
            length = min(MAX_INSN_BYTES, self.memory.size - phys)
            raw = self.memory.read(phys, max(length, 1))
            insn = self.from_bytes(address, raw)
            if insn.spec is UNDEFINED and length < MAX_INSN_BYTES:
                self._check_not_cut_off(phys, raw)
            self.last[k] = insn
        self.cache[k] = insn
        first, last = phys >> CODE_SHIFT, (phys + insn.size - 1) >> CODE_SHIFT
        for granule in range(first, last + 1):
            self.granule_index.setdefault(granule, []).append(k)
            self.memory.mark_code(granule)
        return insn

    def _check_not_cut_off(self, phys, raw):
        """Bytes that do not decode at the end of RAM: if they begin an instruction that RAM
        cuts off, fetching its missing bytes faults (MemoryAccessError), as on hardware; a #UD
        is for bytes that are no instruction at all."""
        whole = next(self.cs.disasm(raw + bytes(MAX_INSN_BYTES - len(raw)), phys, 1), None)
        if whole is not None and whole.size > len(raw):
            raise MemoryAccessError(f"instruction fetch at {phys:#x}: the instruction ({whole.size} bytes) runs past "
                                    f"the end of guest RAM ({self.memory.size:#x})")

    def paged(self, address, phys, next_frame):
        """(Insn, frame) for the instruction at EIP `address` whose first byte is at `phys`,
        with paging on: `frame` is the physical page its bytes continue in, None unless it
        crosses into the next linear page.  Near the page end a decode at `phys` reads the
        physically next frame, not the next linear page: only a defined instruction that fits
        in this page owes nothing to it; otherwise `next_frame()` gives the next linear
        page's frame (raising what fetching there raises) and the instruction is decoded from
        both pages' bytes."""
        head = PAGE_MASK + 1 - (phys & PAGE_MASK)
        if head >= MAX_INSN_BYTES:
            return self.decode(address, phys), None
        try:
            insn = self.decode(address, phys)
        except MemoryAccessError:           # this frame is RAM's last one
            insn = None
        if insn is not None and insn.spec is not UNDEFINED and insn.size <= head:
            return insn, None
        rest = next_frame()
        raw = self.memory.read(phys, head) + self.memory.read(rest, min(MAX_INSN_BYTES - head, self.memory.size - rest))
        insn = self.crossing(address, raw)
        return insn, rest if insn.size > head else None

    def crossing(self, address, raw):
        """An instruction that crosses a page, from the bytes of both pages: cached by EIP
        and those bytes (they are the whole key, so a write never leaves it stale)."""
        k = (address, raw)
        insn = self.crossings.get(k)
        if insn is None:
            if len(self.crossings) >= CROSSINGS_KEPT:
                self.crossings.clear()
            insn = self.crossings[k] = self.from_bytes(address, raw)
        return insn

    def from_bytes(self, address, raw):
        """Decode one instruction from `raw` at EIP `address` (not cached)."""
        cs_insn = self.raw.decode(raw, address)
        if cs_insn is None:
            return _undefined(address, raw, "Capstone cannot decode these bytes")
        prefix = cs_insn.prefix
        insn = Insn()
        insn.address, insn.size = address, cs_insn.size
        insn.next = (address + cs_insn.size) & 0xFFFFFFFF
        insn.id, insn.mnemonic, insn.op_str = cs_insn.id, cs_insn.mnemonic, cs_insn.op_str
        insn.raw = cs_insn.bytes
        insn.rep, insn.repne, insn.lock = prefix[0] == 0xF3, prefix[0] == 0xF2, prefix[0] == 0xF0
        insn.opsize16, insn.addr16 = prefix[2] == 0x66, prefix[3] == 0x67
        insn.why = ""
        try:
            insn.ops = convert(cs_insn, insn.addr16)
        except Unsupported as e:
            insn.ops, insn.w = (), 32
            insn.spec, insn.why = UNDEFINED, f"operand {e} is not modelled"
            return insn
        insn.w = insn.ops[0].w if insn.ops else (16 if insn.opsize16 else 32)
        insn.spec = lookup(insn, cs_insn)
        if insn.spec is UNDEFINED:
            insn.why = "not in vmm's instruction table"
        return insn

    def invalidate(self, granule):
        for k in self.granule_index.pop(granule, ()):
            self.cache.pop(k, None)
