"""Known differences between vmm and Unicorn that the fuzzer finds, each confirmed by a test
of its cause rather than matched by text, so a fix makes the finding disappear.

  test-alias    F6 /1 and F7 /1 are undocumented aliases of TEST that hardware runs (and
                Capstone decodes); Unicorn (QEMU) raises #UD.  vmm is right; not a vmm bug.
  bt-flags      bt/bts/btr/btc leave OF, SF, AF and PF undefined (Intel SDM).  vmm keeps them;
                QEMU, after a lazily evaluated op, derives them from the old result with its
                SAR formulas.  vmm's rule is to follow QEMU's undefined flags (README), so
                this is a vmm semantics bug (vmm/x86/semantics/bits.py), reported to the lead.
                Confirmed when the difference vanishes once each bt* is preceded by
                pushfd/popfd (QEMU then has materialised flags and keeps them, as vmm does).
  cs-write      a write through a CS override (2E) to the guest's code segment is #GP(0)
                (Intel SDM: code segments are never writable); Unicorn does not check
                segment types and writes.  vmm is right; not a vmm bug.  Confirmed when the
                difference vanishes with DS (3E) in place of the CS prefix.

Example:
    cause = known_cause(program, rerun)     # "bt-flags", "test-alias", "cs-write" or None
"""

from capstone import Cs, CS_ARCH_X86, CS_MODE_32

from tests.x86.oracle import assemble

_CS = Cs(CS_ARCH_X86, CS_MODE_32)
_CS.detail = True
BIT_TESTS = ("bt", "bts", "btr", "btc")


def _decoded(part):
    return next(_CS.disasm(part, 0x1000, 1), None)


def _is_test_alias(insn):
    return insn is not None and insn.mnemonic == "test" and insn.opcode[0] in (0xF6, 0xF7) and \
        (insn.modrm >> 3) & 7 == 1


def _ds_for_cs(insn, part):
    """The instruction with a DS override (3E) in place of its CS override (2E)."""
    if insn.prefix[1] != 0x2E:
        return part
    k = part.index(0x2E)
    return part[:k] + b"\x3e" + part[k + 1:]


def known_cause(program, rerun):
    """The known cause of a finding on `program`, or None.  `rerun(parts)` runs the check on
    other instruction bytes and returns True if vmm and Unicorn then agree."""
    decoded = [_decoded(part) for part in program.parts]
    if any(_is_test_alias(insn) for insn in decoded):
        return "test-alias"
    repairs = (("bt-flags", lambda insn, part: assemble("pushfd\npopfd") + part if insn.mnemonic in BIT_TESTS else part),
               ("cs-write", _ds_for_cs))
    for cause, repair in repairs:
        repaired = [part if insn is None else repair(insn, part) for insn, part in zip(decoded, program.parts)]
        if repaired != list(program.parts) and rerun(repaired):
            return cause
    return None
