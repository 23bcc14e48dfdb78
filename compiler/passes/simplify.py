"""Constant folding and algebraic identities, as a table of local rewrites.

`rewrite` is what the Builder calls before creating an op (so the frontend and
the reverse pass build simplified code from the start); `simplify` re-applies the
table to a whole program. A rule returns a replacement Value, or None to keep
the op. Every rule preserves shape and dtype, and every rule that can rewrite what
the source computes is exact in IEEE arithmetic for the dtypes it applies to (signed
zeros, infinities, NaNs and subnormals included: x * 1, x / 1, x ** 1, x - 0.0 and
x + (-0.0) are x; x + 0.0 is not, since -0.0 + 0.0 is +0.0; nor is float16's x ** 1,
which loses a NaN's sign), so a rewrite can never
change what NumPy would have computed (tests/test_attack_regressions_2.py checks each
rule on special values). Three rules reassociate and apply only to the adjoint ops the
reverse sweep builds, where a gradient is promised to rounding: sum_to of a broadcast
(k * z for a sum of k copies), a scaled operand pulled out of a matmul, and
c * a + c * b as c * (a + b).
"""
from __future__ import annotations

import numpy as np

from ..ir import Builder, Const, Program, Value, _active, bind
from .rebuild import clone, copy_meta, rebuild


def _is_const(v: Value, number) -> bool:
    return isinstance(v, Const) and v.is_scalar and v.value == number and not isinstance(v.value, bool)


def _same(v: Value, prim, values, params) -> Value | None:
    """v itself, if it already has the aval the op would produce."""
    return v if prim.abstract_eval([x.aval for x in values], values, **params) == v.aval else None


def _producer(v: Value, name: str):
    op = v.producer
    return op if op is not None and op.prim.name == name else None


def _exact_zero(other: Value, zero: Value, sign: bool) -> bool:
    """Whether adding (sign False) or subtracting (sign True) the constant `zero` leaves
    `other` unchanged bit for bit: always for integers and booleans; for floats only
    x + (-0.0) and x - (+0.0), since -0.0 + 0.0 and -0.0 - (-0.0) are +0.0 in IEEE."""
    if other.dtype.kind in "iub":
        return True
    return bool(np.signbit(zero.value)) != sign


def _in_adjoint() -> bool:
    """Whether the op being built belongs to the reverse sweep (adjoint code)."""
    builder = _active.get(None)
    return builder is not None and builder.sweep == "reverse"


def _add(prim, values, params):
    x, y = values
    if _is_const(y, 0) and _exact_zero(x, y, False):
        return _same(x, prim, values, params)
    if _is_const(x, 0) and _exact_zero(y, x, False):
        return _same(y, prim, values, params)


def _sub(prim, values, params):
    x, y = values
    if _is_const(y, 0) and _exact_zero(x, y, True):
        return _same(x, prim, values, params)


def _mul(prim, values, params):
    x, y = values
    for a, b in ((x, y), (y, x)):
        if _is_const(b, 1):
            return _same(a, prim, values, params)
        # x * -1 is -x, except for the sign of a NaN (a multiply keeps a NaN's sign, a
        # negation flips it): for integers, and in adjoint code (the sign bit of a NaN
        # gradient is not a number anyone reads; `-np.sin(v3)` reads better)
        if _is_const(b, -1) and (a.dtype.kind in "iu" or _in_adjoint()) \
                and _same(a, prim, values, params) is not None:
            return bind("neg", a)


def _div_or_pow(prim, values, params):
    x, y = values
    # x / 1 and x ** 1 are x; but float16's power computes in float32 and loses a NaN's sign
    if _is_const(y, 1) and not (prim.name == "pow" and x.dtype == np.float16):
        return _same(x, prim, values, params)


def _logistic_spelling(prim, values, params):
    """`1 / (1 + np.exp(-z))` is sigmoid(z), bit for bit (gradc.nn.sigmoid is that very
    expression), but its chain-rule adjoint reads 0 * exp(800) = NaN where exp overflows;
    the sigmoid primitive's rule g * s * (1 - s) has the finite limit."""
    one, denominator = values
    if not _is_const(one, 1):
        return None
    add = _producer(denominator, "add")
    if add is None:
        return None
    a, b = add.inputs
    e = b if _is_const(a, 1) else a if _is_const(b, 1) else None
    exp = e is not None and _producer(e, "exp")
    neg = exp and _producer(exp.inputs[0], "neg")
    if not neg:
        return None
    z = neg.inputs[0]
    if z.dtype.kind != "f":
        return None
    s = bind("sigmoid", z)
    return s if s.aval == prim.abstract_eval([v.aval for v in values], values, **params) else None


def _neg(prim, values, params):
    inner = _producer(values[0], "neg")
    if inner is not None:
        return inner.inputs[0]


def _identity_if(pred):
    def rule(prim, values, params):
        x = values[0]
        if pred(x, params):
            return _same(x, prim, values, params)
    return rule


def _transpose(prim, values, params):
    x = values[0]
    if params["axes"] == tuple(range(x.ndim)):
        return x
    inner = _producer(x, "transpose")
    if inner is not None:
        axes = tuple(inner.params["axes"][a] for a in params["axes"])
        return bind("transpose", inner.inputs[0], axes=axes)


def _first(*rules):
    def rule(prim, values, params):
        for r in rules:
            out = r(prim, values, params)
            if out is not None:
                return out
    return rule


def _sum_to(prim, values, params):
    x = values[0]
    if x.shape == params["shape"]:
        return x
    inner = _producer(x, "broadcast_to")
    if inner is not None and inner.inputs[0].shape == params["shape"]:
        # Summing k broadcast copies of z is k * z.
        z = inner.inputs[0]
        return z * (x.aval.size // max(z.aval.size, 1)) if z.aval.size else z


def _drop_broadcasts(prim, values, params):
    """An elementwise op broadcasts by itself: broadcast_to operands are redundant
    whenever the result shape stays the same without them."""
    if not prim.elementwise or not any(_producer(v, "broadcast_to") for v in values):
        return None
    out_shape = np.broadcast_shapes(*(v.shape for v in values))
    slim = [(_producer(v, "broadcast_to").inputs[0] if _producer(v, "broadcast_to") else v) for v in values]
    if np.broadcast_shapes(*(v.shape for v in slim)) == out_shape:
        return bind(prim.name, *slim, **params)
    # f(broadcast_to(z), ...) == broadcast_to(f(z, ...)): compute on the small arrays.
    return bind("broadcast_to", bind(prim.name, *slim, **params), shape=out_shape)


def _reshape_scalar_broadcast(prim, values, params):
    """Moving the axes of a broadcast scalar gives a broadcast scalar of the new shape."""
    inner = _producer(values[0], "broadcast_to")
    if inner is not None and inner.inputs[0].ndim == 0:
        shape = prim.abstract_eval([v.aval for v in values], values, **params).shape
        return bind("broadcast_to", inner.inputs[0], shape=shape)


def _scalar_factor(v: Value):
    """(c, a) if v is c * a (or a * c) with c a scalar constant, made by the reverse sweep."""
    op = v.producer
    if op is None or op.prim.name != "mul" or op.sweep != "reverse":
        return None
    x, y = op.inputs
    if isinstance(x, Const) and x.is_scalar:
        return x, y
    if isinstance(y, Const) and y.is_scalar:
        return y, x
    return None


def _pull_out_scale(prim, values, params):
    """A linear op of (c * a) is c * (op of a): scale the small result, not the big operand.
    (The reverse sweep of a mean produces such scaled adjoints; they are read only here.)"""
    out = prim.abstract_eval([v.aval for v in values], values, **params)
    for i, v in enumerate(values):
        found = _scalar_factor(v)
        if found is not None and out.size < v.aval.size:
            c, a = found
            rest = list(values)
            rest[i] = a
            if prim.abstract_eval([x.aval for x in rest], rest, **params).dtype == out.dtype:
                return c * bind(prim.name, *rest, **params)
    return None


def _add_scaled(prim, values, params):
    """c * a + (-c) * b is c * (a - b): one pass over the arrays instead of two."""
    fx, fy = _scalar_factor(values[0]), _scalar_factor(values[1])
    if fx is None or fy is None or values[0].shape != values[1].shape:
        return None
    (cx, a), (cy, b) = fx, fy
    if cx.value == cy.value:
        return cx * (a + b)
    if cx.value == -cy.value:
        return cy * (b - a)
    return None


RULES = {
    "add": _first(_add, _add_scaled),
    "matmul": _pull_out_scale,
    "sub": _sub,
    "mul": _mul,
    "div": _first(_div_or_pow, _logistic_spelling),
    "pow": _div_or_pow,
    "neg": _neg,
    "transpose": _first(_transpose, _reshape_scalar_broadcast),
    "sum_to": _sum_to,
    "reshape": _first(_identity_if(lambda x, p: x.shape == p["shape"]), _reshape_scalar_broadcast),
    "expand_dims": _reshape_scalar_broadcast,
    "broadcast_to": _identity_if(lambda x, p: x.shape == p["shape"]),
    # a scalar cast of a Python-float value is kept: np.float64(lam) makes it a strong NumPy
    # scalar (NEP 50), which `lam` itself (a Python float at run time) is not
    "cast": _identity_if(lambda x, p: x.dtype == np.dtype(p["dtype"])
                         and not (p.get("scalar") and getattr(x, "pytype", None) is float)),
}


def rewrite(prim, values, params) -> Value | None:
    rule = RULES.get(prim.name)
    out = rule(prim, values, params) if rule else None
    if out is None and prim.elementwise:
        out = _drop_broadcasts(prim, values, params)
    return out


def simplify(program: Program) -> Program:
    builder = Builder(rewrite=rewrite)

    def visit(op, inputs, emit):
        builder.loc, builder.sweep, builder.step = op.loc, op.sweep, op.step
        start = len(builder.ops)
        with builder:
            new = rewrite(op.prim, list(inputs), op.params)
            if new is None and op.prim.foldable and all(isinstance(v, Const) for v in inputs):
                new = builder.bind(op.prim.name, *inputs, **op.params)
        if new is None:
            kept = clone(op, inputs)  # unchanged ops keep their identity (and their names)
            builder.ops.append(kept)
            new = kept.out
        for made in builder.ops[start:]:
            emit(made)
            if made.out is new and made is not op:
                copy_meta(new, op.out)
        return new

    return rebuild(program, visit)
