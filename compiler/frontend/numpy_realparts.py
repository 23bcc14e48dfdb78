"""Complex-number functions on real arrays, where they have real answers: np.real (the array),
np.imag (zeros), np.conj / np.conjugate (a copy), np.angle (0 or pi: arctan2(0, x)) and
np.real_if_close (the array). gradc's arrays are real, so these are exact; complex arrays
never reach them (complex arguments are refused).

np.real and np.imag of a Python float return a Python float, which a NumPy call in gradc
cannot give back (its results are NumPy values), so that case is refused.
"""
from __future__ import annotations

import numpy as np

from ..errors import UnsupportedFunction
from ..ir import Const, Value
from .numpy_more import _arr
from .numpy_table import _get, bind_params


def _python_float(v) -> bool:
    return isinstance(v, Value) and not isinstance(v, Const) and v.pytype is float


def _refuse_python_float(lw, what, v, instead):
    if _python_float(v):
        lw.fail(f"{what}() of a Python float returns a Python float, which gradc cannot return from "
                f"a NumPy call; write {instead}", UnsupportedFunction)


def _real(lw, args, kw):
    x = bind_params(lw, np.real, "np.real", args, kw, ("val",))["val"]
    _refuse_python_float(lw, "np.real", x, "x itself")
    return _arr(lw, x)


def _imag(lw, args, kw):
    x = bind_params(lw, np.imag, "np.imag", args, kw, ("val",))["val"]
    _refuse_python_float(lw, "np.imag", x, "0.0")
    return lw.bind("zeros_like", _arr(lw, x))


def _conj(fn):
    def lower(lw, args, kw):
        """The conjugate of a real array: a new array with its values (a ufunc's result)."""
        x = _arr(lw, bind_params(lw, fn, "np." + fn.__name__, args, kw, ("x",))["x"])
        if x.dtype.kind == "b":
            lw.fail(f"np.{fn.__name__}() of booleans (NumPy makes integers) is not supported", UnsupportedFunction)
        return x
    return lower


def _angle(lw, args, kw):
    g = bind_params(lw, np.angle, "np.angle", args, kw, ("z", "deg"))
    x = _arr(lw, g["z"])
    dtype = np.arctan2(0, np.ones((1,), x.dtype)).dtype  # bool and int8 give float16, as in NumPy
    if x.dtype != dtype:
        x = lw.bind("cast", x, dtype=dtype)
    a = lw.bind("arctan2", lw.bind("zeros_like", x), x)  # NumPy: arctan2(z.imag, z.real)
    return lw.bind("mul", a, 180 / np.pi) if lw.static(_get(g, "deg", False), "deg") else a


def _real_if_close(lw, args, kw):
    g = bind_params(lw, np.real_if_close, "np.real_if_close", args, kw, ("a", "tol"))
    return _arr(lw, g["a"])  # a real array is returned as it is


TABLE = {np.real: _real, np.imag: _imag, np.conj: _conj(np.conj), np.angle: _angle,
         np.real_if_close: _real_if_close}
if np.conjugate is not np.conj:  # pragma: no cover - the same ufunc in NumPy 2
    TABLE[np.conjugate] = _conj(np.conjugate)
# np.real and np.real_if_close return the array itself (np.real: its real part, a view); np.imag
# of a real array is a read-only array of zeros
KIND = {np.real: "alias", np.real_if_close: "alias", np.imag: "readonly"}
