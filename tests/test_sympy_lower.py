"""The SymPy frontend: lowering SymPy expressions to SSA and rebuilding SymPy from SSA."""
from collections import Counter

import numpy as np
import pytest
import sympy as sp

from gradc.api import compile_program
from gradc.errors import UnsupportedFunction
from gradc.frontend.sympy_lower import inline_cse, lower_expr, lower_program, to_sympy
from gradc.ir import Aval, Builder, Program, Value
from gradc.passes.simplify import rewrite

x, y = sp.symbols("x y", real=True)

SEED_002 = sp.sqrt(x**2 + sp.exp(x**2)) + sp.cos(x**2 + sp.exp(x**2))
SEED_002_ORDER = ["pow", "exp", "add", "sqrt", "cos", "add"]


def _names(ops):
    return [op.prim.name for op in ops]


def _check_against_sympy(f, symbols, points):
    """Compiled value and gradient equal SymPy's f and diff(f, s) at each point."""
    spec = compile_program(lower_program(f, symbols))
    grads = [sp.diff(f, s) for s in symbols]
    for point in points:
        subs = dict(zip(symbols, map(sp.Float, point)))
        value, *got = spec.value_and_grad_fn(*map(float, point))
        want_value = float(f.subs(subs).evalf(30))
        np.testing.assert_allclose(float(value), want_value, rtol=1e-12, atol=1e-14,
                                   err_msg=f"value of {f} at {point}")
        assert len(got) == len(symbols)
        for s, g, dg in zip(symbols, got, grads):
            want = float(dg.subs(subs).evalf(30))
            np.testing.assert_allclose(float(g), want, rtol=1e-12, atol=1e-14,
                                       err_msg=f"d({f})/d{s} at {point}")


# --- seed 002 ------------------------------------------------------------------

def test_seed_002_lowers_to_the_six_lecture_ops():
    inp = Value(Aval((), np.dtype("float64")), "x")
    b = Builder(rewrite=rewrite)
    with b:
        out = lower_expr(SEED_002, {x: inp}, b)
    names = _names(b.ops)
    assert Counter(names) == Counter({"pow": 1, "exp": 1, "add": 2, "sqrt": 1, "cos": 1})
    assert names == SEED_002_ORDER
    a, bb, c, d, e, f = (op.out for op in b.ops)
    ops = b.ops
    assert ops[0].inputs[0] is inp and ops[0].inputs[1].value == 2      # a = x ** 2
    assert ops[1].inputs == (a,)                                         # b = exp(a)
    assert ops[2].inputs == (a, bb)                                      # c = a + b
    assert ops[3].inputs == (c,) and ops[4].inputs == (c,)               # d = sqrt(c), e = cos(c)
    assert ops[5].inputs == (d, e) and out is f                          # f = d + e


def test_seed_002_lowering_is_deterministic():
    assert _names(lower_program(SEED_002, [x]).ops) == SEED_002_ORDER
    assert _names(lower_program(sp.sympify(str(SEED_002)), [sp.Symbol("x")]).ops) == SEED_002_ORDER


def test_seed_002_value_and_gradient_match_sympy():
    prog = Program("f", *_seed_program(), wrt=(0,))
    spec = compile_program(prog)
    df = sp.diff(SEED_002, x)
    for p in (-1.5, -0.3, 0.0, 0.5, 1.1, 2.0):
        value, grad = spec.value_and_grad_fn(p)
        np.testing.assert_allclose(value, float(SEED_002.subs(x, p).evalf(30)), rtol=1e-12)
        np.testing.assert_allclose(grad, float(df.subs(x, p).evalf(30)), rtol=1e-12, atol=1e-15)


def _seed_program():
    inp = Value(Aval((), np.dtype("float64")), "x")
    b = Builder(rewrite=rewrite)
    with b:
        out = lower_expr(SEED_002, {x: inp}, b)
    return [inp], b.ops, [out]


# --- a table of constructs -----------------------------------------------------

CASES = [
    ("rational power", x ** sp.Rational(3, 2) + x ** sp.Rational(-1, 2), [x], [(0.4,), (1.7,)]),
    ("reciprocal", 1 / x + 3 / (x + 2), [x], [(0.4,), (-1.3,)]),
    ("integer powers", x**3 - 2 * x**-2 + x**2 / 5, [x], [(0.7,), (-1.6,)]),
    ("abs", sp.Abs(x - 1) * x, [x], [(0.3,), (2.2,)]),
    ("max3", sp.Max(x, sp.sin(x), 1 - x), [x], [(-0.8,), (0.3,), (2.0,)]),
    ("min3", sp.Min(x, y, sp.cos(x * y)), [x, y], [(0.2, 0.9), (1.5, -0.4), (1.5, 1.9)]),
    ("piecewise2", sp.Piecewise((x**2, x > 1), (sp.sin(x), True)), [x], [(0.3,), (1.8,)]),
    ("piecewise3", sp.Piecewise((x**2, x < -1), (sp.exp(x), x <= 1), (x * 3, True)), [x],
     [(-2.0,), (0.4,), (1.6,)]),
    ("piecewise and", sp.Piecewise((x * y, sp.And(x > 0, y > 0)), (x - y, True)), [x, y],
     [(0.5, 0.7), (-0.5, 0.7)]),
    ("atan tanh tan", sp.atan(x) * sp.tanh(x) + sp.tan(x / 2), [x], [(-1.1,), (0.6,)]),
    ("log", sp.log(x**2 + 1) + sp.log(x), [x], [(0.3,), (2.5,)]),
    ("log base 2", sp.log(x, 2), [x], [(0.3,), (2.5,)]),
    ("nested", sp.exp(sp.sin(sp.sqrt(x**2 + 1)) / (1 + sp.cos(x) ** 2)), [x], [(-0.7,), (1.9,)]),
    ("two variables", x * y + sp.exp(x - y), [x, y], [(0.3, -0.2), (1.2, 0.9)]),
    ("symbolic exponent", x**y + 2**x, [x, y], [(0.6, 1.4), (1.8, -0.5)]),
    ("negations", -x - y - x * y / 2, [x, y], [(0.6, 1.4), (-1.8, -0.5)]),
    ("pi and E", sp.pi * x + sp.E * x**2 - sp.Rational(7, 3), [x], [(0.5,), (-1.1,)]),
    ("constant", sp.sqrt(2) * sp.pi + sp.Rational(1, 3), [x], [(0.5,), (-1.1,)]),
    ("sign", sp.sign(x) * x**2, [x], [(-0.5,), (1.1,)]),
]


@pytest.mark.parametrize("f, symbols, points", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_lowered_gradients_match_sympy(f, symbols, points):
    _check_against_sympy(f, symbols, points)


def test_powers_and_products_use_the_expected_primitives():
    assert _names(lower_program(sp.sqrt(x), [x]).ops) == ["sqrt"]
    assert _names(lower_program(1 / x, [x]).ops) == ["div"]
    assert _names(lower_program(1 / sp.sqrt(x), [x]).ops) == ["sqrt", "div"]
    assert _names(lower_program(x**2, [x]).ops) == ["pow"]
    assert _names(lower_program(x / y, [x, y]).ops) == ["div"]
    assert _names(lower_program(x - y, [x, y]).ops) == ["sub"]
    assert _names(lower_program(-x, [x]).ops) == ["neg"]
    assert _names(lower_program(sp.Max(x, y, 0), [x, y]).ops) == ["maximum", "maximum"]
    assert Counter(_names(lower_program(sp.atan(x), [x]).ops)) == Counter(["arctan"])


def test_constant_expression_lowers_to_no_ops():
    prog = lower_program(sp.sqrt(2) * sp.pi, [x])
    assert prog.ops == []
    assert prog.outputs[0].value == pytest.approx(float(sp.sqrt(2) * sp.pi), rel=1e-15)


# --- memoisation ---------------------------------------------------------------

def test_repeated_subexpression_is_lowered_once():
    s = sp.sin(x * y)
    f = sp.exp(s) + s**2 * sp.exp(s) + sp.cos(s)
    names = Counter(_names(lower_program(f, [x, y]).ops))
    assert names["sin"] == 1 and names["exp"] == 1 and names["cos"] == 1
    assert names["mul"] == 2  # x*y once, s**2 * exp(s) once
    _check_against_sympy(f, [x, y], [(0.4, 0.8), (-1.2, 0.5)])


def test_memo_shared_between_calls():
    inp = Value(Aval((), np.dtype("float64")), "x")
    b, memo = Builder(rewrite=rewrite), {}
    first = lower_expr(sp.exp(x**2), {x: inp}, b, memo)
    second = lower_expr(sp.exp(x**2) + 1, {x: inp}, b, memo)
    assert _names(b.ops) == ["pow", "exp", "add"]
    assert b.ops[-1].inputs[1] is first and second is b.ops[-1].out


# --- to_sympy ------------------------------------------------------------------

def test_to_sympy_rebuilds_seed_002_derivative():
    spec = compile_program(lower_program(SEED_002, [x]))
    pairs, exprs = to_sympy(spec.adjoint_ir, [x])
    assert len(exprs) == 2
    assert pairs, "shared subexpressions must come back as cse pairs"
    assert all(isinstance(s, sp.Symbol) for s, _ in pairs)
    value, deriv = inline_cse(pairs, exprs)
    df = sp.diff(SEED_002, x)
    assert sp.simplify(value - SEED_002) == 0
    assert sp.simplify(deriv - df) == 0
    for p in (-1.3, 0.2, 0.9, 1.7):
        assert float(deriv.subs(x, p)) == pytest.approx(float(df.subs(x, p)), rel=1e-12)
    # No expression swell: x**2 and exp(x**2) are each named once.
    assert sum(1 for _, e in pairs if e == x**2) == 1
    assert sum(1 for _, e in pairs if e.func is sp.exp) == 1


def test_to_sympy_forward_program_and_where():
    f = sp.Piecewise((x * y, x > y), (sp.exp(x) - y, True))
    spec = compile_program(lower_program(f, [x, y]))
    pairs, exprs = to_sympy(spec.ir, [x, y])
    (rebuilt,) = inline_cse(pairs, exprs)
    for p in ((1.0, 0.5), (0.2, 0.7)):
        subs = dict(zip((x, y), p))
        assert float(rebuilt.subs(subs)) == pytest.approx(float(f.subs(subs)), rel=1e-12)
    pairs, exprs = to_sympy(spec.adjoint_ir, [x, y])
    _, dx, dy = inline_cse(pairs, exprs)
    for p in ((1.0, 0.5), (0.2, 0.7)):
        subs = dict(zip((x, y), p))
        assert float(dx.subs(subs)) == pytest.approx(float(sp.diff(f, x).subs(subs)), rel=1e-12)
        assert float(dy.subs(subs)) == pytest.approx(float(sp.diff(f, y).subs(subs)), rel=1e-12)


def test_to_sympy_rejects_arrays():
    inp = Value(Aval((3,), np.dtype("float64")), "v")
    b = Builder(rewrite=rewrite)
    with b:
        out = b.bind("exp", inp)
    with pytest.raises(UnsupportedFunction, match="scalar"):
        to_sympy(Program("g", [inp], b.ops, [out]), [x])


# --- unsupported constructs ----------------------------------------------------

@pytest.mark.parametrize("expr, name", [
    (sp.Integral(x**2, x), "Integral"),
    (sp.gamma(x), "gamma"),
    (sp.Piecewise((x, x > 0)), "Piecewise"),
    (sp.erf(x) + x, "erf"),
    (sp.I * x, "ImaginaryUnit"),
])
def test_unsupported_constructs_are_named(expr, name):
    with pytest.raises(UnsupportedFunction, match=name):
        lower_program(expr, [x])


def test_unbound_symbol_is_named():
    z = sp.Symbol("zeta")
    with pytest.raises(UnsupportedFunction, match="zeta"):
        lower_program(x + z, [x])
