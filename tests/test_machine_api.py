"""The embedding API (vmm.Machine): registers by name, memory, hooks, limits and errors."""

import pytest

from tests.asmguest import machine_with
from vmm import Machine, MemoryAccessError, VmmError


def test_register_names_and_partial_registers():
    m = Machine(memory_mb=2)
    m.reg_write("eax", 0x11223344)
    assert (m.reg_read("ax"), m.reg_read("al"), m.reg_read("ah")) == (0x3344, 0x44, 0x33)
    m.reg_write("ah", 0xAB)
    assert m.reg_read("eax") == 0x1122AB44
    m.reg_write("si", 0xFFFF)
    assert m.reg_read("esi") == 0xFFFF
    m.reg_write("eflags", 0x1)
    assert m.reg_read("eflags") == 0x3                # bit 1 always reads as 1
    with pytest.raises(VmmError, match="unknown register"):
        m.reg_read("xmm0")


def test_memory_read_write_and_bounds():
    m = Machine(memory_mb=2)
    m.mem_write(0x1000, b"vmm")
    assert m.mem_read(0x1000, 3) == b"vmm"
    with pytest.raises(MemoryAccessError, match="outside guest RAM"):
        m.mem_read((2 << 20) - 2, 4)
    with pytest.raises(MemoryAccessError):
        m.mem_write(-1, b"x")


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_code_hook_sees_every_instruction_and_can_stop(engine):
    # Code hooks run on the interpreter whatever the engine: a jit machine with hooks hands
    # its run to the interpreter (Translator.run).  This tests the hook API through both
    # entry points, and that the jit indeed translated nothing.
    m = machine_with(engine, "mov eax, 1\nmov ebx, 2\nmov ecx, 3\ncli\nhlt")
    seen = []

    def hook(machine, insn):
        seen.append(insn.text())
        if insn.mnemonic == "mov" and "ecx" in insn.op_str:
            machine.stop("stop", message="hook stopped it")
    m.hook_code(hook)
    result = m.run()
    assert result.reason == "stop" and seen == ["mov eax, 1", "mov ebx, 2", "mov ecx, 3"]
    assert m.reg_read("ecx") == 0 and m.reg_read("ebx") == 2     # stopped before the third mov
    assert m.translator is None or m.translator.stats()["translated"] == 0


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_run_limits_and_resume(engine):
    m = machine_with(engine, "l: inc eax\njmp l")
    first = m.run(max_insns=1000)
    assert first.reason == "limit" and first.instructions == 1000 and m.reg_read("eax") == 500
    second = m.run(max_insns=10)
    assert second.instructions == 10 and m.reg_read("eax") == 505
    timed = m.run(timeout=0.05)
    assert timed.reason == "timeout" and timed.instructions > 0


def test_unknown_engine_is_an_error():
    with pytest.raises(VmmError, match="unknown engine"):
        Machine(engine="kvm")
    with pytest.raises(VmmError, match="jit tier 1"):
        Machine(engine="jit", jit_tier=1)


def test_code_map_marks_a_granule_and_its_predecessor():
    from vmm.memory import CODE_HERE, CODE_NEXT, PhysicalMemory
    mem = PhysicalMemory(1 << 20)
    dropped = []
    mem.on_code_write.append(dropped.append)
    mem.mark_code(5)
    mem.mark_code(6)
    assert [mem.code_map[g] for g in (4, 5, 6, 7)] == [CODE_NEXT, CODE_HERE | CODE_NEXT, CODE_HERE, 0]
    mem.write(5 * 64 + 63, b"\0")                 # the last byte of granule 5
    assert dropped == [5]
    assert [mem.code_map[g] for g in (4, 5, 6, 7)] == [0, CODE_NEXT, CODE_HERE, 0]
    mem.write_u(6 * 64, 4, 0)
    assert dropped == [5, 6] and not any(mem.code_map[g] for g in (4, 5, 6, 7))
