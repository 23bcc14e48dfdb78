"""The NumPy functions added for gradc issue #12 (autograd's test surface), through the frontend.

Each lowering's value against NumPy running the same source, its gradient against central
finite differences, dtypes kept as NumPy keeps them, and the cases it refuses. Families:
Python's operator functions (frontend/numpy_operator.py), complex-part functions on real
arrays (numpy_realparts.py), np.gradient (numpy_gradient.py), pieces and windows
(numpy_pieces.py), np.partition, np.ravel, integer casts and std over one element (numpy_more.py).
"""
from __future__ import annotations

import operator

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import gradc
from fixtures.numeric import differentiable_positions, fd_grad
from gradc.errors import CompileError

RNG = np.random.default_rng(12)
pytestmark = pytest.mark.filterwarnings("ignore:`row_stack` alias is deprecated:DeprecationWarning",
                                        "ignore:invalid value:RuntimeWarning")


def _n(*shape):
    return RNG.standard_normal(shape)


def check(fn, *args, rtol=1e-6, atol=1e-7):
    """Value (and dtype) as NumPy's; every float argument's gradient against central differences."""
    wrt = differentiable_positions(args)
    value, grads = gradc.value_and_grad(fn, wrt=wrt)(*args)
    want = fn(*args)
    assert np.result_type(value) == np.result_type(want), f"{np.result_type(value)} != {np.result_type(want)}"
    np.testing.assert_allclose(value, want, rtol=1e-12, atol=1e-12)
    for g, i in zip(grads, wrt):
        assert np.shape(g) == np.shape(args[i])
        np.testing.assert_allclose(g, fd_grad(fn, args, i), rtol=rtol, atol=atol,
                                   err_msg=f"{fn.__name__}: gradient w.r.t. argument {i}")
    return grads


def same_as_numpy(fn, *args):
    """The compiled function's value is NumPy's, bit for bit, with its dtype."""
    got = gradc.compile(fn, wrt=differentiable_positions(args)[0], args=args).value(*args)
    want = fn(*args)
    assert np.result_type(got) == np.result_type(want)
    np.testing.assert_array_equal(got, want)


# -- operator -----------------------------------------------------------------------------------


def op_arith(x, y, c):
    return np.sum((operator.add(x, y) * operator.sub(x, y) + operator.mul(x, y) / operator.truediv(y, 2.0)
                   + operator.pow(np.abs(x) + 1.0, y) + operator.mod(x, 0.7) + operator.neg(y)) * c)


def op_matmul(A, B):
    return np.sum(operator.matmul(A, B) ** 2) + np.sum(operator.floordiv(A, 0.3))


def op_weak(x, lam):
    return np.sum(operator.mul(x, lam))


def op_python_floats(lam):
    return operator.mul(lam, 2.0)


def test_operator_functions_are_the_operators():
    check(op_arith, _n(3, 2), _n(2) + 3.0, _n(3, 2))
    check(op_arith, np.float64(0.4), _n(3) + 3.0, _n(3))
    check(op_matmul, _n(2, 3), _n(3, 4))


def test_operator_keeps_numpys_dtypes():
    x32 = _n(4).astype(np.float32)
    value, g = gradc.value_and_grad(op_weak)(x32, 0.5)
    assert np.result_type(value) == np.float32 and g.dtype == np.float32


def test_operator_on_python_floats_only_is_refused():
    with pytest.raises(CompileError, match="a \\* b"):
        gradc.grad(op_python_floats)(0.5)


# -- complex-part functions of real arrays --------------------------------------------------------


def parts(x, c):
    return np.sum((np.real(x) + np.imag(x) + np.conj(x) * np.conjugate(x) + np.angle(x)
                   + np.angle(x, deg=True) / 90 + np.real_if_close(x)) * c)


def parts_scalar(x):
    return np.conj(x) + np.angle(x) + np.real_if_close(x)


def real_of_python_float(x):
    return np.real(x) * 2.0


def test_complex_parts_of_real_arrays():
    check(parts, _n(3, 4), _n(3, 4))
    check(parts_scalar, -0.8)
    # angle: pi at -0.0 and below, 0 at +0.0 and above, NaN at NaN, as NumPy
    same_as_numpy(parts, np.array([-1.0, -0.0, 0.0, 2.0, np.nan]), np.ones(5))
    same_as_numpy(parts, _n(5).astype(np.float32), np.ones(5, dtype=np.float32))


def test_real_and_imag_of_a_python_float_are_refused():
    with pytest.raises(CompileError, match="Python float"):
        gradc.grad(real_of_python_float)(0.5)


# -- np.gradient -----------------------------------------------------------------------------------


def grad_default(f, c):
    return np.sum(np.gradient(f) * c)


def grad_all_axes(f, c):
    g0, g1 = np.gradient(f, edge_order=2)
    return np.sum(g0 * c) + np.sum(g1 * c ** 2)


def grad_axis(f, c):
    return np.sum(np.gradient(f, 0.5, axis=-1, edge_order=2) * c) + np.sum(np.gradient(f, axis=0) * c)


COORDS = np.array([0.0, 0.3, 1.0, 1.2, 2.0])


def grad_coordinates(f, c):
    return (np.sum(np.gradient(f, COORDS, 2.0, axis=(0, 1))[0] * c)
            + np.sum(np.gradient(f, COORDS, np.arange(4), edge_order=2)[1] * c))


def grad_traced_spacing(f, h):
    return np.sum(np.gradient(f, h))


def grad_too_short(f):
    return np.sum(np.gradient(f, edge_order=2))


def test_np_gradient_values_and_derivatives():
    check(grad_default, _n(6), _n(6))
    check(grad_default, _n(2), _n(2))
    check(grad_all_axes, _n(4, 5), _n(4, 5))
    check(grad_axis, _n(3, 4, 5), _n(3, 4, 5))
    check(grad_coordinates, _n(5, 4), _n(5, 4))


def test_np_gradient_is_numpys_bit_for_bit():
    same_as_numpy(grad_coordinates, _n(5, 4), np.ones((5, 4)))
    same_as_numpy(grad_axis, _n(3, 4, 5).astype(np.float32), np.ones((3, 4, 5), dtype=np.float32))
    same_as_numpy(grad_all_axes, np.arange(12).reshape(3, 4), np.ones((3, 4)))  # integers: float64


def test_np_gradient_refusals():
    with pytest.raises(CompileError, match="spacings"):
        gradc.grad(grad_traced_spacing)(_n(5), 0.5)
    with pytest.raises(CompileError, match="too small"):
        gradc.grad(grad_too_short)(_n(2))


# -- np.partition ------------------------------------------------------------------------------------


def part_loss(x, c):
    return np.sum(np.partition(x, 3) * c) + np.sum(np.partition(x, (0, -1), axis=None) * c.ravel())


def part_axis(x, c):
    return np.sum(np.partition(x, [1, 2], axis=0) * c)


def test_partition_is_numpys_and_its_gradient_follows_the_values():
    x = _n(7)
    check(part_loss, x, _n(7))
    check(part_axis, _n(4, 3), _n(4, 3))
    same_as_numpy(part_loss, _n(9), np.arange(9.0))
    x = np.array([3.0, 1.0, 2.0, 1.0, 5.0, 0.5, 2.0])  # ties: NumPy's own arrangement
    same_as_numpy(part_loss, x, np.arange(7.0))
    g = gradc.grad(part_loss)(x, np.ones(7))
    np.testing.assert_allclose(g, 2 * np.ones(7))  # every element lands in exactly one slot


# -- pieces: stacking, splitting, select, windows, indices ---------------------------------------------


def stacks(a, b, c):
    return (np.sum(np.column_stack([a, b]) * c) + np.sum(np.row_stack((a, b)) ** 2)
            + np.sum(np.dstack([a, b]) ** 3) + np.sum(np.hstack(np.vstack([a, b]))))


def splits(x, c):
    top, bottom = np.vsplit(x, 2)
    left, mid, right = np.hsplit(x, [1, 3])
    return np.sum(top * bottom) + np.sum(left ** 2) + np.sum(mid * c) + np.sum(right)


def dsplits(x):
    p, q = np.dsplit(x, 2)
    return np.sum(p * q)


def select_loss(x, y, m1, m2):
    out = np.select([m1, m2], [x, y * 2.0], default=-1.5)
    return np.sum(out ** 2)


def select_scalar_choice(x, m):
    return np.sum(np.select([m, ~m], [x, 3.0]))


def windows(x, c):
    w = sliding_window_view(x, 3)
    return np.sum(np.max(w, axis=-1) * c) + np.sum(w[::2] ** 2)


def windows_2d(x):
    w = sliding_window_view(x, (2, 2))
    return np.sum(w.mean(axis=(-1, -2)) ** 2) + np.sum(sliding_window_view(x, 2, axis=0) ** 3)


def window_update(x):
    w = sliding_window_view(x, 2)
    w += 1.0
    return np.sum(w)


def upper_pairs(S):
    i, j = np.triu_indices_from(S, 1)
    return np.sum(S[i, j] ** 2) + np.sum(S[np.tril_indices_from(S)])


def test_stacking_functions():
    check(stacks, _n(4), _n(4), _n(4, 2))
    check(splits, _n(4, 5), _n(4, 2))
    check(dsplits, _n(2, 3, 4))


def rows_of_one_array(x, c):
    return np.sum(np.hstack(x) * np.hstack(c)) + np.sum(np.vstack(x) ** 2) + np.sum(np.concatenate(x) ** 3)


def test_stacking_one_array_iterates_over_its_rows():
    check(rows_of_one_array, _n(3, 2), _n(3, 2))
    check(rows_of_one_array, _n(2, 2, 3), _n(2, 2, 3))


def test_select():
    m1, m2 = RNG.random((3, 4)) > 0.5, RNG.random((3, 4)) > 0.3
    check(select_loss, _n(3, 4), _n(4), m1, m2)
    check(select_scalar_choice, _n(5), RNG.random(5) > 0.5)
    same_as_numpy(select_loss, _n(3, 4).astype(np.float32), _n(4).astype(np.float32), m1, m2)


def test_sliding_window_view():
    check(windows, _n(7), _n(5))
    check(windows_2d, _n(4, 3))
    with pytest.raises(CompileError):
        gradc.grad(window_update)(_n(5))  # NumPy's windows are read-only


def test_indices_from_a_traced_array():
    check(upper_pairs, _n(4, 4))


# -- np.ravel, integer casts, std over one element ------------------------------------------------------


def ravel_and_cast(x, W):
    idx = np.int64(x * 0 + np.array([0.2, 1.7, -1.2]))  # truncation: 0, 1, -1
    return np.sum(np.ravel(W)[idx] ** 2) + np.sum(np.ravel(W, order="F")[:3] * x)


def std_of_one(x, y):
    return np.std(x) + np.sum(np.std(y, axis=0)) + np.sum(y.std(axis=0, ddof=-1)) + np.sum(np.std(y, axis=1))


def test_ravel_and_integer_casts():
    check(ravel_and_cast, _n(3), _n(3, 4))


def test_std_over_one_element_has_gradient_zero():
    """std of one element is identically 0 (so is its derivative): not sqrt'(0) * 0 = NaN."""
    x, y = 0.7, _n(1, 3)
    gx, gy = check(std_of_one, x, y)
    assert gx == 0.0
    same_as_numpy(std_of_one, np.float64(np.inf), y)  # NaN, as NumPy


# -- every parameter: NumPy's value exactly, or a CompileError (never silently ignored) ---------------

CALLS = [
    "np.partition(X, 1)", "np.partition(X, 1, axis=0)", "np.partition(X, (0, 2), axis=-1)",
    "np.partition(X, 4, axis=None)", "np.partition(X, 3)", "np.partition(X, 1, kind='introselect')",
    "np.partition(X, 1, order='x')", "np.partition(X, 1.5)", "np.partition(X, [])",
    "np.gradient(X)[0]", "np.gradient(X, axis=1)", "np.gradient(X, 2.0, axis=0)", "np.gradient(X, 2, 3)[1]",
    "np.gradient(X, edge_order=2, axis=1)", "np.gradient(X, edge_order=3)", "np.gradient(X, edge_order=0)",
    "np.gradient(X, [0.0, 1.0], [0.0, 0.5, 2.0])[1]", "np.gradient(X, [0.0, 1.0, 2.0], axis=0)",
    "np.gradient(V, np.array([1, 2, 4]))", "np.gradient(X, axis=(1, 0))[0]", "np.gradient(X, axis=5)",
    "np.gradient(X, 1.0, 2.0, 3.0)", "np.gradient(X[:, :1], axis=1)",
    "np.real(X)", "np.imag(X)", "np.conj(X)", "np.conjugate(V)", "np.angle(X)", "np.angle(X, deg=True)",
    "np.angle(X, True)", "np.real_if_close(X)", "np.real_if_close(X, tol=1000)", "np.angle(X > 0)",
    "np.angle((X * 10).astype(np.int8))", "np.angle((X * 10).astype(np.int16), deg=True)",
    "np.angle((X * 10).astype(np.int64))", "np.imag(X > 0)", "np.real(X.astype(np.float32))",
    "np.column_stack([X, X])", "np.column_stack((V, V))", "np.column_stack([V[0], V[1]])",
    "np.row_stack([X, V])", "np.row_stack([X, X], dtype=np.float32)", "np.row_stack([X, X], casting='no')",
    "np.dstack([X, X])", "np.dstack([V, V])", "np.dstack([V[0], V[1]])", "np.dstack([X, V])",
    "np.vsplit(Y, 3)[1]", "np.vsplit(Y, [1])[1]", "np.vsplit(V, 3)", "np.hsplit(Y, [1, 2])[2]",
    "np.hsplit(V, 3)[0]", "np.hsplit(X, 2)", "np.dsplit(X, 1)", "np.vsplit(Y, 2)",
    "np.select([X > 0.3, X > 0.1], [X, Y23])", "np.select([X > 0.3], [X], default=2.5)",
    "np.select([X > 0.3], [X], 7)", "np.select([X > 0.3], [1.5])", "np.select([X], [X])",
    "np.select([X > 0.3], [X, X])", "np.select([V > 0.3], [X])", "np.select([X > 0.3], [V])",
    "np.select([X > 0.3], [X.astype(np.float32)], default=0.5)",
    "sliding_window_view(V, 2)", "sliding_window_view(X, (2, 2))", "sliding_window_view(X, 2, axis=0)",
    "sliding_window_view(X, (2, 2), axis=(1, 1))", "sliding_window_view(X, 4)", "sliding_window_view(X, 2)",
    "sliding_window_view(X, 2, axis=1, writeable=True)", "sliding_window_view(X, 2, axis=1, subok=True)",
    "sliding_window_view(X, -1, axis=1)", "sliding_window_view(X, 0, axis=1)",
    "X[np.triu_indices_from(Y, 1)[0]]", "Y[np.tril_indices_from(Y, k=-1)]", "np.triu_indices_from(X)",
    "np.ravel(X)", "np.ravel(X, order='F')", "np.ravel(X, 'K')", "np.ravel(V)",
    "np.int64(X * 3)", "np.int32(X * 3)", "np.int8(X * 3)", "np.float16(X)", "np.bool_(X - 0.5)",
    "np.int64(X, 3)",
    "operator.add(X, V)", "operator.mod(X, 0.3)", "operator.floordiv(X, 0.3)", "operator.neg(X)",
    "operator.matmul(X, Y)", "operator.pow(X, 2)", "operator.truediv(V, X)", "operator.add(X)",
]


@pytest.fixture(scope="module")
def extras_generated(tmp_path_factory):
    import importlib.util
    import sys
    path = tmp_path_factory.mktemp("extras") / "extras_generated_calls.py"
    lines = ["import operator", "", "import numpy as np",
             "from numpy.lib.stride_tricks import sliding_window_view", ""]
    for k, call in enumerate(CALLS):
        lines += [f"def case_{k}(X, Y, Y23, V):", f"    return {call}", ""]
    path.write_text("\n".join(lines))
    spec = importlib.util.spec_from_file_location("extras_generated_calls", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["extras_generated_calls"] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("k", range(len(CALLS)), ids=CALLS)
def test_every_call_is_numpys_or_refused(extras_generated, k):
    fn = getattr(extras_generated, f"case_{k}")
    args = (np.array([[0.2, -0.5, 0.9], [0.4, 0.1, -0.3]]), np.linspace(-1, 1, 9).reshape(3, 3),
            np.linspace(0.2, 1, 6).reshape(2, 3), np.array([0.2, 0.5, 0.9]))
    try:
        expected, numpy_error = fn(*args), None
    except Exception as e:  # NumPy refuses this call: gradc must refuse it too
        numpy_error = e
    try:
        got = gradc.compile(fn, wrt=0).value(*args)
    except gradc.CompileError as err:
        assert type(err).__name__ != "InternalError", str(err)
        return
    assert numpy_error is None, f"NumPy raises {numpy_error!r}, gradc computed {got!r}"
    if isinstance(expected, (list, tuple)):
        assert isinstance(got, (list, tuple)) and len(got) == len(expected)
    else:
        expected, got = [expected], [got]
    for e, g in zip(expected, got):
        e, g = np.asarray(e), np.asarray(g)
        assert g.shape == e.shape and g.dtype == e.dtype, f"{g.shape} {g.dtype} != {e.shape} {e.dtype}"
        np.testing.assert_array_equal(g, e)
