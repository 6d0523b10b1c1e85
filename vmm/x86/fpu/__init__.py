"""The x87 FPU's host side: native helpers that run guest x87 instructions on the host's own
x87 unit (vmm.x86.fpu.native), and the static description of every x87 form they cover
(vmm.x86.fpu.forms)."""
