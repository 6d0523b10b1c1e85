"""Instruction semantics, written once against the abstract builder (vmm.x86.builder).

One module per category, as the Intel manual groups them; each function has
the signature `sem(b, i)` (builder, decoded Insn) and is listed in the one
instruction table, vmm.x86.table.
"""
