"""Inputs at boundaries: zeros, ties, kinks, the NaN traps of np.where, large and tiny magnitudes.

Where the loss is differentiable at the point, the reference is JAX (with the safe
"double where" in the twin where plain JAX would hit the same NaN trap) and finite
differences agree. At a genuine kink the reference is hand-derived from gradc's
documented conventions (docs/supported-subset.md, "Derivatives at kinks"), FD is
skipped, and the case's note says so.
"""
import numpy as np

from . import case
from ._jax import jnp


def _n(r, *shape):
    return r.normal(size=shape)


def poly_at_zero(c, x):
    total = 0.0
    for k in range(len(c)):
        total = total + c[k] * x ** k
    return total


case(poly_at_zero, wrt=("c", "x"), args=lambda r: (_n(r, 4), 0.0),
     note="x ** 0 at x = 0: d/dx is c[1]; a naive k * x ** (k - 1) gives 0 * inf")


def pairwise_dist_where_sqrt(X):
    d2 = np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1)
    d = np.where(d2 > 0, np.sqrt(d2), 0.0)
    return np.sum(d)


def jax_pairwise_dist_where_sqrt(X):
    d2 = jnp.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1)
    return jnp.sum(jnp.where(d2 > 0, jnp.sqrt(jnp.where(d2 > 0, d2, 1.0)), 0.0))


case(pairwise_dist_where_sqrt, wrt="X", twin=jax_pairwise_dist_where_sqrt, args=lambda r: (_n(r, 3, 2),),
     note="the diagonal has d2 == 0: the unselected sqrt branch has an infinite derivative there (NaN trap)")


def sinc_where(x):
    y = np.where(np.abs(x) < 1e-4, 1 - x ** 2 / 6, np.sin(x) / x)
    return np.sum(y)


def jax_sinc_where(x):
    small = jnp.abs(x) < 1e-4
    safe = jnp.where(small, 1.0, x)
    return jnp.sum(jnp.where(small, 1 - x ** 2 / 6, jnp.sin(safe) / safe))


case(sinc_where, wrt="x", twin=jax_sinc_where, args=lambda r: (np.array([0.0, 0.5, -1.2, 2.0]),),
     note="sin(x)/x at x = 0 is 0/0 in the unselected branch")


def log1p_where_trap(x):
    return np.sum(np.where(x > 0, np.log1p(x), x))


def jax_log1p_where_trap(x):
    return jnp.sum(jnp.where(x > 0, jnp.log1p(jnp.where(x > 0, x, 0.0)), x))


case(log1p_where_trap, wrt="x", twin=jax_log1p_where_trap, args=lambda r: (np.array([-2.0, -1.0, -0.5, 0.7, 3.0]),),
     note="log1p(-1) = -inf and log1p(-2) = nan in the unselected branch; the loss is C1 (slope 1 at 0 from both sides)")


def exp_overflow_where(x):
    return np.sum(np.where(x < 50.0, np.exp(x), np.exp(50.0) * (1 + x - 50.0)))


def jax_exp_overflow_where(x):
    return jnp.sum(jnp.where(x < 50.0, jnp.exp(jnp.where(x < 50.0, x, 0.0)), jnp.exp(50.0) * (1 + x - 50.0)))


case(exp_overflow_where, wrt="x", twin=jax_exp_overflow_where, args=lambda r: (np.array([-3.0, 0.5, 49.0, 1000.0]),),
     note="exp(1000) = inf in the unselected branch: inf * 0 must not leak into the gradient")


def cube_negative_base(x):
    return np.sum(x ** 3.0) + np.sum(np.power(x, 2.0))


case(cube_negative_base, wrt="x", args=lambda r: (np.array([-2.0, -0.5, 0.0, 1.5]),),
     note="float exponents on negative bases and at 0: 3x^2 + 2x, no log(x)")


def sqrt_eps_at_zero(w):
    return np.sqrt(np.sum(w ** 2) + 1e-12)


case(sqrt_eps_at_zero, wrt="w", args=lambda r: (np.zeros(3),))


def x_abs_x_at_zero(x):
    return np.sum(x * np.abs(x))


case(x_abs_x_at_zero, wrt="x", args=lambda r: (np.array([0.0, 1.5, -2.0]),),
     note="differentiable at 0 (derivative 2|x| = 0) whatever abs'(0) is")


def relu_squared_at_zero(x):
    return np.sum(np.maximum(x, 0.0) ** 2)


case(relu_squared_at_zero, wrt="x", args=lambda r: (np.array([0.0, -1.0, 2.0]),),
     note="differentiable at 0 (derivative 2 max(x, 0) = 0) whatever the tie rule is")


def abs_at_zero_convention(x):
    return np.sum(np.abs(x))


case(abs_at_zero_convention, wrt="x", args=lambda r: (np.array([0.0, 1.0, -2.0]),), twin=None, fd=False,
     ref_grad=lambda x: np.array([0.0, 1.0, -1.0]),
     note="kink: hand-derived from the documented convention abs'(0) = 0 (JAX uses 1)")


def max_ties_split(x):
    return np.max(x) + 0.5 * np.sum(x)


case(max_ties_split, wrt="x", args=lambda r: (np.array([1.0, 3.0, 3.0, 0.0]),),
     note="max over a tie: documented equal split (0.5, 0.5); FD gives the same")


def maximum_tie_goes_to_first(x, y):
    return np.sum(np.maximum(x, y) * np.array([1.0, 2.0, 3.0]))


case(maximum_tie_goes_to_first, wrt=("x", "y"), twin=None, fd=False,
     args=lambda r: (np.array([1.0, 2.0, -1.0]), np.array([1.0, 0.5, -1.0])),
     ref_grad=lambda x, y: (np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 0.0])),
     note="kink: ties at entries 0 and 2; documented convention: maximum(x, y) sends the gradient to x (JAX splits 0.5/0.5)")


def clip_at_bounds(x):
    return np.sum(np.clip(x, -1.0, 1.0) * np.array([1.0, 2.0, 3.0, 4.0]))


case(clip_at_bounds, wrt="x", twin=None, fd=False, args=lambda r: (np.array([-1.0, 0.3, 1.0, 2.0]),),
     ref_grad=lambda x: np.array([1.0, 2.0, 3.0, 0.0]),
     note="kink: x at both bounds; documented convention: clip passes the gradient at the bounds")


def hinge_at_margin(s, y):
    return np.sum(np.maximum(0.0, 1.0 - y * s))


case(hinge_at_margin, wrt="s", twin=None, fd=False,
     args=lambda r: (np.array([1.0, 0.5, -2.0]), np.array([1.0, 1.0, 1.0])),
     ref_grad=lambda s, y: np.array([0.0, -1.0, -1.0]),
     note="kink: margin exactly 0 at entry 0; maximum(0, m) sends a tie to its first operand, the constant 0")


def logsumexp_large(x):
    m = np.max(x)
    return m + np.log(np.sum(np.exp(x - m)))


case(logsumexp_large, wrt="x", args=lambda r: (1000.0 + _n(r, 5),))


def logsumexp_tied_max(x):
    m = np.max(x, axis=1, keepdims=True)
    return np.sum(m + np.log(np.sum(np.exp(x - m), axis=1, keepdims=True)))


case(logsumexp_tied_max, wrt="x", args=lambda r: (np.array([[2.0, 2.0, -1.0], [0.5, 3.0, 3.0]]),),
     note="ties in the max: the max's gradient cancels, whatever the tie rule; the answer is softmax")


def softplus_logaddexp_large(x):
    return np.sum(np.logaddexp(0.0, x))


case(softplus_logaddexp_large, wrt="x", args=lambda r: (np.array([-800.0, -30.0, 0.0, 30.0, 800.0]),))


def masked_softmax_neg_inf(logits, mask):
    z = logits + np.where(mask, 0.0, -np.inf)
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    return np.sum(p * np.arange(logits.shape[-1]))


case(masked_softmax_neg_inf, tags=("real_numpy",), wrt="logits",
     args=lambda r: (_n(r, 2, 4), np.array([[True, True, False, True], [False, True, True, False]])),
     note="-inf in masked logits: exp(-inf) = 0, the masked entries get gradient 0")


def prod_with_zeros(X):
    return np.sum(np.prod(X, axis=1))


case(prod_with_zeros, tags=("real_numpy",), wrt="X", args=lambda r: (np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.5, -1.0, 2.0]]),),
     note="prod / x would divide by zero: the gradient is the product of the others")


def naive_sigmoid_overflow(x):
    return np.sum(1 / (1 + np.exp(-x)))


def _sigmoid_grad(x):
    s = np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))
    return s * (1 - s)


case(naive_sigmoid_overflow, wrt="x", twin=None, ref_grad=_sigmoid_grad,
     args=lambda r: (np.array([-800.0, -20.0, 0.0, 20.0]),),
     note="exp(800) = inf: value 0 is right; the derivative s(1 - s) is 0 there, not inf/inf")


def tiny_values_log(x):
    return np.sum(np.log(x)) + np.sum(np.sqrt(x))


case(tiny_values_log, wrt="x", fd=False, args=lambda r: (np.array([1e-300, 1e-10, 1.0]),),
     note="FD step 1e-6 is larger than x; JAX reference only")


def large_magnitude_mse(W, X, y):
    return np.mean((X @ W - y) ** 2)


case(large_magnitude_mse, wrt="W", args=lambda r: (1e6 * _n(r, 3), 1e3 * _n(r, 5, 3), 1e9 * _n(r, 5)))


def huber_at_delta(pred, target, delta=1.0):
    r = pred - target
    a = np.abs(r)
    return np.sum(np.where(a <= delta, 0.5 * r ** 2, delta * (a - 0.5 * delta)))


case(huber_at_delta, wrt="pred", args=lambda r: (np.array([1.5, 0.75, 3.0]), np.array([0.5, -0.25, 0.0])),
     note="|r| == delta exactly at entries 0 and 1: Huber is C1 there, slope delta * sign(r)")


def where_strict_at_zero(x):
    return np.sum(np.where(x > 0, x, 0.0) * np.array([1.0, 2.0, 3.0]))


case(where_strict_at_zero, wrt="x", fd=False, args=lambda r: (np.array([0.0, 1.0, -1.0]),),
     note="x == 0 selects the constant branch: its derivative 0 (FD would average the two sides)")


def expm1_log1p_near_zero(x):
    return np.sum(np.expm1(x) + np.log1p(x))


case(expm1_log1p_near_zero, wrt="x", args=lambda r: (np.array([0.0, 1e-10, -1e-10, 1e-300]),))


def arctan2_on_axis(y, x):
    return np.sum(np.arctan2(y, x))


case(arctan2_on_axis, tags=("real_numpy",), wrt=("y", "x"), args=lambda r: (np.array([0.0, 1.0, 0.0]), np.array([1.0, 0.0, 2.0])),
     note="points on the axes (not the origin, not the branch cut): smooth there")


def var_of_constant(x):
    return np.var(x) + np.mean(x)


case(var_of_constant, tags=("real_numpy",), wrt="x", args=lambda r: (np.full(4, 2.5),),
     note="all entries equal: var is smooth with gradient 0 there (std would not be)")


def cross_entropy_exact_onehot(p, Y):
    return -np.sum(Y * np.log(np.clip(p, 1e-12, 1.0)))


case(cross_entropy_exact_onehot, wrt="p", args=lambda r: (np.array([[0.7, 0.2, 0.1], [0.05, 0.9, 0.05]]),
                                                         np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])))


def integer_power_at_negative(x):
    return np.sum(x ** 4 - 2 * x ** 3) + np.sum(np.square(x) * np.sign(x))


case(integer_power_at_negative, wrt="x", args=lambda r: (np.array([-1.5, -0.3, 0.7]),))


def max_axis_ties(X):
    return np.sum(np.max(X, axis=0) * np.array([1.0, 2.0, 3.0]))


case(max_axis_ties, wrt="X", fd=False,
     args=lambda r: (np.array([[1.0, 5.0, 2.0], [1.0, 5.0, 7.0], [0.0, 5.0, -1.0]]),),
     note="kink: ties within columns 0 (two) and 1 (three); documented equal split (1/2, 1/3 each; JAX agrees). "
          "FD is skipped: one-sided it gives 1/2 for the three-way tie")


def logaddexp_equal_args(a, b):
    return np.sum(np.logaddexp(a, b))


case(logaddexp_equal_args, wrt=("a", "b"), args=lambda r: (np.array([0.0, 2.0, -3.0]), np.array([0.0, 2.0, 1.0])),
     note="a == b is not a kink for logaddexp: 0.5 each")


def where_same_both_branches(x):
    return np.sum(np.where(x > 0, x, x) * np.array([1.0, 2.0, 3.0]))


case(where_same_both_branches, wrt="x", args=lambda r: (np.array([0.0, -1.0, 2.0]),))


def sqrt_of_square(x):
    return np.sum(np.sqrt(x ** 2))


case(sqrt_of_square, wrt="x", args=lambda r: (np.array([-2.0, 0.5, 3.0]),))


def tanh_saturated(x):
    return np.sum(np.tanh(x) * np.arange(1.0, 5.0))


case(tanh_saturated, wrt="x", args=lambda r: (np.array([-400.0, -20.0, 20.0, 400.0]),))


def softmax_large_logits(z):
    e = np.exp(z - np.max(z))
    p = e / np.sum(e)
    return np.sum(p * np.arange(len(z)))


case(softmax_large_logits, wrt="z", args=lambda r: (np.array([1000.0, 999.0, 1001.5, -1000.0]),))


def symmetrize_by_maximum(X):
    return np.sum(np.maximum(X, X.T) * np.arange(9).reshape(3, 3))


case(symmetrize_by_maximum, wrt="X", args=lambda r: (_n(r, 3, 3),),
     note="the diagonal compares X_ii with itself: max(x, x) = x has derivative 1 whatever the tie rule")


def self_difference_abs(x):
    return np.sum(np.abs(x - x) + np.minimum(x, x) * 2.0)


case(self_difference_abs, wrt="x", args=lambda r: (_n(r, 3),),
     note="|x - x| is the constant 0 and minimum(x, x) is x: derivatives 0 and 2, whatever the kink rules")
