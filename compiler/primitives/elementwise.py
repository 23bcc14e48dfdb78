"""Elementwise primitives: NumPy ufuncs and their derivative rules."""
from __future__ import annotations

import numpy as np
from ..lazy_sympy import sympy as sp  # loaded when a formula is first used

from ..syntax import ADD, COMPARE, MUL, POW, Expr, call, infix, literal, method, prefix
from ..ir import Const
from . import ops, registry


def _np(fn: str):
    return lambda a, **_: call(f"np.{fn}", a)


def unary(name, impl, vjp, sympy=None, domain=(-2.0, 2.0), emit=None, **kw):
    kw.setdefault("elementwise", True)
    return registry.define(name, impl=impl, emit=emit or _np(name), family="elementwise",
                           vjp=vjp, sympy=sympy, domain=domain, **kw)


def binary(name, impl, symbol, prec, vjp, sympy=None, domain=(-2.0, 2.0), **kw):
    emit = (lambda a, b, **_: infix(symbol, prec, a, b)) if symbol else \
        (lambda a, b, **_: call(f"np.{name}", a, b))
    return registry.define(name, impl=impl, emit=emit, family="elementwise", vjp=vjp,
                           arity=2, sympy=sympy, domain=domain, elementwise=True, **kw)


# --- unary -----------------------------------------------------------------

unary("neg", np.negative, lambda g, out, x: [-g], sympy=lambda x: -x,
      emit=lambda a, **_: prefix("-", a))
unary("exp", np.exp, lambda g, out, x: [g * out], sympy=sp.exp)
unary("log", np.log, lambda g, out, x: [g / x], sympy=sp.log, domain=(0.2, 3.0))
unary("log1p", np.log1p, lambda g, out, x: [g / (1 + x)], sympy=lambda x: sp.log(1 + x),
      domain=(-0.8, 2.0))
unary("expm1", np.expm1, lambda g, out, x: [g * (out + 1)], sympy=lambda x: sp.exp(x) - 1)
unary("sqrt", np.sqrt, lambda g, out, x: [g / (2 * out)], sympy=sp.sqrt, domain=(0.2, 3.0))
unary("square", np.square, lambda g, out, x: [g * 2 * x], sympy=lambda x: x**2)
unary("sin", np.sin, lambda g, out, x: [g * ops.cos(x)], sympy=sp.sin)
unary("cos", np.cos, lambda g, out, x: [-g * ops.sin(x)], sympy=sp.cos)
unary("tan", np.tan, lambda g, out, x: [g * (1 + out**2)], sympy=sp.tan, domain=(-1.2, 1.2))
unary("tanh", np.tanh, lambda g, out, x: [g * (1 - out**2)], sympy=sp.tanh)
unary("arctan", np.arctan, lambda g, out, x: [g / (1 + x**2)], sympy=sp.atan)
unary("abs", np.abs, lambda g, out, x: [g * ops.sign(x)], sympy=sp.Abs, domain=(0.1, 2.0))
unary("sign", np.sign, None, differentiable=False)
# scalar=True: the operand may be a real Python float (a Python-float argument, NEP 50's weak
# scalar, cast to the precision of the arrays it meets): `np.float32(lam)`, not `.astype`
unary("cast", lambda x, dtype, scalar=False: np.asarray(x).astype(dtype),
      lambda g, out, x, dtype, scalar=False: [ops.cast(g, dtype=x.dtype) if out.dtype.kind == "f" else None],
      emit=lambda a, dtype, scalar=False: (call(f"np.{np.dtype(dtype).name}", a) if scalar
                                           else method(a, f".astype(np.{np.dtype(dtype).name})")),
      dtype_rule=lambda avals, values, dtype, scalar=False: np.dtype(dtype),
      jvp=lambda t, out, x, dtype, scalar=False: (ops.cast(t[0], dtype=dtype, scalar=scalar)
                                                  if out.dtype.kind == "f" else None),
      defaults={"scalar": False},
      elementwise=False)  # a cast gradient is returned to the user: never rewrite it into a view

# --- binary ----------------------------------------------------------------

binary("add", np.add, "+", ADD, lambda g, out, x, y: [g, g], sympy=lambda x, y: x + y)
binary("sub", np.subtract, "-", ADD, lambda g, out, x, y: [g, -g], sympy=lambda x, y: x - y)
binary("mul", np.multiply, "*", MUL, lambda g, out, x, y: [g * y, g * x],
       sympy=lambda x, y: x * y)
binary("div", np.true_divide, "/", MUL, lambda g, out, x, y: [g / y, -g * out / y],
       sympy=lambda x, y: x / y, domain=(0.3, 2.0))


def _pow_dx(g, x, y):
    """d(x**y)/dx = y * x**(y-1), where an exponent 0 gives exactly 0 (x**0 is the
    constant 1), even at x == 0, where the formula would read 0 * inf."""
    if isinstance(y, Const):
        n = np.asarray(y.value)
        if not np.any(n != 0):
            return None
        if n.ndim == 0:
            return g * y * x ** (y - 1)  # an integer n >= 1 gives x**(n-1) with n-1 >= 0: no NaN at 0
        return g * y * x ** Const(np.where(n == 0, np.zeros_like(n), n - 1))  # 0 * x**0 where n == 0
    return ops.where(ops.logical_and(ops.equal(y, 0), ops.equal(x, 0)), 0.0, g * y * x ** (y - 1))


def _pow_dy(g, out, x):
    """d(x**y)/dy = x**y * log(x). At x == 0 it is 0 (JAX's convention; the derivative from
    the side where 0**y is finite): log(x) is read as 0 there, so 0**y = inf (y < 0) still
    gives NaN. Where x**y is 0 it is 0 (x = inf, y < 0: the limit, not 0 * inf)."""
    if isinstance(x, Const) and np.all(np.isfinite(x.value) & (np.asarray(x.value) != 0)):
        return g * ops.log(x) * out
    safe = ops.where(ops.equal(x, 0), 1.0, x)
    return ops.where(ops.equal(out, 0), 0.0, g * ops.log(safe) * out)


def _logaddexp_vjp(g, out, x, y):
    """d/dx log(e^x + e^y) = sigmoid(x - y): no overflow, and the right limits where one
    argument is infinite. x - y is NaN only where x and y are the same infinity; there the
    limit along x = y is 1/2 each (the derivative along (1, 1) is exactly 1)."""
    d = x - y
    d = ops.where(ops.logical_and(ops.equal(x, y), ops.not_equal(d, 0)), 0.0, d)
    return [g * ops.sigmoid(d), g * ops.sigmoid(-d)]


# maximum and minimum: at a tie the whole cotangent goes to the FIRST argument (Python's
# max(a, b) returns a at a tie). The cotangent is selected with `where`, never multiplied by
# a mask, so an infinite cotangent of the other branch cannot turn into inf * 0 = NaN; the
# reverse pass sees the selection and masks the contributions upstream (ad/masks.py).
binary("pow", np.power, "**", POW, lambda g, out, x, y: [_pow_dx(g, x, y), _pow_dy(g, out, x)],
       sympy=lambda x, y: x**y, domain=(0.3, 2.0))
binary("maximum", np.maximum, None, 0,
       lambda g, out, x, y: [ops.where(x >= y, g, 0.0), ops.where(x >= y, 0.0, g)], sympy=sp.Max,
       jvp=lambda t, out, x, y: _select(x >= y, t))
binary("minimum", np.minimum, None, 0,
       lambda g, out, x, y: [ops.where(x <= y, g, 0.0), ops.where(x <= y, 0.0, g)], sympy=sp.Min,
       jvp=lambda t, out, x, y: _select(x <= y, t))
binary("logaddexp", np.logaddexp, None, 0, _logaddexp_vjp,
       sympy=lambda x, y: sp.log(sp.exp(x) + sp.exp(y)))

# Comparisons and logic: boolean results, derivative zero.
for _name, _impl, _sym in [("greater", np.greater, ">"), ("less", np.less, "<"),
                           ("greater_equal", np.greater_equal, ">="),
                           ("less_equal", np.less_equal, "<="),
                           ("equal", np.equal, "=="), ("not_equal", np.not_equal, "!=")]:
    binary(_name, _impl, _sym, COMPARE, None, differentiable=False)
binary("logical_and", np.logical_and, None, 0, None, differentiable=False)
binary("logical_or", np.logical_or, None, 0, None, differentiable=False)
unary("logical_not", np.logical_not, None, differentiable=False)
# Bitwise operations on integer and boolean arrays (NumPy's &, |, ^, ~ there): no derivative.
# The frontend binds them on integers only (on booleans & | ^ ~ are the logical ones; on
# floats NumPy raises TypeError and so does gradc, as a CompileError).
binary("bitwise_and", np.bitwise_and, None, 0, None, differentiable=False)
binary("bitwise_or", np.bitwise_or, None, 0, None, differentiable=False)
binary("bitwise_xor", np.bitwise_xor, None, 0, None, differentiable=False)
unary("invert", np.invert, None, differentiable=False)


def _select(c, tangents):
    """The tangent of a selection between two operands: where(c, ẋ, ẏ), 0 for a constant."""
    tx, ty = tangents
    if tx is None and ty is None:
        return None
    return ops.where(c, 0.0 if tx is None else tx, 0.0 if ty is None else ty)

registry.define(
    "where", impl=np.where, family="elementwise", arity=3, elementwise=True,
    emit=lambda c, a, b, **_: call("np.where", c, a, b),
    vjp=lambda g, out, c, x, y: [None, ops.where(c, g, 0.0), ops.where(c, 0.0, g)],
    jvp=lambda t, out, c, x, y: _select(c, t[1:]),
)


def _clip_vjp(g, out, x, lo, hi):
    inside = (x >= lo) if hi is None else (x <= hi) if lo is None else ops.logical_and(x >= lo, x <= hi)
    return [ops.where(inside, g, 0.0)]  # bounds included: at x == lo or x == hi the derivative is 1


registry.define(
    "clip", impl=lambda x, lo, hi: np.clip(x, lo, hi), family="elementwise", elementwise=True,
    emit=lambda a, lo, hi: call("np.clip", a, literal(lo), literal(hi)),
    vjp=_clip_vjp, shape_rule=lambda avals, lo, hi: avals[0].shape,
    doc="clip with compile-time bounds; bounds that are arrays lower to maximum/minimum",
)

registry.define(
    "zeros_like", impl=np.zeros_like, family="elementwise",
    emit=lambda a, **_: call("np.zeros_like", a), differentiable=False, foldable=False,
    elementwise=False,  # its result is returned as a gradient: never rewrite it into a view
)

registry.define(
    "copy", impl=np.copy, family="elementwise", foldable=False, shareable=False, linear=True,
    elementwise=False,  # it must stay a real copy, never become a view or a shared constant
    emit=lambda a, **_: call("np.copy", a), vjp=lambda g, out, x: [g],
    doc="a gradient that would otherwise alias an input, a constant or a read-only view",
)


# --- more unary functions (NumPy ufuncs) ------------------------------------

_LN2, _LN10 = float(np.log(2.0)), float(np.log(10.0))

unary("log2", np.log2, lambda g, out, x: [g / (x * _LN2)], sympy=lambda x: sp.log(x, 2),
      domain=(0.2, 3.0))
unary("log10", np.log10, lambda g, out, x: [g / (x * _LN10)], sympy=lambda x: sp.log(x, 10),
      domain=(0.2, 3.0))
unary("exp2", np.exp2, lambda g, out, x: [g * out * _LN2], sympy=lambda x: 2**x)
unary("sinh", np.sinh, lambda g, out, x: [g * ops.cosh(x)], sympy=sp.sinh)
unary("cosh", np.cosh, lambda g, out, x: [g * ops.sinh(x)], sympy=sp.cosh)
unary("arcsin", np.arcsin, lambda g, out, x: [g / ops.sqrt(1 - x * x)], sympy=sp.asin,
      domain=(-0.9, 0.9))
unary("arccos", np.arccos, lambda g, out, x: [-g / ops.sqrt(1 - x * x)], sympy=sp.acos,
      domain=(-0.9, 0.9))
unary("arcsinh", np.arcsinh, lambda g, out, x: [g / ops.hypot(x, 1.0)], sympy=sp.asinh)
# sqrt(x - 1) * sqrt(x + 1), not sqrt(x*x - 1): no cancellation near 1, no overflow at large x
unary("arccosh", np.arccosh, lambda g, out, x: [g / (ops.sqrt(x - 1) * ops.sqrt(x + 1))],
      sympy=sp.acosh, domain=(1.1, 3.0))
unary("arctanh", np.arctanh, lambda g, out, x: [g / ((1 - x) * (1 + x))], sympy=sp.atanh,
      domain=(-0.9, 0.9))
# cbrt'(0) = 1/(3 * 0**2) = inf: the limit from both sides
unary("cbrt", np.cbrt, lambda g, out, x: [g / (3 * out * out)],
      sympy=lambda x: sp.sign(x) * sp.Abs(x) ** sp.Rational(1, 3))


def _sinc_vjp(g, out, x):
    """sinc(x) = sin(pi x) / (pi x); sinc'(x) = (cos(pi x) - sinc(x)) / x, and 0 at x = 0 (the
    limit). At +-inf sinc is NaN (NumPy's sin(inf) / inf), so no derivative is asked there."""
    safe = ops.where(ops.equal(x, 0), 1.0, x)
    return [ops.where(ops.equal(x, 0), 0.0, g * (ops.cos(np.pi * x) - out) / safe)]


unary("sinc", np.sinc, _sinc_vjp, sympy=lambda x: sp.Piecewise(
    (sp.sin(sp.pi * x) / (sp.pi * x), sp.Ne(x, 0)), (1, True)))

# Piecewise-constant functions and predicates: derivative zero wherever it exists.
for _name in ["floor", "ceil", "trunc", "rint", "isnan", "isinf", "isfinite", "signbit"]:
    unary(_name, getattr(np, _name), None, differentiable=False)
registry.define(
    "round", impl=lambda x, decimals: np.round(x, decimals), family="elementwise", elementwise=True,
    emit=lambda a, decimals: call("np.round", a, decimals=decimals) if decimals else call("np.round", a),
    differentiable=False, defaults={"decimals": 0},
    doc="np.round / np.around: round half to even at `decimals` digits; derivative zero",
)


def _round_float(x, ndigits, batched=False):
    x = np.asarray(x, dtype=np.float64)
    return np.array([round(v, ndigits) for v in x.ravel().tolist()], dtype=np.float64).reshape(x.shape)[()]


def _round_float_shape(avals, ndigits, batched=False):
    if avals[0].dtype != np.float64 or not batched and avals[0].shape != ():
        raise ValueError(f"round_float rounds one Python float, not a {avals[0]} value")
    return avals[0].shape


def _round_float_emit(a, ndigits, batched=False):
    if not batched:
        return call("round", call("float", a), literal(ndigits))
    items = f"[round(v, {literal(ndigits).text}) for v in {method(a, '.ravel().tolist()')}]"
    return method(call("np.array", Expr(items)), f".reshape({method(a, '.shape')})")


# batched=True: the examples of a batch (vmap), each rounded as the Python float it was
registry.define(
    "round_float", impl=_round_float, family="elementwise", emit=_round_float_emit,
    shape_rule=_round_float_shape, dtype_rule=lambda avals, values, **_: np.dtype(np.float64),
    differentiable=False, elementwise=False,  # never rewritten into an in-place ufunc call
    defaults={"ndigits": 0, "batched": False},
    doc="Python's round(x, ndigits) of a Python float: its correctly rounded decimal, which "
        "np.round (x * 10**n, rounded, divided back) misses in the last digit at some ties; "
        "derivative zero",
)
binary("heaviside", np.heaviside, None, 0, None, differentiable=False)
binary("logical_xor", np.logical_xor, None, 0, None, differentiable=False)
binary("floor_divide", np.floor_divide, "//", MUL, None, differentiable=False)


# --- more binary functions ---------------------------------------------------


def _arctan2_vjp(g, out, y, x):
    """d atan2(y, x) = (x dy - y dx) / (x^2 + y^2), computed as (x/h)/h with h = hypot(x, y)
    (no overflow). At the origin and where h is infinite the limit along each axis is 0."""
    h = ops.hypot(y, x)
    degenerate = ops.logical_or(ops.equal(h, 0), ops.isinf(h))
    safe = ops.where(degenerate, 1.0, h)
    return [ops.where(degenerate, 0.0, g * (x / safe) / safe),
            ops.where(degenerate, 0.0, -g * (y / safe) / safe)]


binary("arctan2", np.arctan2, None, 0, _arctan2_vjp, sympy=sp.atan2, domain=(0.3, 2.0))


def _hypot_partial(a, b, h):
    """d hypot(a, b) / da = a / h; 0 at the origin (the kink, as abs'(0) = 0); sign(a) where a
    is infinite and b is not, sign(a)/sqrt(2) where both are (the limit along |a| = |b|)."""
    both = ops.logical_and(ops.isinf(a), ops.isinf(b))
    at_inf = ops.where(both, ops.sign(a) * float(np.sqrt(0.5)), ops.sign(a))
    degenerate = ops.logical_or(ops.equal(h, 0), ops.isinf(h))  # a is finite here: the limit is 0
    finite = ops.where(degenerate, 0.0, a / ops.where(degenerate, 1.0, h))
    return ops.where(ops.isinf(a), at_inf, finite)


binary("hypot", np.hypot, None, 0,
       lambda g, out, x, y: [g * _hypot_partial(x, y, out), g * _hypot_partial(y, x, out)],
       sympy=lambda x, y: sp.sqrt(x**2 + y**2))


def _logaddexp2_vjp(g, out, x, y):
    """d/dx log2(2^x + 2^y) = sigmoid((x - y) ln 2); 1/2 each where x and y are the same
    infinity (the limit along x = y), as for logaddexp."""
    d = x - y
    d = ops.where(ops.logical_and(ops.equal(x, y), ops.not_equal(d, 0)), 0.0, d)
    return [g * ops.sigmoid(d * _LN2), g * ops.sigmoid(-d * _LN2)]


binary("logaddexp2", np.logaddexp2, None, 0, _logaddexp2_vjp,
       sympy=lambda x, y: sp.log(2**x + 2**y, 2))


def _mod_jvp(t, out, x, y):
    tx, ty = t
    parts = ([tx] if tx is not None else []) + ([-ty * ops.floor_divide(x, y)] if ty is not None else [])
    return parts[0] if len(parts) == 1 else parts[0] + parts[1]


# np.mod / np.remainder / %: x - floor(x / y) * y, so d/dx = 1 and d/dy = -floor(x / y) (NumPy's
# floor_divide, the quotient np.mod uses). At the jumps (x / y an integer) the derivative with
# respect to y is the one of the side where floor_divide(x, y) is that integer. Not marked
# elementwise (it has no scalar SymPy formula the boundary test could take limits of): its
# tangent rule is explicit and finite differences check both.
registry.define(
    "mod", impl=np.mod, family="elementwise", arity=2,
    emit=lambda a, b, **_: infix("%", MUL, a, b),
    vjp=lambda g, out, x, y: [g, -g * ops.floor_divide(x, y)], jvp=_mod_jvp,
    doc="np.mod / np.remainder / the % operator (Python's sign convention: the divisor's sign)",
)
