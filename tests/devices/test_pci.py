"""vmm/devices/pci.py: configuration mechanism #1 finds no device; 0xCF9 resets."""

from vmm.devices.pci import PciHost


def test_config_address_reads_back_and_every_config_read_is_all_ones():
    pci = PciHost(reset=lambda: None)
    pci.write(0, 4, 0x80000003)
    assert pci.read(0, 4) == 0x80000000       # the two low bits are not part of the address
    assert [pci.read(4 + i, 1) for i in range(4)] == [0xFF] * 4
    assert pci.read(4, 2) == 0xFFFF and pci.read(4, 4) == 0xFFFFFFFF
    pci.write(4, 4, 0x12345678)               # dropped
    assert pci.read(4, 4) == 0xFFFFFFFF


def test_byte_and_word_accesses_to_the_address_are_not_configuration_cycles():
    pci = PciHost(reset=lambda: None)
    pci.write(0, 1, 0x80)
    pci.write(2, 2, 0x1234)
    assert pci.read(0, 4) == 0 and pci.read(0, 1) == 0xFF and pci.read(2, 2) == 0xFFFF


def test_reset_control_register_resets_with_bit_2_as_linux_reboot_pci_writes():
    resets = []
    pci = PciHost(reset=lambda: resets.append(True))
    pci.write(1, 1, 0x02)
    assert resets == [] and pci.read(1, 1) == 0x02
    pci.write(1, 1, 0x06)
    assert resets == [True]
