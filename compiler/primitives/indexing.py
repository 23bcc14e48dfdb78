"""Indexing: basic (ints, slices, None, Ellipsis), advanced (integer arrays: gathers), and
functional index updates (`z[i] = v`, `z[i] += v`), with their adjoints.

Basic indexing is `getitem` (a view in NumPy); its adjoint `scatter` writes into zeros.

Advanced indexing is `gather(x, *arrays, index=template)`: the template is the index
tuple with a `Slot(k)` where the k-th index array (an operand: a traced integer array
or a constant) stands, so NumPy's own rules (broadcasting of the index arrays,
advanced indices separated by a slice moving to the front, negative indices wrapping,
IndexError out of bounds) apply to the generated code as they apply to the user's.
Its adjoint is `scatter_add` (np.add.at: repeated indices accumulate).

Index updates are values, never mutations: `index_set(x, v, *arrays, index=t)` is a
copy of x with `[index] = v` (NumPy's setitem: repeated indices, last write wins) and
`index_add(x, v, ...)` a copy with np.add.at(copy, index, v) (repeats accumulate).
Adjoints: x̄ = ḡ with the written region zeroed (set) or ḡ (add); v̄ = ḡ[index] —
for set with possibly repeated indices `gather_last`, which is ḡ[index] where the
element is the one that lands and 0 where a later repeat overwrites it.
"""
from __future__ import annotations

from dataclasses import dataclass

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


# -- advanced indexing ------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """Where the k-th index array of an op (an operand) stands in its index template."""
    k: int

    def __repr__(self):
        return f"Slot({self.k})"


def fill(index, arrays) -> tuple:
    """The NumPy index: the template with its slots replaced by the arrays."""
    return tuple(arrays[i.k] if isinstance(i, Slot) else i for i in index)


def _check_template(index, n):
    slots = [i for i in index if isinstance(i, Slot)]
    if sorted(s.k for s in slots) != list(range(n)):
        raise TypeError(f"index template {index!r} does not use its {n} index arrays once each")
    for item in index:
        if not isinstance(item, Slot):
            _check_index((item,))
    return index


def advanced_shape(shape, dtype, index, array_avals) -> tuple:
    """The shape of x[index] by NumPy's rules, from the index arrays' shapes alone."""
    _check_template(index, len(array_avals))
    for a in array_avals:
        if a.dtype.kind not in "iu":
            raise TypeError(f"arrays used as indices must be of integer type, not {a.dtype}")
    probes = [np.zeros(a.shape, dtype=np.intp) for a in array_avals]
    return _index_shape(shape, dtype, fill(index, probes))


def _text(index, arrays) -> str:
    """Subscript text with each slot spelled by its operand's expression."""
    parts = [arrays[item.k].text if isinstance(item, Slot) else index_text((item,)) for item in index]
    return ", ".join(parts) if parts else "()"


def take(g, arrays, index):
    """g[index]: getitem for a basic index, gather when there are index arrays."""
    if arrays:
        return ops.gather(g, *arrays, index=index)
    return ops.getitem(g, index=index)


def may_repeat(arrays, index, shape) -> bool:
    """Whether x[index] may name one element twice (then x[index] = v writes it twice)."""
    if not arrays:
        return False  # a basic index names each element once
    from ..ir import Const
    if not all(isinstance(a, Const) for a in arrays):
        return True
    from gradc.runtime.support import last_write
    return not bool(np.all(last_write(fill(index, [np.asarray(a.value) for a in arrays]), shape)))


def _gather_vjp(g, out, x, *arrays, index):
    return [ops.scatter_add(g, *arrays, index=index, shape=x.shape)] + [None] * len(arrays)


def _gather_jvp(tangents, out, x, *arrays, index):
    t = tangents[0]
    return None if t is None else ops.gather(t, *arrays, index=index)


registry.define(
    "gather", impl=lambda x, *arrays, index: np.asarray(x)[fill(index, arrays)], family="indexing",
    arity=None,
    emit=lambda a, *arrays, index: method(a, f"[{_text(index, arrays)}]"),
    shape_rule=lambda avals, index: advanced_shape(avals[0].shape, avals[0].dtype, index, avals[1:]),
    dtype_rule=lambda avals, values, index: avals[0].dtype,
    vjp=_gather_vjp, jvp=_gather_jvp,
    doc="x[index] with integer index arrays (advanced indexing: a copy)",
)


def _scatter_add_shape(avals, index, shape):
    target = advanced_shape(shape, avals[0].dtype, index, avals[1:])
    if np.broadcast_shapes(avals[0].shape, target) != tuple(target):
        raise ValueError(f"cannot add an array of shape {avals[0].shape} at an index of shape {target}")
    return shape


def _scatter_add_vjp(g, out, x, *arrays, index, shape):
    return [ops.gather(g, *arrays, index=index)] + [None] * len(arrays)


def _scatter_add_jvp(tangents, out, x, *arrays, index, shape):
    t = tangents[0]
    return None if t is None else ops.scatter_add(t, *arrays, index=index, shape=shape)


def _scatter_add_impl(g, *arrays, index, shape):
    from gradc.runtime.support import scatter_add
    return scatter_add(g, fill(index, arrays), shape)


registry.define(
    "scatter_add", impl=_scatter_add_impl, family="indexing", arity=None, helper="scatter_add",
    foldable=False,
    emit=lambda a, *arrays, index, shape: call("scatter_add", a, f"np.s_[{_text(index, arrays)}]",
                                               literal(shape)),
    shape_rule=_scatter_add_shape,
    dtype_rule=lambda avals, values, index, shape: avals[0].dtype,
    vjp=_scatter_add_vjp, jvp=_scatter_add_jvp,
    doc="zeros of `shape` with g added at `index` (np.add.at: repeated indices accumulate): "
        "the adjoint of gather",
)


def _gather_last_impl(x, *arrays, index):
    from gradc.runtime.support import gather_last
    return gather_last(x, fill(index, arrays))


def _gather_last_vjp(g, out, x, *arrays, index):
    # the transpose of "the elements that land" is writing into zeros, last write winning
    return [ops.index_set(ops.zeros_like(x), g, *arrays, index=index)] + [None] * len(arrays)


def _gather_last_jvp(tangents, out, x, *arrays, index):
    t = tangents[0]
    return None if t is None else ops.gather_last(t, *arrays, index=index)


registry.define(
    "gather_last", impl=_gather_last_impl, family="indexing", arity=None, helper="gather_last",
    emit=lambda a, *arrays, index: call("gather_last", a, f"np.s_[{_text(index, arrays)}]"),
    shape_rule=lambda avals, index: advanced_shape(avals[0].shape, avals[0].dtype, index, avals[1:]),
    dtype_rule=lambda avals, values, index: avals[0].dtype,
    vjp=_gather_last_vjp, jvp=_gather_last_jvp,
    doc="x[index], with 0 where a later repeat of the same index overwrites the element in "
        "x[index] = v: the adjoint of index_set for v",
)


# -- functional index updates -------------------------------------------------------


def target_shape(shape, dtype, index, array_avals) -> tuple:
    if array_avals:
        return advanced_shape(shape, dtype, index, array_avals)
    return _index_shape(shape, dtype, _check_index(index))


def _update_shape(avals, index):
    x, v = avals[0], avals[1]
    target = target_shape(x.shape, x.dtype, index, avals[2:])
    if np.broadcast_shapes(v.shape, target) != tuple(target):
        raise ValueError(f"could not broadcast input array from shape {v.shape} into shape {tuple(target)}")
    return x.shape


def _index_set_impl(x, v, *arrays, index):
    from gradc.runtime.support import index_set
    return index_set(np.asarray(x), fill(index, arrays), v)


def _index_set_vjp(g, out, x, v, *arrays, index):
    x_bar = ops.index_set(g, 0.0, *arrays, index=index)  # what was overwritten gets nothing
    if may_repeat(arrays, index, x.shape):
        v_bar = ops.gather_last(g, *arrays, index=index)  # only the last of repeated writes lands
    else:
        v_bar = take(g, arrays, index)
    return [x_bar, v_bar] + [None] * len(arrays)


def _index_update_jvp(name):
    def jvp(tangents, out, x, v, *arrays, index):
        tx, tv = tangents[0], tangents[1]
        if tx is None and tv is None:
            return None
        if tx is None:
            tx = ops.zeros_like(out)
        return getattr(ops, name)(tx, 0.0 if tv is None else tv, *arrays, index=index)
    return jvp


registry.define(
    "index_set", impl=_index_set_impl, family="indexing", arity=None, helper="index_set",
    emit=lambda a, v, *arrays, index: call("index_set", a, f"np.s_[{_text(index, arrays)}]", v),
    shape_rule=_update_shape,
    dtype_rule=lambda avals, values, index: avals[0].dtype,
    vjp=_index_set_vjp, jvp=_index_update_jvp("index_set"),
    doc="a copy of x with x[index] = v (NumPy's setitem: a repeated index keeps its last write)",
)


def _index_add_impl(x, v, *arrays, index):
    from gradc.runtime.support import index_add
    return index_add(np.asarray(x), fill(index, arrays), v)


def _index_add_vjp(g, out, x, v, *arrays, index):
    return [g, take(g, arrays, index)] + [None] * len(arrays)


registry.define(
    "index_add", impl=_index_add_impl, family="indexing", arity=None, helper="index_add",
    emit=lambda a, v, *arrays, index: call("index_add", a, f"np.s_[{_text(index, arrays)}]", v),
    shape_rule=_update_shape,
    dtype_rule=lambda avals, values, index: avals[0].dtype,
    vjp=_index_add_vjp, jvp=_index_update_jvp("index_add"),
    doc="a copy of x with v added at index (np.add.at: repeated indices accumulate)",
)
