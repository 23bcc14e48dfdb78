"""Arrays cut into pieces and assembled from pieces: np.column_stack, np.row_stack, np.dstack,
np.vsplit / np.hsplit / np.dsplit, np.select, np.lib.stride_tricks.sliding_window_view, and
np.triu_indices_from / np.tril_indices_from (which read only a shape).

Each is NumPy's own definition written with gradc's existing lowerings (stack, concatenate,
split, where, gathers with constant index arrays), so values match NumPy's and derivatives
follow from the primitives' rules. Merged into numpy_table's dicts on import.
"""
from __future__ import annotations

import operator

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import SignatureError, UnsupportedFunction
from ..ir import Const, Value
from .numpy_more import _arr, _index, _split
from .numpy_table import _get, _sequence, _vstack, bind_params, concatenate


def _column_stack(lw, args, kw):
    """1-D (and 0-d) pieces become columns; the rest are joined along axis 1."""
    g = bind_params(lw, np.column_stack, "np.column_stack", args, kw, ("tup",))
    parts = []
    for p in _sequence(lw, "np.column_stack", g["tup"]):
        if lw.ndim(p) < 2:
            n = lw.shape(p)[0] if lw.ndim(p) == 1 else 1
            p = lw.bind("reshape", p, shape=(n, 1))
        parts.append(p)
    return concatenate(lw, parts, 1)


def _dstack(lw, args, kw):
    """Each piece as np.atleast_3d makes it ((n,) -> (1, n, 1), (m, n) -> (m, n, 1)), joined on axis 2."""
    g = bind_params(lw, np.dstack, "np.dstack", args, kw, ("tup",))
    parts = []
    for p in _sequence(lw, "np.dstack", g["tup"]):
        shape = tuple(lw.shape(p))
        if len(shape) < 3:
            shape = {0: (1, 1, 1), 1: (1,) + shape + (1,), 2: shape + (1,)}[len(shape)]
            p = lw.bind("reshape", p, shape=shape)
        parts.append(p)
    return concatenate(lw, parts, 2)


def _row_stack(lw, args, kw):
    """np.row_stack is np.vstack (deprecated by NumPy 2.0, still there)."""
    g = bind_params(lw, np.row_stack, "np.row_stack", args, kw, ("tup",))
    return _vstack(lw, (g["tup"],), {})


def _split_on(fn, axis_of, need):
    what = "np." + fn.__name__
    split = _split(np.split, True)

    def lower(lw, args, kw):
        g = bind_params(lw, fn, what, args, kw, ("ary", "indices_or_sections"))
        x = _arr(lw, g["ary"])
        if lw.ndim(x) < need:
            lw.fail(f"{what}() only works on arrays of {need} or more dimensions", SignatureError)
        return split(lw, (x, g["indices_or_sections"]), {"axis": axis_of(lw.ndim(x))})
    return lower


def _select(lw, args, kw):
    """NumPy's select: the default, overwritten by each choice where its condition holds, from
    the last condition to the first (so the first true condition wins): a chain of np.where.
    Shape and dtype are NumPy's, found by running np.select on stand-ins of the operands."""
    g = bind_params(lw, np.select, "np.select", args, kw, ("condlist", "choicelist", "default"))
    conds, choices = g["condlist"], g["choicelist"]
    default = _get(g, "default", 0)
    for name, seq in (("condlist", conds), ("choicelist", choices)):
        if not isinstance(seq, (list, tuple)):
            lw.fail(f"np.select(): {name} must be a list or tuple of arrays", UnsupportedFunction)
    if isinstance(default, (list, tuple)):
        default = _arr(lw, default)

    def operand(v):
        if type(v) in (int, float, bool):
            return v  # a Python scalar: weak, as np.select keeps it
        return _arr(lw, v)

    conds = [_arr(lw, c) for c in conds]
    choices = [operand(c) for c in choices]
    default = operand(default)

    def stand_in(v):  # a Python-float argument is weak here, as a written 0.5 is
        if not isinstance(v, Value):
            return v
        if isinstance(v, Const):
            return v.value
        return 0.0 if v.pytype is float else np.zeros(v.shape, v.dtype)
    try:
        probe = np.select([stand_in(c) for c in conds], [stand_in(c) for c in choices], stand_in(default))
    except (ValueError, TypeError) as e:
        lw.fail(f"np.select(): {e}", SignatureError)
    out = default
    for cond, choice in zip(reversed(conds), reversed(choices)):
        out = lw.bind("where", cond, choice, out)
    if not isinstance(out, Value):
        out = Const(np.asarray(out))
    if tuple(lw.shape(out)) != probe.shape:
        if np.broadcast_shapes(tuple(lw.shape(out)), probe.shape) != probe.shape:
            lw.fail(f"np.select(): the conditions and choices broadcast to {tuple(lw.shape(out))}, "
                    f"not to NumPy's result shape {probe.shape}", SignatureError)
        out = lw.bind("broadcast_to", out, shape=probe.shape)
    return out if lw.dtype(out) == probe.dtype else lw.bind("cast", out, dtype=probe.dtype)


def _sliding_window_view(lw, args, kw):
    """Windows as a gather: along an axis of length n with window w, positions i + j for
    i < n - w + 1 (in the axis's place) and j < w (a new last axis), one axis at a time."""
    from .numpy_indexing import subscript  # (numpy_indexing imports numpy_table, which imports this)
    what = "np.lib.stride_tricks.sliding_window_view"
    g = bind_params(lw, sliding_window_view, what, args, kw, ("x", "window_shape", "axis", "writeable", "subok"))
    if lw.static(_get(g, "writeable", False), "writeable"):
        lw.fail(f"{what}(): writeable=True (windows that overlap in memory) is not supported",
                UnsupportedFunction)
    if lw.static(_get(g, "subok", False), "subok"):
        lw.fail(f"{what}(): subok=True is not supported (gradc's arrays are ndarrays)", UnsupportedFunction)
    x = _arr(lw, g["x"])
    window = lw.static(g["window_shape"], "window_shape")
    window = tuple(window) if np.iterable(window) else (window,)
    axis = lw.static(_get(g, "axis"), "axis")
    ndim = lw.ndim(x)
    if axis is None:
        axis = tuple(range(ndim))
        if len(window) != ndim:
            lw.fail(f"{what}(): Since axis is `None`, must provide window_shape for all dimensions of "
                    f"`x`; got {len(window)} window_shape elements and `x.ndim` is {ndim}.", SignatureError)
    else:
        axis = tuple(axis) if np.iterable(axis) else (axis,)
        if len(window) != len(axis):
            lw.fail(f"{what}(): Must provide matching length window_shape and axis; got {len(window)} "
                    f"window_shape elements and {len(axis)} axes elements.", SignatureError)
    try:
        sizes = [operator.index(w) for w in window]
    except TypeError:
        lw.fail(f"{what}(): window_shape must be integers, not {window!r}", SignatureError)
    if any(w < 0 for w in sizes):
        lw.fail(f"{what}(): `window_shape` cannot contain negative values", SignatureError)
    for a, w in zip(axis, sizes):
        a = _index(lw, what, a, ndim)
        n = lw.shape(x)[a]
        if n < w:
            lw.fail(f"{what}(): window shape cannot be larger than input array shape", SignatureError)
        positions = np.arange(n - w + 1)[:, None] + np.arange(w)[None, :]
        x, _ = subscript(lw, x, (slice(None),) * a + (Const(positions),))
        order = list(range(lw.ndim(x)))
        order.append(order.pop(a + 1))  # the window axis goes last
        x = lw.bind("transpose", x, axes=tuple(order))
    return x


def _indices_from(fn, base):
    """np.triu_indices_from(arr, k): constant indices from arr's shape (arr may be traced)."""
    what = "np." + fn.__name__

    def lower(lw, args, kw):
        g = bind_params(lw, fn, what, args, kw, ("arr", "k"))
        arr = _arr(lw, g["arr"])
        if lw.ndim(arr) != 2:
            lw.fail(f"{what}(): input array must be 2-d", SignatureError)
        k = lw.static(_get(g, "k", 0), "k")
        rows, cols = lw.shape(arr)
        return base(rows, k=k, m=cols)
    return lower


TABLE = {
    np.column_stack: _column_stack, np.dstack: _dstack, np.row_stack: _row_stack,
    np.vsplit: _split_on(np.vsplit, lambda nd: 0, 2),
    np.hsplit: _split_on(np.hsplit, lambda nd: 1 if nd > 1 else 0, 1),
    np.dsplit: _split_on(np.dsplit, lambda nd: 2, 3),
    np.select: _select, sliding_window_view: _sliding_window_view,
    np.triu_indices_from: _indices_from(np.triu_indices_from, np.triu_indices),
    np.tril_indices_from: _indices_from(np.tril_indices_from, np.tril_indices),
}
# the windows are a read-only view of x in NumPy: an in-place update of them raises there
KIND = {sliding_window_view: "readonly"}
