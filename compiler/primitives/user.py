"""User-defined elementwise primitives: `@gradc.primitive`.

    @gradc.primitive(sympy=lambda x: x / (1 + sympy.exp(-x)))
    def swish(x):
        return x / (1 + np.exp(-x))

A primitive is a NumPy implementation plus its derivative: either a SymPy formula
(gradc differentiates it with SymPy and emits the derivative as NumPy source,
itself a primitive with a SymPy formula, so higher derivatives follow) or an
explicit VJP written in NumPy, `vjp(g, x, out) -> x̄`. Both functions are copied
into generated modules, so they may use only NumPy (as `np`). Registration checks them on
samples first (user_checks.py); a vjp= rule runs inside a wrapper (user_sources.py).
"""
from __future__ import annotations

import inspect

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.numpy import NumPyPrinter

from ..errors import SignatureError, SourceLoc
from ..syntax import call
from ..tracebacks import api_boundary
from . import ops, registry, user_checks
from .helper_sources import SOURCES  # helper name → its source, for generated modules
from .user_sources import source_as, vjp_wrapper


@api_boundary
def primitive(fn=None, *, sympy=None, vjp=None, name: str | None = None, domain=(-2.0, 2.0)):
    """Register `fn` (elementwise, one array argument) as a gradc primitive, once it passed
    the checks of user_checks.py on samples of `domain`."""
    if fn is None:
        return api_boundary(lambda f: primitive(f, sympy=sympy, vjp=vjp, name=name, domain=domain))
    name = name or fn.__name__
    loc = _loc(fn)
    if (sympy is None) == (vjp is None):
        raise SignatureError(f"@primitive {name}: give exactly one of sympy= (a formula) or vjp= "
                             "(a NumPy rule)", loc)
    if not name.isidentifier() or any(n in registry for n in (name, f"{name}_grad", f"{name}_vjp")):
        raise SignatureError(f"@primitive: {name!r} is not a fresh identifier (primitive names must be "
                             "unique)", loc)
    source = source_as(fn, name, loc)
    x = user_checks.samples(name, domain, loc)
    if sympy is not None:  # what is read first, then what the samples show
        expr = _expression(name, sympy, _SYMBOL, loc)
        derivative = _derivative_source(name, lambda s: expr.subs(_SYMBOL, s), loc)
        values = user_checks.check_elementwise(name, fn, x, loc)
        user_checks.check_formula(name, expr, _SYMBOL, x, values, domain, loc)
    else:
        vjp_name = f"{name}_vjp"
        vjp_source = vjp_wrapper(name, vjp, _loc(vjp) or loc)
        vjp_impl = _load(vjp_source, vjp_name)
        user_checks.check_elementwise(name, fn, x, loc)
        user_checks.check_vjp(name, vjp_impl, fn, x, _loc(vjp) or loc)
    if sympy is not None:
        d_name = _define_derivative(*derivative, domain, loc)
        rule = lambda g, out, x: [g * getattr(ops, d_name)(x)]  # noqa: E731
    else:
        SOURCES[vjp_name] = vjp_source
        registry.define(vjp_name, impl=vjp_impl, family="user", arity=3, helper=vjp_name,
                        emit=lambda g, x, out, **_: call(vjp_name, g, x, out),
                        vjp=_no_second_derivative(name), derivative_known=False, elementwise=True)
        rule = lambda g, out, x: [getattr(ops, vjp_name)(g, x, out)]  # noqa: E731
    SOURCES[name] = source
    registry.define(name, impl=fn, family="user", helper=name, vjp=rule, elementwise=True,
                    emit=lambda a, **_: call(name, a), sympy=sympy, domain=domain,
                    doc=(fn.__doc__ or "").strip())
    from ..frontend import numpy_table, text
    numpy_table.register(fn, name)
    text.FUNCTIONS.setdefault(name, fn)
    return fn


def _load(source: str, name: str):
    """The function `name` defined by `source` (text gradc wrote), as generated modules have it."""
    namespace = {"np": np}
    exec(compile(source, f"<gradc primitive {name}>", "exec"), namespace)  # noqa: S102
    return namespace[name]


def _derivative_primitive(name: str, formula, domain, loc=None) -> str:
    """f' as a primitive emitted from SymPy; its own derivative is registered on first use."""
    return _define_derivative(*_derivative_source(name, formula, loc), domain, loc)


def _derivative_source(name: str, formula, loc) -> tuple[str, object, str]:
    """(name of f', f' as SymPy, its NumPy source); registers nothing, so a refusal leaves
    no trace."""
    x = _SYMBOL
    derivative = _derivative(name, formula, x, loc)
    d_name = f"{name}_grad"
    body = _numpy_text(name, derivative, x, loc)
    doc = f"d/dx {name}(x), derived by SymPy."
    if _follows_x(derivative, x):
        text = f"    return {body}\n"
    else:  # a constant (or a selection of constants): as an array of x's shape and dtype
        text = f"    return np.full(np.shape(x), {body}, dtype=np.result_type(x, 1.0))[()]\n"
    return d_name, derivative, f"def {d_name}(x):\n    \"\"\"{doc}\"\"\"\n{text}"


def _define_derivative(d_name: str, derivative, source: str, domain, loc) -> str:
    x = _SYMBOL
    SOURCES[d_name] = source
    # The implementation is the emitted helper itself (printed from the user's SymPy object,
    # never from a string), so evaluating and generated code agree.
    impl = _load(source, d_name)
    registry.define(d_name, impl=impl, family="user", helper=d_name,
                    emit=lambda a, **_: call(d_name, a), elementwise=True, domain=domain,
                    sympy=lambda s: derivative.subs(x, s),
                    vjp=lambda g, out, a: [g * getattr(ops, _derivative_primitive_once(d_name, derivative, x,
                                                                                      domain, loc))(a)])
    return d_name


_SYMBOL = sp.Symbol("x", real=True)  # a primitive's argument is a real number


def _expression(name: str, formula, x, loc):
    """formula(x): a SymPy expression in x alone, or a SignatureError saying what it is."""
    try:
        expr = formula(x)
    except Exception as e:  # noqa: BLE001 - the user's formula failed on a SymPy symbol
        raise SignatureError(f"@primitive {name}: the sympy= formula failed on a SymPy symbol "
                             f"({type(e).__name__}: {e}); write it with SymPy functions "
                             "(sympy.exp, sympy.Max, ...)", loc) from None
    if isinstance(expr, (int, float)) and not isinstance(expr, bool):
        expr = sp.Float(expr) if isinstance(expr, float) else sp.Integer(expr)
    if not isinstance(expr, sp.Expr):
        raise SignatureError(f"@primitive {name}: the sympy= formula must return a SymPy expression "
                             f"in its argument, not a {type(expr).__name__}", loc)
    other = sorted(str(s) for s in expr.free_symbols if s != x)
    if other:
        raise SignatureError(f"@primitive {name}: the sympy= formula uses the symbol(s) {', '.join(other)}; "
                             "it may use only its own argument (numbers are fine)", loc)
    undefined = sorted({str(f.func) for f in expr.atoms(AppliedUndef)})
    if undefined:
        raise SignatureError(f"@primitive {name}: the sympy= formula uses the undefined function(s) "
                             f"{', '.join(undefined)}", loc)
    return expr


def _derivative(name: str, formula, x, loc):
    """d/dx formula(x) as SymPy, with the derivatives of steps (DiracDelta, the derivative
    of floor/ceiling/sign) taken as 0, their value everywhere but at the jumps."""
    expr = _expression(name, formula, x, loc)
    try:
        derivative = sp.diff(expr, x)
    except Exception as e:  # noqa: BLE001 - SymPy could not differentiate it
        raise SignatureError(f"@primitive {name}: SymPy cannot differentiate the formula "
                             f"({type(e).__name__}: {e})", loc) from None
    derivative = derivative.replace(lambda e: isinstance(e, sp.DiracDelta), lambda e: sp.Integer(0))
    derivative = derivative.replace(
        lambda e: isinstance(e, sp.Derivative) and isinstance(e.expr, (sp.floor, sp.ceiling, sp.sign,
                                                                       sp.Heaviside)),
        lambda e: sp.Integer(0))
    return derivative


def _follows_x(e, x) -> bool:
    """e's NumPy value has x's shape and dtype: it reads x, and every constant in it is a
    Python number (weak under NumPy's promotion) combined with something that does."""
    if e == x:
        return True
    if isinstance(e, sp.Piecewise):
        return any(_follows_x(value, x) for value, _ in e.args)
    return any(_follows_x(a, x) for a in e.args)


class _NumPyPrinter(NumPyPrinter):
    """SymPy → NumPy text: elementwise forms for selections and steps."""

    def _print_Max(self, e):
        return self._nest("numpy.maximum", e.args)

    def _print_Min(self, e):
        return self._nest("numpy.minimum", e.args)

    def _nest(self, fn, args):
        out = self._print(args[-1])
        for a in reversed(args[:-1]):
            out = f"{fn}({self._print(a)}, {out})"
        return out

    def _print_Abs(self, e):
        return f"numpy.abs({self._print(e.args[0])})"

    def _print_Heaviside(self, e):
        h0 = e.args[1] if len(e.args) > 1 else sp.Rational(1, 2)
        return f"numpy.heaviside({self._print(e.args[0])}, {self._print(sp.Float(h0))})"

    def _print_Piecewise(self, e):
        if e.args[-1].cond != sp.true:
            return super()._print_Piecewise(e)  # np.select, NaN where no condition holds
        out = self._print(e.args[-1].expr)
        for value, cond in reversed(e.args[:-1]):
            out = f"numpy.where({self._print(cond)}, {self._print(value)}, {out})"
        return out


def _numpy_text(name: str, derivative, x, loc) -> str:
    """The derivative as NumPy source in x, or a SignatureError naming what NumPy lacks."""
    printer = _NumPyPrinter({"fully_qualified_modules": True, "strict": True})
    try:
        text = printer.doprint(derivative)
    except Exception:  # noqa: BLE001 - a function the NumPy printer has no spelling for
        missing = []
        for f in sorted(derivative.atoms(sp.Function, sp.Derivative), key=str):
            try:
                _NumPyPrinter({"fully_qualified_modules": True, "strict": True}).doprint(f.func(*f.args))
            except Exception:  # noqa: BLE001
                missing.append(str(f.func.__name__ if hasattr(f.func, "__name__") else f.func))
        what = ", ".join(dict.fromkeys(missing)) or "a function"
        raise SignatureError(f"@primitive {name}: its derivative, {derivative}, uses {what}, which NumPy has "
                             "no function for; give vjp= (a NumPy rule) instead of sympy=", loc) from None
    if "functools." in text or "math." in text or "scipy." in text:
        raise SignatureError(f"@primitive {name}: its derivative, {derivative}, has no elementwise NumPy "
                             "form; give vjp= (a NumPy rule) instead of sympy=", loc)
    return text.replace("numpy.", "np.")


def _derivative_primitive_once(d_name, derivative, x, domain, loc=None) -> str:
    name = f"{d_name}_grad"
    if name not in registry:
        _derivative_primitive(d_name, lambda s: derivative.subs(x, s), domain, loc)
    return name


def _no_second_derivative(name):
    def rule(*_, **__):
        raise NotImplementedError(f"{name} was registered with an explicit vjp; give sympy= to get "
                                  "higher derivatives")
    return rule


def _loc(fn) -> SourceLoc | None:
    try:
        return SourceLoc(inspect.getsourcefile(fn), fn.__code__.co_firstlineno, 0, None,
                         inspect.getsourcelines(fn)[0][0])
    except (TypeError, OSError, AttributeError):
        return None
