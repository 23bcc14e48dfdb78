"""Contract regressions: NumPy's value and dtype, the true derivative, or a CompileError."""
import importlib.util

import numpy as np
import pytest

import gradc


# -- NEP 50: a Python-float argument is weak; NumPy functions make it strong, builtins keep it weak

def _s_float64(x, lam): return np.sum(x * np.float64(lam))
def _s_asarray(x, lam): return np.sum(np.asarray(lam) * x)
def _s_array(x, lam): return np.sum(x * np.array(lam))
def _s_add(x, lam): return np.sum(x * np.add(lam, 0.0))
def _s_multiply(x, lam): return np.sum(x * np.multiply(lam, 1.0))
def _s_negative(x, lam): return np.sum(x * np.negative(np.negative(lam)))
def _s_abs(x, lam): return np.sum(x * np.abs(lam))
def _s_maximum(x, lam): return np.sum(x * np.maximum(lam, 0.1))
def _s_round(x, lam): return np.sum(x * np.round(lam, 2))
def _w_abs(x, lam): return np.sum(x) * abs(lam)
def _w_abs2(x, lam): return np.sum(x * abs(lam))
def _w_max(x, lam): return np.sum(x * max(lam, 0.1))
def _w_min(x, lam): return np.sum(x * min(lam, 10.0))
def _w_max_list(x, lam): return np.sum(x * max([0.1, lam]))
def _w_round(x, lam): return np.sum(x * round(lam, 2))
def _w_pow(x, lam): return np.sum(x * pow(lam, 1))
def _w_ops(x, lam): return np.sum(x * (-(lam * 1.0) / -1.0))
def _w_abs_neg(x, lam): return np.sum(x * abs(-lam))


@pytest.mark.parametrize("fn", [_s_float64, _s_asarray, _s_array, _s_add, _s_multiply, _s_negative,
                                _s_abs, _s_maximum, _s_round, _w_abs, _w_abs2, _w_max, _w_min,
                                _w_max_list, _w_round, _w_pow, _w_ops, _w_abs_neg],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_nep50_python_float_through_numpy_and_builtins(fn, dtype):
    x = np.array([np.finfo(dtype).max / 2, 1.5], dtype)  # times 5: inf in dtype, finite in float64
    with np.errstate(all="ignore"):
        ref = fn(x, 5.0)
        got = gradc.compile(fn, wrt=0, args=(x, 5.0)).value(x, 5.0)
    assert np.asarray(got).dtype == np.asarray(ref).dtype, (got, ref)
    assert type(got) is type(ref)
    np.testing.assert_array_equal(got, ref)


def test_numpy_float64_argument_is_strong():
    def f(x, c):
        return np.sum(x * c)
    x = np.array([20000.0], np.float16)
    got = gradc.value_and_grad(f)(x, np.float64(5.0))[0]
    assert got == f(x, np.float64(5.0)) and type(got) is np.float64


# -- saved modules check what they were specialised to, and keep the user's signature

def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sum_tree(p):
    s = 0.0
    for k in p:
        s = s + np.sum(p[k] ** 2)
    return s


def _rnn(W, X):
    h = np.zeros(2)
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + X[t])
    return np.sum(h)


def _lst(ws, lam):
    return lam * np.sum(ws[0] * ws[1][0])


def test_saved_module_checks_tree_structure(tmp_path):
    p = {"a": np.array([1.0, 2.0]), "b": np.array([3.0])}
    m = _load(gradc.compile(_sum_tree, wrt=0, args=(p,)).save(tmp_path / "m_keys.py"), "m_keys")
    v, g = m._sum_tree_value_and_grad(p)
    assert v == 14.0 and list(g) == ["a", "b"]
    with pytest.raises(ValueError, match=r"p: a dict with keys \['a', 'b'\]"):
        m._sum_tree_value_and_grad({**p, "c": np.array([10.0])})
    with pytest.raises(ValueError, match="dict with keys"):
        m._sum_tree_value_and_grad({"b": p["b"], "a": p["a"]})
    with pytest.raises(ValueError, match=r"p\['a'\]: an array of shape \(2,\) and dtype float64"):
        m._sum_tree_value_and_grad({"a": np.array([1.0, 2.0, 3.0]), "b": p["b"]})
    with pytest.raises(ValueError, match=r"float64"):
        m._sum_tree_value_and_grad({"a": p["a"].astype(np.float32), "b": p["b"]})


def test_saved_module_checks_lists_and_floats(tmp_path):
    ws = [np.ones(2), (np.ones(2),)]
    m = _load(gradc.compile(_lst, wrt=(0, 1), args=(ws, 0.5)).save(tmp_path / "m_lst.py"), "m_lst")
    v, (g, glam) = m._lst_value_and_grad(ws, 0.5)
    assert v == 1.0 and type(glam) is float and type(g) is list and type(g[1]) is tuple
    with pytest.raises(ValueError, match=r"ws: a list of length 2"):
        m._lst_value_and_grad(ws + [np.ones(2)], 0.5)
    with pytest.raises(ValueError, match=r"ws\[1\]: a tuple of length 1"):
        m._lst_value_and_grad([ws[0], [np.ones(2)]], 0.5)
    with pytest.raises(ValueError, match="lam: a Python float"):
        m._lst_value_and_grad(ws, np.float32(0.5))


def test_saved_module_checks_shapes(tmp_path):
    rng = np.random.default_rng(0)
    W, X, X5 = rng.normal(size=(2, 2)), rng.normal(size=(3, 2)), rng.normal(size=(5, 2))
    m = _load(gradc.compile(_rnn, wrt=0, args=(W, X)).save(tmp_path / "m_rnn.py"), "m_rnn")
    assert np.isclose(m._rnn_value_and_grad(W, X)[0], _rnn(W, X))
    with pytest.raises(ValueError, match=r"X: an array of shape \(3, 2\)"):
        m._rnn_value_and_grad(W, X5)
    with pytest.raises(ValueError, match=r"X: an array of shape \(3, 2\)"):
        m._rnn(W, X5)
    # the in-process API compiles again for the new shape
    assert np.isclose(gradc.value_and_grad(_rnn)(W, X5)[0], _rnn(W, X5))


def _scaled(x, n):
    return np.sum(x) * n


def test_saved_module_keeps_int_arguments(tmp_path):
    x = np.ones(3)
    m = _load(gradc.compile(_scaled, args=(x, 2)).save(tmp_path / "m_int.py"), "m_int")
    v, g = m._scaled_value_and_grad(x, 2)
    assert v == 6.0 and np.array_equal(g, [2.0, 2.0, 2.0])
    assert m._scaled(x, n=2) == 6.0
    with pytest.raises(ValueError, match="n=2"):
        m._scaled_value_and_grad(x, 3)


# -- a gradient has its argument's type

def _times4(c):
    return c * 4.0


def _times4_tree(p):
    return p["c"] * 4.0


@pytest.mark.parametrize("checkpoint", [None, gradc.Revolve(2)], ids=["plain", "checkpoint"])
@pytest.mark.parametrize("arg", [0.5, np.float64(0.5), np.float32(0.5), np.float16(0.5),
                                 np.array(0.5, np.float32), np.array(0.5)],
                         ids=lambda a: f"{type(a).__name__}-{np.asarray(a).dtype}-{np.ndim(a)}")
def test_gradient_type_follows_argument(arg, checkpoint):
    kw = {} if checkpoint is None else {"checkpoint": checkpoint}
    for fn, wrap, pick in ((_times4, lambda a: a, lambda g: g),
                           (_times4_tree, lambda a: {"c": a}, lambda g: g["c"])):
        g = pick(gradc.grad(fn, **kw)(wrap(arg)))
        assert type(g) is type(arg), (fn.__name__, g)
        assert np.asarray(g).dtype == np.asarray(arg).dtype and np.shape(g) == np.shape(arg)
        assert g == 4.0


def test_gradient_type_in_saved_module(tmp_path):
    m = _load(gradc.compile(_times4, args=(np.float32(0.5),)).save(tmp_path / "m_s.py"), "m_s")
    assert type(m._times4_value_and_grad(np.float32(0.5))[1]) is np.float32
    m = _load(gradc.compile(_times4, args=(np.array(0.5),)).save(tmp_path / "m_a.py"), "m_a")
    g = m._times4_value_and_grad(np.array(0.5))[1]
    assert type(g) is np.ndarray and g.shape == () and g.dtype == np.float64


# -- a Python int out of an integer array's range: NumPy raises OverflowError

def _int8_overflow(x, I8):
    return np.sum(x * (I8 + 300))


def _int8_overflow_np(x, I8):
    return np.sum(x * np.multiply(I8, 1000))


@pytest.mark.parametrize("fn", [_int8_overflow, _int8_overflow_np])
def test_int_out_of_range_is_a_compile_error(fn):
    I8 = np.array([1, 2, 3], np.int8)
    with pytest.raises(OverflowError):
        fn(np.ones(3), I8)
    with pytest.raises(gradc.CompileError, match="OverflowError") as e:
        gradc.value_and_grad(fn)(np.ones(3), I8)
    assert not isinstance(e.value, gradc.errors.InternalError)
    assert e.value.loc.lineno == fn.__code__.co_firstlineno + 1


def _half_power(x, s):
    return np.sum(x) * s ** 0.5


def _reciprocal_of_zero(x, s):
    return np.sum(x) * (1.0 / (s - s))


def test_python_float_arguments_compute_as_numpy_float64():
    """Documented convention: a Python float argument computes as NumPy's float64, so a negative
    base to a fractional power is nan (Python: a complex number, whose gradient gradc would
    silently get wrong) and 1/0 is inf (Python raises ZeroDivisionError), never a complex value."""
    x = np.ones(2)
    with np.errstate(all="ignore"):
        value, (gx, gs) = gradc.value_and_grad(_half_power, wrt=("x", "s"))(x, -4.0)
        assert np.isnan(value) and np.all(np.isnan(gx)) and np.isnan(gs)
        assert not np.iscomplexobj(value) and not np.iscomplexobj(gx)
        value, gx = gradc.value_and_grad(_reciprocal_of_zero, wrt="x")(x, 0.5)
        assert np.isinf(value) and np.all(np.isinf(gx))
    value, (gx, gs) = gradc.value_and_grad(_half_power, wrt=("x", "s"))(x, 4.0)
    assert value == 4.0 and type(gs) is float and gs == 0.5
