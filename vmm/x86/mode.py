"""The CPU mode bits a translation depends on, as one small int (part of every block key).

    bits 0-1  CPL (CS.RPL): memory accesses at CPL 3 use the TLB's user views
    bit 2     CR0.PG: memory goes through the software TLB, blocks stay inside a page
    bits 3-8  CpuState.seg_checks: bit 3 + n set when segment register n is not flat, so
              the block checks accesses through it (vmm.x86.segaccess); flat ones cost nothing

The native dispatcher computes the same value in IR (vmm.translator.dispatch).

Example:
    mode_of(machine.state)            # -> 0 for flat ring-0 code with paging off
    mode_of(state) & MODE_PAGING      # paging on?
"""

MODE_CPL, MODE_PAGING, MODE_SEGMENTS_SHIFT = 3, 4, 3


def mode_of(state):
    """The translation mode of the CPU now."""
    return ((state.seg[1].selector & MODE_CPL) | ((state.cr[0] >> 31) << 2)
            | (state.seg_checks << MODE_SEGMENTS_SHIFT))
