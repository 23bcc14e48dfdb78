"""The SSA intermediate representation every gradc stage reads and writes.

A `Program` has inputs v_{-p}..v_0 (one per source argument, the first argument
being v_0 as in the lecture notes), operations v_1..v_m in topological order, and
outputs. Values are immutable and compared by identity; their names are hints
for printing only. Primitives live in `gradc.primitives`; this module knows
them only through the registry.
"""
from __future__ import annotations

import contextvars
import itertools
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from .errors import CompileError, DataDependentControlFlow, ShapeError, SourceLoc

_ids = itertools.count()


@dataclass(frozen=True)
class Aval:
    """Abstract value: what the compiler knows about an array before it exists."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __str__(self) -> str:
        code = {"f": "f", "i": "i", "u": "u", "b": "bool", "c": "c"}.get(self.dtype.kind, "?")
        bits = "" if code == "bool" else str(self.dtype.itemsize * 8)
        dims = ",".join(map(str, self.shape))
        return f"{code}{bits}[{dims}]"


def aval_of(x) -> Aval:
    arr = np.asarray(x)
    return Aval(tuple(arr.shape), arr.dtype)


class TracedValueError(DataDependentControlFlow):
    """A traced value was asked for something only a concrete array has: a truth value,
    an index, a Python number, its elements, or to be handed to NumPy. The frontend
    reports it at the user's line (the Value knows no source location)."""


def _refuse(what: str, instead: str):
    def method(self, *args, **kwargs):
        raise TracedValueError(
            f"{what} of an array computed from the function's arguments: its value is not known "
            f"at compile time; {instead}")
    method.__name__ = f"_refused_{what.split()[0]}"
    return method


class Value:
    """An SSA value. Arithmetic on Values builds ops in the active Builder, so
    derivative rules read like the mathematics they implement."""

    __slots__ = ("aval", "name", "producer", "uid", "adjoint_of", "tangent_of", "pytype")

    def __init__(self, aval: Aval, name: str = "", producer: "Op | None" = None):
        self.aval = aval
        self.name = name
        self.producer = producer
        self.uid = next(_ids)
        self.adjoint_of: Value | None = None  # set on values that hold v̄ for some v
        self.tangent_of: Value | None = None  # set on values that hold v̇ (forward mode)
        self.pytype: type | None = None  # float for inputs given as Python floats

    shape = property(lambda self: self.aval.shape)
    dtype = property(lambda self: self.aval.dtype)
    ndim = property(lambda self: self.aval.ndim)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name or self.uid} {self.aval}>"

    # Arithmetic builds IR in the active builder (see `building`).
    def __add__(self, o): return bind("add", self, o)
    def __radd__(self, o): return bind("add", o, self)
    def __sub__(self, o): return bind("sub", self, o)
    def __rsub__(self, o): return bind("sub", o, self)
    def __mul__(self, o): return bind("mul", self, o)
    def __rmul__(self, o): return bind("mul", o, self)
    def __truediv__(self, o): return bind("div", self, o)
    def __rtruediv__(self, o): return bind("div", o, self)
    def __pow__(self, o): return bind("pow", self, o)
    def __rpow__(self, o): return bind("pow", o, self)
    def __matmul__(self, o): return bind("matmul", self, o)
    def __rmatmul__(self, o): return bind("matmul", o, self)
    def __neg__(self): return bind("neg", self)
    def __gt__(self, o): return bind("greater", self, o)
    def __lt__(self, o): return bind("less", self, o)
    def __ge__(self, o): return bind("greater_equal", self, o)
    def __le__(self, o): return bind("less_equal", self, o)
    __hash__ = object.__hash__  # identity: Values are dict keys throughout the compiler

    # Trust by construction: a traced value is never a Python truth value, index,
    # number or iterable, and NumPy can never wrap it in an object array.
    __bool__ = _refuse("the truth value (if/while/and/or/not/bool())",
                       "select values with np.where(condition, a, b), combine masks with & and |")
    __index__ = _refuse("use as an index or size", "index with constants, slices or loop indices")
    __int__ = _refuse("int()", "keep it an array (x.astype(np.int64) if an integer array is meant)")
    __float__ = _refuse("float()", "keep it an array (x.astype(np.float64) to change the dtype)")
    __complex__ = _refuse("complex()", "complex numbers are not supported")
    __iter__ = _refuse("iteration", "loop over range(len(x)) or range(x.shape[k]) and index")
    __len__ = _refuse("len() inside NumPy", "use x.shape[0]")
    __contains__ = _refuse("the 'in' operator", "test membership on compile-time values only")
    __array__ = _refuse("conversion to a NumPy array",
                        "use the NumPy functions gradc lowers (see docs/supported-subset.md)")

    def __array_function__(self, func, types, args, kwargs):
        """Only NumPy's shape queries answer (from the aval); any other NumPy function
        called on a Value is refused (the frontend lowers the ones gradc supports)."""
        query = _SHAPE_QUERIES.get(func)
        if query is not None and len(args) == 1 and not kwargs and args[0] is self:
            return query(self)
        raise TracedValueError(
            f"{getattr(func, '__name__', func)}() called on an array computed from the function's "
            "arguments at compile time; use the NumPy functions gradc lowers")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """`ndarray + value` reaches here (NumPy tries the ufunc first): arithmetic
        operators become ops; any other ufunc call is refused."""
        name = _OPERATOR_UFUNCS.get(ufunc) if method == "__call__" and not kwargs else None
        if name is None:
            raise TracedValueError(
                f"np.{ufunc.__name__}.{method} applied directly to an array computed from the "
                "function's arguments; use the NumPy functions gradc lowers")
        return bind(name, *inputs)

    @property
    def T(self):
        return bind("transpose", self, axes=None)


_SHAPE_QUERIES = {np.shape: lambda v: v.shape, np.ndim: lambda v: v.ndim,
                  np.size: lambda v: v.aval.size}
_OPERATOR_UFUNCS = {np.add: "add", np.subtract: "sub", np.multiply: "mul", np.true_divide: "div",
                    np.power: "pow", np.matmul: "matmul", np.negative: "neg",
                    np.greater: "greater", np.less: "less", np.greater_equal: "greater_equal",
                    np.less_equal: "less_equal"}


class Const(Value):
    """A compile-time constant operand. Scalars print inline; arrays print by name."""

    __slots__ = ("value",)

    def __init__(self, value, name: str = ""):
        if isinstance(value, (bool, int, float)) and not isinstance(value, np.generic):
            aval = Aval((), np.result_type(value))
            # Python scalars stay weakly typed, exactly as NumPy treats them.
            self.value = value
        else:
            value = np.asarray(value)
            if value.ndim == 0:
                value = value[()]  # NumPy scalar: prints inline, keeps its dtype
            aval = aval_of(value)
            self.value = value
        super().__init__(aval, name)

    @property
    def is_scalar(self) -> bool:
        return np.ndim(self.value) == 0

    @property
    def weak(self) -> bool:
        """A Python scalar: adopts the dtype of the arrays it meets (NEP 50)."""
        return isinstance(self.value, (bool, int, float)) and not isinstance(self.value, np.generic)

    def __repr__(self) -> str:
        return f"<Const {self.name or self.value!r} {self.aval}>"


@dataclass(eq=False)
class Op:
    prim: Any  # compiler.primitives.Primitive
    inputs: tuple[Value, ...]
    params: dict
    out: Value
    loc: SourceLoc | None = None
    sweep: str = "forward"  # "reverse" (adjoint pass) or "tangent" (forward-mode pass)
    step: int | None = None  # checkpointing step: 0 the prologue, 1..l the chain (passes/steps.py)

    def key(self):
        """Identity for common-subexpression elimination."""
        return (self.prim.name, tuple(v.uid for v in self.inputs), freeze(self.params))


def freeze(obj):
    if isinstance(obj, dict):
        return tuple(sorted((k, freeze(v)) for k, v in obj.items()))
    if isinstance(obj, (list, tuple)):
        return tuple(freeze(v) for v in obj)
    if isinstance(obj, slice):
        return ("slice", obj.start, obj.stop, obj.step)
    if isinstance(obj, np.ndarray):
        return ("array", obj.dtype.str, obj.shape, obj.tobytes())
    return obj


@dataclass(eq=False)
class Program:
    name: str
    inputs: list[Value]
    ops: list[Op]
    outputs: list[Value]
    loc: SourceLoc | None = None  # the function definition
    wrt: tuple[int, ...] = ()  # positions of inputs the program differentiates with respect to
    static_args: dict = field(default_factory=dict)
    # the Python type NumPy gives a 0-d result ("float", "scalar" or "array"; None: as computed),
    # decided by the frontend from the source (frontend/python.py result_type)
    result: str | None = None

    def consts(self) -> list[Const]:
        """Named array constants, in first-use order (scalars print inline)."""
        seen: dict[int, Const] = {}
        for op in _nested_ops(self):
            values = list(op.inputs)
            if op.prim.name == "loop":  # a loop body may return a constant (`b = np.ones(3)`)
                values += op.params["body"].outputs
            elif op.prim.name == "cond":  # so may a branch
                values += [v for b in op.params["branches"] for v in b.outputs]
            elif op.prim.name in ("while", "unwind"):  # and a while body
                values += op.params["body"].outputs
            for v in values:
                if isinstance(v, Const) and not v.is_scalar:
                    seen.setdefault(v.uid, v)
        for v in self.outputs:
            if isinstance(v, Const) and not v.is_scalar:
                seen.setdefault(v.uid, v)
        return list(seen.values())

    def use_counts(self) -> dict[Value, int]:
        counts: dict[Value, int] = {}
        for op in self.ops:
            for v in op.inputs:
                counts[v] = counts.get(v, 0) + 1
        for v in self.outputs:
            counts[v] = counts.get(v, 0) + 1
        return counts

    def forward_ops(self) -> list[Op]:
        return [op for op in self.ops if op.sweep == "forward"]

    def reverse_ops(self) -> list[Op]:
        return [op for op in self.ops if op.sweep == "reverse"]

    def numbering(self) -> dict[Value, int]:
        """v-indices: argument i is v_{-i}, forward op k (1-based) is v_k. The ops of a
        loop body are numbered where the loop stands (the loop op itself has no number)."""
        nums = {v: -i for i, v in enumerate(self.inputs)}
        k = 0
        for op in _nested_ops(self, forward_only=True):
            if op.prim.name not in ("loop", "cond", "while", "unwind"):
                k += 1
                nums[op.out] = k
        return nums

    def with_ops(self, ops: list[Op], outputs: list[Value] | None = None) -> "Program":
        return Program(self.name, self.inputs, ops, self.outputs if outputs is None else outputs,
                       self.loc, self.wrt, self.static_args, self.result)

    def __str__(self) -> str:
        from .printer import listing
        return listing(self)

    def _repr_pretty_(self, p, cycle):  # IPython shows the listing, not an object address
        p.text(str(self))


# ---------------------------------------------------------------------------
# Building programs


_active: contextvars.ContextVar["Builder"] = contextvars.ContextVar("gradc_builder")


MAX_OPS = 200_000  # operations one lowered program may have (GRADC_MAX_OPS overrides)


def max_ops() -> int:
    """The op budget of a program the frontend lowers: GRADC_MAX_OPS, else MAX_OPS."""
    import os

    text = os.environ.get("GRADC_MAX_OPS", "").strip()
    try:
        return max(int(text), 1) if text else MAX_OPS
    except ValueError:
        return MAX_OPS


class ProgramTooLarge(CompileError):
    """The program would have more operations than the budget (loops are unrolled)."""


def too_large(n: int, limit: int, loc) -> ProgramTooLarge:
    return ProgramTooLarge(
        f"the program is too large to compile: {n:,} operations after unrolling loops, over the "
        f"limit of {limit:,} (loops are unrolled at compile time, one copy of the body per "
        f"iteration); use fewer iterations or vectorise the loop body over an array axis, or "
        f"raise the limit with the environment variable GRADC_MAX_OPS", loc)


class Builder:
    """Appends ops to a list with shape inference, constant folding and local rewrites.

    `rewrite` is a callable (prim, operands, params) -> Value | None applied
    before an op is created; the simplify pass supplies its table of identities.
    `max_ops`: at most this many ops (a ProgramTooLarge at the current location past it);
    None for no limit.
    """

    def __init__(self, *, rewrite=None, sweep: str = "forward", max_ops: int | None = None):
        self.max_ops = max_ops
        self.ops: list[Op] = []
        self.loc: SourceLoc | None = None
        self.rewrite = rewrite
        self.sweep = sweep
        self.step: int | None = None  # tag for the ops made now (a loop iteration, a checkpointed call)
        self.step_count = 0

    def __enter__(self):
        self._token = _active.set(self)
        return self

    def __exit__(self, *exc):
        _active.reset(self._token)

    def const(self, value, name: str = "") -> Const:
        return Const(value, name)

    def bind(self, prim_name: str, *operands, **params) -> Value:
        from .primitives import registry

        prim = registry.get(prim_name)
        values = [v if isinstance(v, Value) else as_const(v) for v in operands]
        try:
            params = prim.canonical_params(values, params)
            aval = prim.abstract_eval([v.aval for v in values], values, **params)
        except CompileError as e:
            raise type(e)(e.message, e.loc or self.loc, hint=e.hint) from None
        except (ValueError, TypeError, IndexError) as e:
            text = str(e)  # (a user primitive's vjp wrapper names itself)
            raise ShapeError(text if text.startswith(f"{prim.name}: ") else f"{prim.name}: {text}",
                             self.loc) from None
        if self.rewrite is not None:
            replaced = self.rewrite(prim, values, params)
            if replaced is not None:
                return replaced
        if prim.foldable and values and all(isinstance(v, Const) for v in values):
            try:
                result = prim.evaluate(*(v.value for v in values), **params)
            except (ArithmeticError, ValueError, np.linalg.LinAlgError) as e:
                # NumPy refuses these constants (cholesky of a matrix that is not positive
                # definite, ...): the same error the function would raise, at the user's line
                raise ShapeError(f"{prim.name}: NumPy raises {type(e).__name__} here: {e}", self.loc) from None
            if all(v.weak for v in values) and np.ndim(result) == 0 and prim.name != "cast":
                # Python in, Python out: stays weakly typed (a cast names its dtype: NumPy's scalar)
                result = np.asarray(result).item()
            return Const(result)
        if self.max_ops is not None and len(self.ops) >= self.max_ops:
            raise too_large(len(self.ops) + 1, self.max_ops, self.loc)
        out = Value(aval)
        op = Op(prim, tuple(values), params, out, self.loc, self.sweep, self.step)
        out.producer = op
        self.ops.append(op)
        return out

    def expect_iterations(self, each: int, remaining: int, loc) -> None:
        """A loop's iterations so far made `each` ops at least (per iteration) and
        `remaining` are left: refuse now if they cannot fit (counting at least one op per
        iteration, so that a long loop of compile-time arithmetic is refused too)."""
        if self.max_ops is None:
            return
        n = len(self.ops) + max(each, 1) * remaining
        if n > self.max_ops:
            raise too_large(n, self.max_ops, loc)

    def add_op(self, op: Op) -> None:
        self.ops.append(op)


def as_const(x) -> Const:
    if isinstance(x, Const):
        return x
    if isinstance(x, (bool, int, float, np.generic, np.ndarray)):
        return Const(x)
    raise TypeError(f"cannot use {type(x).__name__} as an operand")


def bind(prim_name: str, *operands, **params) -> Value:
    """Emit an op into the active builder (used by derivative rules)."""
    try:
        builder = _active.get()
    except LookupError:
        raise RuntimeError("IR arithmetic needs an active Builder (use `with builder:`)") from None
    return builder.bind(prim_name, *operands, **params)


def current_builder() -> Builder:
    return _active.get()


# ---------------------------------------------------------------------------
# Verification


class VerifyError(AssertionError):
    pass


def verify(program: Program) -> Program:
    """Check SSA form: every operand defined before use, every value defined once,
    arity and shapes consistent with the primitive's rule."""
    defined: set[int] = {v.uid for v in program.inputs}
    if len(defined) != len(program.inputs):
        raise VerifyError("duplicate program input")
    for i, op in enumerate(program.ops):
        arity = op.prim.arity
        if op.prim.name == "loop":
            from .regions import verify_loop
            verify_loop(op, verify)
        elif op.prim.name == "cond":
            from .regions import verify_cond
            verify_cond(op, verify)
        elif op.prim.name in ("while", "unwind"):
            from .regions import verify_while
            verify_while(op, verify)
        if arity is not None and len(op.inputs) != arity:
            raise VerifyError(f"op {i} ({op.prim.name}) has {len(op.inputs)} operands, expected {arity}")
        for v in op.inputs:
            if not isinstance(v, Const) and v.uid not in defined:
                raise VerifyError(f"op {i} ({op.prim.name}) uses {v!r} before it is defined")
        if op.out.uid in defined:
            raise VerifyError(f"op {i} ({op.prim.name}) redefines {op.out!r}")
        if op.out.producer is not op:
            raise VerifyError(f"op {i} ({op.prim.name}) output does not point back at its op")
        expected = op.prim.abstract_eval([v.aval for v in op.inputs], list(op.inputs), **op.params)
        if expected != op.out.aval:
            raise VerifyError(f"op {i} ({op.prim.name}) has aval {op.out.aval}, rule says {expected}")
        defined.add(op.out.uid)
    for v in program.outputs:
        if not isinstance(v, Const) and v.uid not in defined:
            raise VerifyError(f"output {v!r} is not defined")
    return program


def _nested_ops(program: Program, forward_only: bool = False):
    """The program's ops with the ops of region bodies before their loop or cond op."""
    for op in program.ops:
        if forward_only and op.sweep != "forward":
            continue
        if op.prim.name == "loop":
            yield from _nested_ops(op.params["body"], forward_only)
        elif op.prim.name == "cond":
            for body in op.params["branches"]:
                yield from _nested_ops(body, forward_only)
        elif op.prim.name == "while":
            yield from _nested_ops(op.params["cond"], forward_only)
            yield from _nested_ops(op.params["body"], forward_only)
        elif op.prim.name == "unwind":
            yield from _nested_ops(op.params["body"], forward_only)
        yield op


def walk_values(ops: Iterable[Op]):
    for op in ops:
        yield from op.inputs
        yield op.out
