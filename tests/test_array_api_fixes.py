"""Regressions from an adversarial test of backend="array-api": modules that raised on
array-api-strict for the inputs they were made for (two Python scalars in xp.where, a Python
float in xp.broadcast_to, an int array compared with a float, xp.exp of ints), refusals without a
location, a Dask specialisation's module that did not import, and refusals of what the
standard has (np.prod's adjoint, np.linalg.norm, the adjoint of basic indexing). Each case: the saved module on
array-api-strict and on NumPy gives gradc's NumPy value and gradient (and finite differences)."""

import numpy as np
import pytest

xs = pytest.importorskip("array_api_strict")
pytest.importorskip("array_api_compat")

import gradc  # noqa: E402
from gradc.errors import CompileError  # noqa: E402
from gradc.nn import relu  # noqa: E402
from fixtures.numeric import fd_grad  # noqa: E402
from fixtures.modules import load_module


def hinge(w, X, y):
    return np.mean(np.maximum(0.0, 1.0 - y * (X @ w)))


def huber(w, X, y):
    r = X @ w - y
    return np.mean(np.where(np.abs(r) < 1.0, 0.5 * r ** 2, np.abs(r) - 0.5))


def l1_relu(w, X, y):
    return np.sum(np.abs(w)) + np.sum(relu(X @ w)) + np.sum(np.minimum(X @ w, 1.0))


def clipped(w, X, y):
    return np.sum(np.clip(X @ w, -0.5, 0.5)) + np.mean(np.tanh(X @ np.clip(w, 0.0, np.inf)) ** 2)


def masked(w, X, y):
    m = X[:, 0] > 0.0
    return np.sum(np.where(m, 1.0, 0.0) * (X @ w)) + np.sum(np.where(y > 0.0, X @ w, 2.0))


def linear_seed(w, X, y):
    return 3.0 * np.sum(w)


def int_labels(w, X, k):
    z = X @ w
    return np.sum(np.where(k > 0.5, z, -z)) + np.sum(np.log1p(k) * z) + np.sum(np.exp(k) * np.sqrt(k)
                                                                                * np.tanh(k) * z)


def loop_branch(W, S):
    h = np.zeros(3)
    for t in range(S.shape[0]):
        z = W @ h + S[t]
        if np.sum(z) > 0:
            h = np.tanh(z)
        else:
            h = 0.5 * z
    return np.sum(h)


def bias0(b, X):
    return np.sum(np.tanh(X + b) ** 2)


def products_and_norms(w, X, y):
    return (np.prod(w) + np.sum(np.prod(X * w, axis=1)) + np.sum(np.cumsum(X @ w))
            + np.linalg.norm(w) + np.sum(np.linalg.norm(X * w, axis=1))
            + np.sum(np.linalg.norm(X, ord=3, axis=0) * w))


def basic_indexing(W, X):
    Z = X @ W
    return (np.mean(Z[::2] ** 2) + np.mean(Z[::-3, 1:] ** 3) + np.sum(Z[5, ...]) + np.sum(Z[..., None, -1])
            + np.sum(W[:, None][1, 0] * W[0]) + np.sum(W[7:2] * 0.0) + np.sum(W[::2, ::-1]) + np.sum(W[-9:, 1]))


def _cases():
    rng = np.random.default_rng(1)
    w, X, y = rng.normal(size=3), rng.normal(size=(6, 3)), np.sign(rng.normal(size=6))
    return {
        "hinge": (hinge, "w", (w, X, y)),
        "huber": (huber, "w", (w, X, y)),
        "l1_relu": (l1_relu, "w", (w + 0.1, X, y)),
        "clipped": (clipped, "w", (w, X, y)),
        "masked": (masked, "w", (w, X, y)),
        "linear_seed": (linear_seed, "w", (w, X, y)),
        "int_labels": (int_labels, "w", (w, X, np.array([0, 2, 5, 1, 0, 3]))),
        "loop_branch": (loop_branch, "W", (rng.normal(size=(3, 3)), rng.normal(size=(4, 3)))),
        "bias0": (bias0, "b", (np.array(0.3), rng.normal(size=(2, 5, 4)))),
        "products_and_norms": (products_and_norms, "w", (w, X, y)),
        "prod_with_a_zero": (products_and_norms, "w", (np.array([0.0, 1.5, -2.0]), X, y)),
        "basic_indexing": (basic_indexing, "W", (rng.normal(size=(3, 2)), rng.normal(size=(16, 3)))),
    }


@pytest.mark.parametrize("name", sorted(_cases()))
@pytest.mark.parametrize("namespace", ["array_api_strict", "numpy"])
def test_saved_module_runs_on_the_inputs_it_was_made_for(tmp_path, name, namespace):
    fn, wrt, args = _cases()[name]
    c = gradc.compile(fn, wrt=wrt, args=args)
    want_value, want_grad = c.value_and_grad(*args)
    module = load_module(c.save(tmp_path / f"{name}_xp.py", backend="array-api"))
    xp = xs if namespace == "array_api_strict" else np
    value, grad = getattr(module, f"{fn.__name__}_value_and_grad")(*(xp.asarray(a) for a in args))
    if namespace == "numpy":  # the NumPy module's types: a 0-d parameter's gradient is a 0-d array
        assert type(grad) is np.ndarray
    grad = np.asarray(grad)
    assert grad.shape == np.shape(want_grad) and grad.dtype == np.asarray(want_grad).dtype
    np.testing.assert_allclose(float(np.asarray(value)), want_value, rtol=1e-12)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grad, fd_grad(fn, args, 0), rtol=1e-5, atol=1e-6)


def test_python_scalars_become_arrays_where_the_standard_needs_arrays(tmp_path):
    fn, wrt, args = _cases()["hinge"]
    text = gradc.compile(fn, wrt=wrt, args=args).save(tmp_path / "m.py", backend="array-api").read_text()
    assert "xp.where(t1, 0.0," not in text and "xp.asarray(0.0, dtype=xp.float64, device=_device)" in text
    fn, wrt, args = _cases()["clipped"]
    text = gradc.compile(fn, wrt=wrt, args=args).save(tmp_path / "c.py", backend="array-api").read_text()
    assert "float('inf')" in text


def _c_w_named(_c_w, X):
    return np.sum(X @ _c_w)


def tanh_of_bool(w, m):
    return np.sum(np.tanh(m) * w)


@pytest.mark.parametrize("fn,args,match", [
    (_c_w_named, (np.ones(3), np.ones((2, 3))), "_c_w"),
    (tanh_of_bool, (np.ones(3), np.array([True, False, True])), "float16"),
])
def test_refusals_at_save_carry_a_location(tmp_path, fn, args, match):
    c = gradc.compile(fn, wrt=0, args=args)
    with pytest.raises(CompileError, match=match) as info:
        c.save(tmp_path / "m.py", backend="array-api")
    assert info.value.loc is not None and info.value.loc.lineno is not None
    assert not (tmp_path / "m.py").exists()


def test_dask_specialisation_saves_a_working_array_api_module(tmp_path):
    da = pytest.importorskip("dask.array")

    def lsq(w, X):
        return np.mean(np.tanh(X @ w) ** 2)

    X = np.random.default_rng(0).normal(size=(8, 3))
    w = np.linspace(-1.0, 1.0, 3)
    c = gradc.compile(lsq, wrt="w", args=(w, da.from_array(X, chunks=4)))
    module = load_module(c.save(tmp_path / "m.py", backend="array-api"))
    want = gradc.value_and_grad(lsq, wrt="w")(w, X)
    for xp in (np, xs):
        value, grad = module.lsq_value_and_grad(xp.asarray(w), xp.asarray(X))
        np.testing.assert_allclose(float(np.asarray(value)), want[0], rtol=1e-12)
        np.testing.assert_allclose(np.asarray(grad), want[1], rtol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        module.lsq_value_and_grad(w, np.ones((8, 4)))
