"""The Machine: guest RAM, CPU state, devices and the monitor loop, with a Unicorn-like API.

The monitor loop asks an engine to run a slice of guest instructions and
handles what comes back: a stop request (hlt with interrupts off, the
debug-exit port, a hook), the instruction limit, a timeout, or an error the
guest cannot survive.  Everything a user embeds vmm for is here: load an
image, run, read and write registers and memory, hook ports and instructions.

Example:
    m = Machine(memory_mb=16, serial=sys.stdout.buffer)
    m.load("examples/images/hello.elf")
    result = m.run(max_insns=1_000_000)
    print(result.reason, result.exit_code, result.instructions)
    m.reg_read("eax"); m.mem_read(0xB8000, 160)
"""

import time
from dataclasses import dataclass

from .errors import GuestStop, MemoryAccessError, VmmError
from .devices.bus import Bus
from .devices.clock import VirtualClock
from .devices import layout
from .devices.layout import DEFAULT_RAM_MB
from .board import attach_devices
from .boot import load_image
from . import cache as cache_limits
from .cache import DEFAULT_LIMIT, MAX_LIMIT
from .interp import engine as interp_engine
from .translator import engine as jit_engine
from .interp.builder import InterpBuilder
from .memory import PhysicalMemory
from .x86.decoder import Decoder
from .x86.interrupts import deliver
from .x86.mmu import Mmu
from .x86.msr import MsrFile
from .x86.protection import IF_MASK
from .x86.segments import set_flat_segments, set_selector
from .x86.state import CpuState, GPR_NAMES, SEG_NAMES, CR0_PE, CR0_ET, reset_fpu

ENGINES = {"interp": interp_engine, "jit": jit_engine}
SLICE = {"interp": 20_000, "jit": jit_engine.SLICE}     # instructions between wall-clock checks


@dataclass
class RunResult:
    """Why a run ended: reason is one of exit, halt, limit, timeout, error, stop."""

    reason: str
    instructions: int
    seconds: float
    exit_code: int = 0
    message: str = ""
    fault: int = None          # the exception vector that stopped the run, if one did
    translation: dict = None   # the jit's figures (Translator.progress), None for the interpreter

    def summary(self):
        mips = self.instructions / self.seconds / 1e6 if self.seconds else 0.0
        text = f"vmm: {self.instructions} instructions in {self.seconds:.3f} s ({mips:.2f} MIPS)"
        if self.translation is not None:
            t = self.translation
            text += (f", {t['compiled']} blocks compiled in {t['compile_seconds']:.2f} s,"
                     f" {t['loaded']} from the persistent cache")
        text += f", {self.reason}"
        return text + (f": {self.message}" if self.message else "")


class Machine:
    """A 32-bit PC: `memory_mb` of RAM, COM1, isa-debug-exit, POST port, VGA text buffer.
    `jit_tier=2` compiles every block with the optimisation passes at once, instead of
    fast tier-0 code first (for comparing the tiers; slower to start).  `clock="host"` makes
    guest time follow the wall clock (interactive use) instead of the instruction count.
    `tcache_size` bounds the translated blocks held in memory (all are evicted when a batch
    would exceed it); `persistent_tcache=True` keeps compiled code on disk for later runs
    (vmm.cache.disk).  `jit_threshold`: the jit interprets a block until it has run that many
    times, then translates it (1: at once; most of an OS's blocks run only a few times)."""

    def __init__(self, memory_mb=DEFAULT_RAM_MB, engine="interp", serial=None, jit_tier=0, clock="virtual",
                 tcache_size=DEFAULT_LIMIT, persistent_tcache=False, jit_threshold=None):
        if engine not in ENGINES:
            raise VmmError(f"unknown engine {engine!r} (have: {', '.join(ENGINES)})")
        if jit_tier not in (0, 2):
            raise VmmError(f"jit tier {jit_tier!r} is not one of 0, 2")
        if not 1 <= tcache_size <= MAX_LIMIT:
            raise VmmError(f"translation cache size {tcache_size!r} is not between 1 and {MAX_LIMIT} blocks")
        self.tcache_size = tcache_size
        self.jit_threshold = cache_limits.JIT_THRESHOLD if jit_threshold is None else jit_threshold
        if not 1 <= self.jit_threshold <= cache_limits.MAX_JIT_THRESHOLD:
            raise VmmError(f"jit threshold {jit_threshold!r} is not between 1 and {cache_limits.MAX_JIT_THRESHOLD} runs")
        self.persistent_tcache = persistent_tcache
        self.engine = ENGINES[engine]
        self.slice = SLICE[engine]
        self.jit_tier = jit_tier        # the tier blocks are first compiled at (jit engine)
        self.translator = None          # created by the jit engine on first use
        self.memory = PhysicalMemory(memory_mb << 20)
        self.state = CpuState()
        self.io = Bus("io")
        self.mmio = Bus("mmio")
        self.mmu = Mmu(self.memory, self.mmio, self.state)
        self.decoder = Decoder(self.memory)
        self.builder = InterpBuilder(self.state, self.mmu)
        self.msrs = MsrFile(self.state)
        self.clock = VirtualClock(self.state, clock)
        self.clock.on_change = self.request_interrupt_check
        self.pic = None                 # the interrupt controller, once the board has one
        self.attention = False          # engines return to the monitor loop at once when set
        self.halted = False             # hlt with IF set: waiting for an interrupt
        self.callouts = 0               # callouts run by the monitor (both engines)
        self.code_hooks = []
        self.breakpoints = set()        # addresses the run stops before (a debugger's); see set_breakpoints
        self.step_over = None           # (icount, address): the breakpoint a debugger resumes from
        self.trace = None               # a vmm.debug.trace.Trace when -d logging is on
        self.port_hooks = {}
        self.port_accesses = 0          # port reads and writes so far (the jit's monitor calls)
        self.stop_reason = None
        self.deadline = None            # perf_counter() time a run with a timeout ends
        self.exit_code = 0
        self.stop_message = ""
        self.devices = attach_devices(self, serial)
        # Until an image is loaded: flat 32-bit protected mode, as Unicorn's UC_MODE_32 starts.
        set_flat_segments(self.state)
        self.state.cr[0] = CR0_PE | CR0_ET
        self.state.eflags = 0x2
        reset_fpu(self.state.fpu)

    # ---- loading ------------------------------------------------------------------------
    def load(self, path, cmdline="", address=None, initrd=None):
        """Load a multiboot ELF, a Linux bzImage (with an `initrd` file) or, with `address`,
        a flat binary, and set the entry state."""
        boot = load_image(path, self.memory, cmdline=cmdline, flat_address=address, initrd=initrd)
        s = self.state
        set_flat_segments(s, *boot.selectors)
        s.gdtr.base, s.gdtr.limit = boot.gdt
        self.mmu.open_bus = boot.open_bus
        s.cr[0] = boot.cr0
        s.eflags = boot.eflags
        s.eip = boot.entry
        for name, value in boot.regs.items():
            self.reg_write(name, value)
        return boot

    # ---- running -------------------------------------------------------------------------
    def run(self, max_insns=None, timeout=None):
        """Run until the guest exits or halts, `max_insns` retire, or `timeout` seconds pass."""
        self.stop_reason, self.stop_message = None, ""
        start = time.perf_counter()
        self.deadline = None if timeout is None else start + timeout
        first = self.state.icount
        reason, message, fault = "limit", "", None
        try:
            while self.stop_reason is None:
                done = self.state.icount - first
                budget = self.slice if max_insns is None else min(self.slice, max_insns - done)
                if budget <= 0:
                    break
                cap = self.service()
                if cap:
                    self.engine.run(self, self.until_deadline(min(cap, budget)))
                if self.stop_reason is None and self.past_deadline():
                    reason = "timeout"
                    break
            else:
                reason, message = self.stop_reason, self.stop_message
        except (GuestStop, MemoryAccessError) as error:
            reason, message, fault = "error", str(error), getattr(error, "vector", None)
        finally:
            self.deadline = None
        translation = self.translator.progress() if self.translator is not None else None
        return RunResult(reason, self.state.icount - first, time.perf_counter() - start, self.exit_code,
                         message, fault, translation)

    # ---- time and interrupts -----------------------------------------------------------------
    def until_deadline(self, budget):
        """The budget cut at the next timer deadline, so timers fire on time (one guest
        instruction is one virtual nanosecond, vmm.devices.clock)."""
        deadline = self.clock.next_deadline()
        if deadline is None:
            return budget
        return max(1, min(budget, deadline - self.clock.now()))

    def service(self):
        """Between slices: fire due timers, take a pending interrupt, wait in hlt (skip time
        to the next timer deadline, then fire what is due there: the interrupt wakes the
        CPU).  Returns how many instructions the engine may run before looking again (1 in
        an interrupt shadow with an interrupt waiting), or 0 when it must not run now (the
        guest is still halted, or the run is to stop).  An interrupt that IF holds back is
        flagged in `irq_pending`, so sti/popf/iret return here at once.  The jit also calls
        it right after a hlt it ran from translated code (vmm.translator.monitorcall)."""
        self._fire_and_take()
        if self.halted:
            if not self.clock.idle():
                # Nothing can wake it: the run ends here; a later run() resumes after the hlt.
                self.halted = False
                self.stop("halt", 0, "hlt with interrupts enabled and no timer armed: the guest waits for ever")
                return 0
            self._fire_and_take()
            if self.halted:
                return 0
        s = self.state
        if s.irq_pending and s.eflags & IF_MASK:
            return 1                   # the sti / mov ss shadow: one instruction, then deliver
        return self.slice

    def _fire_and_take(self):
        """Fire due timers and take the PIC's interrupt if IF allows it; flag one held back
        in `irq_pending`."""
        self.clock.run_due()
        s = self.state
        waiting = self.pic is not None and self.pic.has_interrupt()
        if waiting and self.interrupts_open():
            self.take_interrupt(self.pic.acknowledge())
            waiting = self.pic.has_interrupt()
        s.irq_pending = int(waiting)
        self.attention = False

    def interrupt_waits(self):
        """An interrupt the monitor flagged is no longer held back by IF: engines stop here."""
        return self.state.irq_pending and self.interrupts_open()

    def interrupts_open(self):
        """An external interrupt can be taken now: IF set, and not right after sti/mov ss."""
        s = self.state
        return bool(s.eflags & IF_MASK) and s.icount != s.int_shadow

    def take_interrupt(self, vector):
        """Deliver an external interrupt through the guest IDT (wakes a halted CPU)."""
        self.halted = False
        if self.trace is not None:
            self.trace.interrupt(vector, None, self.state.eip, "external interrupt")
        elif self.translator is not None and self.translator.deliver_external(vector):
            return                        # the native fast path did it (vmm.translator.fastpath)
        deliver(self, vector, None, self.state.eip, f"IRQ vector {vector:#x}", external=True)

    def request_interrupt_check(self):
        """A device raised its line or a timer was armed: engines return to the monitor
        loop at the next instruction boundary (translated code at the next block, since
        interrupts are only raised from Python, between blocks)."""
        self.attention = True

    def past_deadline(self):
        """True once the running `run(timeout=...)` is out of time.  Engines ask between
        exits to the monitor, so a run stops on time even when its instructions are slow
        (code that keeps missing the translation cache, interpreted self-modifying code)."""
        return self.deadline is not None and time.perf_counter() > self.deadline

    def stop(self, reason, exit_code=0, message=""):
        """Ask the monitor loop to stop after the current instruction."""
        self.stop_reason, self.exit_code, self.stop_message = reason, exit_code, message

    def halt(self):
        """hlt: with interrupts off the CPU can never wake, so the run ends; with them on it
        waits for the next interrupt (the monitor skips virtual time to the next timer)."""
        if self.state.eflags & IF_MASK:
            self.halted = True
            self.attention = True
        else:
            self.stop("halt", 0, "hlt with interrupts disabled")

    def mappings_changed(self, keep_global=False, page=None):
        """CR0/CR3/CR4 writes and invlpg: linear addresses may now mean other physical pages.
        The TLB drops its entries (global ones survive a CR3 reload with CR4.PGE), and the
        translator its jump cache, whose entries are by linear address; translations
        themselves are keyed by physical address and stay (one whose last instruction
        crosses into another page is checked against that page's mapping at its next
        miss).  `page`: only the page of that linear address changed (invlpg)."""
        if page is None:
            self.mmu.flush(keep_global)
        else:
            self.mmu.tlb.invalidate(page)
        if self.translator is not None:
            keep = self.mmu.tlb.global_map if keep_global and page is None else None
            self.translator.cache.flush_jump_cache(page=page, keep=keep)

    def invalidate_translations(self):
        """Drop every translation (breakpoints changed where blocks must end)."""
        if self.translator is not None:
            self.translator.cache.flush()

    def set_breakpoints(self, addresses):
        """Stop runs (reason "breakpoint") before executing any of `addresses`.  Translations
        are dropped, so translated blocks end before each breakpoint and the monitor sees EIP
        reach it; the run that starts on a breakpoint with `step_over` set runs it."""
        self.breakpoints = set(addresses)
        self.invalidate_translations()

    # ---- ports ---------------------------------------------------------------------------
    def hook_port(self, port, read=None, write=None):
        """Intercept a port: read(port, size) -> int, write(port, size, value)."""
        self.port_hooks[port] = (read, write)
        for chip, base in ((self.pic.master, layout.PIC_MASTER_PORT), (self.pic.slave, layout.PIC_SLAVE_PORT)):
            if base <= port < base + layout.PIC_PORTS:
                chip.native = False          # no native fast path past the hook (vmm.translator.devicepath)
                chip.settle()

    def port_read(self, port, size):
        self.port_accesses += 1
        hook = self.port_hooks.get(port)
        if hook and hook[0]:
            return hook[0](port, size) & ((1 << (8 * size)) - 1)
        return self.io.read(port, size)

    def port_write(self, port, size, value):
        self.port_accesses += 1
        hook = self.port_hooks.get(port)
        if hook and hook[1]:
            hook[1](port, size, value)
        else:
            self.io.write(port, size, value)

    def hook_code(self, fn):
        """Call fn(machine, insn) before every instruction (slow: for tracing and tests)."""
        self.code_hooks.append(fn)

    # ---- registers and memory --------------------------------------------------------------
    def reg_read(self, name):
        """A register by name: eax..edi, ax/al/ah..., eip, eflags, cs..gs, cr0..cr4."""
        name = name.lower()
        if name == "eflags":
            self.builder.materialize_flags()
            return self.state.eflags
        kind, index, width, shift = _register(name)
        if kind == "gpr":
            return (self.state.gpr[index] >> shift) & ((1 << width) - 1)
        if kind == "seg":
            return self.state.seg[index].selector
        if kind == "cr":
            return self.state.cr[index]
        return self.state.eip

    def reg_write(self, name, value):
        name = name.lower()
        if name == "eflags":
            self.builder.materialize_flags()
            self.state.eflags = (value & 0xFFFFFFFF) | 0x2
            return
        kind, index, width, shift = _register(name)
        if kind == "gpr":
            self.builder.set_reg(index, value & ((1 << width) - 1), width, shift)
        elif kind == "seg":
            set_selector(self.state, index, value & 0xFFFF)
        elif kind == "cr":
            self.state.cr[index] = value
        else:
            self.state.eip = value

    def mem_read(self, addr, length):
        return self.memory.read(addr, length)

    def mem_write(self, addr, data):
        """Write guest physical memory from the host.  Translations of code there are dropped;
        a host write is not the guest modifying itself, so the translator also forgets that
        history (the addresses are translated again, not left to the interpreter)."""
        self.memory.write(addr, bytes(data))
        if self.translator is not None:
            self.translator.forget_rewrites(addr, len(data))


def _register(name):
    if name in GPR_NAMES:
        return "gpr", GPR_NAMES.index(name), 32, 0
    short = {n[1:]: i for i, n in enumerate(GPR_NAMES)}
    if name in short:
        return "gpr", short[name], 16, 0
    if len(name) == 2 and name[1] in "lh" and name[0] in "acdb":
        return "gpr", "acdb".index(name[0]), 8, 8 if name[1] == "h" else 0
    if name in SEG_NAMES:
        return "seg", SEG_NAMES.index(name), 16, 0
    if name in ("cr0", "cr2", "cr3", "cr4"):
        return "cr", int(name[2]), 32, 0
    if name == "eip":
        return "eip", 0, 32, 0
    raise VmmError(f"unknown register {name!r}")
