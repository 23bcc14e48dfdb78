"""Basic indexing (ints, slices, None, Ellipsis) and its adjoint, scatter into zeros."""
from __future__ import annotations

import numpy as np

from ..syntax import call, index_text, literal, method
from . import ops, registry


def _index_shape(shape, dtype, index):
    # A zero-stride stand-in: NumPy computes the view's shape without touching data.
    return np.broadcast_to(np.empty((), dtype=dtype), shape)[index].shape


def _check_index(index):
    for item in index:
        if not (item is None or item is Ellipsis or isinstance(item, slice)
                or (isinstance(item, (int, np.integer)) and not isinstance(item, bool))):
            raise TypeError(f"unsupported index {item!r}")
    return index


registry.define(
    "getitem", impl=lambda x, index: np.asarray(x)[index], family="indexing", fresh=False, linear=True,
    emit=lambda a, index: method(a, f"[{index_text(index)}]"),
    shape_rule=lambda avals, index: _index_shape(avals[0].shape, avals[0].dtype, _check_index(index)),
    dtype_rule=lambda avals, values, index: avals[0].dtype,
    vjp=lambda g, out, x, index: [ops.scatter(g, index=index, shape=x.shape)],
)

registry.define(
    "scatter", impl=lambda g, index, shape: _scatter(g, index, shape), family="indexing",
    helper="scatter", foldable=False, linear=True,
    emit=lambda a, index, shape: call("scatter", a, f"np.s_[{index_text(index)}]", literal(shape)),
    shape_rule=lambda avals, index, shape: shape,
    dtype_rule=lambda avals, values, index, shape: avals[0].dtype,
    vjp=lambda g, out, x, index, shape: [ops.getitem(g, index=index)],
    doc="zeros of `shape` with g written at `index`: the adjoint of basic indexing",
)


def _scatter(g, index, shape):
    from gradc.runtime.support import scatter
    return scatter(g, index, shape)
