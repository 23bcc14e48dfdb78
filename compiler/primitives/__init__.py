"""The primitive registry: every elementary operation gradc knows, each defined once.

A primitive carries its NumPy implementation (evaluation, constant folding, the
trace table), its shape rule, its NumPy spelling (codegen and the SSA printer),
and its derivative rule written as an IR builder: `vjp(g, out, *inputs, **params)`
returns one cotangent contribution per input (None where there is none), using
ordinary arithmetic on IR values. Broadcasting is NumPy's; the reverse pass sums
each contribution back to its operand's shape, so rules never do.

Families live in their own modules and register themselves on import.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from ..ir import Aval, bind
from ..syntax import Expr


@dataclass(eq=False)
class Primitive:
    name: str
    impl: Callable  # NumPy implementation: impl(*arrays, **params)
    emit: Callable[..., Expr]  # emit([operand Exprs], **params) -> Expr
    family: str
    vjp: Callable | None = None  # vjp(g, out, *inputs, **params) -> [contribution | None, ...]
    jvp: Callable | None = None  # jvp(tangents, out, *inputs, **params) -> tangent | None; see ad.forward
    linear: bool = False  # linear in its (single) operand: the tangent is the op applied to the tangent
    shape_rule: Callable | None = None  # shape_rule(avals, **params) -> shape; default: broadcast
    dtype_rule: Callable | None = None  # dtype_rule(avals, values, **params) -> dtype
    arity: int | None = 1
    differentiable: bool = True  # False: derivative is zero almost everywhere (comparisons, sign)
    derivative_known: bool = True  # False: differentiable, but gradc has no rule (an error if needed)
    fresh: bool = True  # result is a newly allocated array (False for views), so += on it is safe
    foldable: bool = True
    shareable: bool = True  # False: two ops never merge into one (copies that must stay distinct)
    elementwise: bool = False
    helper: str | None = None  # name of a runtime.support function the emitted code calls
    sympy: Callable | None = None  # scalar SymPy formula, for derivative tests
    domain: tuple[float, float] = (-2.0, 2.0)  # where tests sample scalar arguments
    defaults: dict = field(default_factory=dict)  # parameter defaults, omitted when printing
    doc: str = ""

    def canonical_params(self, values, params: dict) -> dict:
        out = dict(self.defaults)
        out.update(params)
        return out

    def evaluate(self, *args, **params):
        with np.errstate(all="ignore"):
            return self.impl(*args, **params)

    def abstract_eval(self, avals: Sequence[Aval], values=None, **params) -> Aval:
        shape = (self.shape_rule(avals, **params) if self.shape_rule
                 else np.broadcast_shapes(*(a.shape for a in avals)))
        if self.dtype_rule is not None:
            dtype = self.dtype_rule(avals, values, **params)
        else:
            dtype = self._probe_dtype(avals, values, params)
        return Aval(tuple(int(d) for d in shape), np.dtype(dtype))

    def _probe_dtype(self, avals, values, params):
        """Result dtype as NumPy computes it, from tiny stand-ins of the operands."""
        from ..ir import Const

        probes = []
        for i, a in enumerate(avals):
            v = values[i] if values is not None else None
            if isinstance(v, Const) and v.weak:
                probes.append(v.value)
            else:
                probes.append(np.ones((1,) * a.ndim, dtype=a.dtype))
        return np.asarray(self.evaluate(*probes, **params)).dtype


def same_dtype(avals, values, **params):
    """For shape-only operations: the result has the operand's dtype."""
    return avals[0].dtype


class Registry:
    def __init__(self):
        self._prims: dict[str, Primitive] = {}

    def define(self, name: str, **kw) -> Primitive:
        if name in self._prims:
            raise ValueError(f"primitive {name!r} is already defined")
        prim = Primitive(name=name, **kw)
        self._prims[name] = prim
        return prim

    def get(self, name: str) -> Primitive:
        _load_families()
        return self._prims[name]

    def __contains__(self, name: str) -> bool:
        _load_families()
        return name in self._prims

    def all(self) -> list[Primitive]:
        _load_families()
        return list(self._prims.values())


registry = Registry()


class _Ops:
    """`ops.exp(x)` binds primitive `exp` in the active builder: rules read like math."""

    def __getattr__(self, name: str):
        def op(*operands, **params):
            return bind(name, *operands, **params)

        op.__name__ = name
        return op


ops = _Ops()

_loaded = False


def _load_families():
    global _loaded
    if not _loaded:
        _loaded = True
        from . import elementwise, reductions, linalg, indexing, nn, decompositions  # noqa: F401
