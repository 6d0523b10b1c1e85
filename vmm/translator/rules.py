"""The rewrite rules: how each guest instruction is treated by the translator, and why.

The decision is data read from the one instruction table (vmm.x86.table);
this module states what each class means for translated code, for the
inspector and for block formation.

    IDENT    translated: the shared semantics lowered to IR as they are
    INLINE   translated: emulated in place against virtual CPU state (no exit)
    CALLOUT  not translated: the block ends before it; the monitor runs it.  A callout
             with a fast path is translated as the block's last instruction: a native
             one (int n, int3, iret, sysenter, sysexit: vmm.translator.fastpath) does the
             common case, and the rest exits to the monitor before the instruction; port
             I/O, hlt and invlpg call the monitor from the block, which runs the handler
             and lets the block go on (vmm.translator.monitorcall)
    UNDEF    not translated: the block ends before it; the monitor raises #UD

Example:
    decide(insn)     # lgdt: Decision(cls='CALLOUT', translated=False, ends_block=True, reason='descriptor...')
    decide(insn)     # in: Decision(cls='CALLOUT', translated=True, ends_block=True, reason='port I/O...')
"""

from dataclasses import dataclass

from ..x86.table import IDENT, UNDEF
from ..x86.callouts import INLINE, CALLOUT, MONITOR_CALL

TRANSLATED = frozenset((IDENT, INLINE))
MEANING = {
    IDENT: "lowered to IR as-is",
    INLINE: "emulated inline against virtual CPU state",
    CALLOUT: "exit to the monitor before this instruction (with a fast path: translated last in its block)",
    UNDEF: "exit to the monitor, which raises #UD",
}


@dataclass(frozen=True)
class Decision:
    cls: str
    translated: bool
    ends_block: bool
    reason: str


FAST_REASON = "; translated code runs the common case natively (vmm.translator.fastpath)"
MONITOR_REASON = "; translated code calls the monitor to run it and goes on (vmm.translator.monitorcall)"


def decide(insn):
    spec = insn.spec
    reason = spec.reason if spec.cls != UNDEF else f"{spec.reason} ({insn.why})"
    fast = fast_path(insn)
    if fast is not None:
        return Decision(spec.cls, True, True, reason + (MONITOR_REASON if fast[0] == MONITOR_CALL else FAST_REASON))
    return Decision(spec.cls, spec.cls in TRANSLATED, spec.ends_block, reason)


def fast_path(insn):
    """(native fast path name, its int arguments) for a callout that has one, else None."""
    return insn.spec.fast(insn) if insn.spec.fast is not None else None
