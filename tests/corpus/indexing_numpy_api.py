"""Indexing (integer arrays, boolean masks, slices) and the wider NumPy API."""
import numpy as np

from . import case


def _n(r, *shape):
    return r.normal(size=shape)


def xent_arange_index(logits, y):
    n = logits.shape[0]
    m = logits.max(axis=1, keepdims=True)
    logp = logits - m - np.log(np.sum(np.exp(logits - m), axis=1, keepdims=True))
    return -np.mean(logp[np.arange(n), y])


case(xent_arange_index, wrt="logits", tags=("real_numpy",), args=lambda r: (_n(r, 6, 4), r.integers(0, 4, 6)))


def masked_mse(pred, target, mask):
    return np.mean((pred[mask] - target[mask]) ** 2)


case(masked_mse, wrt="pred", tags=("real_numpy",),
     args=lambda r: (_n(r, 10), _n(r, 10), np.array([1, 0, 1, 1, 0, 1, 0, 0, 1, 1], dtype=bool)))


def embedding_lookup(E, idx, target):
    vecs = E[idx]
    return np.sum((vecs.mean(axis=0) - target) ** 2)


case(embedding_lookup, wrt="E", tags=("real_numpy",),
     args=lambda r: (_n(r, 6, 3), np.array([0, 2, 2, 5]), _n(r, 3)))


def stack_concat_hstack(w1, w2):
    v = np.concatenate([w1, w2])
    M = np.stack([w1, w2], axis=0)
    H = np.hstack([w1, 2 * w2])
    return np.sum(v ** 2) + np.sum(M[0] * M[1]) + np.sum(np.sin(H))


case(stack_concat_hstack, wrt=("w1", "w2"), tags=("real_numpy",), args=lambda r: (_n(r, 3), _n(r, 3)))


def einsum_bilinear(A, x, y):
    return np.einsum("i,ij,j->", x, A, y) ** 2


case(einsum_bilinear, wrt=("A", "x"), tags=("real_numpy",), args=lambda r: (_n(r, 3, 4), _n(r, 3), _n(r, 4)))


def einsum_batched_attention(Q, K):
    s = np.einsum("bqd,bkd->bqk", Q, K)
    return np.sum(np.tanh(s))


case(einsum_batched_attention, wrt=("Q", "K"), tags=("real_numpy",),
     args=lambda r: (_n(r, 2, 3, 4), _n(r, 2, 5, 4)))


def var_std_prod(x):
    return np.var(x) + np.std(x, ddof=1) + np.prod(x)


case(var_std_prod, wrt="x", tags=("real_numpy",), args=lambda r: (1 + 0.3 * _n(r, 5),))


def cumsum_loss(x):
    return np.sum(np.cumsum(x) ** 2)


case(cumsum_loss, wrt="x", tags=("real_numpy",), args=lambda r: (_n(r, 6),))


def sort_topk_loss(x, k=3):
    s = np.sort(x)
    return np.sum(s[-k:] ** 2) - np.sum(s[:k])


case(sort_topk_loss, wrt="x", tags=("real_numpy",), args=lambda r: (_n(r, 7),))


def polar_features(x, y):
    theta = np.arctan2(y, x)
    r = np.hypot(x, y)
    return np.sum(theta * r) + np.sum(np.log2(r) + np.log10(1 + r))


case(polar_features, wrt=("x", "y"), tags=("real_numpy",), args=lambda r: (_n(r, 4), _n(r, 4)))


def reshape_fortran(w):
    M = w.reshape(3, 4, order="F")
    return np.sum(M[0] * np.arange(4)) + np.sum(M[:, 1] ** 2)


case(reshape_fortran, wrt="w", args=lambda r: (_n(r, 12),))


def flatten_fortran(W):
    v = W.flatten("F")
    return np.sum(v[:3] * np.array([1.0, 2.0, 3.0])) + np.sum(v ** 2)


case(flatten_fortran, wrt="W", args=lambda r: (_n(r, 3, 2),))


def total_variation(x):
    return np.sum(np.abs(np.diff(x))) + np.sum(np.diff(x, n=2) ** 2)


case(total_variation, wrt="x", args=lambda r: (_n(r, 7),))


def mean_axis_tuple(x):
    m = x.mean(axis=(0, 2))
    return np.sum(m ** 2)


case(mean_axis_tuple, wrt="x", args=lambda r: (_n(r, 2, 3, 4),))


def list_index_rows(X):
    sub = X[[0, 2, 3]]
    return np.sum(sub @ sub.T)


def jax_list_index_rows(X):
    from ._jax import jnp
    sub = X[jnp.array([0, 2, 3])]
    return jnp.sum(sub @ sub.T)


case(list_index_rows, wrt="X", tags=("real_numpy",), twin=jax_list_index_rows, args=lambda r: (_n(r, 4, 3),))


def strided_slices(x):
    return np.sum(x[::-1] * x) + np.sum(x[1::2] ** 3) - np.sum(x[-3:])


case(strided_slices, wrt="x", args=lambda r: (_n(r, 8),))


def take_loss(x, idx):
    return np.sum(np.take(x, idx) ** 2)


case(take_loss, wrt="x", tags=("real_numpy",), args=lambda r: (_n(r, 5), np.array([4, 0, 0, 3])))


def triu_tril(A):
    return np.sum(np.triu(A) ** 2) + np.sum(np.tril(A, k=-1))


case(triu_tril, wrt="A", args=lambda r: (_n(r, 4, 4),))


def trace_loss(A, B):
    return np.trace(A @ B) + np.trace(A) ** 2


case(trace_loss, wrt=("A", "B"), args=lambda r: (_n(r, 3, 3), _n(r, 3, 3)))


def roll_smoothness(x):
    return np.sum((x - np.roll(x, 1)) ** 2)


case(roll_smoothness, wrt="x", args=lambda r: (_n(r, 6),))


def pad_conv_edges(x, w):
    xp = np.pad(x, 1)
    out = w[0] * xp[:-2] + w[1] * xp[1:-1] + w[2] * xp[2:]
    return np.sum(out ** 2)


case(pad_conv_edges, wrt=("x", "w"), args=lambda r: (_n(r, 6), _n(r, 3)))


def tile_repeat(w):
    return np.sum(np.tile(w, 3) * np.arange(3 * len(w))) + np.sum(np.repeat(w, 2) ** 2)


case(tile_repeat, wrt="w", args=lambda r: (_n(r, 3),))


def gather_argmax(x, W):
    z = W @ x
    i = np.argmax(z)
    return z[i] + np.sum(z ** 2)


case(gather_argmax, wrt=("x", "W"), tags=("real_numpy",), args=lambda r: (_n(r, 3), _n(r, 4, 3)))


def mask_combination(x):
    m = (x > -0.5) & (x < 1.0)
    return np.sum(x[m] ** 2) + np.sum(np.where(m, 0.0, np.exp(x)))


case(mask_combination, wrt="x", tags=("real_numpy",), args=lambda r: (np.array([-1.3, -0.2, 0.4, 0.9, 1.7, -0.6, 0.1]),))


def pairwise_sq_dists(X):
    d = X[:, None, :] - X[None, :, :]
    D = np.sum(d ** 2, axis=-1)
    return np.sum(np.exp(-D))


case(pairwise_sq_dists, wrt="X", args=lambda r: (_n(r, 4, 2),))


def conv1d_slicing_stack(x, w, b):
    k = len(w)
    out = np.stack([np.sum(x[i:i + k] * w) for i in range(len(x) - k + 1)]) + b
    return np.mean(np.tanh(out) ** 2)


case(conv1d_slicing_stack, wrt=("x", "w", "b"), tags=("real_numpy",), args=lambda r: (_n(r, 8), _n(r, 3), 0.1))


def conv1d_loop_channels(x, W):
    C_out, C_in, K = W.shape
    T = x.shape[1] - K + 1
    out = np.zeros((C_out, T))
    cols = []
    for t in range(T):
        cols.append(np.einsum("oik,ik->o", W, x[:, t:t + K]))
    out = np.stack(cols, axis=1)
    return np.sum(np.maximum(out, 0) ** 2)


case(conv1d_loop_channels, wrt="W", tags=("real_numpy",), args=lambda r: (_n(r, 2, 7), _n(r, 3, 2, 3)))


def median_abs_dev(x):
    med = np.median(x)
    return np.mean(np.abs(x - med))


case(median_abs_dev, wrt="x", args=lambda r: (_n(r, 7),))


def scatter_add_bincount(w, idx):
    out = np.zeros(4)
    np.add.at(out, idx, w)
    return np.sum(out ** 2)


def _jax_scatter_add(w, idx):
    from ._jax import jnp
    return jnp.sum(jnp.zeros(4).at[idx].add(w) ** 2)


case(scatter_add_bincount, wrt="w", tags=("real_numpy",), twin=_jax_scatter_add,
     args=lambda r: (_n(r, 6), np.array([0, 1, 1, 3, 0, 1])))


def ellipsis_newaxis(x, w):
    y = x[..., np.newaxis] * w
    return np.sum(y[..., -1] ** 2) + np.sum(y.max(axis=-1, keepdims=True))


case(ellipsis_newaxis, wrt=("x", "w"), args=lambda r: (_n(r, 2, 3), _n(r, 4)))


def softmax_axis0_swapaxes(z):
    zt = np.swapaxes(z, 0, 1)
    e = np.exp(zt - zt.max(axis=0))
    p = e / e.sum(axis=0)
    return np.sum(p * np.arange(p.shape[0])[:, None])


case(softmax_axis0_swapaxes, wrt="z", args=lambda r: (_n(r, 3, 4),))


def clip_and_minimum(x, lo=-0.5, hi=0.8):
    return np.sum(np.clip(x, lo, hi) ** 2) + np.sum(np.minimum(x, 0.3) * x)


case(clip_and_minimum, wrt="x", args=lambda r: (_n(r, 8),))


def logsumexp_two_axes(X):
    m = np.amax(X)
    return m + np.log(np.sum(np.exp(X - m)))


case(logsumexp_two_axes, wrt="X", args=lambda r: (_n(r, 3, 3),))


def transpose_perm_3d(x):
    y = np.transpose(x, (1, 2, 0))
    return np.sum(y * np.arange(y.size).reshape(y.shape)) + np.sum(y[0] ** 2)


case(transpose_perm_3d, wrt="x", args=lambda r: (_n(r, 2, 3, 4),),
     note="(1, 2, 0) is not its own inverse: the adjoint needs the inverse permutation")


def transpose_method_varargs(x):
    y = x.transpose(2, 0, 1)
    return np.sum(y[1] * np.arange(6).reshape(2, 3))


case(transpose_method_varargs, wrt="x", args=lambda r: (_n(r, 2, 3, 4),))


def batched_matmul_broadcast(A, B):
    return np.sum(np.tanh(A @ B))


case(batched_matmul_broadcast, wrt=("A", "B"), args=lambda r: (_n(r, 1, 3, 4), _n(r, 2, 4, 5)),
     note="batch dimension 1 broadcast against 2: A's adjoint sums over it")


def matmul_3d_by_vector(T, v):
    return np.sum((T @ v) ** 2) + np.sum(np.dot(T, v))


case(matmul_3d_by_vector, wrt=("T", "v"), args=lambda r: (_n(r, 2, 3, 4), _n(r, 4)))


def outer_flattens_matrices(A, b):
    return np.sum(np.outer(A, b) * np.arange(12).reshape(4, 3))


case(outer_flattens_matrices, wrt=("A", "b"), args=lambda r: (_n(r, 2, 2), _n(r, 3)),
     note="np.outer flattens its inputs: (2, 2) and (3,) give (4, 3)")


def clip_one_sided(x):
    return np.sum(np.clip(x, 0, None) ** 2) + np.sum(x.clip(min=0.1))


case(clip_one_sided, wrt="x", args=lambda r: (np.array([-1.2, 0.05, 0.4, 2.0]),))


def ravel_and_reshape_fortran(x):
    v = x.ravel(order="F")
    M = np.reshape(x, (2, 6), order="F")
    return np.sum(v[:4] * np.array([1.0, 2.0, 3.0, 4.0])) + np.sum(M[0] ** 2)


case(ravel_and_reshape_fortran, wrt="x", args=lambda r: (_n(r, 3, 4),))


def broadcast_to_weights(w, X):
    Wb = np.broadcast_to(w, X.shape)
    return np.sum(Wb * X) + np.sum(Wb ** 2)


case(broadcast_to_weights, wrt="w", args=lambda r: (_n(r, 3), _n(r, 4, 3)))


def expand_dims_tuple(w, X):
    e = np.expand_dims(w, axis=(0, 2))
    return np.sum(e * X)


case(expand_dims_tuple, wrt="w", args=lambda r: (_n(r, 3), _n(r, 2, 3, 4)))


def sum_axis_tuple_keepdims(x):
    s = x.sum(axis=(0, 2), keepdims=True)
    return np.sum(s * x)


case(sum_axis_tuple_keepdims, wrt="x", args=lambda r: (_n(r, 2, 3, 4),))


def negative_step_slices(x):
    return np.sum(x[::-2] * np.arange(4)) + np.sum(x[-1:0:-1] ** 2) + np.sum(x[6:1:-2])


case(negative_step_slices, wrt="x", args=lambda r: (_n(r, 8),))


def bool_mask_multiply_relu(W, x):
    z = W @ x
    return np.sum(z * (z > 0)) + np.sum((z > 0.5).astype(float) * z ** 2)


case(bool_mask_multiply_relu, wrt="W", args=lambda r: (_n(r, 5, 3), _n(r, 3)))


def astype_int_stops_gradient(w, x):
    return np.sum(w * x.astype(int)) + np.sum(w * x)


case(astype_int_stops_gradient, wrt=("w", "x"), args=lambda r: (_n(r, 4), np.array([1.3, -2.7, 0.4, 3.6])),
     note="astype(int) truncates: piecewise constant, gradient 0 through it")


def where_broadcast_branch(X, w):
    return np.sum(np.where(X > 0, X, 0.1 * w) ** 2)


case(where_broadcast_branch, wrt=("X", "w"), args=lambda r: (_n(r, 4, 3), _n(r, 3)))


def minimum_broadcast_both(X, b):
    return np.sum(np.minimum(X, b) * X)


case(minimum_broadcast_both, wrt=("X", "b"), args=lambda r: (_n(r, 4, 3), _n(r, 3)))


def clip_array_bounds(x, lo, hi):
    return np.sum(np.clip(x, lo, hi) * np.arange(1.0, 6.0))


case(clip_array_bounds, wrt=("x", "lo", "hi"),
     args=lambda r: (np.array([-2.0, -0.3, 0.2, 0.9, 3.0]), np.full(5, -1.0) + 0.1 * np.arange(5), np.full(5, 1.0)),
     note="where x is clipped, the gradient goes to the bound that clipped it")


def logaddexp_broadcast(a, b):
    return np.sum(np.logaddexp(a, b) * np.arange(6).reshape(2, 3))


case(logaddexp_broadcast, wrt=("a", "b"), args=lambda r: (_n(r, 2, 3), _n(r, 3)))


def power_wrt_exponent(x, p):
    return np.sum(x ** p) + np.sum(2.0 ** x) + np.sum(np.power(x, 1.5))


case(power_wrt_exponent, wrt=("x", "p"), args=lambda r: (r.uniform(0.5, 2.0, size=4), 1.7))


def positional_axis_args(x):
    return np.sum(x.mean(0) ** 2) + np.sum(np.sum(x, 1) ** 3) + np.sum(np.amax(x, axis=1) - np.amin(x, axis=1))


case(positional_axis_args, wrt="x", args=lambda r: (_n(r, 3, 4),))


def negative_and_ellipsis_index(X):
    return np.sum(X[..., -1] ** 2) + np.sum(X[-1]) + np.sum(X[:, 0] * X[:, 1])


case(negative_and_ellipsis_index, wrt="X", args=lambda r: (_n(r, 3, 4),))


def unpack_rows(h):
    mu, logvar = h
    return np.sum(mu ** 2 + np.exp(logvar) - logvar)


case(unpack_rows, wrt="h", args=lambda r: (_n(r, 2, 3),))


def sum_with_where_param(x, m):
    return np.sum(x ** 2, where=m) + np.mean(x, where=m)


case(sum_with_where_param, wrt="x", args=lambda r: (_n(r, 5), np.array([True, False, True, True, False])),
     note="where= on reductions: the masked-out entries are skipped")


def sum_with_initial(x):
    return np.sum(x, initial=1.5) * np.max(x, initial=10.0)


case(sum_with_initial, wrt="x", args=lambda r: (_n(r, 4),),
     note="initial= joins the reduction: max(x, initial=10) is 10 here, so x gets no gradient from it")


def exp_with_out_buffer(x):
    buf = np.empty_like(x)
    np.exp(x, out=buf)
    return np.sum(buf * x)


def _jax_exp_with_out_buffer(x):
    from ._jax import jnp
    return jnp.sum(jnp.exp(x) * x)


case(exp_with_out_buffer, wrt="x", twin=_jax_exp_with_out_buffer, args=lambda r: (_n(r, 4),))


def clip_keyword_bounds(x):
    return np.sum(np.clip(x, a_min=-0.5, a_max=0.5) * np.arange(5)) + np.sum(x.clip(-1, 1) ** 2)


def _jax_clip_keyword_bounds(x):
    from ._jax import jnp
    return jnp.sum(jnp.clip(x, -0.5, 0.5) * jnp.arange(5)) + jnp.sum(jnp.clip(x, -1, 1) ** 2)


case(clip_keyword_bounds, wrt="x", twin=_jax_clip_keyword_bounds, args=lambda r: (np.array([-2.0, -0.3, 0.2, 0.8, 1.4]),))


def float_mask_in_where(x, m):
    return np.sum(np.where(m, x, -x) ** 3)


case(float_mask_in_where, wrt="x", args=lambda r: (_n(r, 4), np.array([0.0, 2.0, -1.0, 0.0])),
     note="np.where treats a float condition as nonzero-is-True")


def squeeze_and_reshape_variants(x):
    a = np.squeeze(x)
    b = x.reshape(-1, 1)
    c = np.reshape(x, -1)
    return np.sum(a ** 2) + np.sum(b * np.arange(b.shape[0])[:, None]) + np.sum(c[::2])


case(squeeze_and_reshape_variants, wrt="x", args=lambda r: (_n(r, 1, 4, 1),))


def keepdims_full_and_negative_axis(X):
    c = X - X.mean(keepdims=True)
    d = X / np.sum(X ** 2, axis=-1, keepdims=True)
    return np.sum(c ** 3) + np.sum(d) + np.sum(X.max(axis=-1)) + np.sum(X.min(0))


case(keepdims_full_and_negative_axis, wrt="X", args=lambda r: (_n(r, 3, 4),))


def column_normalize_no_keepdims(X):
    return np.sum((X / np.sum(X ** 2, axis=0)) * np.arange(12).reshape(4, 3))


case(column_normalize_no_keepdims, wrt="X", args=lambda r: (_n(r, 4, 3),))


def outer_sum_broadcast(w):
    D = w[:, None] - w[None, :]
    return np.sum(np.exp(-D ** 2)) + np.sum(w[np.newaxis, :] * w[:, np.newaxis] * np.arange(9).reshape(3, 3))


case(outer_sum_broadcast, wrt="w", args=lambda r: (_n(r, 3),))


def reduce_axis_out_of_range(x):
    return np.sum(np.sum(x, axis=2))


case(reduce_axis_out_of_range, wrt="x", raises=True, args=lambda r: (_n(r, 3, 4),),
     note="NumPy raises AxisError: axis 2 of a 2-D array")


def index_out_of_bounds(w):
    return w[5] ** 2


case(index_out_of_bounds, wrt="w", raises=True, args=lambda r: (_n(r, 3),),
     note="NumPy raises IndexError")


def matmul_shape_mismatch(W, x):
    return np.sum(W @ x)


case(matmul_shape_mismatch, wrt="W", raises=True, args=lambda r: (_n(r, 3, 4), _n(r, 3)),
     note="NumPy raises: (3, 4) @ (3,)")


def bad_reshape(w):
    return np.sum(w.reshape(4, -1) ** 2)


case(bad_reshape, wrt="w", raises=True, args=lambda r: (_n(r, 6),),
     note="NumPy raises: 6 elements cannot be reshaped to (4, -1)")
