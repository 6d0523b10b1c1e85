"""`vmm guest fetch`: versions and paths on stdout, progress on stderr, errors on one line
with exit status 2 (apt faked as in tests/guests/conftest.py, except where said)."""

import os
import subprocess
import sys

from tests.guests.conftest import KERNEL
from vmm.cli import main
from vmm.guests import apt


def test_fetch_prints_versions_and_paths_then_finds_them_in_the_cache(fake_apt, capsys, tmp_path):
    assert main(["guest", "fetch", "debian-i386"]) == 0
    out, err = capsys.readouterr()
    directory = tmp_path / "cache/vmm/guests/debian-i386"
    assert out.splitlines() == ["busybox-static 1:1.35.0-4", f"{KERNEL} 6.1.999-1",
                                f"kernel: {directory}/vmlinuz", f"initrd: {directory}/initramfs.cpio.gz"]
    assert "vmm guest: apt-get update" in err.splitlines()
    assert main(["guest", "fetch", "debian-i386"]) == 0
    again, err = capsys.readouterr()
    assert again == out and err == "vmm guest: debian-i386 is in the cache (--force fetches it again)\n"
    fake_apt.calls.clear()
    assert main(["guest", "fetch", "debian-i386", "--force"]) == 0
    assert capsys.readouterr().out == out and "apt-get download" in fake_apt.commands()


def test_not_root_is_one_line_saying_what_to_run(fake_apt, capsys, monkeypatch):
    monkeypatch.setattr(apt.os, "geteuid", lambda: 1000)
    assert main(["guest", "fetch", "debian-i386"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("vmm: guest fetch: ") and "run `sudo vmm guest fetch debian-i386`" in err


def test_apt_failure_is_one_line(fake_apt, capsys):
    fake_apt.missing = True
    assert main(["guest", "fetch", "debian-i386"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "vmm: guest fetch: `apt-cache depends` failed: E: No packages found"
    assert "Traceback" not in err


def _vmm(*args, env):
    return subprocess.run([sys.executable, "-m", "vmm", *args], capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL, env=env)


def test_without_apt_the_real_command_exits_2_with_one_line(tmp_path):
    """No faking: with nothing on PATH, root fails to run dpkg and others are told to use sudo."""
    env = dict(os.environ, PATH=str(tmp_path), VMM_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join(sys.path))
    done = _vmm("guest", "fetch", "debian-i386", env=env)
    assert done.returncode == 2 and done.stdout == b""
    last = done.stderr.decode().splitlines()[-1]
    assert last in ("vmm: guest fetch: cannot run dpkg: No such file or directory",
                    "vmm: guest fetch: adding the package architecture and updating apt's lists need root: "
                    "run `sudo vmm guest fetch debian-i386`")
    assert b"Traceback" not in done.stderr and not (tmp_path / "cache").exists()


def test_unknown_guest_and_missing_action_are_usage_errors(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = _vmm("guest", "fetch", "windows-95", env=env)
    assert done.returncode == 2 and done.stderr.count(b"\n") == 1 and b"invalid choice: 'windows-95'" in done.stderr
    done = _vmm("guest", env=env)
    assert done.returncode == 2 and b"required: ACTION" in done.stderr


def test_help_and_unknown_options_name_the_fetch_command(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    text = _vmm("guest", "--help", env=env).stdout
    assert b"exit status" in text and b"sudo vmm guest fetch debian-i386" in text and b"XDG_CACHE_HOME" in text
    done = _vmm("guest", "fetch", "debian-i386", "--bogus", env=env)
    assert done.returncode == 2
    assert done.stderr == b"vmm guest fetch: unrecognized arguments: --bogus (see 'vmm guest fetch --help')\n"
