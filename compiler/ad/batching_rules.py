"""Batching rules: one per primitive, keyed by its name (the table the batching pass reads).

A rule `rule(batcher, op, args, batched) -> Value` builds, in the active builder, the op
applied to `args` (the operands; those marked in `batched` have a leading batch axis of
length `batcher.size`, the others are the op's own operands) and returns the result with
the batch axis first. A rule that does not apply to these operands raises `Declined` (the
batching pass then runs the op once per example). Rules only ever re-express the op with
the batch as one more axis NumPy broadcasts or loops over, so each example sees exactly the
operations it would see alone.
"""
from __future__ import annotations

import string

import numpy as np

from ..ir import Aval, Const, Value
from ..primitives import ops
from ..primitives.indexing import Slot, advanced_shape


class Declined(Exception):
    """The rule does not apply to these operands."""


RULES: dict = {}


def rule(*names):
    def register(fn):
        for name in names:
            RULES[name] = fn
        return fn
    return register


def rule_for(prim):
    """The primitive's rule: its own, the elementwise one for elementwise primitives, or None.
    User primitives (`@gradc.primitive`) run per example: gradc cannot see that they are
    elementwise, and a function that is not would mix the examples."""
    if prim.name in RULES:
        return RULES[prim.name]
    if prim.family == "user":
        return None
    if prim.elementwise:
        return elementwise
    return None


# --- helpers ---------------------------------------------------------------------------------


def move_axis(x: Value, src: int, dst: int) -> Value:
    """x with axis src moved to position dst (np.moveaxis)."""
    src, dst = src % x.ndim, dst % x.ndim
    if src == dst:
        return x
    order = [i for i in range(x.ndim) if i != src]
    order.insert(dst, src)
    return ops.transpose(x, axes=tuple(order))


def lead(x: Value, rank: int) -> Value:
    """A batched x (B, *s) with axes of length 1 inserted after the batch axis, so that it has
    1 + rank axes: the example part then broadcasts against rank-`rank` arrays as s did."""
    extra = rank - (x.ndim - 1)
    if extra <= 0:
        return x
    return ops.expand_dims(x, axis=tuple(range(1, 1 + extra)))


def full(b, x: Value, is_batched: bool) -> Value:
    """x with a leading batch axis: a shared operand broadcast along it."""
    return b.batched(x, is_batched)


def shift(axis):
    """Axes of an example in the batched array (one further right)."""
    if axis is None:
        return None
    if isinstance(axis, tuple):
        return tuple(a + 1 for a in axis)
    return axis + 1


def bind_like(op, *operands, **changes):
    params = dict(op.params)
    params.update(changes)
    return getattr(ops, op.prim.name)(*operands, **params)


# --- elementwise: broadcast the examples' operands ----------------------------------------------


def elementwise(b, op, args, batched):
    rank = op.out.ndim
    operands = [lead(a, rank) if f else a for a, f in zip(args, batched)]
    return bind_like(op, *operands)


@rule("cast")
def _cast(b, op, args, batched):
    return bind_like(op, args[0], scalar=False)  # a batched operand is an array


@rule("round_float")
def _round_float(b, op, args, batched):
    return bind_like(op, args[0], batched=True)  # Python's round of each example's float


for _name in ("zeros_like", "copy", "mod"):
    RULES[_name] = elementwise


# --- reductions and scans: the example's axes move one to the right -----------------------------


@rule("sum", "mean", "max", "min", "prod", "logsumexp")
def _reduce(b, op, args, batched):
    x = op.inputs[0]
    axis = op.params["axis"]
    axis = tuple(range(1, x.ndim + 1)) if axis is None else shift(axis)
    return bind_like(op, args[0], axis=axis)


@rule("vector_norm")
def _norm(b, op, args, batched):
    return bind_like(op, args[0], axis=shift(op.params["axis"]))


@rule("argmax", "argmin")
def _arg(b, op, args, batched):
    x, axis, keepdims = op.inputs[0], op.params["axis"], op.params["keepdims"]
    if x.ndim == 0:
        raise Declined("argmax of a 0-d array")
    if axis is not None:
        return bind_like(op, args[0], axis=axis + 1)
    flat = ops.reshape(args[0], shape=(b.size, x.aval.size))
    out = bind_like(op, flat, axis=1, keepdims=False)
    return ops.reshape(out, shape=(b.size,) + (1,) * x.ndim) if keepdims else out


@rule("cumsum", "cumprod", "sort", "partition")
def _scan(b, op, args, batched):
    return bind_like(op, args[0], axis=op.params["axis"] + 1)


@rule("sort_apply", "sort_unapply", "partition_apply", "partition_unapply")
def _sort_pair(b, op, args, batched):
    h, x = (full(b, a, f) for a, f in zip(args, batched))
    return bind_like(op, h, x, axis=op.params["axis"] + 1)


@rule("softmax", "log_softmax")
def _softmax(b, op, args, batched):
    if op.inputs[0].ndim == 0:
        raise Declined("softmax of a 0-d array")
    return bind_like(op, args[0], axis=op.params["axis"] + 1)


@rule("sum_to")
def _sum_to(b, op, args, batched):
    x, shape = args[0], op.params["shape"]
    lead_axes = len(op.inputs[0].shape) - len(shape)
    if lead_axes:
        x = ops.sum(x, axis=tuple(range(1, 1 + lead_axes)))
    target = (b.size,) + tuple(shape)
    return x if x.shape == target else ops.sum_to(x, shape=target)


# --- shapes ---------------------------------------------------------------------------------


@rule("transpose")
def _transpose(b, op, args, batched):
    return ops.transpose(args[0], axes=(0,) + shift(op.params["axes"]))


@rule("reshape")
def _reshape(b, op, args, batched):
    return ops.reshape(args[0], shape=(b.size,) + tuple(op.params["shape"]))


@rule("broadcast_to")
def _broadcast_to(b, op, args, batched):
    shape = tuple(op.params["shape"])
    return ops.broadcast_to(lead(args[0], len(shape)), shape=(b.size,) + shape)


@rule("expand_dims")
def _expand_dims(b, op, args, batched):
    return ops.expand_dims(args[0], axis=shift(op.params["axis"]))


@rule("concatenate")
def _concatenate(b, op, args, batched):
    return ops.concatenate(*(full(b, a, f) for a, f in zip(args, batched)), axis=op.params["axis"] + 1)


# --- products -------------------------------------------------------------------------------


@rule("matmul")
def _matmul(b, op, args, batched):
    """Batched operands stay matmul operands: NumPy's matmul broadcasts over leading axes. A
    1-D operand of a batch becomes a stack of rows (on the left) or of columns (on the right),
    except where one product of a matrix and the batch as a matrix does it."""
    x, y = args
    bx, by = batched
    nx, ny = op.inputs[0].ndim, op.inputs[1].ndim
    k = op.inputs[0].shape[-1]
    if nx >= 2 and ny >= 2:
        n = max(nx, ny)
        return (lead(x, n) if bx else x) @ (lead(y, n) if by else y)
    if nx == 1 and ny == 1:
        if bx and by:
            return ops.einsum(x, y, subscripts="ij,ij->i")  # a dot product per example
        return x @ y if bx else y @ x
    if ny == 1:
        if not by:
            return x @ y  # (B, ..., m, k) @ (k,)
        if not bx and nx == 2:
            return y @ ops.transpose(x, axes=None)  # (B, k) @ (k, m): one product
        cols = ops.reshape(y, shape=(b.size,) + (1,) * (nx - 2) + (k, 1))
        return ops.getitem((lead(x, nx) if bx else x) @ cols, index=(Ellipsis, 0))
    if not bx:
        return x @ y  # (k,) @ (B, ..., k, n)
    if not by and ny == 2:
        return x @ y  # (B, k) @ (k, n): one product
    rows = ops.reshape(x, shape=(b.size,) + (1,) * (ny - 2) + (1, k))
    return ops.getitem(rows @ y, index=(Ellipsis, 0, slice(None)))


@rule("outer")
def _outer(b, op, args, batched):
    """np.outer(x, y) is x.ravel()[:, None] * y.ravel()[None, :]: the same product per example."""
    (x, y), (bx, by) = args, batched
    m, n = op.inputs[0].aval.size, op.inputs[1].aval.size
    col = ops.reshape(x, shape=((b.size,) if bx else ()) + (m, 1))
    row = ops.reshape(y, shape=((b.size, 1) if by else ()) + (n,))
    return col * row


@rule("einsum")
def _einsum(b, op, args, batched):
    ins, out = op.params["subscripts"].split("->")
    terms = ins.split(",")
    letter = next(c for c in string.ascii_letters if c not in op.params["subscripts"])
    terms = [letter + t if f else t for t, f in zip(terms, batched)]
    return ops.einsum(*args, subscripts=",".join(terms) + "->" + letter + out)


# --- matrix functions: NumPy's linalg batches over leading axes ------------------------------------


@rule("inv", "det", "logabsdet", "slogdet_sign", "cholesky", "eigh_values", "eigh_vectors",
      "svd_s", "svd_u", "svd_vh", "pinv", "eig_values", "eig_vectors")
def _stacked(b, op, args, batched):
    return bind_like(op, args[0])


@rule("solve")
def _solve(b, op, args, batched):
    (a, r), (ba, br) = args, batched
    na, nr = op.inputs[0].ndim, op.inputs[1].ndim
    if nr == 1:
        if not br:
            return ops.solve(a, r)  # r stays a vector: one per matrix of the batch
        m = op.inputs[1].shape[0]
        cols = ops.reshape(r, shape=(b.size,) + (1,) * (na - 2) + (m, 1))
        return ops.getitem(ops.solve(lead(a, na) if ba else a, cols), index=(Ellipsis, 0))
    n = max(na, nr)
    return ops.solve(lead(a, n) if ba else a, lead(r, n) if br else r)


# --- indexing -------------------------------------------------------------------------------


@rule("getitem")
def _getitem(b, op, args, batched):
    return ops.getitem(args[0], index=(slice(None),) + tuple(op.params["index"]))


@rule("scatter")
def _scatter(b, op, args, batched):
    index, shape = tuple(op.params["index"]), tuple(op.params["shape"])
    region = np.broadcast_to(np.empty((), dtype=op.out.dtype), shape)[index].shape
    return ops.scatter(lead(args[0], len(region)), index=(slice(None),) + index, shape=(b.size,) + shape)


def _position(b, x_shape, x_axis, dtype, template, arrays, array_axes) -> int:
    """Where x[template] puts the batch axis (x's axis `x_axis`, None if x is shared, and axis 0
    of the index arrays whose `array_axes` entry is 0): NumPy moves the axes of separated
    advanced indices to the front, so it is not always first. Read from the shape NumPy gives
    with a batch length no other axis has."""
    probe = 2 + max([b.size, *x_shape, *(d for a in arrays for d in a.shape)])
    shape = list(x_shape)
    if x_axis is not None:
        shape[x_axis] = probe
    avals = [Aval(((probe,) + a.shape[1:]) if axis == 0 else a.shape, a.dtype)
             for a, axis in zip(arrays, array_axes)]
    out = list(advanced_shape(tuple(shape), dtype, template, avals))
    if out.count(probe) != 1:
        raise Declined("cannot place the batch axis")
    return out.index(probe)


def _batch_index(b, op, arrays, batched_arrays, template, x_ndim):
    """An index array over the batch, placed just before the first advanced index: returns the
    index arrays (the examples' ones with their batch axis aligned to it, then it), the new
    template, and the axis of x the batch must stand at (the slices before it consume as many)."""
    template = _spelled_out(tuple(template), x_ndim)
    first = next((i for i, item in enumerate(template) if _advanced(item)), None)
    if first is None or any(item is Ellipsis for item in template[:first]):
        raise Declined("no index array")
    at = sum(isinstance(item, slice) for item in template[:first])
    k = len(np.broadcast_shapes(*(a.shape for a in _slots(op))))
    lined = [lead(a, k) if f else a for a, f in zip(arrays, batched_arrays)]
    over = Const(np.arange(b.size, dtype=np.intp).reshape((b.size,) + (1,) * k))
    tmpl = tuple(template[:first]) + (Slot(len(arrays)),) + tuple(template[first:])
    axes = [0 if f else None for f in batched_arrays] + [0]
    return lined + [over], axes, tmpl, at


def _advanced(item) -> bool:
    return isinstance(item, Slot) or (isinstance(item, (int, np.integer)) and not isinstance(item, bool))


def _spelled_out(template: tuple, x_ndim: int) -> tuple:
    """An Ellipsis before the first index array written as the full slices it stands for (it
    cannot separate advanced indices there, so NumPy reads both the same)."""
    if Ellipsis not in template:
        return template
    at = template.index(Ellipsis)
    if any(_advanced(item) for item in template[:at]):
        return template
    used = sum(1 for item in template if item is not None and item is not Ellipsis)
    return template[:at] + (slice(None),) * (x_ndim - used) + template[at + 1:]


def _slots(op):
    """The original index arrays of an indexing op (its operands after the data ones)."""
    first = 1 if op.prim.name in ("gather", "gather_last", "scatter_add") else 2
    return op.inputs[first:]


def _region_value(b, v: Value, is_batched: bool, region_rank: int, position: int) -> Value:
    """A value written into (or added at) a batched index region, with its batch axis at
    `position` of the region; a shared one as it is where it broadcasts unchanged."""
    if not is_batched:
        if position == 0 or v.ndim == 0:
            return v
        v = ops.reshape(v, shape=(1,) * (region_rank - v.ndim + 1) + v.shape)
    else:
        v = lead(v, region_rank)
    return move_axis(v, 0, position)


def _indexed(b, op, arrays, barr, template, x_shape):
    """(index arrays, template, axis of x for the batch, where the batch lands in x[index])."""
    if any(barr):
        operands, axes, tmpl, at = _batch_index(b, op, arrays, barr, template, len(x_shape))
    else:
        operands, axes, tmpl, at = arrays, [None] * len(arrays), (slice(None),) + tuple(template), 0
    shape = list(x_shape)
    shape.insert(at, b.size)
    if not operands:
        return operands, tmpl, at, 0  # a basic index: the batch stays first
    return operands, tmpl, at, _position(b, tuple(shape), at, op.out.dtype, tmpl, operands, axes)


@rule("gather", "gather_last")
def _gather(b, op, args, batched):
    x, *arrays = args
    bx, *barr = batched
    template = tuple(op.params["index"])
    if not bx and op.prim.name == "gather":  # shared data: x[the examples' indices, aligned]
        # (not gather_last: which of repeated indices is the last is a question per example)
        k = len(np.broadcast_shapes(*(a.shape for a in _slots(op))))
        lined = [lead(a, k) if f else a for a, f in zip(arrays, barr)]
        out = bind_like(op, x, *lined, index=template)
        axes = [0 if f else None for f in barr]
        return move_axis(out, _position(b, x.shape, None, x.dtype, template, lined, axes), 0)
    operands, tmpl, at, lands = _indexed(b, op, arrays, barr, template, op.inputs[0].shape)
    out = bind_like(op, move_axis(full(b, x, bx), 0, at), *operands, index=tmpl)
    return move_axis(out, lands, 0)


@rule("scatter_add")
def _scatter_add(b, op, args, batched):
    g, *arrays = args
    bg, *barr = batched
    template, shape = tuple(op.params["index"]), tuple(op.params["shape"])
    region = advanced_shape(shape, op.out.dtype, template, [a.aval for a in _slots(op)])
    operands, tmpl, at, lands = _indexed(b, op, arrays, barr, template, shape)
    target = shape[:at] + (b.size,) + shape[at:]
    out = ops.scatter_add(_region_value(b, g, bg, len(region), lands), *operands, index=tmpl, shape=target)
    return move_axis(out, at, 0)


@rule("index_set", "index_add")
def _index_update(b, op, args, batched):
    x, v, *arrays = args
    bx, bv, *barr = batched
    template, x_op = tuple(op.params["index"]), op.inputs[0]
    slots = _slots(op)
    region = (advanced_shape(x_op.shape, x_op.dtype, template, [a.aval for a in slots]) if slots else
              np.broadcast_to(np.empty((), dtype=x_op.dtype), x_op.shape)[template].shape)
    operands, tmpl, at, lands = _indexed(b, op, arrays, barr, template, x_op.shape)
    xb = move_axis(full(b, x, bx), 0, at)
    out = bind_like(op, xb, _region_value(b, v, bv, len(region), lands), *operands, index=tmpl)
    return move_axis(out, at, 0)
