"""The `vmm` command end to end: guest output, exit codes, and one clear line for bad input."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.asmguest import assemble
from tests.boot.elfgen import Seg, elf32, elf_image, multiboot_header
from vmm.cli import build_parser

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "images" / "hello.elf"

HELLO = """
    mov esi, msg
    mov dx, 0x3f8
next:
    lodsb
    test al, al
    jz done
    out dx, al
    jmp next
done:
    mov al, 0x10
    out 0xf4, al
msg: .asciz "serial works\\n"
"""


def vmm(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "vmm", *map(str, args)], capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def flat(tmp_path):
    def write(src, name="guest.bin"):
        path = tmp_path / name
        path.write_bytes(assemble(src, 0x100000))
        return path
    return write


@pytest.mark.parametrize("engine", [["--engine", "jit"], ["--engine", "interp"], ["--jit-tier", "2"]])
def test_flat_guest_prints_and_exits_through_debug_exit(flat, engine):
    done = vmm("run", flat(HELLO), "--load-address", "0x100000", *engine, "-m", "4")
    assert done.stdout == b"serial works\n"
    assert done.returncode == (0x10 << 1) | 1
    assert b"instructions in" in done.stderr and b"exit" in done.stderr


def test_multiboot_image_runs(tmp_path):
    image = tmp_path / "mb.elf"
    image.write_bytes(elf32(assemble(HELLO, 0x10000C), entry=0x10000C))   # code follows the header
    done = vmm("run", image, "-m", "4")
    assert done.stdout == b"serial works\n" and done.returncode == 33


@pytest.mark.parametrize("content, message", [
    (None, b"No such file"),
    (b"not an image", b"not an ELF file"),
    (elf32(b"\xf4", cls=2), b"64-bit ELF"),
    (elf32(b"\xf4", multiboot=False), b"no multiboot header"),
])
def test_bad_images_exit_2_with_one_line(tmp_path, content, message):
    path = tmp_path / "bad.elf"
    if content is not None:
        path.write_bytes(content)
    done = vmm("run", path)
    assert done.returncode == 2
    assert message in done.stderr and done.stderr.count(b"\n") == 1 and b"Traceback" not in done.stderr


def test_unknown_instruction_stops_with_its_name(flat):
    done = vmm("run", flat("nop\nemms"), "--load-address", "0x100000", "-m", "4")     # MMX: not modelled
    assert done.returncode == 4 and b"#UD" in done.stderr and b"emms" in done.stderr
    assert b"Traceback" not in done.stderr


def test_access_outside_ram_stops_cleanly(flat):
    done = vmm("run", flat("mov eax, dword ptr [0x40000000]"), "--load-address", "0x100000", "-m", "4")
    assert done.returncode == 4 and b"outside guest RAM" in done.stderr and b"0x40000000" in done.stderr
    assert b"Traceback" not in done.stderr


def test_max_insns_limit(flat):
    done = vmm("run", flat("l: jmp l"), "--load-address", "0x100000", "-m", "4", "--max-insns", "5000")
    assert done.returncode == 0 and b"5000 instructions" in done.stderr and b"limit" in done.stderr


def test_check_mode_agrees(flat):
    done = vmm("run", flat(HELLO), "--load-address", "0x100000", "-m", "4", "--check")
    assert done.returncode == 0 and done.stdout == b"serial works\n"
    assert b"no divergence" in done.stderr


def test_serial_to_file(flat, tmp_path):
    out = tmp_path / "serial.txt"
    done = vmm("run", flat(HELLO), "--load-address", "0x100000", "-m", "4", "--serial", f"file:{out}")
    assert done.stdout == b"" and out.read_bytes() == b"serial works\n"


def _one_line_error(done, *words):
    assert done.returncode == 2, done
    assert done.stderr.count(b"\n") == 1 and b"Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, (word, done.stderr)


def test_unknown_machine_and_p_type_are_one_line(tmp_path):
    """e_machine LIEF has no name for (an int, not an enum) and an unknown p_type (a RuntimeWarning)."""
    code = multiboot_header() + assemble(HELLO, 0x10000C)
    odd_machine = tmp_path / "m.elf"
    odd_machine.write_bytes(elf_image([Seg(0x100000, code)], 0x10000C, machine=0x1234))
    _one_line_error(vmm("run", odd_machine), b"e_machine 0x1234", b"not i386")
    odd_type = tmp_path / "p.elf"
    odd_type.write_bytes(elf_image([Seg(0x100000, code), Seg(0x200000, b"x", type=0x6ABCDEF0)], 0x10000C))
    done = vmm("run", odd_type, "-m", "4")
    assert done.returncode == 33 and done.stdout == b"serial works\n"
    assert b"Warning" not in done.stderr and done.stderr.count(b"\n") == 1


def test_outputs_are_checked_before_running(tmp_path):
    missing = tmp_path / "no" / "such"
    _one_line_error(vmm("run", EXAMPLE, "--serial", f"file:{missing}/s.txt"), b"does not exist")
    _one_line_error(vmm("inspect", EXAMPLE, "--html", missing / "r.html"), b"does not exist")
    _one_line_error(vmm("bench", "--out-dir", missing / "out"), b"does not exist")


def test_device_as_image_is_refused_not_read():
    _one_line_error(vmm("run", "/dev/zero", timeout=30), b"not a regular file")


def test_inspect_at_outside_ram_and_bad_memory():
    _one_line_error(vmm("inspect", EXAMPLE, "--at", "0x90000000"), b"outside guest RAM")
    _one_line_error(vmm("inspect", EXAMPLE, "-m", "0"), b"-m/--memory")


def test_subcommand_usage_for_its_own_errors():
    done = vmm("run", "x", "-kernel")
    _one_line_error(done, b"vmm run: unrecognized arguments: -kernel")


def test_version_and_help():
    import vmm as package
    done = vmm("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"vmm {package.__version__}".encode()
    for command, words in (("run", [b"exit status", b"examples", b"124", b"130", b"default: 128"]),
                           ("inspect", [b"exit status", b"examples", b"default: 10"]),
                           ("bench", [b"exit status", b"examples", b"vmm[bench]"])):
        text = vmm(command, "--help").stdout
        for word in words:
            assert word in text, (command, word)
    parser = build_parser()
    for sub in parser.subcommands.values():
        for action in sub._actions:
            assert action.help, (sub.prog, action.dest)


def test_serial_null_and_memory_with_suffix(flat):
    done = vmm("run", flat(HELLO), "--load-address", "0x100000", "-m", "4M", "--serial", "null")
    assert done.returncode == 33 and done.stdout == b""


def test_guest_exit_within_the_timeout_is_the_guests_exit(flat):
    """(An exit that happens after the deadline passed is tested in tests/test_limits.py.)"""
    done = vmm("run", flat(HELLO), "--load-address", "0x100000", "-m", "4", "--timeout", "30")
    assert done.returncode == 33 and done.stdout == b"serial works\n" and b"timeout" not in done.stderr


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_timeout_stops_a_spinning_guest(flat, engine):
    done = vmm("run", flat("l: jmp l"), "--load-address", "0x100000", "-m", "4", "--engine", engine,
               "--timeout", "0.2")
    assert done.returncode == 124 and b"timeout" in done.stderr


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_instruction_cut_off_by_the_end_of_ram_is_a_fetch_fault(tmp_path, engine):
    """`mov eax, imm32` with 3 of its 5 bytes past RAM: a fetch fault, not #UD; an instruction
    that is whole but invalid (ud2, the last two bytes of RAM) stays #UD."""
    end = 4 << 20
    image = tmp_path / "edge.bin"
    image.write_bytes(b"\xb8\x01")
    done = vmm("run", image, "--load-address", hex(end - 2), "-m", "4", "--engine", engine)
    assert done.returncode == 4 and b"instruction fetch at 0x3ffffe" in done.stderr and b"#UD" not in done.stderr
    image.write_bytes(b"\x0f\x0b")
    done = vmm("run", image, "--load-address", hex(end - 2), "-m", "4", "--engine", engine)
    assert done.returncode == 4 and b"#UD" in done.stderr


@pytest.mark.parametrize("engine", ["jit", "interp", "check"])
def test_ctrl_c_stops_the_guest_cleanly(flat, engine):
    """SIGINT once the guest runs (it has printed): the summary line, exit status 130."""
    guest = flat("mov dx, 0x3f8\nmov al, 0x2a\nout dx, al\nl: jmp l")
    mode = ["--check"] if engine == "check" else ["--engine", engine]
    process = subprocess.Popen([sys.executable, "-m", "vmm", "run", str(guest), "--load-address", "0x100000",
                                "-m", "4", *mode],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert process.stdout.read(1) == b"*"          # the guest is running
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, err
    assert b"Traceback" not in err and err.count(b"\n") == 1
    if engine == "check":
        assert b"lockstep: interrupted (Ctrl-C) after" in err and b"instructions" in err
    else:
        assert b"instructions in" in err and b"interrupted: Ctrl-C" in err


def test_inspect_reports_serial_and_stop_reason(tmp_path, flat):
    out = tmp_path / "serial.txt"
    done = vmm("inspect", flat(HELLO), "--load-address", "0x100000", "-m", "4", "--serial", f"file:{out}",
               "--no-ir", "--top", "1")
    assert done.returncode == 0 and out.read_bytes() == b"serial works\n"
    tail = b" ".join(done.stdout.split())
    assert b"exit: guest wrote to the debug-exit port: exit code 33" in tail
    assert str(out).encode() in tail and b"exit status 33" in tail


def test_terminal_modes_are_restored():
    """A command that leaves the terminal raw (a device or debugger switching it): the vmm
    command puts the modes back on the way out, whatever ran."""
    import pty
    leave_raw = ("import tty; from vmm import cli; "
                 "cli.main = lambda argv=None: (tty.setraw(0), 0)[1]; cli.entry()")
    probe = ("import subprocess, sys, termios; before = termios.tcgetattr(0); "
             f"subprocess.run([sys.executable, '-c', {leave_raw!r}]); "
             "print('modes', 'restored' if termios.tcgetattr(0) == before else 'left raw')")
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.executable, [sys.executable, "-c", probe])
    output = b""
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:              # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.waitpid(pid, 0)
    assert b"modes restored" in output, output
