"""Dask arrays as arguments: gradients of data larger than one machine's memory.

The generated NumPy module runs unchanged on Dask arrays (NumPy's functions dispatch to Dask's
through `__array_function__` / `__array_ufunc__`, reductions become Dask's tree reductions),
with the differences codegen makes under the `LAZY` flavour: no in-place `x_bar += c` (it would
add a lazy array into a NumPy one), gradients returned as they are (no `float(...)`, which
would compute), copies as `.copy()` (np.copy does not dispatch) and the adjoint of basic
indexing by concatenation with zeros (backends/scatter.py; the NumPy helper assigns items).
Value and gradients come back as lazy Dask arrays of one graph, so
`dask.compute(value, grad)` runs forward and reverse sweeps together, sharing the forward work,
on whatever scheduler is active (a `dask.distributed` Client: any cluster).

What runs is only what is known to stay lazy and exact: every op that reads a value computed
from a Dask argument must be a primitive of `SUPPORTED` (each checked against NumPy in
tests/test_dask_primitives.py); control flow on such a value (an `if` on data is a cond region,
a loop over it a loop region) needs a concrete value and is refused, as is anything else, with
a CompileError at the user's line.
"""
from __future__ import annotations

import math
import sys

import numpy as np

from ..errors import CompileError, DataDependentControlFlow, SignatureError, UnsupportedFunction
from ..ir import Aval, Const
from ..syntax import Expr, method
from . import Flavour, scatter

# Primitives whose NumPy spelling dispatches to Dask and stays lazy, with NumPy's values.
SUPPORTED = frozenset("""
    neg exp log log1p expm1 sqrt square sin cos tan tanh arctan abs sign cast
    add sub mul div pow maximum minimum logaddexp
    greater less greater_equal less_equal equal not_equal logical_and logical_or logical_not
    where clip zeros_like copy log2 log10 exp2 sinh cosh arcsin arccos arcsinh arccosh arctanh
    floor ceil trunc isnan isinf isfinite hypot arctan2 logaddexp2 sinc
    sum mean max min sum_to
    matmul outer transpose reshape broadcast_to expand_dims concatenate getitem scatter
    sigmoid softplus relu logsumexp softmax log_softmax
""".split())

REGIONS = {"cond": "an `if` (or conditional expression) on a value computed from a Dask array",
           "loop": "a loop whose carried values or rows come from a Dask array",
           "while": "a while loop over a value computed from a Dask array"}


def is_dask(a) -> bool:
    module = sys.modules.get("dask.array")
    return module is not None and isinstance(a, module.Array)


def arg_key(a) -> tuple:
    """Specialisation key: shape, dtype, chunking and the type of the chunks."""
    return ("dask", tuple(a.shape), a.dtype.str, tuple(a.chunks), type(a._meta))


def input_kind(a) -> tuple:
    return ("dask", tuple(int(n) for n in a.shape), a.dtype.name, tuple(a.chunks))


def aval(name: str, a, loc) -> Aval:
    """The abstract value of a Dask argument; unknown chunk sizes (after boolean indexing,
    say) are refused: gradc specialises to shapes; so are chunks other than plain ndarrays
    (masked arrays would be read as their data, ignoring the mask)."""
    if any(isinstance(n, float) and math.isnan(n) for n in a.shape):
        raise SignatureError(f"argument {name} is a Dask array of unknown shape {a.shape}; gradc "
                             "specialises to shapes: call .compute_chunk_sizes() on it first", loc)
    meta = type(getattr(a, "_meta", None))
    if meta is not np.ndarray:  # masked chunks, CuPy chunks, ...: not NumPy's ndarray semantics
        raise SignatureError(f"argument {name} is a Dask array whose chunks are {meta.__module__}."
                             f"{meta.__qualname__}, not NumPy arrays (gradc compiles NumPy's ndarray "
                             f"semantics); pass a Dask array of plain NumPy chunks", loc)
    dtype = a.dtype
    if dtype.kind not in "fiub" or (dtype.kind == "f" and dtype.itemsize > 8):
        raise SignatureError(f"argument {name} has dtype {dtype}, which gradc does not support "
                             "(float16/32/64, integer and bool arrays are)", loc)
    return Aval(tuple(int(n) for n in a.shape), np.dtype(dtype))


def uses_dask(kinds) -> bool:
    return any(k and k[0] == "dask" for k in kinds)


SPELLING = dict(  # NumPy's functions, dispatching to Dask's for a Dask operand (tests/test_dask_primitives.py)
    reshape=lambda a, shape: f"np.reshape({a}, {shape})",
    flip=lambda a, axis: f"np.flip({a}, axis={axis})",
    zeros=lambda shape, dtype: f"np.zeros({shape}" + ("" if dtype == "float64" else f", dtype=np.{dtype}") + ")",
    concat=lambda parts, axis: f"np.concatenate([{parts}], axis={axis})",
    copy=lambda a: f"({a}).copy()")


class Lazy(Flavour):
    """NumPy spellings; no in-place updates; gradients returned lazily as they are."""

    def emit(self, op, operands) -> Expr:
        x = op.inputs[0] if op.inputs else None
        if op.prim.name == "copy" and x.pytype is None and not (isinstance(x, Const) and x.is_scalar):
            return method(operands[0], ".copy()")  # np.copy would compute a Dask array (no dispatch)
        if op.prim.name == "scatter":  # zeros with ḡ written in: by concatenation, never item assignment
            return scatter.spell(op, operands[0], **SPELLING)
        return super().emit(op, operands)

    def wrap(self, leaf, text: str) -> str:
        return text


LAZY = Lazy(inplace=False)


def refuse_checkpoint(checkpoint, loc) -> None:
    if checkpoint is not None:
        raise CompileError("checkpoint= with Dask arguments is not supported: Dask keeps what its "
                           "graph needs (spill to disk with a distributed cluster's memory limits)", loc)


def refuse_derived(args, what: str, loc) -> None:
    """jvp, vjp, hvp, hessian and jacobian are generated for NumPy arrays only."""
    from .. import pytree

    def leaves(a):
        if pytree.is_container(a):
            items = a.values() if isinstance(a, dict) else a
            for v in items:
                yield from leaves(v)
        else:
            yield a

    if any(is_dask(leaf) for a in args for leaf in leaves(a)):
        raise SignatureError(f"{what} with Dask arguments is not supported: grad and value_and_grad "
                             "take Dask arrays; for this, pass NumPy arrays", loc)


def check(programs, kinds, loc=None) -> None:
    """Refuse what would not stay lazy and exact: every op reading a value computed from a
    Dask argument must be a SUPPORTED primitive, and no region may branch or loop on one.
    A refusal points at the op's line, else at the nearest line its operands came from
    (ops gradc adds itself have none), else at `loc` (the function's)."""
    for program in programs:
        if program is None:
            continue
        tainted = {v for v, k in zip(program.inputs, kinds) if k and k[0] == "dask"}
        for op in program.ops:
            if not any(v in tainted for v in op.inputs):
                continue
            refusal = _refusal(op, tainted)
            if refusal is not None:
                cls, message = refusal
                raise cls(message, _where(op) or loc)
            tainted.add(op.out)


def _where(op):
    """The op's source line, or the nearest one among the ops its operands came from."""
    seen, todo = set(), [op]
    while todo:
        o = todo.pop(0)
        if o.loc is not None:
            return o.loc
        for v in o.inputs:
            if v.producer is not None and id(v.producer) not in seen:
                seen.add(id(v.producer))
                todo.append(v.producer)
    return None


def _refusal(op, tainted):
    """(error class, message) when the op on Dask data is not supported, else None."""
    name = op.prim.name
    if name == "cond" and op.inputs[0] not in tainted:
        return DataDependentControlFlow, (
            "unsupported construct with Dask arguments: an `if` (or conditional expression) whose "
            "test is not on the data but whose branches compute with a Dask array: gradc's branches "
            "run on NumPy values only; compute both sides and choose with np.where, or pass NumPy arrays")
    if name in REGIONS:
        return DataDependentControlFlow, (
            f"unsupported construct with Dask arguments: {REGIONS[name]} needs a concrete "
            "value, and gradc never computes a Dask array inside a gradient; use np.where "
            "for an elementwise choice, or pass NumPy arrays")
    if name == "reshape" and not _squeezes(op.inputs[0].shape, op.out.shape):
        return UnsupportedFunction, (
            f"unsupported operation with Dask arguments: reshape from {op.inputs[0].shape} to "
            f"{op.out.shape} (Dask reshapes only by adding or removing length-1 axes here); "
            "pass NumPy arrays for this function")
    if name not in SUPPORTED and name != "loop_result":
        return UnsupportedFunction, (
            f"unsupported operation with Dask arguments: {name!r} (or its derivative) has no "
            "lazy Dask equivalent gradc has checked; pass NumPy arrays for this function")
    return None


def _squeezes(before, after) -> bool:
    """A reshape that only adds or removes length-1 axes (any chunking supports it)."""
    return [d for d in before if d != 1] == [d for d in after if d != 1]


def as_dask(result):
    """Every leaf of a result as a Dask array (a part that does not depend on the data is a
    NumPy value in the generated code)."""
    import dask.array as da

    if isinstance(result, dict):
        return {k: as_dask(v) for k, v in result.items()}
    if isinstance(result, (list, tuple)):
        return type(result)(as_dask(v) for v in result)
    return result if is_dask(result) else da.asarray(np.asarray(result))


def lazily(fn):
    """A generated entry function whose results are all Dask arrays."""
    def run(*args, **kwargs):
        return as_dask(fn(*args, **kwargs))

    run.__name__, run.__doc__ = getattr(fn, "__name__", "run"), getattr(fn, "__doc__", None)
    return run


def computed(result, spec, which: str):
    """`compute=True`: one dask.compute of value and gradients (one graph), then each result as
    the NumPy path gives it (a Python float's gradient a float, a 0-d value a NumPy scalar)."""
    import dask

    (result,) = dask.compute(result)
    grads_of = getattr(spec.entry, "grads", None)

    def leaf(g, kind):
        if kind is None:
            return g
        if kind.as_float:
            return float(g)
        if kind.kind is not None and kind.kind[0] == "scalar":
            return np.dtype(kind.kind[1]).type(g)
        if kind.kind is not None and kind.kind[0] == "array0":
            return np.asarray(g, dtype=kind.kind[1])
        return g

    def grads(g, shape):
        from ..codegen import GradLeaf

        if isinstance(shape, GradLeaf) or shape is None:
            return leaf(g, shape)
        if isinstance(shape, dict):
            return {k: grads(g[k], shape[k]) for k in shape}
        return type(shape)(grads(a, s) for a, s in zip(g, shape))

    def value(v):
        return np.asarray(v)[()] if np.ndim(v) == 0 else v

    if which == "grad":
        return grads(result, grads_of)
    if which == "value":
        return value(result)
    return value(result[0]), grads(result[1], grads_of)
