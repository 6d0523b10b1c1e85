"""The software TLB both engines share: one direct-mapped native table per permission view.

Design (v86's, chosen over QEMU's tagged TLB): each view has one 8-byte entry for every 4 KiB
page of the 4 GiB linear space, so a hit is an index and a load, with no tag compare; an
anonymous mmap keeps the 8 MiB per view virtual until entries are filled.  There are four
views, (supervisor, user) x (read, write): an entry is only ever filled into a view whose
access the page tables allow, so a hit needs no permission logic, and translated code
(compiled for one CPL) reads the view of its own privilege.  A write view entry is only
filled once the page's dirty bit is set, so the first write to a page always walks the
tables and sets it.  Only RAM pages are entered; MMIO and pages outside RAM always miss.

An entry is `host address of the page - linear address of the page + 1` (mod 2^64), 0 for
a miss: translated code computes `entry - 1 + linear`, a single add after the zero test.
Fills are remembered so a flush zeroes just those entries (v86); entries of global pages
(CR4.PGE and PTE.G) survive a CR3 reload.  Translated code's page walk
(vmm.translator.pagewalk) fills entries natively and notes each page in `log` (FillLog,
bit 31 for a global page), which the monitor takes into its sets before it flushes.

Example:
    tlb = Tlb(memory)
    tlb.fill(0xC0001000, 0x1000, user=False, write=False, global_=True)
    tlb.lookup(0xC0001234, user=False, write=False)      # -> 0x1234 (physical)
    tlb.flush(keep_global=True)                           # mov cr3
"""

import ctypes
import mmap

import numpy

PAGE_SHIFT = 12
ENTRIES = 1 << (32 - PAGE_SHIFT)
LOG_CAPACITY = 4096
LOG_GLOBAL = 1 << 31


class FillLog(ctypes.Structure):
    """Pages filled by native code since the monitor last looked (module docstring), and
    how many walks native code did in all."""
    _fields_ = [("count", ctypes.c_uint32), ("walks", ctypes.c_uint32), ("pages", ctypes.c_uint32 * LOG_CAPACITY)]
_MASK64 = 0xFFFFFFFFFFFFFFFF
VIEWS = ((False, False), (False, True), (True, False), (True, True))   # (user, write)


def view_index(user, write):
    return 2 * bool(user) + bool(write)


class Tlb:
    def __init__(self, memory):
        self.ram = memory.host_address
        self.ram_size = memory.size
        self._maps = [mmap.mmap(-1, ENTRIES * 8) for _ in VIEWS]
        self.views = [(ctypes.c_uint64 * ENTRIES).from_buffer(m) for m in self._maps]
        self.addresses = [ctypes.addressof(v) for v in self.views]
        self.local_pages = set()     # page numbers with an entry in some view: non-global...
        self.global_pages = set()    # ...and global ones (a CR3 reload keeps these)
        self.global_map = numpy.zeros(ENTRIES, dtype=bool)     # global_pages, by page number
        self.log = FillLog()

    def view_address(self, user, write):
        """Host address of a view's table (baked into translated code)."""
        return self.addresses[view_index(user, write)]

    def fill(self, linear, phys, user, write, global_=False):
        """Enter the page of `linear` -> page of `phys` into one view (RAM pages only)."""
        page, phys_page = linear >> PAGE_SHIFT, phys >> PAGE_SHIFT << PAGE_SHIFT
        if phys_page + (1 << PAGE_SHIFT) > self.ram_size:
            return
        entry = (self.ram + phys_page - (page << PAGE_SHIFT) + 1) & _MASK64
        self.views[view_index(user, write)][page] = entry
        if self.log.count == LOG_CAPACITY:
            self.drain()                 # native fills go on being noted
        if global_:
            self.global_pages.add(page)
            self.global_map[page] = True
        else:
            self.local_pages.add(page)

    def entry(self, linear, user, write):
        return self.views[view_index(user, write)][linear >> PAGE_SHIFT]

    def lookup(self, linear, user, write):
        """The physical address of `linear` in a view, or None on a miss."""
        entry = self.views[2 * bool(user) + bool(write)][linear >> PAGE_SHIFT]     # view_index, inline: the
        if not entry:                                                             # interpreter's every access
            return None
        return (entry - 1 + linear - self.ram) & _MASK64

    def drain(self):
        """Take the pages native code filled into the sets a flush clears."""
        log = self.log
        for k in range(log.count):
            value = log.pages[k]
            if value & LOG_GLOBAL:
                page = value & ~LOG_GLOBAL
                self.global_pages.add(page)
                self.global_map[page] = True
            else:
                self.local_pages.add(value)
        log.count = 0

    def invalidate(self, linear):
        """invlpg: drop the page from every view (global or not)."""
        self.drain()
        page = linear >> PAGE_SHIFT
        self._clear((page,))
        self.local_pages.discard(page)
        self.global_pages.discard(page)
        self.global_map[page] = False

    def flush(self, keep_global=False):
        """Drop every entry (CR0/CR4 writes), or every non-global one (a CR3 reload): the
        cost is in the entries dropped, not in the global ones kept."""
        self.drain()
        self._clear(self.local_pages)
        self.local_pages = set()
        if not keep_global:
            self._clear(self.global_pages)
            self.global_map[list(self.global_pages)] = False
            self.global_pages = set()

    def _clear(self, pages):
        for view in self.views:
            for page in pages:
                view[page] = 0
