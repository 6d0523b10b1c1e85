"""`vmm guest fetch NAME [--force]`: fetch a guest into the cache (or find it there) and
print the package versions it came from and the paths of its kernel and initramfs.

Progress goes to stderr, the result to stdout:
    linux-image-6.1.0-50-686 6.1.176-1
    busybox-static 1:1.35.0-4+deb12u1+b1
    kernel: /root/.cache/vmm/guests/debian-i386/vmlinuz
    initrd: /root/.cache/vmm/guests/debian-i386/initramfs.cpio.gz

Example:
    guest_command(argparse.Namespace(action="fetch", name="debian-i386", force=False))
"""

import sys

from . import debian

GUESTS = {debian.NAME: debian}


def _say(message):
    print(f"vmm guest: {message}", file=sys.stderr, flush=True)


def guest_command(args):
    source = GUESTS[args.name]
    guest = None if args.force else source.cached()
    if guest is None:
        guest = source.fetch(force=True, progress=_say)
    else:
        _say(f"{args.name} is in the cache (--force fetches it again)")
    for package, version in sorted(guest.versions.items()):
        print(f"{package} {version}")
    print(f"kernel: {guest.kernel}\ninitrd: {guest.initrd}")
    return 0
