"""Trace logging in QEMU's style (`-d in_asm,exec,int,cpu,callout`, `-D FILE`).

Categories:
    in_asm   guest code as the translator forms each block ("IN:", then the instructions)
    exec     each translated block as it starts ("Trace: address [count]"); with exec (or
             cpu) on, translated code does not chain (QEMU's `nochain`): the monitor runs
             one block per dispatcher call and logs it
    cpu      the CPU state before each executed block (implies the same nochain running)
    int      every exception and interrupt delivered (or stopping the run): vector, error
             code, EIP, and why
    callout  every instruction the monitor runs for the guest (port I/O, descriptor tables,
             CRs, MSRs, int n...) with its operand values

in_asm, exec and cpu describe translated blocks (the jit engine); int and callout come
from the monitor and are the same on both engines.

Example:
    machine.trace = Trace.from_spec("in_asm,int", sys.stderr)
    machine.run()
"""

from ..errors import VmmError
from ..x86.exceptions import name as vector_name
from ..x86.operands import address, read
from ..x86.state import GPR_NAMES, SEG_NAMES

CATEGORIES = ("in_asm", "exec", "int", "cpu", "callout")


class Trace:
    """Where trace lines go (`out`, a text stream) and which categories are on."""

    def __init__(self, categories, out):
        unknown = sorted(set(categories) - set(CATEGORIES))
        if unknown:
            raise VmmError(f"-d: unknown log item {', '.join(unknown)} (have: {','.join(CATEGORIES)})")
        self.out = out
        self.in_asm, self.exec, self.int, self.cpu, self.callouts = (c in categories for c in CATEGORIES)
        self.nochain = self.exec or self.cpu          # log every block: translated code must not chain

    @classmethod
    def from_spec(cls, spec, out):
        """`spec` as -d takes it: comma-separated category names."""
        return cls({item.strip() for item in spec.split(",") if item.strip()}, out)

    def _write(self, text):
        self.out.write(text)
        self.out.flush()

    def translated(self, address, insns):
        if self.in_asm:
            lines = [f"{insn.address:#010x}:  {insn.raw.hex():<20} {insn.text()}" for insn in insns]
            self._write("IN:\n" + "\n".join(lines) + "\n\n")

    def executed(self, machine, address, executions):
        if self.exec:
            self._write(f"Trace: {address:#010x} [{executions}]\n")
        if self.cpu:
            self._write(cpu_state(machine))

    def interrupt(self, vector, error_code, eip, detail):
        if self.int:
            error = "" if error_code is None else f" error={error_code:#x}"
            self._write(f"INT: vector={vector:#04x} ({vector_name(vector)}){error} eip={eip:#010x}: {detail}\n")

    def callout(self, machine, insn):
        if self.callouts:
            operands = ", ".join(_operand(machine, op) for op in insn.ops)
            self._write(f"CALLOUT: {insn.address:#010x}: {insn.text()} [{operands}]\n")


def _operand(m, op):
    """An operand's value (a memory operand's address: reading it could fault)."""
    if op.kind == "mem":
        return f"mem@{address(m.builder, op):#x}"
    if op.kind == "imm":
        return f"{op.value & ((1 << op.w) - 1):#x}"
    if op.kind == "cr":
        return f"cr{op.index}={m.state.cr[op.index]:#x}"
    return f"{read(m.builder, op):#x}"


def cpu_state(m):
    """QEMU-like register dump: GPRs, EIP, EFLAGS, segments, CRs, instructions retired."""
    s = m.state
    regs = [f"{name.upper()}={m.reg_read(name):08x}" for name in GPR_NAMES]
    lines = [" ".join(regs[:4]), " ".join(regs[4:]),
             f"EIP={s.eip:08x} EFL={m.reg_read('eflags'):08x} ICOUNT={s.icount}"]
    lines += [f"{name.upper():<3}={s.seg[n].selector:04x} {s.seg[n].base:08x} {s.seg[n].limit:08x} {s.seg[n].flags:04x}"
              for n, name in enumerate(SEG_NAMES)]
    lines.append(" ".join(f"CR{n}={s.cr[n]:08x}" for n in (0, 2, 3, 4)))
    return "\n".join(lines) + "\n"
