"""How NumPy (and compiler.nn) functions lower to primitives, looked up by identity.

Identity, not name, is what makes `import numpy as xp` or `from numpy import exp`
work, and what keeps a user's own function called `exp` from being mistaken
for NumPy's. Each entry is `lower(lw, args, kwargs) -> value`, where `lw` is the
lowering context (frontend.python.Lowering).
"""
from __future__ import annotations

import numpy as np

from gradc.runtime import support


def _unary(prim):
    return lambda lw, args, kw: lw.bind(prim, *_exactly(lw, args, kw, 1, prim))


def _binary(prim):
    return lambda lw, args, kw: lw.bind(prim, *_exactly(lw, args, kw, 2, prim))


def _exactly(lw, args, kw, n, what):
    if kw:
        lw.fail(f"{what}() keyword arguments {sorted(kw)} are not supported")
    if len(args) != n:
        lw.fail(f"{what}() takes {n} argument{'s' if n > 1 else ''} here, got {len(args)}")
    return args


def _axis_kw(lw, args, kw, what, extra=()):
    allowed = {"axis", "keepdims", *extra}
    bad = set(kw) - allowed
    if bad:
        lw.fail(f"{what}() keyword arguments {sorted(bad)} are not supported")
    if len(args) > 2:
        lw.fail(f"{what}() takes at most (a, axis) positionally")
    axis = lw.static(args[1] if len(args) == 2 else kw.get("axis"), "axis")
    keepdims = lw.static(kw.get("keepdims", False), "keepdims")
    return args[0], axis, keepdims


def _reduction(prim):
    def lower(lw, args, kw):
        x, axis, keepdims = _axis_kw(lw, args, kw, prim)
        return lw.bind(prim, x, axis=axis, keepdims=keepdims)
    return lower


def _softmax_like(prim):
    def lower(lw, args, kw):
        x, axis, keepdims = _axis_kw(lw, args, kw, prim)
        if keepdims:
            lw.fail(f"{prim}() has no keepdims")
        return lw.bind(prim, x, axis=-1 if axis is None else axis)
    return lower


def _logsumexp(lw, args, kw):
    x, axis, keepdims = _axis_kw(lw, args, kw, "logsumexp")
    return lw.bind("logsumexp", x, axis=axis, keepdims=keepdims)


def _dot(lw, args, kw):
    a, b = _exactly(lw, args, kw, 2, "dot")
    if lw.ndim(a) == 0 or lw.ndim(b) == 0:
        return lw.bind("mul", a, b)
    if lw.ndim(a) > 2 or lw.ndim(b) > 2:
        lw.fail("np.dot of arrays with more than 2 dimensions is not supported (use np.matmul)")
    return lw.bind("matmul", a, b)


def _where(lw, args, kw):
    if len(args) != 3 or kw:
        lw.fail("np.where(condition, x, y) needs exactly three arguments")
    return lw.bind("where", *args)


def _clip(lw, args, kw):
    if len(args) == 3 and not kw:
        x, lo, hi = args
    elif len(args) == 1 and set(kw) <= {"a_min", "a_max", "min", "max"}:
        x, lo, hi = args[0], kw.get("a_min", kw.get("min")), kw.get("a_max", kw.get("max"))
    else:
        lw.fail("np.clip(x, lo, hi) needs the array and both bounds")
    if lo is None and hi is None:
        lw.fail("np.clip needs at least one of its bounds")
    if lw.is_static(lo) and lw.is_static(hi) and np.ndim(lw.value(lo)) == 0 and np.ndim(lw.value(hi)) == 0:
        lo, hi = lw.value(lo), lw.value(hi)
        return lw.bind("clip", x, lo=None if lo is None else float(lo), hi=None if hi is None else float(hi))
    if lo is not None:
        x = lw.bind("maximum", x, lo)
    return x if hi is None else lw.bind("minimum", x, hi)


def _transpose(lw, args, kw):
    axes = kw.pop("axes", args[1] if len(args) > 1 else None)
    if kw or len(args) > 2:
        lw.fail("np.transpose(a, axes) takes the array and optional axes")
    return lw.bind("transpose", args[0], axes=lw.static(axes, "axes"))


def _reshape(lw, args, kw):
    shape = kw.pop("shape", kw.pop("newshape", args[1] if len(args) > 1 else None))
    if kw or len(args) > 2 or shape is None:
        lw.fail("np.reshape(a, shape) takes the array and a shape")
    return lw.bind("reshape", args[0], shape=lw.static(shape, "shape"))


def _expand_dims(lw, args, kw):
    axis = kw.pop("axis", args[1] if len(args) > 1 else None)
    return lw.bind("expand_dims", args[0], axis=lw.static(axis, "axis"))


def _broadcast_to(lw, args, kw):
    shape = kw.pop("shape", args[1] if len(args) > 1 else None)
    return lw.bind("broadcast_to", args[0], shape=lw.static(shape, "shape"))


def _zeros_like(lw, args, kw):
    (x,) = _exactly(lw, args, kw, 1, "zeros_like")
    return lw.bind("zeros_like", x)


def _ones_like(lw, args, kw):
    (x,) = _exactly(lw, args, kw, 1, "ones_like")
    shape, dtype = lw.shape(x), lw.dtype(x)
    return lw.bind("broadcast_to", np.ones((), dtype=dtype)[()], shape=shape)


def _logaddexp(lw, args, kw):
    return lw.bind("logaddexp", *_exactly(lw, args, kw, 2, "logaddexp"))


TABLE = {
    np.negative: _unary("neg"), np.exp: _unary("exp"), np.log: _unary("log"),
    np.log1p: _unary("log1p"), np.expm1: _unary("expm1"), np.sqrt: _unary("sqrt"),
    np.square: _unary("square"), np.sin: _unary("sin"), np.cos: _unary("cos"),
    np.tan: _unary("tan"), np.tanh: _unary("tanh"), np.arctan: _unary("arctan"),
    np.abs: _unary("abs"), np.sign: _unary("sign"),
    np.add: _binary("add"), np.subtract: _binary("sub"), np.multiply: _binary("mul"),
    np.divide: _binary("div"), np.power: _binary("pow"),
    np.maximum: _binary("maximum"), np.minimum: _binary("minimum"), np.logaddexp: _logaddexp,
    np.greater: _binary("greater"), np.less: _binary("less"),
    np.greater_equal: _binary("greater_equal"), np.less_equal: _binary("less_equal"),
    np.equal: _binary("equal"), np.not_equal: _binary("not_equal"),
    np.logical_and: _binary("logical_and"), np.logical_or: _binary("logical_or"),
    np.where: _where, np.clip: _clip,
    np.sum: _reduction("sum"), np.mean: _reduction("mean"),
    np.max: _reduction("max"), np.amax: _reduction("max"),
    np.min: _reduction("min"), np.amin: _reduction("min"),
    np.dot: _dot, np.matmul: _binary("matmul"), np.outer: _binary("outer"),
    np.transpose: _transpose, np.reshape: _reshape, np.expand_dims: _expand_dims,
    np.broadcast_to: _broadcast_to, np.zeros_like: _zeros_like, np.ones_like: _ones_like,
    # gradc.nn (the same function objects as runtime.support)
    support.sigmoid: _unary("sigmoid"), support.softplus: _unary("softplus"),
    support.relu: _unary("relu"), support.logsumexp: _logsumexp,
    support.softmax: _softmax_like("softmax"), support.log_softmax: _softmax_like("log_softmax"),
}

# Functions that only build constants: evaluated at compile time, arguments must be static.
CONSTRUCTORS = {np.zeros, np.ones, np.array, np.asarray, np.full, np.eye, np.arange, np.linspace,
                np.float64, np.float32, np.int64, np.int32}


# Functions that always become ops, even on compile-time operands (the builder folds
# those): gradc.nn and user primitives. Other NumPy calls on constants run once, now.
ALWAYS_LOWER = {support.sigmoid, support.softplus, support.relu, support.logsumexp,
                support.softmax, support.log_softmax}


def register(fn, prim: str) -> None:
    """A user-defined primitive: calls to `fn` lower to `prim`."""
    TABLE[fn] = _unary(prim)
    ALWAYS_LOWER.add(fn)


def lookup(fn):
    try:
        return TABLE.get(fn)
    except TypeError:  # unhashable callables
        return None


# Methods of arrays: name -> lower(lw, self, args, kwargs)
def _method_reduction(prim):
    return lambda lw, x, args, kw: _reduction(prim)(lw, (x, *args), kw)


def _method_reshape(lw, x, args, kw):
    shape = args[0] if len(args) == 1 else tuple(args)
    return lw.bind("reshape", x, shape=lw.static(shape, "shape"))


def _method_transpose(lw, x, args, kw):
    axes = args[0] if len(args) == 1 else (tuple(args) if args else None)
    return lw.bind("transpose", x, axes=lw.static(axes, "axes"))


def _method_astype(lw, x, args, kw):
    (dtype,) = args
    dtype = np.dtype(lw.static(dtype, "dtype"))
    if dtype.kind not in "fiub":
        lw.fail(f"astype({dtype}) is not supported")
    return lw.bind("cast", x, dtype=dtype)


METHODS = {
    "sum": _method_reduction("sum"), "mean": _method_reduction("mean"),
    "max": _method_reduction("max"), "min": _method_reduction("min"),
    "reshape": _method_reshape, "transpose": _method_transpose,
    "dot": lambda lw, x, args, kw: _dot(lw, (x, *args), kw),
    "clip": lambda lw, x, args, kw: _clip(lw, (x, *args), kw),
    "astype": _method_astype,
    "copy": lambda lw, x, args, kw: x,  # values are immutable in gradc's model
    "ravel": lambda lw, x, args, kw: lw.bind("reshape", x, shape=(-1,)),
    "flatten": lambda lw, x, args, kw: lw.bind("reshape", x, shape=(-1,)),
}
