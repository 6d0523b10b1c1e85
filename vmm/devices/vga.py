"""The VGA text screen as the API sees it: 80x25 cells of (character, attribute) at 0xB8000.

The buffer is ordinary guest RAM; this reader decodes it (code page 437).

Example:
    VgaText(machine.memory).text()      # what the guest left on screen
"""

from . import layout


class VgaText:
    def __init__(self, memory):
        self.memory = memory

    def lines(self):
        cols, rows = layout.VGA_TEXT_COLS, layout.VGA_TEXT_ROWS
        raw = self.memory.read(layout.VGA_TEXT_BASE, cols * rows * 2)
        chars = raw[0::2]
        return [chars[r * cols:(r + 1) * cols].decode("cp437").replace("\0", " ").rstrip() for r in range(rows)]

    def text(self):
        return "\n".join(line for line in self.lines() if line)
