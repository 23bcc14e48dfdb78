"""A loop's gradient in the memory of hand-written backpropagation through time.

The tape is one buffer of T + 1 rows holding the initial carry too (the carry at the
start of each iteration and the stack of new carries are both views of it, no shifted
copy), and an invariant's Σ outer products is summed a block of iterations at a time
(ad/reverse.py `_by_blocks`), so the per-iteration factors are kept for one block, not
for all T. Oracles: hand-written BPTT (values, and tracemalloc peaks), finite
differences of the gradient for Hessian-vector products.
"""
import numpy as np
import pytest

import gradc
from fixtures.numeric import peak_bytes


def rnn(W, U, X, h0):
    h = h0
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + U @ X[t])
    return np.sum(h * h)


def bptt(W, U, X, h0):
    T = X.shape[0]
    hs = np.empty((T + 1, h0.shape[0]), dtype=h0.dtype)
    hs[0] = h = h0
    for t in range(T):
        h = np.tanh(W @ h + U @ X[t])
        hs[t + 1] = h
    dh, dW, dU = 2 * h, np.zeros_like(W), np.zeros_like(U)
    for t in range(T - 1, -1, -1):
        da = dh * (1 - hs[t + 1] ** 2)
        dW += np.outer(da, hs[t])
        dU += np.outer(da, X[t])
        dh = da @ W
    return np.sum(h * h), (dW, dU, dh)


def args_for(T, H=6, D=3, seed=0, dtype=np.float64):
    r = np.random.default_rng(seed)
    return tuple(a.astype(dtype) for a in (r.normal(size=(H, H)) / np.sqrt(H), r.normal(size=(H, D)),
                                          r.normal(size=(T, D)), r.normal(size=H)))


@pytest.mark.parametrize("T", [2, 100, 129, 131, 200, 203, 256, 1000])
def test_gradient_is_hand_bptts(T):
    args = args_for(T)
    c = gradc.compile(rnn, ("W", "U", "h0"), args=args)
    value, grads = c.value_and_grad(*args)
    want_value, want = bptt(*args)
    assert value == pytest.approx(want_value, rel=1e-13)
    for g, w in zip(grads, want):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-13)
    blocked = "for block in range(" in c.source
    assert blocked == (T > 128)
    assert "np.concatenate" not in c.source and "tape_rows[t + 1] = " in c.source


def test_float32_stays_float32():
    args = args_for(300, dtype=np.float32)
    value, grads = gradc.compile(rnn, ("W", "U", "h0"), args=args).value_and_grad(*args)
    _, want = bptt(*args)
    assert all(g.dtype == np.float32 for g in grads)
    for g, w in zip(grads, want):
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-5)


@pytest.mark.parametrize("mode", ["forward-over-reverse", "reverse-over-reverse"])
def test_hessian_vector_products_through_the_blocks(mode):
    args = args_for(203, seed=1)
    c = gradc.compile(rnn, ("W", "U", "h0"), args=args)
    r = np.random.default_rng(2)
    v = tuple(r.normal(size=a.shape) for a in (args[0], args[1], args[3]))
    hv = c.hvp(*args, v, mode=mode)
    eps = 1e-6
    W, U, X, h0 = args
    plus = c.grad(W + eps * v[0], U + eps * v[1], X, h0 + eps * v[2])
    minus = c.grad(W - eps * v[0], U - eps * v[1], X, h0 - eps * v[2])
    for got, p, m in zip(hv, plus, minus):
        np.testing.assert_allclose(got, (p - m) / (2 * eps), rtol=1e-5, atol=1e-7)


def test_peak_memory_is_hand_bptts():
    """T = 1000, H = 64: the hand version keeps its (T + 1, H) states; so does gradc, plus
    one block of the per-iteration factors."""
    args = args_for(1000, H=64, D=32)
    c = gradc.compile(rnn, ("W", "U", "h0"), args=args)
    ours, hand = peak_bytes(lambda: c.value_and_grad(*args)), peak_bytes(lambda: bptt(*args))
    assert ours <= 1.02 * hand, (ours, hand)  # (measured: 658 KB against 664 KB)


def seq_loss(W, U, X, Y, h0):
    h = h0
    loss = 0.0
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + U @ X[t])
        loss = loss + np.sum((h - Y[t]) ** 2)
    return loss


@pytest.mark.parametrize("mode", ["forward-over-reverse", "reverse-over-reverse"])
def test_hessian_through_the_blocks(mode):
    """The Hessian is the Hessian-vector-product program batched over all directions: the
    blocks' nested loops batched (a carry the inner loop leaves unbatched came out as a value
    the batched body did not define)."""
    r = np.random.default_rng(4)
    T, H = 129, 3
    W, U = 0.4 * r.normal(size=(H, H)), 0.4 * r.normal(size=(H, H))
    X, Y, h0 = r.normal(size=(T, H)), r.normal(size=(T, H)), r.normal(size=H)
    c = gradc.compile(seq_loss, "W", args=(W, U, X, Y, h0))
    assert "for block in range(" in c.source
    hess = c.hessian(W, U, X, Y, h0, mode=mode)
    eps = 1e-6
    for i in range(H):
        for j in range(H):
            e = np.zeros_like(W)
            e[i, j] = eps
            column = (c.grad(W + e, U, X, Y, h0) - c.grad(W - e, U, X, Y, h0)) / (2 * eps)
            np.testing.assert_allclose(hess[:, :, i, j], column, rtol=1e-5, atol=1e-6)
