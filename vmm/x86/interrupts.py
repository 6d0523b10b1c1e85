"""Delivering exceptions and interrupts to the guest through its IDT (SDM vol. 3, 6.10-6.15).

One function, `deliver`, is the only way a guest sees an exception, a
software interrupt or a hardware IRQ, on both engines:
  - the gate: a present interrupt, trap or task gate inside the IDT limit, else
    #GP/#NP(vector * 8 + 2 + EXT); `int n`, `int3` and `into` (software=True)
    also need gate DPL >= CPL, else #GP(vector * 8 + 2);
  - the handler's code segment: DPL <= CPL; a non-conforming one with
    DPL < CPL switches to the stack for that ring from the TSS and pushes the
    old SS and ESP first; then EFLAGS, CS, EIP and the error code if any
    (16-bit gates push words);
  - TF, NT, RF and VM are cleared, and IF for interrupt gates;
  - a task gate switches tasks (vmm.x86.tasks).
EXT (bit 0 of error codes raised while delivering) is set unless the event
is a software interrupt; a fault while delivering a software interrupt is the
instruction's own (the GuestFault propagates to the engine, which delivers it
at the instruction's address).  A fault while delivering is handled as the SDM's
table 6-5 says: contributory after contributory (or after #PF), or #PF after
#PF, is a double fault (#DF, error code 0) through the IDT; otherwise the
second exception is delivered instead.  A fault while delivering #DF is a
triple fault: the run stops with GuestStop (a PC resets; QEMU resets).
A guest with no IDT at all cannot take an exception: GuestStop names it.
#MF with CR0.NE clear is not an exception but the PC's FERR# line (`assert_ferr`): IRQ 13
on the PIC, and the x87 instruction that reported it runs when it is retried.

Example:
    deliver(machine, DE, None, return_eip=insn.address)
    deliver(machine, 0x80, None, insn.next, "int 0x80", software=True)
    deliver(machine, 0x20, None, machine.state.eip, "IRQ 0", external=True)
"""

from . import sysmem
from ..devices.layout import FPU_ERROR_IRQ
from ..errors import GuestFault, GuestStop
from .descriptors import (Descriptor, INT_GATE16, INT_GATE32, TASK_GATE, TRAP_GATE16, TRAP_GATE32,
                          fault, fetch)
from .exceptions import DE, DF, GP, MF, NP, PF, SS, TS, name
from .protection import IF_MASK, NT_MASK, RF_MASK, TF_MASK, VM_MASK, current_cpl
from .segments import load_code
from .stackframe import entry_stack
from .tasks import switch_through_gate
from .state import CR0_NE, CS

GATES = (INT_GATE16, TRAP_GATE16, INT_GATE32, TRAP_GATE32, TASK_GATE)
CONTRIBUTORY = frozenset((DE, TS, NP, SS, GP))
CLEARED = TF_MASK | NT_MASK | RF_MASK | VM_MASK


def deliver(m, vector, error_code, return_eip, detail="", software=False, external=False):
    """Enter the guest's handler for `vector`; return_eip is what the frame saves.
    `software`: int n / int3 / into (the gate's DPL is checked); `external`: a hardware IRQ."""
    if vector == MF and not m.state.cr[0] & CR0_NE:
        assert_ferr(m)
        return
    where = f" at eip={return_eip:#010x}" + (f": {detail}" if detail else "")
    if m.state.idtr.limit == 0:
        raise GuestStop(f"{name(vector)}{where} (no IDT loaded)", vector)
    if software:
        # A fault while delivering int n is the instruction's own: it propagates, and the
        # engine delivers it with the instruction's address, as the first event (benign).
        _enter(m, vector, error_code, return_eip, True, 0)
        return
    history = f"{name(vector)}{where}"
    while True:
        try:
            _enter(m, vector, error_code, return_eip, False, 1)
            return
        except GuestFault as nested:
            history += f"; then {name(nested.vector)} ({nested.reason})"
            if vector == DF:
                raise GuestStop(f"triple fault: {history}, while delivering the double fault; "
                                "a PC resets here", DF) from None
            benign_first = external or vector not in CONTRIBUTORY | {PF}
            if not benign_first and (nested.vector in CONTRIBUTORY or (vector == PF and nested.vector == PF)):
                vector, error_code = DF, 0
                history += ": a double fault"
            else:
                vector, error_code = nested.vector, nested.error_code
            external = False


def assert_ferr(m):
    """x87 error reporting with CR0.NE clear (SDM vol. 1, 8.7): the FPU's FERR# output, which
    a PC wires to IRQ 13 (a pulse: the PIC latches its edge), and `ferr` set.  EIP stays on
    the x87 instruction that found the error pending: an open interrupt is taken there
    first (a real CPU waits there for the IRQ 13 handler), and once it is retried the
    instruction runs, as if the exception were masked (as QEMU lets it run)."""
    m.state.ferr = 1
    if m.pic is not None:
        m.pic.raise_irq(FPU_ERROR_IRQ)
        m.pic.lower_irq(FPU_ERROR_IRQ)


def _gate(m, vector, software, ext):
    """The IDT entry for `vector`, checked."""
    idtr = m.state.idtr
    code = vector * 8 + 2 + ext
    if vector * 8 + 7 > idtr.limit:
        raise GuestFault(GP, code, f"vector {vector:#x} beyond the IDT limit {idtr.limit:#x}")
    address = (idtr.base + vector * 8) & 0xFFFFFFFF
    gate = Descriptor(sysmem.read(m, address, 8), address, 0)
    if not gate.is_system or gate.type not in GATES:
        raise GuestFault(GP, code, f"IDT entry {vector:#x} is not a gate (type {gate.type:#x})")
    if software and gate.dpl < current_cpl(m):
        raise GuestFault(GP, code, f"software interrupt {vector:#x} through a gate of DPL {gate.dpl}")
    if not gate.present:
        raise GuestFault(NP, code, f"IDT entry {vector:#x} not present")
    return gate


def _enter(m, vector, error_code, return_eip, software, ext):
    s = m.state
    gate = _gate(m, vector, software, ext)
    if gate.type == TASK_GATE:
        switch_through_gate(m, gate, error_code, return_eip, ext)
        return
    selector, cpl = gate.gate_selector, current_cpl(m)
    if selector & 0xFFFC == 0:
        raise GuestFault(GP, ext, "interrupt gate with a null code selector")
    code = fetch(m, selector, GP, ext)
    if not code.is_code or code.dpl > cpl:
        raise fault(GP, selector, "interrupt gate target is not a code segment at DPL <= CPL", ext)
    if not code.present:
        raise fault(NP, selector, "interrupt handler segment not present", ext)
    w = 32 if gate.type & 8 else 16
    eflags = m.builder.eflags()
    stack, new_cpl = entry_stack(m, code, cpl, w, ext)
    for value in (eflags, s.seg[CS].selector, return_eip) + (() if error_code is None else (error_code,)):
        stack.push(value, w)
    if gate.gate_offset > code.limit:
        raise GuestFault(GP, ext, f"handler offset {gate.gate_offset:#x} beyond the code segment limit")
    stack.commit()
    load_code(m, selector, code, new_cpl)
    cleared = CLEARED | (0 if gate.type & 1 else IF_MASK)    # interrupt gates (even types) clear IF
    s.eflags &= ~cleared & 0xFFFFFFFF
    s.eip = gate.gate_offset
