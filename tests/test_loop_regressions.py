"""Loop regions: regressions found by attacking the `for`-loop regions (attack round 2).

Each test compares gradc with NumPy (value and dtype) and with the same function
unrolled (UNROLL_LOOPS), the path loops took before they became regions.
"""
import importlib.util

import numpy as np
import pytest

import gradc
from gradc.api import Compiled
from gradc.frontend.python import UNROLL_LOOPS
from gradc.regions import has_loops


def unrolled_value_and_grad(fn, wrt, args):
    token = UNROLL_LOOPS.set(True)
    try:
        compiled = Compiled(fn, wrt)
        compiled.specialize(*args)
        return compiled.value_and_grad(*args)
    finally:
        UNROLL_LOOPS.reset(token)


def same_as_numpy(fn, wrt, args):
    v, g = gradc.value_and_grad(fn, wrt=wrt)(*args)
    want = fn(*args)
    assert np.asarray(v).dtype == np.asarray(want).dtype, (v, want)
    np.testing.assert_array_equal(v, want)
    rv, rg = unrolled_value_and_grad(fn, wrt, args)
    np.testing.assert_array_equal(v, rv)
    assert np.asarray(g).dtype == np.asarray(rg).dtype
    np.testing.assert_allclose(g, rg, rtol=1e-12, atol=0)
    return v, g


# -- 1. a Python float carried through a loop stays weak (NEP 50) -------------------------

def weak_times(x32, lam):
    s = lam
    for t in range(3):
        s = s * 2.0
    return np.sum(x32 * s)


def weak_plus(x32, lam):
    s = 0.0
    for t in range(3):
        s = s + lam
    return np.sum(x32 * s)


def weak_plus_float32_sum(x32, lam):
    s = lam
    for t in range(3):
        s = s + np.sum(x32)
    return s


def literal_plus_float32_sum(x32, lam):
    s = 0.0
    for t in range(3):
        s = s + np.sum(x32 * lam)
    return s


@pytest.mark.parametrize("fn", [weak_times, weak_plus, weak_plus_float32_sum, literal_plus_float32_sum])
def test_python_float_carry_stays_weak(fn):
    x32 = np.array([0.5, 1.5], np.float32)
    v, g = same_as_numpy(fn, 0, (x32, 0.7))
    assert np.asarray(v).dtype == np.float32 and g.dtype == np.float32


def test_python_float_carry_float16_overflows_as_numpy():
    x16 = np.array([20000.0], np.float16)
    with np.errstate(over="ignore"):
        v, _ = gradc.value_and_grad(weak_times, wrt=0)(x16, 0.7)
        assert np.asarray(v).dtype == np.float16 and np.isinf(v)


def test_float_accumulator_of_float64_sums_stays_a_loop():
    def f(x, X):
        s = 0.0
        for t in range(X.shape[0]):
            s = s + np.sum(X[t] * x)
        return s

    args = (np.array([0.3, -0.2]), np.arange(8.0).reshape(4, 2))
    c = gradc.compile(f, wrt=0, args=args)
    assert has_loops(c.ir)
    same_as_numpy(f, 0, args)


# -- 2. Python-int carries are exact (Python ints are unbounded) -------------------------

def int_power(x):
    n = 3
    for t in range(45):
        n = n * 3
    return np.sum(x) * (n % 1000)


def int_and_float(x):
    n = 1
    m = 1.0
    h = x
    for t in range(45):
        n = n * 3
        m = m / 3.0
        h = n * np.tanh(h) * m
    return np.sum(h)


def int_in_body(x):
    n = 1
    h = x
    for t in range(50):
        n = n * 3
        h = np.sin(h * (n % 7) * 0.5)
    return np.sum(h)


@pytest.mark.parametrize("fn", [int_power, int_and_float, int_in_body])
def test_python_int_carry_is_exact(fn):
    x = np.array([0.1, 0.2])
    same_as_numpy(fn, 0, (x,))
    np.testing.assert_allclose(gradc.jacfwd(fn)(x), gradc.grad(fn)(x), rtol=1e-12)


def test_python_int_carry_trace_and_jvp():
    x = np.array([0.1, 0.2])
    assert gradc.value_and_grad(int_power)(x)[1].tolist() == [929.0, 929.0]
    assert gradc.jvp(int_power, (x,), (np.ones(2),))[1] == 2 * (3 ** 46 % 1000)
    table = str(gradc.compile(int_power, args=(x,)).trace(x))
    assert "929" in table.splitlines()[-1]


# -- 3. float32/float16 loop gradients have the argument's dtype --------------------------

def carry_wrt(x, X):
    h = x
    for t in range(X.shape[0]):
        h = np.tanh(h * X[t]) + h
    return np.sum(h)


def invariant_wrt(x, X):
    h = X[0] * 0
    for t in range(X.shape[0]):
        h = np.sin(h + x * X[t])
    return np.sum(h * h)


def rows_wrt(X, x):
    s = np.sum(x) * 0
    for t in range(X.shape[0]):
        s = s + np.sum(np.cos(X[t] * x))
    return s


def carry_times_arg(x, lam):
    h = x
    for t in range(3):
        h = h * lam + np.sin(h)
    return np.sum(h)


def over_rows(X, x):
    h = x
    for r in X:
        h = h * r + np.sin(h)
    return np.mean(h)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("fn", [carry_wrt, invariant_wrt, rows_wrt, carry_times_arg, over_rows])
def test_loop_gradient_dtypes_are_the_arguments(fn, dtype):
    x = np.array([0.1, 0.2, 0.3], dtype)
    X = (np.arange(12).reshape(4, 3) / 10).astype(dtype)
    args = {"carry_times_arg": (x, 0.5)}.get(fn.__name__) or ((X, x) if fn in (rows_wrt, over_rows) else (x, X))
    n = 1 if fn is carry_times_arg else 2
    c = gradc.compile(fn, wrt=tuple(range(n)) if n > 1 else 0, args=args)
    if fn in (carry_wrt, invariant_wrt, rows_wrt, carry_times_arg):
        assert has_loops(c.ir)
    v, grads = c.value_and_grad(*args)  # the generated code, run
    assert np.asarray(v).dtype == np.asarray(fn(*args)).dtype
    grads = grads if isinstance(grads, tuple) else (grads,)
    for k, g in enumerate(grads):
        assert isinstance(g, np.ndarray) and g.dtype == args[k].dtype, (fn.__name__, k, g.dtype)


# -- 4. array constants made inside a loop body ------------------------------------------

def const_tanh(W, X):
    a = np.ones(3) * 0.5
    b = W[1] * 1.0
    for t in range(X.shape[0]):
        c0 = X[t] * 0.5
        b = np.tanh(a)
    return np.sum(a * b)


def const_reset(W, X):
    b = W[0] * 1.0
    for t in range(3):
        b = np.ones(3) * 2.0
    return np.sum(b)


def const_arange(W, X):
    h = np.ones(3)
    g = X[0] * 1.0
    for t in range(X.shape[0]):
        h = np.sin(h * X[t])
        g = np.arange(3.0)
    return np.sum(h * g)


@pytest.mark.parametrize("fn", [const_tanh, const_reset, const_arange])
def test_constant_made_in_a_loop_body(fn, tmp_path):
    W, X = np.eye(3), np.linspace(0.1, 1.2, 12).reshape(4, 3)
    wrt = 1 if fn is const_arange else 0
    v, g = same_as_numpy(fn, wrt, (W, X))
    c = gradc.compile(fn, wrt=wrt, args=(W, X))
    path = c.save(tmp_path / f"m_{fn.__name__}.py")
    spec = importlib.util.spec_from_file_location(f"m_{fn.__name__}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sv, sg = getattr(module, f"{fn.__name__}_value_and_grad")(W, X)
    np.testing.assert_array_equal(sv, v)
    np.testing.assert_array_equal(sg, g)


# -- 5. `for x in X` the region cannot hold is unrolled over the rows, not refused ----------

def iter_rows(X):
    s = 0.0
    for x in X:
        s = s * 0.5 + np.sum(x ** 2)
    return s


@pytest.mark.parametrize("X", [np.linspace(-1, 1, 9).reshape(3, 3), np.linspace(-1, 1, 3).reshape(1, 3),
                               np.zeros((0, 3)), np.linspace(-1, 1, 9).reshape(3, 3).astype(np.float32),
                               np.linspace(-1, 1, 4)])
def test_for_over_rows_falls_back_to_unrolling(X):
    v, g = gradc.value_and_grad(iter_rows)(X)
    want = iter_rows(X)
    assert type(v) is type(want) and np.asarray(v).dtype == np.asarray(want).dtype
    np.testing.assert_allclose(v, want, rtol=1e-6)
    np.testing.assert_allclose(g, np.asarray(X, np.float64) * 0.5 ** np.arange(len(X))[::-1].reshape(
        (-1,) + (1,) * (X.ndim - 1)) * 2, rtol=1e-5)
    assert g.dtype == X.dtype


def test_write_into_a_row_after_the_unrolled_loop_is_refused():
    def f(X):
        s = 0.0
        for x in X:
            s = s + np.sum(x ** 2)
        x[0] = 5.0
        return s + np.sum(X)

    with pytest.raises(gradc.CompileError):
        gradc.value_and_grad(f)(np.ones((1, 3)))


def same_target(X):
    s = 0.0
    for i in range(3):
        for i in range(2):  # noqa: B007 - Python: i is 1 after the inner loop
            s = s + np.sum(X[i])
        s = s * X[i, 0]
    return s


def test_inner_loop_reusing_the_outer_target():
    X = np.arange(9.0).reshape(3, 3) / 10
    v, g = same_as_numpy(same_target, 0, (X,))
    eps = 1e-6
    fd = np.zeros_like(X)
    for k in np.ndindex(X.shape):
        d = np.zeros_like(X)
        d[k] = eps
        fd[k] = (same_target(X + d) - same_target(X - d)) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def big_const_in_body(X):
    h = np.ones(300)
    g = X[0] * 1.0
    for t in range(X.shape[0]):
        h = np.sin(h * X[t])
        g = np.arange(300.0)
    return np.sum(h * g)


def test_large_constant_made_in_a_loop_body_goes_to_the_saved_npz(tmp_path):
    X = np.linspace(0.1, 1, 1200).reshape(4, 300)
    c = gradc.compile(big_const_in_body, args=(X,))
    path = c.save(tmp_path / "m_big.py")
    assert (tmp_path / "m_big_consts.npz").exists()
    spec = importlib.util.spec_from_file_location("m_big", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    v, g = c.value_and_grad(X)
    sv, sg = module.big_const_in_body_value_and_grad(X)
    assert sv == v == big_const_in_body(X)
    np.testing.assert_array_equal(sg, g)
