"""np.gradient: NumPy's second-order central differences, written out.

Along each axis: (f[2:] - f[:-2]) / (2 dx) inside (or NumPy's weighted form for uneven
coordinates), one-sided differences of first or second order (edge_order) at the two
ends, joined with concatenate. The spacings (a scalar, or one per axis: a scalar or the
coordinates along it) must be known at compile time; the weights are computed with the
same NumPy expressions, in the same types, as np.gradient computes them, so the values
agree with NumPy's and the derivative is that of a linear map.
"""
from __future__ import annotations

import numpy as np

from ..errors import SignatureError, UnsupportedFunction
from ..ir import Const, Value
from .numpy_more import _arr, _normalize, _slice_along
from .numpy_table import _get, bind_params, concatenate


def _has_traced(x) -> bool:
    if isinstance(x, (list, tuple)):
        return any(_has_traced(i) for i in x)
    return isinstance(x, Value) and not isinstance(x, Const)


def _plain(x):
    if isinstance(x, (list, tuple)):
        return [_plain(i) for i in x]
    return x.value if isinstance(x, Const) else x


def _spacings(lw, varargs, axes, shape):
    """NumPy's dx list: per axis a scalar (even spacing) or the 1-D array of coordinate steps."""
    n = len(varargs)
    if any(_has_traced(v) for v in varargs):
        lw.fail("np.gradient(): spacings computed from the arguments are not supported; pass "
                "numbers or coordinate arrays known at compile time", UnsupportedFunction)
    varargs = [_plain(v) for v in varargs]  # NumPy's own objects: weights keep NumPy's types
    if n == 0:
        return [1.0] * len(axes)
    if n == 1 and np.ndim(varargs[0]) == 0:
        return list(varargs) * len(axes)
    if n != len(axes):
        lw.fail("np.gradient(): invalid number of arguments", SignatureError)
    dx = []
    for ax, d in zip(axes, varargs):
        arr = np.asanyarray(d)
        if arr.ndim == 0:
            dx.append(d)
            continue
        if arr.ndim != 1:
            lw.fail("np.gradient(): distances must be either scalars or 1d", SignatureError)
        if len(arr) != shape[ax]:
            lw.fail("np.gradient(): when 1d, distances must match the length of the corresponding "
                    "dimension", SignatureError)
        if arr.dtype.kind not in "iuf":
            lw.fail(f"np.gradient(): coordinates of dtype {arr.dtype} are not supported", UnsupportedFunction)
        if np.issubdtype(arr.dtype, np.integer):
            arr = arr.astype(np.float64)
        diffx = np.diff(arr)
        dx.append(diffx[0] if (diffx == diffx[0]).all() else diffx)
    return dx


def _along(lw, w, axis, ndim):
    """Weights w (NumPy values) as an operand that broadcasts along `axis`."""
    if np.ndim(w) == 0:
        return w
    shape = [1] * ndim
    shape[axis] = -1
    return np.reshape(w, shape)


def _weighted(lw, terms):
    """a * f1 + b * f2 + c * f3, left to right as NumPy evaluates it."""
    out = None
    for w, f in terms:
        t = lw.bind("mul", w, f)
        out = t if out is None else lw.bind("add", out, t)
    return out


def _one_axis(lw, f, axis, ax_dx, edge_order, otype):
    nd = lw.ndim(f)
    n = lw.shape(f)[axis]

    def part(sl):
        return _slice_along(lw, f, axis, sl)

    uniform = np.ndim(ax_dx) == 0
    if uniform:
        inner = lw.bind("div", lw.bind("sub", part(slice(2, None)), part(slice(None, -2))), 2.0 * ax_dx)
    else:
        dx1, dx2 = ax_dx[0:-1], ax_dx[1:]
        a = -(dx2) / (dx1 * (dx1 + dx2))
        b = (dx2 - dx1) / (dx1 * dx2)
        c = dx1 / (dx2 * (dx1 + dx2))
        inner = _weighted(lw, [(_along(lw, a, axis, nd), part(slice(None, -2))),
                               (_along(lw, b, axis, nd), part(slice(1, -1))),
                               (_along(lw, c, axis, nd), part(slice(2, None)))])
    if edge_order == 1:
        dx_0 = ax_dx if uniform else ax_dx[0]
        dx_n = ax_dx if uniform else ax_dx[-1]
        first = lw.bind("div", lw.bind("sub", part(slice(1, 2)), part(slice(0, 1))), dx_0)
        last = lw.bind("div", lw.bind("sub", part(slice(n - 1, n)), part(slice(n - 2, n - 1))), dx_n)
    else:
        if uniform:
            a, b, c = -1.5 / ax_dx, 2. / ax_dx, -0.5 / ax_dx
        else:
            dx1, dx2 = ax_dx[0], ax_dx[1]
            a = -(2. * dx1 + dx2) / (dx1 * (dx1 + dx2))
            b = (dx1 + dx2) / (dx1 * dx2)
            c = - dx1 / (dx2 * (dx1 + dx2))
        first = _weighted(lw, [(a, part(slice(0, 1))), (b, part(slice(1, 2))), (c, part(slice(2, 3)))])
        if uniform:
            a, b, c = 0.5 / ax_dx, -2. / ax_dx, 1.5 / ax_dx
        else:
            dx1, dx2 = ax_dx[-2], ax_dx[-1]
            a = (dx2) / (dx1 * (dx1 + dx2))
            b = - (dx2 + dx1) / (dx1 * dx2)
            c = (2. * dx2 + dx1) / (dx2 * (dx1 + dx2))
        last = _weighted(lw, [(a, part(slice(n - 3, n - 2))), (b, part(slice(n - 2, n - 1))),
                              (c, part(slice(n - 1, n)))])
    pieces = [p if lw.dtype(p) == otype else lw.bind("cast", p, dtype=otype)  # stored into out (otype)
              for p in (first, inner, last)]
    return concatenate(lw, pieces, axis)


def _gradient(lw, args, kw):
    g = bind_params(lw, np.gradient, "np.gradient", args, kw, ("f", "varargs", "axis", "edge_order"))
    f = _arr(lw, g["f"])
    if f.dtype.kind not in "iuf":
        lw.fail(f"np.gradient() of {f.dtype} arrays is not supported", UnsupportedFunction)
    nd = lw.ndim(f)
    axis = lw.static(_get(g, "axis"), "axis")
    axes = tuple(range(nd)) if axis is None else _normalize(lw, "np.gradient", axis, nd)
    dx = _spacings(lw, tuple(g.get("varargs", ())), axes, lw.shape(f))
    edge_order = lw.static(_get(g, "edge_order", 1), "edge_order")
    if edge_order not in (1, 2) or isinstance(edge_order, bool):
        lw.fail("np.gradient(): 'edge_order' greater than 2 not supported" if edge_order > 2 else
                f"np.gradient(): edge_order must be 1 or 2, not {edge_order!r}", SignatureError)
    otype = f.dtype if f.dtype.kind == "f" else np.dtype(np.float64)
    if f.dtype.kind in "iu":
        f = lw.bind("cast", f, dtype=np.dtype(np.float64))
    out = []
    for ax, ax_dx in zip(axes, dx):
        if lw.shape(f)[ax] < edge_order + 1:
            lw.fail("np.gradient(): Shape of array too small to calculate a numerical gradient, at least "
                    "(edge_order + 1) elements are required.", SignatureError)
        out.append(_one_axis(lw, f, ax, ax_dx, edge_order, otype))
    return out[0] if len(axes) == 1 else tuple(out)


TABLE = {np.gradient: _gradient}
