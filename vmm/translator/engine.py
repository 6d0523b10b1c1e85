"""The translator engine: translate on a miss, run natively, return to Python only on exits.

`Translator.run(budget)` sets the instruction budget in the CPU state and
calls the native dispatcher; it handles the exits: MISS (translate a batch of
blocks: the missing one and the not-yet-translated blocks it reaches
directly, in one LLVM module), STEP (the interpreter runs one instruction:
callouts, #UD, faults, slow memory), BUDGET (return).  Port I/O, hlt and invlpg
do not exit: blocks call the monitor for them through a callback and go on
(vmm.translator.monitorcall; a host error kept there is raised when the dispatcher
returns).  After each call it promotes hot tier-0 blocks to tier 2 (LLVM optimisation passes), in one batch;
a tier-2 block that jumps back to its own start becomes a loop that keeps guest
state in host registers until it is left (LLVMBuilder._open_loop).

Tier-2 compiles run on a background thread (vmm.translator.background); their code
is installed between dispatcher calls.  `drain()` waits for them.

With paging, a block may end with an instruction that crosses into the next linear page
(vmm.translator.blocks), whose frame (`phys2`) the block key does not cover: at a miss,
such a block is used only if that page still maps the same frame (`_lookup`), else it is
dropped and translated again; the jump cache forgets it at every flush (vmm.cache.tcache),
so it is checked after every change of mappings.

Code is freed as it dies (vmm.cache.tcache: a library once no live block runs it), at
points where no translated code runs; when a batch would take the cache past its limit
(`Machine(tcache_size=)`), everything is evicted.  With a persistent cache
(`Machine(persistent_tcache=True)`, vmm.cache.disk) a batch is looked up on disk by its
guest bytes before it is compiled, and stored after.

`run(machine, budget)` is the engine entry point the Machine calls.

Example:
    m = Machine(engine="jit"); m.load(...); m.run()
    m.translator.stats()      # blocks, compile times, dispatcher entries...
"""

import ctypes
import struct
import time

from ..errors import GuestFault, MemoryAccessError
from ..interp import engine as interp
from ..x86.mmu import FETCH
from ..x86.state import CS
from ..x86.tlb import PAGE_SHIFT
from ..x86.mode import MODE_PAGING, mode_of
from ..x86.protection import IF_MASK, TF_MASK
from ..x86.segaccess import FLAT_LIMIT
from ..cache.disk import DiskCache, salt
from .. import cache as cache_limits
from ..cache.tcache import Block, CodeUnit, TranslationCache, block_key
from ..cachedir import cache_dir
from ..x86.fpu import native as native_helpers
from . import background, devicepath, fastpath, monitorcall, symbols
from .blocks import MAX_INSNS, PAGE_SIZE, Decoded, Plan, byte_runs, form_block
from .dispatch import build_dispatcher
from .exits import BUDGET, MISS, STEP
from .irtext import Module
from .jit import Jit
from .monitorcall import MonitorCall
from .llvm_builder import LLVMBuilder, MemoryLayout, define_cc_helper, plan_loop
from .pagewalk import define_tlb_fill

INDEX_BYTES = 16           # guest bytes in a persistent-cache index key (with the block's EIP)
SLICE = 5_000_000          # instructions between the monitor's wall-clock checks
BATCH = 32                 # most blocks translated into one module on a miss...
BATCH_INSNS = 512          # ...and most guest instructions
TIER2_BATCH = 2            # blocks per tier-2 job: llvmlite runs one LLVM call at a time, so a
                           # tier-0 compile or a link waits for the job's call in progress (a warm
                           # Linux boot's links waited 1.1 s in all with 8, 0.7 s with 2)
POLL = 200_000             # instructions between looks for finished tier-2 code while one compiles
SMC_LIMIT = 3              # invalidations after which code at an address is interpreted instead...
STEP_RETRY = 1_000         # ...until it has run this many times there unchanged: then it is translated
                           # again (Linux patches a function's static keys a few times at boot, then
                           # runs it 100,000 times), and an address with nothing translatable is
                           # looked at again as cheaply

_DISPATCH = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p)
_TLB_FILL = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint32, ctypes.c_uint32)
CS_32BIT = 1 << 14          # the D bit in a segment's flags word: 32-bit code


class Translator:
    """The jit engine of one Machine: its translation cache, LLVM JIT and exit handling."""

    def __init__(self, machine):
        self.m = machine
        self.jit = Jit()
        self.cache = TranslationCache(machine.memory, machine.tcache_size)
        self.layout = MemoryLayout(machine.memory, machine.mmu.tlb)
        # A TLB miss in translated code calls back into the monitor's page walk (about a
        # microsecond) and the block goes on; only a real #PF leaves it.
        self._tlb_fill = _TLB_FILL(self._fill)
        self.tlb_fill_slot = ctypes.c_uint64()           # the preserve_most trampoline (vmm.translator.pagewalk)
        self.layout.tlb_fill_slot = ctypes.addressof(self.tlb_fill_slot)
        self.tier2_jobs = []         # (Future, install function) compiling in the background
        # The native fast paths (vmm.translator.fastpath): compiled at first need, called
        # through slots by blocks and the dispatcher; `fast_enabled` is off under -d tracing.
        self.fast_slots = {name: ctypes.c_uint64() for name in fastpath.FUNCTIONS}
        self.fast_enabled = ctypes.c_uint32(1)
        self.fast_counts = (ctypes.c_uint64 * len(fastpath.COUNTS))()
        self.fast = None             # {name: ctypes function} once compiled
        self.layout.fast = {f"{name}_slot": ctypes.addressof(slot) for name, slot in self.fast_slots.items()}
        self.layout.fast.update(fast_enabled=ctypes.addressof(self.fast_enabled),
                                fast_counts=ctypes.addressof(self.fast_counts))
        # Port I/O, hlt, invlpg: blocks call the monitor through a slot and go on (vmm.translator.monitorcall).
        self.monitor_call = MonitorCall(self)
        self.layout.fast[f"{monitorcall.NAME}_slot"] = ctypes.addressof(self.monitor_call.slot)
        self.layout.fast["monitor_python_slot"] = ctypes.addressof(self.monitor_call.python_slot)
        self.layout.fast["pic_regs"] = ctypes.addressof(machine.pic.master.regs)
        self.layout.fast["clock_regs"] = ctypes.addressof(machine.clock.regs)
        self.layout.fast["pit_tick"] = ctypes.addressof(machine.devices["pit"].counters[0].tick)
        module = Module("dispatcher")
        build_dispatcher(module, self.cache, self.layout, ctypes.addressof(self.fast_slots["fast_deliver"]))
        define_tlb_fill(module, ctypes.cast(self._tlb_fill, ctypes.c_void_p).value, self.layout)
        addresses, _, _ = self.jit.compile(module.text(), ["dispatch", "tlb_fill"], tier=2, permanent=True)
        self.dispatch = _DISPATCH(addresses["dispatch"])
        self.tlb_fill_slot.value = addresses["tlb_fill"]
        # Blocks call the flags helper through a slot: a tier-0 build (10 ms) serves at once;
        # the tier-2 build (40 ms, faster code) goes to the background with the first hot blocks.
        self.cc_flags_slot = ctypes.c_uint64()
        self.layout.cc_flags_slot = ctypes.addressof(self.cc_flags_slot)
        module = Module("cc_flags")
        define_cc_helper(module)
        addresses, _, _ = self.jit.compile(module.text(), ["cc_flags"], tier=0, permanent=True)
        self.cc_flags_slot.value = addresses["cc_flags"]
        self.cc_flags_text = module.text()       # compiled again at tier 2 with the first hot blocks
        self.machine_symbols = self.layout.symbols()
        # Blocks that call the fast paths or fast_host (tier-0 memory accesses) link them.
        self.fast_symbols = {symbols.machine(f"{name}_slot") for name in fastpath.FUNCTIONS}
        self.fast_symbols.add(symbols.machine(fastpath.HOST))
        self.disk = DiskCache(cache_dir("tcache"), salt(machine.memory.size)) if machine.persistent_tcache else None
        self.state_address = ctypes.addressof(machine.state)
        self.step_sites = set()      # addresses whose first instruction the monitor runs
        self.entries = 0             # dispatcher calls (= returns to Python)
        self.exits = {MISS: 0, STEP: 0, BUDGET: 0}
        self.step_counts = {}        # address -> times the monitor ran that instruction
        self.warm = {}               # block key -> runs in the interpreter, below the jit threshold
        # Per tier: blocks translated and seconds spent, IR generation and LLVM together
        # (and linking), and how many of those blocks came from the persistent cache.
        self.translation = {tier: {"blocks": 0, "seconds": 0.0, "loaded": 0} for tier in (0, 2)}
        self.translation[2]["background_seconds"] = 0.0    # LLVM's share, off the guest's thread
        self.module_count = 0
        self.tier_scan = 0           # icount at the last look for hot blocks (tier_up)
        self.loop_blocks = 0         # tier-2 blocks that jump to themselves, compiled as loops
        self.evictions = 0           # full flushes because the cache reached its limit

    def _fill(self, linear, kind):
        """The TLB fill callback (kind: bit 0 write, bit 1 user).  It must not raise: ctypes
        would print the traceback and return 0; 0 is already "leave the block"."""
        try:
            return self.m.mmu.fill(linear, bool(kind & 1), bool(kind & 2))
        except Exception:           # a page table outside RAM or similar: the interpreter reports it
            return 0

    # ---- running ---------------------------------------------------------------------------
    def run(self, budget):
        m, s = self.m, self.m.state
        start = s.icount
        limit = start + budget
        entered = False              # every call makes progress, even with no time left
        while (s.icount < limit and m.stop_reason is None and not m.attention and not m.interrupt_waits()
               and not (entered and m.past_deadline())):
            entered = True
            self.fast_enabled.value = m.trace is None
            if self.cache.dead:
                self._free_dead()                    # no translated code runs here
            s.icount_limit = limit
            cs = s.seg[CS]
            if m.code_hooks or cs.base != 0 or cs.limit != FLAT_LIMIT or not cs.flags & CS_32BIT:
                interp.run(m, limit - s.icount)      # hooks, segmented or 16-bit code: interpreter
                break
            if s.eflags & TF_MASK:                   # single-stepping (a #DB trap after each): interpreted
                interp.run(m, min(limit - s.icount, MAX_INSNS))
                continue
            if s.irq_pending and s.eflags & IF_MASK:
                interp.run(m, 1)                     # only the sti / mov ss shadow holds it: one more
                continue                             # instruction, then the monitor delivers it
            if self.tier2_jobs:
                self._install_tier2()
                if self.tier2_jobs:                  # still compiling: come back soon to install it
                    s.icount_limit = min(limit, s.icount + POLL)
            if m.trace is not None and m.trace.nochain:
                self._trace_next_block()
            cap = s.icount_limit
            self.entries += 1
            code = self.dispatch(self.state_address)
            self.monitor_call.reraise()          # a host error in a handler the block called
            if s.icount_limit < cap:             # a hlt woken in translated code cut the slice at
                limit = min(limit, s.icount_limit)       # the next timer deadline (devicepath)
            s.icount_limit = limit
            self.exits[code] = self.exits.get(code, 0) + 1
            if s.pending_fault:
                s.pending_fault = 0              # the interpreter raises the #PF again...
                self.fast_paths()                # ...and from now on the dispatcher delivers it
            if m.stop_reason is not None or m.attention:
                continue                         # a monitor call stopped the run or raised an IRQ:
                                                 # the miss after it is not to be translated now
            if code == BUDGET and cap == limit and limit - s.icount < MAX_INSNS:
                # The next block is longer than what is left: the interpreter runs the rest
                # (fewer than MAX_INSNS), so the run retires exactly `budget` instructions.
                interp.run(m, limit - s.icount)
                continue
            key = self._current_key() if code == MISS else None
            cold = False
            if key is not None and key not in self.step_sites:
                if self._lookup(key) is not None:
                    continue
                if self.disk is not None and key not in self.warm and self._from_disk(s.eip, key):
                    continue
                cold = self._warming(key)
                if not cold and self.translate(s.eip, key):
                    continue
            if code in (MISS, STEP) and s.icount < limit:
                if not cold:
                    self._count_step(key)
                if code == STEP or cold or self._keeps_changing(key):
                    self._interpret_to_block_end()      # mid-block, not yet hot, or code that keeps changing
                else:
                    interp.run(m, 1)                    # a callout: its successor is translated
        if s.icount - self.tier_scan >= cache_limits.TIER2_THRESHOLD:
            # No block can have become hot in fewer instructions than the threshold: a guest
            # that exits to the monitor every few instructions (a timer interrupt loop) does
            # not pay a scan over every block's counter at each exit.
            self.tier_scan = s.icount
            self.tier_up()
        return s.icount - start

    def _current_key(self):
        """The block key for CS:EIP now, or None if fetching there faults (the interpreter
        then delivers the #PF)."""
        s = self.m.state
        mode = mode_of(s)
        try:
            phys = self.m.mmu.translate(s.eip, FETCH)
        except GuestFault:
            return None
        return block_key(s.eip, phys, mode)

    def fast_paths(self):
        """{name: ctypes function} of the native fast paths, compiled now if not yet
        (about 20 ms, once per machine) and put in their slots."""
        if self.fast is None:
            module = Module("fastpath")
            fastpath.build(module, self.layout)
            devicepath.build(module, self.layout, self.m.slice)
            table = {name: self.machine_symbols[name] for name in module.externals()}
            addresses, _, _ = self.jit.compile(module.text(), [*fastpath.FUNCTIONS, fastpath.HOST], tier=2,
                                               symbols=table, permanent=True)
            self.machine_symbols[symbols.machine(fastpath.HOST)] = addresses.pop(fastpath.HOST)
            self.fast = {}
            for name, address in addresses.items():
                self.fast_slots[name].value = address
                self.fast[name] = fastpath.SIGNATURES[name](address)
            self.monitor_call.slot.value = addresses[devicepath.NAME]
        return self.fast

    def deliver_external(self, vector):
        """An external interrupt through the native fast path; False if it declined (the
        monitor's general path delivers it then)."""
        s = self.m.state
        self.fast_enabled.value = self.m.trace is None
        return self.fast_paths()["fast_deliver"](self.state_address, vector, 0, 0, s.eip, 0) == fastpath.DONE

    def _lookup(self, key):
        """Block `key`, refilled into the jump cache, or None if there is none.  The key
        covers a block's first page only: a crossing block whose next page no longer maps
        the frame it was translated from (or cannot be fetched) is dropped instead."""
        block = self.cache.blocks.get(key)
        if block is not None and block.phys2 is not None and self._frame_or_none(block.eip) != block.phys2:
            self.cache.remapped(block)
            return None
        return self.cache.lookup(key)

    def _next_frame(self, linear):
        """The physical frame an instruction fetch from page-aligned `linear` reads (the
        page a crossing instruction continues in), looked up ahead of the fetch
        (Mmu.lookahead): GuestFault if fetching there faults, MemoryAccessError if the
        frame is not RAM."""
        phys = self.m.mmu.lookahead(linear, FETCH)
        self.m.memory.check(phys, PAGE_SIZE)
        return phys

    def _frame_or_none(self, eip):
        """`_next_frame` of the page after `eip`'s, or None where there is none."""
        try:
            return self._next_frame(((eip | (PAGE_SIZE - 1)) + 1) & 0xFFFFFFFF)
        except (GuestFault, MemoryAccessError):
            return None

    def _count_step(self, key):
        """The monitor runs the instruction at EIP; every STEP_RETRY times at a step site, the
        site and its rewrite count are forgotten, so code that stopped changing is translated
        again (if it changes again, SMC_LIMIT more rewrites bring it back here)."""
        runs = self.step_counts[self.m.state.eip] = self.step_counts.get(self.m.state.eip, 0) + 1
        if key is not None and runs % STEP_RETRY == 0 and key in self.step_sites:
            self.step_sites.discard(key)
            self.cache.invalidations.pop(key & 0xFFFFFFFF, None)

    def _keeps_changing(self, key):
        """Code at block `key` was rewritten SMC_LIMIT times (None: EIP cannot be fetched)."""
        return key is not None and self.cache.invalidations.get(key & 0xFFFFFFFF, 0) >= SMC_LIMIT

    def _trace_next_block(self):
        """-d exec/cpu: log the block about to run and let only it run (a budget of its
        length: budgets are exact, so the next block does not start; QEMU's nochain)."""
        s = self.m.state
        key = self._current_key()
        block = None if key is None else self.cache.blocks.get(key)
        if block is not None:
            s.icount_limit = min(s.icount_limit, s.icount + len(block.insns))
            self.m.trace.executed(self.m, s.eip, self.cache.count(block) + 1)

    def _interpret_to_block_end(self):
        """After a side exit, interpret the rest of the guest block: EIP is mid-block, and a
        translation starting there would be a new block each time (a store loop into a code
        page would translate at every instruction)."""
        s = self.m.state
        interp.run(self.m, min(MAX_INSNS, s.icount_limit - s.icount), to_block_end=True)

    def _warming(self, key):
        """Count a run of the untranslated block `key`; True while it is to be interpreted
        (fewer than Machine.jit_threshold runs so far)."""
        runs = self.warm.get(key, 0) + 1
        if runs >= self.m.jit_threshold:
            self.warm.pop(key, None)
            return False
        self.warm[key] = runs
        return True

    def forget_rewrites(self, addr, length):
        """Code in [addr, addr+length) was replaced by the host (Machine.mem_write): its
        addresses are no longer self-modifying code left to the interpreter (SMC_LIMIT)."""
        end = addr + length
        invalidations = self.cache.invalidations
        for phys in [p for p in invalidations if addr <= p < end]:
            del invalidations[phys]
        self.step_sites = {k for k in self.step_sites if not addr <= k & 0xFFFFFFFF < end}

    # ---- translating -----------------------------------------------------------------------
    def translate(self, eip, key=None):
        """Translate the block at `eip` in the current mode (`key`: its block key, found
        through the MMU if not given) and up to BATCH-1 blocks it reaches directly in the
        same mode (with paging, in the same page: their physical addresses follow from its
        own) that have run (with a threshold of 1: all of them); False if it is empty."""
        mode = mode_of(self.m.state)
        if key is None:
            key = block_key(eip, self.m.mmu.translate(eip, FETCH), mode)
        phys0 = key & 0xFFFFFFFF
        paging = bool(mode & MODE_PAGING)
        todo, planned, seen = [eip], [], set()
        while todo and len(planned) < BATCH and sum(len(p.insns) for p in planned) < BATCH_INSNS:
            addr = todo.pop()
            if paging and addr >> PAGE_SHIFT != eip >> PAGE_SHIFT:
                continue
            phys = phys0 + addr - eip if paging else addr
            k = block_key(addr, phys, mode)
            if k in self.cache.blocks or k in self.step_sites or k in seen or (k != key and not self._ran(k)):
                continue
            seen.add(k)
            plan = self._plan(addr, phys, paging)
            if plan is None:
                continue                 # a breakpoint: the interpreter stops there (interp.run)
            if not plan.insns or self.cache.invalidations.get(phys, 0) >= SMC_LIMIT:
                # Nothing translatable, or code rewritten again and again (self-modifying
                # loops): retranslating costs milliseconds, interpreting microseconds.
                self.step_sites.add(k)
                continue
            planned.append(plan)
            todo.extend(static_successors(plan.insns, plan.fallthrough))
        if not planned:
            return False
        return self._install(planned[:self.cache.limit], mode, key)

    def _from_disk(self, eip, key):
        """At a block's first miss: if a former run stored a batch holding it (the persistent
        cache's per-block index, by where the block starts and its first bytes), check the
        batch's guest bytes against its key and link its code now, instead of warming the
        block up in the interpreter.  Nothing is decoded (Capstone was a fifth of a warm
        boot): the blocks' instructions are decoded if ever asked for (blocks.Decoded).
        False if there is none, or guest code no longer matches it."""
        mode, phys = mode_of(self.m.state), key & 0xFFFFFFFF
        paging, tier = bool(mode & MODE_PAGING), self.m.jit_tier
        entry = self.disk.index(self._index_key(eip, phys, mode, tier))
        if not entry:
            return False
        batch_key, layout = entry
        planned = [self._stored_plan(addr, phys + addr - eip if paging else addr, length, paging)
                   for addr, length in layout]
        if (None in planned
                or any(block_key(plan.eip, plan.phys, mode) in self.cache.blocks for plan in planned)
                or self.disk.key(self._batch_material(planned, mode, tier)) != batch_key):
            return False
        return self._install(planned, mode, key, batch_key)

    def _stored_plan(self, addr, phys, length, paging):
        """The Plan of a block the persistent cache says is `length` bytes at `addr`, its
        instructions decoded only when asked for; None if those bytes are not all RAM here,
        hold a breakpoint, or (paging) it crosses into a page that cannot be fetched."""
        end, memory, breakpoints = addr + length, self.m.memory, self.m.breakpoints
        if not (0 < length and 0 <= phys < memory.size) or breakpoints and any(addr <= b < end for b in breakpoints):
            return None
        phys2 = None
        if paging and (addr & (PAGE_SIZE - 1)) + length > PAGE_SIZE:
            phys2 = self._frame_or_none(addr)
            if phys2 is None:
                return None
        next_frame = (lambda linear: phys2) if paging else None
        insns = Decoded(lambda: form_block(self.m.decoder, addr, phys, self.m.breakpoints, next_frame).insns)
        plan = Plan(addr, phys, insns, end & 0xFFFFFFFF, phys2)
        if any(start + size > memory.size for start, size in byte_runs(plan)):
            return None
        return plan

    def _index_key(self, eip, phys, mode, tier):
        """The persistent cache's index key of the block at `eip`: the mode, tier, EIP and
        first INDEX_BYTES guest bytes (fewer at the end of a page or of RAM); the batch's
        key then checks all of its bytes."""
        count = min(INDEX_BYTES, PAGE_SIZE - (eip & (PAGE_SIZE - 1)), self.m.memory.size - phys)
        return self.disk.key(struct.pack("<BBI", tier, mode, eip) + self.m.memory.read(phys, count))

    def _plan(self, addr, phys, paging):
        """The Plan of the block at `addr` (vmm.translator.blocks; insns empty when nothing
        there is translatable), or None outside RAM or at a breakpoint."""
        if not 0 <= phys < self.m.memory.size or addr in self.m.breakpoints:
            return None
        return form_block(self.m.decoder, addr, phys, self.m.breakpoints, self._next_frame if paging else None)

    def _install(self, planned, mode, key, batch_key=None):
        """Compile (or load) the planned blocks and put them in the cache; True if block
        `key` is now translated.  `batch_key`: their persistent-cache key, if known."""
        self._free_dead()
        if self.cache.held + len(planned) > self.cache.limit:
            self.evict_all()
        if self.m.jit_tier == 2:
            self.drain()                 # tier 2 here, on this thread: the worker must be idle
        if self.m.trace is not None:
            for plan in planned:
                self.m.trace.translated(plan.eip, plan.insns)
        unit, blocks = self._compile(planned, mode, self.m.jit_tier, batch_key)
        self.cache.install(unit, blocks)
        return key in self.cache.blocks

    def _ran(self, key):
        """True if block `key` has run in the interpreter (then it is translated with the
        block that reached the threshold, and its count goes); with a threshold of 1, every
        block is taken as run, so a batch holds what the block reaches (translated ahead)."""
        return self.m.jit_threshold == 1 or self.warm.pop(key, 0) > 0

    def evict_all(self):
        """The cache is full: drop every block and free all block code (QEMU's tb_flush),
        with a fresh linker (vmm.translator.jit.reset).  Tier-2 jobs finish first: their
        code must be freed with the rest."""
        self.drain()
        self.cache.flush()
        self._free_dead()
        self.jit.reset()
        self.evictions += 1

    def _free_dead(self):
        """Free the code no live block runs (only where no translated code is running)."""
        for unit in self.cache.take_dead():
            self.jit.free(unit.library)

    @staticmethod
    def chain_symbols(k, block_eip, mode):
        """`chain_slot(target)` for the module's `k`-th block: the symbol of the slot of the
        block a direct jump reaches.  With paging only targets in the block's own page are
        chained, since only their physical address is known statically (QEMU's rule);
        others go through the jump cache, which is flushed when mappings change."""
        def chain_slot(target):
            if mode & MODE_PAGING and target >> PAGE_SHIFT != block_eip >> PAGE_SHIFT:
                return None
            return symbols.chain(k, target)
        return chain_slot

    def _symbols(self, names, blocks):
        """{symbol: host address} for a module whose k-th function is block `blocks[k]`
        (vmm.translator.symbols; chain slots are allocated here)."""
        table = {}
        for name in names:
            kind, *args = symbols.parse(name)
            if kind == "counter":
                table[name] = self.cache.counter_address(blocks[args[0]].index)
            elif kind == "chain":
                block, target = blocks[args[0]], args[1]
                phys = block.phys + target - block.eip if block.mode & MODE_PAGING else target
                table[name] = self.cache.chain_slot_address(block_key(target, phys, block.mode))
            elif kind == "native":
                table[name] = native_helpers.address(args[0])
            else:
                if name in self.fast_symbols:
                    self.fast_paths()            # the block calls them: they must exist
                table[name] = self.machine_symbols[name]
        return table

    def emit_block(self, module, name, insns, fallthrough, k, chain_slot, tier, mode=0):
        """Lower one block's instructions into `module` as function `name`; return its builder.
        Tier 0 stores register writes at once (less IR, faster to compile); tier 2 keeps them
        in SSA until the block's exits (faster code)."""
        loop = None
        if tier == 2 and insns[0].address in static_successors(insns, fallthrough):
            loop = plan_loop(self.layout, insns, mode)
            self.loop_blocks += 1
        fb = LLVMBuilder(module, name, self.layout, symbols.counter(k), eager=tier == 0,
                         loop=loop, mode=mode, length=len(insns))
        for insn in insns:
            fb.emit(insn)
        # Tier 0 leaves through the dispatcher: LLVM's fast instruction selection cannot do
        # the musttail calls of chaining and would select the whole function the slow way.
        fb.finish(fallthrough, chain_slot if tier == 2 else None, own_address=insns[0].address)
        return fb

    def _new_module(self):
        self.module_count += 1
        return Module(f"tc{self.module_count}")

    def _account(self, tier, blocks, start):
        self.translation[tier]["blocks"] += blocks
        self.translation[tier]["seconds"] += time.perf_counter() - start

    def _compile(self, planned, mode, tier, key=None):
        """Compiled code for the planned blocks, or their code from the persistent cache
        (under `key`, or the key of their bytes): (CodeUnit, [Block]) ready to install."""
        start = time.perf_counter()
        blocks = [Block(plan.phys, plan.insns, plan.fallthrough, self.cache.new_index(), None, tier=tier,
                        eip=plan.eip, mode=mode, phys2=plan.phys2) for plan in planned]
        if key is None and self.disk is not None:
            key = self.disk.key(self._batch_material(planned, mode, tier))
        linked = self._load(key, blocks) if key is not None else None
        if linked is None:
            module = self._new_module()
            names = [f"b_{block.eip:08x}_{self.module_count}" for block in blocks]
            for k, (block, name) in enumerate(zip(blocks, names)):
                self.emit_block(module, name, block.insns, block.fallthrough, k,
                                self.chain_symbols(k, block.eip, mode), tier, mode)
            obj = self.jit.emit(module.text(), tier)
            self.jit.stats[tier]["functions"] += len(names)
            externals = module.externals()
            if key is not None:
                self.disk.put(key, {"names": names, "symbols": externals}, obj)
                layout = [(plan.eip, plan.fallthrough - plan.eip & 0xFFFFFFFF) for plan in planned]
                for plan in planned:            # the index a later run's first miss looks in
                    self.disk.put_index(self._index_key(plan.eip, plan.phys, mode, tier), key, layout)
            linked = names, self.jit.link(obj, names, self._symbols(externals, blocks))
        else:
            self.translation[tier]["loaded"] += len(blocks)
        names, (addresses, library) = linked
        for block, name in zip(blocks, names):
            block.fn_name, block.fn_address = name, addresses[name]
        self._account(tier, len(blocks), start)
        return CodeUnit(library, len(blocks)), blocks

    def _batch_material(self, planned, mode, tier):
        """What a batch's code depends on besides `salt`: tier, mode, and each planned
        block's EIP and guest bytes, from both pages for a crossing block (its physical
        addresses are not in the code)."""
        parts = [struct.pack("<BH", tier, mode)]
        for plan in planned:
            runs = byte_runs(plan)
            parts.append(struct.pack("<II", plan.eip, sum(length for _, length in runs)))
            parts.extend(self.m.memory.read(phys, length) for phys, length in runs)
        return b"".join(parts)

    def _load(self, key, blocks):
        """(names, (addresses, library)) of the batch's code linked from the persistent cache,
        or None on a miss or an entry that does not fit (then it is compiled and replaced)."""
        entry = self.disk.get(key)
        if entry is None:
            return None
        meta, obj = entry
        try:
            names = meta["names"]
            if len(names) != len(blocks):
                raise ValueError("batch size")
            return names, self.jit.link(obj, names, self._symbols(meta["symbols"], blocks))
        except (KeyError, IndexError, TypeError, ValueError, RuntimeError):
            self.disk.forget(key)
            return None

    def tier_up(self):
        """Recompile blocks that ran TIER2_THRESHOLD times at tier 0 with the optimisation pipeline, as one
        batch: the IR is written here, LLVM runs on the background thread, and the code is
        installed by a later `_install_tier2` (the guest runs the tier-0 code meanwhile)."""
        hot = self.cache.take_hot(cache_limits.TIER2_THRESHOLD)
        # The flags helper goes to tier 2 with the first hot blocks, or at once when blocks
        # start at tier 2 (jit_tier=2): a loop of inc or adc calls it on every pass.
        if self.cc_flags_text is not None and (hot or self.m.jit_tier == 2):
            self.tier2_jobs.append((background.submit(self.jit, self.cc_flags_text, ["cc_flags"], {}, permanent=True),
                                    lambda addresses, _: setattr(self.cc_flags_slot, "value", addresses["cc_flags"])))
            self.cc_flags_text = None
        for first in range(0, len(hot), TIER2_BATCH):
            self._submit_tier2(hot[first:first + TIER2_BATCH])

    def _submit_tier2(self, hot):
        start = time.perf_counter()
        module = self._new_module()
        names = [f"{block.fn_name}_o2" for block in hot]
        for k, (block, name) in enumerate(zip(hot, names)):
            self.emit_block(module, name, block.insns, block.fallthrough, k,
                            self.chain_symbols(k, block.eip, block.mode), 2, block.mode)
        table = self._symbols(module.externals(), hot)
        self.tier2_jobs.append((background.submit(self.jit, module.text(), names, table),
                                lambda addresses, library: self._replace(hot, names, addresses, library)))
        self._account(2, len(hot), start)

    def _replace(self, blocks, names, addresses, library):
        """Tier-2 code in place of tier-0 blocks (a block invalidated or flushed while it
        compiled stays out: TranslationCache.replace publishes only blocks it holds)."""
        unit = CodeUnit(library, len(blocks))
        self.cache.add(unit)
        for block, name in zip(blocks, names):
            self.cache.replace(block, addresses[name], 2, unit)
        self.cache.settle(unit)

    def _install_tier2(self, wait=False):
        """Put finished tier-2 code in place (all of it, waiting, if `wait`)."""
        pending = []
        for job, install in self.tier2_jobs:
            if not (wait or job.done()):
                pending.append((job, install))
                continue
            addresses, library, seconds = job.result()
            self.translation[2]["background_seconds"] += seconds
            install(addresses, library)
        self.tier2_jobs = pending

    def drain(self):
        """Wait for the background compiles and install their code (tests, the inspector)."""
        self._install_tier2(wait=True)

    # ---- figures ---------------------------------------------------------------------------
    def progress(self):
        """The running totals `vmm run` reports: blocks compiled (tier 0 and tier-2 recompiles;
        the LLVM time of the background ones is not on the guest's thread and not counted),
        blocks linked from the persistent cache, seconds translating, returns to Python."""
        t = self.translation
        loaded = t[0]["loaded"] + t[2]["loaded"]
        return {"compiled": t[0]["blocks"] + t[2]["blocks"] - loaded, "loaded": loaded,
                "compile_seconds": t[0]["seconds"] + t[2]["seconds"], "exits": self.entries}

    def stats(self):
        compiled = {tier: dict(v) for tier, v in self.jit.stats.items()}
        executed = sum(self.cache.count(b) for b in self.cache.blocks.values())
        return {
            "blocks": len(self.cache.blocks),
            "translated": self.cache.stats.translated,
            "invalidated": self.cache.stats.invalidated,
            "compile": compiled,                                  # the LLVM part only
            "translation": {tier: dict(v) for tier, v in self.translation.items()},
            "dispatcher_entries": self.entries,
            "exits": dict(self.exits),
            "block_executions": executed,
            "step_sites": len(self.step_sites),
            "page_walks": self.m.mmu.walks + self.m.mmu.tlb.log.walks,    # TLB misses filled by a walk
            "jump_cache_flushes": self.cache.stats.jump_cache_flushes,   # mappings changed
            "loop_blocks": self.loop_blocks,
            "held_blocks": self.cache.held,                      # blocks whose code is loaded
            "libraries": self.jit.loaded(),                      # block libraries loaded
            "link": dict(self.jit.link_stats),
            "evictions": self.evictions,
            "monitor_calls": {"done": self.monitor_call.done, "declined": self.monitor_call.declined},
            "fast_paths": dict(zip(fastpath.COUNTS, self.fast_counts)),        # uses, natively
            "disk": dict(self.disk.stats) if self.disk is not None else None,
        }


def static_successors(insns, fallthrough):
    """Addresses a block can reach that are known now: fallthrough (a call's return address
    too) and direct jump, call and loop targets (the inspector shows these).  A block ending
    in hlt (a monitor call) has none: the CPU goes on in an interrupt handler, and the bytes
    after a guest's final hlt are often no code at all (translating them ahead, at a jit
    threshold of 1, compiled runs of `add [eax], al` from zeroed memory)."""
    last = insns[-1]
    if last.spec.name == "hlt":
        return []
    out = [fallthrough]
    if last.ops and last.ops[0].kind == "imm" and last.spec.name.startswith(("j", "call", "loop")):
        out.append(last.ops[0].value & 0xFFFFFFFF)
    if last.spec.name == "jmp" and last.ops and last.ops[0].kind == "imm":
        out.remove(fallthrough)
    return out


def run(m, budget):
    """Engine entry point: run up to `budget` guest instructions translated."""
    if m.translator is None:
        m.translator = Translator(m)
    return m.translator.run(budget)
