"""SymPy expressions → SSA program (the lowering itself is in sympy_lower.py).

Variables are ordered as `variables=` says, else the `wrt` symbols first (in wrt
order) and then the remaining free symbols by name. Every variable becomes an input,
so a compiled expression is called like a function of those variables.
"""
from __future__ import annotations

import inspect
import keyword
import unicodedata

import sympy as sp

from sympy.core.function import AppliedUndef

from ..errors import SignatureError, SourceLoc, UnsupportedFunction
from ..ir import Builder, Const, Program, Value
from ..passes.simplify import rewrite
from .python import bind_arguments
from .sympy_lower import _is_user_primitive, lower_expr


class SympyExpression:
    """The frontend for a SymPy expression."""

    real_variables = True  # symbols stand for real numbers: an int argument is a float

    def __init__(self, expr, wrt, variables=None):
        self.expr = expr  # a SymPy object (api.frontend_for checked); strings go to frontend.text
        self.name = "f"
        text = str(self.expr)
        self.loc = SourceLoc("<sympy>", 1, 0, None, text if len(text) <= 200 else text[:197] + "...", "f")
        if not isinstance(expr, sp.Expr):
            raise SignatureError(f"gradc compiles SymPy expressions (sympy.Expr), not a {type(expr).__name__}"
                                 + (": call the function on symbols, e.g. f(x)"
                                    if isinstance(expr, sp.FunctionClass) else ""), self.loc)
        undefined = sorted({str(f.func) for f in expr.atoms(AppliedUndef)
                            if not (len(f.args) == 1 and _is_user_primitive(f.func.__name__))})
        if undefined:
            raise UnsupportedFunction(f"the expression uses the undefined function(s) {', '.join(undefined)}: "
                                      "gradc differentiates only functions it knows (write out their "
                                      "formula, or define a primitive with @gradc.primitive)", self.loc)
        self.symbols = self._order(wrt, variables)
        names = [str(s) for s in self.symbols]
        for n in names:
            if not n.isidentifier() or keyword.iskeyword(n):
                raise SignatureError(f"the symbol {n!r} cannot name an argument of the compiled function (not "
                                     "a Python identifier); rename it, e.g. sympy.Symbol('x1')", self.loc)
        if len({unicodedata.normalize("NFKC", n) for n in names}) != len(names):
            raise SignatureError(f"two variables share a name: {names}", self.loc)
        self.signature = inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                                            for n in names])
        self.origin = "a SymPy expression"

    def _order(self, wrt, variables) -> list:
        free = sorted(self.expr.free_symbols, key=lambda s: s.name)
        by_name = {s.name: s for s in free}
        if variables is not None:
            chosen = [by_name.get(str(v), sp.Symbol(str(v))) if not isinstance(v, sp.Symbol) else v
                      for v in variables]
            missing = [s.name for s in free if s not in chosen]
            if missing:
                raise SignatureError(f"variables= leaves out {', '.join(missing)}", self.loc)
            return chosen
        wrt = wrt if isinstance(wrt, (tuple, list)) else (wrt,)
        first = []
        for w in wrt:
            if isinstance(w, sp.Symbol):
                first.append(w)
            elif isinstance(w, str) and w in by_name:
                first.append(by_name[w])
        return first + [s for s in free if s not in first]

    def lower(self, specs, wrt):
        builder = Builder(rewrite=rewrite)
        inputs, bound = bind_arguments(specs)
        env = {symbol: bound[spec.name] if spec.kind == "input" else Const(spec.value)
               for symbol, spec in zip(self.symbols, specs)}
        with builder:
            result = lower_expr(self.expr, env, builder)
        if not isinstance(result, Value):
            result = Const(result)
        program = Program(self.name, inputs, builder.ops, [result], self.loc, wrt,
                          {s.name: s.value for s in specs if s.kind == "static"})
        return program, {}

    def return_loc(self):
        return self.loc
