"""Generated names never collide with the user's: every name a generated module binds
comes from one namespace allocator per scope (codegen.Naming, codegen.const_names,
codegen.entry_names), so a constant called v1 or x_bar, an argument called np or
sigmoid, a constant called c1 or step_1 under checkpointing, or a function named like
a helper all give the right numbers: in memory, under Revolve(2), and in saved modules.

(The module-level arrays below are deliberately named like gradc's own names.)
"""
from __future__ import annotations

import ast
import importlib.util
import warnings

import numpy
import numpy as np
import pytest

import gradc
from gradc import nn

from fixtures.numeric import assert_close, fd_grad

rng = np.random.default_rng(7)

# Module-level constants named like generated names.
v1 = np.array([0.5, -1.0, 2.0])
v2 = np.array([1.5, 0.25, -0.75])
v3_bar = np.array([2.0, 1.0, 0.5])
x_bar = np.array([-1.0, 3.0, 0.5])
c1 = np.array([0.5, -1.0, 2.0])
step_1 = np.array([0.1, -0.2, 0.3])
step_0 = np.array([1.0, 1.0, 0.5])
scatter = np.array([2.0, -1.0, 0.5])
os = np.array([[0.5, -0.5, 1.0]] * 7)  # 21 entries: too big to inline, bound by the loader / the .npz
_consts = np.array([1.0, 2.0, 3.0])
prologue = np.array([0.3, 0.2, 0.1])


def uses_v_constants(x):
    a = x * v1
    b = np.tanh(a) + v2
    return np.sum(b * b * v3_bar)


def uses_x_bar(x):
    y = np.sin(x) * x_bar
    return np.sum(y * y)


def argument_np(np, W):
    return numpy.sum(numpy.tanh(W * np) ** 2)


def argument_sigmoid(sigmoid, W):
    return np.sum(nn.sigmoid(W) * sigmoid)


def argument_scatter(scatter):
    return scatter[0] ** 2 + scatter[1] * scatter[2]


def constant_scatter(x):
    return x[0] * x[1] + np.sum(scatter * x)


def argument_os(os, W):
    return np.sum(np.tanh(_consts * W) * os)


def constant_os(W):
    return np.sum(np.tanh(os @ W))


def sigmoid(W):  # a function named like the helper it needs
    return np.sum(nn.sigmoid(W) ** 2)


def argument_v1(v1, x):
    h = np.tanh(x * v1)
    return np.sum(h * h)


def argument_x_bar(x, x_bar):
    return np.sum(np.sin(x) * x_bar)


def chain_with_constants(W, h):
    for i in range(4):
        h = np.tanh(W @ h * c1 + step_1) * step_0 + prologue
    return np.sum(h ** 2)


def chain_arguments(step_1, h, c1):
    for i in range(4):
        h = np.tanh(step_1 @ h + c1)
    return np.sum(h ** 2)


def numeric_grad(f, args, i, eps=1e-6):
    """Central differences of f with respect to argument i."""
    x = np.array(args[i], dtype=float)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        for sign in (1, -1):
            y = x.copy()
            y[idx] += sign * eps
            a = list(args)
            a[i] = y if x.shape else float(y)
            g[idx] += sign * f(*a)
    g /= 2 * eps
    return g if x.shape else float(g)


def run_python(fn, args):
    return float(fn(*args))


CASES = {
    "v_constants": (uses_v_constants, "x", lambda: (rng.normal(size=3),)),
    "x_bar_constant": (uses_x_bar, "x", lambda: (rng.normal(size=3),)),
    "argument_np": (argument_np, "W", lambda: (rng.normal(size=3), rng.normal(size=3))),
    "argument_sigmoid": (argument_sigmoid, ("sigmoid", "W"), lambda: (rng.normal(size=3), rng.normal(size=3))),
    "argument_scatter": (argument_scatter, "scatter", lambda: (rng.normal(size=3),)),
    "constant_scatter": (constant_scatter, "x", lambda: (rng.normal(size=3),)),
    "argument_os": (argument_os, ("os", "W"), lambda: (rng.normal(size=3), rng.normal(size=3))),
    "constant_os": (constant_os, "W", lambda: (rng.normal(size=3),)),
    "function_named_sigmoid": (sigmoid, "W", lambda: (rng.normal(size=3),)),
    "argument_v1": (argument_v1, ("v1", "x"), lambda: (rng.normal(size=3), rng.normal(size=3))),
    "argument_x_bar": (argument_x_bar, ("x", "x_bar"), lambda: (rng.normal(size=3), rng.normal(size=3))),
    "chain_constants": (chain_with_constants, "W", lambda: (0.5 * rng.normal(size=(3, 3)), rng.normal(size=3))),
    "chain_arguments": (chain_arguments, ("step_1", "c1"),
                        lambda: (0.5 * rng.normal(size=(3, 3)), rng.normal(size=3), rng.normal(size=3))),
}


def _expected(fn, wrt, args):
    names = list(fn.__code__.co_varnames[:fn.__code__.co_argcount])
    wrts = wrt if isinstance(wrt, tuple) else (wrt,)
    grads = tuple(numeric_grad(lambda *a: run_python(fn, a), args, names.index(w)) for w in wrts)
    return float(fn(*args)), grads if isinstance(wrt, tuple) else grads[0]


def _close(got, want):
    if isinstance(want, tuple):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def _load(path):
    spec = importlib.util.spec_from_file_location(f"saved_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _bound_names(source: str) -> set[str]:
    tree = ast.parse(source)
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)} | \
        {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}


@pytest.mark.parametrize("case", sorted(CASES))
def test_collisions_give_the_right_gradient(case):
    fn, wrt, make = CASES[case]
    args = make()
    value, grad = _expected(fn, wrt, args)
    c = gradc.compile(fn, wrt=wrt, args=args)
    v, g = c.value_and_grad(*args)
    assert float(v) == pytest.approx(value, rel=1e-10)
    _close(g, grad)
    assert float(c(*args)) == pytest.approx(value, rel=1e-10)


@pytest.mark.parametrize("case", sorted(CASES))
def test_collisions_under_revolve(case):
    fn, wrt, make = CASES[case]
    args = make()
    value, grad = _expected(fn, wrt, args)
    c = gradc.compile(fn, wrt=wrt, args=args, checkpoint=gradc.Revolve(snapshots=2))
    v, g = c.value_and_grad(*args)
    assert float(v) == pytest.approx(value, rel=1e-10)
    _close(g, grad)
    ast.parse(c.source)


@pytest.mark.parametrize("case", sorted(CASES))
def test_collisions_in_saved_modules(case, tmp_path):
    fn, wrt, make = CASES[case]
    args = make()
    value, grad = _expected(fn, wrt, args)
    c = gradc.compile(fn, wrt=wrt, args=args)
    path = tmp_path / f"{case}_grad.py"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c.save(path)
    module = _load(path)
    entry = getattr(module, "__gradc_entry_points__", {})
    f = getattr(module, entry.get(fn.__name__, fn.__name__))
    vg = getattr(module, entry.get(f"{fn.__name__}_value_and_grad", f"{fn.__name__}_value_and_grad"))
    inputs = [np.float64(a) if isinstance(a, float) else a for a in args]
    assert float(f(*inputs)) == pytest.approx(value, rel=1e-10)
    v, g = vg(*inputs)
    assert float(v) == pytest.approx(value, rel=1e-10)
    _close(g if isinstance(wrt, tuple) or not isinstance(g, tuple) else g[0], grad)


def test_readable_names_are_kept_when_free():
    W, h = 0.5 * rng.normal(size=(3, 3)), rng.normal(size=3)
    c = gradc.compile(chain_arguments, wrt=("step_1", "c1"), args=(W, h, rng.normal(size=3)))
    tree = ast.parse(c.source)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.endswith("_value_and_grad"))
    assert [a.arg for a in fn.args.args] == ["step_1", "h", "c1"]
    assert "step_1_bar" in c.source and "c1_bar" in c.source


def test_a_constant_named_like_an_intermediate_is_renamed_not_shadowed():
    c = gradc.compile(uses_v_constants, wrt="x", args=(rng.normal(size=3),))
    consts = {t.id for n in ast.parse(c.source).body if isinstance(n, ast.Assign)
              for t in n.targets if isinstance(t, ast.Name)}
    assert {"v1", "v2", "v3_bar"} <= consts  # the user's constants keep their names...
    tree = ast.parse(c.source)
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        params = {a.arg for a in fn.args.args}
        local = {t.id for n in ast.walk(fn) if isinstance(n, (ast.Assign, ast.AugAssign))
                 for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
        assert not (params | local) & consts  # ...and no local name shadows one


def test_argument_named_np_does_not_shadow_numpy():
    c = gradc.compile(argument_np, wrt="W", args=(rng.normal(size=3), rng.normal(size=3)))
    for fn in (n for n in ast.parse(c.source).body if isinstance(n, ast.FunctionDef)):
        assert "np" not in {a.arg for a in fn.args.args}


def test_function_named_like_a_helper_keeps_the_helper():
    W = rng.normal(size=3)
    c = gradc.compile(sigmoid, wrt="W", args=(W,))
    bound = _bound_names(c.source)
    assert "sigmoid" in bound  # the helper
    s = 1 / (1 + np.exp(-W))
    np.testing.assert_allclose(c.grad(W), 2 * s * s * (1 - s), rtol=1e-12)


def test_loader_binds_only_what_codegen_named():
    from gradc.runtime import loader

    ns = loader.load("import numpy as np\n\n\ndef f(x):\n    return x\n", "f", {})
    assert "sigmoid" not in ns and "scatter" not in ns  # helpers come from the module itself


def test_names_in_step_modules_are_unique():
    W, h = 0.5 * rng.normal(size=(3, 3)), rng.normal(size=3)
    c = gradc.compile(chain_with_constants, wrt="W", args=(W, h), checkpoint=gradc.Revolve(snapshots=2))
    tree = ast.parse(c.source)
    defs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assigns = [t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)]
    assert len(set(defs + assigns)) == len(defs + assigns)
    assert {"c1", "step_1", "step_0"} <= set(assigns)  # the user's names; step functions move aside


# -- constants that must read back exactly (inf, nan, -0.0, subnormals, every dtype) -----------

MASK = np.array([0.0, -np.inf, 0.0])
SPECIAL = np.array([np.inf, -np.inf, -0.0, 5e-324, 2.2250738585072014e-308, 0.1, 1e308])
SPECIAL32 = np.array([np.float32(0.1), np.float32(np.inf), np.float32(-0.0), np.float32(1e-45)], dtype=np.float32)
INTS64 = np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, 0])
UINTS64 = np.array([np.iinfo(np.uint64).max, 1], dtype=np.uint64)
FLAGS = np.array([True, False, True])


def masked_logsumexp(x):
    z = x + MASK
    return np.log(np.sum(np.exp(z)))


def folded_infinity(x):
    big = np.exp(np.array([1000.0, 0.0, 1.0]))  # folds to [inf, 1, e] at compile time
    return np.sum(x * np.minimum(big, 2.0))


@pytest.mark.parametrize("save", [False, True])
def test_constants_with_inf_and_nan(save, tmp_path):
    x = np.array([0.3, -1.2, 0.7])
    e = np.exp(x + MASK)
    want = e / e.sum()
    c = gradc.compile(masked_logsumexp, wrt="x", args=(x,))
    if save:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = _load(c.save(tmp_path / "mask_grad.py"))
        v, g = module.masked_logsumexp_value_and_grad(x)
    else:
        v, g = c.value_and_grad(x)
    np.testing.assert_allclose(g, want, rtol=1e-12)
    assert v == pytest.approx(np.log(e.sum()))
    with np.errstate(over="ignore"):
        c2 = gradc.compile(folded_infinity, wrt="x", args=(x,))
        np.testing.assert_allclose(c2.grad(x), [2.0, 1.0, 2.0])
        if save:
            module = _load(c2.save(tmp_path / "folded_grad.py"))
            np.testing.assert_allclose(module.folded_infinity_value_and_grad(x)[1], [2.0, 1.0, 2.0])


@pytest.mark.parametrize("array", [MASK, SPECIAL, SPECIAL32, INTS64, UINTS64, FLAGS,
                                   np.array([np.nan, -np.nan, 1.5]), np.zeros((2, 0)),
                                   np.array([[1.5, -np.inf], [np.nan, -0.0]], dtype=np.float16),
                                   np.array([-(2 ** 31), 2 ** 31 - 1], dtype=np.int32),
                                   np.array([255, 0], dtype=np.uint8)])
def test_array_literals_round_trip_bit_for_bit(array):
    from gradc.codegen import array_literal
    from gradc.syntax import literal

    text = array_literal(array)
    back = eval(text, {"np": np})  # our own generated text, for the test
    assert back.dtype == array.dtype and back.shape == array.shape
    assert back.tobytes() == array.tobytes()
    for item in array.reshape(-1)[:4]:
        scalar = eval(literal(item).text, {"np": np})
        assert np.asarray(scalar).dtype == array.dtype
        assert np.asarray(scalar).tobytes() == np.asarray(item).tobytes()
    for value in (float("inf"), -float("inf"), -0.0, 5e-324, 0.1):
        assert struct_bits(eval(literal(value).text, {"np": np})) == struct_bits(value)
        assert struct_bits(eval(f"-{literal(value).text}" if literal(value).prec > 12 else
                                f"-({literal(value).text})", {"np": np})) == struct_bits(-value)


def struct_bits(x: float) -> bytes:
    import struct
    return struct.pack("<d", x)


def _named_like_the_checker(check_arguments, w):
    return np.sum((w * check_arguments) ** 2)


def test_a_parameter_named_like_the_argument_checker(tmp_path):
    """The saved module's argument check takes a name no parameter has."""
    args = (np.array([1.0, 2.0]), np.array([0.5, -1.0]))
    c = gradc.compile(_named_like_the_checker, wrt="w", args=args)
    assert "def check_arguments_(" in c.source
    value, grad = c.value_and_grad(*args)
    np.testing.assert_allclose(grad, 2 * args[1] * args[0] ** 2)
    namespace = {}
    exec(compile(c.source, "<saved>", "exec"), namespace)  # our own generated module
    v2, g2 = namespace["_named_like_the_checker_value_and_grad"](*args)
    np.testing.assert_allclose(g2, grad)


# -- parameters named like the builtins generated code reads -------------------------------

def named_type(w, x, y, type="mse"):
    r = x @ w - y
    return np.mean(r ** 2) if type == "mse" else np.mean(np.abs(r))


def named_float(w, float):
    return np.sum(w ** 2) * float


def named_sum(sum, x):
    return np.sum(sum * x)


def scalar_named_like_math_names(numpy_errors_default, math):
    return np.exp(numpy_errors_default) * math + np.sin(math)


@pytest.mark.parametrize("fn,args", [
    (named_type, (np.array([0.5, -1.0, 2.0]), np.eye(3), np.ones(3))),
    (named_type, (np.array([0.5, -1.0, 2.0]), np.eye(3), np.ones(3), "mae")),
    (named_float, (np.array([0.5, -1.0]), 2.5)),
    (named_sum, (np.array([0.5, -1.0]), np.array([2.0, 3.0]))),
    (scalar_named_like_math_names, (0.3, 1.7)),
])
def test_a_parameter_named_like_a_builtin_the_code_reads(fn, args, tmp_path):
    """`def loss(w, x, y, type="mse")`: a parameter called type, float, sum, math or
    numpy_errors_default never shadows what the generated code reads (it called the argument)."""
    value, g = gradc.value_and_grad(fn)(*args)
    assert value == pytest.approx(fn(*args), rel=1e-14)
    assert_close(g, fd_grad(fn, args, 0), rtol=1e-6)
    again = gradc.value_and_grad(fn)(*args)  # the fast path
    assert again[0] == value


def test_generated_code_reads_no_builtin_outside_the_list():
    """codegen.BUILTINS_READ is what keeps a parameter from shadowing a builtin the code reads:
    every golden module (array code, scalar math code, loops, checkpointed steps) reads no other."""
    import builtins
    from pathlib import Path

    from gradc import codegen

    names = set(dir(builtins))
    for path in sorted(Path(__file__).parent.joinpath("golden").glob("*.py")):
        tree = ast.parse(path.read_text())
        read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        assert read & names <= codegen.BUILTINS_READ, (path.name, sorted(read & names - codegen.BUILTINS_READ))
