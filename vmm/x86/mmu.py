"""The one MMU entry point for guest memory accesses by linear address (both engines).

With CR0.PG clear, linear == physical.  With it set, a linear address is translated by the
i386 two-level page tables at CR3: 4 KiB pages, and 4 MiB pages when CR4.PSE is set; the
U/S and R/W bits of both levels are checked (supervisor writes to read-only pages fault
only when CR0.WP is set); accessed and dirty bits are written back to the tables; a failed
translation sets CR2 and raises #PF with the architectural error code (bit 0 protection
violation, bit 1 write, bit 2 user mode).  No PAE: the CPU model does not report it.
Successful translations of RAM pages are entered into the shared software TLB
(vmm.x86.tlb) that translated code reads inline; a miss in translated code calls `fill`.

The privilege of an access is the CPL (CS.RPL) unless the caller says otherwise: the
monitor's own accesses to descriptor tables, the TSS and interrupt stacks are supervisor
accesses (`user=False`) whatever the CPL.

A physical access outside RAM goes to the MMIO bus if a device claims it.  Otherwise, by
default, it stops the run with MemoryAccessError (a wild pointer in a test guest is found at
once); with `open_bus` set (a PC operating system, which may probe or touch addresses with
nothing behind them, as Linux does reading its stack canary through %fs before paging is on),
it behaves as a PC's bus does: reads give all ones, writes are dropped, and the first such
accesses are kept in `unassigned` (for the API and debugging; `vmm run` does not print them).  Either way the guest can never
reach host memory outside its RAM.

Example:
    mmu = Mmu(memory, mmio_bus, state)
    mmu.write(0xB8000, 2, 0x0741)     # an 'A' on the VGA text screen (paging off)
    mmu.read(0xB8000, 1)              # -> 0x41
    mmu.translate(0xC0000000, WRITE)  # with paging on: the physical address, or #PF
"""

from ..errors import GuestFault, MemoryAccessError
from .exceptions import PF, pending_word
from .state import CR0_PG, CS
from .tlb import PAGE_SHIFT, Tlb

READ, WRITE, FETCH = 0, 1, 2
CR0_WP, CR4_PSE, CR4_PGE = 1 << 16, 1 << 4, 1 << 7
P, RW, US, ACCESSED, DIRTY, PS, G = 1, 2, 4, 0x20, 0x40, 0x80, 0x100
PF_PRESENT, PF_WRITE, PF_USER = 1, 2, 4
PAGE_MASK = (1 << PAGE_SHIFT) - 1
UNASSIGNED_KEPT = 8


class Mmu:
    def __init__(self, memory, mmio, state):
        self.memory = memory
        self.mmio = mmio
        self.state = state
        self.ram_size = memory.size
        self.tlb = Tlb(memory)
        self.walks = 0
        self.open_bus = False           # unclaimed physical addresses: stop (False) or PC bus
        self.unassigned = []            # with open_bus: the first few (kind, address) touched

    @property
    def paging(self):
        return bool(self.state.cr[0] & CR0_PG)

    def cpl_user(self):
        return self.state.seg[CS].selector & 3 == 3

    # ---- translation --------------------------------------------------------------------
    def translate(self, linear, access, user=None):
        """Physical address of `linear` for an access (READ, WRITE or FETCH), or #PF."""
        s = self.state
        if not s.cr[0] & CR0_PG:
            return linear
        if user is None:
            user = s.seg[CS].selector & 3 == 3          # cpl_user(), inline (every fetch asks)
        write = access == WRITE
        phys = self.tlb.lookup(linear, user, write)
        if phys is not None:
            return phys
        return self._walk(linear, write, user)

    def lookahead(self, linear, access):
        """`translate` for an access that has not happened yet (the translator looking at the
        page an instruction crosses into): the same physical address or #PF, but a fault
        leaves CR2 as it was, since nothing faulted.  A walk still fills the TLB and sets
        the accessed bits, ahead of the access."""
        cr2 = self.state.cr[2]
        try:
            return self.translate(linear, access)
        except GuestFault:
            self.state.cr[2] = cr2
            raise

    def fill(self, linear, write, user):
        """A TLB miss in translated code: walk and fill; the entry, or 0 if the access
        faults or is not RAM (the block then leaves before the instruction).  A page fault
        is left in `pending_fault` (with CR2 set) for the native dispatcher to deliver."""
        try:
            self._walk(linear, write, user)
        except GuestFault as fault:
            self.state.pending_fault = pending_word(fault.vector, fault.error_code)
            return 0
        return self.tlb.entry(linear, user, write)

    def _pte(self, addr):
        return self.memory.read_u(addr, 4) if addr + 4 <= self.ram_size else 0

    def _walk(self, linear, write, user):
        self.walks += 1
        s = self.state
        pde_addr = (s.cr[3] & 0xFFFFF000) | ((linear >> 20) & 0xFFC)
        pde = self._pte(pde_addr)
        if not pde & P:
            self._fault(linear, 0, write, user)
        big = pde & PS and s.cr[4] & CR4_PSE
        if big:
            pte, pte_addr, rights = pde, None, pde
            phys = (pde & 0xFFC00000) | (linear & 0x3FFFFF)
        else:
            pte_addr = (pde & 0xFFFFF000) | ((linear >> 10) & 0xFFC)
            pte = self._pte(pte_addr)
            if not pte & P:
                self._fault(linear, 0, write, user)
            rights = pde & pte
            phys = (pte & 0xFFFFF000) | (linear & PAGE_MASK)
        if user and not rights & US:
            self._fault(linear, PF_PRESENT, write, user)
        if write and not rights & RW and (user or s.cr[0] & CR0_WP):
            self._fault(linear, PF_PRESENT, write, user)
        if not pde & ACCESSED:
            self._set_bits(pde_addr, pde | ACCESSED | (DIRTY if big and write else 0))
        elif big and write and not pde & DIRTY:
            self._set_bits(pde_addr, pde | DIRTY)
        if not big and (not pte & ACCESSED or (write and not pte & DIRTY)):
            self._set_bits(pte_addr, pte | ACCESSED | (DIRTY if write else 0))
        global_ = bool(pte & G and s.cr[4] & CR4_PGE)
        self.tlb.fill(linear, phys, user, False, global_)
        writable = rights & RW or not (user or s.cr[0] & CR0_WP)
        if writable and (write or pte & DIRTY):      # the write view only once D is set
            self.tlb.fill(linear, phys, user, True, global_)
        return phys

    def _set_bits(self, addr, value):
        if addr + 4 <= self.ram_size:
            self.memory.write_u(addr, 4, value)

    def _fault(self, linear, present, write, user):
        self.state.cr[2] = linear
        code = present | (PF_WRITE if write else 0) | (PF_USER if user else 0)
        raise GuestFault(PF, code, f"page fault at {linear:#010x} (error code {code:#x})")

    def flush(self, keep_global=False):
        self.tlb.flush(keep_global)

    # ---- accesses -----------------------------------------------------------------------
    def read(self, linear, size, user=None):
        if self.state.cr[0] & CR0_PG:
            return self._paged(linear, size, READ, user)
        if linear + size <= self.ram_size:
            return self.memory.read_u(linear, size)
        return self._mmio_read(linear & 0xFFFFFFFF, size)

    def write(self, linear, size, value, user=None):
        if self.state.cr[0] & CR0_PG:
            self._paged(linear, size, WRITE, user, value)
        elif linear + size <= self.ram_size:
            self.memory.write_u(linear, size, value)
        else:
            self._mmio_write(linear & 0xFFFFFFFF, size, value)

    def _paged(self, linear, size, access, user, value=None):
        """An access with paging on; one that crosses a page is translated on both pages
        before any byte moves, so a fault on the second page leaves memory untouched."""
        first = self.translate(linear, access, user)
        split = (linear & PAGE_MASK) + size - (1 << PAGE_SHIFT)
        if split <= 0:
            return self._phys_access(first, size, value)
        second = self.translate((linear + size - split) & 0xFFFFFFFF, access, user)
        low = size - split
        if value is None:
            return self._phys_byte_run(first, low) | (self._phys_byte_run(second, split) << (8 * low))
        self._phys_byte_run(first, low, value)
        self._phys_byte_run(second, split, value >> (8 * low))
        return None

    def _phys_byte_run(self, phys, count, value=None):
        """`count` bytes one at a time (the piece of a split access may be 3 bytes long)."""
        if value is None:
            return sum(self._phys_access(phys + k, 1) << (8 * k) for k in range(count))
        for k in range(count):
            self._phys_access(phys + k, 1, (value >> (8 * k)) & 0xFF)
        return None

    def _phys_access(self, phys, size, value=None):
        if value is None:
            if phys + size <= self.ram_size:
                return self.memory.read_u(phys, size)
            return self._mmio_read(phys, size)
        if phys + size <= self.ram_size:
            self.memory.write_u(phys, size, value)
        else:
            self._mmio_write(phys, size, value)
        return None

    def _mmio_read(self, addr, size):
        device, offset = self.mmio.find(addr)
        if device is None:
            self._unassigned("read", addr, size)
            return (1 << (8 * size)) - 1
        return device.read(offset, size)

    def _mmio_write(self, addr, size, value):
        device, offset = self.mmio.find(addr)
        if device is None:
            self._unassigned("write", addr, size)
        else:
            device.write(offset, size, value)

    def _unassigned(self, kind, addr, size):
        if not self.open_bus:
            raise MemoryAccessError(f"{kind} of {size} bytes at {addr:#010x}, outside guest RAM "
                                    f"({self.ram_size >> 20} MiB) and every device")
        if len(self.unassigned) < UNASSIGNED_KEPT:
            self.unassigned.append((kind, addr))
