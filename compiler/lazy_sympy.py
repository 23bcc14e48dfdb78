"""SymPy, imported when first used: `import gradc` and compiling a Python function need
only NumPy (SymPy alone takes longer to import than the rest of gradc).

The primitive tables name each primitive's SymPy formula at import time (`sympy=sp.exp`),
but only the derivative tests, `@gradc.primitive` and the SymPy frontend ever call one,
with SymPy objects. `sympy.exp` read through this module is the real function once SymPy
is loaded, and before that a stand-in that loads SymPy when called."""
from __future__ import annotations

import importlib
import sys


class _Deferred:
    """`sympy.<name>` before SymPy is loaded: calling it loads SymPy and calls the real one."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args, **kwargs):
        return getattr(importlib.import_module("sympy"), self.name)(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<sympy.{self.name}, loaded on first call>"


class _LazySympy:
    def __getattr__(self, name: str):
        module = sys.modules.get("sympy")
        if module is not None:
            return getattr(module, name)
        if name.startswith("__"):
            raise AttributeError(name)
        return _Deferred(name)


sympy = _LazySympy()
