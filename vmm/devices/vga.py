"""The VGA text screen as the API sees it: 80x25 cells of (character, attribute) at 0xB8000.

The text buffer is ordinary guest RAM (no bus device); this reader decodes the character bytes
with code page 437, the VGA's ROM font, showing bytes 0x01-0x1F and 0x7F as the glyphs the
font draws for them rather than as terminal control characters, and byte 0 as a blank.

Example:
    screen = VgaText(machine.memory)
    screen.lines()[0]       # the top row, trailing blanks removed
    screen.text()           # every non-empty row, joined with newlines
"""

from . import layout

_CONTROL_GLYPHS = " ☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼"     # CP437 font cells 0x00-0x1F
_GLYPHS = str.maketrans({**dict(enumerate(_CONTROL_GLYPHS)), 0x7F: "⌂"})


class VgaText:
    """Reads the 80x25 text screen out of guest RAM on every call (nothing is cached)."""

    def __init__(self, memory):
        self.memory = memory

    def lines(self):
        """The 25 rows as strings, trailing blanks stripped."""
        cols, rows = layout.VGA_TEXT_COLS, layout.VGA_TEXT_ROWS
        chars = self.memory.read(layout.VGA_TEXT_BASE, cols * rows * 2)[0::2]
        text = chars.decode("cp437").translate(_GLYPHS)
        return [text[row * cols:(row + 1) * cols].rstrip() for row in range(rows)]

    def text(self):
        """The non-empty rows joined with newlines ("" for a blank screen)."""
        return "\n".join(line for line in self.lines() if line)
