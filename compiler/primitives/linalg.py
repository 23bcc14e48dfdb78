"""Matrix products and shape-only operations (views: no data is copied)."""
from __future__ import annotations

import numpy as np

from ..syntax import MUL, call, infix, literal, method
from . import ops, registry, same_dtype
from .reductions import axis_literal, normalize_axis


def _matmul_shape(avals):
    a, b = (x.shape for x in avals)
    if not a or not b:
        raise ValueError("operands must be at least 1-D (use * for scalars)")
    ka = a[-1]
    kb = b[0] if len(b) == 1 else b[-2]
    if ka != kb:
        raise ValueError(f"shapes {a} and {b} do not align ({ka} != {kb})")
    if len(a) == 1 and len(b) == 1:
        return ()
    if len(b) == 1:
        return a[:-1]
    if len(a) == 1:
        return b[:-2] + b[-1:]
    batch = np.broadcast_shapes(a[:-2], b[:-2])
    return tuple(batch) + (a[-2], b[-1])


def _matmul_vjp(g, out, x, y):
    if x.ndim == 1 and y.ndim == 1:
        return [g * y, g * x]
    if y.ndim == 1 and x.ndim == 2:
        return [ops.outer(g, y), g @ x]
    if x.ndim == 1 and y.ndim == 2:
        return [y @ g, ops.outer(x, g)]
    if x.ndim == 1 or y.ndim == 1:
        raise NotImplementedError("matmul of a vector with a batch of matrices")
    return [g @ ops.transpose(y, axes=_swap_last(y.ndim)), ops.transpose(x, axes=_swap_last(x.ndim)) @ g]


def _swap_last(ndim):
    axes = list(range(ndim))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return tuple(axes)


def _bilinear_jvp(prim):
    def jvp(tangents, out, x, y):
        dx, dy = tangents
        terms = ([getattr(ops, prim)(dx, y)] if dx is not None else []) + \
                ([getattr(ops, prim)(x, dy)] if dy is not None else [])
        return terms[0] if len(terms) == 1 else terms[0] + terms[1]
    return jvp


registry.define("matmul", impl=np.matmul, family="linalg", arity=2, jvp=_bilinear_jvp("matmul"),
                emit=lambda a, b, **_: infix("@", MUL, a, b),
                shape_rule=lambda avals: _matmul_shape(avals), vjp=_matmul_vjp)

registry.define(
    "outer", impl=np.outer, family="linalg", arity=2, jvp=_bilinear_jvp("outer"),
    emit=lambda a, b, **_: call("np.outer", a, b),
    shape_rule=lambda avals: (avals[0].size, avals[1].size),
    vjp=lambda g, out, x, y: [_unflatten(g @ _flat(y), x), _unflatten(_flat(x) @ g, y)],
)


def _flat(v):
    return v if v.ndim == 1 else ops.reshape(v, shape=(-1,))


def _unflatten(v, like):
    return v if like.ndim == 1 else ops.reshape(v, shape=like.shape)


# --- shape operations ------------------------------------------------------


def _transpose_params(values, params):
    ndim = values[0].ndim
    axes = params.get("axes")
    if axes is None:
        axes = tuple(reversed(range(ndim)))
    axes = tuple(int(a) % ndim if ndim else int(a) for a in axes)
    if sorted(axes) != list(range(ndim)):
        raise ValueError(f"axes {axes} are not a permutation of {ndim} dimensions")
    return {"axes": axes}


def _transpose_emit(a, axes):
    if axes == tuple(reversed(range(len(axes)))):
        return method(a, ".T")
    return call("np.transpose", a, literal(axes))


transpose = registry.define(
    "transpose", dtype_rule=same_dtype, linear=True, impl=lambda x, axes: np.transpose(x, axes), family="linalg", fresh=False,
    emit=_transpose_emit,
    shape_rule=lambda avals, axes: tuple(avals[0].shape[i] for i in axes),
    vjp=lambda g, out, x, axes: [_transpose_adjoint(g, tuple(np.argsort(axes).tolist()))],
)


def _transpose_adjoint(g, axes):
    """(a @ b).T is computed as b.T @ a.T: BLAS writes the result in the layout the
    transposed operand's adjoint needs, instead of a strided copy later. Safe to
    rewrite because an adjoint is read only by its own op's rule (the old product dies)."""
    op = g.producer
    if op is not None and op.prim.name == "matmul" and g.ndim == 2 and all(v.ndim == 2 for v in op.inputs):
        a, b = op.inputs
        return ops.transpose(b, axes=None) @ ops.transpose(a, axes=None)
    return ops.transpose(g, axes=axes)
transpose.canonical_params = _transpose_params


def _reshape_params(values, params):
    shape = params["shape"]
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    size = values[0].aval.size
    if shape.count(-1) > 1:
        raise ValueError("can only specify one unknown dimension")
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
        shape = tuple(size // known if d == -1 else d for d in shape)
    if int(np.prod(shape, dtype=np.int64)) != size:
        raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
    return {"shape": shape}


reshape = registry.define(
    "reshape", dtype_rule=same_dtype, linear=True, impl=lambda x, shape: np.reshape(x, shape), family="linalg", fresh=False,
    emit=lambda a, shape: method(a, f".reshape({literal(shape).text})"),
    shape_rule=lambda avals, shape: shape,
    vjp=lambda g, out, x, shape: [ops.reshape(g, shape=x.shape)],
)
reshape.canonical_params = _reshape_params


def _broadcast_to_params(values, params):
    shape = tuple(int(d) for d in params["shape"])
    np.broadcast_shapes(values[0].shape, shape)  # raises for incompatible shapes
    if np.broadcast_shapes(values[0].shape, shape) != shape:
        raise ValueError(f"cannot broadcast {values[0].shape} to {shape}")
    return {"shape": shape}


broadcast_to = registry.define(
    "broadcast_to", dtype_rule=same_dtype, linear=True, impl=lambda x, shape: np.broadcast_to(x, shape), family="linalg",
    fresh=False, foldable=False,  # folding would materialise a large array from a scalar
    emit=lambda a, shape: call("np.broadcast_to", a, literal(shape)),
    shape_rule=lambda avals, shape: shape,
    vjp=lambda g, out, x, shape: [ops.sum_to(g, shape=x.shape)],
)
broadcast_to.canonical_params = _broadcast_to_params


def _expand_dims_params(values, params):
    axis = params["axis"]
    axes = axis if isinstance(axis, tuple) else (axis,)
    ndim = values[0].ndim + len(axes)
    return {"axis": normalize_axis(axes, ndim)}


def _expand_dims_shape(avals, axis):
    shape = list(avals[0].shape)
    for a in axis:
        shape.insert(a, 1)
    return tuple(shape)


expand_dims = registry.define(
    "expand_dims", dtype_rule=same_dtype, linear=True, impl=lambda x, axis: np.expand_dims(x, axis), family="linalg", fresh=False,
    emit=lambda a, axis: call("np.expand_dims", a, literal(axis_literal(axis))),
    shape_rule=_expand_dims_shape,
    vjp=lambda g, out, x, axis: [ops.reshape(g, shape=x.shape)],
)
expand_dims.canonical_params = _expand_dims_params


# --- concatenate: np.array / np.stack / np.concatenate of traced pieces ----------


def _concatenate_params(values, params):
    ndim = values[0].ndim
    if ndim == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    axis = params.get("axis", 0)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis!r} is out of bounds for array of dimension {ndim}")
    return {"axis": int(axis) % ndim}


def _concatenate_shape(avals, axis):
    first = avals[0].shape
    for a in avals[1:]:
        if len(a.shape) != len(first) or any(d != e for i, (d, e) in enumerate(zip(a.shape, first))
                                             if i != axis):
            raise ValueError(f"all the input array dimensions except for the concatenation axis "
                             f"must match exactly: {first} and {a.shape} along axis {axis}")
    return first[:axis] + (sum(a.shape[axis] for a in avals),) + first[axis + 1:]


def _concatenate_vjp(g, out, *xs, axis):
    pieces, start = [], 0
    for x in xs:
        stop = start + x.shape[axis]
        pieces.append(ops.getitem(g, index=(slice(None),) * axis + (slice(start, stop),)))
        start = stop
    return pieces


def _concatenate_jvp(tangents, out, *xs, axis):
    if all(t is None for t in tangents):
        return None
    return ops.concatenate(*(ops.zeros_like(x) if t is None else t for t, x in zip(tangents, xs)),
                           axis=axis)


concatenate = registry.define(
    "concatenate", impl=lambda *xs, axis: np.concatenate(xs, axis=axis), family="linalg", arity=None,
    emit=lambda *xs, axis: call("np.concatenate", f"[{', '.join(str(x) for x in xs)}]", axis=axis),
    shape_rule=_concatenate_shape,
    dtype_rule=lambda avals, values, axis: np.result_type(*(a.dtype for a in avals)),
    vjp=_concatenate_vjp, jvp=_concatenate_jvp,
    doc="join arrays along an existing axis (np.array, np.stack, np.hstack/vstack lower to it)",
)
concatenate.canonical_params = _concatenate_params
