"""sysenter and sysexit: the fast system call pair, with the SEP MSRs (SDM vol. 2, SYSENTER/SYSEXIT).

IA32_SYSENTER_CS (0x174) names the kernel's flat code segment; the CPU does
not read the GDT but loads fixed flat descriptors:
  sysenter   CS = SYSENTER_CS & 0xFFFC (ring 0 code), SS = CS + 8 (ring 0 data),
             ESP = SYSENTER_ESP, EIP = SYSENTER_EIP; VM, IF and RF cleared
  sysexit    (ring 0 only) CS = (SYSENTER_CS + 16) | 3, SS = (SYSENTER_CS + 24) | 3,
             both flat ring-3 segments; ESP = ECX, EIP = EDX
Both are #GP(0) in real mode or with SYSENTER_CS null.

Example:
    eip = sysenter(machine)
"""

from ..errors import GuestFault
from .exceptions import GP
from .msr import SYSENTER_CS, SYSENTER_EIP, SYSENTER_ESP
from .protection import IF_MASK, RF_MASK, VM_MASK
from .segaccess import FLAT_LIMIT
from .segments import FLAT_CODE_FLAGS, FLAT_DATA_FLAGS, set_cache
from .state import CR0_PE, CS, ECX, EDX, ESP, SS


def _kernel_cs(m):
    selector = m.msrs.read(SYSENTER_CS) & 0xFFFC
    if not m.state.cr[0] & CR0_PE or selector == 0:
        raise GuestFault(GP, 0, "sysenter/sysexit in real mode or with IA32_SYSENTER_CS null")
    return selector


def _flat(m, seg, selector, flags, dpl):
    set_cache(m.state, seg, selector, 0, FLAT_LIMIT, flags | (dpl << 5))


def sysenter(m):
    """Enter ring 0; returns the new EIP."""
    s = m.state
    cs = _kernel_cs(m)
    s.eflags &= ~(VM_MASK | IF_MASK | RF_MASK) & 0xFFFFFFFF
    _flat(m, CS, cs, FLAT_CODE_FLAGS, 0)
    _flat(m, SS, cs + 8, FLAT_DATA_FLAGS, 0)
    s.gpr[ESP] = m.msrs.read(SYSENTER_ESP) & 0xFFFFFFFF
    return m.msrs.read(SYSENTER_EIP) & 0xFFFFFFFF


def sysexit(m):
    """Return to ring 3; returns the new EIP."""
    s = m.state
    cs = _kernel_cs(m)
    _flat(m, CS, (cs + 16) | 3, FLAT_CODE_FLAGS, 3)
    _flat(m, SS, (cs + 24) | 3, FLAT_DATA_FLAGS, 3)
    s.gpr[ESP] = s.gpr[ECX]
    return s.gpr[EDX]
