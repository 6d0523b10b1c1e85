"""Far control transfers: jmp/call far (to code segments and through call gates), retf, iret.

Protected mode follows the SDM's pseudocode for JMP, CALL, RET and IRET (vol.
2) and chapter 5.8 (vol. 3), with QEMU's seg_helper.c as the reference for
the order of checks:
  jmp/call to a code segment   conforming: DPL <= CPL; non-conforming: RPL <= CPL
                               and DPL = CPL; CPL does not change
  through a call gate          gate DPL >= CPL and >= RPL; the target code segment
                               DPL <= CPL (jmp: = CPL unless conforming).  A call
                               to a non-conforming segment with DPL < CPL switches
                               to the TSS stack of that ring, pushes SS, ESP, the
                               gate's parameter count of words or dwords copied
                               from the old stack, then CS and EIP
  retf/iret                    return CS.RPL >= CPL; to an outer level it pops ESP
                               and SS too and nulls ES/DS/FS/GS that level may not use
  iret                         EFLAGS as popf would load them at the old CPL; NT set:
                               a return to the previous task (vmm.x86.tasks)
Failures are #GP/#NP/#TS/#SS with the selector as error code (0 for null);
a target beyond the code segment limit is #GP(0).  Every check and stack read
comes before any register changes.  Real mode: CS = selector, base selector*16.

Example:
    eip = transfer_far(machine, "jmp", 0x08, 0x100000, 32, return_eip=insn.next)
    eip = transfer_far(machine, "call", 0x33, 0, 32, return_eip=insn.next)      # a call gate
    eip = return_far(machine, 32, release=0, iret=True)
"""

from ..errors import GuestFault, GuestStop
from .descriptors import CALL_GATE16, CALL_GATE32, TASK_GATE, TSS_TYPES, fault, fetch
from .exceptions import GP, NP
from .protection import NT_MASK, VM_MASK, current_cpl, load_eflags
from .segments import checked_stack, drop_inaccessible, load_code, load_real_mode, load_stack
from .stackframe import Stack, entry_stack
from .state import CR0_PE, CS, ESP
from . import tasks

CALL_GATES = (CALL_GATE16, CALL_GATE32)


def _protected(m):
    return bool(m.state.cr[0] & CR0_PE)


def _target(m, selector):
    if selector & 0xFFFC == 0:
        raise GuestFault(GP, 0, "far transfer to a null selector")
    return fetch(m, selector)


def _direct_code(d, selector, cpl):
    """Checks for a jmp/call straight to a code segment (the CPL stays)."""
    if d.conforming and d.dpl > cpl:
        raise fault(GP, selector, f"conforming code DPL {d.dpl} above CPL {cpl}")
    if not d.conforming and ((selector & 3) > cpl or d.dpl != cpl):
        raise fault(GP, selector, f"non-conforming code DPL {d.dpl} / RPL {selector & 3} at CPL {cpl}")
    if not d.present:
        raise fault(NP, selector, "code segment not present")


def _through_gate(m, gate, selector, cpl, jump):
    """The code descriptor a call gate leads to, checked."""
    if gate.dpl < cpl or gate.dpl < (selector & 3):
        raise fault(GP, selector, f"call gate DPL {gate.dpl} below CPL {cpl} or RPL {selector & 3}")
    if not gate.present:
        raise fault(NP, selector, "call gate not present")
    target = gate.gate_selector
    code = _target(m, target)
    if not code.is_code or code.dpl > cpl or (jump and not code.conforming and code.dpl != cpl):
        raise fault(GP, target, "call gate target is not a code segment this CPL may enter")
    if not code.present:
        raise fault(NP, target, "call gate target not present")
    return target, code


def _check_limit(offset, code):
    if offset > code.limit:
        raise GuestFault(GP, 0, f"target {offset:#x} beyond the code segment limit {code.limit:#x}")


def transfer_far(m, kind, selector, offset, w, return_eip):
    """jmp or call (`kind`) to ptr16:w or m16:w; returns the new EIP."""
    s = m.state
    call = kind == "call"
    stack = Stack.current(m)
    if not _protected(m):
        if call:
            stack.push(s.seg[CS].selector, w)
            stack.push(return_eip, w)
            stack.commit()
        load_real_mode(m.state, CS, selector)
        return offset
    cpl = current_cpl(m)
    d = _target(m, selector)
    if d.is_system and (d.type in TSS_TYPES or d.type == TASK_GATE):
        return tasks.switch_by_instruction(m, d, selector, kind, return_eip)
    new_cpl = cpl
    if d.is_code:
        _direct_code(d, selector, cpl)
        code = d
    elif d.is_system and d.type in CALL_GATES:
        selector, code = _through_gate(m, d, selector, cpl, jump=not call)
        offset = d.gate_offset
        if call:
            w = 32 if d.type == CALL_GATE32 else 16
            stack, new_cpl = entry_stack(m, code, cpl, w)
            caller = Stack.current(m)
            for n in reversed(range(d.param_count if new_cpl != cpl else 0)):   # in their order
                stack.push(caller.read(n * w // 8, w), w)
    else:
        raise fault(GP, selector, "far transfer target is not code, a call gate or a task")
    if call:
        stack.push(s.seg[CS].selector, w)
        stack.push(return_eip, w)
    _check_limit(offset, code)
    stack.commit()
    load_code(m, selector, code, new_cpl)
    return offset


def return_far(m, w, release=0, iret=False, next_eip=0):
    """retf [imm16] (release = imm16) or iret; returns the new EIP.  `next_eip`: where the
    current task resumes if this iret returns to a previous task (NT set)."""
    s = m.state
    if iret and _protected(m) and s.eflags & NT_MASK:
        return tasks.return_to_previous(m, next_eip)
    stack = Stack.current(m)
    eip, selector = stack.pop(w), stack.pop(w) & 0xFFFF
    flags = stack.pop(w) if iret else None
    if not _protected(m):
        load_real_mode(m.state, CS, selector)
        stack.skip(release)
        stack.commit()
        if iret:
            load_eflags(m.builder, flags, w, 0)
        return eip
    cpl, rpl = current_cpl(m), selector & 3
    if iret and flags & VM_MASK and cpl == 0 and w == 32:
        raise GuestStop(f"iret to virtual-8086 mode at cs:eip={selector:#x}:{eip:#x}: not modelled by vmm")
    code = _target(m, selector)
    if not code.is_code or rpl < cpl:
        raise fault(GP, selector, f"return to a non-code segment or to RPL {rpl} < CPL {cpl}")
    if (code.conforming and code.dpl > rpl) or (not code.conforming and code.dpl != rpl):
        raise fault(GP, selector, f"return code segment DPL {code.dpl} does not match RPL {rpl}")
    if not code.present:
        raise fault(NP, selector, "return code segment not present")
    stack.skip(release)
    if rpl == cpl:
        _check_limit(eip, code)
        stack.commit()
        load_code(m, selector, code, rpl)
    else:                                                   # to an outer level: its stack too
        esp, ss = stack.pop(w), stack.pop(w) & 0xFFFF
        stack_segment = checked_stack(m, ss, rpl, GP)
        _check_limit(eip, code)
        load_code(m, selector, code, rpl)
        load_stack(m, ss, stack_segment)
        mask = 0xFFFFFFFF if stack_segment.big else 0xFFFF    # a 16-bit stack: ESP keeps its high half
        s.gpr[ESP] = (s.gpr[ESP] & ~mask) | ((esp + release) & mask)
        drop_inaccessible(m, rpl)
    if iret:
        load_eflags(m.builder, flags, w, cpl)
    return eip
