"""SymPy expressions through the public API, and gradients back as SymPy (seed 002)."""
import math

import numpy as np
import pytest
import sympy as sp

import gradc
from gradc.errors import SignatureError

x, y, z = sp.symbols("x y z")
SEED002 = sp.sqrt(x**2 + sp.exp(x**2)) + sp.cos(x**2 + sp.exp(x**2))


def test_seed002_lowers_to_the_lectures_six_intermediates():
    c = gradc.compile(SEED002, wrt=x, args=(0.5,))
    # a = x², b = eᵃ, c = a + b, d = √c, e = cos c, f = d + e
    assert [op.prim.name for op in c.ir.ops] == ["pow", "exp", "add", "sqrt", "cos", "add"]


def test_seed002_adjoint_follows_equations_43_to_50():
    x0 = 0.5
    table = gradc.compile(SEED002, wrt=x, args=(x0,)).trace(x0)
    a = x0**2
    b = math.exp(a)
    c = a + b
    c_bar = 0.5 * c**-0.5 - math.sin(c)     # (47)
    b_bar = c_bar * 1                       # (48)
    a_bar = b_bar * math.exp(a) + c_bar     # (49)
    x_bar = a_bar * 2 * x0                  # (50)
    assert table.adjoint[3] == pytest.approx(c_bar, rel=1e-14)
    assert table.adjoint[2] == pytest.approx(b_bar, rel=1e-14)
    assert table.adjoint[1] == pytest.approx(a_bar, rel=1e-14)
    assert table.gradient == pytest.approx(x_bar, rel=1e-14)
    assert x_bar == pytest.approx(float(sp.diff(SEED002, x).subs(x, x0)), rel=1e-12)


def test_symbolic_grad_has_no_expression_swell():
    c = gradc.compile(SEED002, wrt=x, args=(0.5,))
    pairs, grad = c.symbolic_grad()
    assert pairs, "shared subexpressions come back as cse pairs"
    rebuilt = grad.subs(list(reversed(pairs)))
    assert sp.simplify(rebuilt - sp.diff(SEED002, x)) == 0
    assert sp.count_ops(grad) + sum(sp.count_ops(e) for _, e in pairs) < sp.count_ops(sp.diff(SEED002, x))


def test_variables_order_wrt_first_then_by_name():
    expr = z * sp.exp(x) + y**2
    assert gradc.compile(expr, wrt=(y, x)).arg_names == ["y", "x", "z"]
    assert gradc.compile(expr, wrt="z").arg_names == ["z", "x", "y"]
    assert gradc.compile(expr, wrt=0, variables=(z, y, x)).arg_names == ["z", "y", "x"]
    gy, gx = gradc.grad(expr, wrt=(y, x))(2.0, 0.5, 3.0)
    assert gy == pytest.approx(4.0) and gx == pytest.approx(3.0 * math.exp(0.5))
    with pytest.raises(SignatureError, match="leaves out"):
        gradc.compile(expr, wrt=x, variables=(x, y))


def test_derivative_at_several_points():
    c = gradc.compile(sp.sin(x) * x, wrt=x)
    for v in np.array([0.1, 0.5, 0.9]):
        assert c.grad(float(v)) == pytest.approx(math.cos(v) * v + math.sin(v), rel=1e-14)
    assert len(c._specs) == 1  # Python floats share one specialisation


def test_hyperbolic_functions():
    expr = sp.sinh(x) * sp.cosh(2 * x) + sp.tanh(x)
    for v in (-0.4, 0.3, 1.2):
        assert gradc.grad(expr, wrt=x)(v) == pytest.approx(float(sp.diff(expr, x).subs(x, v)), rel=1e-12)
