"""Port I/O sequences run by a guest on QEMU and on vmm's whole board, to compare what they read.

A sequence is a list of steps: `w(port, value)` writes a byte, `r(port, mask)` reads one and
keeps `value & mask` (the mask hides what legitimately differs, such as time-dependent bits),
`wait(port, bit)` reads the port until `bit` is set (at most about a million times) and
keeps that bit of the last value read.  The guest stores what it keeps in memory and prints it all at
the end, so printing on COM1 does not disturb the devices while the sequence runs.

Example:
    steps = [w(0x70, 0x0B), r(0x71)]
    assert run_on_vmm(steps, tmp_path)[0] == run_on_qemu(steps, tmp_path)
"""

import io

from tests.asmguest import new_machine
from tests.boot.qemuguest import guest_image, run_in_qemu

RESULTS = 0x200000
MEMORY_MB = 16


def w(port, value):
    return "w", port, value


def r(port, mask=0xFF):
    return "r", port, mask


def wait(port, bit):
    return "wait", port, bit


def sequence_asm(steps):
    lines = [f"mov edi, {RESULTS:#x}"]
    for i, (kind, port, arg) in enumerate(steps):
        lines.append(f"mov dx, {port:#x}")
        if kind == "w":
            lines += [f"mov al, {arg:#x}", "out dx, al"]
        elif kind == "r":
            lines += ["in al, dx", f"and al, {arg:#x}", "stosb"]
        else:
            lines += ["mov ecx, 0x100000", f"spin{i}:", "in al, dx", f"test al, {arg:#x}",
                      f"loope spin{i}", f"and al, {arg:#x}", "stosb"]
    kept = sum(kind != "w" for kind, _, _ in steps)
    lines += [f"mov esi, {RESULTS:#x}", f"mov ecx, {kept}",
              "report:", "movzx eax, byte ptr [esi]", "call hex32", "inc esi", "loop report", "jmp done"]
    return "\n".join(lines)


def parse(printed):
    return [int(word, 16) for word in printed.split()]


def run_on_qemu(steps, tmp_path):
    return parse(run_in_qemu(guest_image(sequence_asm(steps)), tmp_path, memory_mb=MEMORY_MB))


def run_on_vmm(steps, tmp_path, engine="interp", max_insns=20_000_000):
    """The same guest on vmm (one of asmguest.ENGINE_VARIANTS) with the whole board attached:
    what it read, and how many instructions it took."""
    image = tmp_path / "vmm-guest.elf"
    image.write_bytes(guest_image(sequence_asm(steps)))
    m = new_machine(engine, memory_mb=MEMORY_MB)
    m.devices["com1"].out = serial = io.BytesIO()
    m.load(str(image))
    result = m.run(max_insns=max_insns)
    assert (result.reason, result.exit_code) == ("exit", 33), result.summary()
    return parse(serial.getvalue()), result.instructions
