"""The TLB fill translated code calls on a miss: the page walk in LLVM IR for the common
case, the monitor's walk (Mmu.fill, through a ctypes callback) for everything else.

    i64 tlb_fill(ptr state, i32 linear, i32 kind)      kind: bit 0 write, bit 1 user

Blocks and the dispatcher call it with LLVM's preserve_most convention (FILL_CC), so the
rare call does not make every paged block save registers.  It returns the TLB entry of the
view asked for (vmm.x86.tlb: `host page - linear page + 1`), or 0 when the access faults
or the page is not RAM (Mmu.fill has then left the #PF in `pending_fault`).

The common case, done natively exactly as Mmu._walk does it: both levels present (or a
4 MiB page with CR4.PSE), the access allowed by U/S and R/W (CR0.WP for supervisor
writes), the accessed bits already set (and the dirty bit for a write), the frame in RAM,
and room in the TLB's fill log.  The entry goes into the read view of the privilege, and
into its write view too when the page is writable and dirty; the page is noted in the log
(global with PTE.G and CR4.PGE), as Tlb.fill notes it in its sets.  A walk that has bits to
set, or a fault to raise, is the monitor's: setting A/D bits in guest memory may hit
translated code, and a fault has CR2 and an error code to write.

Example:
    define_tlb_fill(module, callback_address, layout)     # with the dispatcher, permanent
"""

import ctypes

from ..x86.mmu import ACCESSED, CR0_WP, CR4_PGE, CR4_PSE, DIRTY, G, P, PS, RW, US
from ..x86.tlb import LOG_CAPACITY, LOG_GLOBAL, FillLog
from .irtext import TextArith, Value
from .llvm_builder import FILL_CC, OFFSETS

STATE, LINEAR, KIND = Value("%state", "ptr"), Value("%linear", "i32"), Value("%kind", "i32")


def define_tlb_fill(module, callback_address, layout):
    """Define `tlb_fill` for the machine whose MemoryLayout is `layout` (its RAM, TLB views
    and fill log, by address: the function is permanent, as the dispatcher is)."""
    fn = module.function("tlb_fill", "i64", ["ptr %state", "i32 %linear", "i32 %kind"], attrs="nounwind ")
    fn.cc = FILL_CC
    b = _Walk(fn, module, layout)
    b.start("entry")
    b.walk()
    b.start("monitor")
    callee = b.inttoptr(b.const(callback_address, 64))
    b.ret(b.call(callee.ref, "i64", [LINEAR, KIND], attrs=" nounwind"))


class _Walk(TextArith):
    def __init__(self, fn, module, layout):
        super().__init__(fn, module)
        self.layout = layout
        self.log = ctypes.addressof(layout.tlb.log)

    def c(self, value):
        return self.const(value, 32)

    def field(self, name):
        offset, w = OFFSETS[name]
        return self.load_ptr(f"i{w}", self.gep(STATE, offset))

    def monitor_if(self, cond):
        go_on = self.fn.label()
        self.cbranch(cond, "monitor", go_on)
        self.start(go_on)

    def lacks(self, value, bits):
        """i1: not all of `bits` set in `value`."""
        return self.ne(self.and_(value, self.c(bits), 32), self.c(bits), 32)

    def entry_of_table(self, address):
        """The i32 page-table entry at physical `address`; the monitor's if outside RAM."""
        self.monitor_if(self.ult(self.c(self.layout.size - 4), address, 32))
        ram = self.const(self.layout.ram, 64)
        return self.load_ptr("i32", self.inttoptr(self.add(ram, self.zext(address, 32, 64), 64)), align=4)

    def walk(self):
        write, user = self.and_(KIND, self.c(1), 32), self.and_(KIND, self.c(2), 32)
        cr0, cr4 = self.field("cr0"), self.field("cr4")
        pde = self.entry_of_table(self.or_(self.and_(self.field("cr3"), self.c(0xFFFFF000), 32),
                                           self.and_(self.lshr(LINEAR, self.c(20), 32), self.c(0xFFC), 32), 32))
        self.monitor_if(self.lacks(pde, P | ACCESSED))
        big = self.and_(self.ne(self.and_(pde, self.c(PS), 32), self.c(0), 32),
                        self.ne(self.and_(cr4, self.c(CR4_PSE), 32), self.c(0), 32), 1)
        self.cbranch(big, "big", "small")
        self.start("small")
        pte = self.entry_of_table(self.or_(self.and_(pde, self.c(0xFFFFF000), 32),
                                           self.and_(self.lshr(LINEAR, self.c(10), 32), self.c(0xFFC), 32), 32))
        self.monitor_if(self.lacks(pte, P | ACCESSED))
        both = self.and_(pde, pte, 32)
        small_from = self.current
        self.br("walked")
        self.start("big")
        self.br("walked")
        self.start("walked")
        leaf = self.phi("i32", [(pte, small_from), (pde, "big")])           # PTE, or the 4 MiB PDE
        rights = self.phi("i32", [(both, small_from), (pde, "big")])
        frame = self.select(big, self.or_(self.and_(pde, self.c(0xFFC00000), 32),
                                          self.and_(LINEAR, self.c(0x3FF000), 32), 32),
                            self.and_(leaf, self.c(0xFFFFF000), 32), 32)
        is_user, is_write = self.ne(user, self.c(0), 32), self.ne(write, self.c(0), 32)
        self.monitor_if(self.and_(is_user, self.lacks(rights, US), 1))
        protected = self.or_(is_user, self.ne(self.and_(cr0, self.c(CR0_WP), 32), self.c(0), 32), 1)
        writable = self.or_(self.not_(self.lacks(rights, RW), 1), self.not_(protected, 1), 1)
        self.monitor_if(self.and_(is_write, self.not_(writable, 1), 1))
        dirty = self.not_(self.lacks(leaf, DIRTY), 1)
        self.monitor_if(self.and_(is_write, self.not_(dirty, 1), 1))
        self.monitor_if(self.ult(self.c(self.layout.size - 0x1000), frame, 32))        # not RAM
        count_slot = self.inttoptr(self.const(self.log + FillLog.count.offset, 64))
        count = self.load_ptr("i32", count_slot)
        self.monitor_if(self.eq(count, self.c(LOG_CAPACITY), 32))
        page = self.lshr(LINEAR, self.c(12), 32)
        global_ = self.and_(self.not_(self.lacks(leaf, G), 1), self.ne(self.and_(cr4, self.c(CR4_PGE), 32), self.c(0), 32), 1)
        noted = self.or_(page, self.select(global_, self.c(LOG_GLOBAL), self.c(0), 32), 32)
        pages = self.const(self.log + FillLog.pages.offset, 64)
        self.store_ptr(noted, self.inttoptr(self.add(pages, self.shl(self.zext(count, 32, 64), self.const(2, 64), 64), 64)))
        self.store_ptr(self.add(count, self.c(1), 32), count_slot)
        walks = self.inttoptr(self.const(self.log + FillLog.walks.offset, 64))
        self.store_ptr(self.add(self.load_ptr("i32", walks), self.c(1), 32), walks)
        linear_page = self.zext(self.and_(LINEAR, self.c(0xFFFFF000), 32), 32, 64)
        entry = self.add(self.sub(self.add(self.const(self.layout.ram, 64), self.zext(frame, 32, 64), 64),
                                  linear_page, 64), self.const(1, 64), 64)
        slot = self.shl(self.zext(page, 32, 64), self.const(3, 64), 64)
        views = {(u, w): self.const(self.layout.tlb.view_address(u, w), 64) for u in (False, True) for w in (False, True)}
        read_view = self.select(is_user, views[True, False], views[False, False], 64)
        write_view = self.select(is_user, views[True, True], views[False, True], 64)
        self.store_ptr(entry, self.inttoptr(self.add(read_view, slot, 64)))
        self.cbranch(self.and_(writable, dirty, 1), "write_view", "done")
        self.start("write_view")
        self.store_ptr(entry, self.inttoptr(self.add(write_view, slot, 64)))
        self.br("done")
        self.start("done")
        self.ret(entry)
