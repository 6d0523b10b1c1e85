"""Linux boot benchmark: Debian 12's i386 kernel and busybox initramfs (vmm guest fetch
debian-i386), wall time from start to the /init marker, side by side in one run:

  vmm, first boot   the persistent translation cache empty (a fresh cache directory)
  vmm, second boot  the same cache directory, now warm
  qemu-system-i386  TCG, SeaBIOS included (if installed)

For vmm the run's own summary (instructions, blocks compiled, compile seconds, cache hits)
is kept from its stderr after a `poweroff`.  Writes a JSON file of the figures.

Usage:
    python3 benchmarks/linux_boot.py --out /tmp/linux-boot.json
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

from vmm.guests import debian
from vmm.guests.initramfs import MARKER
from vmm.guests.session import ConsoleSession

APPEND = "console=ttyS0 acpi=off"
LIMIT = 1800


def boot(argv, env=None, poweroff=True):
    """Seconds to the marker, and the process's stderr after it ends (vmm) or is killed."""
    saved = dict(os.environ)
    os.environ.update(env or {})
    try:
        with ConsoleSession(argv) as console:
            console.expect(MARKER, timeout=LIMIT)
            seconds = console.elapsed()
            if poweroff:
                console.expect("/ # ", timeout=120)
                console.send("poweroff\n")
                console.wait(300)
            else:
                console.process.kill()
                console.wait(30)
            return seconds, console.process.stderr.read().decode(errors="replace")
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="linux-boot.json")
    args = parser.parse_args()
    guest = debian.fetch(progress=lambda message: print(message, file=sys.stderr))
    vmm = [sys.executable, "-m", "vmm", "run", "--kernel", str(guest.kernel), "--initrd", str(guest.initrd),
           "--append", APPEND, "-m", "128M"]
    results = {"kernel": guest.release, "versions": guest.versions}
    with tempfile.TemporaryDirectory(prefix="vmm-boot-cache-") as cache:
        for name in ("vmm first boot", "vmm second boot"):
            seconds, summary = boot(vmm, env={"VMM_CACHE_DIR": cache})
            results[name] = {"seconds": round(seconds, 2), "summary": summary.strip().splitlines()[-1:]}
            print(f"{name:18} {seconds:7.1f} s   {summary.strip().splitlines()[-1:]}")
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


if __name__ == "__main__":
    main()
