"""Hardware task switches between 32-bit TSSs (SDM vol. 3, 7.3), as far as Linux needs them.

i386 Linux takes double faults through a task gate (a fresh stack in its own
TSS) and may return from that task with iret and NT set.  A switch:
  1. checks the new TSS descriptor: present (#NP), limit >= 0x67 (#TS), not busy
     for jmp/call/interrupts (#GP), busy for an iret return; 16-bit TSSs and
     task gates to them are #GP-refused (vmm supports 32-bit TSSs only);
  2. saves EIP, EFLAGS, the general registers and the segment selectors into the
     current TSS (jmp and iret: old TSS no longer busy, NT cleared in the image);
  3. call and interrupts: writes the old TR selector as the new TSS's back link
     and sets NT in the new task;
  4. marks the new TSS busy, loads TR, sets CR0.TS, loads CR3, EIP, EFLAGS, the
     general registers, the LDT and the segment registers (a failing segment is
     #TS(selector), raised in the new task);
  5. an exception with an error code pushes it on the new task's stack.
The I/O map base and the debug trap bit are not acted on.

Example:
    eip = switch_by_instruction(machine, tss_descriptor, 0x28, "jmp", insn.next)
"""

from .mmu import CR4_PGE
from . import sysmem
from ..errors import GuestFault
from .descriptors import BUSY, TASK_GATE, TSS32_AVAILABLE, TSS32_BUSY, fault, fetch, set_type_bit
from .exceptions import GP, NP, TS
from .protection import NT_MASK, current_cpl
from .segments import DATA_SEGMENTS, checked_data, checked_stack, fill, set_cache, set_selector
from .stackframe import Stack
from .state import CS, SS
from .tss import lldt

MIN_LIMIT = 0x67
CR3, EIP, EFLAGS, GPRS, SEGMENTS, LDT_SELECTOR = 0x1C, 0x20, 0x24, 0x28, 0x48, 0x60
CR0_TS = 1 << 3


def switch_through_gate(m, gate, error_code, return_eip, ext):
    """An interrupt or exception through a task gate."""
    selector = gate.gate_selector
    if selector & 4:
        raise fault(GP, selector, "task gate names a TSS in the LDT", ext)
    tss = fetch(m, selector, GP, ext)
    switch(m, tss, selector, "int", return_eip, ext)
    if error_code is not None:
        stack = Stack.current(m)
        stack.push(error_code, 32)
        stack.commit()


def switch_by_instruction(m, d, selector, kind, return_eip):
    """jmp/call far to a TSS descriptor or a task gate; returns the new EIP."""
    cpl = current_cpl(m)
    if d.dpl < cpl or d.dpl < (selector & 3):
        raise fault(GP, selector, f"task DPL {d.dpl} below CPL {cpl} or RPL {selector & 3}")
    if d.type == TASK_GATE:
        if not d.present:
            raise fault(NP, selector, "task gate not present")
        selector = d.gate_selector
        if selector & 4:
            raise fault(GP, selector, "task gate names a TSS in the LDT")
        d = fetch(m, selector)
    switch(m, d, selector, kind, return_eip)
    return m.state.eip


def return_to_previous(m, resume_eip):
    """iret with NT set: back to the task named by the current TSS's back link; the
    current task resumes at `resume_eip` when it is entered again."""
    tr = m.state.tr
    selector = sysmem.read(m, tr.base, 2)
    if selector & 4:
        raise fault(TS, selector, "back link names a TSS in the LDT")
    d = fetch(m, selector, TS)
    if d.type != TSS32_BUSY:
        raise fault(TS, selector, "iret to a task that is not a busy 32-bit TSS")
    switch(m, d, selector, "iret", resume_eip)
    return m.state.eip


def switch(m, new, selector, kind, return_eip, ext=0):
    """Switch from the current task to the TSS `new` (kind: jmp, call, int or iret)."""
    s = m.state
    if not new.is_system or new.type not in (TSS32_AVAILABLE, TSS32_BUSY):
        raise fault(GP, selector, "not a 32-bit TSS", ext)
    if (new.type == TSS32_BUSY) != (kind == "iret"):
        raise fault(TS if kind == "iret" else GP, selector, "TSS busy state wrong for a task " + kind, ext)
    if not new.present:
        raise fault(NP, selector, "TSS not present", ext)
    if new.limit < MIN_LIMIT:
        raise fault(TS, selector, f"TSS limit {new.limit:#x} below {MIN_LIMIT:#x}", ext)
    old_tr = s.tr
    old_base, old_selector = old_tr.base, old_tr.selector
    eflags = m.builder.eflags()
    if kind in ("jmp", "iret"):
        eflags &= ~NT_MASK
    _save(m, old_base, return_eip, eflags)
    if kind in ("jmp", "iret"):
        old = fetch(m, old_selector)
        sysmem.write(m, old.address + 5, 1, ((old.raw >> 40) & 0xFF) & ~BUSY)
    base = new.base
    if kind in ("call", "int"):
        sysmem.write(m, base, 2, old_selector)
    set_type_bit(m, new, BUSY)
    old_tr.selector, old_tr.base, old_tr.limit, old_tr.flags = selector, base, new.limit, new.flags | BUSY
    _load(m, base, nested=kind in ("call", "int"))


def _save(m, base, eip, eflags):
    s = m.state
    sysmem.write(m, base + EIP, 4, eip)
    sysmem.write(m, base + EFLAGS, 4, eflags)
    for n in range(8):
        sysmem.write(m, base + GPRS + 4 * n, 4, s.gpr[n])
    for n in range(6):
        sysmem.write(m, base + SEGMENTS + 4 * n, 2, s.seg[n].selector)


def _load(m, base, nested):
    s = m.state
    s.cr[0] |= CR0_TS
    s.cr[3] = sysmem.read(m, base + CR3, 4)
    m.mappings_changed(keep_global=bool(s.cr[4] & CR4_PGE))
    s.eip = sysmem.read(m, base + EIP, 4)
    s.eflags = (sysmem.read(m, base + EFLAGS, 4) | 2) | (NT_MASK if nested else 0)
    for n in range(8):
        s.gpr[n] = sysmem.read(m, base + GPRS + 4 * n, 4)
    selectors = [sysmem.read(m, base + SEGMENTS + 4 * n, 2) for n in range(6)]
    for n, selector in enumerate(selectors):              # the selectors first, as the CPU does
        set_selector(s, n, selector)
    lldt(m, sysmem.read(m, base + LDT_SELECTOR, 2))
    cpl = selectors[CS] & 3
    code = fetch(m, selectors[CS], TS)
    if not code.is_code or (code.conforming and code.dpl > cpl) or (not code.conforming and code.dpl != cpl):
        raise fault(TS, selectors[CS], "new task's CS is not a code segment for its RPL")
    if not code.present:
        raise fault(NP, selectors[CS], "new task's CS not present")
    fill(s, CS, selectors[CS], code)
    fill(s, SS, selectors[SS], checked_stack(m, selectors[SS], cpl, TS))
    for seg in DATA_SEGMENTS:
        selector = selectors[seg]
        if selector & 0xFFFC == 0:
            set_cache(s, seg, selector, 0, 0, 0)
            continue
        try:
            fill(s, seg, selector, checked_data(m, selector, cpl))
        except GuestFault as error:
            raise fault(TS if error.vector == GP else error.vector, selector, error.reason) from None
