"""In-place updates and aliasing: NumPy's semantics (views, shared names, mutated arguments).

The JAX twins are written functionally and compute what NumPy computes, aliasing included.
"""
import numpy as np

from . import case
from ._jax import jnp


def _n(r, *shape):
    return r.normal(size=shape)


def iadd_bias_fresh(W, b, X):
    z = X @ W
    z += b
    z *= 2
    return np.sum(np.tanh(z))


case(iadd_bias_fresh, wrt=("W", "b"), args=lambda r: (_n(r, 3, 2), _n(r, 2), _n(r, 4, 3)))


def item_assign_output(w):
    out = np.zeros(3)
    out[0] = w[0] ** 2
    out[1:] = 3 * w[1:]
    return np.sum(out * np.array([1.0, 2.0, 3.0]))


def jax_item_assign_output(w):
    out = jnp.zeros(3).at[0].set(w[0] ** 2).at[1:].set(3 * w[1:])
    return jnp.sum(out * jnp.array([1.0, 2.0, 3.0]))


case(item_assign_output, wrt="w", twin=jax_item_assign_output, args=lambda r: (_n(r, 3),))


def alias_argument_iadd(x):
    y = x
    y += 1.0
    return np.sum(y * x)


def jax_alias_argument_iadd(x):
    x = x + 1.0
    return jnp.sum(x * x)


case(alias_argument_iadd, wrt="x", twin=jax_alias_argument_iadd, args=lambda r: (_n(r, 3),),
     note="y is x: the update is visible through both names (and mutates the caller's array)")


def alias_via_tuple(w):
    z = w * 2.0
    a, b = z, z
    a += 1.0
    return np.sum(b ** 2)


def jax_alias_via_tuple(w):
    return jnp.sum((w * 2.0 + 1.0) ** 2)


case(alias_via_tuple, wrt="w", twin=jax_alias_via_tuple, args=lambda r: (_n(r, 3),))


def copy_breaks_alias(x):
    y = x.copy()
    y += 1.0
    return np.sum(y * x)


case(copy_breaks_alias, wrt="x", args=lambda r: (_n(r, 4),))


def view_sees_update(w):
    z = w * 2.0
    row = z[0]
    z *= 3.0
    return np.sum(row ** 2) + np.sum(z)


def jax_view_sees_update(w):
    z = w * 6.0
    return jnp.sum(z[0] ** 2) + jnp.sum(z)


case(view_sees_update, wrt="w", twin=jax_view_sees_update, args=lambda r: (_n(r, 2, 3),))


def reshape_view_write(w):
    z = np.exp(w)
    flat = z.reshape(-1)
    flat[0] = 0.0
    return np.sum(z * w)


def jax_reshape_view_write(w):
    z = jnp.exp(w).reshape(-1).at[0].set(0.0).reshape(w.shape)
    return jnp.sum(z * w)


case(reshape_view_write, wrt="w", twin=jax_reshape_view_write, args=lambda r: (_n(r, 2, 2),))


def asarray_aliases_array_copies(w):
    z = w + 0.0
    a = np.asarray(z)
    c = np.array(z)
    a *= 2.0
    return np.sum(z * c)


def jax_asarray_aliases_array_copies(w):
    return jnp.sum((w * 2.0) * w)


case(asarray_aliases_array_copies, wrt="w", twin=jax_asarray_aliases_array_copies, args=lambda r: (_n(r, 3),))


def fill_output_in_loop(w, xs):
    T = xs.shape[0]
    out = np.empty(T)
    h = 0.0
    for t in range(T):
        h = np.tanh(w @ xs[t] + 0.5 * h)
        out[t] = h
    return np.sum(out ** 2)


def jax_fill_output_in_loop(w, xs):
    h = 0.0
    outs = []
    for t in range(xs.shape[0]):
        h = jnp.tanh(w @ xs[t] + 0.5 * h)
        outs.append(h)
    return jnp.sum(jnp.stack(outs) ** 2)


case(fill_output_in_loop, wrt="w", twin=jax_fill_output_in_loop, args=lambda r: (_n(r, 3), _n(r, 4, 3)))


def slice_accumulate(W, v):
    acc = W @ W.T
    acc[:, 0] += v
    acc[1] -= 0.5 * v
    return np.sum(acc ** 2)


def jax_slice_accumulate(W, v):
    acc = W @ W.T
    acc = acc.at[:, 0].add(v)
    acc = acc.at[1].add(-0.5 * v)
    return jnp.sum(acc ** 2)


case(slice_accumulate, wrt=("W", "v"), twin=jax_slice_accumulate, args=lambda r: (_n(r, 3, 2), _n(r, 3)))


def relu_by_mask_assign(W, x):
    h = W @ x
    h[h < 0] = 0
    return np.sum(h ** 2)


def jax_relu_by_mask_assign(W, x):
    h = W @ x
    return jnp.sum(jnp.where(h < 0, 0.0, h) ** 2)


case(relu_by_mask_assign, tags=("real_numpy",), wrt="W", twin=jax_relu_by_mask_assign, args=lambda r: (_n(r, 5, 3), _n(r, 3)))


def maximum_out_param(W, x):
    h = W @ x
    np.maximum(h, 0, out=h)
    return np.sum(h ** 2)


def jax_maximum_out_param(W, x):
    return jnp.sum(jnp.maximum(W @ x, 0) ** 2)


case(maximum_out_param, wrt="W", twin=jax_maximum_out_param, args=lambda r: (_n(r, 4, 3), _n(r, 3)))


def sgd_step_mutates_argument(w, X, y, lr=0.1):
    g = 2 * X.T @ (X @ w - y) / len(y)
    w -= lr * g
    return np.mean((X @ w - y) ** 2)


def jax_sgd_step_mutates_argument(w, X, y, lr=0.1):
    g = 2 * X.T @ (X @ w - y) / len(y)
    w = w - lr * g
    return jnp.mean((X @ w - y) ** 2)


case(sgd_step_mutates_argument, wrt="w", twin=jax_sgd_step_mutates_argument,
     args=lambda r: (_n(r, 3), _n(r, 6, 3), _n(r, 6)))


def list_item_rebind(ws, x):
    ws = list(ws)
    ws[0] = ws[0] * 2.0
    h = np.tanh(x @ ws[0])
    return np.sum((h @ ws[1]) ** 2)


case(list_item_rebind, wrt="ws", tags=("real_numpy",), args=lambda r: ([_n(r, 3, 4), _n(r, 4, 2)], _n(r, 2, 3)))


def dict_cache_mutation(W, x):
    cache = {}
    cache["h"] = np.tanh(W @ x)
    cache["h2"] = cache["h"] ** 2
    cache["h"] = cache["h"] + 1.0
    return np.sum(cache["h"] * cache["h2"])


case(dict_cache_mutation, wrt="W", args=lambda r: (_n(r, 3, 3), _n(r, 3)))


def rebinding_is_not_inplace(w):
    z = w * 2.0
    a = z
    z = z + 1.0
    return np.sum(a * z)


case(rebinding_is_not_inplace, wrt="w", args=lambda r: (_n(r, 3),))


def ellipsis_set_broadcast(w):
    M = np.outer(w, w)
    M[...] = M + w
    M[0, ...] = 1.0
    return np.sum(M ** 2)


def jax_ellipsis_set_broadcast(w):
    M = jnp.outer(w, w) + w
    M = M.at[0].set(1.0)
    return jnp.sum(M ** 2)


case(ellipsis_set_broadcast, wrt="w", twin=jax_ellipsis_set_broadcast, args=lambda r: (_n(r, 3),))


def swap_rows_fancy(W):
    Z = W * 1.0
    Z[[0, 1]] = Z[[1, 0]]
    return np.sum(Z * np.arange(Z.size).reshape(Z.shape))


def jax_swap_rows_fancy(W):
    Z = W[jnp.array([1, 0, 2])]
    return jnp.sum(Z * jnp.arange(Z.size).reshape(Z.shape))


case(swap_rows_fancy, tags=("real_numpy",), wrt="W", twin=jax_swap_rows_fancy, args=lambda r: (_n(r, 3, 2),))


def fill_diagonal_zero(W):
    G = W @ W.T
    np.fill_diagonal(G, 0.0)
    return np.sum(G ** 2)


def jax_fill_diagonal_zero(W):
    G = W @ W.T
    return jnp.sum((G * (1 - jnp.eye(G.shape[0]))) ** 2)


case(fill_diagonal_zero, wrt="W", twin=jax_fill_diagonal_zero, args=lambda r: (_n(r, 3, 2),))


def prefix_sum_inplace(w):
    x = w.copy()
    for i in range(1, len(x)):
        x[i] += x[i - 1]
    return np.sum(x ** 2)


def jax_prefix_sum_inplace(w):
    return jnp.sum(jnp.cumsum(w) ** 2)


case(prefix_sum_inplace, wrt="w", twin=jax_prefix_sum_inplace, args=lambda r: (_n(r, 5),))


def transpose_view_write(w):
    Z = np.outer(w, np.arange(1.0, 4.0))
    T = Z.T
    Z[0, 1] = 5.0
    return np.sum(T * T) + T[1, 0]


def jax_transpose_view_write(w):
    Z = jnp.outer(w, jnp.arange(1.0, 4.0)).at[0, 1].set(5.0)
    T = Z.T
    return jnp.sum(T * T) + T[1, 0]


case(transpose_view_write, wrt="w", twin=jax_transpose_view_write, args=lambda r: (_n(r, 3),))


def write_through_argument_alias(w):
    out = w
    out[0] = 0.0
    return np.sum(out * w)


def jax_write_through_argument_alias(w):
    w = w.at[0].set(0.0)
    return jnp.sum(w * w)


case(write_through_argument_alias, wrt="w", twin=jax_write_through_argument_alias, args=lambda r: (_n(r, 3),),
     note="out is w: writing out[0] changes w too (and the caller's array)")


def slice_imul(w):
    z = np.exp(w)
    z[1:] *= 0.5
    z[:2] += z[2:]
    return np.sum(z ** 2)


def jax_slice_imul(w):
    z = jnp.exp(w)
    z = z.at[1:].multiply(0.5)
    z = z.at[:2].add(z[2:])
    return jnp.sum(z ** 2)


case(slice_imul, wrt="w", twin=jax_slice_imul, args=lambda r: (_n(r, 4),))


def overlapping_slice_update(w):
    z = w * 1.0
    z[1:] += z[:-1]
    return np.sum(z ** 2)


def jax_overlapping_slice_update(w):
    z = w.at[1:].add(w[:-1])
    return jnp.sum(z ** 2)


case(overlapping_slice_update, wrt="w", twin=jax_overlapping_slice_update, args=lambda r: (_n(r, 4),),
     note="NumPy buffers the right-hand side of z[1:] += z[:-1] (ufunc overlap semantics): it reads the old values")


def augmented_matmul_assign(W, X):
    H = X @ W
    H @= W.T
    return np.sum(H)


case(augmented_matmul_assign, wrt="W", args=lambda r: (_n(r, 3, 3), _n(r, 2, 3)))


def inplace_helper_mutates(w):
    def normalize_(v):
        v /= np.sum(np.abs(v))
        return None
    z = np.exp(w)
    normalize_(z)
    return np.sum(z * np.log(z))


def jax_inplace_helper_mutates(w):
    z = jnp.exp(w)
    z = z / jnp.sum(jnp.abs(z))
    return jnp.sum(z * jnp.log(z))


case(inplace_helper_mutates, wrt="w", twin=jax_inplace_helper_mutates, args=lambda r: (_n(r, 4),))


def diagonal_view_readonly_copy(W):
    G = W @ W.T
    d = np.diag(G).copy()
    G += 1.0
    return np.sum(d) + np.sum(np.diag(G))


def jax_diagonal_view_readonly_copy(W):
    G = W @ W.T
    return jnp.sum(jnp.diag(G)) + jnp.sum(jnp.diag(G + 1.0))


case(diagonal_view_readonly_copy, wrt="W", twin=jax_diagonal_view_readonly_copy, args=lambda r: (_n(r, 3, 2),))


def setitem_then_alias_in_list(w):
    z = w * 1.0
    parts = [z, z * 2]
    z[0] = 10.0
    return np.sum(parts[0] + parts[1])


def jax_setitem_then_alias_in_list(w):
    z2 = w.at[0].set(10.0)
    return jnp.sum(z2 + w * 2)


case(setitem_then_alias_in_list, wrt="w", twin=jax_setitem_then_alias_in_list, args=lambda r: (_n(r, 3),),
     note="parts[0] is z: the later write shows through the list")


def chained_assignment_alias(w):
    a = b = w * 2.0
    a += 1.0
    return np.sum(b ** 2)


def jax_chained_assignment_alias(w):
    return jnp.sum((w * 2.0 + 1.0) ** 2)


case(chained_assignment_alias, wrt="w", twin=jax_chained_assignment_alias, args=lambda r: (_n(r, 3),),
     note="a = b = ...: one array, two names")


def _same(x):
    return x


def alias_through_helper_return(w):
    z = np.exp(w)
    a = _same(z)
    z *= 2.0
    return np.sum(a)


def jax_alias_through_helper_return(w):
    return jnp.sum(2.0 * jnp.exp(w))


case(alias_through_helper_return, wrt="w", twin=jax_alias_through_helper_return, args=lambda r: (_n(r, 3),),
     note="the helper returns its argument itself: a is z")


def alias_in_tuple_container(w):
    z = np.tanh(w)
    pair = (z, z * 2)
    z += 1.0
    return np.sum(pair[0] * pair[1])


def jax_alias_in_tuple_container(w):
    z = jnp.tanh(w)
    return jnp.sum((z + 1.0) * (z * 2))


case(alias_in_tuple_container, wrt="w", twin=jax_alias_in_tuple_container, args=lambda r: (_n(r, 3),))


def ravel_view_sees_update(W):
    z = W * 3.0
    r = z.ravel()
    z += 1.0
    return np.sum(r * np.arange(r.size))


def jax_ravel_view_sees_update(W):
    r = (W * 3.0 + 1.0).ravel()
    return jnp.sum(r * jnp.arange(r.size))


case(ravel_view_sees_update, wrt="W", twin=jax_ravel_view_sees_update, args=lambda r: (_n(r, 2, 3),),
     note="ravel of a contiguous array is a view")


def flatten_copy_unaffected(W):
    z = W * 3.0
    f = z.flatten()
    z += 1.0
    return np.sum(f * z.ravel())


def jax_flatten_copy_unaffected(W):
    return jnp.sum((W * 3.0).ravel() * (W * 3.0 + 1.0).ravel())


case(flatten_copy_unaffected, wrt="W", twin=jax_flatten_copy_unaffected, args=lambda r: (_n(r, 2, 3),),
     note="flatten always copies: f keeps the old values")


def scalar_index_is_copy(w):
    z = w * 2.0
    s = z[0]
    z += 1.0
    return s * np.sum(z)


def jax_scalar_index_is_copy(w):
    return (w[0] * 2.0) * jnp.sum(w * 2.0 + 1.0)


case(scalar_index_is_copy, wrt="w", twin=jax_scalar_index_is_copy, args=lambda r: (_n(r, 3),),
     note="z[0] of a 1-D array is a NumPy scalar (a copy), not a view")


def astype_is_copy(w):
    z = w * 2.0
    c = z.astype(np.float64)
    z += 1.0
    return np.sum(c * z)


def jax_astype_is_copy(w):
    return jnp.sum((w * 2.0) * (w * 2.0 + 1.0))


case(astype_is_copy, wrt="w", twin=jax_astype_is_copy, args=lambda r: (_n(r, 3),))


def slice_view_sees_update(w):
    z = w * 2.0
    head = z[:2]
    z *= 3.0
    return np.sum(head ** 2) + np.sum(z)


def jax_slice_view_sees_update(w):
    z = w * 6.0
    return jnp.sum(z[:2] ** 2) + jnp.sum(z)


case(slice_view_sees_update, wrt="w", twin=jax_slice_view_sees_update, args=lambda r: (_n(r, 4),))


def transpose_view_iadd(w, v, M):
    Z = np.outer(w, v)
    T = Z.T
    Z += 1.0
    return np.sum(T * M)


def jax_transpose_view_iadd(w, v, M):
    return jnp.sum((jnp.outer(w, v) + 1.0).T * M)


case(transpose_view_iadd, wrt=("w", "v"), twin=jax_transpose_view_iadd, args=lambda r: (_n(r, 3), _n(r, 2), _n(r, 2, 3)))


def iadd_broadcast_grows(w, M):
    z = w * 1.0
    z += M
    return np.sum(z)


case(iadd_broadcast_grows, wrt="w", raises=True, args=lambda r: (_n(r, 3), _n(r, 2, 3)),
     note="NumPy raises: an in-place result cannot grow to the broadcast shape (2, 3)")


def int_array_iadd_float(w):
    z = np.arange(3)
    z += w
    return np.sum(z * w)


case(int_array_iadd_float, wrt="w", raises=True, args=lambda r: (_n(r, 3),),
     note="NumPy raises: float64 cannot be cast into the int64 array in place (same_kind rule)")


def asarray_argument_alias(w):
    z = np.asarray(w)
    z += 1.0
    return np.sum(z * w)


def jax_asarray_argument_alias(w):
    return jnp.sum((w + 1.0) ** 2)


case(asarray_argument_alias, wrt="w", twin=jax_asarray_argument_alias, args=lambda r: (_n(r, 3),),
     note="np.asarray(w) is w itself: the update changes w (and the caller's array)")


def accumulate_into_zeros_like(w):
    acc = np.zeros_like(w)
    for i in range(3):
        acc += w ** (i + 1) / (i + 1)
    return np.sum(acc)


case(accumulate_into_zeros_like, wrt="w", args=lambda r: (_n(r, 4),))


def list_element_alias_iadd(w):
    hs = [np.tanh(w)]
    h = hs[-1]
    h += 1.0
    return np.sum(hs[0] * w)


def jax_list_element_alias_iadd(w):
    return jnp.sum((jnp.tanh(w) + 1.0) * w)


case(list_element_alias_iadd, wrt="w", twin=jax_list_element_alias_iadd, args=lambda r: (_n(r, 3),))


def reshape_view_then_imul(w, K):
    z = np.exp(w)
    M = z.reshape(2, 2)
    z *= 2.0
    return np.sum(M * K)


def jax_reshape_view_then_imul(w, K):
    return jnp.sum((2.0 * jnp.exp(w)).reshape(2, 2) * K)


case(reshape_view_then_imul, wrt="w", twin=jax_reshape_view_then_imul, args=lambda r: (_n(r, 4), _n(r, 2, 2)))


def isub_fresh_then_alias_later(w):
    z = w ** 2
    z -= 1.0
    y = z
    return np.sum(y * z)


case(isub_fresh_then_alias_later, wrt="w", args=lambda r: (_n(r, 3),),
     note="the alias is made after the last in-place update: harmless")
