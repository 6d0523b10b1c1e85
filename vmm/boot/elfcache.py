"""A cache of LIEF's ELF parses on disk, so loading an image seen before skips importing LIEF.

Importing LIEF takes about 0.3 s, most of vmm's start-up (QEMU runs a whole small guest in
0.07 s).  The result of a successful parse (entry point and PT_LOAD segments) is kept as a
small JSON file named by the SHA-256 of the image and vmm's version, under the user's cache
directory ($XDG_CACHE_HOME/vmm/elf, or ~/.cache/vmm/elf; VMM_CACHE_DIR overrides the base).
Files are written to a temporary name and renamed, so concurrent runs never see half a
file; a file that cannot be read or parsed is ignored (and replaced by the next parse).
Images that fail to parse are never cached: their error comes from the parser every time.
VMM_NO_CACHE=1 turns the cache off.

Example:
    elf = cached(image, lambda: read_with_lief(image))     # LIEF runs only on a miss
"""

import hashlib
import json
import os

from .. import __version__, cachedir


def cache_dir():
    return cachedir.cache_dir("elf")


def cached(image, parse, encode, decode):
    """decode(the stored parse of `image`), or parse() (stored with encode) on a miss."""
    if os.environ.get("VMM_NO_CACHE"):
        return parse()
    path = cache_dir() / f"{hashlib.sha256(image).hexdigest()}-{__version__}.json"
    try:
        return decode(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    result = parse()
    try:
        cachedir.write_atomic(path, json.dumps(encode(result)).encode())
    except OSError:
        pass                      # a read-only or full cache directory: parse next time too
    return result
