"""The CPU mode bits a translation depends on, as one small int (part of every block key).

    bits 0-1  CPL (CS.RPL): memory accesses at CPL 3 use the TLB's user views
    bit 2     CR0.PG: memory goes through the software TLB, blocks stay inside a page
    bits 3-6  CpuState.seg_checks for ES, CS, SS, DS: bit 3 + n set when segment register n
              is not flat, so the block checks accesses through it (vmm.x86.segaccess);
              accesses through a flat one cost nothing

FS and GS are not in the mode: translated code checks every access through them against
the live cache (a few ALU operations; it passes for a flat one).  A guest kernel runs the
same code with GS null in its own threads and holding a process's TLS segment in system
calls (Linux); with GS in the mode, Debian's boot compiled 3,000 kernel blocks twice.

The native dispatcher computes the same value in IR (vmm.translator.dispatch).

Example:
    mode_of(machine.state)            # -> 0 for flat ring-0 code with paging off
    mode_of(state) & MODE_PAGING      # paging on?
"""

MODE_CPL, MODE_PAGING, MODE_SEGMENTS_SHIFT = 3, 4, 3
MODE_SEGMENTS = 0b001111             # the seg_checks bits in the mode: ES, CS, SS, DS


def mode_of(state):
    """The translation mode of the CPU now."""
    return ((state.seg[1].selector & MODE_CPL) | ((state.cr[0] >> 31) << 2)
            | ((state.seg_checks & MODE_SEGMENTS) << MODE_SEGMENTS_SHIFT))
