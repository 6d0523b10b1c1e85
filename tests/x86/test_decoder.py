"""The decoder's cache: a write to a code granule drops what was decoded there, and only
instructions whose bytes changed are decoded again."""

from vmm.memory import PhysicalMemory
from vmm.x86.decoder import Decoder

from tests.asmguest import assemble


def test_write_to_code_redecodes_only_what_changed():
    memory = PhysicalMemory(1 << 20)
    memory.write(0x1000, assemble("mov eax, 1\nadd eax, ebx\nmov al, 5", 0x1000))
    decoder = Decoder(memory)
    first = [decoder.decode(a) for a in (0x1000, 0x1005, 0x1007)]
    assert [i.text() for i in first] == ["mov eax, 1", "add eax, ebx", "mov al, 5"]
    memory.write(0x1008, b"\x07")                          # mov al, 5 -> mov al, 7
    assert not decoder.cache                               # the whole granule was dropped
    again = [decoder.decode(a) for a in (0x1000, 0x1005, 0x1007)]
    assert again[0] is first[0] and again[1] is first[1]   # same bytes: reused, not re-decoded
    assert again[2] is not first[2] and again[2].text() == "mov al, 7"


def test_a_changed_length_is_decoded_afresh():
    memory = PhysicalMemory(1 << 20)
    memory.write(0x1000, assemble("mov eax, 1", 0x1000))
    decoder = Decoder(memory)
    assert decoder.decode(0x1000).size == 5
    memory.write(0x1000, b"\x40")                          # inc eax (one byte)
    insn = decoder.decode(0x1000)
    assert insn.text() == "inc eax" and insn.size == 1
