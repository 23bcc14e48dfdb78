"""Reductions along axes, and `sum_to`, the adjoint of broadcasting."""
from __future__ import annotations

import numpy as np

from ..syntax import Expr, call, literal, method
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


# --- products -----------------------------------------------------------------------------


def _flip_last(v):
    return ops.getitem(v, index=(Ellipsis, slice(None, None, -1)))


def _ones(shape, dtype):
    from ..ir import Const
    return Const(np.ones(shape, dtype=dtype))


def _exclusive_cumprod_last(v):
    """prod_{j < i} v[..., j] for each i: a cumulative product shifted right by one (no division)."""
    ones = _ones(v.shape[:-1] + (1,), v.dtype)
    return ops.cumprod(ops.concatenate(ones, ops.getitem(v, index=(Ellipsis, slice(None, -1))), axis=v.ndim - 1),
                       axis=v.ndim - 1)


def _others_product(x, axis):
    """For each element, the product of the other elements of its reduced slice: the exclusive
    cumulative products from the left times those from the right. No division by x, so one
    zero in a slice gives the others' product at the zero (and 0 elsewhere), two zeros give 0."""
    nd = x.ndim
    axes = tuple(range(nd)) if axis is None else axis
    if not axes:
        return None  # nothing reduced: prod is the identity
    if x.aval.size == 0:
        return ops.zeros_like(x)
    kept = tuple(i for i in range(nd) if i not in axes)
    perm = kept + tuple(axes)
    xt = x if perm == tuple(range(nd)) else ops.transpose(x, axes=perm)
    kshape = tuple(x.shape[i] for i in kept)
    flat = ops.reshape(xt, shape=kshape + (count(x, axes),))
    left = _exclusive_cumprod_last(flat)
    right = _flip_last(_exclusive_cumprod_last(_flip_last(flat)))
    others = ops.reshape(left * right, shape=xt.shape)
    if perm != tuple(range(nd)):
        others = ops.transpose(others, axes=tuple(np.argsort(perm).tolist()))
    return others


def _prod_vjp(g, out, x, axis, keepdims):
    others = _others_product(x, axis)
    if others is None:
        return [g]
    return [expand_like(g, x, axis, keepdims) * others]


def _prod_jvp(t, out, x, axis, keepdims):
    others = _others_product(x, axis)
    if others is None:
        return t[0]
    return ops.sum(t[0] * others, axis=axis, keepdims=keepdims)


define_reduction("prod", np.prod, _prod_vjp, jvp=_prod_jvp)


# --- scans along one axis ----------------------------------------------------------------


def _scan_params(values, params):
    ndim = values[0].ndim
    axis = params.get("axis", -1)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis!r} is out of bounds for array of dimension {ndim}")
    return {"axis": int(axis) % ndim}


def _flip(v, axis):
    return ops.getitem(v, index=(slice(None),) * axis + (slice(None, None, -1),))


def define_scan(name, impl, vjp, emit=None, **kw):
    prim = registry.define(
        name, impl=impl, family="reductions", vjp=vjp,
        emit=emit or (lambda a, axis: call(f"np.{name}", a, axis=axis)),
        shape_rule=lambda avals, axis: avals[0].shape, **kw)
    prim.canonical_params = _scan_params
    return prim


define_scan("cumsum", lambda x, axis: np.cumsum(x, axis=axis), linear=True,
            vjp=lambda g, out, x, axis: [_flip(ops.cumsum(_flip(g, axis), axis=axis), axis)])


def _moveaxis_last(v, axis):
    if axis == v.ndim - 1:
        return v
    perm = tuple(i for i in range(v.ndim) if i != axis) + (axis,)
    return ops.transpose(v, axes=perm)


def _moveaxis_back(v, axis):
    if axis == v.ndim - 1:
        return v
    perm = tuple(i for i in range(v.ndim) if i != axis) + (axis,)
    return ops.transpose(v, axes=tuple(np.argsort(perm).tolist()))


def _cumprod_weights(x, axis):
    """W[..., i, k] = d out[k] / d x[i] = prod_{j <= k, j != i} x[j] for k >= i (else 0), with
    the scanned axis moved last. Built from cumulative products, never by dividing by x, so it
    is right where x has zeros. It has n^2 entries per scanned row (n the axis length)."""
    from ..ir import Const
    xm = _moveaxis_last(x, axis)
    n = xm.shape[-1]
    i = np.arange(n)[:, None]
    k = np.arange(n)[None, :]
    rows = ops.where(Const(k > i), ops.expand_dims(xm, axis=xm.ndim - 1), 1.0)  # [.., i, k]: x_k if k > i
    after = ops.cumprod(rows, axis=xm.ndim)  # prod_{i < j <= k} x_j
    before = _exclusive_cumprod_last(xm)  # prod_{j < i} x_j
    return ops.where(Const(k >= i), after, 0.0) * ops.expand_dims(before, axis=xm.ndim)


def _cumprod_vjp(g, out, x, axis):
    w = _cumprod_weights(x, axis)
    gm = _moveaxis_last(g, axis)
    return [_moveaxis_back(ops.sum(w * ops.expand_dims(gm, axis=gm.ndim - 1), axis=gm.ndim), axis)]


def _cumprod_jvp(t, out, x, axis):
    w = _cumprod_weights(x, axis)
    tm = _moveaxis_last(t[0], axis)
    return _moveaxis_back(ops.sum(w * ops.expand_dims(tm, axis=tm.ndim), axis=tm.ndim - 1), axis)


define_scan("cumprod", lambda x, axis: np.cumprod(x, axis=axis), vjp=_cumprod_vjp, jvp=_cumprod_jvp)


# --- sorting: the gradient follows the permutation ------------------------------------
# np.sort(x) is x permuted by argsort(x). gradc uses the stable argsort, so among equal
# values the k-th occurrence in x takes the k-th place among them in the output: at a tie
# each tied element receives the cotangent of exactly one output slot (not an even split).


def _argsort_text(x, axis):
    return f"np.argsort({x}, axis={axis}, kind='stable')"


define_scan("sort", lambda x, axis: np.sort(x, axis=axis), dtype_rule=same_dtype,
            vjp=lambda g, out, x, axis: [ops.sort_unapply(g, x, axis=axis)],
            jvp=lambda t, out, x, axis: ops.sort_apply(t[0], x, axis=axis))


def _sort_apply_impl(h, x, axis):
    return np.take_along_axis(np.asarray(h), np.argsort(x, axis=axis, kind="stable"), axis=axis)


def _sort_unapply_impl(g, x, axis):
    rank = np.argsort(np.argsort(x, axis=axis, kind="stable"), axis=axis, kind="stable")
    return np.take_along_axis(np.asarray(g), rank, axis=axis)


def _pair_params(values, params):
    if values[0].shape != values[1].shape:
        raise ValueError(f"shapes {values[0].shape} and {values[1].shape} differ")
    return _scan_params(values[1:], params)


for _name, _impl, _emit, _inverse in [
    ("sort_apply", _sort_apply_impl,
     lambda h, x, axis: Expr(f"np.take_along_axis({h}, {_argsort_text(x, axis)}, axis={axis})"),
     "sort_unapply"),
    ("sort_unapply", _sort_unapply_impl,
     lambda g, x, axis: Expr(f"np.take_along_axis({g}, np.argsort({_argsort_text(x, axis)}, axis={axis}, "
                             f"kind='stable'), axis={axis})"),
     "sort_apply"),
]:
    _p = registry.define(
        _name, impl=_impl, family="reductions", arity=2, emit=_emit, dtype_rule=same_dtype,
        shape_rule=lambda avals, axis: avals[0].shape,
        vjp=lambda g, out, h, x, axis, _inv=_inverse: [getattr(ops, _inv)(g, x, axis=axis), None],
        jvp=lambda t, out, h, x, axis, _self=_name: None if t[0] is None else getattr(ops, _self)(t[0], x, axis=axis),
        doc="the first operand permuted as sorting the second along axis does (apply), or back (unapply)")
    _p.canonical_params = _pair_params


# --- partition: the gradient follows argpartition's permutation ----------------------------
# np.partition(x, kth) puts the kth smallest values in their sorted places and the others,
# in an order NumPy's introselect leaves as it is, on either side. The value is NumPy's own
# output; the derivative permutes with np.argpartition, which takes the same steps on the
# indices (x[argpartition(x, kth)] == partition(x, kth), tested), so each element of x
# receives the cotangent of the slot its value went to.


def _kth_params(values, params):
    out = _scan_params(values[-1:], params)
    n = values[-1].shape[out["axis"]]
    kth = params["kth"]
    ks = (kth,) if isinstance(kth, (int, np.integer)) and not isinstance(kth, bool) else tuple(kth)
    if not ks or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not -n <= k < n
                     for k in ks):
        raise ValueError(f"kth {kth!r} is out of bounds for an axis of length {n}")
    out["kth"] = int(ks[0]) if len(ks) == 1 and not isinstance(kth, (tuple, list)) else tuple(int(k) for k in ks)
    return out


def _pair_kth_params(values, params):
    if values[0].shape != values[1].shape:
        raise ValueError(f"shapes {values[0].shape} and {values[1].shape} differ")
    return _kth_params(values, params)


def _argpartition_text(x, kth, axis):
    return f"np.argpartition({x}, {literal(kth).text}, axis={axis})"


def _partition_apply_impl(h, x, kth, axis):
    return np.take_along_axis(np.asarray(h), np.argpartition(x, kth, axis=axis), axis=axis)


def _partition_unapply_impl(g, x, kth, axis):
    back = np.argsort(np.argpartition(x, kth, axis=axis), axis=axis)  # the inverse permutation
    return np.take_along_axis(np.asarray(g), back, axis=axis)


_p = registry.define(
    "partition", impl=lambda x, kth, axis: np.partition(x, kth, axis=axis), family="reductions",
    emit=lambda a, kth, axis: call("np.partition", a, literal(kth).text, axis=axis),
    shape_rule=lambda avals, kth, axis: avals[0].shape, dtype_rule=same_dtype,
    vjp=lambda g, out, x, kth, axis: [ops.partition_unapply(g, x, kth=kth, axis=axis)],
    jvp=lambda t, out, x, kth, axis: ops.partition_apply(t[0], x, kth=kth, axis=axis),
    doc="np.partition along axis (NumPy's own order); the derivative follows np.argpartition")
_p.canonical_params = _kth_params

for _name, _impl, _emit, _inverse in [
    ("partition_apply", _partition_apply_impl,
     lambda h, x, kth, axis: Expr(f"np.take_along_axis({h}, {_argpartition_text(x, kth, axis)}, axis={axis})"),
     "partition_unapply"),
    ("partition_unapply", _partition_unapply_impl,
     lambda g, x, kth, axis: Expr(f"np.take_along_axis({g}, np.argsort({_argpartition_text(x, kth, axis)}, "
                                  f"axis={axis}), axis={axis})"),
     "partition_apply"),
]:
    _p = registry.define(
        _name, impl=_impl, family="reductions", arity=2, emit=_emit, dtype_rule=same_dtype,
        shape_rule=lambda avals, kth, axis: avals[0].shape,
        vjp=lambda g, out, h, x, kth, axis, _inv=_inverse: [getattr(ops, _inv)(g, x, kth=kth, axis=axis), None],
        jvp=lambda t, out, h, x, kth, axis, _self=_name: (
            None if t[0] is None else getattr(ops, _self)(t[0], x, kth=kth, axis=axis)),
        doc="the first operand permuted as partitioning the second along axis does (apply), or back (unapply)")
    _p.canonical_params = _pair_kth_params


# --- argmax / argmin: integer results, no derivative ------------------------------------


def _arg_params(values, params):
    axis = params.get("axis")
    keepdims = bool(params.get("keepdims", False))
    ndim = values[0].ndim
    if axis is not None:
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < max(ndim, 1):
            raise ValueError(f"axis {axis!r} is out of bounds for array of dimension {ndim}")
        axis = int(axis) % max(ndim, 1)
    return {"axis": axis, "keepdims": keepdims}


def _arg_shape(avals, axis, keepdims):
    return reduced_shape(avals[0].shape, None if axis is None else (axis,), keepdims)


for _name in ("argmax", "argmin"):
    _p = registry.define(
        _name, impl=lambda x, axis, keepdims, _f=getattr(np, _name): _f(x, axis=axis, keepdims=keepdims),
        family="reductions", differentiable=False, shape_rule=_arg_shape,
        emit=lambda a, axis, keepdims, _n=_name: call(f"np.{_n}", a, **({"axis": axis} if axis is not None else {}),
                                                      **({"keepdims": True} if keepdims else {})),
        defaults={"axis": None, "keepdims": False},
        doc="index of the first maximum (minimum); an integer result with no derivative")
    _p.canonical_params = _arg_params
