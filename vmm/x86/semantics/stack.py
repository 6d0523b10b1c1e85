"""Stack instructions: push pop pusha popa pushf popf enter leave.

The stack is 32-bit (addressed with ESP, as with SS.B = 1); the operand size (16 with
0x66, else 32) decides how much is pushed.  Every stack access is checked against SS
(#SS(0) beyond its limit).  Stores precede the ESP update so that a faulting push leaves
ESP as it was.

Example:
    stack.push(b, insn)       # insn = "push dword ptr [ebp + 8]"
"""

from ..operands import effective_address, linear, read, write
from ..protection import load_eflags
from ..state import EBP, ESP, SS


def _stack_addr(b, offset, w, write):
    """The linear address of a w-bit stack read or write at `offset` in SS."""
    return linear(b, SS, offset, w, write)


def push_value(b, value, w):
    """Push a w-bit value (the callers: push, call, interrupt frames built by semantics)."""
    esp = b.sub(b.reg(ESP, 32, 0), b.const(w // 8, 32), 32)
    b.store(_stack_addr(b, esp, w, True), value, w)
    b.set_reg(ESP, esp, 32, 0)


def pop_value(b, w):
    """(value, new ESP) of a w-bit pop; the caller writes ESP after its own stores."""
    esp = b.reg(ESP, 32, 0)
    return b.load(_stack_addr(b, esp, w, False), w), b.add(esp, b.const(w // 8, 32), 32)


def push(b, i):
    src = i.ops[0]
    w = 16 if i.opsize16 else 32
    if src.kind == "seg":                          # pushed zero-extended, as QEMU does
        value = b.field(f"seg{src.index}.selector")
        value = b.trunc(value, 32, 16) if w == 16 else value
    else:
        value = read(b, src, w=w)
        if src.kind != "imm" and src.w < w:
            value = b.zext(value, src.w, w)
    push_value(b, value, w)


def pop(b, i):
    dst = i.ops[0]
    value, esp = pop_value(b, dst.w)
    if dst.kind == "mem":
        # The destination address is computed with ESP already incremented (SDM "POP").
        offset = effective_address(b, dst)
        if dst.base == ESP:
            offset = b.add(offset, b.const(dst.w // 8, 32), 32)
        b.store(linear(b, dst.seg, offset, dst.w, write=True), value, dst.w)
        b.set_reg(ESP, esp, 32, 0)
    else:
        b.set_reg(ESP, esp, 32, 0)
        write(b, dst, value)                       # pop esp: the loaded value wins


def pusha(b, i):
    w = i.w
    esp = b.reg(ESP, 32, 0)
    for n in range(8):                             # eax ecx edx ebx esp(original) ebp esi edi
        slot = b.sub(esp, b.const((n + 1) * (w // 8), 32), 32)
        b.store(_stack_addr(b, slot, w, True), b.reg(n, w, 0) if n != ESP else b.trunc(esp, 32, w) if w < 32 else esp, w)
    b.set_reg(ESP, b.sub(esp, b.const(8 * (w // 8), 32), 32), 32, 0)


def popa(b, i):
    w = i.w
    esp = b.reg(ESP, 32, 0)
    values = [b.load(_stack_addr(b, b.add(esp, b.const((7 - n) * (w // 8), 32), 32), w, False), w) for n in range(8)]
    for n in range(8):
        if n != ESP:                               # the saved ESP is discarded
            b.set_reg(n, values[n], w, 0)
    b.set_reg(ESP, b.add(esp, b.const(8 * (w // 8), 32), 32), 32, 0)


def pushf(b, i):
    w = i.w
    image = b.and_(b.eflags(), b.const(0x00FCFFFF, 32), 32)      # VM and RF read as 0
    push_value(b, b.trunc(image, 32, 16) if w == 16 else image, w)


def popf(b, i):
    w = i.w
    value, esp = pop_value(b, w)
    b.set_reg(ESP, esp, 32, 0)
    load_eflags(b, b.zext(value, 16, 32) if w == 16 else value, w)     # IOPL/IF: vmm.x86.protection
    b.interrupt_window()


def enter(b, i):
    """With 0x66 the frame pointers are 16-bit (BP pushed and copied); EBP and ESP are set
    whole, as the stack is 32-bit (SDM "ENTER", StackSize = 32)."""
    w = 16 if i.opsize16 else 32
    step = w // 8
    size, level = i.ops[0].value & 0xFFFF, i.ops[1].value & 31
    ebp, esp = b.reg(EBP, 32, 0), b.reg(ESP, 32, 0)
    frame = b.sub(esp, b.const(step, 32), 32)
    b.store(_stack_addr(b, frame, w, True), b.reg(EBP, w, 0), w)
    top = frame
    for n in range(1, level):                      # copy the enclosing frames' pointers
        saved = b.load(_stack_addr(b, b.sub(ebp, b.const(step * n, 32), 32), w, False), w)
        top = b.sub(top, b.const(step, 32), 32)
        b.store(_stack_addr(b, top, w, True), saved, w)
    if level:
        top = b.sub(top, b.const(step, 32), 32)
        b.store(_stack_addr(b, top, w, True), b.trunc(frame, 32, w) if w < 32 else frame, w)
    b.set_reg(EBP, frame, 32, 0)
    b.set_reg(ESP, b.sub(top, b.const(size, 32), 32), 32, 0)


def leave(b, i):
    w = 16 if i.opsize16 else 32
    ebp = b.reg(EBP, 32, 0)
    value = b.load(_stack_addr(b, ebp, w, False), w)
    b.set_reg(ESP, b.add(ebp, b.const(w // 8, 32), 32), 32, 0)
    b.set_reg(EBP, value, w, 0)                    # 0x66: only BP is loaded
