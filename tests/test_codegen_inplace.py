"""In-place results in generated code (codegen.statements, `INPLACE_BYTES`): an elementwise
op writes into an operand array (`v4 = np.subtract(v2, v3, out=v2)`) only when that array
was allocated by the function, nothing views it, it is not returned and nothing reads it
afterwards. These tests check that the rewrite is taken where it saves memory, that it never
changes a number (bitwise against the same code without it), never writes into an argument,
a view or a returned array, and that NumPy's ufuncs give the same bits with `out=`."""
import tracemalloc

import numpy as np
import pytest

import gradc
from gradc import codegen
from gradc.nn import log_softmax, sigmoid, softplus
from gradc.primitives import registry

from fixtures.numeric import assert_close, fd_grad

N = 4096  # float64 elements: 32 KiB, above INPLACE_BYTES


def logreg(w, X, y):
    z = X @ w
    return np.mean(softplus(z) - y * z)


def mlp(W1, W2, X, Y):
    h = np.tanh(X @ W1 + 0.5)
    return -np.mean(np.sum(Y * log_softmax(np.maximum(h @ W2, 0.0), axis=1), axis=1))


def transposed(x):
    a = x * 2.0
    b = a.T  # a view of a: a must not be written into while b is read
    c = np.exp(a)
    return np.sum(c * b.T)


def reshaped(x):
    a = x + 1.0
    r = a.reshape(-1)
    c = a * 3.0
    return np.sum(c) + np.sum(r * r)


def sliced(x):
    a = x * x
    s = a[:10]
    c = np.sin(a)
    return np.sum(c) + np.sum(s)


def reads_inputs(x, y):
    return np.sum(np.exp(x) - y) + np.sum(x * y)


def in_a_loop(x, n):
    h = x
    for _ in range(n):
        h = np.tanh(h * 1.5) + h
    return np.sum(h * h)


def chained(x):
    a = np.exp(x) - 1.0
    b = a * a
    c = np.sqrt(b + 1.0)
    return np.sum(c / (1.0 + a * a))


def _cases():
    r = np.random.default_rng(0)
    n, d = 2048, 4
    X = r.normal(size=(n, d))
    y = (r.random(n) < 0.5).astype(float)
    return [
        (logreg, ("w",), (0.1 * r.normal(size=d), X, y)),
        (mlp, ("W1", "W2"), (0.3 * r.normal(size=(8, 64)), 0.3 * r.normal(size=(64, 10)), r.normal(size=(128, 8)),
                             np.eye(10)[r.integers(0, 10, 128)])),
        (transposed, ("x",), (0.1 * r.normal(size=(64, 64)),)),
        (reshaped, ("x",), (r.normal(size=(64, 64)),)),
        (sliced, ("x",), (r.normal(size=N),)),
        (reads_inputs, ("x", "y"), (r.normal(size=N), r.normal(size=N))),
        (in_a_loop, ("x",), (0.1 * r.normal(size=N), 3)),
        (chained, ("x",), (0.5 * r.normal(size=N),)),
    ]


def _compiled(fn, wrt, args, inplace: bool, monkeypatch):
    monkeypatch.setattr(codegen, "INPLACE_BYTES", 8192 if inplace else 1 << 62)
    c = gradc.compile(fn, wrt=wrt)
    c._specs.clear()  # (compiled objects are cached: generate this module anew)
    c._latest = None
    c.specialize(*args)
    return c


def _bits(a):
    a = np.asarray(a)
    return a.dtype, a.shape, a.tobytes()


@pytest.mark.parametrize("fn,wrt,args", _cases(), ids=lambda c: getattr(c, "__name__", ""))
def test_in_place_results_change_no_number(fn, wrt, args, monkeypatch):
    before = [np.copy(a) for a in args if isinstance(a, np.ndarray)]
    plain = _compiled(fn, wrt, args, False, monkeypatch)  # (the same Compiled object as `fast`)
    assert "out=" not in plain.source
    v1, g1 = plain.value_and_grad(*args)
    fast = _compiled(fn, wrt, args, True, monkeypatch)
    v2, g2 = fast.value_and_grad(*args)
    after = [a for a in args if isinstance(a, np.ndarray)]
    assert all(_bits(a) == _bits(b) for a, b in zip(before, after)), "an argument was written into"
    assert _bits(v1) == _bits(v2)
    for a, b in zip(g1, g2):
        assert _bits(a) == _bits(b)
    assert _bits(fast.value(*args)) == _bits(v1)
    # gradients are the caller's: no two share memory, none shares an argument's
    arrays = [g for g in g2 if isinstance(g, np.ndarray)]
    for i, g in enumerate(arrays):
        assert not any(np.shares_memory(g, a) for a in after)
        assert not any(np.shares_memory(g, h) for h in arrays[i + 1:])
    assert_close(v2, fn(*args), rtol=1e-12)
    for k, name in enumerate(wrt):
        pos = fn.__code__.co_varnames.index(name)
        assert_close(g2[k], fd_grad(fn, args, pos), rtol=1e-5, what=name)


def test_taken_where_it_saves_memory_and_not_for_views_loops_or_small_arrays(monkeypatch):
    cases = {fn.__name__: (fn, wrt, args) for fn, wrt, args in _cases()}
    src = _compiled(*cases["logreg"], True, monkeypatch).source
    assert "v4 = np.subtract(v2, v3, out=v2)" in src  # softplus(z) - y * z, in softplus(z)'s array
    src = _compiled(*cases["chained"], True, monkeypatch).source
    assert src.count("out=") >= 2
    for name in ("transposed", "reshaped", "sliced"):  # a view of `a` is read: never written into
        src = _compiled(*cases[name], True, monkeypatch).source
        assert "out=v1)" not in src, name
    src = _compiled(*cases["in_a_loop"], True, monkeypatch).source
    body = src[src.index("for "):src.index("# reverse sweep")]
    assert "out=" not in body
    assert "out=" not in _compiled(chained, ("x",), (np.ones(16),), True, monkeypatch).source


def test_in_place_lowers_peak_memory(monkeypatch):
    fn, wrt, args = _cases()[0]
    peaks = []
    for inplace in (False, True):
        c = _compiled(fn, wrt, args, inplace, monkeypatch)
        c.value_and_grad(*args)
        tracemalloc.start()
        tracemalloc.reset_peak()
        c.value_and_grad(*args)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    n = args[1].shape[0] * 8
    assert peaks[1] <= peaks[0] - n // 2, peaks  # one vector of n float64 fewer at the peak


def _in_place_cases():
    """(primitive, dtype) where the primitive may be written in place on arrays of that dtype:
    a ufunc (the rewrite's condition) whose result on such operands has their dtype."""
    out = []
    for p in registry.all():
        if not (p.elementwise and isinstance(p.impl, np.ufunc) and p.impl.nout == 1 and p.name != "pow"
                and getattr(np, p.impl.__name__, None) is p.impl):
            continue
        for dtype in (np.float64, np.bool_):
            try:
                with np.errstate(all="ignore"):
                    probe = p.impl(*[np.ones(2, dtype)] * p.impl.nin)
            except TypeError:
                continue
            if probe.dtype == dtype:
                out.append((p, dtype))
    return out


@pytest.mark.parametrize("prim,dtype", _in_place_cases(), ids=lambda c: getattr(c, "name", getattr(c, "__name__", "")))
@pytest.mark.parametrize("shape", [(1031,), (64, 33)])
def test_ufuncs_give_the_same_bits_written_in_place(prim, dtype, shape):
    """What the rewrite relies on: ufunc(a, b, out=a) computes what ufunc(a, b) does, for
    every primitive it may be applied to (SIMD loops with exact overlap included), into
    either operand, with the other broadcast or not."""
    r = np.random.default_rng(1)
    lo, hi = prim.domain
    full = [r.uniform(lo, hi, size=shape).astype(dtype) if dtype is np.float64 else r.random(shape) < 0.5
            for _ in range(prim.impl.nin)]
    variants = [full]
    if prim.impl.nin == 2:
        variants += [[full[0], full[1][..., :1]], [full[0][..., :1], full[1]]]
    checked = 0
    for operands in variants:
        for k in range(prim.impl.nin):
            if operands[k].shape != shape:
                continue
            with np.errstate(all="ignore"):
                want = prim.impl(*operands)
                target = [np.copy(a) for a in operands]
                got = prim.impl(*target, out=target[k])
            assert got is target[k] and got.dtype == want.dtype
            assert got.tobytes() == want.tobytes(), (prim.name, k, [a.shape for a in operands])
            checked += 1
    assert checked >= 1


# -- np.where(k, x, 0) without a branch per element (runtime.support.where_zero) ----------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("keep_where", [True, False])
def test_where_zero_is_np_where_bit_for_bit(dtype, keep_where):
    from gradc.runtime.support import where_zero

    r = np.random.default_rng(2)
    x = r.normal(size=(67, 31)).astype(dtype)
    x.flat[:8] = [-0.0, 0.0, np.inf, -np.inf, np.nan, -np.nan, 1e-45, -5e-324]
    k = r.random(x.shape) < 0.5
    k.flat[:8] = [True, False, True, False, True, False, True, True]
    want = np.where(k, x, 0.0) if keep_where else np.where(k, 0.0, x)
    for kk, xx in [(k, x), (k.T, x.T), (k[::2], x[::2]), (k[0], x[0])]:  # views take np.where itself
        w = np.where(kk, xx, 0.0) if keep_where else np.where(kk, 0.0, xx)
        got = where_zero(kk, xx, keep_where)
        assert type(got) is np.ndarray and got.dtype == w.dtype and got.shape == w.shape
        assert got.tobytes() == w.tobytes() and got.strides == w.strides
    assert where_zero(k, x, keep_where).tobytes() == want.tobytes()
    assert where_zero(np.bool_(True), np.float64(2.0)) == np.where(True, 2.0, 0)  # other kinds: np.where


def relu_net(W, X):
    h = np.maximum(X @ W, 0.0)
    z = X @ W
    return np.sum(np.where(h > 0.5, (h - 0.5) ** 2, 0.0)) + np.sum(np.where(z < -0.5, 0.0, z + 0.5) ** 2)


def test_relu_masks_use_where_zero_and_give_np_where_bits(monkeypatch):
    r = np.random.default_rng(4)
    args = (r.normal(size=(16, 128)), r.normal(size=(64, 16)))
    plain = _compiled(relu_net, "W", args, False, monkeypatch)
    assert "where_zero" not in plain.source
    v1, g1 = plain.value_and_grad(*args)
    fast = _compiled(relu_net, "W", args, True, monkeypatch)
    assert fast.source.count("where_zero(") >= 3 and "where_zero(condition, x, keep_where=True)" in fast.source
    v2, g2 = fast.value_and_grad(*args)
    assert _bits(v1) == _bits(v2) and _bits(g1) == _bits(g2)
    assert_close(g2, fd_grad(relu_net, args, 0), rtol=1e-5)
    listing = str(fast.adjoint_ir) + str(fast.trace(*args))
    assert "where(" in listing and "where_zero" not in listing and "out=" not in listing  # the program's ops
