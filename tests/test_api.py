"""The public API: wrt semantics, result types, caching, purity, saving, determinism."""
import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import gradc
from gradc import api
from fixtures import losses as L
from fixtures import other_module
from fixtures.numeric import assert_close, fd_grad

ROOT = Path(__file__).resolve().parent.parent
RNG = np.random.default_rng(20240601)


def mlp_args():
    r = np.random.default_rng(7)
    return (r.normal(size=(3, 4)), r.normal(size=4), r.normal(size=(4, 2)), r.normal(size=2),
            r.normal(size=(5, 3)), np.eye(2)[[0, 1, 1, 0, 1]])


def logreg_args():
    r = np.random.default_rng(8)
    return r.normal(size=3), 0.25, r.normal(size=(6, 3)), np.array([0.0, 1, 1, 0, 1, 0])


@pytest.fixture
def count_builds(monkeypatch):
    """Counts how often any Compiled object compiles a specialisation."""
    calls = []
    original = api.Compiled._build

    def counting(self, args):
        calls.append(self.fn.__name__)
        return original(self, args)

    monkeypatch.setattr(api.Compiled, "_build", counting)
    return calls


# -- wrt ----------------------------------------------------------------------------

def test_wrt_by_name_position_and_negative_position_agree():
    args = mlp_args()
    by_name = gradc.grad(L.mlp, wrt="b1")(*args)
    by_pos = gradc.grad(L.mlp, wrt=1)(*args)
    by_neg = gradc.grad(L.mlp, wrt=-5)(*args)
    assert isinstance(by_name, np.ndarray) and by_name.shape == (4,)
    np.testing.assert_array_equal(by_name, by_pos)
    np.testing.assert_array_equal(by_name, by_neg)
    assert_close(by_name, fd_grad(L.mlp, args, 1))


def test_wrt_tuple_gives_tuple_in_wrt_order():
    args = mlp_args()
    g = gradc.grad(L.mlp, wrt=("b2", "W1", -4))(*args)
    assert isinstance(g, tuple) and len(g) == 3
    assert [x.shape for x in g] == [(2,), (3, 4), (4, 2)]
    assert_close(g[0], fd_grad(L.mlp, args, 3))
    assert_close(g[1], fd_grad(L.mlp, args, 0))
    assert_close(g[2], fd_grad(L.mlp, args, 2))
    # the same gradients, asked for in another order and spelling
    g2 = gradc.grad(L.mlp, wrt=(0, 2, "b2"))(*args)
    np.testing.assert_allclose(g2[0], g[1], rtol=1e-13)
    np.testing.assert_allclose(g2[1], g[2], rtol=1e-13)
    np.testing.assert_allclose(g2[2], g[0], rtol=1e-13)


def test_wrt_one_element_tuple_gives_one_element_tuple():
    w, b, X, y = logreg_args()
    g = gradc.grad(L.logistic_regression, wrt=("w",))(w, b, X, y)
    assert isinstance(g, tuple) and len(g) == 1 and g[0].shape == (3,)
    v, g = gradc.value_and_grad(L.logistic_regression, wrt=[0])(w, b, X, y)
    assert isinstance(g, tuple) and len(g) == 1
    single = gradc.grad(L.logistic_regression, wrt="w")(w, b, X, y)
    np.testing.assert_array_equal(g[0], single)


def test_value_and_grad_value_matches_function():
    args = mlp_args()
    v, grads = gradc.value_and_grad(L.mlp, wrt=("W1", "W2"))(*args)
    assert_close(v, L.mlp(*args), rtol=1e-13, atol=0)
    assert np.ndim(v) == 0
    c = gradc.compile(L.mlp, wrt=("W1", "W2"))
    assert_close(c.value(*args), L.mlp(*args), rtol=1e-13, atol=0)
    assert_close(c(*args), L.mlp(*args), rtol=1e-13, atol=0)
    np.testing.assert_array_equal(c.grad(*args)[1], grads[1])


def test_keyword_arguments():
    w, b, X, y = logreg_args()
    g_kw = gradc.grad(L.logistic_regression, wrt="w")(w=w, b=b, X=X, y=y)
    g_pos = gradc.grad(L.logistic_regression, wrt="w")(w, b, X, y)
    np.testing.assert_array_equal(g_kw, g_pos)


def test_default_and_keyword_only_arguments():
    w = np.array([1.0, -2.0, 3.0])
    assert_close(gradc.grad(L.default_float)(w), 0.2 * w, rtol=1e-15, atol=0)
    assert_close(gradc.grad(L.default_float)(w, 0.5), 1.0 * w, rtol=1e-15, atol=0)
    g = gradc.grad(L.default_float, wrt="lam")(w)
    assert type(g) is float and g == pytest.approx(14.0, rel=1e-15)
    assert_close(gradc.grad(L.keyword_only)(w), np.full(3, 1.5), rtol=0, atol=0)
    assert_close(gradc.grad(L.keyword_only)(w, scale=2.0), np.full(3, 2.0), rtol=0, atol=0)
    assert gradc.grad(L.keyword_only, wrt="scale")(w, scale=2.0) == pytest.approx(2.0)


def test_static_arguments_are_not_inputs_and_select_code():
    w = np.array([0.5, -1.0, 2.0])
    c = gradc.compile(L.mixed_static, wrt="w", args=(w, 3, "square"))
    assert len(c.ir.inputs) == 1
    assert_close(c.value(w, 3, "square"), L.mixed_static(w, 3, "square"), rtol=1e-14, atol=0)
    assert_close(c.grad(w, 3, "square"), 6 * w, rtol=1e-14, atol=0)
    assert_close(c.grad(w, 4, "linear"), 4 * np.ones(3), rtol=1e-14, atol=0)


# -- result types ------------------------------------------------------------------------

def test_float32_arguments_give_float32_gradients():
    w = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    x = np.array([1.5, 0.25, -0.5], dtype=np.float32)
    v, (gw, gx) = gradc.value_and_grad(L.float32_loss, wrt=("w", "x"))(w, x)
    assert gw.dtype == np.float32 and gx.dtype == np.float32
    assert gw.shape == (3,) and gx.shape == (3,)
    assert np.result_type(v) == np.float32
    assert_close(gw, 2 * w * x * x, rtol=1e-6, atol=0)


def test_float32_wrt_with_float64_data_keeps_float32():
    w = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    x = np.array([1.5, 0.25, -0.5])  # float64
    gw = gradc.grad(L.float32_loss, wrt="w")(w, x)
    assert gw.dtype == np.float32
    gx = gradc.grad(L.float32_loss, wrt="x")(w, x)
    assert gx.dtype == np.float64
    assert_close(gw, 2 * w * x * x, rtol=1e-6, atol=0)


def test_python_float_arguments_give_python_float_gradients():
    ga, gb = gradc.grad(L.float_scalar, wrt=("a", "b"))(0.8, 1.3)
    assert type(ga) is float and type(gb) is float
    assert_close(ga, fd_grad(L.float_scalar, (0.8, 1.3), 0))
    assert_close(gb, fd_grad(L.float_scalar, (0.8, 1.3), 1))
    g = gradc.grad(L.float_scalar, wrt=-1)(0.8, 1.3)
    assert type(g) is float and g == gb


def test_mixed_python_float_and_array_gradients():
    w, b, X, y = logreg_args()
    gw, gb = gradc.grad(L.logistic_regression, wrt=("w", "b"))(w, b, X, y)
    assert type(gb) is float
    assert isinstance(gw, np.ndarray) and gw.shape == w.shape and gw.dtype == np.float64
    assert_close(gb, fd_grad(L.logistic_regression, (w, b, X, y), 1))
    v, gs = gradc.value_and_grad(L.broadcast_scalar_array, wrt=(0, 1))(0.5, np.ones(3))
    assert type(gs[0]) is float and gs[1].shape == (3,)


def test_zero_dimensional_array_argument():
    g = gradc.grad(L.float_scalar, wrt="a")(np.array(0.8), 1.3)
    assert np.shape(g) == () and np.result_type(g) == np.float64
    assert_close(g, fd_grad(L.float_scalar, (0.8, 1.3), 0))


def test_python_lists_are_lists():
    # A list argument is a parameter tree (docs/supported-subset.md): the function sees a
    # Python list, so `w * x` of two lists fails as it does in Python ...
    with pytest.raises(gradc.CompileError, match="can't multiply sequence"):
        gradc.grad(L.python_list_arg, wrt="w")([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    # ... and NumPy functions convert lists as NumPy does; the gradient is a list of floats
    g = gradc.grad(L.python_list_dot, wrt="w")([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert type(g) is list and all(type(x) is float for x in g)
    assert g == [4.0, 5.0, 6.0]


def test_integer_data_arrays_are_inputs():
    w = np.array([1.0, 2.0, 3.0])
    c = gradc.compile(L.int_array_data, wrt="w")
    np.testing.assert_array_equal(c.grad(w, np.array([0, 1, 2])), [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(c.grad(w, np.array([5, 6, 7])), [5.0, 6.0, 7.0])
    assert len(c._specs) == 1  # an int array is data, not a compile-time constant


def test_unused_wrt_argument_gets_zero_gradient_of_its_shape_and_dtype():
    w = np.array([1.0, -2.0])
    x = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    gw, gx = gradc.grad(L.ignores_x, wrt=(0, 1))(w, x)
    np.testing.assert_array_equal(gw, 2 * w)
    assert gx.shape == (2, 3) and gx.dtype == np.float32
    np.testing.assert_array_equal(gx, np.zeros((2, 3)))
    g = gradc.grad(L.ignores_x, wrt="x")(w, 2.5)
    assert type(g) is float and g == 0.0


# -- caching -----------------------------------------------------------------------------

def test_compiled_objects_are_cached_per_function_and_wrt():
    assert gradc.compile(L.rss, "w") is gradc.compile(L.rss, "w")
    assert gradc.compile(L.rss, ("w", "X")) is gradc.compile(L.rss, ["w", "X"])
    assert gradc.compile(L.rss, "w") is not gradc.compile(L.rss, "X")
    assert gradc.grad(L.rss, "w").compiled is gradc.compile(L.rss, "w")
    assert gradc.value_and_grad(L.rss, "w").compiled is gradc.compile(L.rss, "w")


def test_no_recompilation_across_100_calls(count_builds):
    r = np.random.default_rng(1)
    X, y = r.normal(size=(6, 3)), r.normal(size=6)
    vg = gradc.value_and_grad(L.rss, wrt="w")
    vg(np.zeros(3), X, y)
    specs = vg.compiled._specs
    n_specs, n_builds = len(specs), len(count_builds)
    w = np.zeros(3)
    for _ in range(100):
        w_prev = w
        v, g = vg(w, X, y)
        w = w - 0.01 * g
    assert len(vg.compiled._specs) == n_specs
    assert len(count_builds) == n_builds
    assert_close(g, 2 * X.T @ (X @ w_prev - y), rtol=1e-12, atol=1e-12)
    # gradient descent on a least-squares problem reduces the loss
    assert v < L.rss(np.zeros(3), X, y)


def test_python_float_values_do_not_recompile(count_builds):
    g = gradc.grad(L.float_scalar, wrt="a")
    g(0.5, 1.0)
    before = len(count_builds)
    for i in range(100):
        g(0.5 + i / 100, 1.0 + i / 50)
    assert len(count_builds) == before


def test_new_shapes_and_dtypes_get_new_specialisations(count_builds):
    c = gradc.compile(L.uses_constants, wrt="w")
    c._specs.clear()
    c.grad(np.ones(3))
    assert len(c._specs) == 1
    c.grad(np.ones(3, np.float32))
    assert len(c._specs) == 2
    assert c.ir.inputs[0].dtype == np.float32
    c2 = gradc.compile(L.loop_len, wrt="w")
    c2._specs.clear()
    c2.grad(np.ones(3))
    c2.grad(np.ones(5))
    assert len(c2._specs) == 2
    assert c2.ir.inputs[0].shape == (5,)  # .ir follows the latest signature
    c2.grad(np.ones(3))
    assert len(c2._specs) == 2
    assert c2.ir.inputs[0].shape == (3,)
    before = len(count_builds)
    for _ in range(10):
        c2.grad(np.ones(3))
        c2.grad(np.ones(5))
    assert len(count_builds) == before


def test_static_int_arguments_specialise_once_per_value(count_builds):
    c = gradc.compile(L.static_if_int, wrt="w")
    c._specs.clear()
    w = np.ones(3)
    for k in (1, 2, 1, 2, 2, 1):
        c.grad(w, k)
    assert len(c._specs) == 2


def test_lazy_compilation(count_builds):
    c = gradc.compile(L.loop_start_stop_step, wrt="w")
    c._specs.clear()
    c._latest = None
    with pytest.raises(gradc.CompileError):
        c.ir  # nothing compiled yet
    assert count_builds.count("loop_start_stop_step") == 0
    c.grad(np.ones(5))
    assert count_builds.count("loop_start_stop_step") == 1
    assert "v_0" in str(c.ir)


def test_rebinding_a_module_constant_recompiles(monkeypatch):
    w = np.array([1.0, 2.0, 3.0])
    vg = gradc.value_and_grad(L.uses_rebound_const, wrt="w")
    v, g = vg(w)
    assert_close(g, L.CONST_ARG * np.ones(3), rtol=0, atol=0)
    monkeypatch.setattr(L, "CONST_ARG", 5.0)
    v, g = vg(w)
    assert_close(v, 30.0, rtol=1e-15, atol=0)
    assert_close(g, 5.0 * np.ones(3), rtol=0, atol=0)
    monkeypatch.setattr(L, "CONST_ARG", 2.0)
    assert_close(vg(w)[0], 12.0, rtol=1e-15, atol=0)


def test_rebinding_a_constant_read_by_a_helper_recompiles(monkeypatch):
    w = np.array([1.0, 2.0, 3.0])
    g = gradc.grad(L.uses_rebound_const_via_helper, wrt="w")
    assert_close(g(w), L.CONST_ARG * np.ones(3), rtol=0, atol=0)
    monkeypatch.setattr(L, "CONST_ARG", 7.0)
    assert_close(g(w), 7.0 * np.ones(3), rtol=0, atol=0)


def test_rebinding_a_module_array_recompiles(monkeypatch):
    w = np.array([1.0, 2.0, 3.0])
    g = gradc.grad(L.uses_constants, wrt="w")
    g(w)
    monkeypatch.setattr(L, "OFFSET", np.array([10.0, 10.0, 10.0]))
    expected = 2 * L.SCALE * (w - 10.0) + 2 * L.LAM * w
    assert_close(g(w), expected, rtol=1e-14, atol=0)


def test_helper_from_another_module_uses_its_own_constants(count_builds):
    w = np.array([1.0, 2.0, 3.0])
    g = gradc.grad(L.uses_other_module_helper, wrt="w")
    expected = (L.SCALE + other_module.SCALE) * np.ones(3)
    assert_close(g(w), expected, rtol=0, atol=0)
    before = len(count_builds)
    for _ in range(20):
        g(w)
    assert len(count_builds) == before, (
        f"recompiled {len(count_builds) - before} times in 20 calls with the same shapes")


def test_rebinding_a_constant_only_a_helper_in_another_module_reads(monkeypatch):
    w = np.array([1.0, 2.0, 3.0])
    g = gradc.grad(L.uses_other_module_only, wrt="w")
    assert_close(g(w), other_module.OTHER_ONLY * np.ones(3), rtol=0, atol=0)
    monkeypatch.setattr(other_module, "OTHER_ONLY", -1.0)
    assert_close(g(w), -1.0 * np.ones(3), rtol=0, atol=0)


def test_rebinding_a_constant_in_a_helpers_own_module_recompiles(monkeypatch):
    w = np.array([1.0, 2.0, 3.0])
    g = gradc.grad(L.uses_other_module_helper, wrt="w")
    g(w)
    monkeypatch.setattr(other_module, "SCALE", 10.0)
    assert_close(g(w), (L.SCALE + 10.0) * np.ones(3), rtol=0, atol=0)


# -- purity ------------------------------------------------------------------------------

PURITY_CASES = [
    (L.mlp, mlp_args),
    (L.logistic_regression, logreg_args),
    (L.aug_assign, lambda: (np.array([0.3, -0.2, 0.5]),)),
    (L.not_in_place, lambda: (np.array([0.3, -0.2, 0.5]), np.array([1.0, 2.0, 3.0]))),
    (L.broadcast_bias, lambda: (np.ones((3, 4)), np.arange(4.0))),
    (L.index_slices, lambda: (np.arange(6.0),)),
    (L.attr_T, lambda: (np.arange(12.0).reshape(3, 4), np.arange(3.0))),
    (L.chained_helpers_grad_tuple, lambda: (np.array([0.3, -0.2]), np.array([1.0, 2.0]),
                                            np.array([0.5, 0.5]))),
    (L.linalg_funcs, lambda: (np.arange(9.0).reshape(3, 3) / 9, np.array([1.0, -1.0, 0.5]))),
    (L.vector_dot, lambda: (np.array([1.0, 2.0]), np.array([3.0, 4.0]))),
]


@pytest.mark.parametrize("fn,make", PURITY_CASES, ids=[f.__name__ for f, _ in PURITY_CASES])
def test_inputs_are_never_modified(fn, make):
    args = make()
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    wrt = tuple(i for i, a in enumerate(args)
                if isinstance(a, float) or isinstance(a, np.ndarray) and a.dtype.kind == "f")
    vg = gradc.value_and_grad(fn, wrt=wrt)
    for _ in range(3):
        v, grads = vg(*args)
        gradc.compile(fn, wrt=wrt).value(*args)
        for a, c in zip(args, copies):
            np.testing.assert_array_equal(a, c)
        # the gradients are new arrays, not views of the arguments
        for g in grads:
            for a in args:
                if isinstance(g, np.ndarray) and isinstance(a, np.ndarray):
                    assert not np.shares_memory(g, a)


def test_returned_gradients_are_not_shared_between_calls():
    """Changing a gradient the caller got must not change later results."""
    for fn, w in ((L.uses_big_table, np.ones((4, 5))), (L.uses_constants, np.ones(3)),
                  (L.like_funcs, np.ones(3)), (L.linear_table, np.ones((4, 5))),
                  (L.linear_offset, np.ones(3)), (L.uses_other_module_tanh, np.ones(3))):
        g = gradc.grad(fn)
        first = g(w)
        expected = first.copy()
        first *= 0.0  # the caller reuses its buffer, as an optimiser might
        second = g(w)
        assert not np.shares_memory(first, second), f"{fn.__name__}: same array returned twice"
        np.testing.assert_array_equal(second, expected)


def test_gradient_of_a_linear_function_is_a_fresh_array():
    W = np.ones((4, 5))
    g = gradc.grad(L.broadcast_column, wrt="c")
    a = g(W, np.ones((4, 1)))
    a[:] = -1.0
    np.testing.assert_array_equal(g(W, np.ones((4, 1))), np.full((4, 1), 5.0))
    # a gradient that is a module constant (d/dW sum(W * TABLE) = TABLE) is a copy
    table = L.TABLE.copy()
    gt = gradc.grad(L.linear_table)(np.ones((4, 5)))
    np.testing.assert_array_equal(gt, table)
    assert not np.shares_memory(gt, L.TABLE)
    gt[:] = 0.0
    np.testing.assert_array_equal(L.TABLE, table)
    np.testing.assert_array_equal(gradc.grad(L.linear_table)(np.ones((4, 5))), table)


# -- inspecting ----------------------------------------------------------------------------

def test_ir_listing(capsys):
    w, b, X, y = logreg_args()
    c = gradc.compile(L.logistic_regression, wrt=("w", "b"), args=(w, b, X, y))
    print(c.ir)
    out = capsys.readouterr().out
    assert "v_0" in out and "v_-1" in out
    assert re.search(r"^\s*v_1\s+= ", out, re.M), out  # `v_1 =`, padded to align with v_10
    assert out.splitlines()[0].startswith("logistic_regression(")
    ops = c.ir.ops
    assert ops and all(isinstance(op.prim.name, str) for op in ops)
    assert re.search(rf"^\s*v_{len(ops)}\s+= ", out, re.M)
    assert "softplus" in [op.prim.name for op in ops]
    adj = str(c.adjoint_ir)
    assert "reverse sweep" in adj and "v\u0304_" in adj
    assert len(c.adjoint_ir.ops) > len(ops)


def test_source_defines_value_and_gradient_functions():
    w, b, X, y = logreg_args()
    c = gradc.compile(L.logistic_regression, wrt="w", args=(w, b, X, y))
    src = c.source
    assert "def logistic_regression(w, b, X, y):" in src
    assert "def logistic_regression_value_and_grad(w, b, X, y):" in src
    assert "import numpy as np" in src
    compile(src, "<generated>", "exec")  # valid Python


def _source_in_fresh_process(seed):
    code = textwrap.dedent("""
        import json, sys
        import numpy as np
        sys.path.insert(0, "tests")
        import gradc
        from fixtures import losses as L
        r = np.random.default_rng(7)
        out = {}
        out["mlp"] = gradc.compile(L.mlp, wrt=("W1", "b1", "W2", "b2"), args=(
            r.normal(size=(3, 4)), r.normal(size=4), r.normal(size=(4, 2)), r.normal(size=2),
            r.normal(size=(5, 3)), np.eye(2)[[0, 1, 1, 0, 1]])).source
        out["helpers"] = gradc.compile(L.uses_helpers, wrt=0, args=(np.ones(3),)).source
        out["table"] = gradc.compile(L.uses_big_table, wrt=0, args=(np.ones((4, 5)),)).source
        out["loop"] = gradc.compile(L.loop_shape, wrt=0, args=(np.ones((3, 4)),)).source
        print(json.dumps(out))
    """)
    env = dict(os.environ, PYTHONHASHSEED=str(seed))
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_source_is_deterministic_across_processes():
    a = _source_in_fresh_process(1)
    b = _source_in_fresh_process(12345)
    assert a == b
    # and the same as compiling here, in a process that has compiled much else before
    args = mlp_args()
    here = gradc.compile(L.mlp, wrt=("W1", "b1", "W2", "b2"), args=args).source
    assert here == a["mlp"]
    assert gradc.compile(L.loop_shape, wrt=0, args=(np.ones((3, 4)),)).source == a["loop"]


# -- saving -----------------------------------------------------------------------------------

RUNNER = textwrap.dedent("""
    import importlib, json, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    results = {}
    for name, fname in json.loads(sys.argv[2]).items():
        mod = importlib.import_module(name)
        data = np.load(name + "_args.npz")
        args = [data[f"a{i}"] for i in range(len(data.files))]
        args = [a.item() if a.dtype == object else a for a in args]
        # a Python-float argument was saved as a 0-d array: the module checks for a float
        args = [a.item() if a.ndim == 0 and a.dtype == np.float64 else a for a in args]
        value = getattr(mod, fname)(*args)
        v2, grads = getattr(mod, fname + "_value_and_grad")(*args)
        results[name] = {"value": float(value), "v2": float(v2),
                         "grads": [np.asarray(g).tolist() for g in
                                   (grads if isinstance(grads, tuple) else (grads,))]}
    leaked = sorted(m for m in sys.modules
                    if m.split(".")[0] in ("gradc", "compiler", "runtime", "tests", "fixtures"))
    print(json.dumps({"results": results, "leaked": leaked}))
""")


def test_save_writes_standalone_modules(tmp_path):
    w, b, X, y = logreg_args()
    cases = {
        "m_logreg": (L.logistic_regression, "w", (w, b, X, y)),
        "m_mlp": (L.mlp, ("W1", "b1", "W2", "b2"), mlp_args()),
        "m_table": (L.uses_big_table, "W", (np.linspace(-1, 1, 20).reshape(4, 5),)),
        "m_nn": (L.nn_funcs, 0, (np.array([0.3, -1.2, 2.0, -0.1]),)),
        "m_loop": (L.loop_shape, "W", (np.arange(12.0).reshape(3, 4) / 7,)),
    }
    modules_dir = tmp_path / "pkg"
    modules_dir.mkdir()
    expected = {}
    for name, (fn, wrt, args) in cases.items():
        c = gradc.compile(fn, wrt=wrt, args=args)
        path = c.save(modules_dir / f"{name}.py")
        assert Path(path) == modules_dir / f"{name}.py"
        text = (modules_dir / f"{name}.py").read_text()
        imported = {alias.name.split(".")[0] for node in ast.walk(ast.parse(text))
                    if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(ast.parse(text))
                     if isinstance(node, ast.ImportFrom)}
        assert imported <= {"numpy", "os"}, imported
        np.savez(tmp_path / f"{name}_args.npz",
                 **{f"a{i}": np.asarray(a) for i, a in enumerate(args)})
        v, grads = c.value_and_grad(*args)
        expected[name] = (v, grads if isinstance(grads, tuple) else (grads,), fn.__name__)
    # the large constant went to a sidecar, not into the source
    assert (modules_dir / "m_table_consts.npz").exists()
    table_src = (modules_dir / "m_table.py").read_text()
    assert "m_table_consts.npz" in table_src
    assert repr(L.TABLE.ravel()[7].item()) not in table_src.replace("line", "")  # 0.7 not inlined
    assert not (modules_dir / "m_nn_consts.npz").exists()

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    res = subprocess.run(
        [sys.executable, "-c", RUNNER, str(modules_dir),
         json.dumps({n: e[2] for n, e in expected.items()})],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["leaked"] == [], f"saved modules imported {out['leaked']}"
    for name, (v, grads, _) in expected.items():
        got = out["results"][name]
        assert_close(got["value"], v, rtol=1e-14, atol=0, what=name)
        assert_close(got["v2"], v, rtol=1e-14, atol=0, what=name)
        assert len(got["grads"]) == len(grads)
        for g_saved, g_here in zip(got["grads"], grads):
            assert_close(g_saved, g_here, rtol=1e-14, atol=0, what=name)


def test_saved_module_finds_its_sidecar_from_another_directory(tmp_path):
    W = np.linspace(-1, 1, 20).reshape(4, 5)
    c = gradc.compile(L.uses_big_table, wrt="W", args=(W,))
    c.save(tmp_path / "table_grad.py")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    np.save(elsewhere / "W.npy", W)
    code = textwrap.dedent(f"""
        import importlib.util, sys, numpy as np
        spec = importlib.util.spec_from_file_location("table_grad", {str(tmp_path / "table_grad.py")!r})
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        v, g = mod.uses_big_table_value_and_grad(np.load("W.npy"))
        np.save("g.npy", g)
        print(repr(float(v)))
    """)
    res = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    v, g = c.value_and_grad(W)
    assert float(res.stdout) == pytest.approx(float(v), rel=1e-14)
    np.testing.assert_allclose(np.load(elsewhere / "g.npy"), g, rtol=1e-14)


def test_repr_names_function_and_wrt():
    c = gradc.compile(L.mlp, wrt=("W1", "b2"))
    r = repr(c)
    assert "mlp" in r and "W1" in r and "b2" in r
