"""LLVM IR written as text, directly: a small builder that is several times cheaper than
llvmlite's IR object model, which dominated translation time.

Values are `Value(ref, ty)`; constants carry their Python value in `.const`, and
operations on constants are folded here, so the IR LLVM parses is already smaller.
A `Function` is a list of lines grouped in labelled blocks; a `Module` joins functions and
declarations into the text that llvmlite's `parse_assembly` reads.

Example:
    mod = Module("tc1"); fn = mod.function("f", "i32", ["ptr noalias %s"])
    b = TextArith(fn, mod); b.ret(b.add(b.const(1, 32), b.const(2, 32), 32))   # ret i32 3
"""

_MASK = {w: (1 << w) - 1 for w in (1, 8, 16, 32, 64, 128)}
COMPARE_CHAIN_MAX = 4      # a switch with at most this many cases is written as compares
_ICMP = {"==": "eq", "!=": "ne", "<": "ult", "<=": "ule", ">=": "uge", ">": "ugt"}


class Value:
    __slots__ = ("ref", "ty", "const", "arms")

    def __init__(self, ref, ty, const=None, arms=None):
        self.ref, self.ty, self.const, self.arms = ref, ty, const, arms

    def __str__(self):
        return f"{self.ty} {self.ref}"


def _signed(x, w):
    return x - (1 << w) if x >> (w - 1) else x


class Function:
    def __init__(self, name, ret, params, attrs=""):
        self.name, self.ret, self.params, self.attrs = name, ret, params, attrs
        self.lines = []
        self.next_id = 0
        self.labels = 0
        self.linkage = ""         # e.g. "internal "
        self.cc = ""              # a calling convention other than C's, e.g. "preserve_mostcc"

    def fresh(self, prefix="v"):
        self.next_id += 1
        return f"%{prefix}{self.next_id}"

    def label(self, hint="L"):
        self.labels += 1
        return f"{hint}{self.labels}"

    def text(self):
        cc = f"{self.cc} " if self.cc else ""
        head = f"define {self.linkage}{cc}{self.ret} @{self.name}({', '.join(self.params)}) {self.attrs}{{"
        return "\n".join([head, *self.lines, "}"])


class Module:
    def __init__(self, name):
        self.name = name
        self.functions = []
        self.declarations = {}

    def function(self, name, ret, params, attrs=""):
        fn = Function(name, ret, params, attrs)
        self.functions.append(fn)
        return fn

    def declare(self, name, signature):
        self.declarations[name] = f"declare {signature}"

    def external(self, name):
        """Declare `@name`, a host address the JIT links in (vmm.translator.symbols)."""
        self.declarations[name] = f"@{name} = external global [0 x i8]"

    def externals(self):
        """The names declared with `external`, in declaration order."""
        return [name for name, line in self.declarations.items() if line.startswith("@")]

    def text(self):
        return "\n\n".join([f"; ModuleID = '{self.name}'", *self.declarations.values(),
                            *(fn.text() for fn in self.functions)]) + "\n"


class TextArith:
    """The abstract builder's arithmetic primitives (vmm.x86.builder), emitting IR text."""

    def __init__(self, fn, module):
        self.fn = fn
        self.module = module
        self.terminated = False
        self.current = None       # label of the basic block being written

    # ---- plumbing ----------------------------------------------------------------------
    def instr(self, text, ty, prefix="v"):
        ref = self.fn.fresh(prefix)
        self.fn.lines.append(f"  {ref} = {text}")
        return Value(ref, ty)

    def line(self, text):
        self.fn.lines.append(f"  {text}")

    def start(self, label):
        """Begin basic block `label` (the previous one must be terminated)."""
        self.fn.lines.append(f"{label}:")
        self.current = label
        self.terminated = False

    def terminate(self, text):
        self.line(text)
        self.terminated = True

    def br(self, label):
        self.terminate(f"br label %{label}")

    def cbranch(self, cond, true_label, false_label):
        if cond.const is not None:
            self.br(true_label if cond.const else false_label)
        else:
            self.terminate(f"br i1 {cond.ref}, label %{true_label}, label %{false_label}")

    def ret(self, value):
        self.terminate(f"ret {value}")

    def switch(self, value, default, cases):
        """Branch to the label of the case equal to `value`, else to `default`.  A few cases
        become a chain of compares: LLVM's fast instruction selection (tier 0) has no
        `switch` and would select the whole function the slow way."""
        if len(cases) > COMPARE_CHAIN_MAX:
            body = " ".join(f"{value.ty} {c}, label %{label}" for c, label in cases)
            self.terminate(f"switch {value}, label %{default} [ {body} ]")
            return
        w = int(value.ty[1:])
        for c, label in cases[:-1]:
            go_on = self.fn.label("case")
            self.cbranch(self.eq(value, self.const(c, w), w), label, go_on)
            self.start(go_on)
        c, label = cases[-1]
        self.cbranch(self.eq(value, self.const(c, w), w), label, default)

    def load_ptr(self, ty, ptr, align=None):
        return self.instr(f"load {ty}, ptr {ptr.ref}" + (f", align {align}" if align else ""), ty)

    def store_ptr(self, value, ptr, align=None):
        self.line(f"store {value}, ptr {ptr.ref}" + (f", align {align}" if align else ""))

    def phi(self, ty, incoming):
        """A phi of (Value, predecessor label) pairs."""
        arms = ", ".join(f"[ {value.ref}, %{label} ]" for value, label in incoming)
        return self.instr(f"phi {ty} {arms}", ty)

    def inttoptr(self, value):
        if value.const is not None:
            return Value(f"inttoptr (i64 {value.const} to ptr)", "ptr")
        return self.instr(f"inttoptr {value} to ptr", "ptr", "p")

    def gep(self, base, offset):
        return self.instr(f"getelementptr i8, ptr {base.ref}, i64 {offset}", "ptr", "p")

    def symbol(self, name):
        """The host address `@name` as a pointer (declared in the module, linked at load)."""
        self.module.external(name)
        return Value(f"@{name}", "ptr")

    def symbol_int(self, name):
        """The host address `@name` as an i64, for address arithmetic."""
        self.module.external(name)
        return Value(f"ptrtoint (ptr @{name} to i64)", "i64")

    def call(self, callee, ret, args, tail="", attrs="", cc=""):
        call = f"{tail + ' ' if tail else ''}call {cc + ' ' if cc else ''}{ret} {callee}({', '.join(map(str, args))}){attrs}"
        return self.instr(call, ret)

    # ---- arithmetic --------------------------------------------------------------------
    def const(self, v, w):
        v &= _MASK[w]
        return Value(str(v), f"i{w}", v)

    def _binary(self, op, x, y, w, fold):
        if x.const is not None and y.const is not None and fold is not None:
            return self.const(fold(x.const, y.const), w)
        return self.instr(f"{op} i{w} {x.ref}, {y.ref}", f"i{w}")

    def add(self, x, y, w):
        if y.const == 0:
            return x
        return self._binary("add", x, y, w, lambda a, b: a + b)

    def sub(self, x, y, w):
        if y.const == 0:
            return x
        return self._binary("sub", x, y, w, lambda a, b: a - b)

    def mul(self, x, y, w):
        return self._binary("mul", x, y, w, lambda a, b: a * b)

    def and_(self, x, y, w):
        return self._binary("and", x, y, w, lambda a, b: a & b)

    def or_(self, x, y, w):
        if y.const == 0:
            return x
        return self._binary("or", x, y, w, lambda a, b: a | b)

    def xor(self, x, y, w):
        return self._binary("xor", x, y, w, lambda a, b: a ^ b)

    def not_(self, x, w):
        return self.xor(x, self.const(-1, w), w)

    def neg(self, x, w):
        return self.sub(self.const(0, w), x, w)

    def shl(self, x, n, w):
        if n.const == 0:
            return x
        return self._binary("shl", x, n, w, lambda a, b: a << b)

    def lshr(self, x, n, w):
        if n.const == 0:
            return x
        return self._binary("lshr", x, n, w, lambda a, b: a >> b)

    def ashr(self, x, n, w):
        return self._binary("ashr", x, n, w, lambda a, b: _signed(a, w) >> b)

    def udiv(self, x, y, w):
        return self._binary("udiv", x, y, w, None)

    def urem(self, x, y, w):
        return self._binary("urem", x, y, w, None)

    def sdiv(self, x, y, w):
        return self._binary("sdiv", x, y, w, None)

    def srem(self, x, y, w):
        return self._binary("srem", x, y, w, None)

    def _cast(self, op, x, wf, wt, fold):
        if wf == wt:
            return x
        if x.const is not None:
            return self.const(fold(x.const), wt)
        return self.instr(f"{op} {x} to i{wt}", f"i{wt}")

    def zext(self, x, wf, wt):
        return self._cast("zext", x, wf, wt, lambda a: a)

    def sext(self, x, wf, wt):
        return self._cast("sext", x, wf, wt, lambda a: _signed(a, wf))

    def trunc(self, x, wf, wt):
        return self._cast("trunc", x, wf, wt, lambda a: a)

    def _icmp(self, pred, x, y, w, fold):
        if x.const is not None and y.const is not None:
            return self.const(int(fold(x.const, y.const)), 1)
        return self.instr(f"icmp {pred} i{w} {x.ref}, {y.ref}", "i1")

    def eq(self, x, y, w):
        return self._icmp("eq", x, y, w, lambda a, b: a == b)

    def ne(self, x, y, w):
        return self._icmp("ne", x, y, w, lambda a, b: a != b)

    def ult(self, x, y, w):
        return self._icmp("ult", x, y, w, lambda a, b: a < b)

    def ule(self, x, y, w):
        return self._icmp("ule", x, y, w, lambda a, b: a <= b)

    def slt(self, x, y, w):
        return self._icmp("slt", x, y, w, lambda a, b: _signed(a, w) < _signed(b, w))

    def sle(self, x, y, w):
        return self._icmp("sle", x, y, w, lambda a, b: _signed(a, w) <= _signed(b, w))

    def select(self, c, x, y, w):
        if c.const is not None:
            return x if c.const else y
        value = self.instr(f"select i1 {c.ref}, {x}, {y}", f"i{w}")
        if x.const is not None and y.const is not None:
            value.arms = (x.const, y.const)          # a jcc's two targets, for chaining
        return value

    def _intrinsic(self, name, x, w, extra=""):
        full = f"llvm.{name}.i{w}"
        params = f"i{w}" + (", i1" if extra else "")
        self.module.declare(full, f"i{w} @{full}({params})")
        return self.instr(f"call i{w} @{full}({x}{extra})", f"i{w}")

    def ctpop(self, x, w):
        if x.const is not None:
            return self.const(x.const.bit_count(), w)
        return self._intrinsic("ctpop", x, w)

    def ctz(self, x, w):
        return self._intrinsic("cttz", x, w, ", i1 0")

    def clz(self, x, w):
        return self._intrinsic("ctlz", x, w, ", i1 0")

    def bswap(self, x, w):
        return self._intrinsic("bswap", x, w)
