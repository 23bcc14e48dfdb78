"""@gradc.primitive: user-defined elementwise functions in every frontend.

The registry-wide derivative tests (test_primitives.py) also cover the examples'
swish and gelu, which tests/conftest.py registers."""
import os
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

import gradc
from gradc.errors import CompileError, SignatureError
from gradc.api import compile_program
from gradc.ir import Aval, Builder, Program, Value

import user_primitive as U


def fd(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        g[idx] = (f(plus) - f(minus)) / (2 * eps)
    return g


def loss(x):
    return np.sum(U.swish(x) * U.gelu(x))


def test_user_primitives_are_single_ops_named_in_the_listing():
    x = np.linspace(-1.5, 1.5, 7)
    c = gradc.compile(loss, wrt="x", args=(x,))
    assert [op.prim.name for op in c.ir.ops] == ["swish", "gelu", "mul", "sum"]
    listing = str(c.adjoint_ir)
    assert "swish(v_0)" in listing and "swish_grad(v_0)" in listing and "gelu_vjp(" in listing
    np.testing.assert_allclose(c.grad(x), fd(loss, x), rtol=1e-7, atol=1e-9)


def test_sympy_derivative_is_emitted_as_numpy_and_matches_sympy():
    c = gradc.compile(loss, wrt="x", args=(np.zeros(3),))
    assert "def swish_grad(x):" in c.source and "np.exp(-x)" in c.source
    s = sp.Symbol("x")
    d = sp.diff(s / (1 + sp.exp(-s)), s)
    x = np.array([-2.0, 0.3, 1.7])
    got = gradc.grad(lambda_free_swish_sum, wrt="x")(x)
    np.testing.assert_allclose(got, [float(d.subs(s, v)) for v in x], rtol=1e-12)


def lambda_free_swish_sum(x):
    return np.sum(U.swish(x))


def _sum_of(prim, operands_of):
    """A program sum(prim(x, ...)) built directly in the IR, compiled for x of shape (3,)."""
    x = Value(Aval((3,), np.dtype("float64")), "x")
    b = Builder()
    with b:
        y = b.bind(prim, *[x] * operands_of)
        s = b.bind("sum", y, axis=None, keepdims=False)
    return compile_program(Program("f", [x], b.ops, [s], wrt=(0,)))


def test_second_derivative_of_a_sympy_primitive_comes_from_sympy():
    spec = _sum_of("swish_grad", 1)
    x = np.array([-0.7, 0.4, 1.9])
    _, g = spec.value_and_grad_fn(x)
    s = sp.Symbol("x")
    d2 = sp.diff(s / (1 + sp.exp(-s)), s, 2)
    np.testing.assert_allclose(g, [float(d2.subs(s, v)) for v in x], rtol=1e-10)


def test_user_primitives_work_in_formulas_and_sympy():
    assert gradc.grad("swish(x) * gelu(x)", wrt="x")(0.8) == pytest.approx(
        float(fd(lambda v: np.sum(U.swish(v) * U.gelu(v)), np.array([0.8]))[0]), rel=1e-7)
    x = sp.Symbol("x")
    expr = sp.Function("swish")(x) + x**2
    assert gradc.grad(expr, wrt=x)(0.8) == pytest.approx(
        float(fd(lambda v: np.sum(U.swish(v) + v**2), np.array([0.8]))[0]), rel=1e-7)


def test_saved_module_carries_the_primitive_sources(tmp_path):
    x = np.linspace(-1.0, 1.0, 5)
    path = gradc.compile(loss, wrt="x", args=(x,)).save(tmp_path / "m.py")
    r = subprocess.run([sys.executable, "-c", "import sys, numpy as np, m; "
                        "v, g = m.loss_value_and_grad(np.linspace(-1.0, 1.0, 5)); "
                        "assert 'gradc' not in sys.modules; print(repr(float(v)))"],
                       cwd=tmp_path, capture_output=True, text=True, env={"PATH": os.environ.get("PATH", "")})
    assert r.returncode == 0, r.stderr
    assert float(r.stdout) == pytest.approx(loss(x), rel=1e-14)
    assert path.exists()


def test_bad_registrations_are_clear_errors():
    with pytest.raises(SignatureError, match="exactly one"):
        gradc.primitive(lambda x: x)
    with pytest.raises(SignatureError, match="exactly one"):
        gradc.primitive(U.swish, sympy=lambda x: x, vjp=U.gelu_vjp, name="twice")
    with pytest.raises(SignatureError, match="fresh"):
        gradc.primitive(U.swish, sympy=lambda x: x)  # swish is taken
    with pytest.raises(SignatureError, match="only NumPy"):
        gradc.primitive(uses_a_global, sympy=lambda x: 2 * x)


SCALE = 2.0


def uses_a_global(x):
    return SCALE * x


def test_explicit_vjp_has_no_second_derivative():
    with pytest.raises(CompileError, match="gelu_vjp"):
        _sum_of("gelu_vjp", 3)
