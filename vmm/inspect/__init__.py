"""The instruction-rewrite inspector: what the translator did with each guest block.

Example:
    from vmm.inspect import inspect_machine
    views = inspect_machine(machine)          # after machine.run() on the jit engine
    views[0].insns[0].cls, views[0].ir_after, views[0].host
"""

from .model import BlockView, InsnView, InspectReport, inspect_machine, inspect_image

__all__ = ["BlockView", "InsnView", "InspectReport", "inspect_machine", "inspect_image"]
