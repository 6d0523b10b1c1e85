"""CPU exception vectors and their names (Intel SDM vol. 3, table 6-1).

Semantics raise them with `b.raise_if(cond, vector, error_code)`; the
monitor delivers them through the guest IDT (vmm.x86.interrupts).

Example:
    NAMES[DE]          # -> "#DE divide error"
"""

DE, DB, NMI, BP, OF, BR, UD, NM, DF, TS, NP, SS, GP, PF, MF, AC = (
    0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 16, 17)

NAMES = {
    DE: "#DE divide error", DB: "#DB debug", NMI: "NMI", BP: "#BP breakpoint", OF: "#OF overflow",
    BR: "#BR bound range", UD: "#UD invalid opcode", NM: "#NM device not available",
    DF: "#DF double fault", TS: "#TS invalid TSS", NP: "#NP segment not present",
    SS: "#SS stack fault", GP: "#GP general protection", PF: "#PF page fault",
    MF: "#MF x87 error", AC: "#AC alignment check",
}

# Exceptions that push an error code (vectors 8, 10-14, 17).
HAS_ERROR_CODE = frozenset((DF, TS, NP, SS, GP, PF, AC))


# CpuState.pending_fault, a fault translated code left its block for, which the native
# dispatcher delivers without Python (vmm.translator.fastpath): 0, or PENDING | vector << 16
# with HAS_ERROR and the error code (16 bits) if it has one.
PENDING, HAS_ERROR = 1 << 31, 1 << 30


def pending_word(vector, error_code):
    """The CpuState.pending_fault word for a fault (`error_code` None: it has none)."""
    if error_code is None:
        return PENDING | vector << 16
    return PENDING | HAS_ERROR | vector << 16 | (error_code & 0xFFFF)


def name(vector):
    return NAMES.get(vector, f"interrupt {vector:#x}")
