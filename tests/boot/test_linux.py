"""vmm/boot/linux.py, the Linux 32-bit boot protocol, on synthetic bzImages built here: a
setup header at 0x1F1 (the fields Documentation/arch/x86/boot.rst places there) and a few
protected-mode bytes after the (setup_sects + 1) * 512 bytes of real-mode setup.  Checked:
where the kernel and the initrd land, the zero page (boot_params) the loader fills, the
entry state, the errors for images this loader cannot boot, and the command line's
--kernel spelling."""

import struct
import subprocess
import sys

import pytest

from tests.asmguest import ENGINE_VARIANTS, assemble, new_machine
from vmm.boot import load_image
from vmm.boot.linux import BOOT_GDT, load_linux
from vmm.boot.memmap import pc_memory_map
from vmm.cli import build_parser, parse
from vmm.devices import layout
from vmm.errors import ImageError
from vmm.memory import PhysicalMemory
from vmm.x86.state import CS, DS, SS

MiB = 1 << 20
HEADER_END_BYTE = 0x66                 # the header runs from 0x1F1 to 0x202 + 0x66 = 0x268
KERNEL = bytes(range(256)) * 8 + b"\xfa\xf4"     # recognisable protected-mode bytes


def bzimage(setup_sects=4, version=0x020F, loadflags=0x01, code32_start=0x100000, initrd_addr_max=0x7FFFFFFF,
            xloadflags=0, cmdline_size=2047, kernel=KERNEL):
    """A bzImage: real-mode setup (boot sector + `setup_sects` sectors) with a setup header,
    then `kernel` as the protected-mode part.  Header bytes the loader only copies hold a
    pattern, so the copy into boot_params can be checked byte for byte."""
    setup = bytearray(((setup_sects or 4) + 1) * 512)
    for offset in range(0x1F1, 0x202 + HEADER_END_BYTE):
        setup[offset] = (offset * 7) & 0xFF
    setup[0x1F1] = setup_sects
    setup[0x200], setup[0x201] = 0xEB, HEADER_END_BYTE           # jmp short past the header
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, version)
    setup[0x210] = 0                                                 # type_of_loader: the loader's
    setup[0x211] = loadflags
    struct.pack_into("<I", setup, 0x214, code32_start)
    struct.pack_into("<II", setup, 0x218, 0, 0)                     # ramdisk_image, ramdisk_size
    struct.pack_into("<I", setup, 0x228, 0)                         # cmd_line_ptr
    struct.pack_into("<I", setup, 0x22C, initrd_addr_max)
    struct.pack_into("<H", setup, 0x236, xloadflags)
    struct.pack_into("<I", setup, 0x238, cmdline_size)
    return bytes(setup) + kernel


def params(memory):
    return memory.read(layout.LINUX_BOOT_PARAMS_ADDR, 0x1000)


def test_kernel_goes_to_code32_start_and_the_setup_header_is_copied():
    """The protected-mode bytes land at code32_start (here not 1 MiB, to see it is read);
    boot_params holds the image's header from 0x1F1 to 0x202 + the byte at 0x201, with
    type_of_loader 0xFF and cmd_line_ptr set; the command line is NUL-terminated there."""
    memory = PhysicalMemory(16 * MiB)
    image = bzimage(setup_sects=3, code32_start=0x200000)
    boot = load_linux(image, memory, cmdline="console=ttyS0 quiet")
    assert memory.read(0x200000, len(KERNEL)) == KERNEL
    assert boot.entry == 0x200000
    zero = params(memory)
    header_end = 0x202 + HEADER_END_BYTE
    expected = bytearray(image[0x1F1:header_end])
    expected[0x210 - 0x1F1] = 0xFF                                   # type_of_loader: undefined
    struct.pack_into("<I", expected, 0x228 - 0x1F1, layout.LINUX_CMDLINE_ADDR)
    assert zero[0x1F1:header_end] == bytes(expected)
    assert zero[header_end:0x2D0] == bytes(0x2D0 - header_end)       # nothing copied past the header
    assert struct.unpack_from("<I", zero, 0x228)[0] == layout.LINUX_CMDLINE_ADDR
    assert memory.read(layout.LINUX_CMDLINE_ADDR, 20) == b"console=ttyS0 quiet\0"
    assert struct.unpack_from("<II", zero, 0x218) == (0, 0)          # no initrd


def test_setup_sects_zero_means_four():
    """A setup_sects of 0 means 4 (the protocol's rule): the kernel starts at 5 * 512."""
    memory = PhysicalMemory(8 * MiB)
    load_linux(bzimage(setup_sects=0), memory)
    assert memory.read(0x100000, len(KERNEL)) == KERNEL


@pytest.mark.parametrize("ram_mb", [4, 16, 1024])
def test_e820_table_is_the_pc_memory_map(ram_mb):
    """The e820 entry count at 0x1E8 and the 20-byte entries (base, length, type) at 0x2D0
    are vmm.boot.memmap.pc_memory_map for the machine's RAM, and nothing follows them."""
    memory = PhysicalMemory(ram_mb * MiB)
    load_linux(bzimage(), memory)
    zero = params(memory)
    regions = pc_memory_map(ram_mb * MiB)
    assert zero[0x1E8] == len(regions)
    entries = [struct.unpack_from("<QQI", zero, 0x2D0 + 20 * n) for n in range(len(regions))]
    assert entries == [(r.base, r.length, r.kind) for r in regions]
    after = 0x2D0 + 20 * len(regions)
    assert zero[after:after + 20] == bytes(20)


@pytest.mark.parametrize("ram_mb, addr_max", [(16, 0x7FFFFFFF), (64, 0x37FFFFF), (1024, 0x7FFFFFFF),
                                              (64, 0x2FFFFFF)])
def test_initrd_is_page_aligned_at_the_top_below_its_limits(ram_mb, addr_max):
    """The initrd is page aligned, ends at or below min(initrd_addr_max + 1, RAM) (and the
    896 MiB low-memory end), lies above the kernel, is copied whole, and boot_params'
    ramdisk_image/ramdisk_size say where and how big."""
    memory = PhysicalMemory(ram_mb * MiB)
    initrd = bytes((n * 13) & 0xFF for n in range(70_001))
    boot = load_linux(bzimage(initrd_addr_max=addr_max), memory, initrd=initrd)
    image, size = struct.unpack_from("<II", params(memory), 0x218)
    limit = min(addr_max + 1, ram_mb * MiB, 0x38000000)
    assert size == len(initrd)
    assert image % 0x1000 == 0
    assert image + size <= limit and limit - (image + size) < 0x1000          # as high as it goes
    assert image >= 0x100000 + len(KERNEL)
    assert memory.read(image, size) == initrd
    assert (image, image + size) in boot.loaded and (0x100000, 0x100000 + len(KERNEL)) in boot.loaded


def test_boot_state_is_the_protocols_32_bit_entry():
    """Entry at code32_start, ESI = boot_params, EBP/EDI/EBX zero, CS 0x10 and data 0x18
    from the loader's GDT (flat code and data in entries 2 and 3), and an open bus."""
    memory = PhysicalMemory(8 * MiB)
    boot = load_linux(bzimage(), memory)
    assert boot.entry == 0x100000
    assert boot.regs == {"esi": layout.LINUX_BOOT_PARAMS_ADDR, "ebp": 0, "edi": 0, "ebx": 0}
    assert boot.selectors == (0x10, 0x18)
    assert boot.gdt == (layout.LINUX_GDT_ADDR, 31)
    assert memory.read(layout.LINUX_GDT_ADDR, 32) == BOOT_GDT
    code, data = struct.unpack_from("<QQ", BOOT_GDT, 16)
    assert (code >> 40) & 0xFF == 0x9A and (data >> 40) & 0xFF == 0x92     # present ring-0 code / data
    assert boot.open_bus is True


# A kernel that reads what the protocol hands it: the command line through boot_params'
# cmd_line_ptr (ESI + 0x228), the e820 count, its own segment selectors, and a dword past
# the end of RAM (open bus: all ones), then halts.
PROBE = """
    mov eax, [esi + 0x228]
    mov ebx, [eax]
    movzx ecx, byte ptr [esi + 0x1e8]
    mov dx, cs
    shl edx, 16
    mov dx, ds
    mov edi, [0x40000000]
    cli
    hlt
"""


@pytest.mark.parametrize("engine", ENGINE_VARIANTS)
def test_machine_load_enters_the_kernel_as_the_protocol_says(tmp_path, engine):
    """Machine.load of a bzImage: CS selector 0x10, data 0x18, GDTR at the loader's GDT, an
    open bus (mmu.open_bus); the kernel run from there finds its command line through ESI,
    and a read past RAM gives all ones instead of stopping the run."""
    path = tmp_path / "bzImage"
    path.write_bytes(bzimage(kernel=assemble(PROBE, 0x100000)))
    m = new_machine(engine, memory_mb=8)
    m.load(path, cmdline="root=/dev/ram0")
    s = m.state
    assert s.seg[CS].selector == 0x10 and s.seg[DS].selector == s.seg[SS].selector == 0x18
    assert (s.gdtr.base, s.gdtr.limit) == (layout.LINUX_GDT_ADDR, 31)
    assert m.mmu.open_bus is True
    assert m.reg_read("eip") == 0x100000 and m.reg_read("esi") == layout.LINUX_BOOT_PARAMS_ADDR
    result = m.run(max_insns=100)
    assert result.reason == "halt", result.message
    assert m.reg_read("eax") == layout.LINUX_CMDLINE_ADDR
    assert m.reg_read("ebx") == int.from_bytes(b"root", "little")
    assert m.reg_read("ecx") == len(pc_memory_map(8 * MiB))
    assert m.reg_read("edx") == 0x00100018
    assert m.reg_read("edi") == 0xFFFFFFFF
    assert m.mmu.unassigned == [("read", 0x40000000)]


@pytest.mark.parametrize("image, message", [
    (b"\0" * 0x1000, "not a Linux bzImage"),
    (bzimage()[:0x3FF], "not a Linux bzImage"),
    (bzimage(version=0x0205), r"boot protocol 2\.05 is too old \(vmm needs 2\.06 or later\)"),
    (bzimage(loadflags=0), "a zImage"),
    (bzimage(xloadflags=1), "a 64-bit kernel"),
    (bzimage(kernel=b""), "truncated bzImage"),
])
def test_images_this_loader_cannot_boot(image, message):
    """Each unbootable image is one ImageError naming the file."""
    with pytest.raises(ImageError, match=message + ".*: vmlinuz$"):
        load_linux(image, PhysicalMemory(8 * MiB), name="vmlinuz")


@pytest.mark.parametrize("cmdline", ["x" * 256, "a\0b"])
def test_command_line_too_long_or_with_nul(cmdline):
    """The command line must fit cmdline_size (255 here) and hold no NUL; 255 bytes fit."""
    memory = PhysicalMemory(8 * MiB)
    load_linux(bzimage(cmdline_size=255), memory, cmdline="y" * 255)
    assert memory.read(layout.LINUX_CMDLINE_ADDR, 256) == b"y" * 255 + b"\0"
    with pytest.raises(ImageError, match="the command line must be at most 255 bytes with no NUL"):
        load_linux(bzimage(cmdline_size=255), PhysicalMemory(8 * MiB), cmdline=cmdline)


def test_command_line_is_also_bounded_by_the_boot_info_area():
    """A kernel allowing a huge command line still gets at most what fits below
    layout.BOOT_INFO_END (the loader's area ends there)."""
    room = layout.BOOT_INFO_END - layout.LINUX_CMDLINE_ADDR
    with pytest.raises(ImageError, match=f"at most {room - 1} bytes"):
        load_linux(bzimage(cmdline_size=0xFFFFFFFF), PhysicalMemory(8 * MiB), cmdline="z" * room)


def test_initrd_too_big_for_ram():
    """An initrd that cannot fit between the kernel and the top of RAM is one error saying
    to give more memory."""
    with pytest.raises(ImageError, match=r"the initrd \(4194304 bytes\) does not fit in guest RAM above the "
                                         r"kernel \(RAM ends at 0x400000\); give more memory with -m"):
        load_linux(bzimage(), PhysicalMemory(4 * MiB), initrd=bytes(4 * MiB))


def test_load_image_picks_linux_and_reads_the_initrd_file(tmp_path):
    """load_image boots a file with a setup header as Linux, with the initrd file's bytes;
    an initrd given with a non-Linux image is an error."""
    kernel, initrd = tmp_path / "vmlinuz", tmp_path / "initrd.gz"
    kernel.write_bytes(bzimage())
    initrd.write_bytes(b"070701" * 100)
    memory = PhysicalMemory(16 * MiB)
    boot = load_image(kernel, memory, cmdline="quiet", initrd=initrd)
    start, size = struct.unpack_from("<II", params(memory), 0x218)
    assert boot.entry == 0x100000 and size == 600 and memory.read(start, size) == b"070701" * 100
    flat = tmp_path / "code.bin"
    flat.write_bytes(b"\xf4")
    with pytest.raises(ImageError, match="an initrd is for a Linux bzImage, and this is not one: .*code.bin$"):
        load_image(flat, PhysicalMemory(16 * MiB), initrd=initrd)


def test_kernel_option_is_the_image_argument():
    """`vmm run --kernel X` parses as `vmm run X` (as do the inspect forms)."""
    parser = build_parser()
    for command in ("run", "inspect"):
        spelled = parse(parser, [command, "--kernel", "vmlinuz", "--initrd", "initrd.gz"])
        plain = parse(parser, [command, "vmlinuz", "--initrd", "initrd.gz"])
        assert spelled.image == plain.image == "vmlinuz" and spelled.initrd == plain.initrd == "initrd.gz"


@pytest.mark.parametrize("argv, message", [
    (["run", "a", "--kernel", "b"], b"give the image once"),
    (["run"], b"the guest image is required"),
    (["inspect"], b"the guest image is required"),
])
def test_image_given_twice_or_not_at_all_is_an_error(argv, message):
    """Both IMAGE and --kernel, or neither: one error line from the subcommand, exit 2."""
    done = subprocess.run([sys.executable, "-m", "vmm", *argv], capture_output=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert done.stderr.count(b"\n") == 1 and b"Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith(b"vmm %s: " % argv[0].encode()) and message in done.stderr
