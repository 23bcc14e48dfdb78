"""Modules generated for the array API standard (`save(path, backend="array-api")`), run on
array-api-strict, which refuses anything outside the standard: the lecture examples (those of
tests/golden), the softmax-CE loss and an MLP give NumPy's values and gradients to 1e-12; what has
no standard spelling is refused at save time, with nothing written."""

import numpy as np
import pytest

xs = pytest.importorskip("array_api_strict")
pytest.importorskip("array_api_compat")

import gradc  # noqa: E402
from gradc.errors import CompileError  # noqa: E402

from fixtures.modules import load_module  # noqa: E402
from gradc.nn import log_softmax, relu  # noqa: E402
import deep_tanh_checkpoint  # noqa: E402
import logistic_rss  # noqa: E402
import rnn_loop  # noqa: E402
import softmax_cross_entropy  # noqa: E402
import sqrt_exp_cos  # noqa: E402


def softmax_ce(W, b, X, Y, lam):
    logits = X @ W + b
    nll = -np.mean(np.sum(Y * log_softmax(logits, axis=1), axis=1))
    return nll + lam * np.sum(W ** 2)


def mlp(params, batch, *, lam=1e-3):
    h = batch["X"]
    for W, b in params["layers"]:
        h = np.tanh(h @ W + b)
    h = relu(h)
    err = h @ params["head"] - batch["y"]
    return np.mean(err ** 2) + lam * np.sum(params["head"] ** 2) + np.max(np.abs(err))


def _cases():
    rng = np.random.default_rng(0)
    W, b, x = rng.normal(size=(4, 5)), rng.normal(size=4), rng.normal(size=5)
    params = {"layers": [(rng.normal(size=(4, 8)), np.zeros(8)), (rng.normal(size=(8, 8)), np.zeros(8))],
              "head": rng.normal(size=8)}
    return {
        "logistic_rss": (logistic_rss.rss_loss, "w", (np.array([-1.0, 1.5, 0.5]),), {}),
        "softmax_cross_entropy": (softmax_cross_entropy.cross_entropy_l2, ("W", "b"),
                                  (W, b, x, np.eye(4)[2], 0.1), {}),
        "sqrt_exp_cos": (sqrt_exp_cos.f, "x", (0.5,), {}),
        "rnn_loop": (rnn_loop.rnn, ("W", "U", "h0"), (rng.normal(size=(3, 3)), rng.normal(size=(3, 2)),
                                                      rng.normal(size=(50, 2)), rng.normal(size=3)), {}),
        "deep_tanh_checkpoint": (deep_tanh_checkpoint.loss, "W", (rng.normal(size=(2, 3)),
                                 rng.normal(size=(4, 3, 3)), rng.normal(size=(2, 3)), 4), {}),
        "softmax_ce": (softmax_ce, ("W", "b"), (rng.normal(size=(4, 3)), np.zeros(3), rng.normal(size=(8, 4)),
                                                np.eye(3)[rng.integers(0, 3, 8)], 0.01), {}),
        "mlp": (mlp, "params", (params, {"X": rng.normal(size=(16, 4)), "y": rng.normal(size=16)}),
                {"lam": 0.01}),
        "mlp_float32": (mlp, "params", ({"layers": [(rng.normal(size=(4, 8)).astype(np.float32),
                                                     np.zeros(8, np.float32))],
                                         "head": rng.normal(size=8).astype(np.float32)},
                                        {"X": rng.normal(size=(16, 4)).astype(np.float32),
                                         "y": rng.normal(size=16).astype(np.float32)}), {}),
    }


def _to(xp, tree):
    if isinstance(tree, dict):
        return {k: _to(xp, v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_to(xp, v) for v in tree)
    return xp.asarray(tree) if isinstance(tree, np.ndarray) else tree


def _close(got, want, rtol):
    if isinstance(want, dict):
        for k in want:
            _close(got[k], want[k], rtol)
    elif isinstance(want, (list, tuple)):
        assert type(got) is type(want) and len(got) == len(want)
        for g, w in zip(got, want):
            _close(g, w, rtol)
    else:
        g = np.asarray(got)
        assert g.shape == np.shape(want) and g.dtype == np.asarray(want).dtype, (g.dtype, np.asarray(want).dtype)
        np.testing.assert_allclose(g, want, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", sorted(_cases()))
@pytest.mark.parametrize("namespace", ["array_api_strict", "numpy"])
def test_array_api_module_matches_numpy(tmp_path, name, namespace):
    fn, wrt, args, kwargs = _cases()[name]
    c = gradc.compile(fn, wrt=wrt, args=args, kwargs=kwargs)
    want = c.value_and_grad(*args, **kwargs)
    path = c.save(tmp_path / f"{name}_xp.py", backend="array-api")
    text = path.read_text()
    assert "+=" not in text and "np.errstate" not in text
    module = load_module(path)
    xp = xs if namespace == "array_api_strict" else np
    if all(type(a) is float for a in args):  # 0-d arrays stand for floats: the namespace is theirs
        args = tuple(np.asarray(a) for a in args)
    value, grads = getattr(module, f"{fn.__name__}_value_and_grad")(*_to(xp, args), **kwargs)
    if namespace == "array_api_strict":
        assert isinstance(value, xs._array_object.Array)
    rtol = 1e-5 if "float32" in name else 1e-12
    np.testing.assert_allclose(np.asarray(value), want[0], rtol=rtol)
    _close(_to(np, grads) if namespace == "numpy" else _from_strict(grads), want[1], rtol)
    assert np.asarray(getattr(module, fn.__name__)(*_to(xp, args), **kwargs)) == pytest.approx(want[0], rel=rtol)


def _from_strict(tree):
    if isinstance(tree, dict):
        return {k: _from_strict(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_from_strict(v) for v in tree)
    return tree if isinstance(tree, float) else np.asarray(tree)[()] if tree.ndim == 0 else np.asarray(tree)


def test_generated_module_checks_its_arguments(tmp_path):
    fn, wrt, args, kwargs = _cases()["softmax_ce"]
    c = gradc.compile(fn, wrt=wrt, args=args)
    module = load_module(c.save(tmp_path / "m.py", backend="array-api"))
    bad = list(_to(xs, args))
    bad[2] = xs.asarray(np.ones((8, 5)))
    with pytest.raises(ValueError, match="shape"):
        module.softmax_ce_value_and_grad(*bad)


def gathers(w, idx):
    return np.sum(w[idx] ** 2)


def solves(A, b):
    return np.sum(np.linalg.solve(A, b))


def sums_rows(w):
    return np.sum(np.einsum("ij,ij->i", w, w))


@pytest.mark.parametrize("fn,args,match", [
    (gathers, (np.ones(4), np.array([0, 2, 2])), "gather"),
    (solves, (np.eye(3) * 2.0, np.ones(3)), "solve"),
    (sums_rows, (np.ones((3, 2)),), "einsum"),
])
def test_constructs_outside_the_standard_are_refused_at_save(tmp_path, fn, args, match):
    c = gradc.compile(fn, wrt=0, args=args)
    with pytest.raises(CompileError, match=match) as info:
        c.save(tmp_path / "m.py", backend="array-api")
    assert info.value.loc is not None
    assert not (tmp_path / "m.py").exists()
    c.save(tmp_path / "numpy.py")  # the NumPy module is still written


def test_unknown_backend_is_refused(tmp_path):
    c = gradc.compile(logistic_rss.rss_loss, wrt="w", args=(np.array([-1.0, 1.5, 0.5]),))
    with pytest.raises(CompileError, match="backend"):
        c.save(tmp_path / "m.py", backend="jax")


@pytest.mark.gpu
def test_cupy_module_on_gpu(tmp_path):
    cp = pytest.importorskip("cupy")
    try:
        cp.cuda.runtime.getDeviceCount()
    except Exception:
        pytest.skip("no GPU")
    fn, wrt, args, kwargs = _cases()["mlp"]
    c = gradc.compile(fn, wrt=wrt, args=args, kwargs=kwargs)
    module = load_module(c.save(tmp_path / "m.py", backend="array-api"))
    value, grads = module.mlp_value_and_grad(*_to(cp, args), **kwargs)
    np.testing.assert_allclose(float(value), c.value(*args, **kwargs), rtol=1e-10)
