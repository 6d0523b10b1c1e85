"""The persistent translation cache: compiled batches of blocks as object code on disk, so a
second run of the same guest links code instead of compiling it.

An entry is one translated batch (vmm.translator.engine: the block that missed and those
it reaches).  Its key is a SHA-256 over everything the code depends on: the guest bytes and
EIP of each block, the CPU mode bits (vmm.x86.mode), the tier, and `salt` (vmm's version
and source, llvmlite's and LLVM's versions, the host target, the RAM size the code checks
accesses against).  Host addresses are not in the code (vmm.translator.symbols), so entries
serve any process.  The value is the object code with its function and symbol names.

Files live under the user's cache directory (vmm.cachedir: ~/.cache/vmm/tcache), in a
directory per salt (its digest's first 16 hex digits), one file per entry, written to a
temporary name and renamed, so concurrent runs see a whole entry or none.  Entries of
another salt can never be used again by this vmm, so each run marks its salt's directory as
used and removes, on a background thread, all but the KEEP most recently used salts'
(another vmm version, or another RAM size) and anything else in the cache directory: a
Linux boot leaves about 130 MB, and every change of vmm's source is a new salt.  Each file holds a SHA-256 of its contents: a truncated or corrupt file is counted
in `stats["bad"]` and ignored (the batch is compiled again and the file replaced), never
trusted.

Beside the entries, a per-block index (`put_index`, `index`): for each block of a stored
batch, a small file under `index/` keyed by where that block starts and its first bytes,
naming the batch's key and the EIP and length of each of its blocks in order.  A later run
looks a block up there at its first miss, checks the batch's guest bytes against the
batch's key, and links the whole batch at once without decoding it (vmm.translator.engine
`_from_disk`), instead of warming the block up in the interpreter; the names of the index
files are read once, so a block that is not there costs a set lookup.

Example:
    disk = DiskCache(cache_dir("tcache"), salt=b"...")     # entries in tcache/<salt id>/
    key = disk.key(b"...guest bytes, mode, tier...")
    disk.put(key, {"names": ["b_1000_1"], "symbols": ["vmm.ram"]}, obj)
    disk.get(key)           # -> ({"names": [...], "symbols": [...]}, obj), or None
"""

import functools
import hashlib
import json
import os
import shutil
import struct
import threading
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

from .. import __version__
from ..cachedir import write_atomic

MAGIC = b"VMMTC1\n"


def salt(ram_size):
    """What every entry depends on besides its blocks: vmm (version and source: a changed
    semantics function must not run old code), llvmlite and LLVM, the target, RAM size."""
    return b"|".join([__version__.encode(), _source_digest(), llvmlite.__version__.encode(),
                      repr(llvm.llvm_version_info).encode(), llvm.get_default_triple().encode(),
                      str(ram_size).encode()])


@functools.lru_cache(maxsize=None)
def _source_digest():
    """SHA-256 over vmm's Python sources (about 5 ms, once per process)."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.digest()


KEEP = 4                        # salts whose entries are kept (the most recently used)
USED = "last-used"              # a salt directory's mark: its mtime is its last use


class DiskCache:
    def __init__(self, directory, salt, prune_in_background=True):
        self.salt = hashlib.sha256(salt).digest()
        self.directory = directory / self.salt.hex()[:16]
        _mark_used(self.directory)
        if prune_in_background:
            threading.Thread(target=prune, args=(directory, self.directory.name), daemon=True).start()
        self.stats = {"hits": 0, "misses": 0, "stores": 0, "bad": 0}
        self.indexed = None             # block keys in the index (read once, then kept up to date)

    def key(self, material):
        return hashlib.sha256(self.salt + material).hexdigest()

    def _path(self, key):
        """Where entry `key` lives (a str: pathlib costs more than the read on a warm boot's
        10,000 lookups)."""
        return os.path.join(self.directory, key[:2], key)

    def get(self, key):
        """(metadata, blob) stored under `key`, or None (absent, unreadable or corrupt)."""
        try:
            data = _read(self._path(key))
        except OSError:
            self.stats["misses"] += 1
            return None
        entry = _decode(data)
        if entry is None:
            self.stats["bad"] += 1
            self.stats["misses"] += 1
            return None
        self.stats["hits"] += 1
        return entry

    def put(self, key, meta, blob):
        """Store an entry; a cache directory that cannot be written is not an error."""
        text = json.dumps(meta).encode()
        body = struct.pack("<I", len(text)) + text + blob
        try:
            write_atomic(Path(self._path(key)), MAGIC + hashlib.sha256(body).digest() + body, durable=False)
        except OSError:
            return
        self.stats["stores"] += 1

    def put_index(self, block_key, batch_key, layout):
        """Record that the block with `block_key` was stored in batch `batch_key`, whose
        blocks are `layout`: [(EIP, length in bytes)]."""
        try:
            write_atomic(Path(self._index_path(block_key)), json.dumps({"batch": batch_key, "blocks": layout}).encode(),
                         durable=False)
        except OSError:
            return
        self._indexed().add(block_key)

    def index(self, block_key):
        """(batch key, [(EIP, length)]) recorded for `block_key`, or None (absent or unreadable)."""
        if block_key not in self._indexed():
            return None
        try:
            entry = json.loads(_read(self._index_path(block_key)))
            return str(entry["batch"]), [(int(eip), int(length)) for eip, length in entry["blocks"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _index_path(self, key):
        return os.path.join(self.directory, "index", key[:2], key)

    def _indexed(self):
        """The block keys the index holds, read from its file names once per process."""
        if self.indexed is None:
            root = self.directory / "index"
            self.indexed = {entry.name for sub in (root.iterdir() if root.is_dir() else ())
                            for entry in (sub.iterdir() if sub.is_dir() else ())}
        return self.indexed

    def forget(self, key):
        """Count the entry under `key` as bad (it would not link) so the next store replaces it."""
        self.stats["bad"] += 1
        self.stats["hits"] -= 1
        self.stats["misses"] += 1


def _mark_used(directory):
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / USED).touch()
    except OSError:
        pass                    # a cache directory that cannot be written: entries are not stored


def prune(base, current, keep=KEEP):
    """Remove from `base` everything but the salt directory `current` and the keep - 1 other
    salt directories used most recently (by their USED mark); errors are ignored (another
    run may be removing the same files).  Returns the names removed."""
    def last_used(entry):
        try:
            return (entry / USED).stat().st_mtime
        except OSError:
            return None
    try:
        entries = list(base.iterdir())
    except OSError:
        return []
    salts = [(last_used(e), e) for e in entries if e.name != current and e.is_dir() and _is_salt(e.name)]
    kept = {e.name for used, e in sorted((x for x in salts if x[0] is not None), reverse=True)[:keep - 1]}
    removed = []
    for entry in entries:
        if entry.name == current or entry.name in kept or entry.name.startswith("."):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            try:
                entry.unlink()
            except OSError:
                continue
        removed.append(entry.name)
    return removed


def _is_salt(name):
    return len(name) == 16 and all(c in "0123456789abcdef" for c in name)


def _read(path):
    """The bytes of the file at `path`."""
    with open(path, "rb") as f:
        return f.read()


def _decode(data):
    head = len(MAGIC) + 32
    if not data.startswith(MAGIC) or len(data) < head + 4:
        return None
    digest, body = data[len(MAGIC):head], data[head:]
    if hashlib.sha256(body).digest() != digest:
        return None
    (length,) = struct.unpack_from("<I", body)
    try:
        meta = json.loads(body[4:4 + length])
    except ValueError:
        return None
    return meta, body[4 + length:]
