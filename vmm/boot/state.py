"""BootState: where a loader leaves the CPU when the guest starts.

Example:
    boot = load_image("hello.elf", memory)
    boot.entry, boot.regs        # 0x100000, {"eax": 0x2BADB002, "ebx": 0x9000}
"""

from dataclasses import dataclass, field

from ..x86.state import CR0_PE, CR0_ET


@dataclass
class BootState:
    """Flat 32-bit protected mode, paging off, interrupts off (the multiboot hand-off state)."""

    entry: int
    name: str
    regs: dict = field(default_factory=dict)
    cr0: int = CR0_PE | CR0_ET
    eflags: int = 0x2
    loaded: list = field(default_factory=list)      # (start, end) physical ranges written
