"""Derivatives in the precision of the values they belong to (mixed-precision programs).

NumPy computes `w * x` with float64 w and float16 x in float64, and the exact derivative
of a float64 value is a float64 number. Three places could round it to the data's
precision first, and each is closed here, for both AD passes:

- a derivative rule of a mixed-dtype elementwise op reads its operands as the ufunc's
  loop does, cast to the result's dtype (`np.int8(2) ** w`: log(2) in float64, not in
  the int8's float16);
- a Python-float (weak, NEP 50) cotangent entering the rule of an op with operands of
  another dtype is made a NumPy scalar of the result's dtype (`0.2 * x16` is float16;
  `np.float64(0.2) * x16` is float64);
- a contribution of lower precision than the value it flows to is cast up before it is
  accumulated (`x16 + 0.3` would stay float16).

Programs whose values share one dtype never meet any of these: their code is unchanged.
"""
from __future__ import annotations

import numpy as np

from ..ir import Const, Op, Value, bind


def _weak(v: Value) -> bool:
    return isinstance(v, Const) and v.weak


def rule_inputs(op: Op) -> list[Value]:
    """op's operands as its derivative rule should read them: for an elementwise op of
    several operands with a floating result, numeric operands of another dtype cast to
    the result's (constants fold). NumPy's loop computes in that dtype, so the cast is
    the value the op used; Python numbers adopt the dtype by themselves, booleans
    (a where's condition) are not numbers here."""
    out = op.out.dtype
    if op.prim.family != "elementwise" or len(op.inputs) < 2 or out.kind != "f":
        return list(op.inputs)
    return [bind("cast", x, dtype=out) if x.dtype.kind in "fiu" and x.dtype != out and not _weak(x)
            else x for x in op.inputs]


def cotangent(g: Value, op: Op, inputs) -> Value:
    """The cotangent (or, read forwards, the tangent) entering op's rule, in op's result
    dtype wherever a Python float or a lower precision could round the rule's arithmetic:
    a Python-float constant becomes a NumPy scalar of that dtype when a floating operand
    has another dtype (integers meet a Python float as float64: no rounding); a value of
    lower precision is cast up."""
    out = op.out.dtype
    if out.kind != "f":
        return g
    if _weak(g):
        mixed = any(not _weak(x) and x.dtype.kind == "f" and x.dtype != out for x in inputs)
        return Const(np.asarray(g.value, dtype=out)[()]) if mixed else g
    return g if _holds(g.dtype, out) else bind("cast", g, dtype=out)


def contribution(c: Value, x: Value) -> Value:
    """A contribution to x̄ in at least x's precision (a Python-float constant is left
    alone: it holds a float64 value, and rounds only where a rule meets another dtype,
    which `cotangent` prevents)."""
    if x.dtype.kind != "f" or _weak(c) or _holds(c.dtype, x.dtype):
        return c
    return bind("cast", c, dtype=x.dtype)


def _holds(have: np.dtype, want: np.dtype) -> bool:
    """Whether values of dtype `have` keep all the precision of dtype `want`."""
    return have.kind == "f" and np.promote_types(have, want) == have
