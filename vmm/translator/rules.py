"""The rewrite rules: how each guest instruction is treated by the translator, and why.

The decision is data read from the one instruction table (vmm.x86.table);
this module states what each class means for translated code, for the
inspector and for block formation.

    IDENT    translated: the shared semantics lowered to IR as they are
    INLINE   translated: emulated in place against virtual CPU state (no exit)
    CALLOUT  not translated: the block ends before it; the monitor runs it.  A callout
             with a native fast path (int n, int3, iret: vmm.translator.fastpath) is
             translated as the block's last instruction: the native code does the
             common case, and the rest exits to the monitor before the instruction
    UNDEF    not translated: the block ends before it; the monitor raises #UD

Example:
    decide(insn)     # Decision(cls='CALLOUT', translated=False, reason='port I/O reaches a device model')
"""

from dataclasses import dataclass

from ..x86.table import IDENT, UNDEF
from ..x86.callouts import INLINE, CALLOUT

TRANSLATED = frozenset((IDENT, INLINE))
MEANING = {
    IDENT: "lowered to IR as-is",
    INLINE: "emulated inline against virtual CPU state",
    CALLOUT: "exit to the monitor before this instruction",
    UNDEF: "exit to the monitor, which raises #UD",
}


@dataclass(frozen=True)
class Decision:
    cls: str
    translated: bool
    ends_block: bool
    reason: str


FAST_REASON = "; translated code runs the common case natively (vmm.translator.fastpath)"


def decide(insn):
    spec = insn.spec
    reason = spec.reason if spec.cls != UNDEF else f"{spec.reason} ({insn.why})"
    if fast_path(insn) is not None:
        return Decision(spec.cls, True, True, reason + FAST_REASON)
    return Decision(spec.cls, spec.cls in TRANSLATED, spec.ends_block, reason)


def fast_path(insn):
    """(native fast path name, its int arguments) for a callout that has one, else None."""
    return insn.spec.fast(insn) if insn.spec.fast is not None else None
