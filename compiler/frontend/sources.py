"""The frontends behind one interface: a name, a signature, a source location, an
origin for generated docstrings, and `lower(arg_specs, wrt) -> (Program, referenced)`."""
from __future__ import annotations

import inspect
import os
import sys

from ..errors import SourceLoc
from . import captured
from .marks import Checkpointed
from .python import lower, parse_function


class PythonFunction:
    """The frontend for a Python function: its source, signature and lowering."""

    def __init__(self, fn):
        if isinstance(fn, Checkpointed):  # gradc.checkpoint(loss): outside a chain, the function itself
            fn = fn.fn
        if isinstance(fn, staticmethod):
            fn = fn.__func__
        self.fn = fn
        src = parse_function(fn)  # (refuses what is not a plain function)
        self.state = captured.function_state(fn)  # code and defaults, as read now
        self.src = src
        self.name = fn.__name__
        self.loc = src.loc(src.tree)
        self.signature = inspect.signature(fn)
        self.origin = f"{fn.__name__} in {os.path.basename(self.loc.filename)}"

    def current(self) -> bool:
        """Whether the function still has the code and default values it was read with
        (`f.__code__ = ...`, `f.__defaults__ = ...` make the signature and source stale)."""
        return captured.same_function_state(self.fn, self.state)

    def lower(self, specs, wrt):
        return lower(self.fn, specs, wrt)

    def return_loc(self) -> SourceLoc | None:
        import ast
        for node in ast.walk(self.src.tree):
            if isinstance(node, ast.Return):
                return self.src.loc(node)
        return None


class MathFormula:
    """The frontend for a math string (parsed with a whitelist, never evaluated)."""

    real_variables = True  # 2 means 2.0: no compile-time integer arguments in formulas

    def __init__(self, text: str, wrt, variables):
        from . import text as text_frontend

        self.text_frontend = text_frontend
        self.formula = text_frontend.parse_formula(text, variables)
        self.name = self.formula.name
        self.loc = self.formula.loc(self.formula.tree.body)
        self.signature = text_frontend.signature(self.formula)
        short = self.formula.text if len(self.formula.text) <= 60 else self.formula.text[:57] + "..."
        self.origin = f"the formula {short!r}"

    def lower(self, specs, wrt):
        return self.text_frontend.lower_formula(self.formula, specs, wrt)

    def return_loc(self):
        return self.loc


def frontend_for(obj, wrt, variables):
    if isinstance(obj, str):
        return MathFormula(obj, wrt, variables)
    if _is_sympy(obj):
        from .sympy import SympyExpression
        return SympyExpression(obj, wrt, variables)
    return PythonFunction(obj)


def _is_sympy(obj) -> bool:
    """A SymPy object (an expression, or another SymPy thing the SymPy frontend refuses
    clearly). SymPy is loaded already if the caller holds one of its objects."""
    sympy = sys.modules.get("sympy")
    if sympy is not None and isinstance(obj, (sympy.Basic, sympy.FunctionClass)):
        return True
    module = getattr(type(obj), "__module__", None)
    return isinstance(module, str) and (module == "sympy" or module.startswith("sympy."))
