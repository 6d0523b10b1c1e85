"""The native dispatcher (vmm/translator/dispatch.py) computes the translation mode in IR; it
must be vmm.x86.mode.mode_of's value for every CPL, paging state and set of checked
segments (FS and GS left out), or a block would run in a mode it was not translated for
(or never be found)."""

import ctypes
import itertools

import pytest

from vmm.cache.tcache import jump_tag
from vmm.machine import Machine
from vmm.translator.dispatch import jump_cache_index
from vmm.translator.engine import Translator
from vmm.translator.exits import BUDGET, MISS
from vmm.x86.mode import MODE_SEGMENTS_SHIFT, mode_of
from vmm.x86.state import CR0_PG, CS, FS, GS

EIP = 0x1234
PROBE = f"define i32 @probe(ptr %state) {{\n  ret i32 {BUDGET}\n}}\n"        # a "block" that stops at once


@pytest.fixture(scope="module")
def translator():
    t = Translator(Machine(memory_mb=1, engine="jit"))
    addresses, _, _ = t.jit.compile(PROBE, ["probe"], permanent=True)
    t.probe = addresses["probe"]
    return t


def _dispatch_with_tag(t, mode):
    """Run the dispatcher with the one jump-cache entry for EIP tagged with `mode`."""
    slot = t.cache.jump_cache[jump_cache_index(EIP)]
    slot.tag, slot.fn = jump_tag(EIP, mode), t.probe
    try:
        return t.dispatch(ctypes.addressof(t.m.state))
    finally:
        slot.tag = slot.fn = 0


@pytest.mark.parametrize("cpl, paging, checks", itertools.product((0, 3), (False, True), (0, 0b000010, 0b101001, 0b111111)))
def test_dispatcher_mode_is_mode_of(translator, cpl, paging, checks):
    s = translator.m.state
    s.eip, s.seg[CS].selector, s.seg_checks = EIP, 0x08 | cpl, checks
    s.cr[0] = (s.cr[0] | CR0_PG) if paging else (s.cr[0] & ~CR0_PG)
    mode = mode_of(s)
    assert _dispatch_with_tag(translator, mode) == BUDGET
    for bit in (0, 2, MODE_SEGMENTS_SHIFT, MODE_SEGMENTS_SHIFT + 3):        # one bit off: not found
        assert _dispatch_with_tag(translator, mode ^ (1 << bit)) == MISS
    s.seg_checks ^= (1 << FS) | (1 << GS)                                   # not part of the mode
    assert mode_of(s) == mode and _dispatch_with_tag(translator, mode) == BUDGET
