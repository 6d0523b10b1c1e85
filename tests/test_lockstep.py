"""vmm/lockstep.py: the translator and the interpreter agree block by block, and a divergence
is caught and shown."""

from tests.asmguest import machine_with
from tests.translator.test_translator import LOOP, SMC
from vmm.lockstep import lockstep


def test_loop_and_self_modifying_code_agree():
    for src in (LOOP, SMC):
        src = src.replace("100000", "2000")
        report = lockstep(machine_with("jit", src), machine_with("interp", src))
        assert not report.divergence, report.describe()
        assert report.reason.startswith("halt") and report.blocks > 1


def test_divergence_is_reported_with_both_states():
    primary, shadow = machine_with("jit", LOOP), machine_with("interp", LOOP)
    shadow.state.gpr[3] = 0x1234                       # ebx differs, and LOOP never writes ebx
    report = lockstep(primary, shadow)
    assert report.divergence == "registers differ" and report.blocks == 1
    assert report.primary["ebx"] != report.shadow["ebx"]
    assert "ebx" in report.describe() and "<--" in report.describe()
