"""Python's `operator` functions on arrays: `operator.mul(x, y)` is `x * y`.

Each lowers through the frontend's own operator code (`Lowering.binop`), so NumPy's
broadcasting, dtypes and the Python-float conventions are those of the operator. One case
differs: on Python numbers only (`operator.mul(lam, 2.0)` with a float argument `lam`),
Python returns a Python float, which a function call in gradc's frontend cannot give back
(NumPy calls make results strong float64), so it is refused with the spelling to use.
"""
from __future__ import annotations

import ast
import operator

from ..errors import SignatureError, UnsupportedFunction
from ..ir import Const, Value

_BINARY = {operator.add: ast.Add, operator.sub: ast.Sub, operator.mul: ast.Mult,
           operator.truediv: ast.Div, operator.floordiv: ast.FloorDiv, operator.mod: ast.Mod,
           operator.pow: ast.Pow, operator.matmul: ast.MatMult}
_SPELLING = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
             ast.Pow: "**", ast.MatMult: "@"}


def _weak(v) -> bool:
    return isinstance(v, Value) and not isinstance(v, Const) and v.pytype is float


def _binary(fn, op):
    def lower(lw, args, kw):
        name = f"operator.{fn.__name__}"
        if kw or len(args) != 2:
            lw.fail(f"{name}() takes exactly two positional arguments", SignatureError)
        out = lw.binop(op(), args[0], args[1], lw.node)
        if _weak(out):
            lw.fail(f"{name}() of Python numbers gives a Python float, which gradc cannot return "
                    f"from a call; write the operator: a {_SPELLING[op]} b", UnsupportedFunction)
        return out
    return lower


def _neg(lw, args, kw):
    if kw or len(args) != 1:
        lw.fail("operator.neg() takes exactly one positional argument", SignatureError)
    if _weak(args[0]):
        lw.fail("operator.neg() of a Python float gives a Python float, which gradc cannot return "
                "from a call; write -x", UnsupportedFunction)
    return lw.bind("neg", args[0])


TABLE = {fn: _binary(fn, op) for fn, op in _BINARY.items()}
TABLE[operator.neg] = _neg
