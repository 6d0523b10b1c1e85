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


def name(vector):
    return NAMES.get(vector, f"interrupt {vector:#x}")
