"""Small NumPy helpers that generated code calls.

Each is plain NumPy, numerically stable, and self-contained: codegen copies the
source of the ones a module uses into saved modules, so those import only NumPy.
`gradc.nn` re-exports the activation functions for users' own code.
"""
import numpy as np

__all__ = ["sigmoid", "softplus", "relu", "logsumexp", "softmax", "log_softmax", "scatter", "scatter_add",
           "gather_last", "index_set", "index_add", "last_write", "where_zero"]


def sigmoid(x):
    """1 / (1 + e^-x), without overflow warnings for large negative x (e^-x is inf there:
    the result is 0). A number that cannot overflow skips np.errstate, which costs more
    than the arithmetic on one number (a Python float or a NumPy float64 scalar)."""
    if isinstance(x, float) and x >= -709.0:
        return 1.0 / (1.0 + np.exp(-x))
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def softplus(x):
    """log(1 + e^x), stable for large |x|."""
    return np.logaddexp(0.0, x)


def relu(x):
    return np.maximum(x, 0.0)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) along axis, shifted by the maximum so it cannot overflow."""
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis) if axis is not None else out.reshape(())[()]


def softmax(x, axis=-1):
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def where_zero(condition, x, keep_where=True):
    """np.where(condition, x, 0) (keep_where=False: np.where(condition, 0, x)) for a float
    array x of condition's shape, bit for bit, without np.where's branch per element, which
    costs several times the arithmetic when the condition is unpredictable (a relu's mask):
    x's bits ANDed with all ones where x is kept, all zeros (+0.0) elsewhere."""
    if not (type(condition) is np.ndarray and type(x) is np.ndarray and condition.dtype == np.bool_
            and condition.shape == x.shape and x.dtype.kind == "f" and x.dtype.itemsize in (2, 4, 8)
            and x.dtype.isnative
            and condition.flags.c_contiguous and x.flags.c_contiguous):
        return np.where(condition, x, 0) if keep_where else np.where(condition, 0, x)
    bits = np.dtype(f"u{x.dtype.itemsize}")
    keep = condition.astype(bits)  # 1 where condition holds, else 0
    if keep_where:
        np.negative(keep, out=keep)  # all ones where condition holds
    else:
        np.subtract(keep, 1, out=keep)  # all ones where it does not
    np.bitwise_and(keep, x.view(bits), out=keep)
    return keep.view(x.dtype)


def scatter(g, index, shape):
    """The adjoint of x[index] for a basic index: g placed into zeros of x's shape."""
    out = np.zeros(shape, dtype=np.result_type(g))
    out[index] = g
    return out


def scatter_add(g, index, shape):
    """The adjoint of x[index] with index arrays: g added into zeros of x's shape,
    repeated indices accumulating (np.add.at)."""
    out = np.zeros(shape, dtype=np.result_type(g))
    np.add.at(out, index, g)
    return out


def index_set(x, index, v):
    """A copy of x with x[index] = v (NumPy's assignment: of repeated indices the last write stays)."""
    out = np.array(x, copy=True)
    out[index] = v
    return out


def index_add(x, index, v):
    """A copy of x with v added at index (np.add.at: repeated indices accumulate)."""
    out = np.array(x, copy=True)
    np.add.at(out, index, v)
    return out


def last_write(index, shape):
    """For x of `shape`: True where the element of x[index] is the one that stays after
    x[index] = v, False where a later repeat of its index writes over it."""
    order = np.zeros(shape, dtype=np.intp)
    k = np.arange(order[index].size).reshape(np.shape(order[index]))
    order[index] = k
    return order[index] == k


def gather_last(g, index):
    """g[index], with 0 where x[index] = v writes the element over again later: the
    adjoint of v in x[index] = v (only the last of repeated writes lands)."""
    order = np.zeros(np.shape(g), dtype=np.intp)
    k = np.arange(order[index].size).reshape(np.shape(order[index]))
    order[index] = k
    return np.where(order[index] == k, g[index], 0)


def numpy_errors_default(_seen=[(None, None, False)]):
    """Whether NumPy's floating-point error handling is its default (no np.errstate or
    np.seterr in effect). Scalar code on Python floats stands in for NumPy's only then: an
    overflow in an intermediate that NumPy would raise on (np.errstate(over="raise")) is
    silent on Python floats. While the state is the object seen last, the check is one
    context-variable read: `_seen[0]` (a default argument on purpose; one tuple, replaced
    whole, so threads never see half of it) is the variable's `get`, the state seen last
    and whether it was the default."""
    get, state, default = _seen[0]
    if get and get() is state:
        return default
    if get is None:
        # NumPy 2's context variable for the error state; with another NumPy: ask every time
        config = getattr(getattr(np, "_core", None), "_ufunc_config", None)
        var = getattr(config, "_extobj_contextvar", None)
        get = var.get if var is not None else False
    state = get() if get else None
    default = np.geterr() == {"divide": "warn", "over": "warn", "under": "ignore", "invalid": "warn"} \
        and np.geterrcall() is None
    _seen[0] = (get, state, default)
    return default


def numpy_errstate_when_default():
    """(get, state): the error-state context variable's `get` and the state object it holds
    now, when that state is NumPy's default; else None. While `get() is state`, the state is
    still that default (np.errstate and np.seterr set a new object), so a caller that tested
    this once can test it again by identity (`dispatch._fused`)."""
    numpy_errors_default()  # (records the state it sees: read back in one piece below)
    get, state, default = numpy_errors_default.__defaults__[0][0]
    return (get, state) if get and default and get() is state else None
