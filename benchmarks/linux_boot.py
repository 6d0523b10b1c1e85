"""Linux boot benchmark: Debian 12's i386 kernel and busybox initramfs (vmm guest fetch
debian-i386), wall time from start to the /init marker, side by side in one run:

  vmm, first boot   the persistent translation cache empty (a fresh cache directory)
  vmm, second boot  the same cache directory, now warm
  qemu-system-i386  TCG, SeaBIOS included (if installed)

For vmm the run's own summary (instructions, blocks compiled, compile seconds, cache hits)
is kept from its stderr after a `poweroff`, and its `-v` progress lines (one a second:
MIPS, exits to Python, callouts, blocks compiled) are plotted over the boot: instructions
and compiled blocks against wall time, first and second boot.  Writes a JSON file of the
figures and the PNG.

Usage:
    python3 benchmarks/linux_boot.py --out /tmp/linux-boot.json --plot /tmp/linux-boot.png
"""

import argparse
import json
import os
import re
import shutil
import sys
import tempfile

from vmm.guests import debian
from vmm.guests.initramfs import MARKER
from vmm.guests.session import ConsoleSession

APPEND = "console=ttyS0 acpi=off"
LIMIT = 1800
PROGRESS = re.compile(r"vmm: ([\d.]+) MIPS, (\d+) exits/s, (\d+) callouts/s, (\d+) blocks compiled, (\d+) from cache")


def progress(stderr):
    """The -v lines as rows of (MIPS, exits/s, callouts/s, blocks compiled, loaded from cache)."""
    return [tuple(float(x) for x in match.groups()) for match in PROGRESS.finditer(stderr)]


def plot(runs, path):
    """Guest instructions and blocks compiled against seconds, one line per boot."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for name, rows in runs.items():
        seconds = range(1, len(rows) + 1)
        instructions, total = [], 0.0
        for mips, *_ in rows:
            total += mips / 1000
            instructions.append(total)
        top.plot(seconds, instructions, label=name)
        bottom.plot(seconds, [row[3] for row in rows], label=f"{name}: compiled")
        bottom.plot(seconds, [row[4] for row in rows], linestyle="--", label=f"{name}: from the disk cache")
    top.set_ylabel("guest instructions (G)")
    bottom.set_ylabel("blocks")
    bottom.set_xlabel("seconds since start")
    top.legend()
    bottom.legend()
    top.set_title("Debian i386 boot under vmm: to the shell marker and poweroff")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def boot(argv, env=None, poweroff=True):
    """Seconds to the marker, and the process's stderr after it ends (vmm) or is killed;
    `env`: variables to add to the process's environment."""
    with ConsoleSession(argv, env=dict(os.environ, **(env or {}))) as console:
        console.expect(MARKER, timeout=LIMIT)
        seconds = console.elapsed()
        if poweroff:
            console.expect("/ # ", timeout=120)
            console.send("poweroff\n")
            console.wait(300)
        else:
            console.process.kill()
            console.wait(30)
        return seconds, console.errors()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="linux-boot.json")
    parser.add_argument("--plot", default="linux-boot.png")
    args = parser.parse_args()
    guest = debian.fetch(progress=lambda message: print(message, file=sys.stderr))
    vmm = [sys.executable, "-m", "vmm", "run", "--kernel", str(guest.kernel), "--initrd", str(guest.initrd),
           "--append", APPEND, "-m", "128M", "-v"]
    results = {"kernel": guest.release, "versions": guest.versions}
    runs = {}
    with tempfile.TemporaryDirectory(prefix="vmm-boot-cache-") as cache:
        for name in ("vmm first boot", "vmm second boot"):
            seconds, stderr = boot(vmm, env={"VMM_CACHE_DIR": cache})
            summary = stderr.strip().splitlines()[-1]
            runs[name] = progress(stderr)
            results[name] = {"seconds": round(seconds, 2), "summary": summary, "progress": runs[name]}
            print(f"{name:18} {seconds:7.1f} s   {summary}")
    qemu = shutil.which("qemu-system-i386")
    if qemu:
        seconds, _ = boot([qemu, "-nographic", "-m", "128", "-kernel", str(guest.kernel), "-initrd", str(guest.initrd),
                           "-append", APPEND, "-no-reboot"], poweroff=False)
        results["qemu-system-i386"] = {"seconds": round(seconds, 2)}
        print(f"{'qemu-system-i386':18} {seconds:7.1f} s")
    else:
        print("qemu-system-i386 not installed (apt-get install qemu-system-x86): no peer figure")
    with open(args.out, "w") as out:
        json.dump(results, out, indent=2)
    plot(runs, args.plot)


if __name__ == "__main__":
    main()
