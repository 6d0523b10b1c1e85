"""The one validation layer for the command line: every option value is checked here, before
anything runs, and a bad one becomes one line naming the option and what it accepts.

Each checker takes the option's text and returns its value or raises `BadOption`; they are
argparse `type=` functions (argparse reports `BadOption`'s message as it is, never the
function's name) and plain functions for the checks that need two values (an address against
the RAM size).  Sizes read as QEMU's `-m`: a number of MiB, or a number with a K, M, G or T
suffix.

Example:
    memory_mb("64M"), memory_mb("1G"), memory_mb("256")     # 64, 1024, 256
    address("0x100000"), seconds("2.5"), sizes("10,100")    # 1048576, 2.5, (10, 100)
    serial("file:/no/such/dir/x")                           # BadOption: ... does not exist
"""

import argparse
import math
import os
from dataclasses import dataclass
from pathlib import Path

MIN_RAM_MB, MAX_RAM_MB = 2, 3072     # the boot area needs 64 KiB; 3 GiB stays below the 32-bit MMIO hole
SIZE_SUFFIXES = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


class BadOption(argparse.ArgumentTypeError):
    """A value the option does not accept; the message says what it accepts."""


def _number(text, what):
    try:
        return int(text, 0)
    except (TypeError, ValueError):
        raise BadOption(f"{what} must be a whole number (decimal, or hex as 0x...), not {text!r}") from None


def memory_mb(text):
    """Guest RAM in MiB from QEMU's -m spelling: 128, 128M, 1G, 262144K."""
    spec = str(text).strip()
    unit = SIZE_SUFFIXES.get(spec[-1:].upper())
    digits = spec[:-1] if unit else spec
    if not digits.isdigit():
        raise BadOption(f"guest RAM must be a size in MiB (128) or with a K, M, G or T suffix (64M, 1G), "
                        f"not {text!r}")
    size = int(digits) * (unit or SIZE_SUFFIXES["M"])
    if size % SIZE_SUFFIXES["M"]:
        raise BadOption(f"guest RAM must be a whole number of MiB, not {text!r}")
    mb = size >> 20
    if not MIN_RAM_MB <= mb <= MAX_RAM_MB:
        raise BadOption(f"guest RAM must be {MIN_RAM_MB}..{MAX_RAM_MB} MiB, not {text!r}")
    return mb


def address(text):
    """A 32-bit guest physical address: 0x100000 or 1048576."""
    value = _number(text, "an address")
    if not 0 <= value <= 0xFFFFFFFF:
        raise BadOption(f"an address must lie in 0..0xffffffff, not {text!r}")
    return value


def address_or_entry(text):
    """An address, or `entry` for the image's entry point (vmm inspect --at)."""
    return "entry" if str(text).strip().lower() == "entry" else address(text)


def check_in_ram(value, ram_mb, option):
    """`value` as a guest address inside RAM of `ram_mb` MiB, else BadOption naming `option`."""
    if value >= ram_mb << 20:
        raise BadOption(f"{option} {value:#x} is outside guest RAM (0-{(ram_mb << 20) - 1:#x}, -m {ram_mb})")
    return value


def count(text):
    """A whole number >= 0 (an instruction budget)."""
    value = _number(text, "a count")
    if value < 0:
        raise BadOption(f"a count cannot be negative: {text!r}")
    return value


def positive(text):
    """A whole number >= 1 (iterations, blocks to show)."""
    value = _number(text, "a count")
    if value < 1:
        raise BadOption(f"must be at least 1, not {text!r}")
    return value


def seconds(text):
    """A finite, non-negative number of seconds."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise BadOption(f"a time must be a number of seconds (2, 0.5), not {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise BadOption(f"a time must be a finite number of seconds >= 0, not {text!r}")
    return value


def sizes(text):
    """Comma-separated iteration counts, each >= 1: 2000,20000."""
    parts = [part.strip() for part in str(text).split(",")]
    if not all(part.isdigit() and int(part) > 0 for part in parts):
        raise BadOption(f"sizes must be comma-separated whole numbers >= 1 (2000,20000), not {text!r}")
    return tuple(int(part) for part in parts)


def _writable_dir(directory, what):
    if not directory.is_dir():
        raise BadOption(f"cannot write {what}: the directory {str(directory)!r} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise BadOption(f"cannot write {what}: the directory {str(directory)!r} is not writable")


def output_file(text):
    """A file the run will write: its directory must exist and be writable, and it is not a directory."""
    path = Path(text)
    if not str(text) or path.is_dir():
        raise BadOption(f"{str(text)!r} is a directory, not a file name")
    _writable_dir(path.parent, repr(str(text)))
    if path.exists() and not os.access(path, os.W_OK):
        raise BadOption(f"cannot write {str(text)!r}: the file is not writable")
    return path


def output_dir(text):
    """A directory results go to: it exists, or its parent does (it is created then)."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise BadOption(f"{str(text)!r} is a file, not a directory")
    _writable_dir(path if path.exists() else path.parent, f"into {str(text)!r}")
    return path


@dataclass(frozen=True)
class Serial:
    """Where COM1's output goes, QEMU's -serial spelling: stdio, null, or file:PATH."""

    kind: str
    path: Path = None

    def open(self, stdout):
        """A binary stream for the UART (`stdout` for stdio; None drops the output)."""
        if self.kind == "file":
            return open(self.path, "wb")
        return stdout if self.kind == "stdio" else None

    def describe(self):
        return {"stdio": "standard output", "null": "discarded (--serial null)"}.get(self.kind, str(self.path))


def serial(text):
    """--serial stdio | null | file:PATH (the file's directory is checked now, it is opened at the run)."""
    if text in ("stdio", "null"):
        return Serial(text)
    if text.startswith("file:") and len(text) > 5:
        return Serial("file", output_file(text[5:]))
    raise BadOption(f"serial output is stdio, null or file:PATH, not {text!r}")
