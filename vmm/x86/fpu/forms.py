"""The x87 opcode map (Intel SDM vol. 2, tables A-7 to A-22) as vmm needs it: for each form
(opcode byte D8-DF and ModRM), what it reads from or writes to guest memory and how the
native helper treats it.  Both the semantics (vmm.x86.semantics.x87) and the helper
generator (vmm.x86.fpu.native) read this one description.

A form is keyed by (opcode, modrm); memory forms use the normalised ModRM `reg << 3 | 6`
(`[rsi]` on the host, where the helper puts the operand), register forms their own ModRM.

Example:
    f = form(0xDD, 0x1E)          # fstp qword ptr [esi]
    f.store, f.load, f.control    # (8, 0, False)
"""

from dataclasses import dataclass
from functools import lru_cache

# Memory forms: (opcode, ModRM.reg) -> bytes loaded from guest memory.
LOADS = {**{(0xD8, r): 4 for r in range(8)}, **{(0xDA, r): 4 for r in range(8)},
         **{(0xDC, r): 8 for r in range(8)}, **{(0xDE, r): 2 for r in range(8)},
         (0xD9, 0): 4, (0xD9, 4): 28, (0xD9, 5): 2, (0xDB, 0): 4, (0xDB, 5): 10,
         (0xDD, 0): 8, (0xDD, 4): 108, (0xDF, 0): 2, (0xDF, 4): 10, (0xDF, 5): 8}
# Memory forms: (opcode, ModRM.reg) -> bytes stored to guest memory.
STORES = {(0xD9, 2): 4, (0xD9, 3): 4, (0xD9, 6): 28, (0xD9, 7): 2,
          (0xDB, 1): 4, (0xDB, 2): 4, (0xDB, 3): 4, (0xDB, 7): 10,
          (0xDD, 1): 8, (0xDD, 2): 8, (0xDD, 3): 8, (0xDD, 6): 108, (0xDD, 7): 2,
          (0xDF, 1): 2, (0xDF, 2): 2, (0xDF, 3): 2, (0xDF, 6): 10, (0xDF, 7): 8}
FLDENV, FLDCW, FNSTENV, FNSTCW = (0xD9, 4), (0xD9, 5), (0xD9, 6), (0xD9, 7)
FRSTOR, FNSAVE, FNSTSW = (0xDD, 4), (0xDD, 6), (0xDD, 7)
FNCLEX, FNINIT = (0xDB, 0xE2), (0xDB, 0xE3)
# Control instructions leave FIP, FOP and FDP alone (SDM vol. 1, 8.1.8).
CONTROL = {FLDENV, FLDCW, FNSTENV, FNSTCW, FRSTOR, FNSAVE, FNSTSW, FNCLEX, FNINIT}
# They replace the exception flags (the others keep those already raised).
CLEARS_FLAGS = {FLDENV, FRSTOR, FNSAVE, FNCLEX, FNINIT}
# The no-wait forms: every other x87 instruction first reports a pending unmasked exception
# (SDM vol. 1, "x87 FPU Control Instructions"; the host CPU agrees: tests/x86/test_x87_host.py).
NO_WAIT = {FNSTENV, FNSTCW, FNSAVE, FNSTSW, FNCLEX, FNINIT}
FCMOV = (0xDA, 0xC0)        # every fcmovcc runs as fcmovb st(0), st(i) with CF = the condition


@dataclass(frozen=True)
class Form:
    opcode: int
    modrm: int
    memory: bool
    load: int           # bytes read from guest memory (0: none)
    store: int          # bytes written to guest memory (0: none)
    control: bool       # leaves FIP/FOP/FDP as they were
    keeps_flags: bool   # the exception flags raised before stay raised
    resets: bool        # fninit, fnsave: the pointers are cleared (the host's image has that)
    env_out: bool       # writes an environment image (fnstenv, fnsave) to `io`
    env_in: bool        # reads one (fldenv, frstor): the pointers come from it
    flags: bool         # fcomi family: the helper returns the host's flags (lahf)
    fcmov: bool
    waits: bool         # a pending unmasked exception (ES) is reported before it runs

    @property
    def name(self):
        return f"x87_{self.opcode:02x}{self.modrm:02x}"


@lru_cache(maxsize=None)
def form(opcode, modrm):
    """The Form of an x87 instruction (opcode D8-DF and its ModRM byte as in the guest)."""
    memory = modrm >> 6 != 3
    if memory:
        modrm = (modrm & 0x38) | 6
        key = (opcode, modrm >> 3 & 7)
    else:
        key = (opcode, modrm)
        if opcode in (0xDA, 0xDB) and modrm < 0xE0:
            modrm = FCMOV[1] | (modrm & 7)
            opcode = FCMOV[0]
    flags = not memory and opcode in (0xDB, 0xDF) and 0xE8 <= modrm < 0xF8
    return Form(opcode, modrm, memory, LOADS.get(key, 0) if memory else 0,
                STORES.get(key, 0) if memory else 0, key in CONTROL, key not in CLEARS_FLAGS,
                key in (FNINIT, FNSAVE),
                key in (FNSTENV, FNSAVE), key in (FLDENV, FRSTOR), flags,
                not memory and (opcode, modrm & 0xF8) == FCMOV, key not in NO_WAIT)


def from_name(name):
    """The Form a helper name (`Form.name`) stands for."""
    code = int(name[4:], 16)
    return form(code >> 8, code & 0xFF)
