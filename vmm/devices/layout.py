"""Every fixed address and port of the vmm PC, in one place (Firecracker arch/x86_64/layout.rs).

Example:
    from vmm.devices import layout
    bus.register(layout.COM1_PORT, layout.UART_PORTS, uart)
"""

COM1_PORT = 0x3F8
UART_PORTS = 8
COM1_IRQ = 4

# The 8259A pair: the slave's INT output drives the master's input 2 (an AT's cascade).
PIC_MASTER_PORT = 0x20    # command (ICW1, OCW2, OCW3) at +0, data (ICW2-4, OCW1) at +1
PIC_SLAVE_PORT = 0xA0
PIC_PORTS = 2
PIC_CASCADE_IRQ = 2
PIC_IRQS = 16

# The 8254 PIT: counters 0-2 at +0..+2, the control word at +3; 1.193182 MHz input clock.
PIT_PORT = 0x40
PIT_PORTS = 4
PIT_IRQ = 0               # counter 0's output
PIT_HZ = 1_193_182
SYSTEM_PORT_B = 0x61      # counter 2 gate and output, speaker data, refresh toggle

KBD_DATA_PORT = 0x60      # the i8042: data at 0x60, status/command at 0x64
KBD_STATUS_PORT = 0x64
KBD_IRQ = 1
AUX_IRQ = 12              # the PS/2 mouse port

CMOS_PORT = 0x70          # index (bit 7: NMI disable) at +0, data at +1
CMOS_PORTS = 2
RTC_IRQ = 8
CMOS_BYTES = 128

FPU_ERROR_IRQ = 13        # the x87's FERR# output, as the AT wired it (CR0.NE clear)

PCI_CONFIG_PORT = 0xCF8   # type-1 configuration: address at 0xCF8, data at 0xCFC-0xCFF;
PCI_CONFIG_PORTS = 8      # 0xCF9 (a byte access) is the reset control register

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
# The Linux loader's pieces in the same area (vmm.boot.linux): the zero page, a GDT, the command line.
LINUX_BOOT_PARAMS_ADDR = 0x9000
LINUX_GDT_ADDR = 0xA000
LINUX_CMDLINE_ADDR = 0xB000
