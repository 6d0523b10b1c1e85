"""vmm/devices/vga.py: the text screen read out of guest RAM."""

import pytest

from vmm.devices.vga import VgaText
from vmm.memory import PhysicalMemory

BASE = 0xB8000


@pytest.fixture
def memory():
    return PhysicalMemory(1 << 20)


def put(memory, row, col, text, attribute=0x07):
    cells = bytes(b for ch in text for b in (ch, attribute))
    memory.write(BASE + 2 * (80 * row + col), cells)


def test_a_blank_screen(memory):
    screen = VgaText(memory)
    assert screen.lines() == [""] * 25 and screen.text() == ""


def test_rows_are_decoded_from_character_bytes_only(memory):
    put(memory, 1, 0, b"Hi", attribute=0x4F)
    put(memory, 24, 75, b"end!!")
    lines = VgaText(memory).lines()
    assert len(lines) == 25 and lines[0] == "" and lines[1] == "Hi"
    assert lines[24] == " " * 75 + "end!!"                  # leading blanks (NUL cells) kept, 80 columns


def test_trailing_blanks_are_stripped(memory):
    put(memory, 0, 0, b"ok   ")
    put(memory, 0, 10, b"\0")
    assert VgaText(memory).lines()[0] == "ok"


def test_code_page_437_glyphs_including_the_control_range(memory):
    put(memory, 0, 0, bytes([0x01, 0x03, 0x1A, 0x7F, 0xB0, 0xC9, 0xCD, 0xBB, 0xE1, 0x9C]))
    assert VgaText(memory).lines()[0] == "☺♥→⌂░╔═╗ß£"


def test_text_joins_the_non_empty_rows(memory):
    put(memory, 2, 0, b"first")
    put(memory, 7, 4, b"second")
    assert VgaText(memory).text() == "first\n    second"


def test_reads_the_current_contents_every_time(memory):
    screen = VgaText(memory)
    put(memory, 0, 0, b"one")
    assert screen.lines()[0] == "one"
    put(memory, 0, 0, b"two")
    assert screen.lines()[0] == "two"
