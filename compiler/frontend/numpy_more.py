"""More of NumPy: statistics, scans, sorting, more ufuncs and shape functions.

Each entry binds against NumPy's real signature (numpy_table.bind_params) and lowers to
registered primitives, either one primitive (`np.cumsum` -> cumsum, `np.arctan2` -> arctan2)
or the composition NumPy itself computes (`np.var` is the mean of squared deviations divided
by n - ddof, `np.tile` is a reshape of a broadcast), so values agree with NumPy and the
derivative follows from the primitives' rules. Merged into numpy_table's dicts on import.
"""
from __future__ import annotations

import operator

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from ..errors import SignatureError, UnsupportedFunction
from ..ir import Const, Value
from .numpy_table import (NOVALUE, _check_dtype_param, _get, _operand, bind_params, concatenate,
                          reshape, signature)

# -- helpers ------------------------------------------------------------------------------


def _arr(lw, x):
    """x as an IR operand: Values as they are, anything else as np.asarray makes it."""
    return x if isinstance(x, Value) else _operand(lw, x)


def _axis(lw, given, name="axis", default=None):
    return lw.static(_get(given, name, default), name)


def _normalize(lw, what, axis, ndim):
    try:
        return normalize_axis_tuple(axis, ndim)
    except (TypeError, ValueError, np.exceptions.AxisError) as e:
        lw.fail(f"{what}(): {e}", SignatureError)


def _index(lw, what, axis, ndim):
    try:
        return normalize_axis_index(operator.index(axis), ndim)
    except (TypeError, ValueError, np.exceptions.AxisError) as e:
        lw.fail(f"{what}(): {e}", SignatureError)


def _reduced_count(shape, axes) -> int:
    return int(np.prod([shape[i] for i in axes], dtype=np.int64))


def _float_dtype(lw, x):
    """NumPy's statistics compute integers and booleans in float64."""
    return lw.dtype(x) if lw.dtype(x).kind in "fc" else np.dtype(np.float64)


def _as_float(lw, x):
    x = _arr(lw, x)
    return x if lw.dtype(x).kind == "f" else lw.bind("cast", x, dtype=np.dtype(np.float64))


def _ufunc_dtype(fn, *operands):
    """The result dtype of ufunc fn on these operands (Python scalars stay weak, NEP 50)."""
    probes = []
    for x in operands:
        if isinstance(x, Value) and not isinstance(x, Const) and x.pytype is float:
            probes.append(1.0)  # a Python-float argument: weak too
        elif isinstance(x, Value) and not (isinstance(x, Const) and x.weak):
            probes.append(np.ones((1,) * x.ndim, dtype=x.dtype))
        else:
            probes.append(x.value if isinstance(x, Const) else x)
    with np.errstate(all="ignore"):
        return np.asarray(fn(*probes)).dtype


def _ufunc_arg(lw, x):
    """A ufunc operand: a Python scalar stays a (weak) Python scalar, as NEP 50 has it;
    anything else as np.asarray makes it."""
    if isinstance(x, (bool, int, float)) and not isinstance(x, np.generic):
        return Const(x)
    return _arr(lw, x)


def _cast(lw, x, dtype):
    x = _arr(lw, x)
    return x if lw.dtype(x) == dtype else lw.bind("cast", x, dtype=np.dtype(dtype))


def _flatten(lw, x):
    return lw.bind("reshape", x, shape=(-1,))


def _slice_along(lw, x, axis, sl):
    return lw.bind("getitem", x, index=(slice(None),) * axis + (sl,))


def _ufunc_lower(fn, prim, names):
    def lower(lw, args, kw):
        g = bind_params(lw, fn, "np." + fn.__name__, args, kw, names)
        return lw.bind(prim, *(g[n] for n in names))
    return lower


# -- variance and standard deviation ----------------------------------------------------


def variance(lw, x, axis, ddof, keepdims, what, root=False):
    """NumPy's _var: sum(|x - mean|^2) / max(n - ddof, 0); with `root`, its square root (std).

    Where each reduction sees one element (n = 1) the deviation x - mean is identically zero,
    so std is |x - mean| / sqrt(1 - ddof): the same value as NumPy's (0, or NaN where x is not
    finite) with the true derivative 0, where sqrt'(0) * 0 would give NaN."""
    x = _as_float(lw, x)
    ndim = lw.ndim(x)
    axes = tuple(range(ndim)) if axis is None else _normalize(lw, what, axis, ndim)
    n = _reduced_count(lw.shape(x), axes)
    if lw.dtype(x) == np.float16:  # NumPy's _var sums float16 data in float16 (np.mean: float32)
        total = lw.bind("sum", x, axis=axes, keepdims=True)
        mean = lw.bind("cast", lw.bind("div", total, np.intp(n)), dtype=np.dtype(np.float16))
    else:
        mean = lw.bind("mean", x, axis=axes, keepdims=True)
    d = lw.bind("sub", x, mean)
    if root and n == 1 and n - ddof > 0:
        dev = lw.bind("sum", lw.bind("abs", d), axis=axes, keepdims=bool(keepdims))
        return dev if ddof == 0 else lw.bind("div", dev, float(np.sqrt(n - ddof)))
    ss = lw.bind("sum", lw.bind("mul", d, d), axis=axes, keepdims=bool(keepdims))
    v = lw.bind("div", ss, max(n - ddof, 0))
    return lw.bind("sqrt", v) if root else v


def _ddof(lw, what, given):
    ddof = lw.static(_get(given, "ddof", 0), "ddof")
    correction = _get(given, "correction", NOVALUE)
    if correction is not NOVALUE:
        if "ddof" in given and ddof != 0:
            lw.fail(f"{what}(): ddof and correction can't be provided simultaneously", SignatureError)
        ddof = lw.static(correction, "correction")
    if isinstance(ddof, bool) or not isinstance(ddof, (int, float, np.integer, np.floating)):
        lw.fail(f"{what}(): ddof must be a number, not {ddof!r}", SignatureError)
    return ddof


def _var_like(fn, root):
    what = "np." + fn.__name__

    def lower(lw, args, kw):
        g = bind_params(lw, fn, what, args, kw, ("a", "axis", "dtype", "ddof", "keepdims", "correction"))
        _check_dtype_param(lw, what, g["a"], g)
        return variance(lw, g["a"], _axis(lw, g), _ddof(lw, what, g),
                        lw.static(_get(g, "keepdims", False), "keepdims"), what, root)
    return lower


def _m_var(axis=None, dtype=None, out=None, ddof=0, keepdims=NOVALUE, *, where=NOVALUE, mean=NOVALUE,
           correction=NOVALUE): ...


def _method_var_like(name, root):
    def lower(lw, x, args, kw):
        g = bind_params(lw, None, f".{name}", args, kw, ("axis", "dtype", "ddof", "keepdims", "correction"),
                        sig=signature(_m_var))
        _check_dtype_param(lw, f".{name}", x, g)
        return variance(lw, x, _axis(lw, g), _ddof(lw, f".{name}", g),
                        lw.static(_get(g, "keepdims", False), "keepdims"), f".{name}", root)
    return lower


# -- sums with masks, NaN-ignoring reductions, prod, average, median --------------------------


def _masked(lw, x, where):
    if where is None or where is True:
        return x
    return lw.bind("where", where, x, 0)


def _sum(lw, x, axis, keepdims, where=None, initial=None):
    s = lw.bind("sum", _masked(lw, _arr(lw, x), where), axis=axis, keepdims=bool(keepdims))
    if initial is not None:
        s = lw.bind("add", s, initial)
    return s


def _sum_params(lw, what, g, x):
    _check_dtype_param(lw, what, x, g)
    where = _get(g, "where", True)
    if where is not True and not isinstance(where, Value):
        where = np.asarray(lw.static(where, "where"))
    initial = _get(g, "initial", None)
    if initial is not None:
        initial = lw.static(initial, "initial") if not isinstance(initial, Value) else initial
    return (_axis(lw, g), lw.static(_get(g, "keepdims", False), "keepdims"),
            None if where is True else where, initial)


def _np_sum(lw, args, kw):
    g = bind_params(lw, np.sum, "np.sum", args, kw, ("a", "axis", "dtype", "keepdims", "where", "initial"))
    return _sum(lw, g["a"], *_sum_params(lw, "np.sum", g, g["a"]))


def _nansum(lw, args, kw):
    g = bind_params(lw, np.nansum, "np.nansum", args, kw,
                    ("a", "axis", "dtype", "keepdims", "where", "initial"))
    x = _arr(lw, g["a"])
    axis, keepdims, where, initial = _sum_params(lw, "np.nansum", g, x)
    if lw.dtype(x).kind == "f":
        x = lw.bind("where", lw.bind("isnan", x), 0, x)
    return _sum(lw, x, axis, keepdims, where, initial)


def _mean_with_where(lw, x, axis, keepdims, where):
    x = _arr(lw, x)
    if where is None:
        return lw.bind("mean", x, axis=axis, keepdims=bool(keepdims))
    x = _as_float(lw, x)
    total = _sum(lw, x, axis, keepdims, where)
    mask = lw.bind("broadcast_to", _arr(lw, where), shape=tuple(lw.shape(x)))
    n = lw.bind("sum", lw.bind("cast", mask, dtype=lw.dtype(x)), axis=axis, keepdims=bool(keepdims))
    return lw.bind("div", total, n)


def _np_mean(lw, args, kw):
    g = bind_params(lw, np.mean, "np.mean", args, kw, ("a", "axis", "dtype", "keepdims", "where"))
    axis, keepdims, where, _ = _sum_params(lw, "np.mean", g, g["a"])
    return _mean_with_where(lw, g["a"], axis, keepdims, where)


def _nanmean(lw, args, kw):
    g = bind_params(lw, np.nanmean, "np.nanmean", args, kw, ("a", "axis", "dtype", "keepdims", "where"))
    x = _arr(lw, g["a"])
    axis, keepdims, where, _ = _sum_params(lw, "np.nanmean", g, x)
    if lw.dtype(x).kind != "f":
        return _mean_with_where(lw, x, axis, keepdims, where)
    nan = lw.bind("isnan", x)
    keep = lw.bind("logical_not", nan)
    if where is not None:
        keep = lw.bind("logical_and", keep, where)
    total = lw.bind("sum", lw.bind("where", keep, x, 0), axis=axis, keepdims=bool(keepdims))
    n = lw.bind("sum", lw.bind("cast", keep, dtype=lw.dtype(x)), axis=axis, keepdims=bool(keepdims))
    return lw.bind("div", total, n)


def _m_sum(axis=None, dtype=None, out=None, *, keepdims=NOVALUE, initial=NOVALUE, where=NOVALUE): ...
def _m_mean(axis=None, dtype=None, out=None, *, keepdims=NOVALUE, where=NOVALUE): ...
def _m_prod(axis=None, dtype=None, out=None, *, keepdims=NOVALUE, initial=NOVALUE, where=NOVALUE): ...


def _method_sum(lw, x, args, kw):
    g = bind_params(lw, None, ".sum", args, kw, ("axis", "dtype", "keepdims", "where", "initial"),
                    sig=signature(_m_sum))
    return _sum(lw, x, *_sum_params(lw, ".sum", g, x))


def _method_mean(lw, x, args, kw):
    g = bind_params(lw, None, ".mean", args, kw, ("axis", "dtype", "keepdims", "where"),
                    sig=signature(_m_mean))
    axis, keepdims, where, _ = _sum_params(lw, ".mean", g, x)
    return _mean_with_where(lw, x, axis, keepdims, where)


def _prod(lw, x, g, what):
    _check_dtype_param(lw, what, x, g)
    x = _arr(lw, x)
    where = _get(g, "where", True)
    if where is not True:
        x = lw.bind("where", where, x, 1)
    p = lw.bind("prod", x, axis=_axis(lw, g), keepdims=bool(lw.static(_get(g, "keepdims", False), "keepdims")))
    initial = _get(g, "initial", None)
    return p if initial is None else lw.bind("mul", p, initial)


def _np_prod(lw, args, kw):
    g = bind_params(lw, np.prod, "np.prod", args, kw, ("a", "axis", "dtype", "keepdims", "initial", "where"))
    return _prod(lw, g["a"], g, "np.prod")


def _method_prod(lw, x, args, kw):
    g = bind_params(lw, None, ".prod", args, kw, ("axis", "dtype", "keepdims", "initial", "where"),
                    sig=signature(_m_prod))
    return _prod(lw, x, g, ".prod")


def _average(lw, args, kw):
    g = bind_params(lw, np.average, "np.average", args, kw, ("a", "axis", "weights", "returned", "keepdims"))
    a = _arr(lw, g["a"])
    axis = _axis(lw, g)
    keepdims = bool(lw.static(_get(g, "keepdims", False), "keepdims"))
    returned = lw.static(_get(g, "returned", False), "returned")
    w = _get(g, "weights")
    if w is None:
        avg = lw.bind("mean", a, axis=axis, keepdims=keepdims)
        scl = Const(np.asarray(lw.dtype(avg).type(max(int(np.prod(lw.shape(a))), 0)
                                                     / max(int(np.prod(lw.shape(avg))), 1))))
        return (avg, scl) if returned else avg
    w = _arr(lw, w)
    # NumPy's average: float64 for integer/bool data, else the data's and weights' type
    dt = np.result_type(lw.dtype(a), lw.dtype(w), *(("f8",) if lw.dtype(a).kind in "biu" else ()))
    if tuple(lw.shape(a)) != tuple(lw.shape(w)):
        if axis is None:
            lw.fail("np.average(): axis must be specified when shapes of a and weights differ", SignatureError)
        if lw.ndim(w) != 1:
            lw.fail("np.average(): 1D weights expected when shapes of a and weights differ", SignatureError)
        axes = _normalize(lw, "np.average", axis, lw.ndim(a))
        if len(axes) != 1 or lw.shape(w)[0] != lw.shape(a)[axes[0]]:
            lw.fail("np.average(): length of weights not compatible with specified axis", SignatureError)
        shape = [1] * lw.ndim(a)
        shape[axes[0]] = lw.shape(w)[0]
        w = lw.bind("broadcast_to", lw.bind("reshape", w, shape=tuple(shape)), shape=tuple(lw.shape(a)))
    a, w = _cast(lw, a, dt), _cast(lw, w, dt)
    scl = lw.bind("sum", w, axis=axis, keepdims=keepdims)
    avg = lw.bind("div", lw.bind("sum", lw.bind("mul", a, w), axis=axis, keepdims=keepdims), scl)
    if returned:
        if tuple(lw.shape(scl)) != tuple(lw.shape(avg)):
            scl = lw.bind("broadcast_to", scl, shape=tuple(lw.shape(avg)))
        return avg, scl
    return avg


def _median(lw, args, kw):
    g = bind_params(lw, np.median, "np.median", args, kw, ("a", "axis", "overwrite_input", "keepdims"))
    x = _as_float(lw, g["a"])
    ndim = lw.ndim(x)
    axis = _axis(lw, g)
    keepdims = bool(lw.static(_get(g, "keepdims", False), "keepdims"))
    axes = tuple(range(ndim)) if axis is None else _normalize(lw, "np.median", axis, ndim)
    kept = [i for i in range(ndim) if i not in axes]
    shape = tuple(lw.shape(x))
    perm = tuple(kept) + tuple(axes)
    if perm != tuple(range(ndim)):
        x = lw.bind("transpose", x, axes=perm)
    n = _reduced_count(shape, axes)
    if n == 0:
        lw.fail("np.median() of an empty array is NaN (and a warning): not supported", UnsupportedFunction)
    x = lw.bind("reshape", x, shape=tuple(shape[i] for i in kept) + (n,))
    s = lw.bind("sort", x, axis=-1)
    half = n // 2
    if n % 2:
        med = lw.bind("getitem", s, index=(Ellipsis, half))
    else:
        med = lw.bind("mean", lw.bind("getitem", s, index=(Ellipsis, slice(half - 1, half + 1))),
                      axis=(len(kept),), keepdims=False)
    last = lw.bind("getitem", s, index=(Ellipsis, n - 1))  # NaNs sort last: NumPy's median is NaN then
    med = lw.bind("where", lw.bind("isnan", last), last, med)
    if keepdims:
        med = lw.bind("reshape", med, shape=tuple(1 if i in axes else d for i, d in enumerate(shape)))
    return med


# -- scans, sorting, argmax ------------------------------------------------------------------


def _scan(fn, prim):
    what = "np." + fn.__name__

    def lower(lw, args, kw):
        g = bind_params(lw, fn, what, args, kw, ("a", "axis", "dtype"))
        return scan(lw, prim, g["a"], g, what)
    return lower


def scan(lw, prim, x, g, what):
    _check_dtype_param(lw, what, x, g)
    x = _arr(lw, x)
    axis = _axis(lw, g)
    if axis is None:
        x, axis = _flatten(lw, x), 0
    return lw.bind(prim, x, axis=_index(lw, what, axis, max(lw.ndim(x), 1)))


def _m_scan(axis=None, dtype=None, out=None): ...


def _method_scan(prim):
    def lower(lw, x, args, kw):
        g = bind_params(lw, None, f".{prim}", args, kw, ("axis", "dtype"), sig=signature(_m_scan))
        return scan(lw, prim, x, g, f".{prim}")
    return lower


_SORT_KINDS = (None, "quicksort", "mergesort", "heapsort", "stable")


def _sort(lw, args, kw):
    g = bind_params(lw, np.sort, "np.sort", args, kw, ("a", "axis", "kind", "stable"))
    if lw.static(_get(g, "kind"), "kind") not in _SORT_KINDS:
        lw.fail(f"np.sort(): kind must be one of {_SORT_KINDS[1:]}", SignatureError)
    x = _arr(lw, g["a"])
    axis = _axis(lw, g, default=-1)
    if axis is None:
        x, axis = _flatten(lw, x), 0
    if lw.ndim(x) == 0:
        lw.fail("np.sort(): axis -1 is out of bounds for array of dimension 0", SignatureError)
    return lw.bind("sort", x, axis=_index(lw, "np.sort", axis, lw.ndim(x)))


def _partition(lw, args, kw):
    g = bind_params(lw, np.partition, "np.partition", args, kw, ("a", "kth", "axis", "kind"))
    if lw.static(_get(g, "kind", "introselect"), "kind") != "introselect":
        lw.fail("np.partition(): kind must be 'introselect'", SignatureError)
    x = _arr(lw, g["a"])
    axis = _axis(lw, g, default=-1)
    if axis is None:
        x, axis = _flatten(lw, x), 0
    if lw.ndim(x) == 0:
        lw.fail("np.partition(): axis -1 is out of bounds for array of dimension 0", SignatureError)
    axis = _index(lw, "np.partition", axis, lw.ndim(x))
    kth = lw.static(g["kth"], "kth")
    if isinstance(kth, np.ndarray):
        kth = tuple(kth.tolist())
    n = lw.shape(x)[axis]
    ks = kth if isinstance(kth, tuple) else (kth,)
    if not ks or any(isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) for k in ks):
        lw.fail(f"np.partition(): kth must be an integer or a sequence of integers, not {kth!r}", SignatureError)
    if any(not -n <= k < n for k in ks):
        lw.fail(f"np.partition(): kth(={kth!r}) out of bounds ({n})", SignatureError)
    kth = tuple(int(k) for k in kth) if isinstance(kth, tuple) else int(kth)
    return lw.bind("partition", x, kth=kth, axis=axis)


def _ravel(lw, args, kw):
    g = bind_params(lw, np.ravel, "np.ravel", args, kw, ("a", "order"))
    return reshape(lw, _arr(lw, g["a"]), (-1,), _get(g, "order", "C"), "np.ravel")


def _arg(fn):
    what = "np." + fn.__name__

    def lower(lw, args, kw):
        g = bind_params(lw, fn, what, args, kw, ("a", "axis", "keepdims"))
        return lw.bind(fn.__name__, _arr(lw, g["a"]), axis=_axis(lw, g),
                       keepdims=bool(lw.static(_get(g, "keepdims", False), "keepdims")))
    return lower


def _m_arg(axis=None, out=None, *, keepdims=False): ...


def _method_arg(name):
    def lower(lw, x, args, kw):
        g = bind_params(lw, None, f".{name}", args, kw, ("axis", "keepdims"), sig=signature(_m_arg))
        return lw.bind(name, x, axis=_axis(lw, g), keepdims=bool(lw.static(_get(g, "keepdims", False), "keepdims")))
    return lower


# -- ufuncs composed of primitives ------------------------------------------------------------


def _round(fn):
    what = "np." + fn.__name__

    def lower(lw, args, kw):
        g = bind_params(lw, fn, what, args, kw, ("a", "decimals"))
        decimals = lw.static(_get(g, "decimals", 0), "decimals")
        return round_(lw, g["a"], decimals, what)
    return lower


def round_(lw, x, decimals, what):
    if isinstance(decimals, bool) or not isinstance(decimals, (int, np.integer)):
        lw.fail(f"{what}(): decimals must be an integer, not {decimals!r}", SignatureError)
    return lw.bind("round", _arr(lw, x), decimals=int(decimals))


def _m_round(decimals=0, out=None): ...


def _method_round(lw, x, args, kw):
    g = bind_params(lw, None, ".round", args, kw, ("decimals",), sig=signature(_m_round))
    return round_(lw, x, lw.static(_get(g, "decimals", 0), "decimals"), ".round")


def _reciprocal(lw, args, kw):
    g = bind_params(lw, np.reciprocal, "np.reciprocal", args, kw, ("x",))
    x = _arr(lw, g["x"])
    if lw.dtype(x).kind != "f":
        lw.fail("np.reciprocal() of an integer array is integer division (1 // x); write 1 / x for "
                "floats", UnsupportedFunction)
    return lw.bind("div", 1, x)


def _float_power(lw, args, kw):
    g = bind_params(lw, np.float_power, "np.float_power", args, kw, ("x1", "x2"))
    dt = _ufunc_dtype(np.float_power, _ufunc_arg(lw, g["x1"]), _ufunc_arg(lw, g["x2"]))
    return lw.bind("pow", _cast(lw, g["x1"], dt), _cast(lw, g["x2"], dt))


def _copysign(lw, args, kw):
    """|x1| with the sign bit of x2: -x1 where the sign bits differ (so d/dx1 = +-1, d/dx2 = 0)."""
    g = bind_params(lw, np.copysign, "np.copysign", args, kw, ("x1", "x2"))
    x1, x2 = _ufunc_arg(lw, g["x1"]), _ufunc_arg(lw, g["x2"])
    x1 = _cast(lw, x1, _ufunc_dtype(np.copysign, x1, x2))
    flip = lw.bind("not_equal", lw.bind("signbit", x1), lw.bind("signbit", x2))
    return lw.bind("where", flip, lw.bind("neg", x1), x1)


def _fabs(lw, args, kw):
    g = bind_params(lw, np.fabs, "np.fabs", args, kw, ("x",))
    x = _arr(lw, g["x"])
    return lw.bind("abs", _cast(lw, x, _ufunc_dtype(np.fabs, x)))


def _positive(lw, args, kw):
    g = bind_params(lw, np.positive, "np.positive", args, kw, ("x",))
    return _arr(lw, g["x"])  # a new array with the same values (the frontend records fresh memory)


def _fmax_fmin(fn, compare):
    what = "np." + fn.__name__

    def lower(lw, args, kw):
        """NumPy's loop: (x1 >= x2 or isnan(x2)) ? x1 : x2 (<= for fmin). At a tie the value and the
        gradient go to x1, as for np.maximum; a NaN operand loses to a number."""
        g = bind_params(lw, fn, what, args, kw, ("x1", "x2"))
        x1, x2 = _ufunc_arg(lw, g["x1"]), _ufunc_arg(lw, g["x2"])
        dt = _ufunc_dtype(fn, x1, x2)
        first = lw.bind("logical_or", lw.bind(compare, x1, x2), lw.bind("isnan", x2))
        return _cast(lw, lw.bind("where", first, x1, x2), dt)
    return lower


def _scale(fn, factor):
    what = "np." + fn.__name__

    def lower(lw, args, kw):
        g = bind_params(lw, fn, what, args, kw, ("x",))
        x = _arr(lw, g["x"])
        return _cast(lw, lw.bind("mul", x, factor), _ufunc_dtype(fn, x))
    return lower


def _nan_to_num(lw, args, kw):
    g = bind_params(lw, np.nan_to_num, "np.nan_to_num", args, kw, ("x", "copy", "nan", "posinf", "neginf"))
    x = _arr(lw, g["x"])
    if lw.static(_get(g, "copy", True), "copy") is not True:
        lw.fail("np.nan_to_num(): copy=False replaces values in place: not supported", UnsupportedFunction)
    if lw.dtype(x).kind != "f":
        return x
    info = np.finfo(lw.dtype(x))
    nan = lw.static(_get(g, "nan", 0.0), "nan")
    posinf = lw.static(_get(g, "posinf"), "posinf")
    neginf = lw.static(_get(g, "neginf"), "neginf")
    dt = lw.dtype(x)
    fills = [(lw.bind("isnan", x), nan),
             (lw.bind("equal", x, np.inf), info.max if posinf is None else posinf),
             (lw.bind("equal", x, -np.inf), info.min if neginf is None else neginf)]
    for mask, value in fills:
        x = lw.bind("where", mask, Const(np.asarray(value).astype(dt)[()]), x)
    return x


# -- shape functions ------------------------------------------------------------------------


def _squeeze_to(lw, x, axis, what):
    shape = tuple(lw.shape(x))
    if axis is None:
        axes = tuple(i for i, d in enumerate(shape) if d == 1)
    else:
        axes = _normalize(lw, what, axis, len(shape))
        for a in axes:
            if shape[a] != 1:
                lw.fail(f"{what}(): cannot select an axis to squeeze out which has size not equal to one",
                        SignatureError)
    return lw.bind("reshape", x, shape=tuple(d for i, d in enumerate(shape) if i not in axes))


def _squeeze(lw, args, kw):
    g = bind_params(lw, np.squeeze, "np.squeeze", args, kw, ("a", "axis"))
    return _squeeze_to(lw, _arr(lw, g["a"]), _axis(lw, g), "np.squeeze")


def _m_squeeze(axis=None): ...


def _method_squeeze(lw, x, args, kw):
    g = bind_params(lw, None, ".squeeze", args, kw, ("axis",), sig=signature(_m_squeeze))
    return _squeeze_to(lw, x, _axis(lw, g), ".squeeze")


def _permute(lw, x, axes):
    return x if tuple(axes) == tuple(range(len(axes))) else lw.bind("transpose", x, axes=tuple(axes))


def swapaxes(lw, x, a1, a2, what):
    n = lw.ndim(x)
    a1, a2 = _index(lw, what, lw.static(a1, "axis1"), n), _index(lw, what, lw.static(a2, "axis2"), n)
    axes = list(range(n))
    axes[a1], axes[a2] = axes[a2], axes[a1]
    return _permute(lw, x, axes)


def _swapaxes(lw, args, kw):
    g = bind_params(lw, np.swapaxes, "np.swapaxes", args, kw, ("a", "axis1", "axis2"))
    return swapaxes(lw, _arr(lw, g["a"]), g["axis1"], g["axis2"], "np.swapaxes")


def _m_swapaxes(axis1, axis2, /): ...


def _method_swapaxes(lw, x, args, kw):
    g = bind_params(lw, None, ".swapaxes", args, kw, ("axis1", "axis2"), sig=signature(_m_swapaxes))
    return swapaxes(lw, x, g["axis1"], g["axis2"], ".swapaxes")


def _moveaxis(lw, args, kw):
    g = bind_params(lw, np.moveaxis, "np.moveaxis", args, kw, ("a", "source", "destination"))
    x = _arr(lw, g["a"])
    n = lw.ndim(x)
    src = _normalize(lw, "np.moveaxis", lw.static(g["source"], "source"), n)
    dst = _normalize(lw, "np.moveaxis", lw.static(g["destination"], "destination"), n)
    if len(src) != len(dst):
        lw.fail("np.moveaxis(): `source` and `destination` arguments must have the same number of elements",
                SignatureError)
    order = [i for i in range(n) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return _permute(lw, x, order)


def _rollaxis(lw, args, kw):
    g = bind_params(lw, np.rollaxis, "np.rollaxis", args, kw, ("a", "axis", "start"))
    x = _arr(lw, g["a"])
    n = lw.ndim(x)
    axis = _index(lw, "np.rollaxis", lw.static(g["axis"], "axis"), n)
    start = lw.static(_get(g, "start", 0), "start")
    if start < 0:
        start += n
    if not 0 <= start < n + 1:
        lw.fail(f"np.rollaxis(): 'start' arg requires {-n} <= start < {n + 1}", SignatureError)
    if axis < start:
        start -= 1
    if axis == start:
        return x
    axes = list(range(n))
    axes.remove(axis)
    axes.insert(start, axis)
    return _permute(lw, x, axes)


def _atleast(nd):
    fn = {1: np.atleast_1d, 2: np.atleast_2d, 3: np.atleast_3d}[nd]

    def one(lw, x):
        x = _arr(lw, x)
        shape = tuple(lw.shape(x))
        if len(shape) >= nd:
            return x
        if nd == 1:
            new = (1,)
        elif nd == 2:
            new = (1,) + shape if shape else (1, 1)
        else:
            new = {0: (1, 1, 1), 1: (1,) + shape + (1,), 2: shape + (1,)}[len(shape)]
        return lw.bind("reshape", x, shape=new)

    def lower(lw, args, kw):
        g = bind_params(lw, fn, "np." + fn.__name__, args, kw, ("arys",))
        arys = g.get("arys", ())
        out = tuple(one(lw, a) for a in arys)
        return out[0] if len(out) == 1 else out
    return lower


def flip(lw, x, axis, what):
    n = lw.ndim(x)
    axes = tuple(range(n)) if axis is None else _normalize(lw, what, axis, n)
    return lw.bind("getitem", x, index=tuple(slice(None, None, -1) if i in axes else slice(None)
                                            for i in range(n)))


def _flip(lw, args, kw):
    g = bind_params(lw, np.flip, "np.flip", args, kw, ("m", "axis"))
    return flip(lw, _arr(lw, g["m"]), _axis(lw, g), "np.flip")


def _flip_fixed(fn, axis, min_ndim):
    what = "np." + fn.__name__

    def lower(lw, args, kw):
        g = bind_params(lw, fn, what, args, kw, ("m",))
        x = _arr(lw, g["m"])
        if lw.ndim(x) < min_ndim:
            lw.fail(f"{what}(): input must be >= {min_ndim}-d", SignatureError)
        return flip(lw, x, axis, what)
    return lower


def _rot90(lw, args, kw):
    g = bind_params(lw, np.rot90, "np.rot90", args, kw, ("m", "k", "axes"))
    m = _arr(lw, g["m"])
    k = lw.static(_get(g, "k", 1), "k")
    axes = tuple(lw.static(_get(g, "axes", (0, 1)), "axes"))
    n = lw.ndim(m)
    if len(axes) != 2:
        lw.fail("np.rot90(): len(axes) must be 2", SignatureError)
    if axes[0] == axes[1] or abs(axes[0] - axes[1]) == n:
        lw.fail("np.rot90(): axes must be different", SignatureError)
    if not (-n <= axes[0] < n and -n <= axes[1] < n):
        lw.fail(f"np.rot90(): axes={axes} out of range for array of ndim={n}", SignatureError)
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return flip(lw, flip(lw, m, axes[0], "np.rot90"), axes[1], "np.rot90")
    perm = list(range(n))
    perm[axes[0]], perm[axes[1]] = perm[axes[1]], perm[axes[0]]
    if k == 1:
        return _permute(lw, flip(lw, m, axes[1], "np.rot90"), perm)
    return flip(lw, _permute(lw, m, perm), axes[1], "np.rot90")


def _roll(lw, args, kw):
    g = bind_params(lw, np.roll, "np.roll", args, kw, ("a", "shift", "axis"))
    x = _arr(lw, g["a"])
    shift = lw.static(g["shift"], "shift")
    axis = _axis(lw, g)
    if axis is None:
        return lw.bind("reshape", _roll_axes(lw, _flatten(lw, x), shift, 0), shape=tuple(lw.shape(x)))
    return _roll_axes(lw, x, shift, axis)


def _roll_axes(lw, x, shift, axis):
    axes = _normalize(lw, "np.roll", axis, lw.ndim(x)) if not isinstance(axis, tuple) else \
        tuple(_index(lw, "np.roll", a, lw.ndim(x)) for a in axis)
    try:
        pairs = np.broadcast(np.asarray(shift), np.asarray(axes))
    except ValueError:
        lw.fail("np.roll(): 'shift' and 'axis' should be scalars or 1D sequences", SignatureError)
    shifts = {a: 0 for a in range(lw.ndim(x))}
    for s, a in pairs:
        shifts[int(a)] += int(s)
    for a, s in shifts.items():
        n = lw.shape(x)[a]
        if n == 0 or s % n == 0:
            continue
        s %= n
        x = lw.bind("concatenate", _slice_along(lw, x, a, slice(n - s, None)),
                    _slice_along(lw, x, a, slice(None, n - s)), axis=a)
    return x


def _tile(lw, args, kw):
    g = bind_params(lw, np.tile, "np.tile", args, kw, ("A", "reps"))
    x = _arr(lw, g["A"])
    reps = lw.static(g["reps"], "reps")
    reps = tuple(reps) if isinstance(reps, (tuple, list)) else (reps,)
    reps = tuple(operator.index(r) for r in reps)
    shape = tuple(lw.shape(x))
    d = max(len(reps), len(shape))
    shape = (1,) * (d - len(shape)) + shape
    reps = (1,) * (d - len(reps)) + reps
    if any(r < 0 for r in reps):
        lw.fail("np.tile(): negative dimensions are not allowed", SignatureError)
    x = lw.bind("reshape", x, shape=tuple(v for s in shape for v in (1, s)))
    x = lw.bind("broadcast_to", x, shape=tuple(v for r, s in zip(reps, shape) for v in (r, s)))
    return lw.bind("reshape", x, shape=tuple(r * s for r, s in zip(reps, shape)))


def repeat(lw, x, repeats, axis, what):
    x = _arr(lw, x)
    if isinstance(repeats, Value):
        repeats = lw.static(repeats, "repeats")
    repeats = np.asarray(lw.static(repeats, "repeats"))
    if repeats.dtype.kind not in "iu" or repeats.ndim > 1 or np.any(repeats < 0):
        lw.fail(f"{what}(): repeats must be non-negative integers", SignatureError)
    if axis is None:
        x, axis = _flatten(lw, x), 0
    axis = _index(lw, what, axis, lw.ndim(x))
    shape = tuple(lw.shape(x))
    n = shape[axis]
    if repeats.ndim == 1 and repeats.size == 1:
        repeats = repeats[0]
    if repeats.ndim == 0:
        r = int(repeats)
        y = lw.bind("expand_dims", x, axis=axis + 1)
        y = lw.bind("broadcast_to", y, shape=shape[:axis + 1] + (r,) + shape[axis + 1:])
        return lw.bind("reshape", y, shape=shape[:axis] + (n * r,) + shape[axis + 1:])
    if repeats.size != n:
        lw.fail(f"{what}(): operands could not be broadcast together with shape ({n},) ({repeats.size},)",
                SignatureError)
    pieces = []
    for i, r in enumerate(repeats.tolist()):
        if r:
            piece = _slice_along(lw, x, axis, slice(i, i + 1))
            pieces.append(lw.bind("broadcast_to", piece, shape=shape[:axis] + (r,) + shape[axis + 1:]))
    if not pieces:
        return _slice_along(lw, x, axis, slice(0, 0))
    return concatenate(lw, pieces, axis)


def _repeat(lw, args, kw):
    g = bind_params(lw, np.repeat, "np.repeat", args, kw, ("a", "repeats", "axis"))
    return repeat(lw, g["a"], g["repeats"], _axis(lw, g), "np.repeat")


def _m_repeat(repeats, axis=None): ...


def _method_repeat(lw, x, args, kw):
    g = bind_params(lw, None, ".repeat", args, kw, ("repeats", "axis"), sig=signature(_m_repeat))
    return repeat(lw, x, g["repeats"], _axis(lw, g), ".repeat")


def _pad(lw, args, kw):
    g = bind_params(lw, np.pad, "np.pad", args, kw, ("array", "pad_width", "mode", "kwargs"))
    x = _arr(lw, g["array"])
    mode = lw.static(_get(g, "mode", "constant"), "mode")
    extra = dict(g.get("kwargs", {}))
    if mode not in ("constant", "edge"):
        lw.fail(f"np.pad(): mode={mode!r} is not supported (gradc implements 'constant' and 'edge'; "
                "others can be written with slicing and np.concatenate)", UnsupportedFunction)
    allowed = {"constant_values"} if mode == "constant" else set()
    for k in extra:
        if k not in allowed:
            lw.fail(f"np.pad(): keyword {k!r} is not supported with mode={mode!r}", UnsupportedFunction)
    n = lw.ndim(x)
    try:
        width = np.broadcast_to(np.asarray(lw.static(g["pad_width"], "pad_width")), (n, 2))
    except ValueError as e:
        lw.fail(f"np.pad(): pad_width: {e}", SignatureError)
    if width.dtype.kind not in "iu" or np.any(width < 0):
        lw.fail("np.pad(): pad_width must be non-negative integers", SignatureError)
    values = np.broadcast_to(np.asarray(lw.static(extra.get("constant_values", 0), "constant_values")), (n, 2))
    dt = lw.dtype(x)
    for a in range(n):
        before, after = int(width[a, 0]), int(width[a, 1])
        if not before and not after:
            continue
        shape = tuple(lw.shape(x))
        parts = []
        for count, side in ((before, 0), (after, 1)):
            if not count:
                parts.append(None)
                continue
            block = shape[:a] + (count,) + shape[a + 1:]
            if mode == "constant":
                parts.append(Const(np.full(block, values[a, side]).astype(dt)))
            else:
                if shape[a] == 0:
                    lw.fail("np.pad(): can't extend empty axis using modes other than 'constant'", SignatureError)
                edge = _slice_along(lw, x, a, slice(0, 1) if side == 0 else slice(shape[a] - 1, shape[a]))
                parts.append(lw.bind("broadcast_to", edge, shape=block))
        x = lw.bind("concatenate", *[p for p in (parts[0], x, parts[1]) if p is not None], axis=a)
    return x


def _split(fn, strict):
    what = "np." + fn.__name__

    def lower(lw, args, kw):
        g = bind_params(lw, fn, what, args, kw, ("ary", "indices_or_sections", "axis"))
        x = _arr(lw, g["ary"])
        axis = _index(lw, what, lw.static(_get(g, "axis", 0), "axis"), lw.ndim(x))
        n = lw.shape(x)[axis]
        ios = lw.static(g["indices_or_sections"], "indices_or_sections")
        if isinstance(ios, (tuple, list, np.ndarray)):
            points = [0] + [int(i) for i in ios] + [n]
        else:
            sections = operator.index(ios)
            if sections <= 0:
                lw.fail(f"{what}(): number sections must be larger than 0.", SignatureError)
            if strict and n % sections:
                lw.fail(f"{what}(): array split does not result in an equal division", SignatureError)
            each, extras = divmod(n, sections)
            sizes = [0] + extras * [each + 1] + (sections - extras) * [each]
            points = np.cumsum(sizes).tolist()
        return [_slice_along(lw, x, axis, slice(points[i], points[i + 1])) for i in range(len(points) - 1)]
    return lower


def _diff(lw, args, kw):
    g = bind_params(lw, np.diff, "np.diff", args, kw, ("a", "n", "axis", "prepend", "append"))
    x = _arr(lw, g["a"])
    n = operator.index(lw.static(_get(g, "n", 1), "n"))
    if n < 0:
        lw.fail(f"np.diff(): order must be non-negative but got {n}", SignatureError)
    if lw.ndim(x) == 0:
        lw.fail("np.diff(): diff requires input that is at least one dimensional", SignatureError)
    axis = _index(lw, "np.diff", lw.static(_get(g, "axis", -1), "axis"), lw.ndim(x))
    if n == 0:
        return x
    parts = []
    for name in ("prepend", "append"):
        v = _get(g, name, NOVALUE)
        if v is NOVALUE:
            parts.append(None)
            continue
        v = _arr(lw, v)
        if lw.ndim(v) == 0:
            shape = list(lw.shape(x))
            shape[axis] = 1
            v = lw.bind("broadcast_to", v, shape=tuple(shape))
        parts.append(v)
    if parts[0] is not None or parts[1] is not None:
        x = lw.bind("concatenate", *[p for p in (parts[0], x, parts[1]) if p is not None], axis=axis)
    if lw.dtype(x).kind == "b":
        lw.fail("np.diff() of booleans (not_equal) is not supported", UnsupportedFunction)
    for _ in range(n):
        m = lw.shape(x)[axis]
        x = lw.bind("sub", _slice_along(lw, x, axis, slice(1, None)), _slice_along(lw, x, axis, slice(None, m - 1)))
    return x


def _append(lw, args, kw):
    g = bind_params(lw, np.append, "np.append", args, kw, ("arr", "values", "axis"))
    a, v = _arr(lw, g["arr"]), _arr(lw, g["values"])
    axis = _axis(lw, g)
    if axis is None:
        a, v, axis = _flatten(lw, a), _flatten(lw, v), 0
    return lw.bind("concatenate", a, v, axis=_index(lw, "np.append", axis, lw.ndim(a)))


def _linspace(lw, args, kw):
    """NumPy's own algorithm: start + arange(num) * (stop - start) / div, the last point stop."""
    g = bind_params(lw, np.linspace, "np.linspace", args, kw,
                    ("start", "stop", "num", "endpoint", "retstep", "dtype", "axis"))
    num = operator.index(lw.static(_get(g, "num", 50), "num"))
    if num < 0:
        lw.fail(f"np.linspace(): Number of samples, {num}, must be non-negative.", SignatureError)
    endpoint = bool(lw.static(_get(g, "endpoint", True), "endpoint"))
    retstep = bool(lw.static(_get(g, "retstep", False), "retstep"))
    dtype = lw.static(_get(g, "dtype"), "dtype")
    axis = lw.static(_get(g, "axis", 0), "axis")
    div = num - 1 if endpoint else num

    def operand(v):  # asanyarray(v) * 1.0: Python numbers stay weak
        if isinstance(v, Value):
            return lw.bind("mul", v, 1.0)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        return Const(np.asanyarray(v) * 1.0)

    start, stop = operand(g["start"]), operand(g["stop"])
    dt = np.result_type(*(s.dtype if isinstance(s, Value) else s for s in (start, stop)), float(num))
    delta = lw.bind("sub", stop, start)
    if not isinstance(delta, Value):
        delta = Const(delta)
    k = Const(np.arange(0, num, dtype=dt).reshape((-1,) + (1,) * lw.ndim(delta)))
    if div > 0:
        step = lw.bind("div", delta, div)
        y = lw.bind("mul", k, step)
    else:
        step = np.nan
        y = lw.bind("mul", k, delta)
    y = lw.bind("add", y, start)
    if endpoint and num > 1:
        rest = tuple(lw.shape(y))[1:]
        last = lw.bind("reshape", lw.bind("broadcast_to", _arr(lw, stop), shape=rest), shape=(1,) + rest)
        y = lw.bind("concatenate", lw.bind("getitem", y, index=(slice(None, -1),)),
                    _cast(lw, last, lw.dtype(y)), axis=0)
    if axis != 0:
        y = _moveaxis(lw, (y, 0, axis), {})
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind in "iu":
            y = lw.bind("floor", y)
        y = _cast(lw, y, dtype)
    return (y, step) if retstep else y


def _polyval(lw, args, kw):
    """Horner's scheme exactly as np.polyval: y = zeros_like(x); y = y * x + p[i]."""
    g = bind_params(lw, np.polyval, "np.polyval", args, kw, ("p", "x"))
    p, x = g["p"], _arr(lw, g["x"])
    if isinstance(p, Value):
        if lw.ndim(p) == 0:
            lw.fail("np.polyval(): p must be a 1-D sequence of coefficients", SignatureError)
        coeffs = [lw.bind("getitem", p, index=(i,)) for i in range(lw.shape(p)[0])]
    elif isinstance(p, (list, tuple)):
        coeffs = [c if isinstance(c, Value) else Const(np.asarray(c)[()]) for c in p]
    else:
        coeffs = [Const(c) for c in np.asarray(lw.static(p, "p"))]
    y = lw.bind("zeros_like", x)
    for c in coeffs:
        y = lw.bind("add", lw.bind("mul", y, x), c)
    return y


def _like(fn, fill):
    what = "np." + fn.__name__

    def lower(lw, args, kw):
        names = ("a", "dtype", "order", "subok", "shape") + (("fill_value",) if fill is None else ())
        g = bind_params(lw, fn, what, args, kw, names)
        a = _arr(lw, g["a"])
        dtype = lw.static(_get(g, "dtype"), "dtype")
        dtype = lw.dtype(a) if dtype is None else np.dtype(dtype)
        shape = lw.static(_get(g, "shape"), "shape")
        shape = tuple(lw.shape(a)) if shape is None else (
            (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape))
        if fill is not None:
            value = Const(np.asarray(fill, dtype=dtype)[()])
        else:
            v = g["fill_value"]
            if isinstance(v, Value):
                value = lw.bind("cast", v, dtype=dtype) if v.dtype != dtype else v
                if lw.ndim(value) and tuple(lw.shape(value)) != shape:
                    value = lw.bind("broadcast_to", value, shape=shape)
            else:
                value = Const(np.asarray(lw.static(v, "fill_value")).astype(dtype, casting="unsafe"))
        if fill == 0 and tuple(shape) == tuple(lw.shape(a)) and dtype == lw.dtype(a):
            return lw.bind("zeros_like", a)
        return lw.bind("broadcast_to", value, shape=shape)
    return lower


def _empty_like(lw, args, kw):
    lw.fail("np.empty_like(): NumPy leaves the values uninitialised (whatever was in memory), which "
            "gradc cannot reproduce; use np.zeros_like(x) (or np.full_like) and build the values "
            "with np.where or arithmetic", UnsupportedFunction)


def _refuse(name, instead):
    def lower(lw, args, kw):
        lw.fail(f"{name} is not supported on arrays computed from the arguments; {instead}",
                UnsupportedFunction)
    return lower


# -- max / min with initial= and where=, scalar types as casts -----------------------------


def _extreme(lw, x, g, prim, what):
    """np.max(x, initial=c, where=m): masked-out entries are skipped (read as -inf for max), and
    the result is maximum(max(x), c) (at a tie with c the gradient goes to the reduction)."""
    x = _arr(lw, x)
    axis = _axis(lw, g)
    keepdims = bool(lw.static(_get(g, "keepdims", False), "keepdims"))
    where = _get(g, "where", True)
    initial = _get(g, "initial", NOVALUE)
    if where is not True:
        if initial is NOVALUE:
            lw.fail(f"{what}(): reduction operation '{prim}imum' does not have an identity, so to use "
                    "a where mask one has to specify 'initial'", SignatureError)
        fill = -np.inf if prim == "max" else np.inf
        if lw.dtype(x).kind != "f":
            lw.fail(f"{what}(): where= on an integer array is not supported", UnsupportedFunction)
        x = lw.bind("where", where, x, fill)
    m = lw.bind(prim, x, axis=axis, keepdims=keepdims)
    if initial is NOVALUE or initial is None:
        return m
    return lw.bind("maximum" if prim == "max" else "minimum", m, initial)


def _np_extreme(fn, prim):
    what = "np." + fn.__name__

    def lower(lw, args, kw):
        g = bind_params(lw, fn, what, args, kw, ("a", "axis", "keepdims", "initial", "where"))
        return _extreme(lw, g["a"], g, prim, what)
    return lower


def _m_max(axis=None, out=None, *, keepdims=NOVALUE, initial=NOVALUE, where=NOVALUE): ...


def _method_extreme(prim):
    def lower(lw, x, args, kw):
        g = bind_params(lw, None, f".{prim}", args, kw, ("axis", "keepdims", "initial", "where"),
                        sig=signature(_m_max))
        return _extreme(lw, x, g, prim, f".{prim}")
    return lower


def _scalar_type(t):
    def lower(lw, args, kw):
        """np.float64(x) of a traced value: x cast to float64 (an array stays an array)."""
        if kw or len(args) != 1:
            lw.fail(f"np.{t.__name__}() takes one argument", SignatureError)
        return _cast(lw, args[0], np.dtype(t))
    return lower


# -- logical reductions, NaN-ignoring statistics, integration, convolution -----------------


def _logical_reduction(fn, prim):
    what = "np." + fn.__name__

    def lower(lw, args, kw):
        g = bind_params(lw, fn, what, args, kw, ("a", "axis", "keepdims"))
        x = _arr(lw, g["a"])
        nz = x if lw.dtype(x).kind == "b" else lw.bind("not_equal", x, 0)
        return lw.bind(prim, nz, axis=_axis(lw, g), keepdims=bool(lw.static(_get(g, "keepdims", False), "keepdims")))
    return lower


def _count_nonzero(lw, args, kw):
    g = bind_params(lw, np.count_nonzero, "np.count_nonzero", args, kw, ("a", "axis", "keepdims"))
    x = _arr(lw, g["a"])
    nz = lw.bind("cast", lw.bind("not_equal", x, 0), dtype=np.dtype(np.intp))
    return lw.bind("sum", nz, axis=_axis(lw, g), keepdims=bool(lw.static(_get(g, "keepdims", False), "keepdims")))


def _nan_var_like(fn, root):
    what = "np." + fn.__name__

    def lower(lw, args, kw):
        """NumPy's _nanvar: NaNs replaced by 0 and left out of the counts."""
        g = bind_params(lw, fn, what, args, kw, ("a", "axis", "dtype", "ddof", "keepdims", "correction"))
        _check_dtype_param(lw, what, g["a"], g)
        x = _as_float(lw, g["a"])
        ddof = _ddof(lw, what, g)
        keepdims = bool(lw.static(_get(g, "keepdims", False), "keepdims"))
        ndim = lw.ndim(x)
        axes = tuple(range(ndim)) if _axis(lw, g) is None else _normalize(lw, what, _axis(lw, g), ndim)
        keep = lw.bind("logical_not", lw.bind("isnan", x))
        x0 = lw.bind("where", keep, x, 0)
        cnt = lw.bind("sum", lw.bind("cast", keep, dtype=lw.dtype(x)), axis=axes, keepdims=True)
        avg = lw.bind("div", lw.bind("sum", x0, axis=axes, keepdims=True), cnt)
        d = lw.bind("where", keep, lw.bind("sub", x, avg), 0)
        var = lw.bind("sum", lw.bind("mul", d, d), axis=axes, keepdims=keepdims)
        dof = lw.bind("sub", cnt if keepdims else lw.bind("reshape", cnt, shape=tuple(lw.shape(var))), ddof)
        var = lw.bind("div", var, lw.bind("maximum", dof, 0))
        return lw.bind("sqrt", var) if root else var
    return lower


def _nanprod(lw, args, kw):
    g = bind_params(lw, np.nanprod, "np.nanprod", args, kw, ("a", "axis", "dtype", "keepdims", "initial", "where"))
    x = _arr(lw, g["a"])
    if lw.dtype(x).kind == "f":
        x = lw.bind("where", lw.bind("isnan", x), 1, x)
    return _prod(lw, x, g, "np.nanprod")


def _nanscan(fn, prim, fill):
    what = "np." + fn.__name__

    def lower(lw, args, kw):
        g = bind_params(lw, fn, what, args, kw, ("a", "axis", "dtype"))
        x = _arr(lw, g["a"])
        if lw.dtype(x).kind == "f":
            x = lw.bind("where", lw.bind("isnan", x), fill, x)
        return scan(lw, prim, x, g, what)
    return lower


def _trapezoid(lw, args, kw):
    g = bind_params(lw, np.trapezoid, "np.trapezoid", args, kw, ("y", "x", "dx", "axis"))
    y = _arr(lw, g["y"])
    nd = lw.ndim(y)
    axis = _index(lw, "np.trapezoid", lw.static(_get(g, "axis", -1), "axis"), nd)
    x = _get(g, "x")
    if x is None:
        d = _get(g, "dx", 1.0)
    else:
        x = _arr(lw, x)
        if lw.ndim(x) == 1:
            d = _diff(lw, (x,), {})
            shape = [1] * nd
            shape[axis] = lw.shape(d)[0]
            d = lw.bind("reshape", d, shape=tuple(shape))
        else:
            d = _diff(lw, (x,), {"axis": axis})
    n = lw.shape(y)[axis]
    tail, head = _slice_along(lw, y, axis, slice(1, None)), _slice_along(lw, y, axis, slice(None, max(n - 1, 0)))
    return lw.bind("sum", lw.bind("div", lw.bind("mul", d, lw.bind("add", tail, head)), 2.0), axis=(axis,),
                   keepdims=False)


def _ediff1d(lw, args, kw):
    g = bind_params(lw, np.ediff1d, "np.ediff1d", args, kw, ("ary", "to_end", "to_begin"))
    x = _flatten(lw, _arr(lw, g["ary"]))
    n = lw.shape(x)[0]
    parts = [lw.bind("sub", _slice_along(lw, x, 0, slice(1, None)), _slice_along(lw, x, 0, slice(None, max(n - 1, 0))))]
    for name, front in (("to_begin", True), ("to_end", False)):
        v = _get(g, name)
        if v is not None:
            v = _cast(lw, _flatten(lw, _arr(lw, v)), lw.dtype(x))
            parts.insert(0, v) if front else parts.append(v)
    return concatenate(lw, parts, 0)


def _convolve(lw, args, kw):
    """np.convolve(a, v, mode): the sum over j of v[j] times a shifted by j (a zero-padded copy
    of a per kernel entry, so len(v) ops), then NumPy's slice for 'same' and 'valid'."""
    g = bind_params(lw, np.convolve, "np.convolve", args, kw, ("a", "v", "mode"))
    a, v = _arr(lw, g["a"]), _arr(lw, g["v"])
    if lw.ndim(a) == 0:
        a = lw.bind("reshape", a, shape=(1,))
    if lw.ndim(v) == 0:
        v = lw.bind("reshape", v, shape=(1,))
    if lw.ndim(a) != 1 or lw.ndim(v) != 1:
        lw.fail("np.convolve(): object too deep for desired array (1-D arrays only)", SignatureError)
    mode = lw.static(_get(g, "mode", "full"), "mode")
    if mode not in ("full", "same", "valid"):
        lw.fail(f"np.convolve(): mode must be 'full', 'same' or 'valid', not {mode!r}", SignatureError)
    n, m = lw.shape(a)[0], lw.shape(v)[0]
    if n == 0 or m == 0:
        lw.fail("np.convolve(): a and v cannot be empty", SignatureError)
    if m > n:
        a, v, n, m = v, a, m, n
    out = None
    for j in range(m):
        shifted = _pad(lw, (a, (j, m - 1 - j)), {})
        term = lw.bind("mul", lw.bind("getitem", v, index=(j,)), shifted)
        out = term if out is None else lw.bind("add", out, term)
    if mode == "same":
        start = (m - 1) // 2
        out = lw.bind("getitem", out, index=(slice(start, start + n),))
    elif mode == "valid":
        out = lw.bind("getitem", out, index=(slice(m - 1, n),))
    return out


# -- the tables -----------------------------------------------------------------------------

TABLE = {
    np.sum: _np_sum, np.mean: _np_mean,
    np.max: _np_extreme(np.max, "max"), np.amax: _np_extreme(np.amax, "max"),
    np.min: _np_extreme(np.min, "min"), np.amin: _np_extreme(np.amin, "min"),
    np.float64: _scalar_type(np.float64), np.float32: _scalar_type(np.float32),
    np.float16: _scalar_type(np.float16), np.int64: _scalar_type(np.int64), np.int32: _scalar_type(np.int32),
    np.int16: _scalar_type(np.int16), np.int8: _scalar_type(np.int8), np.bool_: _scalar_type(np.bool_),
    np.ravel: _ravel, np.partition: _partition,
    np.var: _var_like(np.var, False), np.std: _var_like(np.std, True),
    np.prod: _np_prod, np.nansum: _nansum, np.nanmean: _nanmean, np.average: _average,
    np.median: _median,
    np.cumsum: _scan(np.cumsum, "cumsum"), np.cumprod: _scan(np.cumprod, "cumprod"),
    np.sort: _sort, np.argmax: _arg(np.argmax), np.argmin: _arg(np.argmin),
    np.round: _round(np.round), np.around: _round(np.around),
    np.reciprocal: _reciprocal, np.float_power: _float_power, np.copysign: _copysign,
    np.fabs: _fabs, np.positive: _positive,
    np.fmax: _fmax_fmin(np.fmax, "greater_equal"), np.fmin: _fmax_fmin(np.fmin, "less_equal"),
    np.degrees: _scale(np.degrees, 180.0 / np.pi), np.rad2deg: _scale(np.rad2deg, 180.0 / np.pi),
    np.radians: _scale(np.radians, np.pi / 180.0), np.deg2rad: _scale(np.deg2rad, np.pi / 180.0),
    np.nan_to_num: _nan_to_num,
    np.squeeze: _squeeze, np.swapaxes: _swapaxes, np.moveaxis: _moveaxis, np.rollaxis: _rollaxis,
    np.atleast_1d: _atleast(1), np.atleast_2d: _atleast(2), np.atleast_3d: _atleast(3),
    np.flip: _flip, np.flipud: _flip_fixed(np.flipud, 0, 1), np.fliplr: _flip_fixed(np.fliplr, 1, 2),
    np.rot90: _rot90, np.roll: _roll, np.tile: _tile, np.repeat: _repeat, np.pad: _pad,
    np.split: _split(np.split, True), np.array_split: _split(np.array_split, False),
    np.diff: _diff, np.append: _append, np.linspace: _linspace, np.polyval: _polyval,
    np.zeros_like: _like(np.zeros_like, 0), np.ones_like: _like(np.ones_like, 1),
    np.full_like: _like(np.full_like, None), np.empty_like: _empty_like,
    np.any: _logical_reduction(np.any, "max"), np.all: _logical_reduction(np.all, "min"),
    np.count_nonzero: _count_nonzero,
    np.nanvar: _nan_var_like(np.nanvar, False), np.nanstd: _nan_var_like(np.nanstd, True),
    np.nanprod: _nanprod, np.nancumsum: _nanscan(np.nancumsum, "cumsum", 0),
    np.nancumprod: _nanscan(np.nancumprod, "cumprod", 1),
    np.trapezoid: _trapezoid, np.ediff1d: _ediff1d, np.convolve: _convolve,
    np.correlate: _refuse("np.correlate", "for real 1-D arrays np.convolve(a, v[::-1], 'full') is the full "
                                          "correlation; slice it for the other modes"),
    np.nanmedian: _refuse("np.nanmedian", "use np.median (NaN-free data) or np.sort and index"),
    np.interp: _refuse("np.interp", "write the interpolation with np.clip, np.floor and indexing, or as "
                                    "a custom @gradc.primitive"),
    np.unique: _refuse("np.unique", "its length depends on the data; gradc needs shapes known at compile time"),
    np.searchsorted: _refuse("np.searchsorted", "compare with np.sum(x[:, None] > edges, axis=1) instead"),
    np.nanmax: _refuse("np.nanmax", "use np.max(np.where(np.isnan(x), -np.inf, x))"),
    np.nanmin: _refuse("np.nanmin", "use np.min(np.where(np.isnan(x), np.inf, x))"),
    np.ptp: _refuse("np.ptp", "use np.max(x, axis) - np.min(x, axis)"),
    np.quantile: _refuse("np.quantile", "use np.sort and index the sorted array (np.median is supported)"),
    np.percentile: _refuse("np.percentile", "use np.sort and index the sorted array (np.median is supported)"),
    np.argsort: _refuse("np.argsort", "np.sort differentiates through the permutation; to reorder another "
                                      "array by x write a custom @gradc.primitive"),
}
for _fn, _prim in [(np.log2, "log2"), (np.log10, "log10"), (np.exp2, "exp2"), (np.sinh, "sinh"),
                   (np.cosh, "cosh"), (np.arcsin, "arcsin"), (np.arccos, "arccos"),
                   (np.arcsinh, "arcsinh"), (np.arccosh, "arccosh"), (np.arctanh, "arctanh"),
                   (np.cbrt, "cbrt"), (np.floor, "floor"), (np.ceil, "ceil"), (np.trunc, "trunc"),
                   (np.fix, "trunc"), (np.rint, "rint"), (np.isnan, "isnan"), (np.isinf, "isinf"),
                   (np.isfinite, "isfinite"), (np.signbit, "signbit"), (np.logical_not, "logical_not")]:
    if _fn is np.fix:
        TABLE[_fn] = lambda lw, args, kw: lw.bind("trunc", _arr(lw, bind_params(
            lw, np.fix, "np.fix", args, kw, ("x",))["x"]))
        continue
    TABLE[_fn] = _ufunc_lower(_fn, _prim, ("x",))
TABLE[np.sinc] = lambda lw, args, kw: lw.bind("sinc", _arr(lw, bind_params(lw, np.sinc, "np.sinc", args, kw,
                                                                             ("x",))["x"]))
for _fn, _prim in [(np.arctan2, "arctan2"), (np.hypot, "hypot"), (np.logaddexp2, "logaddexp2"),
                   (np.heaviside, "heaviside"), (np.logical_xor, "logical_xor"), (np.mod, "mod"),
                   (np.fmod, None), (np.floor_divide, "floor_divide")]:
    if _prim is None:
        TABLE[_fn] = _refuse("np.fmod", "np.mod / % (the sign of the divisor) is supported; "
                                        "fmod(x, y) = x - np.trunc(x / y) * y")
        continue
    TABLE[_fn] = _ufunc_lower(_fn, _prim, ("x1", "x2"))
# np.remainder is np.mod; np.asin, np.atan2, ... are the same objects as np.arcsin, np.arctan2, ...

KIND = {np.ravel: "view", np.squeeze: "view", np.swapaxes: "view", np.moveaxis: "view", np.rollaxis: "view",
        np.atleast_1d: "view", np.atleast_2d: "view", np.atleast_3d: "view", np.flip: "view",
        np.flipud: "view", np.fliplr: "view", np.rot90: "view"}

METHODS = {
    "sum": _method_sum, "mean": _method_mean, "max": _method_extreme("max"), "min": _method_extreme("min"),
    "var": _method_var_like("var", False), "std": _method_var_like("std", True),
    "prod": _method_prod, "cumsum": _method_scan("cumsum"), "cumprod": _method_scan("cumprod"),
    "argmax": _method_arg("argmax"), "argmin": _method_arg("argmin"),
    "round": _method_round, "squeeze": _method_squeeze, "swapaxes": _method_swapaxes,
    "repeat": _method_repeat,
}


def _in_place_method(name, instead):
    def lower(lw, x, args, kw):
        lw.fail(f".{name}() changes the array in place and returns None; gradc values are immutable: "
                f"{instead}", UnsupportedFunction)
    return lower


METHODS.update({
    "sort": _in_place_method("sort", "use y = np.sort(x, axis)"),
    "fill": _in_place_method("fill", "use np.full_like(x, value)"),
    "put": _in_place_method("put", "build the new array with np.where"),
    "resize": _in_place_method("resize", "use np.resize or x.reshape"),
})
def _m_sort(axis=-1, kind=None, order=None, *, stable=None): ...
def _m_fill(value, /): ...
def _m_put(indices, values, /, mode="raise"): ...
def _m_resize(*new_shape, refcheck=True): ...


METHOD_SIGNATURES = {"sort": _m_sort, "fill": _m_fill, "put": _m_put, "resize": _m_resize,
                     "sum": _m_sum, "mean": _m_mean, "max": _m_max, "min": _m_max, "var": _m_var, "std": _m_var, "prod": _m_prod,
                     "cumsum": _m_scan, "cumprod": _m_scan, "argmax": _m_arg, "argmin": _m_arg,
                     "round": _m_round, "squeeze": _m_squeeze, "swapaxes": _m_swapaxes,
                     "repeat": _m_repeat}
METHOD_KIND = {"squeeze": "view", "swapaxes": "view"}
