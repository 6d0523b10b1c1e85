"""Where vmm keeps files between runs, and how it writes them so that no reader ever sees
half a file.

The base is $VMM_CACHE_DIR if set (the tests point it at a temporary directory), else
$XDG_CACHE_HOME (an absolute path, as the XDG spec requires), else ~/.cache; vmm's files are
under `vmm/` there.  `write_atomic` writes a temporary file in the target's directory and
renames it over the target: concurrent readers see the old file or the whole new one, and an
interrupted write leaves the old file (and no temporary) behind.

Example:
    path = cache_dir("elf") / "1234.json"           # ~/.cache/vmm/elf/1234.json
    write_atomic(path, b"{}")
"""

import os
import tempfile
from pathlib import Path


def cache_dir(*parts):
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = os.environ.get("VMM_CACHE_DIR") or (xdg if os.path.isabs(xdg) else Path.home() / ".cache")
    return Path(base, "vmm", *parts)


def write_atomic(path, data, durable=True):
    """Write the bytes `data` to `path` through a temporary file and a rename (creating the
    directory if need be); raises OSError if it cannot.  `durable=False` skips the fsync, for
    files whose loss after a crash costs only a recomputation (they carry a checksum)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            if durable:
                os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
