"""The rewrite rules: how each guest instruction is treated by the translator, and why.

The decision is data read from the one instruction table (vmm.x86.table);
this module states what each class means for translated code, for the
inspector and for block formation.

    IDENT    translated: the shared semantics lowered to IR as they are
    INLINE   translated: emulated in place against virtual CPU state (no exit)
    CALLOUT  not translated: the block ends before it; the monitor runs it
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


def decide(insn):
    spec = insn.spec
    reason = spec.reason if spec.cls != UNDEF else f"{spec.reason} ({insn.why})"
    return Decision(spec.cls, spec.cls in TRANSLATED, spec.ends_block, reason)
