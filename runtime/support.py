"""Small NumPy helpers that generated code calls.

Each is plain NumPy, numerically stable, and self-contained: codegen copies the
source of the ones a module uses into saved modules, so those import only NumPy.
`gradc.nn` re-exports the activation functions for users' own code.
"""
import numpy as np

__all__ = ["sigmoid", "softplus", "relu", "logsumexp", "softmax", "log_softmax", "scatter"]


def sigmoid(x):
    """1 / (1 + e^-x), without overflow warnings for large negative x."""
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


def scatter(g, index, shape):
    """The adjoint of x[index] for a basic index: g placed into zeros of x's shape."""
    out = np.zeros(shape, dtype=np.result_type(g))
    out[index] = g
    return out
