"""The Debian package tools a guest fetch runs: dpkg, apt-get, apt-cache and dpkg-deb.

Every command goes through `run`, the one place that starts a process (and the one a test
replaces): output is captured (the C locale, so it parses the same everywhere) and a failure
becomes a GuestFetchError naming the command and its first error (apt's first `E:` line,
else the last line of its error output).  Only `apt-get update` and `apt-get download` use
the network, and only Debian's configured mirrors.

Example:
    add_architecture("i386")
    problem = update()                      # None, or why some index failed
    kernel = dependency("linux-image-686:i386", "linux-image-")
    for deb in download([f"{kernel}:i386"], Path("/tmp/debs")):
        extract(deb, Path("/tmp/root"))
"""

import os
import re
import subprocess

from ..errors import GuestFetchError

ENV = {"LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"}


def run(argv, cwd=None):
    """Run `argv`; its standard output, or GuestFetchError if it cannot start or fails."""
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env={**os.environ, **ENV})
    except OSError as error:
        raise GuestFetchError(f"cannot run {argv[0]}: {error.strerror}") from None
    if done.returncode:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        why = next((line for line in lines if line.startswith("E: ")), lines[-1] if lines else "")
        raise GuestFetchError(f"`{' '.join(argv)}` failed (exit status {done.returncode})" + (f": {why}" if why else ""))
    return done.stdout


def require_root(command):
    """Adding an architecture and updating apt's lists need root: say what to run instead."""
    if os.geteuid() != 0:
        raise GuestFetchError(f"adding the package architecture and updating apt's lists need root: "
                              f"run `sudo {command}`")


def add_architecture(arch):
    run(["dpkg", "--add-architecture", arch])


def update():
    """apt-get update.  Returns None, or its error: one index can fail (a mirror in the middle
    of a sync) while the lists the fetch needs are fine, so the caller decides."""
    try:
        run(["apt-get", "update", "-q"])
    except GuestFetchError as error:
        return error.args[0]
    return None


def dependency(package, prefix):
    """The one package named prefix... that `package` (name:arch) depends on, without :arch."""
    out = run(["apt-cache", "depends", "--important", package])
    names = sorted({name for name in re.findall(r"^\s*Depends: (\S+)$", out, re.M)
                    if name.startswith(prefix)})
    if len(names) != 1:
        raise GuestFetchError(f"expected one {prefix}* dependency of {package}, found "
                              f"{', '.join(names) or 'none'}")
    return names[0].split(":")[0]


def download(packages, directory):
    """apt-get download `packages` (name:arch) into `directory`; the .deb files it wrote."""
    directory.mkdir(parents=True, exist_ok=True)
    run(["apt-get", "download", "-q", *packages], cwd=directory)
    return sorted(directory.glob("*.deb"))


def control(deb):
    """The control fields of a .deb file (first lines only), e.g. control(deb)["Version"]."""
    out = run(["dpkg-deb", "--field", str(deb)])
    return dict(re.findall(r"^(\S+): (.*)$", out, re.M))


def extract(deb, directory):
    run(["dpkg-deb", "--extract", str(deb), str(directory)])
