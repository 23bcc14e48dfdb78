"""User-defined elementwise primitives: `@gradc.primitive`.

    @gradc.primitive(sympy=lambda x: x / (1 + sympy.exp(-x)))
    def swish(x):
        return x / (1 + np.exp(-x))

A primitive is a NumPy implementation plus its derivative: either a SymPy formula
(gradc differentiates it with SymPy and emits the derivative as NumPy source,
itself a primitive with a SymPy formula, so higher derivatives follow) or an
explicit VJP written in NumPy, `vjp(g, x, out) -> x̄`. Both functions are copied
into generated modules, so they may use only NumPy (as `np`).
"""
from __future__ import annotations

import inspect
import textwrap

import numpy as np
import sympy as sp

from ..errors import SignatureError, SourceLoc
from ..syntax import call
from . import ops, registry

SOURCES: dict[str, str] = {}  # helper name → its source, for generated modules
ALLOWED_GLOBALS = {"np", "numpy"}


def primitive(fn=None, *, sympy=None, vjp=None, name: str | None = None, domain=(-2.0, 2.0)):
    """Register `fn` (elementwise, one array argument) as a gradc primitive."""
    if fn is None:
        return lambda f: primitive(f, sympy=sympy, vjp=vjp, name=name, domain=domain)
    name = name or fn.__name__
    loc = _loc(fn)
    if (sympy is None) == (vjp is None):
        raise SignatureError(f"@primitive {name}: give exactly one of sympy= (a formula) or vjp= "
                             "(a NumPy rule)", loc)
    if not name.isidentifier() or name in registry:
        raise SignatureError(f"@primitive: {name!r} is not a fresh identifier (primitive names must be "
                             "unique)", loc)
    SOURCES[name] = _source_as(fn, name)
    if sympy is not None:
        derivative = _derivative_primitive(name, sympy, domain)
        rule = lambda g, out, x: [g * getattr(ops, derivative)(x)]  # noqa: E731
    else:
        vjp_name = f"{name}_vjp"
        SOURCES[vjp_name] = _source_as(vjp, vjp_name)
        registry.define(vjp_name, impl=vjp, family="user", arity=3, helper=vjp_name,
                        emit=lambda g, x, out, **_: call(vjp_name, g, x, out),
                        vjp=_no_second_derivative(name), derivative_known=False, elementwise=True)
        rule = lambda g, out, x: [getattr(ops, vjp_name)(g, x, out)]  # noqa: E731
    registry.define(name, impl=fn, family="user", helper=name, vjp=rule, elementwise=True,
                    emit=lambda a, **_: call(name, a), sympy=sympy, domain=domain,
                    doc=(fn.__doc__ or "").strip())
    from ..frontend import numpy_table, text
    numpy_table.register(fn, name)
    text.FUNCTIONS.setdefault(name, fn)
    return fn


def _derivative_primitive(name: str, formula, domain) -> str:
    """f' as a primitive emitted from SymPy; its own derivative is registered on first use."""
    x = sp.Symbol("x")
    derivative = sp.diff(formula(x), x)
    d_name = f"{name}_grad"
    body = sp.pycode(derivative, fully_qualified_modules=True).replace("numpy.", "np.").replace("math.", "np.")
    SOURCES[d_name] = f"def {d_name}(x):\n    \"\"\"d/dx {name}(x), derived by SymPy.\"\"\"\n    return {body}\n"
    impl = sp.lambdify(x, derivative, modules="numpy")  # from the user's SymPy object, never a string
    registry.define(d_name, impl=lambda a: impl(a) + np.zeros_like(a), family="user", helper=d_name,
                    emit=lambda a, **_: call(d_name, a), elementwise=True, domain=domain,
                    sympy=lambda s: derivative.subs(x, s),
                    vjp=lambda g, out, a: [g * getattr(ops, _derivative_primitive_once(d_name, derivative, x,
                                                                                      domain))(a)])
    return d_name


def _derivative_primitive_once(d_name, derivative, x, domain) -> str:
    name = f"{d_name}_grad"
    if name not in registry:
        _derivative_primitive(d_name, lambda s: derivative.subs(x, s), domain)
    return name


def _no_second_derivative(name):
    def rule(*_, **__):
        raise NotImplementedError(f"{name} was registered with an explicit vjp; give sympy= to get "
                                  "higher derivatives")
    return rule


def _source_as(fn, name: str) -> str:
    """The function's source without decorators, renamed to `name`; it must need only NumPy."""
    loc = _loc(fn)
    if not inspect.isfunction(fn) or fn.__name__ == "<lambda>":
        raise SignatureError(f"@primitive {name}: define the implementation and the vjp with `def` "
                             "(gradc copies their source into generated modules)", loc)
    extra = set(inspect.getclosurevars(fn).globals) - ALLOWED_GLOBALS
    nonlocal_names = set(inspect.getclosurevars(fn).nonlocals)
    if extra or nonlocal_names:
        raise SignatureError(f"@primitive {name}: {fn.__name__} uses {', '.join(sorted(extra | nonlocal_names))}; "
                             "a primitive's functions may use only NumPy (as np), since they are "
                             "copied into generated modules", loc)
    lines = textwrap.dedent(inspect.getsource(fn)).splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("def "))
    lines = lines[start:]
    lines[0] = lines[0].replace(f"def {fn.__name__}(", f"def {name}(", 1)
    return "".join(lines)


def _loc(fn) -> SourceLoc | None:
    try:
        return SourceLoc(inspect.getsourcefile(fn), fn.__code__.co_firstlineno, 0, None,
                         inspect.getsourcelines(fn)[0][0])
    except (TypeError, OSError, AttributeError):
        return None
