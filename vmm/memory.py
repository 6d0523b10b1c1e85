"""Guest physical memory: one contiguous host buffer, every access bounds-checked.

The buffer is an anonymous mmap so it has a stable host address that
translated code can use directly (`host_address`).  No access through this
class can reach host memory outside the buffer: an address or length that
falls outside RAM raises `MemoryAccessError` naming the address.

Granules (64 bytes) that hold decoded or translated code are marked
(`mark_code`) in a Python set and in `code_map`, one native byte per granule
that translated code tests before each store: CODE_HERE if the granule holds code,
CODE_NEXT if the next one does (a store of up to 64 bytes starting in a granule
whose byte is 0 touches no code).  A write to such a granule calls
every `on_code_write` listener with the granule number (the decode cache and
the translation cache drop what they hold there) before it returns.  Granules
rather than pages keep stores to data that shares a page with code fast.

Example:
    mem = PhysicalMemory(16 << 20)
    mem.write(0x1000, b"\\x90\\xf4")
    assert mem.read(0x1000, 2) == b"\\x90\\xf4"
    mem.write_u(0x2000, 4, 0xDEADBEEF); mem.read_u(0x2000, 2)  # -> 0xBEEF
"""

import ctypes
import mmap
import struct

from .errors import MemoryAccessError

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
CODE_SHIFT = 6          # code is tracked per 64-byte granule, so data next to code stays fast
CODE_HERE, CODE_NEXT = 1, 2     # code_map bits: this granule holds code; the next one does

_UNPACK = {1: struct.Struct("<B"), 2: struct.Struct("<H"), 4: struct.Struct("<I"), 8: struct.Struct("<Q")}


class PhysicalMemory:
    """`size` bytes of guest RAM at guest physical address 0."""

    def __init__(self, size):
        if size <= 0 or size % PAGE_SIZE:
            raise ValueError(f"RAM size must be a positive multiple of {PAGE_SIZE}: {size}")
        self.size = size
        self.buf = mmap.mmap(-1, size)
        self._anchor = ctypes.c_char.from_buffer(self.buf)   # pins the mapping
        self.host_address = ctypes.addressof(self._anchor)
        self.code_pages = set()
        self.code_map = (ctypes.c_uint8 * (size >> CODE_SHIFT))()
        self.on_code_write = []

    def mark_code(self, granule):
        """Note that `granule` holds decoded code: writes to it must invalidate."""
        self.code_pages.add(granule)
        self.code_map[granule] |= CODE_HERE
        if granule:
            self.code_map[granule - 1] |= CODE_NEXT

    def check(self, addr, length):
        """Raise MemoryAccessError unless [addr, addr+length) lies inside RAM."""
        if addr < 0 or addr + length > self.size:
            raise MemoryAccessError(
                f"physical address {addr:#x} (+{length}) is outside guest RAM (0-{self.size - 1:#x})")

    def read(self, addr, length):
        self.check(addr, length)
        return bytes(self.buf[addr:addr + length])

    def write(self, addr, data):
        self.check(addr, len(data))
        self.buf[addr:addr + len(data)] = data
        if self.code_pages:
            self._code_written(addr, len(data))

    def read_u(self, addr, size):
        """Read a little-endian unsigned integer of `size` bytes (1, 2, 4 or 8)."""
        if addr < 0 or addr + size > self.size:
            self.check(addr, size)
        return _UNPACK[size].unpack_from(self.buf, addr)[0]

    def write_u(self, addr, size, value):
        if addr < 0 or addr + size > self.size:
            self.check(addr, size)
        _UNPACK[size].pack_into(self.buf, addr, value & ((1 << (8 * size)) - 1))
        if self.code_pages:
            self._code_written(addr, size)

    def _code_written(self, addr, length):
        first, last = addr >> CODE_SHIFT, (addr + length - 1) >> CODE_SHIFT
        for granule in range(first, last + 1):
            if granule in self.code_pages:
                self.code_pages.discard(granule)
                self.code_map[granule] &= ~CODE_HERE
                if granule:
                    self.code_map[granule - 1] &= ~CODE_NEXT
                for listener in self.on_code_write:
                    listener(granule)
