"""Regressions from an adversarial test of the Dask backend: gradients that are views (X @ W.T,
c.reshape(-1, 1), np.expand_dims, a concatenated parameter, float(np.mean(X))) were refused as
'copy' with no location; Dask arrays of masked chunks were read as their data; basic indexing
(b[:, None], W[0], theta[:3]) was refused as 'scatter'; a captured Dask array was an "operand". Run on Dask's
synchronous scheduler: what is checked is the graph, not the cluster (tests/test_dask.py)."""
import numpy as np
import pytest

da = pytest.importorskip("dask.array")
import dask  # noqa: E402

import gradc  # noqa: E402
from gradc.backends import dask as dask_backend  # noqa: E402
from gradc.errors import CompileError, SignatureError  # noqa: E402
from fixtures.numeric import fd_grad  # noqa: E402

pytestmark = pytest.mark.filterwarnings("error::FutureWarning")  # Dask computing eagerly warns


def transposed(W, X, Y):
    return np.mean((X @ W.T - Y) ** 2)


def column(c, X, Y):
    return np.mean(np.exp(X * c.reshape(-1, 1)))


def expanded(c, X, Y):
    return np.mean(np.exp(X * np.expand_dims(c, 1)) * Y[:, :1])


def bias_column(w, b, X, Y):
    Xa = np.concatenate([X, np.ones((X.shape[0], 1))], axis=1)
    return np.mean((Xa @ np.concatenate([w, b]) - Y[:, 0]) ** 2)


def scaled(w, X, Y):
    s = float(np.mean(X))
    return np.mean((X @ w) ** 2) * s


def _data():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    return rng, X, Y


@pytest.mark.parametrize("fn,wrt,params", [
    (transposed, "W", lambda rng: (rng.normal(size=(2, 3)),)),
    (column, "c", lambda rng: (rng.normal(size=8) * 0.1,)),
    (expanded, "c", lambda rng: (rng.normal(size=8) * 0.1,)),
    (bias_column, ("w", "b"), lambda rng: (rng.normal(size=3), np.array([0.5]))),
    (scaled, "w", lambda rng: (rng.normal(size=3),)),
], ids=["X@W.T", "reshape", "expand_dims", "concatenate", "float(mean)"])
def test_gradients_that_are_views_stay_lazy_and_exact(fn, wrt, params):
    rng, X, Y = _data()
    p = params(rng)
    vg = gradc.value_and_grad(fn, wrt=wrt)
    want = vg(*p, X, Y)
    got = vg(*p, da.from_array(X, chunks=4), da.from_array(Y, chunks=4))
    leaves = got[1] if isinstance(got[1], tuple) else (got[1],)
    assert all(isinstance(v, da.Array) for v in (got[0], *leaves))
    value, grads = dask.compute(*got, scheduler="sync")
    np.testing.assert_allclose(value, want[0], rtol=1e-12)
    wants = want[1] if isinstance(want[1], tuple) else (want[1],)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for i, (g, w) in enumerate(zip(grads, wants)):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(g, fd_grad(fn, (*p, X, Y), i), rtol=1e-5, atol=1e-7)


def plus_sum(W, X):
    return np.sum(X @ W.T) + np.sum(W)


def test_gradient_of_a_copied_parameter_is_a_new_array():
    """The copy is still made for NumPy parts: the gradient never aliases an argument."""
    W = np.ones((2, 3))
    g = gradc.grad(plus_sum, wrt="W", compute=True)(W, da.from_array(np.zeros((4, 3)), chunks=2))
    assert not np.shares_memory(g, W)


def test_a_refusal_of_an_op_gradc_added_points_at_a_line():
    """An op with no location of its own (gradc's, not the user's) is refused at the line of
    the nearest op it reads, else at the function's."""
    from test_primitives import CASES, build
    from gradc.api import compile_program
    from gradc.errors import SourceLoc

    built = build("cumsum", CASES["cumsum"][0], seed=0)
    spec = compile_program(built.program, grouped=True)
    where = SourceLoc("f.py", 3, line="    return f(x)")
    with pytest.raises(CompileError, match="cumsum") as info:
        dask_backend.check((spec.ir, spec.adjoint_ir), [("dask",)] * len(built.program.inputs), where)
    assert info.value.loc is not None and info.value.loc.lineno is not None


def tanh_w(w, X):
    return np.sum(np.tanh(X) * w)


def test_dask_arrays_of_masked_chunks_are_refused():
    Xn = np.random.default_rng(5).normal(size=(40, 3))
    Xm = da.from_array(np.ma.masked_array(Xn, mask=np.abs(Xn) > 1.5), chunks=(10, 3), asarray=False)
    vg = gradc.value_and_grad(tanh_w, wrt="w")
    vg(np.ones(3), da.from_array(Xn, chunks=(10, 3)))  # the same shape, dtype and chunks, plain: compiled
    with pytest.raises(SignatureError, match="MaskedArray") as info:
        vg(np.ones(3), Xm)
    assert info.value.loc is not None


def basic_indexing(W, b, theta, X):
    Z = X @ W
    return (np.mean(Z[::2] ** 2) + np.mean(Z[::-3, 1:] ** 3) + np.sum(Z[5, ...]) + np.sum(Z[..., None, -1])
            + np.sum(W[:, None][1, 0] * b[1:2]) + np.sum(theta[::-2] * X[:3, 0]) + np.sum(theta[7:2] * 0.0)
            + np.sum(X[:, 1:][:, ::2] * theta[4]) + np.sum(W[::2, ::-1]) + np.mean(X @ theta[:3]))


def test_basic_indexing_of_parameters_and_data_stays_lazy_and_exact():
    """The adjoint of x[index] (zeros with ḡ written in) by reshapes and concatenation, not item
    assignment: slices of any step, ints, None, Ellipsis, empty slices."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(16, 3))
    p = (rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=6))
    vg = gradc.value_and_grad(basic_indexing, wrt=("W", "b", "theta"))
    want = vg(*p, X)
    got = vg(*p, da.from_array(X, chunks=(5, 3)))
    assert all(isinstance(v, da.Array) for v in (got[0], *got[1]))
    value, grads = dask.compute(*got, scheduler="sync")
    np.testing.assert_allclose(value, want[0], rtol=1e-12)
    for i, (g, w) in enumerate(zip(grads, want[1])):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(g, fd_grad(basic_indexing, (*p, X), i), rtol=1e-5, atol=1e-7)


XG = da.from_array(np.ones((8, 3)), chunks=4)


def reads_a_global(w):
    return np.mean(np.tanh(XG @ w) ** 2)


def branches_on_parameters(w, X):
    if w[0] > 0:
        return np.mean(X @ w)
    return np.mean((X @ w) ** 2)


def test_refusals_say_what_to_do():
    with pytest.raises(CompileError, match="'XG' is a Dask array .* pass it as an argument") as info:
        gradc.grad(reads_a_global, wrt="w")(np.ones(3))
    assert info.value.loc is not None and info.value.loc.lineno is not None
    with pytest.raises(CompileError, match="whose test is not on the data") as info:
        gradc.grad(branches_on_parameters, wrt="w")(np.ones(3), XG)
    assert info.value.loc is not None
