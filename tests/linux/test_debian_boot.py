"""End to end: Debian 12's own i386 kernel and a busybox initramfs (vmm guest fetch
debian-i386) booted by `vmm run` under the translator to a shell on the serial console;
commands typed into it give the answers a PC gives.  The boot time is printed (run pytest
with -s to see it), not asserted.  The first instructions of the same boot run in lockstep
against the interpreter (--check)."""

import hashlib
import subprocess
import sys

import pytest

from vmm.guests import debian
from vmm.guests.initramfs import MARKER
from vmm.guests.session import ConsoleSession

APPEND = "console=ttyS0 acpi=off"      # acpi=off: vmm's PC has no ACPI tables (see README)
# Typed lines stay short: the shell wraps its echo of a line wider than the terminal.
WORKLOAD = ["seq 1 30000 > /tmp/f", "gzip -c /tmp/f > /tmp/f.gz", "gunzip -c /tmp/f.gz | sha256sum",
            "wc -c < /tmp/f.gz"]


@pytest.fixture(scope="module")
def guest():
    return debian.fetch()


def vmm_run(guest, *extra):
    return [sys.executable, "-m", "vmm", "run", "--kernel", str(guest.kernel), "--initrd", str(guest.initrd),
            "--append", APPEND, "-m", "128M", *extra]


@pytest.mark.timeout(1800)
def test_debian_kernel_boots_to_a_shell_and_runs_commands(guest):
    with ConsoleSession(vmm_run(guest, "--timeout", "1500")) as console:
        log = console.expect(MARKER, timeout=1500)
        booted = console.elapsed()
        console.expect("/ # ", timeout=300)
        assert "Run /init as init process" in log
        for warning in ("unknown-msr", "unchecked MSR access", "spurious 8259A interrupt", "lost", "unstable",
                        "Oops", "BUG:", "WARNING:"):
            assert warning not in log, f"{warning!r} in the boot log"
        assert console.command("uname -r").strip() == guest.release
        cpuinfo = console.command("cat /proc/cpuinfo")
        assert "vendor_id\t: GenuineIntel" in cpuinfo
        flags = next(line for line in cpuinfo.splitlines() if line.startswith("flags")).split()
        assert {"fpu", "pse", "tsc", "msr", "cx8", "sep", "pge", "cmov"} <= set(flags)
        digest = hashlib.sha256(b"abc\n").hexdigest()
        assert console.command("echo abc | sha256sum").split()[0] == digest
        numbers = "".join(f"{n}\n" for n in range(1, 30001)).encode()
        seq, gzip, gunzip, size = (console.command(line, timeout=600) for line in WORKLOAD)
        assert seq == gzip == "" and gunzip.split() == [hashlib.sha256(numbers).hexdigest(), "-"]
        assert 0 < int(size) < len(numbers) // 2                # compressed, and read back whole
        console.send("poweroff\n")
        assert console.wait(300) == 0
        print(f"\nDebian {guest.release}: shell marker after {booted:.1f} s, "
              f"whole session {console.elapsed():.1f} s")


@pytest.mark.timeout(900)
def test_debian_boot_start_runs_in_lockstep_with_the_interpreter(guest):
    """The boot's first 3 million instructions (the kernel's decompressor) under --check."""
    done = subprocess.run(vmm_run(guest, "--check", "--max-insns", "3000000", "--serial", "null"),
                          capture_output=True, text=True, timeout=850, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert "no divergence" in done.stderr and "3000000" in done.stderr
