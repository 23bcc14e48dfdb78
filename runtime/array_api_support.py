"""The helpers of runtime/support.py written for the array API standard: each takes its
namespace from its argument (array_api_compat.array_namespace), so a module generated with
backend="array-api" runs them on NumPy, CuPy, PyTorch or JAX arrays. Codegen copies the source
of the ones a module uses into it, as it does for the NumPy helpers."""
from array_api_compat import array_namespace

__all__ = ["sigmoid", "softplus", "relu", "logsumexp", "softmax", "log_softmax"]


def sigmoid(x):
    """1 / (1 + e^-x)."""
    xp = array_namespace(x)
    return 1.0 / (1.0 + xp.exp(-x))


def softplus(x):
    """log(1 + e^x), stable for large |x|."""
    xp = array_namespace(x)
    return xp.logaddexp(xp.zeros_like(x), x)


def relu(x):
    xp = array_namespace(x)
    return xp.maximum(x, xp.zeros_like(x))


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) along axis, shifted by the maximum so it cannot overflow."""
    xp = array_namespace(x)
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))
    out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    if keepdims:
        return out
    if axis is None:
        return xp.reshape(out, ())
    return xp.squeeze(out, axis=axis)


def softmax(x, axis=-1):
    xp = array_namespace(x)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    xp = array_namespace(x)
    shifted = x - xp.max(x, axis=axis, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
