"""The guest cache: one directory per guest, $XDG_CACHE_HOME/vmm/guests/NAME (~/.cache when
XDG_CACHE_HOME is unset, $VMM_CACHE_DIR when set: vmm/cachedir.py), holding the guest's files
and manifest.json.

Every file is written atomically (a temporary file renamed into place), the manifest last,
listing each file's sha256: a file counts only when the manifest names it with that digest,
so an interrupted write (or a half-done refetch) reads as "not cached", never as a guest with
a truncated kernel.

Example:
    directory = guest_dir("debian-i386")
    store(directory, {"vmlinuz": kernel_bytes}, {"packages": {"linux-image-686": "6.1"}})
    manifest = load(directory)           # None if absent or not intact
"""

import hashlib
import json

from .. import cachedir

MANIFEST = "manifest.json"


def guest_dir(name):
    return cachedir.cache_dir("guests", name)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def store(directory, files, manifest):
    """Write `files` (name -> bytes), then the manifest: `manifest` plus each file's sha256
    and size under "files".  Returns the manifest written."""
    for name, data in files.items():
        cachedir.write_atomic(directory / name, data)
    manifest = {**manifest, "files": {name: {"sha256": sha256(data), "size": len(data)}
                                      for name, data in files.items()}}
    cachedir.write_atomic(directory / MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return manifest


def load(directory):
    """The manifest in `directory` if it and every file it lists are intact, else None."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
        for name, entry in manifest["files"].items():
            if sha256((directory / name).read_bytes()) != entry["sha256"]:
                return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return manifest
