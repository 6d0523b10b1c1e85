"""Host code of a translated block: LLVM emits an object file, LIEF finds the function's
symbol in it, Capstone (x86-64) disassembles its bytes.

Example:
    lines = host_disassembly(llvm_module_text, "b_00101000_3", tier=2)
"""

import lief
import llvmlite.binding as llvm
from capstone import Cs, CS_ARCH_X86, CS_MODE_64

from ..translator.jit import Jit


def optimized_ir(jit, module_text):
    """The module after the tier-2 optimisation pipeline, as text."""
    llmod = llvm.parse_assembly(module_text)
    jit.optimize(llmod)
    return str(llmod)


def host_disassembly(jit: Jit, module_text, function, tier):
    """["0000  mov eax, dword ptr [rdi + 0x30]", ...] for `function` compiled at `tier` (object
    code before relocation: calls and absolute addresses of other functions read as 0)."""
    llmod = llvm.parse_assembly(module_text)
    if tier == 2:
        jit.optimize(llmod)
    obj = jit.machines[tier].emit_object(llmod)
    binary = lief.parse(list(obj))
    symbol = next(s for s in binary.symbols if s.name == function)
    section = binary.sections[symbol.shndx]          # .text or .ltext (large code model)
    code = bytes(section.content)[symbol.value:symbol.value + symbol.size]
    md = Cs(CS_ARCH_X86, CS_MODE_64)
    return [f"{i.address:04x}  {i.mnemonic} {i.op_str}".rstrip() for i in md.disasm(code, 0)]
