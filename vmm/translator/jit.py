"""The JIT: llvmlite MCJIT compiling batches of block functions, in two tiers.

Tier 0 compiles a batch straight to machine code (no IR passes, fast
instruction selection): cheap, for code seen once.  Tier 2 runs a short optimisation
pipeline (PIPELINE) and codegen at -O2: for blocks that turned out hot.  Every compile
is timed; `stats` holds blocks and seconds per tier.

Example:
    jit = Jit()
    addresses = jit.compile(module, ["b_1000", "b_1010"], tier=0)
"""

import time
import weakref

import llvmlite.binding as llvm

_initialized = False
PIPELINE = ("sroa", "instruction_combine", "simplify_cfg", "tail_call_elimination", "new_gvn",
            "dead_store_elimination", "instruction_combine", "simplify_cfg")


def _initialize():
    global _initialized
    if not _initialized:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _initialized = True


def _dispose(engines, context):
    for engine in engines:
        engine.close()
    context.close()


class Jit:
    def __init__(self):
        _initialize()
        target = llvm.Target.from_default_triple()
        self.machines = {tier: target.create_target_machine(opt=tier, codemodel="jitdefault")
                         for tier in (0, 2)}
        # Tier 2 has an LLVM context of its own: it compiles on the background thread
        # (vmm.translator.background) while tier 0 compiles on the monitor's.
        self.contexts = {0: llvm.get_global_context(), 2: llvm.create_context()}
        self.engines = {tier: llvm.create_mcjit_compiler(llvm.parse_assembly("", context=self.contexts[tier]), tm)
                        for tier, tm in self.machines.items()}
        self.stats = {tier: {"modules": 0, "functions": 0, "seconds": 0.0} for tier in (0, 2)}
        # Engines (with their modules and code) must go before the context they were parsed
        # in; the garbage collector would free them in any order, so the finalizer owns them.
        weakref.finalize(self, _dispose, list(self.engines.values()), self.contexts[2])

    def optimize(self, llmod):
        """A short pipeline aimed at block functions (they have no loops but self-loops and no
        calls worth inlining).  LLVM's whole -O2 module pipeline made tier-2 translation about
        30% slower per block for no faster guest code on the benchmark guest."""
        pto = llvm.create_pipeline_tuning_options(speed_level=2)
        pb = llvm.create_pass_builder(self.machines[2], pto)
        mpm = llvm.create_new_module_pass_manager()
        for add in PIPELINE:
            getattr(mpm, f"add_{add}_pass")()
        mpm.run(llmod, pb)

    def compile(self, module_text, names, tier=0):
        """Compile a module given as LLVM IR text; return ({name: host address}, module)."""
        start = time.perf_counter()
        llmod = llvm.parse_assembly(module_text, context=self.contexts[tier])
        llmod.verify()
        if tier == 2:
            self.optimize(llmod)
        engine = self.engines[tier]
        engine.add_module(llmod)
        engine.finalize_object()
        addresses = {name: engine.get_function_address(name) for name in names}
        stat = self.stats[tier]
        stat["modules"] += 1
        stat["functions"] += len(names)
        stat["seconds"] += time.perf_counter() - start
        return addresses, llmod
