"""The JIT: LLVM compiles batches of block functions to object code, in two tiers, and ORC
(llvmlite's LLJIT) links each object as a library of its own, which can be freed.

Tier 0 compiles a batch straight to machine code (no IR passes, fast instruction
selection): cheap, for code seen once.  Tier 2 runs a short optimisation pipeline
(PIPELINE) and codegen at -O2: for blocks that turned out hot.  Either way the result is an
object file (`emit`), relocatable: translated code reaches host addresses through external
symbols (vmm.translator.symbols) that `link` resolves for this library alone, so objects
can be cached on disk and linked again in another process (vmm.cache.disk).

Why ORC rather than MCJIT: MCJIT frees code only with its whole engine, ORC per library
(`free`), so code of blocks evicted or invalidated goes as soon as no live block is in its
library.  ORC keeps a little bookkeeping (about 8 KiB) per library it ever linked even
after it is freed; `reset` (at a full flush of the translation cache) starts a fresh
linker with none.  Code that lives as long as the machine (the dispatcher, the flags
helper) is linked `permanent` into a second linker that is never reset.

Every compile is timed; `stats` holds modules, functions and seconds per tier, and the
libraries linked and seconds spent linking.

Example:
    jit = Jit()
    addresses, library, obj = jit.compile(text, ["b_1000"], tier=0, symbols={"vmm.ram": base})
    jit.free(library)           # once no block runs its code
"""

import itertools
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


def _dispose(linkers, context):
    """Free every library, then the linkers, then the tier-2 context (in that order: the
    garbage collector would free them in any)."""
    for linker in linkers:
        linker.close()
    context.close()


class _Linker:
    """One LLJIT and the libraries linked into it that are still loaded."""

    def __init__(self, machine):
        self.lljit = llvm.create_lljit_compiler(machine)
        self.libraries = {}         # name -> ResourceTracker

    def close(self):
        for tracker in self.libraries.values():
            tracker.close()
        self.libraries.clear()
        self.lljit.close()


class Jit:
    def __init__(self):
        _initialize()
        target = llvm.Target.from_default_triple()
        self.machines = {tier: target.create_target_machine(opt=tier, codemodel="jitdefault")
                         for tier in (0, 2)}
        # Tier 2 has an LLVM context of its own: it compiles on the background thread
        # (vmm.translator.background) while tier 0 compiles on the monitor's.
        self.contexts = {0: llvm.get_global_context(), 2: llvm.create_context()}
        self.linkers = {True: _Linker(self.machines[0]), False: _Linker(self.machines[0])}
        self.names = itertools.count()          # library names are never reused
        self.stats = {tier: {"modules": 0, "functions": 0, "seconds": 0.0} for tier in (0, 2)}
        self.link_stats = {"libraries": 0, "seconds": 0.0, "freed": 0, "resets": 0}
        # The finalizer owns the linkers (a reset replaces the block linker in that list too).
        self._owned = list(self.linkers.values())
        weakref.finalize(self, _dispose, self._owned, self.contexts[2])

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

    def emit(self, module_text, tier=0):
        """Object code (bytes) of a module given as LLVM IR text."""
        start = time.perf_counter()
        llmod = llvm.parse_assembly(module_text, context=self.contexts[tier])
        llmod.verify()
        if tier == 2:
            self.optimize(llmod)
        obj = self.machines[tier].emit_object(llmod)
        llmod.close()
        stat = self.stats[tier]
        stat["modules"] += 1
        stat["seconds"] += time.perf_counter() - start
        return obj

    def link(self, obj, names, symbols, permanent=False):
        """Load object code as a new library, its external symbols resolved from `symbols`
        ({name: host address}); return ({function name: host address}, library)."""
        start = time.perf_counter()
        builder = llvm.JITLibraryBuilder().add_object_img(obj)
        for name, address in symbols.items():
            builder.import_symbol(name, address)
        for name in names:
            builder.export_symbol(name)
        library = f"lib{next(self.names)}"
        linker = self.linkers[permanent]
        tracker = builder.link(linker.lljit, library)
        linker.libraries[library] = tracker
        self.link_stats["libraries"] += 1
        self.link_stats["seconds"] += time.perf_counter() - start
        return {name: tracker[name] for name in names}, library

    def compile(self, module_text, names, tier=0, symbols=None, permanent=False):
        """`emit` then `link`: ({name: host address}, library, object code)."""
        obj = self.emit(module_text, tier)
        self.stats[tier]["functions"] += len(names)
        addresses, library = self.link(obj, names, symbols or {}, permanent)
        return addresses, library, obj

    def free(self, library):
        """Unload a library's code: nothing may call it or point at it any more."""
        self.linkers[False].libraries.pop(library).close()
        self.link_stats["freed"] += 1

    def loaded(self):
        """Block libraries loaded now."""
        return len(self.linkers[False].libraries)

    def reset(self):
        """A fresh block linker (every block library must have been freed)."""
        old = self.linkers[False]
        assert not old.libraries, "reset with block code still loaded"
        self.linkers[False] = _Linker(self.machines[0])
        self._owned[self._owned.index(old)] = self.linkers[False]
        old.close()
        self.link_stats["resets"] += 1
