"""How NumPy (and compiler.nn) functions lower to primitives, looked up by identity.

Identity, not name, is what makes `import numpy as xp` or `from numpy import exp`
work, and what keeps a user's own function called `exp` from being mistaken
for NumPy's. Each entry is `lower(lw, args, kwargs) -> value`, where `lw` is the
lowering context (frontend.python.Lowering).

Every entry binds its arguments against the real NumPy signature (`inspect.signature`
of the NumPy function, or for array methods a stub that mirrors the method's documented
signature), so positional and keyword spellings mean the same thing. Each parameter is
either implemented or, given anything but its default, refused with a CompileError that
names it: never silently ignored.

`KIND` / `METHOD_KIND` say how the result relates to the operands' memory, following
NumPy: "fresh" (a new array, or an immutable scalar when 0-d), "view" (shares memory
with the first operand), "readonly" (a view NumPy marks read-only: `+=` on it raises
ValueError) or "alias" (may be the first operand itself). The frontend's
in-place-update analysis reads them.
"""
from __future__ import annotations

import inspect

import numpy as np

from gradc.runtime import support

from ..errors import SignatureError, UnsupportedFunction

NOVALUE = np._NoValue


# -- binding against real signatures -------------------------------------------

_SIGS: dict = {}


def signature(fn) -> inspect.Signature:
    sig = _SIGS.get(fn)
    if sig is None:
        sig = _SIGS[fn] = inspect.signature(fn)
    return sig


def _short(v) -> str:
    from ..ir import Value
    if isinstance(v, Value):
        return f"<array {v.aval}>"
    return repr(v)[:40]


def is_default(v, default) -> bool:
    from ..ir import Value
    if default is NOVALUE or isinstance(v, Value):
        return False
    if v is default:
        return True
    if isinstance(default, (str, bool)) or default is None:
        return type(v) is type(default) and v == default
    if isinstance(default, int):
        return type(v) is int and v == default
    return False


def bind_params(lw, fn, what, args, kw, implemented=(), sig=None):
    """Bind (args, kw) against fn's NumPy signature; return {name: value} of the
    parameters given. A given parameter outside `implemented` must have its default."""
    sig = sig or signature(fn)
    try:
        given = sig.bind(*args, **kw).arguments
    except TypeError as e:
        lw.fail(f"{what}(): {e} (NumPy's signature is {what}{sig})", SignatureError)
    for name, v in given.items():
        if name in implemented:
            continue
        p = sig.parameters[name]
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            if v:
                lw.fail(f"{what}(): keyword argument{'s' if len(v) > 1 else ''} "
                        f"{', '.join(sorted(v))} not supported", UnsupportedFunction)
            continue
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            if v:
                lw.fail(f"{what}(): extra positional arguments are not supported", UnsupportedFunction)
            continue
        if not is_default(v, p.default):
            lw.fail(f"{what}(): parameter '{name}' is not supported (got {name}={_short(v)}; "
                    f"gradc implements {', '.join(implemented) or 'no parameters'} here)",
                    UnsupportedFunction)
    return given


def _get(given, name, default=None):
    v = given.get(name, default)
    return default if v is NOVALUE else v


# -- ufuncs ----------------------------------------------------------------------


def _unary(fn, prim):
    def lower(lw, args, kw):
        g = bind_params(lw, fn, _name(fn), args, kw, ("x",))
        return lw.bind(prim, g["x"])
    return lower


def _binary(fn, prim):
    def lower(lw, args, kw):
        g = bind_params(lw, fn, _name(fn), args, kw, ("x1", "x2"))
        return lw.bind(prim, g["x1"], g["x2"])
    return lower


def _name(fn) -> str:
    return "np." + getattr(fn, "__name__", str(fn))


def _plain(fn, prim, names):
    """A gradc.nn function with no parameters besides its arrays."""
    def lower(lw, args, kw):
        g = bind_params(lw, fn, fn.__name__, args, kw, names)
        return lw.bind(prim, *(g[n] for n in names))
    return lower


# -- reductions --------------------------------------------------------------------


def _check_dtype_param(lw, what, x, given):
    dtype = _get(given, "dtype")
    if dtype is None:
        return
    dtype = lw.static(dtype, "dtype")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        lw.fail(f"{what}(): dtype={dtype!r} is not a dtype", SignatureError)
    xd = lw.dtype(x)
    if not (xd.kind == "f" and dt == xd):  # the default already accumulates floats in their dtype
        lw.fail(f"{what}(): parameter 'dtype' is not supported (got dtype={dt}; only the "
                f"argument's own float dtype, {xd}, is)", UnsupportedFunction)


def _reduction_lower(fn, prim, what, x_name="a", has_dtype=True):
    def lower(lw, args, kw):
        names = (x_name, "axis", "keepdims") + (("dtype",) if has_dtype else ())
        g = bind_params(lw, fn, what, args, kw, names)
        x = g[x_name]
        if has_dtype:
            _check_dtype_param(lw, what, x, g)
        axis = lw.static(_get(g, "axis"), "axis")
        keepdims = lw.static(_get(g, "keepdims", False), "keepdims")
        return lw.bind(prim, x, axis=axis, keepdims=bool(keepdims))
    return lower


def _softmax_like(fn, prim):
    def lower(lw, args, kw):
        g = bind_params(lw, fn, fn.__name__, args, kw, ("x", "axis"))
        return lw.bind(prim, g["x"], axis=lw.static(_get(g, "axis", -1), "axis"))
    return lower


def _logsumexp(lw, args, kw):
    g = bind_params(lw, support.logsumexp, "logsumexp", args, kw, ("x", "axis", "keepdims"))
    return lw.bind("logsumexp", g["x"], axis=lw.static(_get(g, "axis"), "axis"),
                   keepdims=bool(lw.static(_get(g, "keepdims", False), "keepdims")))


# -- products, selection ---------------------------------------------------------------


def _dot(lw, args, kw):
    g = bind_params(lw, np.dot, "np.dot", args, kw, ("a", "b"))
    a, b = g["a"], g["b"]
    if lw.ndim(a) == 0 or lw.ndim(b) == 0:
        return lw.bind("mul", a, b)
    if lw.ndim(a) > 2 or lw.ndim(b) > 2:
        lw.fail("np.dot of arrays with more than 2 dimensions is not supported (use np.matmul)")
    return lw.bind("matmul", a, b)


def _outer(lw, args, kw):
    g = bind_params(lw, np.outer, "np.outer", args, kw, ("a", "b"))
    return lw.bind("outer", g["a"], g["b"])


def _where(lw, args, kw):
    if len(args) != 3 or kw:
        lw.fail("np.where(condition, x, y) needs exactly three arguments (positional; the "
                "one-argument form returns indices and is not supported)")
    return lw.bind("where", *args)


def _clip(lw, args, kw):
    g = bind_params(lw, np.clip, "np.clip", args, kw, ("a", "a_min", "a_max", "min", "max"))
    x = array_operand(lw, g["a"])  # np.clip(0.3, lo, hi) clips np.asarray(0.3): float64
    lo, hi = _get(g, "a_min"), _get(g, "a_max")
    for name, alias, cur in (("min", "a_min", lo), ("max", "a_max", hi)):
        v = _get(g, name)
        if v is not None:
            if cur is not None:
                lw.fail(f"np.clip(): passed both {alias} and {name}", SignatureError)
            if name == "min":
                lo = v
            else:
                hi = v
    if lo is None and hi is None:
        return x  # NumPy returns a copy: the same values (the frontend records fresh memory)
    if lw.is_static(lo) and lw.is_static(hi) and np.ndim(lw.value(lo)) == 0 and np.ndim(lw.value(hi)) == 0 \
            and all(v is None or isinstance(lw.value(v), (int, float, np.floating, np.integer))
                    and not isinstance(lw.value(v), bool) for v in (lo, hi)):
        lo, hi = lw.value(lo), lw.value(hi)
        from ..ir import Value
        if isinstance(x, Value):  # NumPy's result type: a NumPy scalar bound is strong (NEP 50)
            with np.errstate(all="ignore"):
                dt = np.clip(np.ones((1,) * x.ndim, x.dtype), lo, hi).dtype
            if dt != x.dtype and dt.kind == "f":
                x = lw.bind("cast", x, dtype=dt)
        return lw.bind("clip", x, lo=None if lo is None else float(lo), hi=None if hi is None else float(hi))
    if lo is not None:
        x = lw.bind("maximum", x, lo)
    return x if hi is None else lw.bind("minimum", x, hi)


# -- shapes ------------------------------------------------------------------------------


def _transpose(lw, args, kw):
    g = bind_params(lw, np.transpose, "np.transpose", args, kw, ("a", "axes"))
    return lw.bind("transpose", g["a"], axes=lw.static(_get(g, "axes"), "axes"))


def reshape(lw, x, shape, order, what):
    order = lw.static(order, "order")
    shape = lw.static(shape, "shape")
    if order in ("C", None):
        return lw.bind("reshape", x, shape=shape)
    if order == "F":
        # Fortran order is C order on the reversed axes: reshape(x.T, reversed(shape)).T
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        flipped = lw.bind("transpose", x, axes=None)
        return lw.bind("transpose", lw.bind("reshape", flipped, shape=tuple(reversed(shape))), axes=None)
    if order in ("A", "K"):
        lw.fail(f"{what}(): order={order!r} depends on the memory layout of the array, which gradc "
                "does not model; use order='C' or order='F'", UnsupportedFunction)
    lw.fail(f"{what}(): order must be one of 'C', 'F', 'A', 'K', not {order!r}", SignatureError)


def _reshape(lw, args, kw):
    g = bind_params(lw, np.reshape, "np.reshape", args, kw, ("a", "shape", "order", "copy"))
    copy = lw.static(_get(g, "copy"), "copy")
    if copy is False:
        lw.fail("np.reshape(): copy=False (raise where a copy is needed) is not supported",
                UnsupportedFunction)
    if "shape" not in g:
        lw.fail("np.reshape(a, shape) needs a shape", SignatureError)
    return reshape(lw, g["a"], g["shape"], _get(g, "order", "C"), "np.reshape")


def _expand_dims(lw, args, kw):
    g = bind_params(lw, np.expand_dims, "np.expand_dims", args, kw, ("a", "axis"))
    return lw.bind("expand_dims", g["a"], axis=lw.static(g["axis"], "axis"))


def _broadcast_to(lw, args, kw):
    g = bind_params(lw, np.broadcast_to, "np.broadcast_to", args, kw, ("array", "shape"))
    return lw.bind("broadcast_to", g["array"], shape=lw.static(g["shape"], "shape"))


def _zeros_like(lw, args, kw):
    g = bind_params(lw, np.zeros_like, "np.zeros_like", args, kw, ("a",))
    return lw.bind("zeros_like", g["a"])


def _ones_like(lw, args, kw):
    g = bind_params(lw, np.ones_like, "np.ones_like", args, kw, ("a",))
    x = g["a"]
    shape, dtype = lw.shape(x), lw.dtype(x)
    return lw.bind("broadcast_to", np.ones((), dtype=dtype)[()], shape=shape)


# -- building arrays from traced pieces ----------------------------------------------------


def _operand(lw, x):
    """An operand of concatenate: Values as they are; anything else as NumPy would
    convert it (Python scalars become strongly typed 0-d arrays, as in np.array)."""
    from ..ir import Value
    if isinstance(x, Value):
        return x
    if isinstance(x, (list, tuple)):
        return array_from(lw, x)
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        lw.fail(f"cannot build an array from {_short(x)}", UnsupportedFunction)
    from ..ir import Const
    return Const(arr)


def array_operand(lw, x):
    """An operand of a NumPy function that is not a ufunc (np.dot, np.inner, np.kron, np.clip's
    `a`): NumPy converts it with np.asarray, so a Python number there, written or passed as an
    argument, is a strong float64/int64 array (np.dot(x32, 0.5) is float64), not NEP 50's weak
    scalar a ufunc would see."""
    from ..ir import Value
    return lw._strong(x) if isinstance(x, Value) else _operand(lw, x)


def array_from(lw, obj):
    """np.array(obj) for nested lists/tuples holding traced values: a stack of stacks."""
    from ..ir import Value
    if not isinstance(obj, (list, tuple)):
        return _operand(lw, obj)
    if not obj:
        lw.fail("np.array of an empty list mixed with arrays is not supported", UnsupportedFunction)
    parts = [_operand(lw, item) for item in obj]
    shapes = {tuple(lw.shape(p)) for p in parts}
    if len(shapes) != 1:
        lw.fail(f"np.array of pieces with different shapes {sorted(shapes)}: NumPy would make an "
                "object array or fail", SignatureError)
    return stack(lw, parts, 0)


def stack(lw, parts, axis):
    parts = [p for p in parts]
    ndim = lw.ndim(parts[0]) + 1
    axis = lw.static(axis, "axis")
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool) or not -ndim <= axis < ndim:
        lw.fail(f"np.stack(): axis {axis!r} is out of bounds for {ndim} dimensions", SignatureError)
    axis = int(axis) % ndim
    whole = _all_rows(parts) if axis == 0 else None
    if whole is not None:  # the rows of one array, in order (a loop's appended rows): a copy of it
        return lw.bind("copy", whole)
    return lw.bind("concatenate", *(lw.bind("expand_dims", p, axis=axis) for p in parts), axis=axis)


def _all_rows(parts):
    """The array whose rows 0, 1, ..., n - 1 the parts are (getitem views), or None."""
    from ..ir import Value
    first = parts[0].producer if isinstance(parts[0], Value) else None
    if first is None or first.prim.name != "getitem":
        return None
    whole = first.inputs[0]
    if whole.ndim == 0 or whole.shape[0] != len(parts):
        return None
    for k, p in enumerate(parts):
        op = p.producer if isinstance(p, Value) else None
        if op is None or op.prim.name != "getitem" or op.inputs[0] is not whole or op.params.get("index") != (k,):
            return None
    return whole


def _sequence(lw, what, arrays):
    """The pieces of np.stack-like functions: a list or tuple of array_likes, or one array,
    which NumPy iterates over (its rows)."""
    from ..ir import Value
    if isinstance(arrays, Value):
        if arrays.ndim == 0:
            lw.fail(f"{what}(): iteration over a 0-d array", SignatureError)
        arrays = [lw.bind("getitem", arrays, index=(i,)) for i in range(arrays.shape[0])]
    if not isinstance(arrays, (list, tuple)) or not arrays:
        lw.fail(f"{what}() needs a non-empty list or tuple of arrays", SignatureError)
    return [_operand(lw, a) for a in arrays]


def _stack(lw, args, kw):
    g = bind_params(lw, np.stack, "np.stack", args, kw, ("arrays", "axis"))
    parts = _sequence(lw, "np.stack", g["arrays"])
    if len({tuple(lw.shape(p)) for p in parts}) != 1:
        lw.fail("np.stack(): all input arrays must have the same shape", SignatureError)
    return stack(lw, parts, _get(g, "axis", 0))


def concatenate(lw, parts, axis):
    if len(parts) == 1:
        return parts[0]
    return lw.bind("concatenate", *parts, axis=axis)


def _concatenate(lw, args, kw):
    g = bind_params(lw, np.concatenate, "np.concatenate", args, kw, ("arrays", "axis"))
    parts = _sequence(lw, "np.concatenate", g["arrays"])
    axis = lw.static(_get(g, "axis", 0), "axis")
    if axis is None:
        parts, axis = [lw.bind("reshape", p, shape=(-1,)) for p in parts], 0
    if any(lw.ndim(p) == 0 for p in parts):
        lw.fail("np.concatenate(): zero-dimensional arrays cannot be concatenated", SignatureError)
    if len(parts) == 1:
        # NumPy copies: a fresh array with the same values
        lw.bind("concatenate", parts[0], parts[0], axis=axis)  # checks the axis
        return parts[0]
    return lw.bind("concatenate", *parts, axis=axis)


def _hstack(lw, args, kw):
    g = bind_params(lw, np.hstack, "np.hstack", args, kw, ("tup",))
    parts = [p if lw.ndim(p) >= 1 else lw.bind("reshape", p, shape=(1,))
             for p in _sequence(lw, "np.hstack", g["tup"])]
    return concatenate(lw, parts, 0 if lw.ndim(parts[0]) == 1 else 1)


def _vstack(lw, args, kw):
    g = bind_params(lw, np.vstack, "np.vstack", args, kw, ("tup",))
    parts = []
    for p in _sequence(lw, "np.vstack", g["tup"]):
        if lw.ndim(p) == 0:
            p = lw.bind("reshape", p, shape=(1, 1))
        elif lw.ndim(p) == 1:
            p = lw.bind("reshape", p, shape=(1, lw.shape(p)[0]))
        parts.append(p)
    return concatenate(lw, parts, 0)


def _array_dtype(lw, x, dtype, what):
    if dtype is None:
        return x
    dt = np.dtype(lw.static(dtype, "dtype"))
    if dt.kind not in "fiub":
        lw.fail(f"{what}(): dtype {dt} is not supported", UnsupportedFunction)
    return lw.bind("cast", x, dtype=dt)


def _array(lw, args, kw):
    g = bind_params(lw, np.array, "np.array", args, kw, ("object", "dtype", "copy", "order", "ndmin"))
    order = lw.static(_get(g, "order", "K"), "order")
    if order not in ("K", "A", "C", "F", None):  # the memory layout only: values are the same
        lw.fail(f"np.array(): order must be 'K', 'A', 'C' or 'F', not {order!r}", SignatureError)
    copy = lw.static(_get(g, "copy", True), "copy")
    if copy is False:
        lw.fail("np.array(): copy=False is not supported", UnsupportedFunction)
    x = _array_dtype(lw, array_from(lw, g["object"]), _get(g, "dtype"), "np.array")
    ndmin = lw.static(_get(g, "ndmin", 0), "ndmin")
    if lw.ndim(x) < ndmin:
        x = lw.bind("reshape", x, shape=(1,) * (ndmin - lw.ndim(x)) + tuple(lw.shape(x)))
    return x


def _asarray(lw, args, kw):
    g = bind_params(lw, np.asarray, "np.asarray", args, kw, ("a", "dtype", "order", "copy"))
    order = lw.static(_get(g, "order"), "order")
    if order not in ("K", "A", "C", "F", None):
        lw.fail(f"np.asarray(): order must be 'K', 'A', 'C' or 'F', not {order!r}", SignatureError)
    if lw.static(_get(g, "copy"), "copy") is False and not _no_copy_needed(lw, g):
        lw.fail("np.asarray(): copy=False is not supported here (NumPy may have to copy)",
                UnsupportedFunction)
    return _array_dtype(lw, array_from(lw, g["a"]), _get(g, "dtype"), "np.asarray")


def _np_copy(lw, args, kw):
    """np.copy(a): a new array of a's values (the frontend records fresh memory; a NumPy
    scalar's copy is a 0-d array, as NumPy's)."""
    g = bind_params(lw, np.copy, "np.copy", args, kw, ("a", "order", "subok"))
    order = lw.static(_get(g, "order", "K"), "order")
    if order not in ("K", "A", "C", "F"):  # layout of the copy only: values are the same
        lw.fail(f"np.copy(): order must be 'K', 'A', 'C' or 'F', not {order!r}", SignatureError)
    return array_from(lw, g["a"])


def _asanyarray(lw, args, kw):
    """np.asanyarray: np.asarray for the plain arrays gradc takes (subclasses are refused)."""
    g = bind_params(lw, np.asanyarray, "np.asanyarray", args, kw, ("a", "dtype", "order"))
    return _asarray(lw, [g["a"]], {k: v for k, v in g.items() if k in ("dtype", "order")})


def _no_copy_needed(lw, g):
    from ..ir import Value
    a = g["a"]
    dtype = _get(g, "dtype")
    return isinstance(a, Value) and (dtype is None or np.dtype(lw.static(dtype, "dtype")) == a.dtype)


TABLE = {
    np.where: _where, np.clip: _clip,
    np.sum: _reduction_lower(np.sum, "sum", "np.sum"), np.mean: _reduction_lower(np.mean, "mean", "np.mean"),
    np.max: _reduction_lower(np.max, "max", "np.max", has_dtype=False),
    np.amax: _reduction_lower(np.amax, "max", "np.amax", has_dtype=False),
    np.min: _reduction_lower(np.min, "min", "np.min", has_dtype=False),
    np.amin: _reduction_lower(np.amin, "min", "np.amin", has_dtype=False),
    np.dot: _dot, np.matmul: _binary(np.matmul, "matmul"), np.outer: _outer,
    np.transpose: _transpose, np.reshape: _reshape, np.expand_dims: _expand_dims,
    np.broadcast_to: _broadcast_to, np.zeros_like: _zeros_like, np.ones_like: _ones_like,
    np.stack: _stack, np.concatenate: _concatenate, np.hstack: _hstack, np.vstack: _vstack,
    np.array: _array, np.asarray: _asarray, np.copy: _np_copy, np.asanyarray: _asanyarray,
    # gradc.nn (the same function objects as runtime.support)
    support.sigmoid: _plain(support.sigmoid, "sigmoid", ("x",)),
    support.softplus: _plain(support.softplus, "softplus", ("x",)),
    support.relu: _plain(support.relu, "relu", ("x",)), support.logsumexp: _logsumexp,
    support.softmax: _softmax_like(support.softmax, "softmax"),
    support.log_softmax: _softmax_like(support.log_softmax, "log_softmax"),
}
for _fn, _prim in [(np.negative, "neg"), (np.exp, "exp"), (np.log, "log"), (np.log1p, "log1p"),
                   (np.expm1, "expm1"), (np.sqrt, "sqrt"), (np.square, "square"), (np.sin, "sin"),
                   (np.cos, "cos"), (np.tan, "tan"), (np.tanh, "tanh"), (np.arctan, "arctan"),
                   (np.abs, "abs"), (np.sign, "sign")]:
    TABLE[_fn] = _unary(_fn, _prim)
for _fn, _prim in [(np.add, "add"), (np.subtract, "sub"), (np.multiply, "mul"), (np.divide, "div"),
                   (np.power, "pow"), (np.maximum, "maximum"), (np.minimum, "minimum"),
                   (np.logaddexp, "logaddexp"), (np.greater, "greater"), (np.less, "less"),
                   (np.greater_equal, "greater_equal"), (np.less_equal, "less_equal"),
                   (np.equal, "equal"), (np.not_equal, "not_equal"),
                   (np.logical_and, "logical_and"), (np.logical_or, "logical_or")]:
    TABLE[_fn] = _binary(_fn, _prim)

# How each result relates to its first operand's memory (default "fresh").
KIND = {np.transpose: "view", np.reshape: "view", np.expand_dims: "view", np.broadcast_to: "readonly",
        np.asarray: "alias", np.asanyarray: "alias"}

# Functions that only build constants: evaluated at compile time, arguments must be static
# (np.array and np.asarray of traced values lower through TABLE instead).
CONSTRUCTORS = {np.zeros, np.ones, np.array, np.asarray, np.full, np.eye, np.arange, np.linspace,
                np.float64, np.float32, np.int64, np.int32}


# Functions that always become ops, even on compile-time operands (the builder folds
# those): gradc.nn and user primitives. Other NumPy calls on constants run once, now.
ALWAYS_LOWER = {support.sigmoid, support.softplus, support.relu, support.logsumexp,
                support.softmax, support.log_softmax}


def register(fn, prim: str) -> None:
    """A user-defined primitive: calls to `fn` lower to `prim`."""
    def lower(lw, args, kw):
        if kw or len(args) != 1:
            lw.fail(f"{prim}() takes exactly one positional argument", SignatureError)
        return lw.bind(prim, args[0])
    TABLE[fn] = lower
    ALWAYS_LOWER.add(fn)


def lookup(fn):
    try:
        return TABLE.get(fn)
    except TypeError:  # unhashable callables
        return None


# -- methods of arrays: name -> lower(lw, self, args, kwargs) ---------------------------------
# Stubs mirroring NumPy's documented method signatures (ndarray methods have no
# introspectable signature); `self` is bound separately.

def _m_sum(axis=None, dtype=None, out=None, *, keepdims=NOVALUE, initial=NOVALUE, where=NOVALUE): ...
def _m_mean(axis=None, dtype=None, out=None, *, keepdims=NOVALUE, where=NOVALUE): ...
def _m_max(axis=None, out=None, *, keepdims=NOVALUE, initial=NOVALUE, where=NOVALUE): ...
def _m_reshape(*shape, order="C", copy=None): ...
def _m_transpose(*axes): ...
def _m_dot(other, /, out=None): ...
def _m_clip(min=NOVALUE, max=NOVALUE, out=None, **kwargs): ...
def _m_astype(dtype, order="K", casting="unsafe", subok=True, copy=True): ...
def _m_copy(order="C"): ...
def _m_ravel(order="C"): ...


METHOD_SIGNATURES = {"sum": _m_sum, "mean": _m_mean, "max": _m_max, "min": _m_max,
                     "reshape": _m_reshape, "transpose": _m_transpose, "dot": _m_dot, "clip": _m_clip,
                     "astype": _m_astype, "copy": _m_copy, "ravel": _m_ravel, "flatten": _m_ravel}


def _method_reduction(prim, has_dtype):
    def lower(lw, x, args, kw):
        what = f".{prim}"
        g = bind_params(lw, None, what, args, kw, ("axis", "keepdims") + (("dtype",) if has_dtype else ()),
                        sig=signature(METHOD_SIGNATURES[prim]))
        if has_dtype:
            _check_dtype_param(lw, what, x, g)
        return lw.bind(prim, x, axis=lw.static(_get(g, "axis"), "axis"),
                       keepdims=bool(lw.static(_get(g, "keepdims", False), "keepdims")))
    return lower


def _method_reshape(lw, x, args, kw):
    g = bind_params(lw, None, ".reshape", args, kw, ("shape", "order", "copy"),
                    sig=signature(_m_reshape))
    shape = g.get("shape", ())
    if not shape:
        lw.fail(".reshape() needs a shape", SignatureError)
    shape = shape[0] if len(shape) == 1 else tuple(shape)
    if lw.static(_get(g, "copy"), "copy") is False:
        lw.fail(".reshape(): copy=False is not supported", UnsupportedFunction)
    return reshape(lw, x, shape, _get(g, "order", "C"), ".reshape")


def _method_transpose(lw, x, args, kw):
    g = bind_params(lw, None, ".transpose", args, kw, ("axes",), sig=signature(_m_transpose))
    axes = g.get("axes", ())
    axes = (axes[0] if len(axes) == 1 else tuple(axes)) if axes else None
    return lw.bind("transpose", x, axes=lw.static(axes, "axes"))


def _method_dot(lw, x, args, kw):
    g = bind_params(lw, None, ".dot", args, kw, ("other",), sig=signature(_m_dot))
    return _dot(lw, (x, g["other"]), {})


def _method_clip(lw, x, args, kw):
    g = bind_params(lw, None, ".clip", args, kw, ("min", "max"), sig=signature(_m_clip))
    lo, hi = _get(g, "min"), _get(g, "max")
    kw2 = {k: v for k, v in (("min", lo), ("max", hi)) if v is not None}
    return _clip(lw, (x,), kw2)


def _method_astype(lw, x, args, kw):
    g = bind_params(lw, None, ".astype", args, kw, ("dtype", "order", "casting", "copy"),
                    sig=signature(_m_astype))
    if "dtype" not in g:
        lw.fail(".astype() needs a dtype", SignatureError)
    try:
        dtype = np.dtype(lw.static(g["dtype"], "dtype"))
    except TypeError as e:
        lw.fail(f".astype(): {e}", SignatureError)
    if dtype.kind not in "fiub":
        lw.fail(f"astype({dtype}) is not supported")
    order = lw.static(_get(g, "order", "K"), "order")
    if order not in ("K", "A", "C", "F"):  # layout of the result only
        lw.fail(f".astype(): order must be 'K', 'A', 'C' or 'F', not {order!r}", SignatureError)
    casting = lw.static(_get(g, "casting", "unsafe"), "casting")
    if casting not in ("no", "equiv", "safe", "same_kind", "unsafe"):
        lw.fail(f".astype(): casting={casting!r} is not a casting rule", SignatureError)
    if not np.can_cast(lw.dtype(x), dtype, casting=casting):
        lw.fail(f".astype(): cannot cast {lw.dtype(x)} to {dtype} with casting={casting!r}", SignatureError)
    return lw.bind("cast", x, dtype=dtype)


def _method_copy(lw, x, args, kw):
    g = bind_params(lw, None, ".copy", args, kw, ("order",), sig=signature(_m_copy))
    order = lw.static(_get(g, "order", "C"), "order")
    if order not in ("K", "A", "C", "F"):  # layout of the copy only: values are the same
        lw.fail(f".copy(): order must be 'K', 'A', 'C' or 'F', not {order!r}", SignatureError)
    return x


def _method_ravel(name):
    def lower(lw, x, args, kw):
        g = bind_params(lw, None, f".{name}", args, kw, ("order",), sig=signature(_m_ravel))
        return reshape(lw, x, (-1,), _get(g, "order", "C"), f".{name}")
    return lower


METHODS = {
    "sum": _method_reduction("sum", True), "mean": _method_reduction("mean", True),
    "max": _method_reduction("max", False), "min": _method_reduction("min", False),
    "reshape": _method_reshape, "transpose": _method_transpose,
    "dot": _method_dot, "clip": _method_clip, "astype": _method_astype,
    "copy": _method_copy,  # values are immutable in gradc's IR; the frontend records fresh memory
    "ravel": _method_ravel("ravel"), "flatten": _method_ravel("flatten"),
}

# How a method's result relates to the array's memory (default "fresh").
METHOD_KIND = {"reshape": "view", "transpose": "view", "ravel": "view"}


def method_kind(name, args, kw):
    if name == "astype":  # copy=False returns the array itself when no cast is needed
        copy = kw.get("copy", args[4] if len(args) > 4 else True)
        return "fresh" if copy is True else "alias"
    return METHOD_KIND.get(name, "fresh")


# -- families in their own modules ------------------------------------------------
# A module `numpy_<family>.py` beside this one (indexing, linear algebra, more ufuncs,
# ...) defines TABLE and KIND, and may define METHODS, METHOD_SIGNATURES and METHOD_KIND;
# each is merged into the dicts above, so lookup sees one table. Families import the
# binding helpers from here, which is why this runs last.
def _merge_families() -> None:
    import importlib
    import pkgutil

    package = __name__.rpartition(".")[0]
    for info in sorted(pkgutil.iter_modules(importlib.import_module(package).__path__),
                       key=lambda m: m.name):
        if not info.name.startswith("numpy_") or info.name == "numpy_table":
            continue
        family = importlib.import_module(f"{package}.{info.name}")
        for name in ("TABLE", "KIND", "METHODS", "METHOD_SIGNATURES", "METHOD_KIND"):
            globals()[name].update(getattr(family, name, {}))


_merge_families()
