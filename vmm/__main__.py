"""`python3 -m vmm ...` is the `vmm` command."""

from .cli import entry

entry()
