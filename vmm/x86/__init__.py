"""The guest architecture: CPU state, decoder, the instruction table, semantics, flags, MMU, exceptions."""
