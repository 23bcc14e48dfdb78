"""The SymPy frontend: SymPy expressions to SSA ops, and scalar SSA programs back to SymPy.

`lower_expr` walks a SymPy expression tree bottom-up, memoising on
sub-expressions, so a sub-expression that occurs twice becomes one op. For the
lecture example f(x) = sqrt(x**2 + exp(x**2)) + cos(x**2 + exp(x**2)) it emits
exactly the six lecture ops, in the lecture's order:

    a = pow(x, 2); b = exp(a); c = add(a, b); d = sqrt(c); e = cos(c); f = add(d, e)

`to_sympy` is the reverse direction, for scalar (0-d) programs: it rebuilds one
SymPy expression per program output and returns them through `sympy.cse`, so
shared sub-expressions come back once, as (symbol, expression) pairs.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Callable, Sequence

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef

from ..errors import UnsupportedFunction
from ..ir import Aval, Builder, Const, Program, Value, current_builder

__all__ = ["lower_expr", "lower_program", "to_sympy", "inline_cse"]

_F64 = np.dtype("float64")


def _unsupported(expr) -> UnsupportedFunction:
    return UnsupportedFunction(f"SymPy {type(expr).__name__} is not supported: {expr}")


# --- SymPy -> IR ----------------------------------------------------------------

_UNARY = {
    sp.exp: "exp",
    sp.sin: "sin",
    sp.cos: "cos",
    sp.tan: "tan",
    sp.tanh: "tanh",
    sp.atan: "arctan",
    sp.Abs: "abs",
    sp.sign: "sign",
}

_RELATIONS = {
    sp.StrictGreaterThan: "greater",
    sp.StrictLessThan: "less",
    sp.GreaterThan: "greater_equal",
    sp.LessThan: "less_equal",
    sp.Equality: "equal",
    sp.Unequality: "not_equal",
}


def _number(expr):
    """A SymPy number as a Python int (when exact) or float."""
    if expr.is_Integer:
        return int(expr)
    if expr.is_Rational or expr.is_Float or expr.is_NumberSymbol or expr in (sp.oo, -sp.oo):
        return float(expr)
    raise _unsupported(expr)


def _negative_coeff(term) -> bool:
    """True for a term c*t (or a bare number c) whose numeric coefficient c is negative."""
    if term.is_Number:
        return bool(term.is_extended_negative)
    coeff, _ = term.as_coeff_Mul()
    return coeff.is_Number and bool(coeff.is_extended_negative)


class _Lowerer:
    def __init__(self, env: dict, builder: Builder, memo: dict):
        self.env = env
        self.b = builder
        self.memo = memo

    def bind(self, name: str, *operands) -> Value:
        return self.b.bind(name, *operands)

    def __call__(self, expr) -> Value | int | float:
        if not isinstance(expr, sp.Basic):
            if isinstance(expr, (bool, int, float)):
                expr = sp.Integer(expr) if isinstance(expr, int) else sp.Float(expr)
            else:  # never sympify: a string here would be parsed as code
                raise UnsupportedFunction(f"not a SymPy expression: {type(expr).__name__} {expr!r}"[:120])
        try:
            return self.memo[expr]
        except KeyError:
            pass
        out = self.lower(expr)
        self.memo[expr] = out
        return out

    def value(self, expr) -> Value:
        out = self(expr)
        return out if isinstance(out, Value) else Const(out)

    # The dispatch, most specific first.
    def lower(self, expr):
        if expr.is_Symbol:
            try:
                return self.env[expr]
            except KeyError:
                raise UnsupportedFunction(
                    f"SymPy symbol {expr.name!r} is not bound to a value") from None
        if expr.is_Number or expr.is_NumberSymbol:
            return _number(expr)
        if expr in (sp.true, sp.false):
            return bool(expr)
        if expr.is_Add:
            return self.add(expr)
        if expr.is_Mul:
            return self.mul(expr)
        if expr.is_Pow:
            return self.pow(expr)
        if expr.func in _UNARY:
            (arg,) = expr.args
            return self.bind(_UNARY[expr.func], self(arg))
        if expr.func in (sp.sinh, sp.cosh):  # no primitive of their own: (eˣ ∓ e⁻ˣ) / 2
            arg = self(expr.args[0])
            up, down = self.bind("exp", arg), self.bind("exp", self.bind("neg", arg))
            both = self.bind("sub" if expr.func is sp.sinh else "add", up, down)
            return self.bind("mul", 0.5, both)
        if expr.func is sp.log and len(expr.args) == 1:
            return self.bind("log", self(expr.args[0]))
        if expr.func in (sp.Max, sp.Min):
            name = "maximum" if expr.func is sp.Max else "minimum"
            acc = self(expr.args[0])
            for arg in expr.args[1:]:
                acc = self.bind(name, acc, self(arg))
            return acc
        if isinstance(expr, sp.Piecewise):
            return self.piecewise(expr)
        if expr.func in _RELATIONS:
            return self.bind(_RELATIONS[expr.func], self(expr.lhs), self(expr.rhs))
        if expr.func in (sp.And, sp.Or):
            name = "logical_and" if expr.func is sp.And else "logical_or"
            acc = self(expr.args[0])
            for arg in expr.args[1:]:
                acc = self.bind(name, acc, self(arg))
            return acc
        if isinstance(expr, AppliedUndef) and len(expr.args) == 1 and _is_user_primitive(expr.func.__name__):
            # sympy.Function("swish")(x) names a primitive registered with @gradc.primitive
            return self.bind(expr.func.__name__, self(expr.args[0]))
        raise _unsupported(expr)

    def add(self, expr):
        terms = list(expr.args)
        # Start from the first term with a non-negative coefficient; -c*t terms subtract.
        first = next((i for i, t in enumerate(terms) if not _negative_coeff(t)), None)
        if first is None:
            acc = self(terms[0])
            rest = terms[1:]
        else:
            acc = self(terms[first])
            rest = terms[:first] + terms[first + 1:]
        for t in rest:
            if _negative_coeff(t):
                acc = self.bind("sub", acc, self(-t))
            else:
                acc = self.bind("add", acc, self(t))
        return acc

    def mul(self, expr):
        coeff, factors = expr.as_coeff_mul()
        numer, denom = [], []
        for f in factors:
            if f.is_Pow and f.exp.is_Number and f.exp.is_extended_negative:
                denom.append(f.base if f.exp == -1 else sp.Pow(f.base, -f.exp))
            else:
                numer.append(f)
        negate = False
        lead = []  # constant factors that lead the product, as SymPy prints them
        if coeff.is_Rational:
            p, q = int(coeff.p), int(coeff.q)
            if p == -1:
                negate = True
            elif p != 1:
                lead.append(p)
            if q != 1:
                denom.insert(0, sp.Integer(q))
        else:
            if coeff == -1:
                negate = True
            elif coeff != 1:
                lead.append(_number(coeff))
        operands = lead + [self(f) for f in numer]
        if not operands:
            acc = 1
        else:
            acc = operands[0]
            for v in operands[1:]:
                acc = self.bind("mul", acc, v)
        for d in denom:
            acc = self.bind("div", acc, self(d))
        if negate:
            acc = self.bind("neg", acc) if isinstance(acc, Value) else -acc
        return acc

    def pow(self, expr):
        base, exp = expr.args
        if exp == sp.Rational(1, 2):
            return self.bind("sqrt", self(base))
        if exp == -1:
            return self.bind("div", 1, self(base))
        if exp == sp.Rational(-1, 2):
            return self.bind("div", 1, self(sp.sqrt(base)))
        if exp.is_Number:
            return self.bind("pow", self(base), _number(exp))
        return self.bind("pow", self(base), self(exp))

    def piecewise(self, expr):
        pieces = expr.args
        if pieces[-1].cond is not sp.true:
            raise UnsupportedFunction(
                f"SymPy Piecewise without a default (an (expr, True) branch) is not supported: {expr}")
        branches = [(self(c), self(e)) for e, c in pieces[:-1]]
        acc = self(pieces[-1].expr)
        for cond, value in reversed(branches):
            acc = self.bind("where", cond, value, acc)
        return acc


def _is_user_primitive(name: str) -> bool:
    from ..primitives import registry
    return name in registry and registry.get(name).family == "user"


def lower_expr(expr, env: dict, builder: Builder, memo: dict | None = None) -> Value:
    """Emit ops computing the SymPy expression `expr` into `builder`.

    `env` maps each free SymPy Symbol to its IR Value. `memo` (SymPy sub-expression
    -> Value) may be shared between calls so several outputs share their common
    sub-expressions; each distinct sub-expression is lowered once. Returns a Value
    (a Const for a constant expression).
    """
    memo = {} if memo is None else memo
    lowerer = _Lowerer(env, builder, memo)
    try:
        active = current_builder()
    except LookupError:
        active = None
    if active is builder:  # already inside `with builder:` (a Builder cannot be re-entered)
        return lowerer.value(expr)
    with builder:  # the simplify rewrites bind into the active builder
        return lowerer.value(expr)


def lower_program(exprs, symbols: Sequence[sp.Symbol], name: str = "f",
                  wrt: Sequence[int] | None = None) -> Program:
    """A Program with one 0-d float64 input per symbol and one output per expression
    (a single expression gives a single output), differentiated w.r.t. all inputs by default."""
    from ..passes.simplify import rewrite

    single = not isinstance(exprs, (list, tuple))
    exprs = [exprs] if single else list(exprs)
    inputs = [Value(Aval((), _F64), s.name) for s in symbols]
    env = dict(zip(symbols, inputs))
    builder = Builder(rewrite=rewrite)
    memo: dict = {}
    outputs = [lower_expr(e, env, builder, memo) for e in exprs]
    wrt = tuple(range(len(inputs))) if wrt is None else tuple(wrt)
    return Program(name, inputs, builder.ops, outputs, wrt=wrt)


# --- IR -> SymPy ----------------------------------------------------------------

def _identity(x, **_):
    return x


def _clip(x, lo=None, hi=None, **_):
    if lo is not None:
        x = sp.Max(x, _to_sympy_number(lo))
    if hi is not None:
        x = sp.Min(x, _to_sympy_number(hi))
    return x


_EXTRA: dict[str, Callable] = {
    "neg": lambda x: -x,
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
    "pow": lambda x, y: x**y,
    "square": lambda x: x**2,
    "sign": sp.sign,
    "greater": sp.Gt,
    "less": sp.Lt,
    "greater_equal": sp.Ge,
    "less_equal": sp.Le,
    "equal": lambda x, y: sp.Eq(x, y),
    "not_equal": lambda x, y: sp.Ne(x, y),
    "logical_and": sp.And,
    "logical_or": sp.Or,
    "where": lambda c, x, y: sp.Piecewise((x, c), (y, True)),
    "clip": _clip,
    "zeros_like": lambda x, **_: sp.Integer(0),
}
for _name in ("sum", "mean", "max", "min", "broadcast_to", "sum_to", "copy", "cast",
              "reshape", "expand_dims", "transpose", "logsumexp"):
    _EXTRA[_name] = _identity


def _to_sympy_number(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, (bool, np.bool_)):
        return sp.true if v else sp.false
    if isinstance(v, int):
        return sp.Integer(v)
    if isinstance(v, float):
        if np.isfinite(v):
            frac = Fraction(v).limit_denominator(10**6)
            if float(frac) == v:  # an exact small rational: keep it exact
                return sp.Rational(frac.numerator, frac.denominator)
        return sp.Float(v)
    raise UnsupportedFunction(f"constant {v!r} has no SymPy form")


def _builder_for(name: str) -> Callable:
    if name in _EXTRA:
        return _EXTRA[name]
    from ..primitives import registry

    if name in registry and registry.get(name).sympy is not None:
        return registry.get(name).sympy
    raise UnsupportedFunction(f"primitive {name!r} has no SymPy form")


def to_sympy(program: Program, symbols: Sequence[sp.Symbol]):
    """Rebuild SymPy expressions for a scalar program's outputs.

    program.inputs[i] stands for symbols[i]. Returns `sympy.cse`'s result:
    (replacements, exprs): a list of (Symbol, Expr) pairs for the shared
    sub-expressions, and one reduced expression per output.
    """
    if len(symbols) != len(program.inputs):
        raise ValueError(f"{len(program.inputs)} inputs but {len(symbols)} symbols")
    table: dict[Value, sp.Basic] = {}
    for v, s in zip(program.inputs, symbols):
        if v.shape != ():
            raise UnsupportedFunction(f"to_sympy supports only scalar (0-d) programs; "
                                      f"input {v.name or v.uid} has shape {v.shape}")
        table[v] = s

    def operand(v: Value):
        if isinstance(v, Const):
            if not v.is_scalar:
                raise UnsupportedFunction("to_sympy supports only scalar (0-d) constants")
            return _to_sympy_number(v.value)
        return table[v]

    for op in program.ops:
        name = op.prim.name
        if op.out.shape != () or any(v.shape != () for v in op.inputs):
            raise UnsupportedFunction(f"to_sympy supports only scalar (0-d) programs; "
                                      f"{name} has a non-scalar operand or result")
        build = _builder_for(name)
        args = [operand(v) for v in op.inputs]
        if build is _identity or build is _clip or name == "zeros_like":
            table[op.out] = build(*args, **op.params)
        else:
            table[op.out] = build(*args)
    outputs = [operand(v) for v in program.outputs]
    return sp.cse(outputs)


def inline_cse(replacements, exprs):
    """Undo `sympy.cse`: substitute the (symbol, expr) pairs back into `exprs`."""
    out = []
    for e in exprs:
        for sym, sub in reversed(replacements):
            e = e.subs(sym, sub)
        out.append(e)
    return out
