"""Python numbers as NumPy sees them, and Python's round().

* In ufuncs and operators a Python number is weak (NEP 50): np.copysign(2.0, x32) is float32,
  also where gradc rewrites the ufunc into a select of constants (copysign, sign, heaviside,
  clip, maximum, where, ...).
* NumPy functions that are not ufuncs (np.dot, np.inner, np.kron, x.dot, np.clip's `a`) convert
  their operands with np.asarray: a Python number there is a strong float64/int64 array, so
  np.dot(x32, 0.5) is float64.
* round(x, n): an ndarray (0-d too) has no __round__ (TypeError), so it is refused; a NumPy
  scalar rounds as np.round in its dtype; a Python float as Python's round (correctly rounded,
  which np.round is not at some ties); round(x) is a Python int, refused on traced values.

Each function runs under NumPy and compiled: value bits, dtype and type must be NumPy's, and
the gradient must match central finite differences.
"""
import numpy as np
import pytest

import gradc
from gradc.errors import UnsupportedFunction, UnsupportedSyntax
from fixtures.numeric import assert_close, fd_grad

DTYPES = [np.float16, np.float32, np.float64]
X = [0.3, -0.45, 0.6, 0.15]


# -- weak Python numbers in ufuncs rewritten into selects and constants -------------------------

def copysign_first(x): return np.sum(np.copysign(2.0, x) * x)
def copysign_second(x): return np.sum(np.copysign(x, -1.0) * x)
def copysign_int(x): return np.sum(np.copysign(2, x) * x)
def copysign_both(x): return np.sum(np.copysign(0.5, x) + np.copysign(x, 0.5))
def sign_times(x): return np.sum(np.sign(x) * 2.0 * x)
def heaviside_weak(x): return np.sum(np.heaviside(x, 0.5) * x + np.heaviside(0.5, x))
def clip_weak(x): return np.sum(np.clip(x, 0.1, 0.5) * x + np.clip(x, 0, 1))
def clip_method(x): return np.sum(x.clip(-0.5, None) * x)
def max_min_weak(x): return np.sum(np.maximum(x, 0.1) * np.minimum(0.2, x))
def fmax_fmin_weak(x): return np.sum(np.fmax(0.5, x) * np.fmin(x, 0))
def where_weak(x): return np.sum(np.where(x > 0, x, 0.5) + np.where(x > 0, 1.5, -1.5) * x)
def select_weak(x): return np.sum(np.select([x > 0], [x], default=0.5) * x)
def copysign_arg(x, s): return np.sum(np.copysign(s, x) * x)
def heaviside_arg(x, s): return np.sum(np.heaviside(x, s) * x)
def clip_arg(x, s): return np.sum(np.clip(x, -s, s) * x)
def where_arg(x, s): return np.sum(np.where(x > 0, x, s) * x)
def select_default_arg(x, s): return np.sum(np.select([x > 0], [x], default=s) * x)
def select_choice_arg(x, s): return np.sum(np.select([x > 0], [s], default=x) * x)

# -- NumPy functions that are not ufuncs: a Python number is a strong array ----------------------

def dot_float(x): return np.sum(np.dot(x, 0.5) * x)
def dot_float_left(x): return np.sum(np.dot(0.5, x) * x)
def dot_int(x): return np.sum(np.dot(x, 2) * x)
def dot_bool(x): return np.sum(np.dot(x, True) * x)
def dot_method(x): return np.sum(x.dot(0.5) * x)
def inner_float(x): return np.sum(np.inner(x, 0.5) * x)
def inner_int_left(x): return np.sum(np.inner(2, x) * x)
def kron_float(x): return np.sum(np.kron(x, 0.5) * x)
def kron_int_left(x): return np.sum(np.kron(2, x) * x)
def clip_python_a(x): return np.sum(np.clip(0.3, x - 1, x + 1) * x)
def tensordot_float(x): return np.sum(np.tensordot(x, 0.5, 0) * x)
def outer_float(x): return np.sum(np.outer(x, 0.5) * x[:, None])
def einsum_float(x): return np.sum(np.einsum("i,->i", x, 0.5) * x)
def convolve_float(x): return np.sum(np.convolve(x, 0.5) * x)
def append_float(x): return np.sum(np.append(x, 0.5) ** 2)
def hstack_float(x): return np.sum(np.hstack([0.5, x]) ** 2)
def dot_arg(x, s): return np.sum(np.dot(x, s) * x)
def dot_arg_left(x, s): return np.sum(np.dot(s, x) * x)
def dot_method_arg(x, s): return np.sum(x.dot(s) * x)
def inner_arg(x, s): return np.sum(np.inner(x, s) * x)
def kron_arg(x, s): return np.sum(np.kron(s, x) * x)
def clip_python_a_arg(x, s): return np.sum(np.clip(s, x - 1, x + 1) * x)
def einsum_arg(x, s): return np.sum(np.einsum("i,->i", x, s) * x)

ONE_ARG = [copysign_first, copysign_second, copysign_int, copysign_both, sign_times, heaviside_weak,
           clip_weak, clip_method, max_min_weak, fmax_fmin_weak, where_weak, select_weak, dot_float,
           dot_float_left, dot_int, dot_bool, dot_method, inner_float, inner_int_left, kron_float,
           kron_int_left, clip_python_a, tensordot_float, outer_float, einsum_float, convolve_float,
           append_float, hstack_float]
WITH_S = [copysign_arg, heaviside_arg, clip_arg, where_arg, select_default_arg, select_choice_arg,
          dot_arg, dot_arg_left, dot_method_arg, inner_arg, kron_arg, clip_python_a_arg, einsum_arg]


def _same(got, ref):
    assert type(got) is type(ref), (got, ref)
    assert np.asarray(got).dtype == np.asarray(ref).dtype, (got, ref)
    assert np.asarray(got).tobytes() == np.asarray(ref).tobytes(), (got, ref)


def _check(fn, x, *rest):
    ref = fn(x.copy(), *rest)
    value, grad = gradc.value_and_grad(fn, wrt=0)(x.copy(), *rest)
    _same(value, ref)
    assert grad.dtype == x.dtype and grad.shape == x.shape
    if x.dtype == np.float64:
        assert_close(grad, fd_grad(fn, [x, *rest], 0), what=fn.__name__)
    return value


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("fn", ONE_ARG, ids=lambda f: f.__name__)
def test_python_number_written_in_the_call(fn, dtype):
    _check(fn, np.array(X, dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("fn", WITH_S, ids=lambda f: f.__name__)
def test_python_float_passed_as_an_argument(fn, dtype):
    _check(fn, np.array(X, dtype), 0.5)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: d.__name__)
@pytest.mark.parametrize("fn", [copysign_first, sign_times, where_weak, dot_float, dot_int, kron_float],
                         ids=lambda f: f.__name__)
def test_numpy_scalar_and_0d_operands(fn, dtype):
    for x in (dtype(0.3), np.array(-0.45, dtype)):
        ref = fn(x)
        value, grad = gradc.value_and_grad(fn, wrt=0)(x)
        _same(value, ref)
        assert type(grad) is type(x) and np.asarray(grad).dtype == dtype


def test_the_reported_dtypes():
    """The two reports: copysign of a weak 2.0 is float32; dot/inner/kron with 0.5 are float64."""
    x = np.array(X, np.float32)
    assert type(gradc.value_and_grad(copysign_first)(x)[0]) is np.float32
    for fn in (dot_float, dot_int, inner_float, kron_float):
        assert type(gradc.value_and_grad(fn)(x)[0]) is np.float64, fn.__name__


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.uint8, np.bool_], ids=lambda d: d.__name__)
def test_integer_arrays_meet_python_numbers_as_numpy_has_it(dtype):
    def f(w, xi):
        return w * np.sum(np.dot(xi, 2) + np.kron(2, xi) + np.inner(xi, 2) + np.copysign(2, xi)
                          + np.clip(2, xi, 3) + np.maximum(xi, 2))
    xi = np.array([1, 0, 3], dtype)
    w = np.float32(1.5)
    _same(gradc.value_and_grad(f, wrt=0)(w, xi)[0], f(w, xi))


# -- Python's round() --------------------------------------------------------------------------

def round_array(w): return np.sum(round(w * 3, 1) * w)
def round_0d_array(w): return np.sum(round(np.asarray(w[0]), 1) * w)
def round_where(w): return round(np.where(w[0] > 0, w[0], w[1]), 1) * w[0]
def round_no_ndigits(w): return round(w[1]) * w[0]
def round_none_ndigits(w): return round(np.sum(w), None) * w[0]
def round_scalar(s): return round(s, 1) * s
def round_scalar_keyword(s): return round(s * 3.0, ndigits=2) * s
def round_items(w): return round(np.sum(w), 2) * w[0] + round(w[1], 1) * w[2] + round(w.mean(), 3)
def round_tree(p): return round(p["a"], 1) * p["a"]
def round_float_arg(x, lam): return np.sum(x * round(lam, 8)) + lam * np.sum(x)


@pytest.mark.parametrize("fn,arg,line", [
    (round_array, np.array(X), "round(w * 3, 1)"),
    (round_0d_array, np.array(X), "round(np.asarray(w[0]), 1)"),
    (round_where, np.array(X), "round(np.where"),
    (round_scalar, np.array(2.56), "round(s, 1)"),
    (round_tree, {"a": np.array(2.56)}, "round(p[\"a\"], 1)"),
], ids=["1-d", "0-d np.asarray", "0-d np.where", "0-d argument", "0-d tree leaf"])
def test_round_of_an_array_is_refused(fn, arg, line):
    with pytest.raises(TypeError, match="__round__"):
        fn(arg)  # NumPy: an ndarray has no __round__
    with pytest.raises(UnsupportedSyntax, match=r"round\(\).*np\.round\(x, 1\)") as info:
        gradc.value_and_grad(fn)(arg)
    assert info.value.loc.function == fn.__name__ and line in info.value.loc.line


@pytest.mark.parametrize("fn", [round_no_ndigits, round_none_ndigits])
def test_round_without_ndigits_is_refused(fn):
    assert type(round(np.float64(2.5))) is int  # a Python int: unbounded, raises on inf and nan
    with pytest.raises(UnsupportedFunction, match=r"round\(x\).*Python int.*np\.round\(x\)"):
        gradc.value_and_grad(fn)(np.array(X))


@pytest.mark.parametrize("s", [np.float16(2.56), np.float32(2.56), np.float64(761074.295067845),
                               np.float32(-0.35)], ids=lambda s: type(s).__name__ + repr(float(s)))
@pytest.mark.parametrize("fn", [round_scalar, round_scalar_keyword])
def test_round_of_a_numpy_scalar_is_its_round(fn, s):
    ref = fn(s)
    value, grad = gradc.value_and_grad(fn)(s)
    _same(value, ref)
    assert type(grad) is type(s)
    if s.dtype == np.float64 and abs(s) < 10:  # (steps of 1e-6 at 7e5 are below the float spacing)
        assert_close(grad, fd_grad(fn, [s], 0), what=fn.__name__)


def test_round_of_numpy_scalar_results():
    x = np.array([0.31, -0.452, 0.6, 0.15])  # no rounding tie within a finite-difference step
    value, grad = gradc.value_and_grad(round_items)(x)
    _same(value, round_items(x))
    assert_close(grad, fd_grad(round_items, [x], 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_of_a_numpy_scalar_tree_leaf(dtype):
    p = {"a": dtype(2.56)}
    value, grad = gradc.value_and_grad(round_tree)(p)
    _same(value, round_tree(p))
    assert type(grad["a"]) is dtype


@pytest.mark.parametrize("lam", [761074.295067845, 409440.561150255, 0.123456789, -2.675])
def test_round_of_a_python_float_is_pythons(lam):
    """At these ties np.round(lam, 8) (lam * 1e8, rounded, divided back) differs from round()."""
    x = np.array(X)
    if abs(lam) > 1e5:
        assert round(lam, 8) != float(np.round(lam, 8))
    value, (gx, glam) = gradc.value_and_grad(round_float_arg, wrt=(0, 1))(x, lam)
    _same(value, round_float_arg(x, lam))
    assert_close(gx, fd_grad(round_float_arg, [x, lam], 0))
    assert type(glam) is float and glam == pytest.approx(float(np.sum(x)))


def test_round_of_a_python_float_under_hessian_and_vmap():
    def g(lam):
        return round(lam, 2) * lam * lam
    assert gradc.hessian(g)(0.123456) == pytest.approx(2 * 0.12)
    lams = np.array([0.1234, 0.5678])
    np.testing.assert_allclose(gradc.vmap(g)(lams), [g(v) for v in lams], rtol=1e-15)


def test_a_numpy_scalar_argument_is_rebound_not_written():
    """`s += 1.0` of a NumPy scalar rebinds s (a scalar is immutable), as in NumPy."""
    def f(s):
        s += 1.0
        return round(s, 1) * s
    s = np.float32(2.56)
    value, grad = gradc.value_and_grad(f)(s)
    _same(value, f(s))


def test_parameters_named_like_builtins_the_code_calls():
    """The generated code calls round() and float(): a parameter with that name is renamed."""
    def f(x, float):
        return np.sum(x * round(float, 8)) + float
    x, lam = np.array(X), 761074.295067845
    value, (gx, glam) = gradc.value_and_grad(f, wrt=(0, 1))(x, lam)
    _same(value, f(x, lam))
    assert type(glam) is float and glam == 1.0


# -- attributes a Python number or a NumPy scalar does not have ----------------------------------

def attr_dot(s): return s.dot(0.5) * s
def attr_sum(s): return s.sum() * s
def attr_clip(s): return s.clip(0, 1) * s
def attr_shape(s): return s * len(s.shape)
def attr_dot_of_sum(w): return np.sum(w).dot(2.0)
def attr_mean_of_sum(w): return np.sum(w).mean() * np.sum(w).T


@pytest.mark.parametrize("fn,arg", [
    (attr_dot, 0.5), (attr_sum, 0.5), (attr_clip, 0.5), (attr_shape, 0.5),
    (attr_dot, np.float32(0.5)), (attr_dot_of_sum, np.array(X)),
], ids=["float.dot", "float.sum", "float.clip", "float.shape", "float32.dot", "sum().dot"])
def test_attribute_python_raises_for_is_refused(fn, arg):
    with pytest.raises(AttributeError):
        fn(arg)
    with pytest.raises(UnsupportedSyntax, match="AttributeError") as info:
        gradc.value_and_grad(fn)(arg)
    assert info.value.loc.function == fn.__name__


@pytest.mark.parametrize("fn,arg", [
    (attr_dot, np.array(0.5)), (attr_sum, np.float64(0.5)), (attr_clip, np.float16(0.5)),
    (attr_mean_of_sum, np.array(X)),
], ids=["0-d.dot", "float64.sum", "float16.clip", "sum().mean"])
def test_attributes_numpy_has_still_work(fn, arg):
    ref = fn(arg)
    value, grad = gradc.value_and_grad(fn)(arg)
    _same(value, ref)
    if np.asarray(arg).dtype == np.float64:
        assert_close(grad, fd_grad(fn, [arg], 0))


def test_round_of_python_floats_batched_is_pythons_for_each():
    """vmap's rule for round_float: each example rounded by Python's round, ties included."""
    from gradc import codegen
    from gradc.ad.batching import batch_with_report
    from gradc.ir import Aval, Builder, Program, Value
    from gradc.runtime import loader

    lam = Value(Aval((), np.dtype(np.float64)), "lam")
    lam.pytype = float
    b = Builder()
    with b:
        out = b.bind("round_float", lam, ndigits=8)
    batched, fallbacks = batch_with_report(Program("f", [lam], b.ops, [out]), (0,), 3)
    assert not fallbacks
    source = codegen.single_function_module(batched, "batched", "a batched test program", "a test")
    fn = loader.load(source, "batched", codegen.constants(batched, avoid=("batched",)))["batched"]
    lams = np.array([761074.295067845, 409440.561150255, -2.675])
    got = fn(lams)
    assert got.dtype == np.float64 and got.tolist() == [round(v, 8) for v in lams.tolist()]
    assert got.tolist() != np.round(lams, 8).tolist()
