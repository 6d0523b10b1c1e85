"""Every fixed address and port of the vmm PC, in one place (Firecracker arch/x86_64/layout.rs).

Example:
    from vmm.devices import layout
    bus.register(layout.COM1_PORT, layout.UART_PORTS, uart)
"""

COM1_PORT = 0x3F8
UART_PORTS = 8
COM1_IRQ = 4

POST_PORT = 0x80          # BIOS POST codes; written by many kernels as an I/O delay
DEBUG_EXIT_PORT = 0xF4    # QEMU isa-debug-exit: guest writes v, vmm exits with (v << 1) | 1
DEBUG_EXIT_PORTS = 1

VGA_TEXT_BASE = 0xB8000   # 80x25 text mode, 2 bytes per cell (char, attribute)
VGA_TEXT_COLS = 80
VGA_TEXT_ROWS = 25

DEFAULT_RAM_MB = 128

# The PC's fixed memory holes, as SeaBIOS reports them (the loaders' memory map is built from these).
EBDA_BASE = 0x9FC00       # extended BIOS data area: the last KiB below 640 KiB
LOW_RAM_END = 0xA0000     # 640 KiB: VGA memory and option ROMs follow
BIOS_ROM_BASE = 0xF0000   # the system BIOS, up to 1 MiB
HIGH_RAM_BASE = 0x100000  # 1 MiB: "upper" memory starts here

# The boot information area: the multiboot loader writes these, and refuses image segments
# that overlap [MULTIBOOT_INFO_ADDR, BOOT_INFO_END).
MULTIBOOT_INFO_ADDR = 0x9000         # where the loader places the multiboot info structure
MULTIBOOT_MMAP_ADDR = 0x9100         # its memory map
MULTIBOOT_LOADER_NAME_ADDR = 0x9200  # its boot loader name
MULTIBOOT_CMDLINE_ADDR = 0x9800      # and the command line it points to (up to BOOT_INFO_END)
BOOT_INFO_END = 0x10000
