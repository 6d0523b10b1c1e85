"""vmm: a binary-translation virtual machine monitor for 32-bit x86 guests.

The package's names are imported on first use, so `import vmm` (and the `vmm` command's
argument parsing) stays fast; `from vmm import Machine` works as usual.

Example:
    from vmm import Machine
    m = Machine(memory_mb=32)
    m.load("examples/images/hello.elf")
    print(m.run().summary())
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {"Machine": "machine", "RunResult": "machine", "VmmError": "errors", "ImageError": "errors",
            "MemoryAccessError": "errors", "GuestStop": "errors", "GuestFault": "errors"}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vmm' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
