"""Flag instructions: clc stc cmc cld std lahf sahf, and the inline-emulated cli sti.

cli/sti touch only virtual CPU state (EFLAGS.IF), so they are emulated in
place rather than called out, as VMware's translator did; from CPL > IOPL
they raise #GP(0) (vmm.x86.protection.require_iopl), in both engines.

Example:
    flagops.cli(b, insn)      # EFLAGS.IF <- 0
"""

from ..protection import require_iopl
from ..state import EAX

_SAHF_MASK = 0xD5          # SF ZF AF PF CF


def _setter(name, value):
    def sem(b, i):
        b.set_flag(name, b.const(value, 1))
    return sem


clc, stc = _setter("CF", 0), _setter("CF", 1)
cld, std = _setter("DF", 0), _setter("DF", 1)


def cli(b, i):
    require_iopl(b)
    b.set_flag("IF", b.const(0, 1))


def sti(b, i):
    """IF <- 1 (CPL <= IOPL); if it was clear, interrupts stay blocked until the next
    instruction has run (the sti shadow: `sti; hlt` sleeps before any interrupt is taken).
    The monitor reads `int_shadow` as "no external interrupt while icount equals it"."""
    require_iopl(b)
    was_clear = b.eq(b.flag("IF"), b.const(0, 1), 1)
    after = b.add(b.field("icount"), b.const(1, 64), 64)
    b.set_field("int_shadow", b.select(was_clear, after, b.field("int_shadow"), 64))
    b.set_flag("IF", b.const(1, 1))
    b.interrupt_window()


def cmc(b, i):
    b.set_flag("CF", b.xor(b.flag("CF"), b.const(1, 1), 1))


def lahf(b, i):
    low = b.or_(b.and_(b.eflags(), b.const(_SAHF_MASK, 32), 32), b.const(2, 32), 32)
    b.set_reg(EAX, b.trunc(low, 32, 8), 8, 8)


def sahf(b, i):
    b.set_eflags(b.zext(b.reg(EAX, 8, 8), 8, 32), _SAHF_MASK)
