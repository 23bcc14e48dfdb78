"""Trust by construction in the Python frontend: never a silently wrong number.

Each loss here is written the way a user writes it. Supported cases are checked against
running the same Python function with NumPy (values) and central finite differences on
it (gradients); unsupported ones must be a CompileError at the user's line.
"""
import importlib.util
import inspect
import sys

import numpy as np
import pytest

import gradc
from gradc.frontend import numpy_table
from gradc.ir import Aval, Builder, TracedValueError, Value
from gradc.runtime import support
from fixtures.numeric import assert_close, fd_grad
from fixtures.refusals import refuses

W = np.array([0.3, -1.2, 0.8, 2.0])
X = np.array([[0.5, -0.4, 1.1], [0.9, 0.2, -0.7]])


def check(fn, *args, wrt=0):
    """gradc's value and gradient equal NumPy's value and finite differences."""
    value, grad = gradc.value_and_grad(fn, wrt=wrt)(*args)
    assert_close(value, fn(*args), rtol=1e-12, atol=1e-12, what=f"{fn.__name__} value")
    assert_close(grad, fd_grad(fn, args, wrt), rtol=1e-5, atol=1e-6, what=f"{fn.__name__} gradient")
    return value, grad


# -- 3. Python truthiness and builtins on traced values -----------------------------------

def max_of_two_losses(w):
    l1 = np.sum(w ** 2)
    l2 = np.sum((w - 1.0) ** 2)
    return max([l1, l2])


def min_of_two_losses(w):
    l1 = np.sum(w ** 2)
    l2 = np.sum((w - 1.0) ** 2)
    return min(l1, l2)


def max_of_three_and_a_number(w):
    a, b, c = np.sum(w), np.sum(w ** 3), np.sum(np.sin(w))
    return max(a, b, c, -5.0) + min((a, 0.25))


def max_of_tie(w):
    l1 = np.sum(w * w)
    l2 = np.sum(w ** 2)  # equal to l1: Python's max returns the first one
    return max(l1 * 2.0, l2 * 2.0) + 0.0 * l2


def test_max_min_of_traced_scalars_match_python():
    for fn in (max_of_two_losses, min_of_two_losses, max_of_three_and_a_number):
        check(fn, W)
        check(fn, W * 0.1 + 0.5)


def test_max_tie_sends_the_gradient_to_the_first_argument():
    # value: both equal; gradient: where(b > a, b, a) gives it all to the first
    value, grad = gradc.value_and_grad(max_of_tie)(W)
    assert_close(value, max_of_tie(W), rtol=1e-12)
    assert_close(grad, 4 * W)


def max_skips_a_later_nan(w):
    l1 = np.sum(w * w)
    undefined = np.sqrt(np.sum(w) * 0.0 - 1.0)  # NaN: Python's max keeps l1 (nan > l1 is False)
    return max(l1, undefined) + min(l1, undefined)


@pytest.mark.filterwarnings("ignore")
def test_max_min_follow_python_with_nan():
    value, grad = gradc.value_and_grad(max_skips_a_later_nan)(W)
    assert value == max_skips_a_later_nan(W) == 2 * np.sum(W * W)
    assert_close(grad, 4 * W)


def max_of_arrays(w):
    return np.sum(max(w, w * 2.0))  # ERR


def max_over_array(w):
    return max(w)  # ERR


def sorted_losses(w):
    l1, l2 = np.sum(w), np.sum(w * w)
    return sorted([l1, l2])[0]  # ERR


def any_of_traced(w):
    total = np.sum(w)
    if any([total > 0, False]):  # ERR
        return total
    return -total


def and_of_traced(w):
    a = np.sum(w)
    return (a > 0) and a  # ERR


def not_traced(w):
    a = np.sum(w)
    return a if not a else a * 2.0  # ERR


def if_traced(w):
    s = np.sum(w)
    if s:  # ERR
        return s
    return -s


def bool_of_traced(w):
    return np.sum(w) * bool(np.sum(w))  # ERR


def float_of_traced(w):
    return float(w) * 2.0  # ERR (float() of a 0-d value is supported; of a vector it is refused)


def int_of_traced(w):
    return w[int(np.sum(w))]  # ERR


def range_of_traced(w):
    total = 0.0
    for i in range(np.sum(w)):  # ERR
        total = total + w[i]
    return total


def index_with_traced(w):
    return w[np.sum(w)]  # ERR


def in_with_traced(w):
    s = np.sum(w)
    return s * (s in (1.0, 2.0))  # ERR


def list_equality_with_traced(w):
    a, b = np.sum(w), np.sum(w * w)
    return a * ([a] == [b])  # ERR


@pytest.mark.parametrize("fn,words", [
    (max_of_arrays, ["max", "np.maximum"]), (max_over_array, ["max", "np.max"]),
    (sorted_losses, ["sorted"]), (any_of_traced, ["any"]), (and_of_traced, ["and", "dtypes"]),
    (bool_of_traced, ["bool"]),
    (float_of_traced, ["float"]), (int_of_traced, ["int"]), (range_of_traced, ["range"]),
    (index_with_traced, ["index"]), (in_with_traced, ["in"]), (list_equality_with_traced, ["compar"]),
])
def test_truthiness_and_builtins_on_traced_values_are_refused(fn, words):
    refuses(fn, W, words=words)


def short_circuit_static(w, scale):
    s = scale or 1.0  # a compile-time value: decided now
    return np.sum(w) * s + (None or np.sum(w * w))


def test_and_or_on_compile_time_values_still_work():
    check(short_circuit_static, W, 0)
    check(short_circuit_static, W, 3)


def test_value_dunders_raise_compile_errors():
    b = Builder()
    with b:
        v = Value(Aval((3,), np.dtype(np.float64)), "v")
        s = Value(Aval((), np.dtype(np.float64)), "s")
        for probe in (lambda: bool(s), lambda: int(s), lambda: float(s), lambda: complex(s),
                      lambda: [1, 2][s], lambda: iter(v), lambda: len(v), lambda: 1.0 in v,
                      lambda: np.asarray(v), lambda: np.array([s, s]), lambda: np.exp(v),
                      lambda: np.concatenate([v, v]), lambda: range(s)):
            with pytest.raises(TracedValueError):
                probe()
        assert isinstance(TracedValueError("x"), gradc.CompileError)
        assert {v: 1}[v] == 1  # identity hash
        assert np.shape(v) == (3,) and np.ndim(s) == 0
        out = np.ones(3) + v  # an ndarray operand defers to the Value: an op, not an object array
        assert isinstance(out, Value) and out.shape == (3,)


# -- 4. compile-time evaluation must not swallow traced values --------------------------------

def max_of_array_of_losses(w):
    l1 = np.sum(w ** 2)
    l2 = np.sum((w - 1.0) ** 2)
    return np.max(np.array([l1, l2]))


def asarray_of_losses(w):
    losses = np.asarray([np.sum(w), np.sum(w ** 2), 0.5])
    return np.sum(losses * np.array([1.0, 2.0, 3.0]))


def nested_array(w):
    m = np.array([[w[0], w[1]], [w[2] * w[0], 1.0]])
    return np.sum(m @ m)


def stacks(w):
    a = np.stack([w, w ** 2])
    b = np.stack((w, np.sin(w)), axis=1)
    c = np.concatenate([w, w[:2] * 3.0])
    d = np.hstack([w, np.sum(w)])
    e = np.vstack([w, np.cos(w)])
    f = np.concatenate([a, e], axis=None)
    return np.sum(a[1] * 2.0) + np.sum(b[:, 1] * w) + np.sum(c ** 2) + np.sum(d) + np.sum(e * e) + np.sum(f)


def array_with_dtype(w):
    v = np.array([w[0], w[1] * 2.0], dtype=np.float64)
    return np.sum(v * v) + np.sum(np.array(w, ndmin=2))


def test_np_array_and_stacks_of_traced_values_lower_to_ops():
    for fn in (max_of_array_of_losses, asarray_of_losses, nested_array, stacks, array_with_dtype):
        check(fn, W)


def reductions_of_lists(w):
    l1, l2 = np.sum(w ** 2), np.sum(np.cos(w))
    return np.sum([l1, l2]) + np.mean((l1, 2.0 * l2, 1.0)) + np.max([l1, l2]) + np.sum(w[:2] * [0.5, 1.5])


def test_list_operands_are_converted_like_numpy():
    check(reductions_of_lists, W)


def full_of_traced(w):
    return np.sum(np.full(3, np.sum(w)))  # ERR


def array_of_ragged(w):
    return np.sum(np.array([w, w[:2]]))  # ERR


def test_constructors_of_traced_values_refuse_or_lower():
    refuses(full_of_traced, W, words=["full"])
    refuses(array_of_ragged, W, words=["np.array"])


def forward_mode_stack(w):
    return np.sum(np.stack([w, w ** 2]) ** 2)


def test_stack_has_a_tangent_rule():
    direction = np.array([0.1, -0.3, 0.2, 0.5])
    value, derivative = gradc.jvp(forward_mode_stack, (W,), direction)
    assert_close(value, forward_mode_stack(W), rtol=1e-12)
    assert_close(derivative, fd_grad(forward_mode_stack, (W,), 0) @ direction)
    hv = gradc.hvp(forward_mode_stack)(W, direction)  # forward over reverse: jvp of the adjoint
    eps = 1e-5
    fd = (gradc.grad(forward_mode_stack)(W + eps * direction)
          - gradc.grad(forward_mode_stack)(W - eps * direction)) / (2 * eps)
    assert_close(hv, fd, rtol=1e-5, atol=1e-5)


# -- 5. keyword arguments are bound against NumPy's signatures -------------------------------------

def reshape_fortran(x):
    return np.sum(x.reshape(6, order="F") * np.arange(6.0)) + np.sum(np.reshape(x, (3, 2), order="F") ** 3)


def ravel_fortran(x):
    return np.sum(x.ravel(order="F") * np.arange(6.0)) + np.sum(x.flatten("F") * np.arange(6.0) ** 2)


def transpose_axes_kw(x):
    return np.sum(np.transpose(x, axes=(1, 0)) * np.arange(6.0).reshape(3, 2))


def astype_no_copy(x):
    return np.sum(x.astype(float, copy=False) * x)


def sum_with_keywords(x):
    return np.sum(np.sum(x, axis=0, keepdims=True) * x) + np.mean(x, dtype=np.float64)


def test_keywords_with_numpy_semantics():
    for fn in (reshape_fortran, ravel_fortran, transpose_axes_kw, astype_no_copy, sum_with_keywords):
        check(fn, X)


def sum_dtype(x):
    return np.sum(x, dtype=np.float32)  # ERR


def var_mean(x):
    return np.var(x, mean=np.mean(x, keepdims=True))  # ERR


OUT = np.zeros((2, 3))


def clip_out(x):
    return np.sum(np.clip(x, 0, 1, out=OUT))  # ERR


def ravel_order_k(x):
    return np.sum(x.T.ravel(order="K") * np.arange(6.0))  # ERR


def sum_out(x):
    return x.sum(out=OUT[0, 0])  # ERR


@pytest.mark.parametrize("fn,words", [
    (sum_dtype, ["dtype"]), (var_mean, ["mean"]), (clip_out, ["out"]), (ravel_order_k, ["order"]),
    (sum_out, ["out"]),
])
def test_unimplemented_parameters_are_refused_by_name(fn, words):
    refuses(fn, X, words=words)


# The enumeration: every TABLE callable and METHODS entry, every parameter of its real
# signature, a non-default value: NumPy's result exactly, or a CompileError.

MASK = np.array([[True, False, True], [False, True, True]])
CANDIDATES = {
    "axis": ["0", "-1", "None", "(0, 1)"], "keepdims": ["True"], "dtype": ["np.float32", "np.int64"],
    "out": ["OUT"], "where": ["MASK", "False"], "initial": ["5.0"], "order": ["'F'", "'A'", "'K'", "'C'"],
    "casting": ["'unsafe'", "'no'"], "subok": ["False"], "signature": ["'dd->d'"], "copy": ["False", "True"],
    "shape": ["(3, 2)"], "device": ["'cpu'"], "like": ["OUT"], "ndmin": ["3"], "ndmax": ["1"],
    "min": ["0.1"], "max": ["0.6"], "a_min": ["0.1"], "a_max": ["0.6"], "axes": ["(1, 0)", "[(-2, -1), (-2, -1), (-2, -1)]"],
    "newshape": ["(3, 2)"],
}

# base calls: the data arguments each callable gets (X is 2x3, Y is 3x3, V has 3 entries)
BASE = {
    "where": "X > 0.1, X, Y23", "clip": "X, 0.0, 0.5", "dot": "X, Y", "matmul": "X, Y",
    "outer": "V, V", "reshape": "X, (3, 2)", "expand_dims": "X, 0", "broadcast_to": "V, (2, 3)",
    "stack": "[X, X]", "concatenate": "[X, X]", "hstack": "[X, X]", "vstack": "[X, X]",
    "array": "[X[0], X[1]]", "asarray": "[X[0], X[1]]",
}
BINARY = {"add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "logaddexp",
          "greater", "less", "greater_equal", "less_equal", "equal", "not_equal", "logical_and",
          "logical_or"}
METHOD_BASE = {"reshape": "3, 2", "dot": "Y", "clip": "0.1, 0.6", "astype": "np.float64"}


def _entries():
    for fn in list(numpy_table.TABLE):
        name = getattr(fn, "__name__", "")
        module = "np" if fn is getattr(np, name, None) else "support" if fn is getattr(support, name, None) else None
        if module is None:
            continue  # a user-defined primitive (one array argument, no parameters)
        base = BASE.get(name, "X, Y23" if name in BINARY else "X")
        yield f"{module}.{name}", fn, base, inspect.signature(fn)
    for name in numpy_table.METHODS:
        stub = numpy_table.METHOD_SIGNATURES[name]
        yield f"X.{name}", getattr(np.ndarray, name), METHOD_BASE.get(name, ""), inspect.signature(stub)


def _cases():
    for call, fn, base, sig in _entries():
        given = len([a for a in base.split(",") if a.strip()]) if "[" not in base else 1
        for i, (pname, p) in enumerate(sig.parameters.items()):
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or (p.default is p.empty and
                                                                 p.kind is not p.KEYWORD_ONLY):
                continue
            for value in CANDIDATES.get(pname, []):
                yield f"{call}-{pname}={value}", call, base, pname, value


CASE_LIST = list(_cases())


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    path = tmp_path_factory.mktemp("trust") / "trust_generated_calls.py"
    lines = ["import numpy as np", "from gradc.runtime import support", ""]
    for k, (_, call, base, pname, value) in enumerate(CASE_LIST):
        args = f"{base}, {pname}={value}" if base else f"{pname}={value}"
        lines += [f"def case_{k}(X, Y, Y23, V):", f"    return {call}({args})", ""]
    path.write_text("\n".join(lines))
    spec = importlib.util.spec_from_file_location("trust_generated_calls", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["trust_generated_calls"] = mod
    spec.loader.exec_module(mod)
    mod.OUT, mod.MASK = np.zeros((2, 3)), MASK
    return mod


def test_every_table_entry_and_method_is_enumerated():
    names = {c[1] for c in CASE_LIST}
    assert "np.sum" in names and "X.reshape" in names and "np.exp" in names and "np.stack" in names
    assert len(CASE_LIST) > 150


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("k", range(len(CASE_LIST)), ids=[c[0] for c in CASE_LIST])
def test_every_parameter_is_implemented_exactly_or_refused(generated, k):
    fn = getattr(generated, f"case_{k}")
    args = (X.copy(), np.linspace(-1, 1, 9).reshape(3, 3), np.linspace(0.2, 1, 6).reshape(2, 3),
            np.array([0.2, 0.5, 0.9]))
    generated.OUT = np.zeros((2, 3))
    try:
        expected = fn(*args)
        numpy_error = None
    except Exception as e:  # NumPy refuses this call: gradc must refuse it too
        numpy_error = e
    generated.OUT = np.zeros((2, 3))
    try:
        got = gradc.compile(fn, wrt=0).value(*args)
    except gradc.CompileError as err:
        assert type(err).__name__ != "InternalError", str(err)
        return
    assert numpy_error is None, f"NumPy raises {numpy_error!r}, gradc computed {got!r}"
    expected = np.asarray(expected)
    got = np.asarray(got)
    assert got.shape == expected.shape, f"{CASE_LIST[k][0]}: shape {got.shape} != {expected.shape}"
    assert got.dtype == expected.dtype, f"{CASE_LIST[k][0]}: dtype {got.dtype} != {expected.dtype}"
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, err_msg=CASE_LIST[k][0])


# -- 6. aliasing and in-place updates -----------------------------------------------------------

def alias_in_tuple(w):
    z = w * 2.0
    pair = (z, 1)
    z += 1  # ERR
    return np.sum(pair[0])


def helper_adds_one(a):
    a += 1  # ERR
    return a


def helper_update_while_caller_keeps(w):
    z = w * 2.0
    y = helper_adds_one(z)
    return np.sum(y * z)


def zero_d_argument(s):
    s += 1.0  # ERR
    return s * s


def view_updated(w):
    z = w * 2.0
    v = z[1:3]
    z += 1.0  # ERR
    return np.sum(v)


def fresh_product_updated(w):
    z = w * 1.0
    z += 1
    return np.sum(z * w)


def copy_updated(w):
    z = w.copy()
    z += 1
    z *= w
    return np.sum(z) + np.sum(w)


def np_array_copy_updated(w):
    z = np.array(w)
    z -= 0.5
    return np.sum(z ** 2)


def helper_on_temporary(w):
    y = helper_adds_one_ok(w * 3.0)
    return np.sum(y * y)


def helper_adds_one_ok(a):
    a += 1
    return a


def python_float_accumulator(w, s):
    s += np.sum(w)  # a Python float is rebound, never updated in place
    total = 0.0
    for i in range(len(w)):
        total += w[i] * s
    return total


def inplace_float32_keeps_dtype(w):
    z = w.astype(np.float32)
    z += w  # NumPy keeps z float32
    return np.sum(z)


def test_in_place_updates_on_fresh_arrays_are_exact():
    for fn in (fresh_product_updated, copy_updated, np_array_copy_updated, helper_on_temporary):
        check(fn, W)
    value = gradc.compile(inplace_float32_keeps_dtype).value(W)
    assert np.asarray(value).dtype == np.float32 and value == inplace_float32_keeps_dtype(W)
    check(python_float_accumulator, W, 0.5)
    value, grad = gradc.value_and_grad(python_float_accumulator, wrt=1)(W, 0.5)
    assert_close(grad, fd_grad(python_float_accumulator, (W, 0.5), 1))


def test_in_place_updates_that_numpy_would_share_are_refused():
    refuses(alias_in_tuple, W, words=["in-place", "'z'"])
    refuses(helper_update_while_caller_keeps, W, words=["in-place", "caller"], at=helper_adds_one)
    refuses(zero_d_argument, np.array(1.5), words=["in-place", "argument"])
    refuses(view_updated, W, words=["in-place", "'v'"])


def inplace_broadcast_grows(w):
    z = w[0] * np.ones(1)
    z += w  # ERR
    return np.sum(z)


def test_in_place_shape_change_is_refused():
    refuses(inplace_broadcast_grows, W, words=["shape"])
