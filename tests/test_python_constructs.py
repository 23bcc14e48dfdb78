"""Ordinary Python in a loss: comprehensions, generators, lists built with append, nested
functions and lambdas, recursion, iteration helpers, unpacking, dicts, imports, compile-time
break/continue/else, `:=`, float() and print.

Each supported construct is checked three ways: the value against running the same Python
function with NumPy, the gradient against central finite differences on it, and (where a
spelling without the construct exists) against gradc's gradient of that twin. Refusals are
CompileErrors at the user's line (marked `# ERR`).
"""
import functools
import inspect
import math
import warnings

import numpy as np
import pytest

import gradc
from gradc.errors import CompileWarning
from fixtures.numeric import assert_close, fd_grad
from fixtures.refusals import refuses as _refuses

RNG = np.random.default_rng(7)
W = RNG.normal(size=4)
X = RNG.normal(size=(5, 4))
Y = RNG.normal(size=(5, 4))
M = 0.5 * RNG.normal(size=(4, 4))


def check(fn, *args, wrt=0, twin=None):
    """gradc's value is NumPy's, its gradient finite differences' (and the twin's)."""
    value, grad = gradc.value_and_grad(fn, wrt=wrt)(*args)
    expected = fn(*args)
    assert_close(value, expected, rtol=1e-12, atol=1e-12, what=f"{fn.__name__} value")
    assert np.asarray(value).dtype == np.asarray(expected).dtype, (np.asarray(value).dtype, expected)
    assert_close(grad, fd_grad(fn, args, wrt), rtol=1e-5, atol=1e-6, what=f"{fn.__name__} gradient")
    if twin is not None:
        twin_value, twin_grad = gradc.value_and_grad(twin, wrt=wrt)(*args)
        assert_close(value, twin_value, rtol=1e-12, atol=1e-12, what=f"{fn.__name__} vs twin")
        assert_close(grad, twin_grad, rtol=1e-10, atol=1e-12, what=f"{fn.__name__} gradient vs twin")
    return value, grad


def refuses(fn, *args, words=(), wrt=0, at=None):
    return _refuses(fn, *args, words=words, wrt=wrt, at=at, caret=True)


# -- 1. comprehensions and generator expressions -------------------------------------------

def listcomp_with_if(w):
    return sum([w[i] ** 2 for i in range(len(w)) if i % 2 == 0])


def listcomp_with_if_twin(w):
    return w[0] ** 2 + w[2] ** 2


def nested_for_clauses(w):
    pairs = [w[i] * w[j] for i in range(len(w)) for j in range(i, len(w)) if j != i + 1]
    return np.sum(np.stack(pairs) ** 2)


def over_rows(W, X):
    return np.sum(np.stack([np.tanh(row @ W) for row in X]))


def over_rows_twin(W, X):
    return np.sum(np.tanh(X @ W))


def over_zip_enumerate(w, X, Y):
    return sum((k + 1) * np.sum(w * x * y) for k, (x, y) in enumerate(zip(X, Y)))


def over_list_of_arrays(a, b):
    ws = [a, b, a * b]
    return sum(np.sum(p ** 2) for p in ws) + np.sum(np.array([np.sum(p) for p in ws]))


def set_and_dict_comprehensions(w):
    parities = {i % 2 for i in range(5)}
    sq = {k: np.sum(v ** 2) for k, v in {"a": w, "b": w[:2]}.items() if k in "ab"}
    return len(parities) * sq["a"] + sq["b"]


def comprehension_scope(w):
    x = w
    ys = [x * 2.0 for x in range(3)]  # x is the comprehension's own
    return np.sum(x) + sum(ys)


def generator_late_binding(w, X):
    s = 1.0
    g = (np.sum(x * w) * s for x in X)
    s = 3.0  # read when the generator runs, as Python reads it
    return sum(g)


def closures_in_comprehension(w):
    fs = [lambda z: z * k for k in range(3)]  # every lambda sees the last k (Python's late binding)
    return sum(np.sum(f(w)) for f in fs)


def generator_consumed_once(w):
    g = (np.sum(w * k) for k in range(1, 4))
    total = 0.0
    for i in range(4):
        total = total + sum(g)  # the first iteration uses it up
    return total


def builtin_sum_of_arrays(W):
    return np.sum(sum(W) ** 2) + sum(W[0]) + sum(W[:, 1], 10.0)


def builtin_sum_of_arrays_twin(W):
    return np.sum(np.sum(W, axis=0) ** 2) + np.sum(W[0]) + np.sum(W[:, 1]) + 10.0


def max_min_over_generator(w):
    return max(np.sum(w ** k) for k in (2, 4)) + min(np.sum(w * k) for k in range(1, 3))


@pytest.mark.parametrize("fn,args,twin", [
    (listcomp_with_if, (W,), listcomp_with_if_twin),
    (nested_for_clauses, (W,), None),
    (over_rows, (M, X), over_rows_twin),
    (over_zip_enumerate, (W, X, Y), None),
    (over_list_of_arrays, (W, 2 * W), None),
    (set_and_dict_comprehensions, (W,), None),
    (comprehension_scope, (W,), None),
    (generator_late_binding, (W, X), None),
    (closures_in_comprehension, (W,), None),
    (generator_consumed_once, (W,), None),
    (builtin_sum_of_arrays, (X,), builtin_sum_of_arrays_twin),
    (max_min_over_generator, (W,), None),
])
def test_comprehensions(fn, args, twin):
    check(fn, *args, twin=twin)


def builtin_sum_float32(x):
    return sum(x) * np.float32(2.0)


def test_builtin_sum_keeps_numpys_dtype():
    x = np.array([[1.5, 2.0], [0.25, -1.0]], dtype=np.float32)
    value, grad = gradc.value_and_grad(builtin_sum_float32)(x[0])
    assert np.asarray(value).dtype == np.float32 and value == builtin_sum_float32(x[0])
    assert grad.dtype == np.float32 and np.all(grad == 2.0)


def comprehension_condition_on_data(w):
    return sum(x for x in w if x > 0)  # ERR


def comprehension_key_from_data(w):
    d = {x: 1.0 for x in w}  # ERR
    return d[0]


def generator_to_numpy(w):
    return np.sum(np.stack(w[i] for i in range(2)))  # ERR


def iterate_zero_d(w):
    s = np.sum(w)
    return sum(v for v in s)  # ERR


@pytest.mark.parametrize("fn,words", [
    (comprehension_condition_on_data, ["comprehension condition"]),
    (comprehension_key_from_data, ["key"]),
    (generator_to_numpy, ["generator"]),
    (iterate_zero_d, ["0-d"]),
])
def test_comprehension_refusals(fn, words):
    refuses(fn, W, words=words)


# -- 2. lists built with append / extend / + -----------------------------------------------

def append_then_combine(W, X):
    hs = []
    h = np.zeros(W.shape[0])
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + X[t])
        hs.append(h)
    H = np.stack(hs)
    return np.sum(H ** 2) + np.sum(np.array(hs)) + np.sum(sum(hs)) + np.sum(np.concatenate(hs) * 0.5)


def append_then_combine_twin(W, X):
    h = np.zeros(W.shape[0])
    total = 0.0
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + X[t])
        total = total + np.sum(h ** 2) + 2.5 * np.sum(h)
    return total


def extend_and_plus(w, X):
    parts = []
    parts.extend(X)  # the rows of X
    parts = parts + [w]
    parts.insert(0, w * 2.0)
    last = parts.pop()
    return np.sum(np.stack(parts) ** 2) + np.sum(last)


def list_items_and_dict_items(w):
    acc = [0.0, w]
    acc[0] = np.sum(w ** 2)
    stats = {"n": 0, "total": 0.0}
    for k in range(3):
        stats["n"] += 1
        stats["total"] = stats["total"] + np.sum(w * k)
    stats.update(extra=np.sum(w))
    return acc[0] + np.sum(acc[1]) + stats["total"] / stats["n"] + stats.get("extra", 0.0)


def augmented_list_in_loop(W, X):
    hs = []
    h = np.zeros(W.shape[0])
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + X[t])
        hs += [h]
    return np.sum(np.stack(hs))


def closure_default_from_loop_body(W, X):
    h = np.zeros(4)
    for t in range(X.shape[0]):
        def g(z, h=h):  # its default is this iteration's h: the loop is unrolled
            return z + h
        h = np.tanh(W @ g(h) + X[t])
    return np.sum(g(h))


def append_in_loop_to_outer_list(W, X):
    h = np.zeros(4)
    acts = []
    for t in range(X.shape[0]):
        acts.append(h)  # a list made outside the loop body: the loop is unrolled
        h = np.tanh(W @ h + X[t])
    return np.sum(np.stack(acts)) + np.sum(h)


def iterator_made_outside_loop(W, X):
    pairs = zip(range(2), range(1, 3))
    s = 0.0
    for t in range(3):
        for a, b in pairs:  # used up in the first iteration, as in Python
            s = s + np.sum(W[a] * W[b])
    return s


@pytest.mark.parametrize("fn,args,twin", [
    (closure_default_from_loop_body, (M, X), None),
    (append_in_loop_to_outer_list, (M, X), None),
    (iterator_made_outside_loop, (M, X), None),
    (append_then_combine, (M, X), append_then_combine_twin),
    (extend_and_plus, (W, X), None),
    (list_items_and_dict_items, (W,), None),
    (augmented_list_in_loop, (M, X), None),
])
def test_lists_built_in_place(fn, args, twin):
    check(fn, *args, twin=twin)


def appended_array_updated(w):
    z = w * 1.0
    zs = [z]
    z += 1.0  # ERR (zs[0] would see it)
    return np.sum(zs[0])


def stale_memory_after_pop(w):
    zs = [w * 1.0]
    zs.pop()
    zs.append(w)
    for v in zs:
        v += 1.0  # ERR (v is the argument w)
    return np.sum(w)


def append_to_argument(w, xs):
    xs.append(w)  # ERR
    return np.sum(w)


HISTORY = []


def append_to_module_list(w):
    HISTORY.append(1.0)  # ERR
    return np.sum(w)


def rows_updated_while_iterated(w, X):
    Z = X * 1.0
    total = 0.0
    for k, row in enumerate(Z):
        Z[-1] = 0.0  # ERR (the rows still to come would see it)
        total = total + np.sum(row * w)
    return total


def rows_updated_after_rebinding(w, X):
    Z = X * 1.0
    total = 0.0
    for k, row in enumerate(Z):
        total = total + np.sum(row * w)
        row = None
        Z[-1] = 0.0  # ERR (the rows still to come would see it)
    return total


def default_holds_array(w):
    acc = w * 1.0
    f = lambda z, a=acc: z + a  # noqa: E731
    acc += 1.0  # ERR (f's default is that array)
    return np.sum(f(w))


def row_from_extend_updated(w, X):
    Z = X * 1.0
    rows = []
    for k in range(2):
        rows.extend(Z)
    r = rows[0]
    r += 1.0  # ERR (r is a view of Z's first row)
    return np.sum(Z * w)


def index_of_arrays(w):
    parts = [w, w * 2.0]
    return np.sum(parts[parts.index(w * 2.0)])  # ERR


@pytest.mark.parametrize("fn,args,words", [
    (appended_array_updated, (W,), ["in-place", "zs"]),
    (stale_memory_after_pop, (W,), ["argument"]),
    (append_to_argument, (W, [W]), ["list"]),
    (append_to_module_list, (W,), ["not made inside the function"]),
    (rows_updated_while_iterated, (W, X), ["row"]),
    (index_of_arrays, (W,), ["list.index"]),
    (rows_updated_after_rebinding, (W, X), ["rows"]),
    (row_from_extend_updated, (W, X), ["in-place"]),
    (default_holds_array, (W,), ["in-place", "f"]),
])
def test_list_memory_refusals(fn, args, words):
    refuses(fn, *args, words=words)
    assert HISTORY == []


# -- 3. nested functions, lambdas, partial, recursion ---------------------------------------

_relu = lambda z: np.maximum(z, 0.0)  # noqa: E731
_SCALERS = (lambda z: z * 2.0, lambda z: z * 3.0)  # two lambdas on one line


def _dense(x, W, act=lambda z: z ** 2):
    return act(x @ W)


def module_level_lambdas(W, X):
    return np.sum(_relu(X @ W)) + np.sum(_dense(X, W)) + np.sum(_SCALERS[1](X))


def _layer(x, W, act=np.tanh):
    return act(x @ W)


def _apply_twice(f, x):
    return f(f(x))


def late_binding_closure(w):
    scale = 1.0

    def scaled(z, power=2):
        return np.sum(z ** power) * scale
    scale = 3.0  # read at the call, as Python reads it
    return scaled(w) + scaled(w, power=4)


def late_binding_closure_twin(w):
    return 3.0 * np.sum(w ** 2) + 3.0 * np.sum(w ** 4)


def lambdas_as_arguments(W, X):
    leaky = lambda z: np.maximum(z, 0.0) + 0.01 * np.minimum(z, 0.0)  # noqa: E731
    h = _layer(X, W, act=leaky)
    h = _layer(h, W)  # the helper's default, np.tanh
    return np.sum(h ** 2) + np.sum(_apply_twice(lambda z: z * 0.5, h))


def defaults_evaluated_at_definition(w):
    k = 2.0
    f = lambda z, k=k: z * k  # noqa: E731
    k = 5.0
    return np.sum(f(w)) + k


def partial_application(w, X):
    act = functools.partial(np.clip, a_min=-0.5, a_max=0.5)
    lin = functools.partial(_layer, W=np.eye(4), act=np.sin)
    return np.sum(act(X @ w)) + np.sum(lin(X))


def _tree_sum(x, depth):
    if depth == 0:
        return np.sum(x ** 2)
    half = x.shape[0] // 2
    return _tree_sum(x[:half], depth - 1) + 2.0 * _tree_sum(x[half:], depth - 1)


def recursion_by_compile_time_depth(w):
    return _tree_sum(w, 2)


def recursion_by_compile_time_depth_twin(w):
    return np.sum(w[0] ** 2) + 2.0 * np.sum(w[1] ** 2) + 2.0 * np.sum(w[2] ** 2) + 4.0 * np.sum(w[3] ** 2)


def nested_recursion(w):
    def power(x, n):
        return x if n == 1 else x * power(x, n - 1)
    return np.sum(power(w, 3))


def closure_in_loop_region(W, X):
    step = lambda h: np.tanh(W @ h)  # noqa: E731
    h = np.zeros(W.shape[0])
    for t in range(X.shape[0]):
        h = step(h) + X[t]
    return np.sum(h ** 2)


@pytest.mark.parametrize("fn,args,twin", [
    (late_binding_closure, (W,), late_binding_closure_twin),
    (lambdas_as_arguments, (M, X), None),
    (defaults_evaluated_at_definition, (W,), None),
    (partial_application, (W, X), None),
    (recursion_by_compile_time_depth, (W,), recursion_by_compile_time_depth_twin),
    (nested_recursion, (W,), None),
    (closure_in_loop_region, (M, X), None),
    (module_level_lambdas, (M, X), None),
])
def test_functions(fn, args, twin):
    check(fn, *args, twin=twin)


def test_closure_in_loop_stays_a_loop():
    c = gradc.compile(closure_in_loop_region, wrt=0, args=(M, X))
    loops = [line for line in c.source.splitlines() if line.strip().startswith("for ")]
    assert loops and any("-1, -1)" in line for line in loops), c.source  # forward and adjoint loops


def _endless(x, n):
    return _endless(x * 0.5, n + 1)  # ERR


def endless_recursion(w):
    return np.sum(_endless(w, 0))


def closure_reads_unbound(w):
    f = lambda: z  # noqa: E731  # ERR (z is read when f is called, before it is bound)
    y = f()
    z = w
    return np.sum(y + z)


def closure_called_by_sorted(w):
    order = sorted([2, 0, 1], key=lambda k: -k)  # ERR
    return np.sum(w[order[0]])


def test_function_refusals():
    err = refuses(endless_recursion, W, words=["recursion", "_endless"], at=_endless)
    assert "RecursionError" not in str(err)
    refuses(closure_reads_unbound, W, words=["z"])
    refuses(closure_called_by_sorted, W, words=["lambda"])


# -- 4. iteration over arrays, unpacking, dicts, imports -----------------------------------

def loops_over_rows(w, X, Y):
    total = 0.0
    for i, x in enumerate(X):
        total = total + (i + 1) * np.sum(w * x) ** 2
    for x, y in zip(X, Y):
        total = total + np.sum(x * y * w)
    acc = 0.0
    for x in reversed(X):
        acc = acc * 0.5 + np.sum(x * w)
    return total + acc


def layers_of_tuples(x, W1, b1, W2, b2):
    layers = [(W1, b1), (W2, b2)]
    h = x
    for W, b in layers:
        h = np.tanh(h @ W + b)
    return np.sum(h ** 2)


def star_unpacking(w, X):
    first, *rest = X
    a, *mid, z = [w, w * 2.0, w * 3.0, w * 4.0]
    *_, k = X.shape
    return np.sum(first * w) + sum(np.sum(r) for r in rest) + np.sum(np.stack(mid)) * k + np.sum(a * z)


def starred_calls_and_displays(w):
    parts = [*[w, w * 2.0], w * 3.0]
    opts = {"axis": 0}
    return np.sum(np.stack(parts, **opts)) + np.sum(np.maximum(*parts[:2]))


def dicts(w, X):
    d = {"w": w, "X": X, **{"k": 3}}
    keys = [k for k in d.keys() if k != "k"]
    total = sum(np.sum(v) for k, v in d.items() if k in keys)
    found = ("w" in d) + ("missing" not in d) + (d.get("missing", 2.0))
    return total * d["k"] + len(d) * found + sum(np.sum(v) for v in list(d.values())[:2])


def imports_inside(w):
    import math as m
    import numpy as xp
    from numpy import tanh
    from gradc.nn import softplus
    return xp.sum(tanh(w) * m.pi) + np.sum(softplus(w)) + math.e


def update_other_array_while_iterating_rows(w, X):
    Z = X * 1.0
    acc = np.zeros(4)
    for x in Z:  # not a loop region (the update of acc), unrolled over the rows of Z
        acc[0] += np.sum(x * w)
        acc = acc * 0.5
    return np.sum(acc ** 2)


@pytest.mark.parametrize("fn,args", [
    (update_other_array_while_iterating_rows, (W, X)),
    (loops_over_rows, (W, X, Y)),
    (layers_of_tuples, (X, M, W, M.T, W * 0.5)),
    (star_unpacking, (W, X)),
    (starred_calls_and_displays, (W,)),
    (dicts, (W, X)),
    (imports_inside, (W,)),
])
def test_iteration_unpacking_dicts_imports(fn, args):
    check(fn, *args)


def import_not_loaded(w):
    import this_module_does_not_exist  # noqa: F401  # ERR
    return np.sum(w)


def test_import_of_unloaded_module_is_refused():
    refuses(import_not_loaded, W, words=["not imported"])


# -- 5. compile-time break / continue / else, walrus, chained comparisons -------------------

def break_continue_else(w):
    total = 0.0
    for i in range(10 ** 7):  # ends at the break: no "too large" prediction
        if i == 1:
            continue
        if i >= len(w):
            break
        total = total + w[i] ** 2
    for i in range(2):
        total = total + w[i]
    else:
        total = total * 2.0
    for x in w:
        if True:
            break
    else:
        total = total + 100.0  # not run: the loop ended with break
    return total


def break_continue_else_twin(w):
    return 2.0 * (w[0] ** 2 + w[2] ** 2 + w[3] ** 2 + w[0] + w[1])


def walrus_and_chains(w):
    n = len(w)
    if (half := n // 2) > 1 and 0 <= half < n:
        s = sum(y for i in range(n) if (y := w[i] * half).ndim == 0)
    else:
        s = 0.0
    skipped = 1 < 0 < undefined_name  # noqa: F821 (never evaluated: the chain stops at 1 < 0)
    return s * y + (not skipped)


@pytest.mark.parametrize("fn,twin", [
    (break_continue_else, break_continue_else_twin),
    (walrus_and_chains, None),
])
def test_compile_time_control(fn, twin):
    check(fn, W, twin=twin)


# -- 6. float() -----------------------------------------------------------------------------

def float_of_scalar(w):
    loss = np.sum(w ** 2)
    return float(loss) * 2.0 + np.sum(w)


def float_is_a_python_float(w32):
    s = float(np.sum(w32 ** 2))  # a Python float: weak next to float32 arrays (NEP 50)
    return np.sum(s * w32)


def float_of_vector(w):
    return float(w) * 2.0  # ERR


def test_float_of_traced_scalar():
    check(float_of_scalar, W)
    w32 = W.astype(np.float32)
    value, grad = gradc.value_and_grad(float_is_a_python_float)(w32)
    assert np.asarray(value).dtype == np.asarray(float_is_a_python_float(w32)).dtype == np.float32
    assert_close(value, float_is_a_python_float(w32), rtol=1e-6)
    assert_close(grad, fd_grad(lambda v: float_is_a_python_float(v.astype(np.float32)).astype(np.float64),
                               (W,), 0, eps=1e-3), rtol=1e-2, atol=1e-2)
    refuses(float_of_vector, W, words=["float"])


# -- 7. print -------------------------------------------------------------------------------

def prints(w):
    loss = np.sum(w ** 2)
    print("loss", loss, f"{loss}")  # dropped, its arguments not evaluated
    return loss


def print_as_value(w):
    x = print(w)  # ERR
    return np.sum(w)


def test_print_is_dropped_with_a_warning(capsys):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value, grad = gradc.value_and_grad(prints)(W)
    assert capsys.readouterr().out == ""
    ours = [w for w in caught if issubclass(w.category, CompileWarning)]
    line = inspect.getsourcelines(prints)[1] + 2
    assert len(ours) == 1 and f"line {line}" in str(ours[0].message) and ours[0].lineno == line
    assert ours[0].filename == inspect.getsourcefile(prints)
    assert_close(value, np.sum(W ** 2)) and assert_close(grad, 2 * W)
    refuses(print_as_value, W, words=["print"])


# -- 8. builtins over generators, dict(), slice(), errstate ---------------------------------

def builtins_over_generators(w, names=("a", "bb")):
    ok = any(n == "bb" for n in names) and not all(len(n) == 1 for n in names)
    order = sorted((k * 7) % 4 for k in range(4))
    p = dict({"w": w}, scale=2.0)
    p["w2"] = p["w"] ** 2
    head = slice(0, 2)
    return np.sum(p["w2"][head]) * p["scale"] * ok + np.sum(w[order[1]:order[3]])


def errstate_ignore(w):
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(np.abs(w))
    return np.sum(r ** 2)


def looped_print(w):
    s = 0.0
    for i in range(3):
        print("step", i, s)
        s = s + w[i] ** 2
    return s


def _deep(x, n):
    def inner(k):
        return x if k == 0 else inner(k - 1) * 0.5  # ERR
    return inner(n)


def closure_recursion_too_deep(w):
    return np.sum(_deep(w, 100))


def errstate_raise(w):
    with np.errstate(over="raise"):  # ERR
        r = np.exp(w)
    return np.sum(r)


def len_of_generator(w):
    return len(w[i] for i in range(2)) * np.sum(w)  # ERR


def test_builtins_over_generators_and_errstate(capsys):
    check(builtins_over_generators, W)
    check(errstate_ignore, W)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check(looped_print, W)
    assert sum(issubclass(w.category, CompileWarning) for w in caught) == 1  # once, not per iteration
    capsys.readouterr()
    refuses(closure_recursion_too_deep, W, words=["recursion", "inner"], at=_deep)
    refuses(errstate_raise, W, words=["errstate", "raise"])
    refuses(len_of_generator, W, words=["len"])
