"""vmm/devices/pci.py: configuration mechanism #1 finds the host bridge only; 0xCF9 resets."""

from vmm.devices.pci import PciHost


def test_config_address_reads_back_and_other_devices_read_all_ones():
    pci = PciHost(reset=lambda: None)
    pci.write(0, 4, 0x80000803)               # bus 0, device 1
    assert pci.read(0, 4) == 0x80000800       # the two low bits are not part of the address
    assert [pci.read(4 + i, 1) for i in range(4)] == [0xFF] * 4
    assert pci.read(4, 2) == 0xFFFF and pci.read(4, 4) == 0xFFFFFFFF
    pci.write(4, 4, 0x12345678)               # dropped
    assert pci.read(4, 4) == 0xFFFFFFFF
    pci.write(0, 4, 0x00000000)               # enable bit clear: no configuration cycle
    assert pci.read(4, 4) == 0xFFFFFFFF


def test_the_host_bridge_is_a_440fx_at_bus_0_device_0():
    pci = PciHost(reset=lambda: None)
    pci.write(0, 4, 0x80000000)
    assert pci.read(4, 4) == 0x12378086 and pci.read(4, 2) == 0x8086 and pci.read(6, 2) == 0x1237
    pci.write(0, 4, 0x80000008)
    assert pci.read(4, 4) == 0x06000002 and pci.read(7, 1) == 0x06      # class: host bridge
    pci.write(0, 4, 0x80000040)
    assert pci.read(4, 4) == 0                                          # other registers
    pci.write(0, 4, 0x80000100)                                         # function 1
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
