"""Reductions along axes, and `sum_to`, the adjoint of broadcasting."""
from __future__ import annotations

import numpy as np

from ..syntax import call, literal, method
from . import ops, registry, same_dtype


def normalize_axis(axis, ndim: int):
    """None, or a sorted tuple of non-negative axes (NumPy's rules, checked here)."""
    if axis is None:
        return None
    axes = axis if isinstance(axis, tuple) else (axis,)
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"axis must be an int or tuple of ints, not {a!r}")
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of bounds for array of dimension {ndim}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError("repeated axis")
    return tuple(sorted(out))


def reduced_shape(shape, axis, keepdims):
    axes = range(len(shape)) if axis is None else axis
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def axis_literal(axis):
    return axis[0] if axis is not None and len(axis) == 1 else axis


def reduce_call(fn: str, a, axis, keepdims):
    kw = {}
    if axis is not None:
        kw["axis"] = axis_literal(axis)
    if keepdims:
        kw["keepdims"] = True
    return call(fn, a, **kw)


def expand_like(g, x, axis, keepdims):
    """Put back the reduced axes of g so it broadcasts against x."""
    if keepdims or axis is None or not axis:
        return g
    return ops.expand_dims(g, axis=axis_literal(axis))


def define_reduction(name, impl, vjp, np_name=None, **kw):
    np_name = np_name or f"np.{name}"

    prim = registry.define(
        name, impl=lambda x, axis, keepdims: impl(x, axis=axis, keepdims=keepdims),
        emit=lambda a, axis, keepdims: reduce_call(np_name, a, axis, keepdims),
        family="reductions", vjp=vjp,
        shape_rule=lambda avals, axis, keepdims: reduced_shape(avals[0].shape, axis, keepdims),
        defaults={"axis": None, "keepdims": False}, **kw)
    base = prim.canonical_params

    def canonical(values, params, _base=base):
        params = _base(values, params)
        params["axis"] = normalize_axis(params["axis"], values[0].ndim)
        params["keepdims"] = bool(params["keepdims"])
        return params

    prim.canonical_params = canonical
    return prim


def count(x, axis) -> int:
    axes = range(x.ndim) if axis is None else axis
    return int(np.prod([x.shape[i] for i in axes], dtype=np.int64))


def _broadcast_back(g, x, axis, keepdims):
    return ops.broadcast_to(expand_like(g, x, axis, keepdims), shape=x.shape)


def _max_vjp(g, out, x, axis, keepdims):
    mask = ops.equal(x, expand_like(out, x, axis, keepdims))
    ties = ops.sum(mask, axis=axis, keepdims=True)
    return [expand_like(g, x, axis, keepdims) * mask / ties]


def _max_jvp(tangents, out, x, axis, keepdims):
    mask = ops.equal(x, expand_like(out, x, axis, keepdims))
    ties = ops.sum(mask, axis=axis, keepdims=keepdims)
    return ops.sum(tangents[0] * mask, axis=axis, keepdims=keepdims) / ties


define_reduction("sum", np.sum, lambda g, out, x, axis, keepdims: [_broadcast_back(g, x, axis, keepdims)],
                 linear=True)
define_reduction("mean", np.mean,
                 lambda g, out, x, axis, keepdims: [_broadcast_back(g / count(x, axis), x, axis, keepdims)],
                 linear=True)
define_reduction("max", np.max, _max_vjp, jvp=_max_jvp)
define_reduction("min", np.min, _max_vjp, jvp=_max_jvp)


# --- sum_to: sum a broadcast value back to an operand's shape --------------


def _sum_to_params(values, params):
    src, shape = values[0].shape, tuple(params["shape"])
    lead = len(src) - len(shape)
    if lead < 0:
        raise ValueError(f"cannot sum shape {src} to the larger shape {shape}")
    stretched = tuple(lead + i for i, d in enumerate(shape) if d == 1 and src[lead + i] != 1)
    return {"shape": shape, "lead": tuple(range(lead)), "stretched": stretched}


def _sum_to_emit(a, shape, lead, stretched):
    if lead and stretched:
        return method(reduce_call("np.sum", a, lead + stretched, False), f".reshape({literal(shape).text})")
    if stretched:
        return reduce_call("np.sum", a, stretched, True)
    if lead:
        return reduce_call("np.sum", a, None if not shape else lead, False)
    return a


def _sum_to_impl(x, shape, lead, stretched):
    return np.sum(x, axis=lead + stretched, keepdims=True).reshape(shape) if lead + stretched else x


sum_to = registry.define(
    "sum_to", impl=_sum_to_impl, dtype_rule=same_dtype, linear=True, emit=_sum_to_emit, family="reductions",
    shape_rule=lambda avals, shape, lead, stretched: shape,
    vjp=lambda g, out, x, **_: [ops.broadcast_to(g, shape=x.shape)],
    doc="sum over the axes NumPy broadcasting stretched; the adjoint of broadcast_to",
)
sum_to.canonical_params = _sum_to_params
