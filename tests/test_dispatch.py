"""The call path (compiler/dispatch.py): a call matching a recent specialisation runs its
generated code directly. These tests check that the shortcut never changes an answer: a new
shape, dtype, kind of number or compile-time value compiles (or finds) its own code; a
changed global or function recompiles; threads get bitwise the single-threaded results.
Speed is measured in benchmarks/, never here."""
import importlib.util
import sys
import threading
import warnings

import numpy as np
import pytest

import gradc
from gradc import api, dispatch
from gradc.runtime import loader

from fixtures.numeric import assert_close, fd_grad

LAM = 0.5


def quad(w, X, lam):
    r = X @ w
    return np.sum(r * r) + lam * np.sum(w ** 2)


def scaled(w, k, mode):
    return np.sum(w ** k) if mode == "power" else k * np.sum(w)


def uses_global(w):
    return LAM * np.sum(w ** 2)


def with_default(w, lam=0.25):
    return lam * np.sum(np.tanh(w) ** 2)


def weak(w, lam):
    return lam * np.sum(w * w)


@pytest.fixture
def builds(monkeypatch):
    calls = []
    original = api.Compiled._build

    def counting(self, args):
        calls.append(self.fn.__name__ if hasattr(self.fn, "__name__") else self.fn)
        return original(self, args)

    monkeypatch.setattr(api.Compiled, "_build", counting)
    return calls


def fresh(fn, wrt):
    c = gradc.compile(fn, wrt=wrt)
    c._specs.clear()
    c._latest = None
    return c


def test_matching_calls_take_the_fast_path_and_never_recompile(builds, monkeypatch):
    r = np.random.default_rng(0)
    w, X = r.normal(size=3), r.normal(size=(5, 3))
    fresh(quad, "w")
    vg = gradc.value_and_grad(quad, wrt="w")
    v0, g0 = vg(w, X, 0.1)
    assert len(builds) == 1 and vg.compiled._specs.hot
    slow = []
    monkeypatch.setattr(api.Compiled, "_arguments", lambda self, *a, **k: slow.append(1))
    for _ in range(20):
        v, g = vg(w, X, 0.1)
    assert not slow and len(builds) == 1  # the fast path: no binding, no lookup
    assert v == v0 and np.array_equal(g, g0)
    assert_close(g, fd_grad(quad, (w, X, 0.1), 0), rtol=1e-6)


@pytest.mark.parametrize("call", ["function", "methods"])
def test_new_shapes_dtypes_and_number_kinds_get_their_own_code(builds, call):
    c = fresh(quad, ("w", "lam"))
    vg = gradc.value_and_grad(quad, wrt=("w", "lam")) if call == "function" else c.value_and_grad
    r = np.random.default_rng(1)
    cases = [
        (r.normal(size=3), r.normal(size=(4, 3)), 0.3),  # Python float
        (r.normal(size=5), r.normal(size=(4, 5)), 0.3),  # another shape
        (r.normal(size=3).astype(np.float32), r.normal(size=(4, 3)).astype(np.float32), 0.3),  # dtype
        (r.normal(size=3), r.normal(size=(4, 3)), np.float64(0.3)),  # a NumPy scalar
        (r.normal(size=3), r.normal(size=(4, 3)), np.array(0.3)),  # a 0-d array
        (r.normal(size=3).astype(np.float32), r.normal(size=(4, 3)).astype(np.float32), np.float32(0.3)),
    ]
    for _ in range(3):  # the second and third rounds come from the cache (hot or not)
        for w, X, lam in cases:
            v, (gw, glam) = vg(w, X, lam)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                want = quad(w, X, lam)  # NumPy's value, dtype included (NEP 50: a Python float is weak)
            assert type(v) is type(want) and v.dtype == want.dtype
            assert_close(v, want, rtol=1e-5 if w.dtype == np.float32 else 1e-12)
            assert gw.shape == w.shape and gw.dtype == w.dtype
            assert type(glam) is type(lam) and np.shape(glam) == np.shape(lam)
            if type(lam) is not float:
                assert np.asarray(glam).dtype == np.asarray(lam).dtype
            if w.dtype == np.float64:
                assert_close(gw, fd_grad(quad, (w, X, lam), 0), rtol=1e-6)
    assert len(builds) == len(cases)


def test_compile_time_arguments_match_by_type_and_value(builds):
    c = fresh(scaled, "w")
    w = np.array([0.5, -1.5, 2.0])
    for _ in range(2):
        for k, mode in [(2, "power"), (3, "power"), (2, "scale"), (True, "scale")]:
            g = c.grad(w, k, mode)
            want = k * w ** (k - 1) if mode == "power" else np.full(3, float(k))
            assert_close(g, want, rtol=1e-12)
    assert len(builds) == 4  # True is not 1: a bool is its own compile-time value


def test_a_changed_global_or_function_recompiles_through_the_fast_path(builds):
    global LAM
    w = np.array([1.0, 2.0])
    fresh(uses_global, "w")
    g = gradc.grad(uses_global)
    try:
        assert_close(g(w), 2 * LAM * w)
        LAM = 3.0
        assert_close(g(w), 6.0 * w)
    finally:
        LAM = 0.5
    assert_close(g(w), w)
    c = fresh(with_default, "w")
    assert_close(c.grad(w, 0.25), fd_grad(with_default, (w, 0.25), 0), rtol=1e-6)
    with_default.__defaults__ = (0.5,)
    try:
        assert_close(c.grad(w), fd_grad(with_default, (w, 0.5), 0), rtol=1e-6)
    finally:
        with_default.__defaults__ = (0.25,)
    assert_close(c.grad(w), fd_grad(with_default, (w, 0.25), 0), rtol=1e-6)


def test_keywords_defaults_and_positions_reach_the_same_code(builds):
    c = fresh(with_default, "w")
    w = np.array([0.3, -0.7])
    a = c.value_and_grad(w)
    b = c.value_and_grad(w, 0.25)
    d = c.value_and_grad(w=w, lam=0.25)
    assert a[0] == b[0] == d[0] and np.array_equal(a[1], b[1]) and np.array_equal(a[1], d[1])
    assert len(builds) == 1


@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_other_arguments_never_match_a_plain_arrays_code():
    c = fresh(weak, "w")
    w = np.array([1.0, 2.0])
    c.grad(w, 0.5)
    with pytest.raises(gradc.CompileError, match="subclass of ndarray"):
        c.grad(np.matrix([[1.0, 2.0]]), 0.5)
    with pytest.raises(gradc.CompileError):
        c.grad(w, "0.5")
    # an equal dtype that is another object takes the general path: the same answer
    meta = np.dtype(np.float64, metadata={"unit": "m"})
    assert np.array_equal(c.grad(w.astype(meta), 0.5), c.grad(w, 0.5))
    swapped = np.array([1.0, 2.0], dtype=np.dtype(np.float64).newbyteorder())
    with pytest.raises(gradc.CompileError, match="byte order"):  # (was a ValueError from the generated check)
        c.grad(swapped, 0.5)


def test_the_matcher_tests_exactly_the_kinds_it_was_made_for():
    w = np.zeros(3)
    match = dispatch.matcher((w, 0.5, np.float32(1), 3, "a", None, True))
    assert match(np.ones(3), 1.5, np.float32(2), 3, "a", None, True)
    for k, other in [(0, np.zeros(4)), (0, np.zeros(3, np.float32)), (0, np.zeros((1, 3))), (0, [0.0, 0, 0]),
                     (1, np.float64(0.5)), (1, 1), (2, np.float64(1)), (3, 4), (3, 3.0), (3, True),
                     (4, "b"), (5, 0), (6, 1)]:
        args = [np.ones(3), 1.5, np.float32(2), 3, "a", None, True]
        args[k] = other
        assert not match(*args), (k, other)
    tree = dispatch.matcher(({"w": w, "n": 3, "l": [w, 0.5]},))
    assert tree({"w": np.ones(3), "n": 3, "l": [w, 1.5]})
    for other in [{"n": 3, "w": w, "l": [w, 0.5]}, {"w": w, "n": 4, "l": [w, 0.5]}, {"w": w, "n": 3, "l": (w, 0.5)},
                  {"w": w, "n": 3, "l": [w, 0.5, 1.0]}, {"w": w, "n": 3}, {"w": w, "n": 3, "l": [w, np.float64(1)]}]:
        assert not tree(other), other
    assert dispatch.matcher(({1, 2},)) is None  # a set: the general path (which refuses it)
    assert dispatch.matcher((np.zeros(2, dtype=complex),)) is not None  # (refused when compiled)


def test_clearing_the_cache_drops_the_fast_path(builds):
    c = fresh(quad, "w")
    args = (np.ones(3), np.ones((2, 3)), 0.5)
    c.grad(*args)
    assert c._specs.hot
    c._specs.clear()
    assert not c._specs.hot
    c.grad(*args)
    assert len(builds) == 2 and len(c._specs) == 1


def test_evicted_specialisations_leave_the_fast_path(builds):
    c = fresh(quad, "w")
    c.max_specializations = 2
    for n in (2, 3, 4, 2, 3, 4):
        c.grad(np.ones(n), np.ones((2, n)), 0.5)
    assert len(c._specs) == 2
    assert {h.key for h in c._specs.hot} <= set(c._specs)
    assert len(builds) == 6  # each shape evicted before it came back


def test_a_saved_module_keeps_its_checks(tmp_path):
    c = gradc.compile(quad, wrt="w", args=(np.ones(3), np.ones((2, 3)), 0.5))
    path = c.save(tmp_path / "quad_grad.py", overwrite=True)
    spec = importlib.util.spec_from_file_location("quad_grad_saved", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with pytest.raises(ValueError, match="generated for w"):
        mod.quad_value_and_grad(np.ones(4), np.ones((2, 4)), 0.5)
    # in gradc, the same call compiles new code
    v, g = c.value_and_grad(np.ones(4), np.ones((2, 4)), 0.5)
    assert g.shape == (4,)


def test_the_fast_functions_are_the_modules_own_code():
    c = gradc.compile(quad, wrt="w", args=(np.ones(3), np.ones((2, 3)), 0.5))
    spec = c.latest
    assert spec.fast_value_and_grad_fn.__code__ is spec.value_and_grad_fn.__code__
    assert spec.fast_value_and_grad_fn is not spec.value_and_grad_fn
    with pytest.raises(ValueError, match="generated for"):
        spec.value_and_grad_fn(np.ones(4), np.ones((2, 4)), 0.5)


# -- threads ---------------------------------------------------------------------------


def mlp(W1, W2, X, y):
    h = np.tanh(X @ W1)
    return np.mean((h @ W2 - y) ** 2)


def _thread_cases(n):
    r = np.random.default_rng(7)
    out = []
    for k in range(n):
        rows = (16, 24)[k % 2]  # two shapes: the threads also compile and switch specialisations
        out.append((r.normal(size=(5, 8)), r.normal(size=8), r.normal(size=(rows, 5)), r.normal(size=rows)))
    return out


@pytest.mark.parametrize("entry", ["value_and_grad", "grad", "method"])
def test_threads_get_bitwise_the_single_threaded_results(entry, builds):
    cases = _thread_cases(12)
    c = fresh(mlp, ("W1", "W2"))
    if entry == "method":
        fn = c.value_and_grad
    else:
        fn = getattr(gradc, entry)(mlp, wrt=("W1", "W2"))
    expected = [fn(*a) for a in cases]
    n_builds = len(builds)
    c._specs.clear()  # the threads start cold: compiling under concurrency too
    results = {}
    errors = []
    barrier = threading.Barrier(8)

    def work(t):
        try:
            barrier.wait()
            for rep in range(40):
                k = (t * 5 + rep) % len(cases)
                results.setdefault(k, []).append(fn(*cases[k]))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors
    assert sum(map(len, results.values())) == 8 * 40
    for k, got in results.items():
        for out in got:
            _assert_bitwise(out, expected[k])
    assert len(builds) - n_builds == 2  # one compile per shape, however many threads asked


def _assert_bitwise(a, b):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_bitwise(x, y)
    else:
        assert type(a) is type(b)
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()  # nan too


def test_threads_calling_a_scalar_formula():
    vg = gradc.value_and_grad("sqrt(x**2 + exp(x**2)) + cos(x**2 + exp(x**2))", wrt="x")
    xs = [float(x) for x in np.linspace(-2, 2, 41)] + [0.0, -0.0, 1e200]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = [vg(x) for x in xs]
        out = [[] for _ in range(4)]

        def work(t):
            for _ in range(30):
                out[t].append([vg(x) for x in xs])

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for t in range(4):
        for got in out[t]:
            for a, b in zip(got, expected):
                _assert_bitwise(a, b)


def test_linecache_entries_survive_the_fast_path_copies():
    c = gradc.compile(quad, wrt="w", args=(np.ones(3), np.ones((2, 3)), 0.5))
    files = loader.generated_files({"f": c.latest.fast_value_and_grad_fn})
    import linecache
    assert files and all(f in linecache.cache for f in files)


def test_dispatch_source_has_no_user_text():
    # the matcher is made of argument positions and bound names only
    w = np.zeros(2)
    match = dispatch.matcher((w, "'; import os #", 3))
    assert match(w, "'; import os #", 3) and not match(w, "x", 3)


def test_sigmoid_skips_errstate_only_where_nothing_can_overflow():
    from gradc.runtime import support

    def reference(x):
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-x))

    points = [0.0, 1.5, -708.9, -709.0, -709.5, -709.8, -710.0, -800.0, 800.0, np.inf, -np.inf, np.nan]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # never an overflow warning, on either branch
        for x in points:
            for value in (x, np.float64(x), np.array(x), np.array([x, 0.5]), np.float32(x)):
                got, want = support.sigmoid(value), reference(value)
                assert type(got) is type(want)
                assert np.asarray(got).tobytes() == np.asarray(want).tobytes(), (x, type(value))


def tree_loss(params, batch, n):
    h = batch["X"]
    for W, b in params["layers"]:
        h = np.tanh(h @ W + b)
    err = h @ params["head"] - batch["y"]
    return np.mean(err ** 2) * n + params["scale"] * np.sum(params["head"] ** 2)


def _tree(r, width=4, depth=2, keys=("layers", "head", "scale")):
    layers = [(r.normal(size=(3 if i == 0 else width, width)), r.normal(size=width)) for i in range(depth)]
    values = {"layers": layers, "head": r.normal(size=width), "scale": 0.01}
    return {k: values[k] for k in keys}


def test_parameter_trees_take_the_fast_path_and_their_structure_is_checked(builds, monkeypatch):
    r = np.random.default_rng(3)
    params, batch = _tree(r), {"X": r.normal(size=(5, 3)), "y": r.normal(size=5)}
    c = fresh(tree_loss, "params")
    vg = gradc.value_and_grad(tree_loss, wrt="params")
    v0, g0 = vg(params, batch, 2)
    assert c._specs.hot  # a tree has a matcher too
    calls = []
    original = api.Compiled._arguments
    monkeypatch.setattr(api.Compiled, "_arguments", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    v1, g1 = vg(params, batch, 2)
    assert not calls and v1 == v0
    assert np.array_equal(g1["layers"][1][0], g0["layers"][1][0]) and type(g1["scale"]) is float
    others = [
        (_tree(r, keys=("head", "layers", "scale")), batch, 2),  # dict keys in another order
        (_tree(r, depth=3), batch, 2),  # a longer list
        ({**_tree(r), "layers": [list(p) for p in _tree(r)["layers"]]}, batch, 2),  # lists, not tuples
        ({**_tree(r), "scale": np.float64(0.01)}, batch, 2),  # a NumPy scalar leaf
        (_tree(r, width=5), batch, 2),  # other shapes
        (params, {"X": r.normal(size=(7, 3)), "y": r.normal(size=7)}, 2),
        (params, batch, 3),  # another compile-time value
    ]
    for args in others:
        n = len(builds)
        v, g = vg(*args)
        assert len(builds) == n + 1, args  # each is new: compiled, never run on the old code
        want = fd_grad(lambda head: tree_loss({**args[0], "head": head}, args[1], args[2]),
                       (args[0]["head"],), 0)
        assert_close(g["head"], want, rtol=1e-6)
        assert list(g) == list(args[0]) and type(g["layers"]) is type(args[0]["layers"])


# -- the fused entry functions and the unrolled guard ----------------------------------------


def overflows(x, scale):
    return np.sum(np.exp(x * scale))


def test_fast_functions_are_the_modules_code_with_the_match_as_their_check():
    vg = gradc.value_and_grad(overflows)
    x = np.array([1.0, 2.0])
    vg(x, 1.0)
    hot = vg.compiled._specs.hot[0]
    spec = vg.compiled.latest
    for fast, module_fn in [(hot.value_and_grad, spec.value_and_grad_fn), (hot.value, spec.value_fn)]:
        code = fast.__code__
        assert code.co_filename == module_fn.__code__.co_filename and code.co_name == module_fn.__name__
        assert code.co_firstlineno == module_fn.__code__.co_firstlineno
        assert "check_arguments" not in code.co_names
    assert hot.value_and_grad(np.ones(3), 1.0) is dispatch.MISS  # another shape: not run
    assert hot.value_and_grad(x, 1) is dispatch.MISS  # an int where a float was compiled for
    assert hot.grad(x, 1.0) is not dispatch.MISS and hot.grad(np.ones(3), 1.0) is dispatch.MISS
    # a traceback through it shows the module's line
    with np.errstate(over="raise"), pytest.raises(FloatingPointError) as info:
        vg(x, 1000.0)
    frames = [f for f in info.traceback if str(f.path).startswith("<gradc:")]
    assert frames and "np.exp(" in str(frames[-1].statement)


def shadowing(ndarray, MISS):
    return np.sum(ndarray ** 2) * MISS


def test_a_name_the_match_needs_taken_in_the_module_falls_back_to_calling_it(builds):
    c = fresh(shadowing, "ndarray")
    x = np.array([1.0, -2.0])
    assert_close(c.grad(x, 3.0), 6.0 * x)
    hot = c._specs.hot[0]
    assert hot.value_and_grad.__code__.co_filename == "<gradc:dispatch>"  # the wrapper, not fused
    assert_close(c.grad(x, 3.0), 6.0 * x)
    assert_close(c.grad(np.ones(3), 3.0), np.full(3, 6.0))
    assert len(builds) == 2
    spec = c.latest
    assert dispatch._fused(spec.fast_value_fn, "True", {"np": 0}) is None  # `np` is the module's


def uses_tanh(x):
    return np.sum(np.tanh(x))


def test_a_module_attribute_replaced_recompiles_through_the_fast_path(builds, monkeypatch):
    fresh(uses_tanh, 0)
    vg = gradc.value_and_grad(uses_tanh)
    x = np.array([0.3, -0.8])
    assert_close(vg(x)[1], 1 - np.tanh(x) ** 2)
    assert_close(vg(x)[1], 1 - np.tanh(x) ** 2)
    monkeypatch.setattr(np, "tanh", np.arctan)
    value, grad = vg(x)
    assert value == np.sum(np.arctan(x)) and len(builds) == 2
    assert_close(grad, 1 / (1 + x ** 2))
    monkeypatch.undo()
    assert_close(vg(x)[1], 1 - np.tanh(x) ** 2)


def uses_sigmoid(x):
    return np.sum(gradc.nn.sigmoid(x) * SQUASH(x))


SQUASH = gradc.nn.sigmoid


def test_a_rebound_gradc_helper_recompiles(builds):
    global SQUASH
    fresh(uses_sigmoid, 0)
    g = gradc.grad(uses_sigmoid)
    x = np.array([0.3, -0.8])
    assert_close(g(x), fd_grad(uses_sigmoid, (x,), 0), rtol=1e-6)
    SQUASH = gradc.nn.softplus
    try:
        assert_close(g(x), fd_grad(uses_sigmoid, (x,), 0), rtol=1e-6)
    finally:
        SQUASH = gradc.nn.sigmoid
    assert len(builds) == 2
    guard = g.compiled.latest.guard
    assert all(check is None for slot, obj, check in guard.checks if obj is gradc.nn.sigmoid)  # identity only


def many_long_named_arguments(first_weight_vector, second_weight_vector, third_weight_vector,
                              fourth_weight_vector, scale_of_everything):
    total = first_weight_vector * second_weight_vector + third_weight_vector
    return np.sum(np.exp(total * fourth_weight_vector)) * scale_of_everything


def test_a_check_call_over_several_lines_is_replaced_with_the_lines_kept():
    c = fresh(many_long_named_arguments, 0)
    args = [np.full(3, 0.5), np.full(3, 2.0), np.zeros(3), np.ones(3), 2.0]
    v, g = c.value_and_grad(*args)
    spec = c.latest
    lines = spec.source.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("def many_long_named_arguments_value_and_grad"))
    check = next(i for i in range(first, len(lines)) if lines[i].startswith("    check_arguments("))
    assert lines[check] == "    check_arguments(" and lines[check + 1].startswith("        ")  # several lines
    hot = c._specs.hot[0]
    assert hot.value_and_grad.__code__.co_filename.startswith("<gradc:")  # fused
    assert hot.value_and_grad(*args)[0] == v
    assert_close(g, fd_grad(many_long_named_arguments, args, 0), rtol=1e-6)
    with np.errstate(over="raise"), pytest.raises(FloatingPointError) as info:
        c.value_and_grad(np.full(3, 30.0), np.full(3, 30.0), np.zeros(3), np.ones(3), 2.0)
    frames = [f for f in info.traceback if str(f.path).startswith("<gradc:")]
    assert "np.exp(" in str(frames[-1].statement)  # the module's own line numbers


def test_parameter_tree_entries_are_fused_too():
    r = np.random.default_rng(5)
    params, batch = _tree(r), {"X": r.normal(size=(5, 3)), "y": r.normal(size=5)}
    vg = gradc.value_and_grad(tree_loss, wrt="params")
    v0, g0 = vg(params, batch, 2)
    hot = vg.compiled._specs.hot[0]
    assert hot.value_and_grad.__code__.co_filename.startswith("<gradc:")
    assert hot.value_and_grad(params, batch, 2)[0] == v0
    assert hot.value_and_grad(params, batch, 3) is dispatch.MISS
    assert hot.value_and_grad({**params, "scale": np.float64(0.01)}, batch, 2) is dispatch.MISS



def weak_scale(w, c):
    return np.sum(w * c) * c


class Real(float):
    """A float subclass: a strong float64 to NumPy, unlike a Python float."""


def test_a_float_subclass_misses_the_fast_path_and_is_numpys_float64():
    vg = gradc.value_and_grad(weak_scale)
    w = np.array([1.0, 2.0], dtype=np.float32)
    value, g = vg(w, 0.5)  # c is weak: the results stay float32
    assert value.dtype == np.float32 and g.dtype == np.float32
    assert vg(w, 0.5)[0] == value
    for _ in range(2):  # compiled, then through the fast path
        value_sub, g_sub = vg(w, Real(0.5))
        want = weak_scale(w, Real(0.5))
        assert want.dtype == np.float64 and value_sub.dtype == np.float64 and value_sub == want
        assert np.array_equal(g_sub, np.full(2, 0.25, dtype=np.float32))
    assert vg(w, 0.5)[0] == value


def two_params(w, lam):
    return lam * np.sum(w ** 2)


def two_params_swapped(lam, w):
    return lam * np.sum(w ** 2)


def no_params():
    return np.float64(2.0)


def test_the_entry_takes_arguments_as_python_binds_them(builds):
    """`value_and_grad(f)` is written for f's n parameters (positional-only, *rest, **kw):
    positions, keywords, missing and extra arguments reach the general path as given."""
    fresh(two_params, "w")
    vg = gradc.value_and_grad(two_params, wrt="w")
    w = np.array([1.0, -2.0])
    want = vg(w, 0.5)
    for call in (lambda: vg(w, 0.5), lambda: vg(w, lam=0.5), lambda: vg(lam=0.5, w=w), lambda: vg(w=w, lam=0.5)):
        got = call()
        assert got[0] == want[0] and np.array_equal(got[1], want[1])
    assert len(builds) == 1
    with pytest.raises(gradc.errors.SignatureError, match="missing a required argument: 'lam'"):
        vg(w)
    with pytest.raises(gradc.errors.SignatureError, match="too many positional arguments"):
        vg(w, 0.5, 1.0)
    with pytest.raises(gradc.errors.SignatureError, match="unexpected keyword argument 'mu'"):
        vg(w, 0.5, mu=1.0)
    with pytest.raises(gradc.errors.SignatureError, match="multiple values for argument 'w'"):
        vg(w, 0.5, w=w)
    assert vg.__name__ == "value_and_grad_two_params" and vg.compiled is gradc.compile(two_params, wrt="w")
    # the function's code replaced by one with its parameters the other way round: positions
    # bind to the new order, as Python would
    old = two_params.__code__
    two_params.__code__ = two_params_swapped.__code__
    try:
        value, g = vg(0.5, w)  # lam=0.5, w=w now
        assert value == two_params_swapped(0.5, w) and np.array_equal(g, 2 * 0.5 * w)
        value, g = vg(w=w, lam=0.5)
        assert value == two_params_swapped(0.5, w)
    finally:
        two_params.__code__ = old
    assert vg(w, 0.5)[0] == want[0]
    # no parameters at all
    assert gradc.value_and_grad(no_params, wrt=())() == (2.0, ())


def array_default(w, x=np.array([1.0, 2.0, 3.0])):
    return np.sum(w * x) - np.sum(x)


def test_an_array_default_takes_the_fast_path():
    """The fast copy of an entry function keeps the function's own default objects (comparing
    re-created array defaults with == raised 'truth value of an array is ambiguous')."""
    vg = gradc.value_and_grad(array_default)
    w = np.array([0.5, -1.0, 2.0])
    for _ in range(2):
        value, g = vg(w)
        assert value == array_default(w) and np.array_equal(g, [1.0, 2.0, 3.0])
    assert vg.compiled._specs.hot[0].value_and_grad.__code__.co_filename.startswith("<gradc:")


def three_params(w, a, b):
    return np.sum(w * a * b)


def two_params_only(w, a):
    return np.sum(w * a)


def test_a_new_code_with_fewer_parameters_is_bound_as_python_binds():
    """The entry is written for the parameter count it was made with; after the function's
    code changes to one with fewer parameters, a call with the old count is Python's binding
    error (a SignatureError), never a TypeError from the generated code."""
    vg = gradc.value_and_grad(three_params)
    w = np.ones(3)
    vg(w, 2.0, 3.0)
    old = three_params.__code__
    three_params.__code__ = two_params_only.__code__
    try:
        assert vg(w, 2.0)[0] == 6.0
        with pytest.raises(gradc.errors.SignatureError, match="too many positional arguments"):
            vg(w, 2.0, 3.0)
        assert vg(w, 2.0)[0] == 6.0
    finally:
        three_params.__code__ = old
    assert vg(w, 2.0, 3.0)[0] == 18.0


def test_grad_runs_the_modules_code_in_one_frame():
    """`grad(f)(...)` runs a copy of the module's value_and_grad whose returns give the
    gradients (no frame around it), for array code and for scalar math code with its NumPy
    fallbacks; a traceback shows the module's lines."""
    g = gradc.grad(overflows)
    x = np.array([1.0, 2.0])
    want = gradc.value_and_grad(overflows)(x, 1.0)[1]
    assert np.array_equal(g(x, 1.0), want) and np.array_equal(g(x, 1.0), want)
    fast = g.compiled._specs.hot[0].grad
    assert fast.__code__.co_filename.startswith("<gradc:") and fast.__code__.co_name.endswith("_value_and_grad")
    assert fast(np.ones(3), 1.0) is dispatch.MISS
    with np.errstate(over="raise"), pytest.raises(FloatingPointError) as info:
        g(x, 1000.0)
    frames = [f for f in info.traceback if str(f.path).startswith("<gradc:")]
    assert frames and "np.exp(" in str(frames[-1].statement)
    c = gradc.compile("log(x) * y", wrt=("x", "y"), args=(0.5, 2.0))
    gs = gradc.grad("log(x) * y", wrt=("x", "y"))
    for args in [(0.5, 2.0), (0.5, 2.0), (0.0, 2.0)]:  # math code, again, then NumPy's answer at 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            assert gs(*args) == c.value_and_grad(*args)[1]


def test_the_entry_shows_the_loss_signature():
    import inspect

    assert str(inspect.signature(gradc.value_and_grad(with_default))) == "(w, lam=0.25)"
    assert str(inspect.signature(gradc.grad(two_params, wrt="w"))) == "(w, lam)"
