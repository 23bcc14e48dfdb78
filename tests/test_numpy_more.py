"""Real NumPy and Python in loss functions: statistics, scans, sorting, more ufuncs, shape
functions and the math module, in the losses people write. Values are checked against NumPy
running the same function, gradients against central finite differences (or exact formulas
where finite differences cannot look: zeros of a product, ties, kinks)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import gradc
from fixtures.numeric import fd_grad

RNG = np.random.default_rng(20261202)


def fd(f, args, wrt=0, eps=1e-6):
    """Central differences of scalar f with respect to args[wrt], in float64 (an array)."""
    args = [np.array(a, dtype=np.float64) if i == wrt else a for i, a in enumerate(args)]
    return fd_grad(f, args, wrt, eps)


def check(f, *args, wrt=0, rtol=1e-6, atol=1e-7):
    """gradc's value equals NumPy's; its gradient equals central differences."""
    value, grad = gradc.value_and_grad(f, wrt=wrt)(*args)
    np.testing.assert_allclose(value, f(*args), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, fd(f, args, wrt), rtol=rtol, atol=atol)
    return grad


# -- statistics -------------------------------------------------------------------------


def layer_norm(x, gamma, beta):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.var(x, axis=-1, keepdims=True)
    y = (x - mu) / np.sqrt(var + 1e-5) * gamma + beta
    return np.sum(y ** 2 * np.arange(y.size).reshape(y.shape) / y.size)


def z_score(x):
    z = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)
    return np.sum(np.tanh(z) * np.linspace(-1, 1, x.shape[1]))


def var_std_forms(x):
    return (np.var(x) + np.std(x, ddof=1) + x.var(axis=(0, 1)) + np.std(x, axis=0, correction=1).sum()
            + np.var(x, axis=1, keepdims=True).sum())


@pytest.mark.parametrize("wrt", [0, 1, 2])
def test_layer_norm_with_np_var(wrt):
    x, gamma, beta = RNG.standard_normal((3, 5)), 1 + 0.1 * RNG.standard_normal(5), RNG.standard_normal(5)
    check(layer_norm, x, gamma, beta, wrt=wrt)


def test_z_score_with_std_methods():
    check(z_score, RNG.standard_normal((6, 4)))


def test_var_and_std_spellings():
    check(var_std_forms, RNG.standard_normal((4, 3)))


def constant_var(x):
    return np.var(x) + np.sum(x)


def test_variance_of_a_constant_vector():
    """var is smooth at a constant vector (its gradient 2(x - mean)/n is 0 there); std is not
    (sqrt at 0): like JAX, gradc gives NaN for std there (documented)."""
    g = gradc.grad(constant_var)(np.full(4, 2.0))
    np.testing.assert_allclose(g, np.ones(4))


def integer_var(w, k):
    return np.var(k) * np.sum(w)


def test_var_of_integers_is_float64():
    k = np.array([1, 2, 4])
    v, g = gradc.value_and_grad(integer_var)(np.ones(2), k)
    assert v == pytest.approx(np.var(k) * 2) and g.tolist() == [np.var(k)] * 2


def masked_sums(x, m):
    return (np.sum(x ** 2, where=m) + x.sum(where=m, axis=0).sum() + np.mean(x, where=m)
            + np.sum(x, initial=1.5))


def test_sum_with_where_mask():
    x = RNG.standard_normal((3, 4))
    m = RNG.random((3, 4)) > 0.4
    g = check(masked_sums, x, m)
    assert np.all(g[~m] == 1.0)  # only the initial-free plain sum reaches masked-out entries


def nan_losses(x):
    return np.nansum(x ** 2) + np.nanmean(x, axis=0).sum()


def test_nansum_and_nanmean_ignore_nans_and_give_them_zero_gradient():
    x = RNG.standard_normal((4, 3))
    x[1, 2] = x[3, 0] = np.nan
    v, g = gradc.value_and_grad(nan_losses)(x)
    assert v == pytest.approx(nan_losses(x), rel=1e-12)
    assert g[1, 2] == 0 and g[3, 0] == 0
    ok = ~np.isnan(x)
    counts = ok.sum(axis=0)
    np.testing.assert_allclose(g[ok], (2 * x + 1 / counts[None, :])[ok], rtol=1e-12)


def weighted(x, w):
    return np.average(x, axis=1, weights=w).sum() + np.average(x) + np.average(x * x, weights=np.ones_like(x))


@pytest.mark.parametrize("wrt", [0, 1])
def test_average_with_weights(wrt):
    check(weighted, RNG.standard_normal((3, 4)), 0.5 + RNG.random(4), wrt=wrt)


def median_abs_dev(x):
    med = np.median(x)
    return (np.median(np.abs(x - med)) + np.median(x[1:].reshape(-1, 3), axis=0).sum()
            + np.median(x[1:].reshape(3, -1), axis=1, keepdims=True).sum())


@pytest.mark.parametrize("n", [7, 10])
def test_median_through_sort(n):
    check(median_abs_dev, RNG.permutation(n) * 0.37 - 1.0 + 0.01 * RNG.random(n))


# -- products: zeros handled, no division ------------------------------------------------


def product_likelihood(p):
    return np.prod(p) + np.sum(np.prod(p.reshape(2, 3), axis=1) ** 2)


def test_product_likelihood_away_from_zero():
    check(product_likelihood, 0.5 + RNG.random(6))


def prod_only(p):
    return np.prod(p)


def test_prod_gradient_with_one_zero_is_the_product_of_the_others():
    p = np.array([0.5, 0.0, 2.0, 3.0])
    np.testing.assert_array_equal(gradc.grad(prod_only)(p), [0.0, 3.0, 0.0, 0.0])


def test_prod_gradient_with_two_zeros_is_zero():
    p = np.array([0.5, 0.0, 2.0, 0.0])
    g = gradc.grad(prod_only)(p)
    np.testing.assert_array_equal(g, np.zeros(4))
    assert "/" not in gradc.compile(prod_only, args=(p,)).source.split("reverse sweep")[-1]


def prod_axes(x):
    return np.sum(np.prod(x, axis=(0, 2)) * np.array([1.0, -2.0, 0.5])) + x.prod(axis=1, keepdims=True).sum()


def test_prod_over_axes_with_zeros_matches_finite_differences():
    x = RNG.standard_normal((2, 3, 2))
    x[1, 0, 1] = 0.0  # a product with a zero is still linear in each factor: FD is exact
    check(prod_axes, x)


def survival(h):
    return np.sum(np.cumprod(1 - h)) + np.sum(np.cumprod(h, axis=0)[-1])


def test_cumprod_with_zeros():
    h = RNG.random((4, 3))
    h[1, 1] = 1.0  # 1 - h is 0 there
    h[2, 0] = 0.0
    check(survival, h)


def test_prod_hessian_vector_product():
    def f(p):
        return np.prod(p)
    p = np.array([1.5, 0.0, 2.0, -1.0])
    v = np.array([1.0, 2.0, -1.0, 0.5])
    H = np.zeros((4, 4))
    for i in range(4):
        for j in range(4):
            if i != j:
                H[i, j] = np.prod([p[k] for k in range(4) if k not in (i, j)])
    np.testing.assert_allclose(gradc.compile(prod_only).hvp(p, v), H @ v, atol=1e-14)


# -- scans and sorting -------------------------------------------------------------------


def drawdown(r):
    wealth = np.cumsum(r)
    return np.sum(wealth ** 2) / r.size + np.sum(np.cumsum(r.reshape(2, 4), axis=1)[:, -1]) + r.cumsum()[3]


def test_cumsum_of_returns():
    check(drawdown, 0.1 * RNG.standard_normal(8))


def trimmed_mean(x):
    s = np.sort(x)
    return np.mean(s[2:-2] ** 2) + np.sum(np.sort(x.reshape(2, 5), axis=0)[1])


def test_sorted_loss_trimmed_mean():
    check(trimmed_mean, RNG.permutation(10) * 0.3 + 0.01 * RNG.random(10))


def topk(x):
    return np.sum(np.sort(x)[-2:])


def test_sort_ties_follow_the_stable_permutation():
    """At a tie each tied element gets the cotangent of one output slot (the stable argsort's
    assignment): the gradient of the top-2 sum of [1, 3, 3, 3] is [0, 0, 1, 1], not 2/3 each."""
    np.testing.assert_array_equal(gradc.grad(topk)(np.array([1.0, 3.0, 3.0, 3.0])), [0, 0, 1, 1])


def gather_argmax(x):
    i = np.argmax(x)
    j = np.argmin(x, axis=1)
    return np.sum(x ** 2) + np.sum(j) * 0.0 + i * 0.0


def test_argmax_and_argmin_are_integer_and_not_differentiated():
    x = RNG.standard_normal((3, 4))
    v, g = gradc.value_and_grad(gather_argmax)(x)
    np.testing.assert_allclose(g, 2 * x)


def argmax_value(x):
    return np.argmax(x, axis=1, keepdims=True) + x.argmin()


def test_argmax_values_match_numpy():
    x = RNG.standard_normal((3, 4))
    np.testing.assert_array_equal(gradc.compile(argmax_value, wrt=())(x), argmax_value(x))


# -- elementwise ---------------------------------------------------------------------------


def angle_loss(pred, target):
    theta = np.arctan2(pred[:, 1], pred[:, 0])
    r = np.hypot(pred[:, 0], pred[:, 1])
    return np.sum(1 - np.cos(theta - target)) + np.sum((r - 1) ** 2) + np.sum(np.log2(r) + np.log10(1 + r))


@pytest.mark.parametrize("wrt", [0, 1])
def test_angle_loss_with_arctan2(wrt):
    check(angle_loss, RNG.standard_normal((5, 2)), RNG.uniform(-3, 3, 5), wrt=wrt)


def hyperbolic(x):
    return np.sum(np.log(np.cosh(x)) + np.sinh(x) * 0.1 + np.arcsinh(x) + np.arctanh(x / 3)
                  + np.arcsin(x / 3) - np.arccos(x / 4) + np.arccosh(1.5 + x ** 2) + np.exp2(x)
                  + np.cbrt(x) + np.sinc(x) + 1 / np.reciprocal(2 + x ** 2))


def test_hyperbolic_and_friends():
    check(hyperbolic, RNG.uniform(0.2, 2.0, 6) * RNG.choice([-1, 1], 6))


def test_cbrt_derivative_at_zero_is_infinite():
    def f(x):
        return np.sum(np.cbrt(x))
    with np.errstate(divide="ignore"):
        assert gradc.grad(f)(np.array([0.0, 8.0])).tolist() == [np.inf, 1 / 12]


def modulo(x, y):
    return np.sum(np.mod(x, y) ** 2) + np.sum(x % 0.7) + np.sum(np.remainder(x, 2.0) * y)


@pytest.mark.parametrize("wrt", [0, 1])
def test_mod_derivatives(wrt):
    x = np.array([0.3, 1.7, -2.2, 5.3])
    y = np.array([0.4, 0.9, 1.3, -1.7])
    g = check(modulo, x, y, wrt=wrt)
    if wrt == 1:  # d/dy mod(x, y)^2 = -2 mod(x, y) floor(x / y) (+ the last term's mod)
        expected = -2 * np.mod(x, y) * np.floor_divide(x, y) + np.remainder(x, 2.0)
        np.testing.assert_allclose(g, expected, rtol=1e-12)


def piecewise_constant(x):
    return np.sum(np.round(x) + np.around(x, 1) + np.floor(x) + np.ceil(x) + np.trunc(x) + np.rint(x)
                  + np.heaviside(x, 0.5) + x.round() + np.fix(x)) + np.sum(x)


def test_rounding_has_zero_gradient():
    x = RNG.standard_normal(6) * 3
    v, g = gradc.value_and_grad(piecewise_constant)(x)
    assert v == pytest.approx(piecewise_constant(x), rel=1e-14)
    np.testing.assert_array_equal(g, np.ones(6))


def misc_ufuncs(x, y):
    return np.sum(np.fmax(x, y) + 2 * np.fmin(x, y) + np.copysign(x, y) + np.fabs(x) * np.degrees(y)
                  + np.radians(x) + np.float_power(np.abs(x) + 1, y) + np.logaddexp2(x, y) + np.positive(x)
                  + np.nan_to_num(x / y) + np.where(np.isfinite(x) & np.logical_not(np.isnan(y)) & np.logical_not(np.isinf(y)), 1.0, 0.0)
                  + np.where(np.logical_xor(x > 0, y > 0), x, y))


@pytest.mark.parametrize("wrt", [0, 1])
def test_more_binary_ufuncs(wrt):
    check(misc_ufuncs, RNG.uniform(0.3, 2, 5) * RNG.choice([-1, 1], 5),
          RNG.uniform(0.3, 2, 5) * RNG.choice([-1, 1], 5), wrt=wrt, rtol=1e-5)


def fmax_only(x, y):
    return np.sum(np.fmax(x, y) + np.fmin(x, y))


def test_fmax_fmin_nan_handling_as_numpy():
    x = np.array([np.nan, 1.0, np.nan, 2.0])
    y = np.array([0.5, np.nan, np.nan, 2.0])
    assert np.isnan(gradc.compile(fmax_only, wrt=())(x, y)) == np.isnan(fmax_only(x, y))
    x2, y2 = np.array([np.nan, 1.0, 2.0]), np.array([0.5, np.nan, 2.0])
    gx = gradc.grad(fmax_only, wrt=0)(x2, y2)
    gy = gradc.grad(fmax_only, wrt=1)(x2, y2)
    np.testing.assert_array_equal(gx, [0.0, 2.0, 2.0])  # a tie: both to the first argument
    np.testing.assert_array_equal(gy, [2.0, 0.0, 0.0])


def nan_to_num_loss(x):
    return np.sum(np.nan_to_num(x, nan=-1.0, posinf=10.0, neginf=-10.0) * np.arange(4.0))


def test_nan_to_num():
    x = np.array([np.nan, np.inf, -np.inf, 2.0])
    v, g = gradc.value_and_grad(nan_to_num_loss)(x)
    assert v == nan_to_num_loss(x)
    np.testing.assert_array_equal(g, [0, 0, 0, 3])


# -- shape functions -------------------------------------------------------------------------


def shapes_a(x):
    y = np.squeeze(x[:, None]) + np.swapaxes(x[None], 0, 1)[:, 0] + np.moveaxis(x[..., None], -1, 0)[0]
    z = np.rollaxis(x[None], 2).sum(axis=-1).T + np.flip(x) + np.flipud(x) * np.fliplr(x)
    w = np.rot90(x).T + np.rot90(x, 2) + np.rot90(x, 3, axes=(1, 0)).T + np.roll(x, 3) + np.roll(x, (1, -1), (0, 1))
    return np.sum((y + z + w + x.squeeze() + x.swapaxes(0, 1).T) ** 2 * np.arange(x.size).reshape(x.shape))


def shapes_b(x):
    t = np.tile(x, (2, 1, 2)).sum(axis=0)
    r = np.repeat(x, 2, axis=1) + np.repeat(x, [1, 0, 3, 2, 4, 2], axis=1)
    a = np.atleast_1d(x[0, 0]) + np.atleast_2d(x[0]).sum() + np.atleast_3d(x).sum(axis=2)[0, 0]
    parts = np.split(x, 2, axis=0) + np.array_split(x, 4, axis=1)
    return (np.sum(t ** 2) + np.sum(r * np.arange(12.0)) + np.sum(a) + np.sum(parts[0] ** 2)
            + np.sum(parts[1] ** 3) + np.sum(parts[4] * parts[2]) + np.sum(x.repeat(3) ** 2))


def smoothness(x):
    p = np.pad(x, 1)
    e = np.pad(x, ((0, 0), (2, 1)), mode="edge")
    return (np.sum(np.diff(p, axis=0) ** 2) + np.sum(np.diff(e) ** 2) + np.sum(np.diff(x, n=2, axis=1) ** 2)
            + np.sum(np.diff(x[0], prepend=0.0, append=x[1, 0]) ** 2)
            + np.sum(np.append(x, [[1.0, 2.0, 3.0]], axis=0) ** 2) + np.sum(np.pad(x, (1, 2), constant_values=0.5)))


def building(x):
    t = np.linspace(x[0], x[1], 5)
    u = np.linspace(0.0, x[2], 4, endpoint=False)
    v = np.linspace(x[:2], x[2:4], 3, axis=1)
    poly = np.polyval(x[:3], t) + np.polyval([1.0, -2.0, 0.5], x[3])
    return (np.sum(t ** 3) + np.sum(u ** 2) + np.sum(v ** 2) + np.sum(poly ** 2)
            + np.sum(np.full_like(x, 2.0) * x) + np.sum(np.ones_like(x) * x ** 2)
            + np.sum(np.zeros_like(x, shape=(2, 3))) + np.sum(np.full_like(x, x[0]) * x))


@pytest.mark.parametrize("fn,shape", [(shapes_a, (4, 3)), (shapes_b, (4, 6)), (smoothness, (3, 3)),
                                      (building, (4,))], ids=["permutes", "tiles", "pad_diff", "linspace"])
def test_shape_functions(fn, shape):
    check(fn, RNG.standard_normal(shape))


def splits(x):
    a, b = np.split(x, [1], axis=0)
    return np.sum(a * 2) + np.sum(b)


def test_split_returns_a_list_of_values():
    check(splits, RNG.standard_normal((3, 2)))


def test_triu_indices_are_compile_time():
    def f(A):
        i, j = np.triu_indices(3, 1)
        return np.sum(A[0, 1] * A[1, 2]) + len(i) * np.sum(A) + np.sum(j)
    A = RNG.standard_normal((3, 3))
    v, g = gradc.value_and_grad(f)(A)
    assert v == pytest.approx(f(A))


# -- the math module ---------------------------------------------------------------------------


def gelu(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_mlp(W, x):
    return np.sum(gelu(x @ W) ** 2) / math.e + math.log(2) * np.mean(W) - 1 / math.inf


def test_gelu_with_math_constants():
    check(gelu_mlp, RNG.standard_normal((3, 4)), RNG.standard_normal((2, 3)))


def scalar_math(x, y):
    s = np.sum(x)
    return (math.exp(s) + math.log(y) + math.tanh(s) + math.sqrt(y) + math.atan2(s, y) + math.hypot(s, y)
            + math.log(y, 2) + math.pow(y, 1.5) + math.sin(s) * math.cos(y) + pow(s, 3) + abs(s)
            + divmod(y, 0.3)[1] + round(s, 1) * 0)


@pytest.mark.parametrize("wrt", [0, 1])
def test_math_on_traced_scalars(wrt):
    check(scalar_math, RNG.standard_normal(3) * 0.3, 1.7, wrt=wrt)


def math_on_array(x):
    return np.sum(math.exp(x))


def test_math_on_an_array_says_use_numpy():
    with pytest.raises(gradc.CompileError, match=r"np\.exp"):
        gradc.grad(math_on_array)(np.ones(3))


def math_floor(x):
    return math.floor(np.sum(x)) * x[0]


def test_math_floor_of_a_traced_value_is_refused():
    with pytest.raises(gradc.CompileError, match=r"np\.floor"):
        gradc.grad(math_floor)(np.ones(3))


def empty_like(x):
    y = np.empty_like(x)
    return np.sum(y)


def test_empty_like_is_refused_with_a_suggestion():
    with pytest.raises(gradc.CompileError, match="zeros_like"):
        gradc.grad(empty_like)(np.ones(3))


def nanmax_loss(x):
    return np.nanmax(x)


def test_unsupported_reduction_says_what_to_write():
    with pytest.raises(gradc.CompileError, match=r"np\.max\(np\.where"):
        gradc.grad(nanmax_loss)(np.ones(3))


# -- dtypes (NEP 50) ----------------------------------------------------------------------------


def mlp32(W1, b1, W2, X, y):
    h = gelu(X @ W1 + b1)
    r = h @ W2 - y
    return (np.mean(r ** 2) + 1e-3 * np.sum(W1 ** 2) + 0.5 * np.var(h) + np.std(h, axis=0).sum() / 2
            + np.sum(np.cumsum(h, axis=1)) * 1e-2 + np.prod(np.tanh(b1) + 2.0) * 1e-3 + np.median(h) * 0.1)


def test_float32_mlp_values_and_gradients_stay_float32():
    f32 = np.float32
    args = (RNG.standard_normal((4, 5)).astype(f32), np.zeros(5, f32), RNG.standard_normal((5, 1)).astype(f32),
            RNG.standard_normal((8, 4)).astype(f32), RNG.standard_normal((8, 1)).astype(f32))
    v, g = gradc.value_and_grad(mlp32, wrt=(0, 1, 2))(*args)
    assert np.result_type(v) == np.result_type(mlp32(*args)) == f32
    assert [x.dtype for x in g] == [f32, f32, f32]
    v64, g64 = gradc.value_and_grad(mlp32, wrt=(0, 1, 2))(*(a.astype(np.float64) for a in args))
    for a, b in zip(g, g64):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)


def initial_and_where(x, m):
    return (np.sum(x, initial=1.5) * np.max(x, initial=0.1) + np.min(x, where=m, initial=5.0)
            + x.max(axis=0, where=m, initial=-3.0).sum() + np.amin(x, axis=1, initial=0.0).sum())


def test_max_and_min_with_initial_and_where():
    x = RNG.permutation(12).reshape(3, 4) * 0.3 - 1.5 + 0.01 * RNG.random((3, 4))
    m = RNG.random((3, 4)) > 0.3
    check(initial_and_where, x, m)


def scalar_types(w):
    return np.float64(np.sum(w ** 2)) * 2.0 + np.float64(3.0) + np.sum(np.float32(w)).astype(np.float64)


def test_numpy_scalar_types_cast_traced_values():
    w = RNG.standard_normal(3)
    v, g = gradc.value_and_grad(scalar_types)(w)
    assert v == pytest.approx(scalar_types(w), rel=1e-6)
    np.testing.assert_allclose(g, 4 * w + 1, rtol=1e-6)


def sort_in_place(x):
    s = x.sort()  # (a bare `x.sort()` statement is refused as an expression statement)
    return np.sum(x) + s


def test_in_place_sort_method_says_use_np_sort():
    with pytest.raises(gradc.CompileError, match=r"np\.sort"):
        gradc.grad(sort_in_place)(np.ones(3))


def second_order(x):
    return (np.sum(np.cumprod(x) ** 2) + np.sum(np.sort(x) ** 3 * np.arange(4.0)) + np.prod(x)
            + np.sum(np.arctan2(x, 1.5) * np.hypot(x, 0.5)) + np.var(x) * np.std(x))


@pytest.mark.parametrize("mode", ["forward-over-reverse", "reverse-over-reverse"])
def test_hessian_vector_products_of_new_primitives(mode):
    x = np.array([0.7, -1.2, 1.9, 0.4])
    v = np.array([1.0, -0.5, 0.25, 2.0])
    c = gradc.compile(second_order)
    eps = 1e-5
    fd_hv = (c.grad(x + eps * v) - c.grad(x - eps * v)) / (2 * eps)
    np.testing.assert_allclose(c.hvp(x, v, mode=mode), fd_hv, rtol=1e-6, atol=1e-6)


def lse_tuple_axes(x):
    return np.sum(gradc.nn.logsumexp(x, axis=(0, 2)))


def test_logsumexp_over_tuple_axes():
    check(lse_tuple_axes, RNG.standard_normal((2, 3, 4)))


def integrals(y, x):
    return (np.trapezoid(y ** 2, x) + np.trapezoid(y, dx=0.5) + np.sum(np.trapezoid(y.reshape(2, 3), axis=0))
            + np.sum(np.ediff1d(y, to_begin=1.0, to_end=[2.0, 3.0]) ** 2))


@pytest.mark.parametrize("wrt", [0, 1])
def test_trapezoid_and_ediff1d(wrt):
    check(integrals, RNG.standard_normal(6), np.cumsum(0.5 + RNG.random(6)), wrt=wrt)


def smoothing(x, k):
    return (np.sum(np.convolve(x, k) ** 2) + np.sum(np.convolve(x, k, mode="same") * np.arange(7.0))
            + np.sum(np.convolve(k, x, "valid") ** 3))


@pytest.mark.parametrize("wrt", [0, 1])
def test_convolve_in_a_smoothing_loss(wrt):
    check(smoothing, RNG.standard_normal(7), RNG.standard_normal(3), wrt=wrt)


def nan_statistics(x):
    return (np.nanvar(x) + np.nanstd(x, axis=0, ddof=1).sum() + np.nanprod(x, axis=1).sum()
            + np.sum(np.nancumsum(x, axis=0) ** 2) + np.sum(np.nancumprod(x)))


def test_nan_statistics():
    x = 0.5 + RNG.random((4, 3))
    x[1, 1] = x[3, 2] = np.nan
    v, g = gradc.value_and_grad(nan_statistics)(x)
    assert v == pytest.approx(nan_statistics(x), rel=1e-12)
    assert g[1, 1] == 0 and g[3, 2] == 0
    ok = ~np.isnan(x)
    num = fd(lambda y: nan_statistics(np.where(ok, y, np.nan)), [np.where(ok, x, 0.0)])
    np.testing.assert_allclose(g[ok], num[ok], rtol=1e-6)


def logical(x):
    return np.sum(x) * (np.any(x > 1) + np.all(x > -5.0, axis=0).sum() + np.count_nonzero(x > 0))


def test_any_all_count_nonzero_are_not_differentiated():
    x = RNG.standard_normal((3, 4))
    v, g = gradc.value_and_grad(logical)(x)
    assert v == pytest.approx(logical(x))
    np.testing.assert_allclose(g, np.full((3, 4), logical(x) / np.sum(x)))
