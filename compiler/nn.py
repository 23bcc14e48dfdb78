"""Neural-network functions that gradc compiles to single, stable primitives.

Called directly they are plain NumPy; inside a compiled function each becomes
one op with a hand-derived VJP (e.g. softmax's `p * (g - sum(g * p))`) instead
of the longer chain its NumPy spelling would give.
"""
from gradc.runtime.support import log_softmax, logsumexp, relu, sigmoid, softmax, softplus

__all__ = ["sigmoid", "softplus", "relu", "logsumexp", "softmax", "log_softmax"]
