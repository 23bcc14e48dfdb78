"""Python's `math` module on traced scalars.

On compile-time numbers a `math` function simply runs (`math.sqrt(2 / math.pi)` is folded:
the frontend calls it). On a traced 0-d value it lowers to the NumPy primitive of the same
function on the value as a Python float (float64, as math converts it), and the result is a
Python float, as Python's (weak under NEP 50; NumPy's inf or nan where math would raise, the
documented float convention). On a traced array with elements it is refused, as Python's math
functions raise on arrays: the message names the NumPy function to write instead.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import SignatureError, UnsupportedFunction
from ..ir import Const, Value

# math function -> (NumPy spelling for messages, lowering on 0-d operands)
_UNARY = {
    math.exp: ("np.exp", "exp"), math.expm1: ("np.expm1", "expm1"), math.log1p: ("np.log1p", "log1p"),
    math.log2: ("np.log2", "log2"), math.log10: ("np.log10", "log10"), math.sqrt: ("np.sqrt", "sqrt"),
    math.sin: ("np.sin", "sin"), math.cos: ("np.cos", "cos"), math.tan: ("np.tan", "tan"),
    math.asin: ("np.arcsin", "arcsin"), math.acos: ("np.arccos", "arccos"), math.atan: ("np.arctan", "arctan"),
    math.sinh: ("np.sinh", "sinh"), math.cosh: ("np.cosh", "cosh"), math.tanh: ("np.tanh", "tanh"),
    math.asinh: ("np.arcsinh", "arcsinh"), math.acosh: ("np.arccosh", "arccosh"),
    math.atanh: ("np.arctanh", "arctanh"), math.fabs: ("np.fabs", "abs"),
    math.floor: ("np.floor", "floor"), math.ceil: ("np.ceil", "ceil"), math.trunc: ("np.trunc", "trunc"),
    math.isnan: ("np.isnan", "isnan"), math.isinf: ("np.isinf", "isinf"),
    math.isfinite: ("np.isfinite", "isfinite"),
}
if hasattr(math, "cbrt"):
    _UNARY[math.cbrt] = ("np.cbrt", "cbrt")
_BINARY = {math.atan2: ("np.arctan2", "arctan2"), math.hypot: ("np.hypot", "hypot"),
           math.pow: ("np.power", "pow"), math.copysign: ("np.copysign", None),
           math.fmod: ("np.fmod", None)}


def _name(fn) -> str:
    return f"math.{fn.__name__}"


def _scalar(lw, fn, x, instead):
    """The 0-d float operand of a math function, or a CompileError saying what to write."""
    if not isinstance(x, Value):
        x = Const(np.asarray(x, dtype=np.float64)[()])
    if x.ndim != 0:
        lw.fail(f"{_name(fn)}() of an array ({x.aval}): Python's math functions take one number and "
                f"raise on arrays; use {instead}(x), which works elementwise", UnsupportedFunction)
    if x.dtype != np.float64:  # math converts to a Python float (float64) first
        x = lw.bind("cast", x, dtype=np.dtype(np.float64))
    return x


def _python(out):
    """A float result of a math function is a Python float."""
    if isinstance(out, Value) and not isinstance(out, Const) and out.ndim == 0 and out.dtype == np.float64:
        out.pytype = float
    return out


def _unary(fn, instead, prim):
    def lower(lw, args, kw):
        if kw or len(args) != 1:
            lw.fail(f"{_name(fn)}() takes exactly one positional argument", SignatureError)
        x = _scalar(lw, fn, args[0], instead)
        if fn in (math.floor, math.ceil, math.trunc):  # Python returns an int: a compile-time value
            lw.fail(f"{_name(fn)}() of a value computed from the arguments returns a Python int, which "
                    f"gradc cannot know at compile time; use {instead}(x) (a float, derivative zero)",
                    UnsupportedFunction)
        return _python(lw.bind(prim, x))
    return lower


def _binary(fn, instead, prim):
    def lower(lw, args, kw):
        if kw or len(args) != 2:
            lw.fail(f"{_name(fn)}() takes exactly two positional arguments", SignatureError)
        if prim is None:
            lw.fail(f"{_name(fn)}() of values computed from the arguments is not supported; use "
                    f"{instead}(x, y)", UnsupportedFunction)
        x, y = (_scalar(lw, fn, a, instead) for a in args)
        return _python(lw.bind(prim, x, y))
    return lower


def _log(lw, args, kw):
    if kw or len(args) not in (1, 2):
        lw.fail("math.log() takes one or two positional arguments (x, base)", SignatureError)
    x = _python(lw.bind("log", _scalar(lw, math.log, args[0], "np.log")))
    if len(args) == 1:
        return x
    return _python(lw.bind("div", x, _python(lw.bind("log", _scalar(lw, math.log, args[1], "np.log")))))


def _reduction(fn, instead):
    def lower(lw, args, kw):
        lw.fail(f"{_name(fn)}() of an array computed from the arguments iterates over it, which gradc "
                f"cannot do at compile time; use {instead}", UnsupportedFunction)
    return lower


TABLE = {fn: _unary(fn, instead, prim) for fn, (instead, prim) in _UNARY.items()}
TABLE.update({fn: _binary(fn, instead, prim) for fn, (instead, prim) in _BINARY.items()})
TABLE[math.log] = _log
TABLE[math.fsum] = _reduction(math.fsum, "np.sum(x)")
TABLE[math.prod] = _reduction(math.prod, "np.prod(x)")
if hasattr(math, "sumprod"):
    TABLE[math.sumprod] = _reduction(math.sumprod, "np.dot(p, q)")

KIND: dict = {}


def is_math(fn) -> bool:
    """A function of Python's math module (run at compile time on numbers)."""
    return getattr(fn, "__module__", None) == "math" or fn in TABLE
