"""The Python frontend: every construct in the supported subset compiles, and its
gradient matches central finite differences of the same function run as NumPy."""
import ast
import inspect
import os
import zlib

import numpy as np
import pytest

import gradc
from gradc import nn
from fixtures import losses as L
from fixtures.numeric import assert_close, differentiable_positions, fd_grad


def _rng(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def nrm(*shape):
    return lambda r: r.normal(size=shape)


def pos(*shape):
    return lambda r: r.uniform(0.2, 0.9, size=shape)


def away(*shape, gap=0.05):
    """Normal samples kept at least `gap` away from 0 (abs, relu and where kinks)."""
    def make(r):
        x = r.normal(size=shape)
        return np.where(np.abs(x) < gap, np.sign(x + 1e-12) * (gap + np.abs(x)), x)
    return make


def const(value):
    return lambda r: value


# name -> argument factories; every float argument is differentiated.
CASES = {
    # statements
    "assign_chain": (nrm(3),),
    "tuple_unpack": (nrm(3), nrm(3)),
    "array_unpack": (nrm(3),),
    "aug_assign": (nrm(3),),
    "multiple_targets": (nrm(3),),
    "annotated": (nrm(3),),
    "with_docstring": (nrm(3),),
    # loops
    "loop_literal": (nrm(3),),
    "loop_module_const": (nrm(3),),
    "loop_len": (nrm(4),),
    "loop_shape": (nrm(3, 4),),
    "loop_start_stop_step": (nrm(7),),
    "recurrence": (const(0.7), nrm(5)),
    # static control flow
    "static_if_shape": (nrm(3),),
    "static_if_module_const": (nrm(3),),
    "static_ifexp": (nrm(3), const(0)),
    "static_if_only_branch": (nrm(3),),
    # operators
    "arithmetic": (pos(3), pos(3)),
    "scalar_first": (pos(3),),
    "matmul_op": (nrm(3, 4), nrm(4)),
    "matmul_matrix": (nrm(3, 4), nrm(4, 2)),
    "vector_dot": (nrm(4), nrm(4)),
    "where_compare": (nrm(8),),
    "where_mask_combination": (nrm(6), nrm(6)),
    "float_pow_arg": (pos(3), const(1.7)),
    # indexing
    "index_constants": (nrm(3, 4),),
    "index_slices": (nrm(6),),
    "index_rows_cols": (nrm(3, 4),),
    "index_newaxis": (nrm(3), nrm(4)),
    "index_loop_neg": (nrm(5),),
    # attributes and methods
    "attr_T": (nrm(3, 4), nrm(3)),
    "attr_shape_reshape": (nrm(2, 3),),
    "method_reductions": (nrm(3, 4),),
    "method_dot": (nrm(3, 3), nrm(3)),
    "method_astype_int": (const(np.array([0.11, 0.23, 0.37])),),
    # NumPy functions
    "unary_funcs": (pos(4),),
    "abs_func": (away(5),),
    "binary_funcs": (nrm(5), nrm(5)),
    "clip_func": (nrm(8),),
    "reductions": (nrm(3, 4),),
    "linalg_funcs": (nrm(3, 3), nrm(3)),
    "shape_funcs": (nrm(2, 3),),
    "like_funcs": (nrm(3),),
    "constructors": (nrm(3),),
    "alias_import": (away(4),),
    "from_import": (pos(3),),
    # compiler.nn
    "nn_funcs": (away(5),),
    "nn_softmaxes": (nrm(3, 4),),
    "nn_logsumexp_keepdims": (nrm(3, 4),),
    "sigmoid_numpy": (nrm(5),),
    "logsumexp_numpy": (nrm(3, 4),),
    "logsumexp_numpy_all": (nrm(5),),
    "softmax_numpy": (nrm(3, 4),),
    # module-level constants and helpers
    "uses_constants": (nrm(3),),
    "uses_big_table": (nrm(4, 5),),
    "uses_helpers": (nrm(3),),
    "helper_in_loop": (nrm(3),),
    # broadcasting
    "broadcast_bias": (nrm(3, 4), nrm(4)),
    "broadcast_column": (nrm(3, 4), nrm(3, 1)),
    "broadcast_outer": (nrm(3), nrm(2, 4)),
    "broadcast_scalar_array": (const(0.3), nrm(3)),
    # models
    "logistic_regression": (nrm(3), const(0.1), nrm(6, 3), const(np.array([0., 1., 1., 0., 1., 0.]))),
    "mlp": (nrm(3, 4), nrm(4), nrm(4, 2), nrm(2), nrm(5, 3), const(np.eye(2)[[0, 1, 1, 0, 1]])),
    "rss": (nrm(3), nrm(5, 3), nrm(5)),
    "float_scalar": (const(0.8), const(1.3)),
    "mixed_static": (nrm(3), const(3), const("square")),
    # the rest of docs/supported-subset.md
    "extra_methods": (nrm(3, 4),),
    "extra_funcs": (away(5), nrm(5)),
    "extra_constructors": (nrm(3, 4),),
    "extra_statements": (nrm(4),),
    "nested_unpack": (nrm(3), nrm(3)),
    "loop_slice_window": (nrm(5),),
    # more helpers, arguments and loops
    "helper_scope": (nrm(3), nrm(3)),
    "helper_returns_tuple": (nrm(3),),
    "helper_early_return": (nrm(3),),
    "keyword_only": (nrm(3),),
    "default_float": (nrm(3), const(0.3)),
    "builtin_sum_of_list": (nrm(3),),
    "floor_div_trip_count": (nrm(7),),
    "accumulate_into_zeros": (nrm(3, 4),),
    "array_power_array": (pos(3), nrm(3)),
    "where_broadcast": (nrm(3), nrm(4)),
    "positional_axes": (nrm(3, 4),),
    "reductions_3d": (nrm(2, 3, 4),),
}


def make_args(name):
    r = _rng(name)
    return tuple(f(r) for f in CASES[name])


def check_against_fd(fn, args, wrt=None):
    wrt = differentiable_positions(args) if wrt is None else wrt
    assert wrt, "a case needs at least one float argument"
    value, grads = gradc.value_and_grad(fn, wrt=tuple(wrt))(*args)
    assert_close(value, fn(*args), rtol=1e-12, atol=1e-12, what=f"{fn.__name__} value")
    assert len(grads) == len(wrt)
    for p, g in zip(wrt, grads):
        assert np.shape(g) == np.shape(args[p]), f"{fn.__name__}: grad {p} has shape {np.shape(g)}"
        assert_close(g, fd_grad(fn, args, p), what=f"d {fn.__name__} / d arg {p}")
    return value, grads


def test_every_fixture_function_is_covered():
    """Every function in the fixture module is exercised by a test here or in test_api.py."""
    names = {n for n, f in vars(L).items() if inspect.isfunction(f) and f.__module__ == L.__name__}
    helpers = {"square_helper", "affine_helper", "nested_helper", "times_const_helper", "doubled",
               "pair_helper", "early_return_helper"}
    here = set(CASES) | helpers
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    text = "".join(open(os.path.join(tests_dir, f)).read() for f in ("test_frontend.py", "test_api.py"))
    missing = sorted(n for n in names - here if f"L.{n}" not in text)
    assert not missing, f"fixture functions without a test: {missing}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_matches_finite_differences(name):
    check_against_fd(getattr(L, name), make_args(name))


@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_static_int_argument_branches(k):
    w = _rng("static_if_int").normal(size=4)
    check_against_fd(L.static_if_int, (w, k), wrt=(0,))


def test_static_if_picks_one_branch():
    w = np.array([0.3, -0.2, 0.5])
    prims = {}
    for k in (0, 1, 2):
        c = gradc.compile(L.static_if_int, wrt="w", args=(w, k))
        prims[k] = [op.prim.name for op in c.ir.ops]
    assert "cos" in prims[0] and "sin" not in prims[0]
    assert "sin" in prims[1] and "cos" not in prims[1]
    assert "sin" not in prims[2] and "cos" not in prims[2]
    # the untaken branch of a shape test leaves nothing behind
    c = gradc.compile(L.static_if_only_branch, wrt=0, args=(w,))
    assert [op.prim.name for op in c.ir.ops] == ["sum"]
    c = gradc.compile(L.static_if_shape, wrt=0, args=(np.ones((2, 2)),))
    assert_close(c.grad(np.ones((2, 2))), 3 * np.ones((2, 2)))
    c = gradc.compile(L.static_if_shape, wrt=0, args=(np.ones(3),))
    assert_close(c.grad(np.ones(3)), 2 * np.ones(3))


def test_static_string_argument_selects_branch():
    w = np.array([1.0, 2.0, 3.0])
    g = gradc.grad(L.mixed_static, wrt=0)
    assert_close(g(w, 2, "square"), 4 * w)
    assert_close(g(w, 2, "plain"), 2 * np.ones(3))


def _prims(fn, *args, wrt=0):
    return [op.prim.name for op in gradc.compile(fn, wrt=wrt, args=args).ir.ops]


def _loop_ops(fn, *args, wrt=0):
    """The loop ops of fn's program (loops stay loops: compiler/regions.py)."""
    return [op for op in gradc.compile(fn, wrt=wrt, args=args).ir.ops if op.prim.name == "loop"]


def test_loops_with_module_constant_trip_count():
    (loop,) = _loop_ops(L.loop_module_const, np.ones(3))
    assert loop.params["length"] == L.N_STEPS
    assert [op.prim.name for op in loop.params["body"].ops].count("tanh") == 1


@pytest.mark.parametrize("n", [2, 5])
def test_loops_over_len(n):
    w = np.arange(1.0, n + 1)
    (loop,) = _loop_ops(L.loop_len, w)  # w[i] and w[n-1-i]: rows of w and of w reversed
    assert loop.params["length"] == n and loop.params["n_xs"] == 2
    assert_close(gradc.grad(L.loop_len)(w), 2 * w[::-1])


def test_loops_unroll_over_shape():
    W = np.ones((2, 3))
    prims = _prims(L.loop_shape, W)
    assert prims.count("getitem") == 6


def test_recurrence_is_one_loop_over_time_steps():
    x = np.array([0.1, -0.2, 0.3, 0.4])
    (loop,) = _loop_ops(L.recurrence, 0.5, x)
    assert loop.params["length"] == len(x)
    assert [op.prim.name for op in loop.params["body"].ops].count("tanh") == 1
    check_against_fd(L.recurrence, (0.5, x))


def test_helpers_are_inlined():
    w = np.array([0.3, -0.2, 0.5])
    c = gradc.compile(L.uses_helpers, wrt=0, args=(w,))
    prims = [op.prim.name for op in c.ir.ops]
    # square_helper's x * x and affine_helper's a * x + b appear as ops of the caller
    assert "mul" in prims and "add" in prims
    assert not any("helper" in p or p == "call" for p in prims)
    helper_lines = {inspect.getsourcelines(f)[1] + len(inspect.getsourcelines(f)[0]) - 1
                    for f in (L.square_helper, L.affine_helper, L.nested_helper)}
    op_lines = {op.loc.lineno for op in c.ir.ops if op.loc is not None}
    assert op_lines & helper_lines, f"no op is attributed to a helper's line: {op_lines}"
    assert_close(c.grad(w), 2 * w + (2 * w + 2.0) + 3.0)


def test_helper_default_arguments_read_module_constants():
    w = np.array([0.3, -0.2, 0.5])
    # affine_helper(x, 3.0) uses its default b=SCALE
    assert_close(gradc.compile(L.uses_helpers, 0).value(w), L.uses_helpers(w), rtol=1e-12)


def test_import_numpy_as_xp():
    w = np.array([0.7, -0.4, 1.2, -2.0])
    prims = _prims(L.alias_import, w)
    assert {"exp", "tanh", "maximum", "sum"} <= set(prims)
    check_against_fd(L.alias_import, (w,))


def test_from_numpy_import():
    w = np.array([0.3, 0.6, 0.9])
    assert {"exp", "log"} <= set(_prims(L.from_import, w))


def test_nn_functions_are_single_primitives():
    prims = _prims(L.nn_funcs, np.array([0.3, -0.2, 0.5]))
    for p in ("sigmoid", "softplus", "relu", "logsumexp"):
        assert p in prims


@pytest.mark.parametrize("scale", [1.0, 10.0, 30.0])
def test_plain_numpy_sigmoid_matches_nn_sigmoid(scale):
    z = np.linspace(-1.0, 1.0, 7) * scale
    g_np = gradc.grad(L.sigmoid_numpy)(z)
    g_nn = gradc.grad(L.sigmoid_nn)(z)
    assert_close(g_np, g_nn, rtol=1e-10, atol=1e-12)
    s = 1 / (1 + np.exp(-z))
    assert_close(g_nn, 2 * s * s * (1 - s), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shift", [0.0, 500.0, -700.0])
def test_max_subtracted_logsumexp_matches_nn(shift):
    W = _rng("lse").normal(size=(3, 4)) + shift
    v_np, g_np = gradc.value_and_grad(L.logsumexp_numpy)(W)
    v_nn, g_nn = gradc.value_and_grad(L.logsumexp_nn)(W)
    assert np.isfinite(v_np) and np.all(np.isfinite(g_np))
    assert_close(v_np, v_nn, rtol=1e-12)
    assert_close(g_np, g_nn, rtol=1e-10, atol=1e-12)
    assert_close(g_nn, nn.softmax(W, axis=1), rtol=1e-10, atol=1e-12)


def test_max_subtracted_logsumexp_with_ties():
    # the max's own gradient cancels exactly, even where the maximum is not unique
    W = np.array([[1.0, 1.0, 0.0], [2.0, 2.0, 2.0]])
    g = gradc.grad(L.logsumexp_numpy)(W)
    assert_close(g, nn.softmax(W, axis=1), rtol=1e-12, atol=1e-12)
    w = np.array([3.0, 3.0, 1.0])
    assert_close(gradc.grad(L.logsumexp_numpy_all)(w), nn.softmax(w), rtol=1e-12, atol=1e-12)


def test_numpy_softmax_matches_nn_softmax():
    W = _rng("softmax").normal(size=(3, 5))
    assert_close(gradc.grad(L.softmax_numpy)(W), gradc.grad(L.softmax_nn)(W), rtol=1e-10, atol=1e-12)


def test_float32_cast_inside_function():
    w = np.array([0.3, -1.2, 2.5])
    g = gradc.grad(L.method_astype)(w)
    assert g.dtype == np.float64
    assert_close(g, 2 * w.astype(np.float32).astype(np.float64), rtol=1e-7)


def test_integer_cast_has_zero_gradient():
    w = np.array([0.11, 0.23, 0.37])
    assert_close(gradc.grad(L.method_astype_int)(w), 2 * w, rtol=1e-12)


def test_broadcast_adjoints_are_summed_back():
    W, b = np.ones((3, 4)), np.arange(4.0)
    gW, gb = gradc.grad(L.broadcast_bias, wrt=("W", "b"))(W, b)
    assert gW.shape == (3, 4) and gb.shape == (4,)
    assert_close(gb, 2 * np.sum(W + b, axis=0), rtol=1e-12)
    c = np.array([[1.0], [2.0], [3.0]])
    gc = gradc.grad(L.broadcast_column, wrt="c")(W, c)
    assert gc.shape == (3, 1)
    assert_close(gc, np.full((3, 1), 4.0), rtol=1e-12)
    gs = gradc.grad(L.broadcast_scalar_array, wrt="s")(0.5, np.ones(3))
    assert type(gs) is float
    assert_close(gs, fd_grad(L.broadcast_scalar_array, (0.5, np.ones(3)), 0))


def test_untaken_code_after_return_is_ignored():
    # static_if_int returns from inside the branch; the function has no trailing return
    w = np.ones(2)
    assert_close(gradc.grad(L.static_if_int)(w, 5), 5 * np.ones(2))


def test_fixture_source_is_parsed_not_run():
    """The fixture module's functions are plain def statements gradc can read."""
    for name in CASES:
        tree = ast.parse(inspect.getsource(getattr(L, name)))
        assert isinstance(tree.body[0], ast.FunctionDef)


# -- derivatives at kinks (docs/supported-subset.md) ----------------------------------

def test_kink_abs_at_zero_is_zero():
    assert_close(gradc.grad(L.kink_abs)(np.array([0.0, 2.0, -3.0])), [0.0, 1.0, -1.0], rtol=0)


def test_kink_maximum_and_minimum_send_ties_to_first_argument():
    w, x = np.array([1.0, 2.0, 0.0]), np.array([1.0, 1.0, 1.0])
    gw, gx = gradc.grad(L.kink_maximum, wrt=(0, 1))(w, x)
    assert_close(gw, [1.0, 1.0, 0.0], rtol=0)
    assert_close(gx, [0.0, 0.0, 1.0], rtol=0)
    gw, gx = gradc.grad(L.kink_minimum, wrt=(0, 1))(w, x)
    assert_close(gw, [1.0, 0.0, 1.0], rtol=0)
    assert_close(gx, [0.0, 1.0, 0.0], rtol=0)


def test_kink_clip_passes_gradient_at_bounds():
    assert_close(gradc.grad(L.kink_clip)(np.array([0.0, 1.0, 0.5, -1.0, 2.0])),
                 [1.0, 1.0, 1.0, 0.0, 0.0], rtol=0)


def test_kink_relu_at_zero_is_zero():
    assert_close(gradc.grad(L.kink_relu)(np.array([0.0, 1.0, -1.0])), [0.0, 1.0, 0.0], rtol=0)


def test_kink_max_splits_ties_equally():
    assert_close(gradc.grad(L.kink_max)(np.array([3.0, 1.0, 3.0])), [0.5, 0.0, 0.5], rtol=0)
    W = np.array([[1.0, 1.0, 1.0], [0.0, 2.0, 1.0]])
    assert_close(gradc.grad(L.kink_max_axis)(W), [[1 / 3, 1 / 3, 1 / 3], [0.0, 1.0, 0.0]],
                 rtol=1e-12, atol=0)
