""".ci/apt-install with a stand-in apt-get: a failed `apt-get update` (one unreachable index)
does not stop CI, a failed install does; nothing is installed when everything is there."""

import os
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "apt-install"


def _run(tmp_path, update_status, install_status, present=()):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "apt.log"
    (bin_dir / "apt-get").write_text(
        f'#!/bin/sh\necho "$@" >> {log}\n'
        f'[ "$1" = update ] && exit {update_status}\nexit {install_status}\n')
    for name in present:
        (bin_dir / name).write_text("#!/bin/sh\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    # Only the stand-ins are on PATH (the script needs nothing else: bash builtins), so the
    # real qemu and gdb of this machine do not count as installed.
    env = dict(os.environ, PATH=str(bin_dir), LIBGCC32=str(tmp_path / "libgcc.a"))
    done = subprocess.run([shutil.which("bash"), str(SCRIPT)], env=env, capture_output=True, timeout=60)
    return done, log.read_text().splitlines() if log.exists() else []


def test_update_failure_does_not_stop_the_install(tmp_path):
    done, calls = _run(tmp_path, update_status=100, install_status=0)
    assert done.returncode == 0, done.stderr
    assert calls[0] == "update -qq" and calls[1].startswith("install -y -qq gcc-multilib qemu-system-x86")
    assert "gdb" in calls[1] and "cpio" in calls[1] and b"apt-get update failed" in done.stderr


def test_install_failure_fails(tmp_path):
    done, calls = _run(tmp_path, update_status=0, install_status=100)
    assert done.returncode != 0 and len(calls) == 2


def test_nothing_to_install(tmp_path):
    (tmp_path / "libgcc.a").write_bytes(b"")
    done, calls = _run(tmp_path, update_status=0, install_status=0,
                       present=("qemu-system-i386", "chromedriver", "gdb", "cpio"))
    assert done.returncode == 0 and calls == []
