"""Gradients over Dask arrays on a real dask.distributed cluster (gradc issue #14): lazy results
of one graph, NumPy's values and gradients to 1e-12, and a CompileError for what the lazy path
does not support."""
import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import dask  # noqa: E402

import gradc  # noqa: E402
from gradc.errors import CompileError, DataDependentControlFlow, SignatureError  # noqa: E402
from gradc.nn import log_softmax, relu  # noqa: E402
from fixtures.numeric import fd_grad  # noqa: E402

pytestmark = pytest.mark.filterwarnings("error::FutureWarning")  # Dask computing eagerly warns


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        yield c


def logreg(w, b, X, y, lam):
    z = X @ w + b
    return np.mean(np.logaddexp(0.0, z) - y * z) + lam * np.sum(w ** 2)


def least_squares(params, batch):
    err = batch["X"] @ params["w"] + params["b"] - batch["y"]
    return 0.5 * np.mean(err ** 2)


def softmax_ce(W, b, X, Y):
    logits = X @ W + b
    return -np.mean(np.sum(Y * log_softmax(logits, axis=1), axis=1)) + 0.01 * np.sum(W ** 2)


def mlp(params, X, y):
    h = np.tanh(X @ params[0] + params[1])
    h = relu(h @ params[2])
    out = np.sum(h, axis=1, keepdims=True).reshape(-1)
    return np.mean((out - y) ** 2) + np.max(np.abs(params[2]))


def robust(w, X, y):
    r = X @ w - y
    a = np.abs(r)
    huber = np.where(a < 1.0, 0.5 * r ** 2, a - 0.5)
    clipped = np.clip(X[:, :2], -1.0, 1.0)
    return np.mean(huber) + np.sum(np.mean(clipped, axis=0)) * np.sum(w) + np.max(np.maximum(r, -r)) \
        + np.sum(np.concatenate([X[:3, 0], np.exp(X.T[1, -2:])]) * np.mean(w))


def _data(n=400, d=5, k=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(dtype)
    return rng, X, (rng.random(n) < 0.5).astype(dtype), np.eye(k)[rng.integers(0, k, n)]


def _dask(a, rows=100):
    return da.from_array(a, chunks=(rows,) + a.shape[1:])


def _close(got, want):
    got, want = dask.compute(got)[0], want
    if isinstance(want, dict):
        for k in want:
            _close(got[k], want[k])
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _close(g, w)
    else:
        assert np.shape(got) == np.shape(want)
        np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64),
                                   rtol=1e-12, atol=1e-12)


def _lazy(tree):
    leaves = tree.values() if isinstance(tree, dict) else tree if isinstance(tree, (list, tuple)) else [tree]
    return all(_lazy(v) if isinstance(v, (dict, list, tuple)) else isinstance(v, da.Array) for v in leaves)


def _workloads():
    rng, X, y, Y = _data()
    w, W = rng.normal(size=5), rng.normal(size=(5, 3))
    tree = {"w": w, "b": 0.2}
    params = [rng.normal(size=(5, 8)) * 0.5, np.zeros(8), rng.normal(size=(8, 4)) * 0.5]
    return {
        "logreg": (logreg, ("w", "b"), (w, 0.3, X, y, 0.01), (2, 3)),
        "least_squares": (least_squares, "params", (tree, {"X": X, "y": y}), ()),
        "softmax_ce": (softmax_ce, ("W", "b"), (W, np.zeros(3), X, Y), (2, 3)),
        "mlp": (mlp, "params", (params, X, y), (1, 2)),
        "robust": (robust, "w", (w, X, y), (1, 2)),
    }


def _as_dask_args(name, args, dask_positions):
    args = list(args)
    if name == "least_squares":
        args[1] = {k: _dask(v) for k, v in args[1].items()}
    for i in dask_positions:
        args[i] = _dask(args[i])
    return args


@pytest.mark.parametrize("name", list(_workloads()))
def test_value_and_grad_over_dask_equals_numpy(client, name):
    fn, wrt, args, positions = _workloads()[name]
    vg = gradc.value_and_grad(fn, wrt=wrt)
    want = vg(*args)
    got = vg(*_as_dask_args(name, args, positions))
    assert _lazy(got), got  # nothing computed yet: one graph for value and gradient
    value, grads = dask.compute(*got)  # on the cluster (the client is the default scheduler)
    _close(value, want[0])
    _close(grads, want[1])
    computed = gradc.value_and_grad(fn, wrt=wrt, compute=True)(*_as_dask_args(name, args, positions))
    assert not _lazy(computed[1])
    _close(computed, want)


def test_gradient_over_dask_matches_finite_differences(client):
    rng, X, y, _ = _data(n=200)
    w = rng.normal(size=5)
    g = gradc.grad(logreg, wrt="w", compute=True)(w, 0.1, _dask(X, 50), _dask(y, 50), 0.01)
    np.testing.assert_allclose(g, fd_grad(logreg, (w, 0.1, X, y, 0.01), 0), rtol=1e-6, atol=1e-8)


def test_types_of_computed_results_match_the_numpy_path(client):
    rng, X, y, _ = _data(n=100)
    w = rng.normal(size=5)
    vg = gradc.value_and_grad(logreg, wrt=("w", "b"), compute=True)
    value, (gw, gb) = vg(w, 0.3, _dask(X), _dask(y), 0.01)
    want_value, (_, want_gb) = vg(w, 0.3, X, y, 0.01)
    assert type(value) is type(want_value) and type(gb) is type(want_gb) is float
    assert isinstance(gw, np.ndarray) and gw.dtype == w.dtype


def test_float32_data_and_parameters(client):
    rng, X, y, _ = _data(dtype=np.float32)
    w = rng.normal(size=5).astype(np.float32)
    vg = gradc.value_and_grad(logreg, wrt="w")
    want = vg(w, 0.3, X, y, 0.01)
    value, g = dask.compute(*vg(w, 0.3, _dask(X), _dask(y), 0.01))
    assert g.dtype == np.float32 and g.shape == w.shape
    np.testing.assert_allclose(g, want[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(value, want[0], rtol=1e-5)


def test_specialisation_keys_on_chunks_and_module_checks_them(client):
    rng, X, y, _ = _data(n=120)
    w = rng.normal(size=5)
    c = gradc.api.Compiled(logreg, wrt="w")
    c.value_and_grad(w, 0.1, _dask(X, 60), _dask(y, 60), 0.0)
    c.value_and_grad(w, 0.1, _dask(X, 40), _dask(y, 40), 0.0)
    c.value_and_grad(w, 0.1, X, y, 0.0)
    assert len(c._specs) == 3
    c.value_and_grad(w, 0.1, _dask(X, 40), _dask(y, 40), 0.0)
    assert "+=" not in c.source and "chunks" in c.source
    with pytest.raises(ValueError, match="chunks"):  # the generated function checks what it was made for
        c.latest.value_and_grad_fn(w, 0.1, _dask(X, 60), _dask(y, 60), 0.0)


def test_reductions_over_the_data_axis_are_tree_reductions(client):
    rng, X, y, _ = _data(n=800)
    value, g = gradc.value_and_grad(logreg, wrt="w")(rng.normal(size=5), 0.1, _dask(X, 50), _dask(y, 50), 0.0)
    layers = " ".join(value.dask.layers)
    assert "aggregate" in layers and "partial" in layers, layers  # split_every tree, not one task


def test_value_only_over_dask(client):
    rng, X, y, _ = _data(n=100)
    w = rng.normal(size=5)
    c = gradc.compile(logreg, wrt="w")
    v = c.value(w, 0.1, _dask(X), _dask(y), 0.0)
    assert isinstance(v, da.Array)
    _close(v, c.value(w, 0.1, X, y, 0.0))


# -- refusals -------------------------------------------------------------------------------------


def branch_on_data(w, X):
    s = np.sum(X @ w)
    if s > 0:
        return s ** 2
    return -s


def loop_over_rows(w, X):
    h = np.zeros(3)
    for t in range(X.shape[0]):
        h = np.tanh(h + X[t] * w)
    return np.sum(h)


def fancy_rows(w, X):
    return np.sum(X[np.array([0, 2, 2])] @ w)


def cumulative(w, X):
    return np.sum(np.cumsum(X @ w))


@pytest.mark.parametrize("fn,error,match", [
    (branch_on_data, DataDependentControlFlow, "an `if`"),
    (loop_over_rows, DataDependentControlFlow, "loop"),
    (fancy_rows, CompileError, "gather"),
    (cumulative, CompileError, "cumsum"),
])
def test_unsupported_constructs_are_refused_at_the_line(fn, error, match):
    X = _dask(np.random.default_rng(1).normal(size=(4, 3)), 2)
    with pytest.raises(error, match=match) as info:
        gradc.value_and_grad(fn, wrt="w")(np.ones(3), X)
    assert info.value.loc is not None and info.value.loc.lineno is not None


def test_branch_on_parameters_only_is_fine_with_dask_data(client):
    def loss(w, X, flip):
        v = np.mean(X @ w)
        return -v if flip else v

    X = np.random.default_rng(2).normal(size=(40, 3))
    g = gradc.grad(loss, wrt="w", compute=True)(np.ones(3), _dask(X, 10), True)
    _close(g, gradc.grad(loss, wrt="w")(np.ones(3), X, True))


def squares(w, X):
    return np.sum((X @ w) ** 2)


def test_derived_programs_checkpoint_and_formulas_refuse_dask():
    X = _dask(np.ones((4, 3)), 2)
    w = np.ones(3)
    with pytest.raises(SignatureError, match="Dask"):
        gradc.hvp(squares, wrt="w")(w, X, w)
    with pytest.raises(SignatureError, match="Dask"):
        gradc.jvp(squares, (w, X), (w,), wrt="w")
    with pytest.raises(CompileError, match="checkpoint"):
        gradc.grad(squares, wrt="w", checkpoint="segments")(w, X)
    with pytest.raises(SignatureError, match="Dask"):
        gradc.grad("sum(x * y)", wrt="x")(w, da.ones(3, chunks=1))


def test_unknown_chunk_sizes_are_refused():
    X = da.ones((4, 3), chunks=2)
    X = X[X[:, 0] > 0]  # boolean mask: unknown number of rows
    with pytest.raises(SignatureError, match="unknown shape"):
        gradc.grad(squares, wrt="w")(np.ones(3), X)
