"""gradc.vmap, and hessian / jacfwd / jacrev computed as batched programs: against the looped
versions they replaced (one Hessian-vector product, tangent or cotangent sweep per column),
finite differences, and per-example calls; the generated per-example gradient as a golden file."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import gradc
import rnn_loop
import softmax_cross_entropy as sce
import sqrt_exp_cos
from fixtures import second_order as S
from fixtures.numeric import assert_close, fd_grad
from gradc.nn import log_softmax
from user_primitive import swish

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("GRADC_UPDATE_GOLDEN") == "1"
MODES = ["forward-over-reverse", "reverse-over-reverse"]


# -- functions under test (gradc reads their source) ---------------------------------------------


def mlp_example(params, x, y, lam):
    h = np.tanh(x @ params["W1"] + params["b1"])
    logp = log_softmax(h @ params["W2"], axis=-1)
    return -np.sum(y * logp) + lam * np.sum(params["W2"] ** 2)


def labels_loss(W, x, label):
    logp = log_softmax(W @ x, axis=0)
    return -logp[label]


def column_loss(W, x, label):
    return -np.sum(np.tanh(W[:, label])) * np.sum(x)


def looped_sum(X, w):
    h = w
    for t in range(X.shape[0]):
        h = np.sin(X[t] * h + w)
    return np.sum(h * h)


def identity_ish(x):
    return x


def vector_out(x, A):
    return np.tanh(A @ x)


def swish_loss(x, w):
    return np.sum(swish(x * w))


# -- Hessians ------------------------------------------------------------------------------------


def looped_hessian(c, args, n):
    """The Hessian the old way: one Hessian-vector product per basis direction."""
    x = np.asarray(args[c.wrt[0]])
    cols = [np.asarray(c.hvp(*args, e.reshape(x.shape))) for e in np.eye(n)]
    return np.stack(cols, axis=-1).reshape(x.shape + x.shape)


def mlp_args(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(4, 5)) / 2, rng.normal(size=(5, 3)) / 2, rng.normal(size=(6, 4)),
            np.eye(3)[rng.integers(0, 3, 6)])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fn, wrt, args", [
    (S.quadratic, "x", (np.array([0.3, -1.2, 2.0]),)),
    (S.small_mlp, "W1", mlp_args()),
    (S.small_mlp, "W2", mlp_args(1)),
    (rnn_loop.rnn, "h0", (np.eye(3) / 2, np.ones((3, 2)) / 3, np.linspace(-1, 1, 10).reshape(5, 2),
                          np.array([0.1, -0.4, 0.3]))),
    (looped_sum, "w", (np.linspace(-1, 1, 12).reshape(4, 3), np.array([0.2, -0.1, 0.5]))),
], ids=["quadratic", "mlp-W1", "mlp-W2", "rnn-h0", "loop-w"])
def test_hessian_matches_the_looped_hvps_and_differences(fn, wrt, args, mode):
    h = gradc.hessian(fn, wrt=wrt, mode=mode)
    H = h(*args)
    c = h.compiled
    pos = c.wrt[0]
    x = np.asarray(args[pos])
    np.testing.assert_allclose(H, looped_hessian(c, args, x.size), rtol=1e-12, atol=1e-13)
    grad = gradc.grad(fn, wrt=wrt)
    for k in range(0, x.size, 2):  # column k: central differences of the gradient
        e = np.zeros(x.size)
        e[k] = 1e-6
        plus = list(args)
        minus = list(args)
        plus[pos], minus[pos] = x + e.reshape(x.shape), x - e.reshape(x.shape)
        column = (grad(*plus) - grad(*minus)) / 2e-6
        assert_close(H.reshape(x.size, x.size)[:, k], column.ravel(), rtol=1e-5, atol=1e-7)
    batched = [k for k in c.latest.derived if isinstance(k, tuple) and k[0] == "batched"]
    assert batched, "the Hessian was not computed by a batched program"
    assert not c.latest.derived[batched[0]][3], "no op should run per direction"


def test_hessian_of_a_scalar_float_and_of_tuple_wrt():
    h = gradc.hessian(sqrt_exp_cos.f, wrt="x")
    value = h(0.5)
    assert isinstance(value, float)
    assert value == pytest.approx(h.compiled.hvp(0.5, 1.0), rel=1e-13)
    x, y = np.array([0.2, -0.5, 1.1]), np.array([0.7, 0.3, -0.4])
    blocks = gradc.hessian(S.two_args, wrt=("x", "y"))(x, y)
    hvp = gradc.hvp(S.two_args, wrt=("x", "y"))
    for j, (n, other) in enumerate([(3, 3), (3, 3)]):
        for k in range(n):
            e = [np.zeros(3), np.zeros(3)]
            e[j][k] = 1.0
            col = hvp(x, y, tuple(e))
            for i in range(2):
                np.testing.assert_allclose(blocks[i][j][:, k], col[i], rtol=1e-12, atol=1e-13)


def test_a_large_hessian_goes_a_block_of_columns_at_a_time(monkeypatch):
    args = mlp_args(2)
    full = gradc.hessian(S.small_mlp, wrt="W1")(*args)
    monkeypatch.setenv("GRADC_BATCH_BYTES", "2000")  # a few columns per block
    c = gradc.Compiled(S.small_mlp, "W1")
    blocks = c.hessian(*args)
    np.testing.assert_allclose(blocks, full, rtol=1e-13, atol=1e-14)
    sizes = {k[2] for k in c.latest.derived if isinstance(k, tuple) and k[0] == "batched"}
    assert len(sizes) >= 1 and max(sizes) < 20, sizes  # 20 columns, in blocks


# -- Jacobians -----------------------------------------------------------------------------------


def numeric_jacobian(f, x, eps=1e-6):
    out = np.asarray(f(x))
    J = np.zeros(out.shape + x.shape)
    for idx in np.ndindex(x.shape):
        e = np.zeros(x.shape)
        e[idx] = eps
        J[(Ellipsis,) + idx] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps)
    return J


@pytest.mark.parametrize("fn, args", [
    (S.pairwise, (np.array([0.1, 0.5, 0.9]),)),
    (S.wide_to_scalarish, (np.arange(12.0).reshape(4, 3) / 10,)),
    (vector_out, (np.array([0.3, -0.2]), np.array([[1.0, 2.0], [0.5, -1.0], [0.1, 0.2]]))),
])
def test_jacobians_match_the_looped_sweeps_and_differences(fn, args):
    Jf, Jr = gradc.jacfwd(fn)(*args), gradc.jacrev(fn)(*args)
    c = gradc.compile(fn, args=args)
    x = args[0]
    looped_f = np.stack([c.jvp(args, e.reshape(x.shape))[1] for e in np.eye(x.size)], axis=-1)
    _, pull = c.vjp(*args)
    out_shape = np.shape(fn(*args))
    looped_r = np.stack([pull(e.reshape(out_shape)) for e in np.eye(int(np.prod(out_shape)))])
    np.testing.assert_allclose(Jf, looped_f.reshape(Jf.shape), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(Jr, looped_r.reshape(Jr.shape), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(Jf, numeric_jacobian(lambda v: fn(v, *args[1:]), x), rtol=1e-6, atol=1e-9)


def test_jacobian_blocks_for_tuple_wrt():
    x, y = np.array([0.1, 0.5, 0.9]), np.array([1.0, 2.0, 3.0])
    for jac in (gradc.jacfwd, gradc.jacrev):
        Jx, Jy = jac(S.vector_field, wrt=("x", "y"))(x, y)
        np.testing.assert_allclose(Jx, numeric_jacobian(lambda v: S.vector_field(v, y), x), rtol=1e-7)
        np.testing.assert_allclose(Jy, numeric_jacobian(lambda v: S.vector_field(x, v), y), rtol=1e-7)


# -- vmap: per-example gradients -----------------------------------------------------------------


def _ce_batch(rng, n=5):
    W, b = rng.normal(size=(4, 5)), rng.normal(size=4)
    return W, b, rng.normal(size=(n, 5)), np.eye(4)[rng.integers(0, 4, n)], 0.1


def test_per_example_gradients_match_each_example_and_differences():
    rng = np.random.default_rng(0)
    W, b, xs, ys, lam = _ce_batch(rng)
    pe = gradc.vmap(gradc.grad(sce.cross_entropy_l2, wrt=("W", "b")), in_axes=(None, None, 0, 0, None))
    gW, gb = pe(W, b, xs, ys, lam)
    one = gradc.grad(sce.cross_entropy_l2, wrt=("W", "b"))
    assert gW.shape == (5, 4, 5) and gb.shape == (5, 4)
    for k in range(5):
        a, c = one(W, b, xs[k], ys[k], lam)
        np.testing.assert_allclose(gW[k], a, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(gb[k], c, rtol=1e-13, atol=1e-15)
        assert_close(gW[k], fd_grad(sce.cross_entropy_l2, (W, b, xs[k], ys[k], lam), 0))
        assert_close(gb[k], fd_grad(sce.cross_entropy_l2, (W, b, xs[k], ys[k], lam), 1))
        ref_W, ref_b = sce.lecture_gradient(W, b, xs[k], ys[k], lam)
        np.testing.assert_allclose(gW[k], ref_W, rtol=1e-10, atol=1e-13)
    assert not pe.fallbacks and "for " not in pe.source  # one batched statement per op, no loop


def test_per_example_gradient_golden_source():
    """The generated per-example gradient reads like the gradient, one batch axis more."""
    rng = np.random.default_rng(0)
    W, b, xs, ys, lam = _ce_batch(rng, 3)
    pe = gradc.vmap(gradc.grad(sce.cross_entropy_l2, wrt=("W", "b")), in_axes=(None, None, 0, 0, None))
    pe(W, b, xs, ys, lam)
    outputs = {"softmax_cross_entropy_per_example.py": pe.source,
               "softmax_cross_entropy_per_example.ssa.txt": str(pe.program) + "\n"}
    for filename, text in outputs.items():
        path = GOLDEN / filename
        if UPDATE:
            path.write_text(text)
        assert path.exists(), f"missing golden file {path}; run with GRADC_UPDATE_GOLDEN=1"
        assert text == path.read_text(), f"generated output changed: diff against {path}"


def test_value_and_grad_over_parameter_trees_and_axes():
    rng = np.random.default_rng(1)
    params = {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(size=4), "W2": rng.normal(size=(4, 2))}
    xs, ys = rng.normal(size=(3, 6)), np.eye(2)[rng.integers(0, 2, 6)].T  # examples on axis 1
    pe = gradc.vmap(gradc.value_and_grad(mlp_example, wrt="params"), in_axes=(None, 1, 1, None))
    values, grads = pe(params, xs, ys, 0.01)
    one = gradc.value_and_grad(mlp_example, wrt="params")
    assert values.shape == (6,) and set(grads) == {"W1", "b1", "W2"}
    for k in range(6):
        v, g = one(params, xs[:, k], ys[:, k], 0.01)
        assert values[k] == pytest.approx(v, rel=1e-13)
        for key in g:
            np.testing.assert_allclose(grads[key][k], g[key], rtol=1e-12, atol=1e-14)
    # a batch of parameter sets (ensembles): in_axes on a tree batches every leaf
    stacked = {k: np.stack([v, v * 0.5, -v]) for k, v in params.items()}
    ens = gradc.vmap(gradc.grad(mlp_example, wrt="params"), in_axes=(0, None, None, None), out_axes=-1)
    g_ens = ens(stacked, xs[:, 0], ys[:, 0], 0.01)
    for k, scale in enumerate((1.0, 0.5, -1.0)):
        g = gradc.grad(mlp_example, wrt="params")({kk: v * scale for kk, v in params.items()},
                                                  xs[:, 0], ys[:, 0], 0.01)
        for key in g:
            np.testing.assert_allclose(g_ens[key][..., k], g[key], rtol=1e-12, atol=1e-14)


def test_integer_labels_per_example_index_differently():
    rng = np.random.default_rng(2)
    W, xs = rng.normal(size=(4, 3)), rng.normal(size=(7, 3))
    for fn, labels in ((labels_loss, rng.integers(0, 4, 7)), (column_loss, rng.integers(0, 3, 7))):
        pe = gradc.vmap(gradc.grad(fn, wrt="W"), in_axes=(None, 0, 0))
        g = pe(W, xs, labels)
        for k in range(7):
            np.testing.assert_allclose(g[k], gradc.grad(fn, wrt="W")(W, xs[k], labels[k]), rtol=1e-13,
                                       atol=1e-15)
        assert not pe.fallbacks


def test_vmap_of_a_function_value_and_of_a_loop():
    rng = np.random.default_rng(3)
    A, xs = rng.normal(size=(3, 2)), rng.normal(size=(5, 2))
    out = gradc.vmap(vector_out, in_axes=(0, None))(xs, A)
    np.testing.assert_allclose(out, np.tanh(xs @ A.T), rtol=1e-14)
    Xs, w = rng.normal(size=(5, 4, 3)), rng.normal(size=3)
    vg = gradc.vmap(gradc.value_and_grad(looped_sum, wrt="w"), in_axes=(0, None))
    values, grads = vg(Xs, w)
    for k in range(5):
        v, g = gradc.value_and_grad(looped_sum, wrt="w")(Xs[k], w)
        assert values[k] == pytest.approx(v, rel=1e-13)
        np.testing.assert_allclose(grads[k], g, rtol=1e-12, atol=1e-14)
    assert not vg.fallbacks and "for t in range(4):" in vg.source  # the loop stays a loop


def test_results_are_fresh_and_writable():
    xs = np.arange(6.0).reshape(2, 3)
    out = gradc.vmap(identity_ish, in_axes=1)(xs)
    np.testing.assert_array_equal(out, xs.T)
    assert out.flags.writeable and not np.shares_memory(out, xs)


def test_an_op_without_a_rule_runs_per_example():
    """A user primitive: gradc cannot see that it is elementwise, so it loops over the batch."""
    rng = np.random.default_rng(4)
    xs, w = rng.normal(size=(4, 3)), rng.normal(size=3)
    pe = gradc.vmap(gradc.grad(swish_loss, wrt="w"), in_axes=(0, None))
    g = pe(xs, w)
    for k in range(4):
        np.testing.assert_allclose(g[k], gradc.grad(swish_loss, wrt="w")(xs[k], w), rtol=1e-13)
    assert "swish_grad" in pe.fallbacks and "for k in range(4):" in pe.source


@pytest.mark.parametrize("make, call, match", [
    (lambda: gradc.vmap(gradc.grad(labels_loss, wrt="W"), in_axes=(None, 0, 0)),
     lambda f: f(np.ones((4, 3)), np.ones((5, 3)), np.zeros(6, dtype=int)), "different sizes"),
    (lambda: gradc.vmap(gradc.grad(labels_loss, wrt="W"), in_axes=(None, 0)),
     lambda f: f(np.ones((4, 3)), np.ones((5, 3)), np.zeros(5, dtype=int)), "one per positional"),
    (lambda: gradc.vmap(gradc.grad(S.quadratic), in_axes=0),
     lambda f: f(0.5), "not a NumPy array"),
    (lambda: gradc.vmap(gradc.grad(S.quadratic), in_axes=(None,)),
     lambda f: f(np.ones(3)), "no argument is batched"),
    (lambda: gradc.vmap(gradc.grad(S.quadratic), in_axes=(3,)),
     lambda f: f(np.ones((2, 3))), "out of range"),
    (lambda: gradc.vmap(gradc.grad(S.quadratic), in_axes=(0,), out_axes=5),
     lambda f: f(np.ones((2, 3))), "out_axes 5 is out of range"),
    (lambda: gradc.vmap(gradc.hessian(S.quadratic)), None, "vmap takes"),
    (lambda: gradc.vmap(S.quadratic, in_axes="x"), None, "in_axes"),
    (lambda: gradc.vmap(gradc.vmap(S.quadratic)), None, "vmap of a vmapped"),
    (lambda: gradc.vmap(gradc.grad(S.pairwise)), lambda f: f(np.ones((2, 3))), "scalar"),
])
def test_misuse_is_a_clear_compile_error(make, call, match):
    with pytest.raises(gradc.CompileError, match=match):
        f = make()
        call(f)


def test_the_cache_of_batch_sizes_is_bounded():
    from gradc import vectorized

    rng = np.random.default_rng(6)
    W, b = rng.normal(size=(4, 5)), rng.normal(size=4)
    pe = gradc.vmap(gradc.grad(sce.cross_entropy_l2, wrt="W"), in_axes=(None, None, 0, 0, None))
    for n in list(range(1, vectorized.MAX_BATCHED + 4)) + [2]:
        xs, ys = rng.normal(size=(n, 5)), np.eye(4)[rng.integers(0, 4, n)]
        g = pe(W, b, xs, ys, 0.1)
        np.testing.assert_allclose(g[-1], gradc.grad(sce.cross_entropy_l2)(W, b, xs[-1], ys[-1], 0.1),
                                   rtol=1e-12, atol=1e-15)
    spec = pe.compiled.latest
    kept = [k for k in spec.derived if isinstance(k, tuple) and k[0] == "vmap"]
    assert len(kept) == vectorized.MAX_BATCHED
