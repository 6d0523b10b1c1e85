"""A native fast path in front of the monitor's callback for the device work a timer tick
does: the hlt that waits for it, and the EOI and mask writes to the master 8259A.

Translated code calls the monitor for port I/O, hlt and the like through the slot
`vmm.monitor_call_slot` (vmm.translator.monitorcall).  Once the native fast paths are
compiled, that slot holds this function instead:

    i32 fast_monitor(ptr state, i32 low, i32 high, i32 length)

It does the job itself in the common case and returns DONE (EIP advanced, as the callback
would), and otherwise calls the Python callback, kept in `vmm.monitor_python_slot`, with the
same arguments and returns what it returns.  The common cases:

  `hlt` at CPL 0 with IF set (no interrupt shadow, nothing waiting) when the next timer event is
  the PIT's counter 0 in mode 2 or 3 (its deadline strictly the earliest, the clock
  virtual) and the master PIC `simple` with IRQ 0 unmasked, not in service and its line low:
  what Machine.service does then, done here.  Virtual time skips to the deadline, the
  counter's timer is armed for its next edge (PitTick), IRQ 0 is latched and acknowledged
  (ISR bit 0), the vector is delivered by fast_deliver (if it declines, nothing has been
  changed and the callback does it all), and `icount_limit` is cut at the next deadline as
  MonitorCall._wake cuts it (Translator.run keeps to a limit cut so).
  `out 0x20, al`, `out 0x21, al`, or `out dx, al` with DX 0x20 or 0x21 (no prefix), at
  CPL <= IOPL outside virtual-8086 mode, the fast paths enabled (not under -d tracing), the
  master PIC `simple` (vmm.devices.pic8259: operating, fixed priority, no special modes, no
  port hook), and the write one of: a mask (port 0x21), a non-specific EOI or a specific
  EOI (port 0x20, OCW2 commands 1 and 3), after which no request is waiting: nothing
  for the monitor to deliver.  Then IMR or ISR is written in the chip's native registers
  (PicRegs) and its INT pin stays low, exactly what Pic8259.write does in that case.

Anything else, a write that unmasks or uncovers a waiting request included, is the Python
callback's: it runs the device model, which raises the interrupt.

Example:
    module = Module("fast"); build(module, layout)     # with vmm.translator.fastpath.build
"""

from ..devices import layout as ports
from ..devices.clock import MAX_TIMERS, NO_DEADLINE, ClockRegs
from ..devices.pit8254 import NS_PER_S, PitTick
from ..x86.protection import IF_MASK, VM_MASK
from ..x86.state import CS, EAX, EDX
from . import symbols
from .fastpath import DONE, _Writer
from .irtext import Value
from .llvm_builder import STATE

NAME = "fast_monitor"
HLT, OUT_IMM8, OUT_DX = 0xF4, 0xE6, 0xEE      # hlt / out imm8, al / out dx, al
OCW2_EOI, OCW2_SPECIFIC_EOI = 1, 3            # OCW2 command field (bits 7-5)
NOT_OCW2 = 0x18                               # ICW1 (bit 4) or OCW3 (bit 3)
IRR, ISR, IMR, LEVEL, SIMPLE, LINES, VECTOR_BASE = range(7)     # byte offsets in PicRegs


def could_handle(low, length, dx):
    """Whether fast_monitor would look at this instruction (its bytes `low`, `length`; DX):
    the monitor compiles the fast paths the first time one comes to its callback."""
    opcode = low & 0xFF
    if opcode == HLT:
        return length == 1
    port = (low >> 8) & 0xFF if (opcode, length) == (OUT_IMM8, 2) else dx if (opcode, length) == (OUT_DX, 1) else None
    return port is not None and port & 0xFFFE == ports.PIC_MASTER_PORT


def build(module, layout, slice_):
    """Define fast_monitor in `module` (with vmm.translator.fastpath's functions, for
    fast_deliver); it links with the machine symbols plus vmm.pic_regs (the master's
    PicRegs), vmm.clock_regs, vmm.pit_tick (counter 0's) and vmm.monitor_python_slot.
    `slice_`: the machine's slice (Machine.service's budget after a wake)."""
    low, high, length = (Value(f"%{n}", "i32") for n in ("low", "high", "length"))
    w = _Writer(module, NAME, ["i32 %low", "i32 %high", "i32 %length"], layout)
    hlt = w.and_(w.eq(w.bits(low, 0xFF), w.c(HLT), 32), w.eq(length, w.c(1), 32), 1)
    w.cbranch(hlt, "hlt", "out")
    w.start("hlt")
    _wake(w, length, slice_)
    w.ret(w.c(DONE))
    w.start("out")
    _pic_write(w, low, length)
    w.ret(w.c(DONE))
    w.start("decline")
    callback = w.load_ptr("ptr", w.symbol(symbols.machine("monitor_python_slot")))
    w.ret(w.call(callback.ref, "i32", [STATE, low, high, length]))


def _byte(w, regs, offset):
    return w.zext(w.load_ptr("i8", w.gep(regs, offset)), 8, 32)


def _set_byte(w, regs, offset, value):
    w.store_ptr(w.trunc(value, 32, 8), w.gep(regs, offset))


def _pic_write(w, low, length):
    """An 8-bit `out` to the master PIC that leaves no request waiting (module docstring)."""
    opcode = w.bits(low, 0xFF)
    eflags = w.field("eflags")
    w.require(eflags, VM_MASK, 0)
    cpl, iopl = w.bits(w.field(f"seg{CS}.selector"), 3), w.bits(w.lshr(eflags, w.c(12), 32), 3)
    w.decline_if(w.ult(iopl, cpl, 32))
    imm = w.and_(w.eq(opcode, w.c(OUT_IMM8), 32), w.eq(length, w.c(2), 32), 1)
    dx = w.and_(w.eq(opcode, w.c(OUT_DX), 32), w.eq(length, w.c(1), 32), 1)
    w.decline_if(w.eq(w.or_(imm, dx, 1), w.const(0, 1), 1))
    port = w.select(imm, w.bits(w.lshr(low, w.c(8), 32), 0xFF), w.bits(w.field(f"gpr{EDX}"), 0xFFFF), 32)
    w.require(port, 0xFFFE, ports.PIC_MASTER_PORT)
    regs = w.symbol(symbols.machine("pic_regs"))
    w.decline_if(w.eq(_byte(w, regs, SIMPLE), w.c(0), 32))
    value = w.bits(w.field(f"gpr{EAX}"), 0xFF)
    irr, isr, imr = _byte(w, regs, IRR), _byte(w, regs, ISR), _byte(w, regs, IMR)
    mask = w.ne(w.bits(port, 1), w.c(0), 32)
    command = w.lshr(value, w.c(5), 32)
    eoi = w.and_(w.eq(w.bits(value, NOT_OCW2), w.c(0), 32),
                 w.or_(w.eq(command, w.c(OCW2_EOI), 32), w.eq(command, w.c(OCW2_SPECIFIC_EOI), 32), 1), 1)
    w.decline_if(w.eq(w.or_(mask, eoi, 1), w.const(0, 1), 1))
    highest_cleared = w.and_(isr, w.sub(isr, w.c(1), 32), 32)        # fixed priority: IR0 first
    named_cleared = w.and_(isr, w.not_(w.shl(w.c(1), w.bits(value, 7), 32), 32), 32)
    new_isr = w.select(mask, isr, w.select(w.eq(command, w.c(OCW2_EOI), 32), highest_cleared, named_cleared, 32), 32)
    new_imr = w.select(mask, value, imr, 32)
    requests = w.and_(irr, w.not_(new_imr, 32), 32)
    outranks = w.ult(_lowest(w, requests), _lowest(w, new_isr), 32)
    waiting = w.and_(w.ne(requests, w.c(0), 32), w.or_(w.eq(new_isr, w.c(0), 32), outranks, 1), 1)
    w.decline_if(waiting)
    _set_byte(w, regs, ISR, new_isr)
    _set_byte(w, regs, IMR, new_imr)
    _set_byte(w, regs, LEVEL, w.c(0))
    w.set_field("eip", w.add(w.field("eip"), length, 32))
    w.count()


def _wake(w, length, slice_):
    """hlt woken by counter 0's next edge (module docstring)."""
    w.require(w.field("eflags"), IF_MASK | VM_MASK, IF_MASK)
    w.require(w.field(f"seg{CS}.selector"), 3, 0)
    w.decline_if(w.ne(w.field("irq_pending"), w.c(0), 32))
    regs = w.symbol(symbols.machine("pic_regs"))
    w.decline_if(w.eq(_byte(w, regs, SIMPLE), w.c(0), 32))
    blocking = w.or_(w.or_(_byte(w, regs, IMR), _byte(w, regs, ISR), 32), _byte(w, regs, LINES), 32)
    w.require(blocking, 1, 0)
    w.decline_if(w.ne(_byte(w, regs, LEVEL), w.c(0), 32))
    clock = w.symbol(symbols.machine("clock_regs"))
    w.decline_if(w.eq(w.load_ptr("i32", w.gep(clock, ClockRegs.virtual.offset)), w.c(0), 32))
    tick = w.symbol(symbols.machine("pit_tick"))
    w.decline_if(w.eq(w.load_ptr("i32", w.gep(tick, PitTick.periodic.offset)), w.c(0), 32))
    timer = w.load_ptr("i32", w.gep(tick, PitTick.timer.offset))
    never = w.const(NO_DEADLINE, 64)
    deadline, others = never, never
    for k in range(MAX_TIMERS):
        armed = w.load_ptr("i64", w.gep(clock, ClockRegs.deadlines.offset + 8 * k))
        mine = w.eq(timer, w.c(k), 32)
        deadline = w.select(mine, armed, deadline, 64)
        others = _min64(w, others, w.select(mine, never, armed, 64))
    w.decline_if(w.ule(others, deadline, 64))
    icount = w.field("icount")
    retired = w.add(icount, w.const(1, 64), 64)                  # the hlt, counted by the block
    now = w.add(w.field("tsc"), retired, 64)
    w.decline_if(w.ule(deadline, now, 64))                       # due already: the monitor's
    w.decline_if(w.eq(w.field("int_shadow"), retired, 64))
    edge = w.add(w.load_ptr("i64", w.gep(tick, PitTick.edge.offset)),
                 w.zext(w.load_ptr("i32", w.gep(tick, PitTick.period.offset)), 32, 64), 64)
    next_deadline = _edge_ns(w, edge)
    vector = _byte(w, regs, VECTOR_BASE)
    delivered = w.call("@fast_deliver", "i32", [STATE, vector, w.c(0), w.c(0), w.add(w.field("eip"), length, 32), w.c(0)])
    w.decline_if(w.ne(delivered, w.c(DONE), 32))
    # Delivered: now the rest of Machine.service, which cannot fail.
    w.set_field("tsc", w.sub(deadline, retired, 64))
    _set_byte(w, regs, ISR, w.or_(_byte(w, regs, ISR), w.c(1), 32))
    _set_byte(w, regs, IRR, w.bits(_byte(w, regs, IRR), 0xFE))
    slot = w.add(w.c(ClockRegs.deadlines.offset), w.shl(timer, w.c(3), 32), 32)
    w.store_ptr(next_deadline, w.inttoptr(w.add(w.symbol_int(symbols.machine("clock_regs")), w.zext(slot, 32, 64), 64)))
    w.store_ptr(edge, w.gep(tick, PitTick.edge.offset))
    # Machine.until_deadline's max(1, ...) holds already: both deadlines lie after this one.
    ahead = w.sub(_min64(w, next_deadline, others), deadline, 64)
    budget = _min64(w, ahead, w.const(slice_, 64))
    w.set_field("icount_limit", _min64(w, w.field("icount_limit"), w.add(retired, budget, 64)))
    w.count("fast_wake")


def _edge_ns(w, edge):
    """pit8254.edge_ns of the i64 `edge`, ceil(edge * 10^9 / PIT_HZ), in 64 bits: whole
    seconds of PIT clocks and the rest apart, so no product overflows."""
    hz = w.const(ports.PIT_HZ, 64)
    seconds, rest = w.udiv(edge, hz, 64), w.urem(edge, hz, 64)
    fraction = w.udiv(w.add(w.mul(rest, w.const(NS_PER_S, 64), 64), w.const(ports.PIT_HZ - 1, 64), 64), hz, 64)
    return w.add(w.mul(seconds, w.const(NS_PER_S, 64), 64), fraction, 64)


def _min64(w, x, y):
    return w.select(w.ult(x, y, 64), x, y, 64)


def _lowest(w, bits):
    """The lowest set bit of `bits` (as a value): the highest priority with base 0."""
    return w.and_(bits, w.neg(bits, 32), 32)
