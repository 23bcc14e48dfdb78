"""Derivatives of mixed-precision programs in the precision of the values they belong to
(compiler/ad/precision.py): float64 (or float32) parameters with float16/float32 data.
NumPy computes `w * x16` in float64, so the exact derivative of a float64 w is a float64
number; the adjoint used to combine a Python-float constant (a mean's 1/n, a scale, a bias
term's 1) with the float16 data first (`0.2 * x16` is float16) and cast afterwards, and
pow's derivative took log(np.int8(2)) in float16. Values are compared with NumPy bit for
bit, derivatives with exact formulas in float64 at tolerances that the rounded versions
fail by orders of magnitude (float64 parameters: 1e-12)."""
import numpy as np
import pytest

import gradc
from fixtures.numeric import fd_grad

F16, F32, F64 = np.float16, np.float32, np.float64
DTYPES = (F64, F32, F16)
# normwise relative tolerance of a derivative of a parameter of this dtype: a few roundings
TOL = {F64: 1e-12, F32: 1e-6, F16: 4e-3}
N = 5


def mean_lin(w, x):
    return np.mean(w * x)


def bias(w, x):
    return np.sum(w * x) + 0.3 * np.sum(w)


def scale(w, x):
    return 0.3 * np.sum(w * x)


def bias_one(w, x):
    return np.sum(w * x + w)


def terms(w, x):
    return np.sum(w * x) / 3.0 + np.mean(w) * 0.7 - np.sum(w - x) * 1.1


def half_square(w, x):
    return 0.5 * np.sum(x * w ** 2)


def scaled_exp(w, x):
    return np.sum(x * np.exp(w)) * 0.3


def ratio(w, x):
    return np.mean(x / w)


def data_base(w, x):
    return np.sum(np.abs(x) ** w)


def data_exponent(w, x):
    return np.sum(np.abs(w) ** x)


def distance(w, x):
    return 0.5 * np.sum((w - x) ** 2)


def dot(w, x):
    return (x @ w) * 0.25


def hypot(w, x):
    return np.sum(np.hypot(w, x)) * 0.5


def angle(w, x):
    return np.mean(np.arctan2(w, x))


def softplus_diff(w, x):
    return np.mean(np.logaddexp(w, x))


def selected(w, x):
    return np.mean(np.where(x > 0, w * x, 0.3 * w))


def squared(w, x):
    return np.mean(np.square(w) * x)


# exact gradients in float64, from float64 copies of w and x (the data's values are exact there)
GRADIENTS = {
    mean_lin: lambda w, x: x / N,
    bias: lambda w, x: x + 0.3,
    scale: lambda w, x: 0.3 * x,
    bias_one: lambda w, x: x + 1,
    terms: lambda w, x: x / 3.0 + 0.7 / N - 1.1,
    half_square: lambda w, x: x * w,
    scaled_exp: lambda w, x: 0.3 * x * np.exp(w),
    ratio: lambda w, x: -x / w ** 2 / N,
    data_base: lambda w, x: np.abs(x) ** w * np.log(np.abs(x)),
    data_exponent: lambda w, x: x * np.abs(w) ** (x - 1) * np.sign(w),
    distance: lambda w, x: w - x,
    dot: lambda w, x: 0.25 * x,
    hypot: lambda w, x: 0.5 * w / np.hypot(w, x),
    angle: lambda w, x: x / (w ** 2 + x ** 2) / N,
    softplus_diff: lambda w, x: 1 / (1 + np.exp(x - w)) / N,
    selected: lambda w, x: np.where(x > 0, x, 0.3) / N,
    squared: lambda w, x: 2 * w * x / N,
}

HESSIANS = {
    mean_lin: lambda w, x: np.zeros((N, N)),
    half_square: lambda w, x: np.diag(x),
    scaled_exp: lambda w, x: np.diag(0.3 * x * np.exp(w)),
    ratio: lambda w, x: np.diag(2 * x / w ** 3 / N),
    data_base: lambda w, x: np.diag(np.abs(x) ** w * np.log(np.abs(x)) ** 2),
    distance: lambda w, x: np.eye(N),
    squared: lambda w, x: np.diag(2 * x / N),
}


def f64(a):
    return np.asarray(a, dtype=np.float64)


def rel_err(actual, exact):
    """max |actual - exact| / max |exact| (normwise: no blow-up at an exact zero)."""
    exact = f64(exact)
    return float(np.max(np.abs(f64(actual) - exact)) / max(float(np.max(np.abs(exact))), 1e-300))


def data(w_dtype, x_dtype, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=N) + 0.1).astype(w_dtype), rng.normal(size=N).astype(x_dtype)


def same_bits(a, b):
    return type(a) is type(b) and np.asarray(a).dtype == np.asarray(b).dtype \
        and np.asarray(a).tobytes() == np.asarray(b).tobytes()


@pytest.mark.parametrize("x_dtype", DTYPES)
@pytest.mark.parametrize("w_dtype", DTYPES)
@pytest.mark.parametrize("fn", list(GRADIENTS), ids=lambda f: f.__name__)
def test_gradient_is_exact_in_the_parameters_precision(fn, w_dtype, x_dtype):
    w, x = data(w_dtype, x_dtype)
    value, g = gradc.value_and_grad(fn, wrt="w")(w, x)
    assert same_bits(value, fn(w, x))
    assert g.dtype == w.dtype and g.shape == w.shape
    assert rel_err(g, GRADIENTS[fn](f64(w), f64(x))) <= TOL[w_dtype]


@pytest.mark.parametrize("fn", [mean_lin, bias, scale, terms, data_base], ids=lambda f: f.__name__)
def test_exact_formulas_agree_with_finite_differences(fn):
    """The references above are themselves checked (float64 throughout)."""
    w, x = data(F64, F64)
    np.testing.assert_allclose(fd_grad(fn, (w, x), 0), GRADIENTS[fn](w, x), rtol=1e-7, atol=1e-8)


def mse(w, X, y):
    return np.mean((X @ w - y) ** 2)


def row_broadcast(w, M):
    return np.sum(w[None, :] * M) / 7


def column_scale(w, M):
    return np.mean(M * w[:, None]) * 0.3


@pytest.mark.parametrize("x_dtype", DTYPES)
@pytest.mark.parametrize("w_dtype", DTYPES)
def test_matmul_and_broadcasting_losses(w_dtype, x_dtype):
    rng = np.random.default_rng(1)
    w = rng.normal(size=N).astype(w_dtype)
    X, y = rng.normal(size=(7, N)).astype(x_dtype), rng.normal(size=7).astype(x_dtype)
    M = rng.normal(size=(3, N)).astype(x_dtype)
    K = rng.normal(size=(N, 4)).astype(x_dtype)
    Xd = f64(X)
    cases = [(mse, (w, X, y), 2 / 7 * Xd.T @ (Xd @ f64(w) - f64(y))),
             (row_broadcast, (w, M), f64(M).sum(0) / 7),
             (column_scale, (w, K), 0.3 * f64(K).sum(1) / (N * 4))]
    for fn, args, exact in cases:
        value, g = gradc.value_and_grad(fn, wrt="w")(*args)
        assert same_bits(value, fn(*args)), fn.__name__
        assert g.dtype == w.dtype
        assert rel_err(g, exact) <= TOL[w_dtype] * (4 if w_dtype == F32 == x_dtype else 1), fn.__name__


def int8_base(w):
    return np.sum(np.int8(2) ** w)


def int16_base(w):
    return np.sum(np.int16(3) ** w)


def uint8_base(w):
    return np.sum(np.uint8(5) ** w)


def float16_base(w):
    return np.sum(np.float16(2.5) ** w)


def int_array_base(w, k):
    return np.sum(k ** w)


@pytest.mark.parametrize("w_dtype", [F64, F32])
@pytest.mark.parametrize("fn,base", [(int8_base, 2.0), (int16_base, 3.0), (uint8_base, 5.0),
                                     (float16_base, 2.5)], ids=lambda v: getattr(v, "__name__", ""))
def test_pow_of_a_numpy_scalar_base_takes_the_log_in_the_results_dtype(fn, base, w_dtype):
    w = np.array([0.3, -0.45, 0.6, 0.15], dtype=w_dtype)
    value, g = gradc.value_and_grad(fn)(w)
    assert same_bits(value, fn(w))
    exact = base ** f64(w) * np.log(base)
    assert g.dtype == np.asarray(fn(w)).dtype == w_dtype
    assert rel_err(g, exact) <= TOL[w_dtype]
    _, slope = gradc.jvp(fn, (w,), np.ones_like(w))
    assert rel_err(slope, np.sum(exact)) <= TOL[w_dtype]
    H = gradc.hessian(fn)(w)
    assert rel_err(H, np.diag(exact * np.log(base))) <= TOL[w_dtype]


@pytest.mark.parametrize("k_dtype", [np.int8, np.uint8, np.int16, F16])
def test_pow_of_an_integer_or_float16_array_base(k_dtype):
    w = np.array([0.3, -0.45, 0.6, 0.15])
    k = np.array([2, 3, 5, 7], dtype=k_dtype)
    value, g = gradc.value_and_grad(int_array_base)(w, k)
    assert same_bits(value, int_array_base(w, k))
    assert rel_err(g, f64(k) ** w * np.log(f64(k))) <= 1e-12


MODES = ["forward-over-reverse", "reverse-over-reverse"]


@pytest.mark.parametrize("x_dtype", DTYPES)
@pytest.mark.parametrize("w_dtype", [F64, F32])
@pytest.mark.parametrize("fn", list(GRADIENTS), ids=lambda f: f.__name__)
def test_forward_mode_is_exact_in_the_parameters_precision(fn, w_dtype, x_dtype):
    w, x = data(w_dtype, x_dtype)
    u = np.random.default_rng(2).normal(size=N).astype(w_dtype)
    value, slope = gradc.jvp(fn, (w, x), u, wrt="w")
    assert same_bits(value, fn(w, x))
    exact = GRADIENTS[fn](f64(w), f64(x))
    assert abs(float(slope) - exact @ f64(u)) <= TOL[w_dtype] * np.sum(np.abs(exact * f64(u)))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("x_dtype", DTYPES)
@pytest.mark.parametrize("w_dtype", [F64, F32])
@pytest.mark.parametrize("fn", list(HESSIANS), ids=lambda f: f.__name__)
def test_hessian_and_hvp_are_exact_in_the_parameters_precision(fn, w_dtype, x_dtype, mode):
    w, x = data(w_dtype, x_dtype)
    u = np.random.default_rng(3).normal(size=N).astype(w_dtype)
    exact = HESSIANS[fn](f64(w), f64(x))
    assert rel_err(gradc.hessian(fn, wrt="w", mode=mode)(w, x), exact) <= TOL[w_dtype]
    assert rel_err(gradc.hvp(fn, wrt="w", mode=mode)(w, x, u), exact @ f64(u)) <= TOL[w_dtype]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("x_dtype", [F32, F16])
def test_hessian_of_a_float16_least_squares_fit(mode, x_dtype):
    rng = np.random.default_rng(4)
    w, X, y = rng.normal(size=N), rng.normal(size=(7, N)).astype(x_dtype), rng.normal(size=7)
    H = gradc.hessian(mse, wrt="w", mode=mode)(w, X, y)
    assert rel_err(H, 2 / 7 * f64(X).T @ f64(X)) <= 1e-12


T = 6


def accumulated(w, X):
    s = 0.0
    for t in range(T):
        s = s + np.sum(w * X[t]) * 0.3
    return s


def recurrent(w, X):
    h = w
    for t in range(T):
        h = h * X[t] * 0.5 + w
    return np.mean(h)


def branch(w, x):
    if np.sum(x) > 0:
        return np.mean(w * x)
    return 0.3 * np.sum(w * x)


@pytest.mark.parametrize("w_dtype,x_dtype", [(F64, F16), (F64, F32), (F32, F16)])
@pytest.mark.parametrize("fn", [accumulated, recurrent, branch], ids=lambda f: f.__name__)
def test_loops_and_branches(fn, w_dtype, x_dtype):
    """Against the same function on float64 copies of the data (every data value enters
    through an operation with w, so NumPy's float64 numbers are the same), itself checked
    against finite differences."""
    rng = np.random.default_rng(5)
    w = rng.normal(size=N).astype(w_dtype)
    X = rng.normal(size=(T, N)).astype(x_dtype)
    for data_arg in ((X,) if fn is not branch else (X[0], -np.abs(X[0]))):
        value, g = gradc.value_and_grad(fn)(w, data_arg)
        assert same_bits(value, fn(w, data_arg))
        reference = gradc.grad(fn)(f64(w), f64(data_arg))
        np.testing.assert_allclose(reference, fd_grad(fn, (f64(w), f64(data_arg)), 0), rtol=1e-7, atol=1e-9)
        assert g.dtype == w_dtype
        assert rel_err(g, reference) <= TOL[w_dtype]


def test_per_example_gradients_of_float16_data():
    rng = np.random.default_rng(6)
    w, X = rng.normal(size=N), rng.normal(size=(4, N)).astype(F16)
    g = gradc.vmap(gradc.grad(bias), in_axes=(None, 0))(w, X)
    assert rel_err(g, f64(X) + 0.3) <= 1e-15


def test_programs_of_one_dtype_keep_their_code():
    """The fix costs nothing where every value has one dtype: no casts, no NumPy scalars."""
    w, x = data(F64, F64)
    source = gradc.compile(bias, wrt="w", args=(w, x)).source
    assert "astype" not in source and "np.float64(" not in source
    w, x = data(F32, F32)
    source = gradc.compile(mean_lin, wrt="w", args=(w, x)).source
    assert "np.float32(" not in source and "np.float64(" not in source


def test_mixed_precision_adjoint_casts_the_data_before_combining():
    w, x = data(F64, F16)
    source = gradc.compile(bias, wrt="w", args=(w, x)).source
    assert "0.3 + x.astype(np.float64)" in source
