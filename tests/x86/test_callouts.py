"""The callout registry's protection data and the far forms the table resolves (no engine runs
here: the behaviour is in tests/x86/test_protection.py on every engine)."""

import pytest

from vmm.memory import PhysicalMemory
from vmm.x86.callouts import REGISTRY
from vmm.x86.decoder import Decoder

RING0_ONLY = {"hlt", "lgdt", "lidt", "lldt", "ltr", "lmsw", "mov_to_cr", "mov_from_cr", "clts", "invlpg",
              "wbinvd", "invd", "rdmsr", "wrmsr", "sysexit", "mov_to_dr", "mov_from_dr"}


def test_ring0_only_entries_are_exactly_the_privileged_instructions():
    assert {name for name, entry in REGISTRY.items() if entry.cpl0} == RING0_ONLY
    assert all("ring 0 only" in REGISTRY[name].reason for name in RING0_ONLY)


@pytest.mark.parametrize("code, name", [("ff18", "lcall"), ("66ff18", "lcall"), ("ff28", "ljmp"), ("66ff28", "ljmp"),
                                        ("ff10", "call"), ("ff20", "jmp"), ("9a000000000800", "lcall"),
                                        ("cb", "retf"), ("ca0800", "retf"), ("66cf", "iret"), ("c403", "load_far_pointer"),
                                        ("0fb223", "load_far_pointer"), ("0f02c1", "lar"), ("0f34", "sysenter")])
def test_far_and_descriptor_forms_resolve_to_their_entries(code, name):
    memory = PhysicalMemory(1 << 20)
    memory.write(0x1000, bytes.fromhex(code))
    assert Decoder(memory).decode(0x1000).spec.name == name
