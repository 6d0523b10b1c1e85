"""Callouts the monitor runs from inside translated code: port I/O, hlt, invlpg, mov cr3 and
data segment loads without leaving it.

A callout whose registry entry has the fast path `monitor_call` (vmm.x86.callouts: `in`,
`out`, `ins`, `outs`, `hlt`, `invlpg`, `mov cr3`, `mov`/`pop` to DS, ES, FS or GS) is translated as its block's last instruction, like
the native fast paths (vmm.translator.fastpath, LLVMBuilder._emit_fast): the block writes
guest state back as it is before the instruction and calls, through the slot
`vmm.monitor_call_slot`, a ctypes callback into Python (QEMU calls its device helpers from
TB code the same way):

    i32 monitor_call(ptr state, i32 low, i32 high, i32 length)

`low`, `high` and `length` are the instruction's bytes (little-endian, up to 8; a longer
one has no fast path): with EIP they find the decoded instruction (`Insn`) in a cache, so
code from the persistent cache needs nothing per process.  The callback runs the registry's
own handler on the interpreter's builder, as the interpreter's step does (the I/O permission
check, hooks, the device bus), and returns:

    DONE     the instruction retired: EIP is the next one (after a hlt woken here, the
             interrupt handler's) and the block goes on there; it counts the instruction, so
             the handler sees the instruction count the interpreter shows
    DECLINE  nothing happened: the fast paths are off (-d tracing), or the handler raised a
             GuestFault before any port access (Machine.port_accesses did not move), so the
             block leaves with STEP and the interpreter runs the instruction again and
             delivers the fault; a device is never accessed twice
    LEAVE    the state stands as it is: a GuestFault after a port access was delivered here
             (the instruction did not retire, as on the interpreter), or a host error was
             kept for `reraise` (Translator.run raises it at once, as the interpreter
             would have); the block returns BUDGET

After the call the block only writes its state back and returns to the dispatcher (the
EIP it goes on at is read from the state, so nothing is chained), which looks the next
block up in the jump cache by the mode and linear address as they are now: so a handler may
change mappings (invlpg and mov cr3 drop TLB and jump-cache entries) and the segment-check
bits the lookup reads (DS, ES; FS and GS are checked at every access), but not CS, SS or the
CPU mode beyond what the dispatcher's lookup checks (those stay callouts that exit).

It never raises into ctypes.  When the handler left the monitor something to look at (a
device raised an interrupt or a timer was armed: `Machine.attention`; a stop request such as
isa-debug-exit), it lowers `icount_limit` to 0: the next block entry returns BUDGET, so the
monitor loop takes the interrupt or stops at the next instruction boundary, where the
interpreter would stop before its next instruction.  So it does once the run's wall-clock
timeout has passed: a loop of port I/O (a `rep outsb` of four billion bytes) no longer
returns to Python at every instruction, where the timeout used to be looked at.

A hlt that halted the CPU (IF set) is serviced here at once with the monitor loop's own step
(Machine.service: skip virtual time to the next timer deadline, fire the timers, take the
interrupt through the native delivery); woken, the block goes on in the interrupt handler
with `icount_limit` cut at the next timer deadline, as the monitor loop would cut its next
slice, so a guest idling in a timer loop stays in native code.  Instruction counts, virtual
time and the instruction at which each interrupt is taken are the interpreter's.  Not
woken (no interrupt yet, no timer armed, a stop), or past the run's wall-clock timeout, the
block returns to the monitor loop as for any other attention.

Example:
    call = MonitorCall(translator)          # the Translator's; its slot is in layout.fast
    call.done                               # instructions run this way
"""

import ctypes

from ..errors import GuestFault
from ..x86.callouts import MONITOR_CALL as NAME      # the fast path's name: vmm.monitor_call_slot
from ..x86.decoder import fetch
from ..x86.interrupts import deliver
from ..x86.state import EDX
from .devicepath import could_handle
from .fastpath import DECLINE, DONE

LEAVE = 2                              # DONE, DECLINE and this: what LLVMBuilder._emit_fast expects
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32)


class MonitorCall:
    """The callback of one Translator, the slot blocks call it through, and its counts."""

    def __init__(self, translator):
        self.translator = translator
        self.m = translator.m
        self._callback = _CALLBACK(self._call)      # kept alive as long as the slot holds it
        self.python_slot = ctypes.c_uint64(ctypes.cast(self._callback, ctypes.c_void_p).value)
        self.slot = ctypes.c_uint64(self.python_slot.value)     # then the native fast path in front
                                                                # of it (vmm.translator.devicepath)
        self.insns = {}            # (eip, raw, length) -> Insn
        self.done = 0              # callouts run through the callback (DONE)
        self.declined = 0
        self.wakes = 0             # hlts woken by an interrupt without leaving translated code
        self.error = None          # a host error raised by a handler, for `reraise`

    def _call(self, _state, low, high, length):
        m = self.m
        s = m.state
        if not self.translator.fast_enabled.value:
            self.declined += 1
            return DECLINE
        if self.translator.fast is None and could_handle(low, length, s.gpr[EDX] & 0xFFFF):
            self.translator.fast_paths()                 # from now on devicepath goes first
        accesses = m.port_accesses
        insn = None
        try:
            insn = self._insn(s.eip, low | high << 32, length)
            if insn is None:
                self.declined += 1
                return DECLINE
            b = m.builder
            b.insn, b.target = insn, None
            insn.spec.sem(m, b, insn)
            s.eip = insn.next if b.target is None else b.target
            m.callouts += 1
            self.done += 1
            if m.halted and m.stop_reason is None and not m.past_deadline():
                return self._wake()
            if m.attention or m.stop_reason is not None or m.past_deadline():
                s.icount_limit = 0
            return DONE
        except GuestFault as fault:
            if m.port_accesses == accesses:
                self.declined += 1
                return DECLINE
            return self._deliver(fault, insn)
        except BaseException as error:              # noqa: B036 -- nothing may reach ctypes
            return self._fail(error)

    def _wake(self):
        """hlt with IF set: the monitor's service now (Machine.service: skip to the next timer
        deadline, fire it, take the interrupt), as the monitor loop runs it once the hlt has
        retired (the block counts the hlt when this returns, so the count is one more
        meanwhile).  Woken, the block goes on in the handler with the budget cut at the next
        timer deadline, as the monitor loop cuts a slice; a budget cut shorter than the
        dispatcher's call was given also sets `attention`, so Translator.run returns to the
        monitor loop at that exit instead of going on to its own limit.  Still halted (or
        stopping): the block returns to the monitor loop."""
        m, s = self.m, self.m.state
        s.icount += 1
        try:
            cap = m.service()
        except BaseException as error:              # noqa: B036 -- e.g. a triple fault delivering it
            return self._fail(error)                # the hlt retired and stays counted
        limit = s.icount + m.until_deadline(cap) if cap else 0
        s.icount -= 1
        if limit < s.icount_limit:
            s.icount_limit = limit
            m.attention = True
        if cap:
            self.wakes += 1
        return DONE

    def _insn(self, eip, raw, length):
        """The instruction at EIP whose bytes are `raw`: decoded once (fetch, as the
        interpreter does), then from the cache; None if memory holds other bytes there (a
        block runs only while its bytes are unchanged, so this is a guard)."""
        key = (eip, raw, length)
        insn = self.insns.get(key)
        if insn is None:
            insn = fetch(self.m)
            if insn.raw != raw.to_bytes(8, "little")[:length]:
                return None
            self.insns[key] = insn
        return insn

    def _deliver(self, fault, insn):
        """A fault after a port access: delivered here, as the interpreter delivers it."""
        try:
            deliver(self.m, fault.vector, fault.error_code, insn.address, fault.reason or insn.text())
        except BaseException as error:              # noqa: B036 -- a triple fault stops the run
            return self._fail(error)
        return LEAVE

    def _fail(self, error):
        """Keep a host error for `reraise` and leave the block (LEAVE; the next block entry
        would return BUDGET too)."""
        self.error = error
        self.m.state.icount_limit = 0
        return LEAVE

    def reraise(self):
        """Raise the host error a handler raised in translated code (Translator.run, after
        each dispatcher call)."""
        if self.error is not None:
            error, self.error = self.error, None
            raise error
