"""Host addresses in translated code, by name, so compiled blocks are relocatable.

Translated code holds no host address as a constant: it references an external symbol, and
the JIT links each compiled module with this process's and this machine's addresses (ORC
imports one set of symbols per library, vmm.translator.jit).  So the same object code runs
in another process, and is what the persistent translation cache (vmm.cache.disk) stores.

    vmm.ram  vmm.code_map  vmm.tlb0-3  vmm.cc_flags_slot  vmm.tlb_fill_slot
    vmm.fast_<path>_slot  vmm.fast_enabled  vmm.fast_counts  vmm.fast_host
                          per machine (MemoryLayout.symbols; the native fast paths,
                          vmm.translator.fastpath)
    vmm.monitor_call_slot per machine: the monitor's callback for port I/O, hlt, invlpg
                          (vmm.translator.monitorcall)
    vmm.counter.K         the execution counter of the module's K-th block
    vmm.chain.K.TARGET    the chain slot block K jumps through to reach TARGET (hex EIP)
    vmm.native.NAME       a native x87 helper (vmm.x86.fpu.native), compiled once per process

Example:
    counter(3)                        # "vmm.counter.3"
    parse("vmm.chain.0.100a")         # ("chain", 0, 0x100a)
"""

PREFIX = "vmm."
HOST_HELPER = "fast_host"      # vmm.fast_host: guest linear -> host address (vmm.translator.fastpath)


def machine(name):
    return f"{PREFIX}{name}"


def counter(k):
    return f"{PREFIX}counter.{k}"


def chain(k, target):
    return f"{PREFIX}chain.{k}.{target:x}"


def native(name):
    return f"{PREFIX}native.{name}"


def parse(name):
    """("counter", K) | ("chain", K, target) | ("native", NAME) | ("machine", NAME)."""
    kind, _, rest = name[len(PREFIX):].partition(".")
    if kind == "counter":
        return kind, int(rest)
    if kind == "chain":
        k, target = rest.split(".")
        return kind, int(k), int(target, 16)
    if kind == "native":
        return kind, rest
    return "machine", name
