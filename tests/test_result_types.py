"""A compiled function returns its value as the Python type NumPy gives it: a Python float, a
NumPy scalar or a 0-d ndarray, of NumPy's dtype (python.result_type decides it from the source,
codegen.result_text converts where the generated code computes another). Every case runs the
function in NumPy and compares type and dtype, through value_and_grad, value (the first call
and the fast path), checkpointed and saved modules, jvp and vjp."""
from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

import gradc
from gradc import codegen
from gradc.ir import Aval, Builder, Program, Value
from gradc.primitives import registry
from gradc.runtime import loader

from fixtures.numeric import fd_grad

W = np.array([0.3, -0.45, 0.6, 0.15])
M = np.array([[1.0, 0.2], [0.3, 2.0]])


# -- one function per kind of 0-d value --------------------------------------------------

def r_sum(w): return np.sum(w)                                         # reductions: NumPy scalars
def r_mean(w): return np.mean(w)
def r_median(w): return np.median(w)                                   # (lowered via sort)
def r_median_times(w): return np.median(w) * 1.0
def r_std(w): return np.std(w)
def r_prod(w): return np.prod(w)
def r_max_initial(w): return np.max(w, initial=0.0)
def r_norm(w): return np.linalg.norm(w)
def r_matmul(w): return w @ w                                          # products
def r_dot(w): return np.dot(w, w)
def r_einsum(w): return np.einsum("i,i->", w, w)
def r_tensordot(w): return np.tensordot(w, w, axes=1)                  # a 0-d ndarray in NumPy
def r_trace(w): return np.trace(np.outer(w, w))
def r_det(w): return np.linalg.det(np.outer(w, w) + np.eye(4))
def r_slogdet(w): return np.linalg.slogdet(np.outer(w, w) + np.eye(4))[1]
def r_slogdet_sign(w): return np.linalg.slogdet(np.outer(w, w) + np.eye(4))[0] * w[0]
def r_index(w): return w[0]                                            # indexing with ints
def r_index2(w): return w.reshape(2, 2)[1, 0]
def r_partition(w): return np.partition(w, 1)[1]
def r_keepdims_index(w): return np.sum(w, keepdims=True)[0]
def r_squeeze(w): return np.squeeze(w[:1])                             # 0-d arrays from arrays
def r_reshape(w): return w[:1].reshape(())
def r_reshape_scalar(w): return np.reshape(np.sum(w), ())              # of a NumPy scalar: one
def r_ufunc(w): return np.sqrt(np.sum(w * w))
def r_lse(w): return np.log(np.sum(np.exp(w)))
def r_abs(w): return abs(np.sum(w))
def r_builtin_max(w): return max(w[0], w[1])                           # Python returns an item
def r_builtin_min_const(w): return min(w[0], 0.3)
def r_where(w): return np.where(w[0] > 0, w[0], w[1])                  # np.where: a 0-d array
def r_clip(w): return np.clip(np.sum(w), 0, 1)
def r_select(w): return np.select([w[0] > 0], [w[0]], 0.0)            # np.select: a 0-d array
def r_array(w): return np.array(np.sum(w))                             # np.array/asarray: 0-d arrays
def r_asarray(w): return np.asarray(np.sum(w))
def r_array_times(w): return np.array(np.sum(w)) * 2.0                 # a ufunc of one: a scalar
def r_array_exp(w): return np.exp(np.array(np.sum(w)))
def r_array_sum(w): return np.sum(np.array(np.sum(w)))
def r_array_copy(w): return np.array(np.sum(w)).copy()                 # methods keep the type
def r_array_astype(w): return np.array(np.sum(w)).astype(np.float32)
def r_array_T(w): return np.array(np.sum(w)).T
def r_array_reshape(w): return np.array(np.sum(w)).reshape(())
def r_scalar_copy(w): return np.sum(w).copy()
def r_scalar_astype(w): return np.sum(w).astype(np.float32)
def r_ellipsis(w): return np.sum(w)[...]
def r_empty_index(w): return np.array(np.sum(w))[()]
def r_float64_of_array(w): return np.float64(np.array(np.sum(w)))
def r_float32(w): return np.float32(np.sum(w))
def r_float(w): return float(np.sum(w))                                # builtins: Python floats
def r_float_times(w): return float(np.sum(w)) * 2.0
def r_float_times_array(w): return float(np.sum(w)) * w[0]             # weak: w's dtype
def r_float_np(w): return np.exp(float(np.sum(w)))                     # a NumPy function: np.float64
def r_math(w): return math.exp(np.sum(w))                              # math: Python floats
def r_math_times(w): return math.sqrt(np.sum(w * w)) * w[0]
def r_math_log_base(w): return math.log(np.sum(w * w), 2.0)
def r_math_hypot(w): return math.hypot(w[0], w[1])


def r_loop_python_float(w):
    s = 0.0
    for i in range(3):
        s += float(w[i])
    return s


def r_loop_from_array(w):  # a 0-d array carried: a NumPy scalar after the first iteration
    s = np.array(0.0)
    for i in range(4):
        s = s + w[i]
    return s


def r_loop_scalar(w):
    s = 0.0
    for i in range(4):
        s = s + w[i] * w[i]
    return s


def r_branch_floats(w):
    if np.sum(w) > 0:
        return float(np.sum(w))
    return float(-np.sum(w))


def r_branch_arrays(w):
    s = np.sum(w)
    if s > 0:
        return np.asarray(s * 2.0)
    return np.array(s)


def _helper(v):
    return np.array(np.sum(v * v))


def r_helper(w):
    return _helper(w)


FUNCTIONS = [f for name, f in sorted(globals().items()) if name.startswith("r_") and callable(f)]


def _kind(x):
    return type(x), getattr(x, "dtype", None)


def _same(value, ref, rtol):
    assert _kind(value) == _kind(ref), (value, ref)
    np.testing.assert_allclose(np.float64(value), np.float64(ref), rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_value_and_grad_value_has_numpys_type(fn, dtype):
    w = W.astype(dtype)
    ref = fn(w)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    vg = gradc.value_and_grad(fn)
    for _ in range(2):  # the first call, then the fast path
        value, grad = vg(w)
        _same(value, ref, rtol)
        assert grad.shape == w.shape and grad.dtype == w.dtype
    compiled = gradc.compile(fn, args=(w,))
    for _ in range(2):
        _same(compiled.value(w), ref, rtol)


@pytest.mark.parametrize("fn", [r_float, r_float_times, r_float_times_array, r_math, r_math_times,
                                r_math_log_base, r_math_hypot, r_loop_python_float, r_array_times,
                                r_builtin_max, r_tensordot], ids=lambda f: f.__name__)
def test_gradients_through_converted_values_match_finite_differences(fn):
    _, grad = gradc.value_and_grad(fn)(W)
    np.testing.assert_allclose(grad, fd_grad(fn, (W,), 0), rtol=1e-6, atol=1e-9)


def test_math_functions_compute_on_python_floats():
    """math.exp(x32) converts x to a Python float first: float64 precision, as in Python."""
    w = W.astype(np.float32)
    for fn in (r_math, r_math_log_base, r_math_hypot):
        value, _ = gradc.value_and_grad(fn)(w)
        assert type(value) is float and value == fn(w), fn.__name__
    value, _ = gradc.value_and_grad(r_math_times)(w)
    assert value.dtype == np.float32 and value == r_math_times(w)  # weak: w's precision


# -- arguments of each kind ---------------------------------------------------------------

def a_same(x): return x
def a_times(x): return x * 2.0
def a_exp(x): return np.exp(x)
def a_abs(x): return abs(x)
def a_max(x): return max(x, 0.25)
def a_float(x): return float(x)
def a_asarray(x): return np.asarray(x)
def a_array64(x): return np.array(x, dtype=np.float64)
def a_power(x): return x ** 2 + 1.0
def a_math(x): return math.sqrt(x * x + 1.0)


ARGUMENTS = [1.5, np.float64(1.5), np.float32(1.5), np.array(1.5), np.array(1.5, dtype=np.float32)]


@pytest.mark.parametrize("arg", ARGUMENTS, ids=lambda a: f"{type(a).__name__}-{np.asarray(a).dtype}")
@pytest.mark.parametrize("fn", [a_same, a_times, a_exp, a_abs, a_max, a_float, a_asarray, a_array64, a_power,
                                a_math], ids=lambda f: f.__name__)
def test_result_type_for_each_kind_of_argument(fn, arg):
    ref = fn(arg)
    vg = gradc.value_and_grad(fn)
    for _ in range(2):
        value, grad = vg(arg)
        _same(value, ref, 1e-6)
        assert type(grad) is type(arg) or (isinstance(arg, np.ndarray) and isinstance(grad, np.ndarray))


def test_parameter_tree_leaves():
    def scaled(p):
        return p["s"] * 2.0 + float(np.sum(p["w"]))

    def strong(p):
        return p["s"] * np.sum(p["w"])

    def zero_d(p):
        return np.asarray(p["a"]).copy()

    tree = {"s": 1.5, "w": W, "a": np.array(0.5)}
    for fn in (scaled, strong, zero_d):
        value, _ = gradc.value_and_grad(fn)(tree)
        _same(value, fn(tree), 1e-12)


def test_integer_and_boolean_results():
    def arg(w): return np.argmax(w)
    def arg_array(w): return np.asarray(np.argmax(w))
    def positive(w): return np.sum(w) > 0

    for fn in (arg, arg_array, positive):
        compiled = gradc.compile(fn, args=(W,))
        assert _kind(compiled.value(W)) == _kind(fn(W)), fn.__name__


def test_a_type_depending_on_the_branch_is_a_numpy_scalar():
    """A Python float in one branch, a NumPy scalar in the other: no one type is NumPy's, so
    the value is a NumPy scalar of its dtype (documented), whichever branch runs."""
    def either(w):
        s = np.sum(w)
        if s > 0:
            return s
        return 0.0

    def either_max(w):
        return max(w[0], 0.25)

    for fn in (either, either_max):
        vg = gradc.value_and_grad(fn)
        for w in (W, -W):
            value, _ = vg(w)
            assert type(value) is np.float64 and value == fn(w), (fn.__name__, value)


# -- checkpointed, saved, jvp and vjp -------------------------------------------------------

def layered_float(w):
    h = w
    for _ in range(4):
        h = np.tanh(h * 0.9 + 0.1)
    return float(np.sum(h))


def layered_array(w):
    h = w
    for _ in range(4):
        h = np.tanh(h * 0.9 + 0.1)
    return np.array(np.sum(h))


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("fn", [layered_float, layered_array, r_float, r_median, r_builtin_max],
                         ids=lambda f: f.__name__)
def test_checkpointed_saved_jvp_and_vjp(fn, tmp_path):
    ref = fn(W)
    vg = gradc.value_and_grad(fn, checkpoint="segments")
    for _ in range(2):
        _same(vg(W)[0], ref, 1e-12)
    for policy in (None, "segments"):
        path = gradc.compile(fn, args=(W,), checkpoint=policy).save(tmp_path / f"{fn.__name__}_{policy}.py")
        module = _load(path, f"{fn.__name__}_{policy}")
        _same(getattr(module, fn.__name__)(W), ref, 1e-12)
        _same(getattr(module, f"{fn.__name__}_value_and_grad")(W)[0], ref, 1e-12)
    value, _ = gradc.jvp(fn, (W,), (np.ones(4),))
    _same(value, ref, 1e-12)
    value, _ = gradc.vjp(fn, W)
    _same(value, ref, 1e-12)


# -- the table codegen reads ----------------------------------------------------------------

_BOOLEAN = {"logical_and", "logical_or", "logical_not", "logical_xor", "bitwise_and", "bitwise_or",
            "bitwise_xor", "invert"}


@pytest.mark.parametrize("prim", sorted(p.name for p in registry.all() if p.family in ("elementwise", "nn")
                                        and (p.name in codegen.SCALAR_RESULTS or p.name in codegen.ARRAY_RESULTS)))
def test_codegen_knows_the_type_the_generated_code_gives(prim):
    """What computed_type says of a primitive is what its generated code returns, on 0-d
    arrays and on NumPy scalars alike (a wrong "scalar" would return a 0-d array unconverted)."""
    p = registry.get(prim)
    dtypes = [np.bool_ if prim in _BOOLEAN or (prim == "where" and k == 0) else np.float64
              for k in range(p.arity or 1)]
    inputs = [Value(Aval((), np.dtype(d)), f"x{k}") for k, d in enumerate(dtypes)]
    builder = Builder()
    with builder:
        out = builder.bind(prim, *inputs)
    program = Program("f", inputs, builder.ops, [out])
    claimed = codegen.computed_type(program, out)
    assert claimed in ("scalar", "array")
    source = codegen.single_function_module(program, "f", "doc", "test")
    f = loader.load(source, "f", codegen.constants(program))["f"]
    with np.errstate(all="ignore"):
        for make in (np.asarray, lambda a: a[()]):
            result = f(*[make(np.asarray(0.5, dtype=d)) for d in dtypes])
            assert (type(result) is np.ndarray) == (claimed == "array"), (prim, type(result))


def jvp_python_float(a, b):
    return a * a * b + math.sin(a * b)


def jvp_0d_array(w):
    return np.asarray(np.sum(w ** 2))


def jvp_float_of_sum(w):
    return float(np.sum(w ** 3))


@pytest.mark.parametrize("fn,primals,tangents,kind", [
    (jvp_python_float, (0.3, 1.2), (1.0, 0.0), float),
    (jvp_0d_array, (np.array([1.0, 2.0]),), (np.array([0.5, -1.0]),), np.ndarray),
    (jvp_float_of_sum, (np.array([1.0, 2.0]),), (np.array([0.5, -1.0]),), float),
])
def test_a_jvp_tangent_has_the_results_type(fn, primals, tangents, kind):
    """The directional derivative is of the result's kind (docs: jvp's tangent has the result's type)."""
    wrt = (0, 1) if len(primals) == 2 else 0
    value, slope = gradc.jvp(fn, primals, tangents if len(primals) == 2 else tangents[0], wrt=wrt)
    assert type(value) is type(fn(*primals)) is kind and type(slope) is kind
