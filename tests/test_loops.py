"""Loop regions: `for` loops stay loops in the forward and the adjoint code.

Every gradient is checked against the same function unrolled (the frontend's old
path, forced with UNROLL_LOOPS) and against finite differences; loops the region
cannot hold must fall back to unrolling silently.
"""
import numpy as np
import pytest

import gradc
from gradc.api import Compiled
from gradc.frontend.python import UNROLL_LOOPS
from gradc.interpret import evaluate
from gradc.ir import verify
from gradc.regions import has_loops, is_loop, unroll

from fixtures.numeric import assert_close, fd_grad

RNG = np.random.default_rng(7)


def unrolled(fn, wrt, args):
    token = UNROLL_LOOPS.set(True)
    try:
        compiled = Compiled(fn, wrt)  # not the cached one: this specialisation is unrolled
        compiled.specialize(*args)
        return compiled
    finally:
        UNROLL_LOOPS.reset(token)


def derived_program(compiled, kind):
    """The program of a derived function already computed (a tuple or an object with .program)."""
    d = compiled.derived(kind)
    return d.program if hasattr(d, "program") else d[0]


def finite_differences(fn, args, i, eps=1e-6):
    x = np.asarray(args[i], dtype=float)
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[k] += eps
        minus[k] -= eps
        a = list(args)
        a[i] = plus if x.ndim else float(plus)
        up = fn(*a)
        a[i] = minus if x.ndim else float(minus)
        g[k] = (up - fn(*a)) / (2 * eps)
    return g


def check(fn, wrt, args, *, loops=True, fd=True):
    """Region gradient == unrolled gradient (and finite differences); returns the compiled."""
    compiled = gradc.compile(fn, wrt=wrt, args=args)
    assert has_loops(compiled.ir) == loops, compiled.source
    assert any(line.lstrip().startswith("for ") for line in compiled.source.splitlines()) == loops
    value, grads = compiled.value_and_grad(*args)
    ref = unrolled(fn, wrt, args)
    ref_value, ref_grads = ref.value_and_grad(*args)
    assert not has_loops(ref.ir)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(value, fn(*args), rtol=1e-12, atol=1e-12)
    names = list(compiled.arg_names)
    wrt_names = (wrt,) if isinstance(wrt, str) else tuple(wrt)
    grads = grads if isinstance(wrt, tuple) else (grads,)
    ref_grads = ref_grads if isinstance(wrt, tuple) else (ref_grads,)
    for name, g, r in zip(wrt_names, grads, ref_grads):
        assert np.shape(g) == np.shape(args[names.index(name)])
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)
        if fd:
            np.testing.assert_allclose(g, finite_differences(fn, args, names.index(name)),
                                       rtol=1e-5, atol=1e-6)
    verify(compiled.ir)
    verify(compiled.adjoint_ir)
    # the interpreter agrees with the generated code
    env = evaluate(compiled.adjoint_ir, *[a for a in args if not isinstance(a, int) or isinstance(a, bool)])
    got = env[compiled.adjoint_ir.outputs[0]]
    np.testing.assert_allclose(got, value, rtol=1e-12)
    return compiled


def rnn(W, U, X, h0):
    h = h0
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + U @ X[t])
    return np.sum(h * h)


def rnn_args(T, H=4, D=3, rng=RNG):
    return (rng.normal(size=(H, H)) * 0.5, rng.normal(size=(H, D)) * 0.5, rng.normal(size=(T, D)),
            rng.normal(size=H))


def test_rnn_gradient_matches_unrolled_and_finite_differences():
    c = check(rnn, ("W", "U", "X", "h0"), rnn_args(6))
    assert "for t in range(6):" in c.source
    assert "for t_2 in range(5, -1, -1):" in c.source
    assert "np.empty((6, 4))" in c.source  # the stacked tape


@pytest.mark.parametrize("T", [0, 1])
def test_zero_and_one_iterations_unroll(T):
    check(rnn, ("W", "U", "X", "h0"), rnn_args(T), loops=False)


def test_two_iterations_stay_a_loop():
    check(rnn, ("W", "h0"), rnn_args(2))


def test_nested_loops():
    def f(W, x):
        s = 0.0
        for i in range(3):
            y = x
            for j in range(4):
                y = np.sin(W @ y) + x
            s = s + np.sum(y * y)
            x = x * 0.9
        return s

    c = check(f, ("W", "x"), (RNG.normal(size=(3, 3)) * 0.5, RNG.normal(size=3)))
    inner = [op for op in c.ir.ops if is_loop(op)][0].params["body"]
    assert any(is_loop(op) for op in inner.ops)


def test_two_loops_in_sequence():
    def f(W, x):
        for i in range(5):
            x = np.tanh(W @ x)
        y = x
        for i in range(3):
            y = y * np.cos(y)
        return np.sum(y)

    c = check(f, ("W", "x"), (RNG.normal(size=(3, 3)), RNG.normal(size=3)))
    assert sum(is_loop(op) for op in c.ir.ops) == 2


def test_second_loop_reads_first_loops_result_as_invariant():
    def f(x, a, b):
        h = x
        for i in range(3):
            h = np.cos(h) * a[i]
        g = h * 2.0
        for i in range(4):
            g = np.tanh(g + b[i] * h)
        return np.sum(g * g)

    check(f, ("x", "a", "b"), (RNG.normal(size=5), RNG.normal(size=3), RNG.normal(size=4)))


def test_stacked_weights_and_ranges_with_start_and_step():
    def f(Ws, b, x):
        for i in range(1, 5, 2):
            x = np.tanh(Ws[i] @ x + b)
        for i in range(4, -1, -1):
            x = x + 0.5 * np.sin(Ws[i] @ x)
        return np.sum(x ** 2)

    check(f, ("Ws", "b", "x"), (RNG.normal(size=(5, 3, 3)) * 0.5, RNG.normal(size=3), RNG.normal(size=3)))


def test_rows_at_affine_indices_and_reversed_ranges():
    def f(Wf, Wb, xs):
        T = xs.shape[0]
        hf = np.zeros(Wf.shape[0])
        hb = np.zeros(Wb.shape[0])
        out = 0.0
        for t in range(T):
            hf = np.tanh(Wf @ hf + xs[t])
            hb = np.tanh(Wb @ hb + xs[T - 1 - t])
            out = out + np.sum(hf * hb)
        for t in reversed(range(T)):
            out = out + np.sum(xs[t] * hf) * 0.1
        for i in range(0, T - 1, 2):
            out = out + np.sum(xs[i] * xs[i + 1] * hb)
        return out

    c = check(f, ("Wf", "Wb", "xs"), (RNG.normal(size=(3, 3)), RNG.normal(size=(3, 3)), RNG.normal(size=(6, 3))))
    assert sum(is_loop(op) for op in c.ir.ops) == 3


def test_wrapping_negative_index_unrolls():
    def f(w, xs):
        acc = np.zeros_like(w)
        for t in range(xs.shape[0]):
            acc = acc + xs[t - 1] * w
        return np.sum(acc * acc)

    check(f, ("w", "xs"), (RNG.normal(size=3), RNG.normal(size=(4, 3))), loops=False)


def test_row_with_further_static_indices():
    def f(X, w):
        s = 0.0
        for t in range(X.shape[0]):
            s = s + np.sum(X[t, 1:] * w) ** 2
        return s

    check(f, ("X", "w"), (RNG.normal(size=(5, 4)), RNG.normal(size=3)))


def test_tuple_carry():
    def f(W, x):
        state = (x, x * 0.0)
        for t in range(4):
            h, c = state
            c2 = 0.5 * c + np.tanh(W @ h)
            state = (np.tanh(c2) * 0.9, c2)
        h, c = state
        return np.sum(h) + np.sum(c * c)

    check(f, ("W", "x"), (RNG.normal(size=(3, 3)), RNG.normal(size=3)))


def test_swapped_carries():
    def f(a, b):
        for t in range(5):
            a, b = b, a * b + 0.1
        return np.sum(a) + 2.0 * np.sum(b)

    check(f, ("a", "b"), (RNG.uniform(0.5, 1.0, size=3), RNG.uniform(0.5, 1.0, size=3)))


def test_python_number_accumulators():
    def f(x, X):
        total = 0.0
        count = 0
        for t in range(X.shape[0]):
            total = total + np.sum(X[t] * x)
            count = count + 1
        return total / count

    # a Python int carried as an int is unbounded in Python (a region would wrap it at
    # int64): the loop is unrolled, where the frontend folds it exactly
    check(f, "x", (RNG.normal(size=3), RNG.normal(size=(4, 3))), loops=False)


def test_int_initialised_float_accumulator():
    def f(x):
        s = 0
        for t in range(3):
            s = s + np.sum(x * x)
        return s

    check(f, "x", (RNG.normal(size=3),))


def test_loop_over_an_array():
    def f(w, X):
        s = 0.0
        for x in X:
            s = s + np.tanh(np.sum(w * x))
        return s

    def by_index(w, X):
        s = 0.0
        for t in range(X.shape[0]):
            s = s + np.tanh(np.sum(w * X[t]))
        return s

    args = (RNG.normal(size=3), RNG.normal(size=(5, 3)))
    c = gradc.compile(f, wrt=("w", "X"), args=args)
    assert has_loops(c.ir)
    value, grads = c.value_and_grad(*args)
    ref_value, ref_grads = check(by_index, ("w", "X"), args).value_and_grad(*args)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-12)


def test_loop_not_depending_on_wrt_and_gradient_through_invariants_only():
    def f(w, X):
        acc = X[0] * 0.0
        for t in range(X.shape[0]):
            acc = acc + X[t]
        s = 0.0
        for t in range(3):
            s = s + np.sum(w * acc) * 0.5
        return s

    check(f, "w", (RNG.normal(size=3), RNG.normal(size=(4, 3))))


@pytest.mark.parametrize("case", ["if_index", "list_index", "index_arith", "index_float"])
def test_fallback_to_unrolling(case):
    Ws = [RNG.normal(size=(3, 3)) for _ in range(3)]

    def if_index(W, x):
        for i in range(4):
            if i == 0:
                x = x * 2.0
            x = np.tanh(W @ x)
        return np.sum(x)

    def list_index(W, x):
        for i in range(3):
            x = np.tanh((Ws[i] + W) @ x)
        return np.sum(x)

    def index_arith(W, x):
        for i in range(3):
            x = np.tanh(W @ x) * (i + 1)
        return np.sum(x)

    def index_float(W, x):
        for i in range(3):
            x = np.tanh(W @ x) * float(i)
        return np.sum(x)

    fn = locals()[case]
    check(fn, ("W", "x"), (RNG.normal(size=(3, 3)), RNG.normal(size=3)), loops=False)


def test_float32_with_python_number_carry_unrolls_and_keeps_dtype():
    def f(x):
        s = 0.0
        for t in range(3):
            s = s + np.sum(x * x)
        return s

    x = RNG.normal(size=3).astype(np.float32)
    c = gradc.compile(f, wrt="x", args=(x,))
    value, g = c.value_and_grad(x)
    assert np.asarray(value).dtype == np.float32 and g.dtype == np.float32


def test_float32_arrays_stay_a_loop():
    x = RNG.normal(size=(3, 3)).astype(np.float32) * 0.5
    args = (x, x, RNG.normal(size=(5, 3)).astype(np.float32), RNG.normal(size=3).astype(np.float32))
    c = gradc.compile(rnn, wrt=("W", "h0"), args=args)
    assert has_loops(c.ir)
    value, (gW, gh) = c.value_and_grad(*args)
    ref_value, (rW, rh) = unrolled(rnn, ("W", "h0"), args).value_and_grad(*args)
    assert gW.dtype == np.float32 and np.asarray(value).dtype == np.asarray(ref_value).dtype
    np.testing.assert_allclose(gW, rW, rtol=1e-4)
    np.testing.assert_allclose(gh, rh, rtol=1e-4)


def test_generated_size_does_not_depend_on_trip_count():
    small = gradc.compile(rnn, wrt=("W", "U", "h0"), args=rnn_args(10, H=64, D=32))
    large = gradc.compile(rnn, wrt=("W", "U", "h0"), args=rnn_args(1000, H=64, D=32))  # tapes of 512 KB
    assert len(small.source.splitlines()) == len(large.source.splitlines())
    assert len(large.source.splitlines()) <= 100
    assert len(str(small.adjoint_ir).splitlines()) == len(str(large.adjoint_ir).splitlines())


def test_checkpoint_policy_keeps_the_loop():
    args = rnn_args(6)
    c = gradc.compile(rnn, wrt=("W", "h0"), args=args, checkpoint=gradc.Revolve(snapshots=2))
    assert has_loops(c.ir)  # its iterations are the steps (tests/test_checkpoint_loops.py)
    value, grads = c.value_and_grad(*args)
    ref_value, ref_grads = gradc.compile(rnn, wrt=("W", "h0"), args=args).value_and_grad(*args)
    np.testing.assert_allclose(value, ref_value)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r, rtol=1e-10)


def test_jvp_hvp_vjp_through_loops():
    args = rnn_args(5)
    c = gradc.compile(rnn, wrt=("W", "h0"), args=args)
    ref = unrolled(rnn, ("W", "h0"), args)
    dirs = (RNG.normal(size=(4, 4)), RNG.normal(size=4))
    v1, t1 = c.jvp(args, dirs)
    v2, t2 = ref.jvp(args, dirs)
    np.testing.assert_allclose(t1, t2, rtol=1e-10)
    assert has_loops(derived_program(c, "jvp"))  # the tangent of a loop is a loop
    for mode in ("forward-over-reverse", "reverse-over-reverse"):
        h1 = c.hvp(*args, dirs, mode=mode)
        h2 = ref.hvp(*args, dirs, mode=mode)
        for a, b in zip(h1, h2):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
        assert has_loops(derived_program(c, f"hvp-{mode}"))


@pytest.mark.parametrize("mode", ["forward-over-reverse", "reverse-over-reverse"])
def test_hvp_of_nested_and_sequenced_loops(mode, monkeypatch):
    monkeypatch.setenv("GRADC_DEBUG_LOOPS", "1")  # no silent fallback to unrolling here

    def f(W, x, X):
        s = 0.0
        for i in range(3):
            y = x
            for j in range(2):
                y = np.sin(W @ y) + X[j]
            s = s + np.sum(y * y)
            x = x * 0.9
        for t in range(X.shape[0]):
            x = np.tanh(W @ x + X[t])
        return s + np.sum(x ** 3)

    args = (RNG.normal(size=(3, 3)) * 0.5, RNG.normal(size=3), RNG.normal(size=(4, 3)))
    wrt = ("W", "x", "X")
    c = gradc.compile(f, wrt=wrt, args=args)
    ref = unrolled(f, wrt, args)
    dirs = tuple(RNG.normal(size=np.shape(a)) for a in args)
    v1, t1 = c.jvp(args, dirs)
    v2, t2 = ref.jvp(args, dirs)
    np.testing.assert_allclose(t1, t2, rtol=1e-10)
    for a, b in zip(c.hvp(*args, dirs, mode=mode), ref.hvp(*args, dirs, mode=mode)):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)
    assert has_loops(derived_program(c, f"hvp-{mode}"))


def test_vector_output_vjp_keeps_loops():
    def f(W, x):
        for t in range(4):
            x = np.tanh(W @ x)
        return x

    args = (RNG.normal(size=(3, 3)), RNG.normal(size=3))
    c = gradc.compile(f, wrt=("W", "x"), args=args)
    ref = unrolled(f, ("W", "x"), args)
    ct = RNG.normal(size=3)
    _, fn = c.vjp(*args)
    _, fr = ref.vjp(*args)
    for a, b in zip(fn(ct), fr(ct)):
        np.testing.assert_allclose(a, b, rtol=1e-10)


def test_trace_graph_and_listing_do_not_crash():
    args = rnn_args(3)
    c = gradc.compile(rnn, wrt=("W", "h0"), args=args)
    text = str(c.adjoint_ir)
    assert "for t in range(3):" in text
    table = c.trace(*args)
    assert str(table)
    assert c.graph("both") is not None
    assert c.graph("adjoint", values=table) is not None


def test_unroll_pass_matches_region():
    args = rnn_args(4)
    c = gradc.compile(rnn, wrt=("W", "U", "X", "h0"), args=args)
    flat = unroll(c.adjoint_ir)
    verify(flat)
    assert not has_loops(flat)
    a = evaluate(c.adjoint_ir, *args)
    b = evaluate(flat, *args)
    for x, y in zip(c.adjoint_ir.outputs, flat.outputs):
        np.testing.assert_allclose(a[x], b[y], rtol=1e-12)


def test_saved_module_runs(tmp_path):
    args = rnn_args(5)
    c = gradc.compile(rnn, wrt=("W", "h0"), args=args)
    path = c.save(tmp_path / "rnn_loop.py")
    namespace = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    value, grads = namespace["rnn_value_and_grad"](*args)
    ref_value, ref_grads = c.value_and_grad(*args)
    np.testing.assert_allclose(value, ref_value)
    for g, r in zip(grads, ref_grads):
        np.testing.assert_allclose(g, r)


def test_symbolic_grad_of_a_scalar_loop():
    def f(x, y):
        for i in range(3):
            x = np.sin(x) * y
        return x

    c = gradc.compile(f, wrt=("x", "y"), args=(0.3, 1.2))
    assert has_loops(c.ir)
    pairs, grads = c.symbolic_grad()
    import sympy as sp
    x, y = sp.symbols("x y")
    expr = x
    for _ in range(3):
        expr = sp.sin(expr) * y
    want = float(sp.diff(expr, x).subs({x: 0.3, y: 1.2}))
    got = float(sp.Matrix([grads[0]]).subs(list(reversed(pairs))).subs({x: 0.3, y: 1.2})[0])
    assert abs(got - want) < 1e-12
    assert abs(c.grad(0.3, 1.2)[0] - want) < 1e-12


def test_loop_invariant_code_runs_once_before_the_loop():
    def f(W, x):
        for t in range(4):
            x = np.tanh(np.exp(W * 0.1) @ x)
        return np.sum(x)

    c = check(f, ("W", "x"), (RNG.normal(size=(3, 3)), RNG.normal(size=3)))
    (loop,) = [op for op in c.ir.ops if is_loop(op)]
    assert "exp" not in [op.prim.name for op in loop.params["body"].ops]
    assert "exp" in [op.prim.name for op in c.ir.ops]


def test_augmented_assignment_to_a_carried_number():
    def f(W, U, V, xs, ys):
        h = np.zeros(W.shape[0])
        loss = 0
        for t in range(len(xs)):
            h = np.tanh(W @ h + U @ xs[t])
            loss += np.sum((V @ h - ys[t]) ** 2)
        loss /= len(xs)
        return loss

    args = (RNG.normal(size=(3, 3)) * 0.5, RNG.normal(size=(3, 2)), RNG.normal(size=(2, 3)),
            RNG.normal(size=(5, 2)), RNG.normal(size=(5, 2)))
    check(f, ("W", "U", "V"), args)


TABLE = np.linspace(-1.0, 1.0, 40).reshape(5, 8)  # 40 elements: bound by the runtime, not inlined


def test_module_constant_rows_and_names_first_bound_in_the_body(tmp_path):
    def f(w, x):
        for t in range(TABLE.shape[0]):
            y = np.tanh(TABLE[t] * w + x)  # y: first bound here, read after the loop
            x = x * 0.5 + y
        return np.sum(y * x)

    args = (RNG.normal(size=8), RNG.normal(size=8))
    c = check(f, ("w", "x"), args)
    path = c.save(tmp_path / "table_loop.py")
    namespace = {"__file__": str(path)}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    value, grads = namespace["f_value_and_grad"](*args)
    np.testing.assert_allclose(value, c.value(*args))


def test_index_of_an_outer_loop_reads_rows_in_an_inner_loop():
    def f(W, X):
        s = 0.0
        for i in range(X.shape[0]):
            h = X[i, 0] * 0.0
            for j in range(3):
                h = np.tanh(W @ h + X[i, j])
            s = s + np.sum(h)
        return s

    c = check(f, ("W", "X"), (RNG.normal(size=(2, 2)), RNG.normal(size=(4, 3, 2))))
    (outer,) = [op for op in c.ir.ops if is_loop(op)]
    assert any(is_loop(op) for op in outer.params["body"].ops)  # X[i, j]: rows of rows


# -- `for row in CONSTANT`: a loop over a module-level array's rows -----------------------

EPS_ROWS = np.random.default_rng(11).normal(size=(4, 3))
HORNER = np.array([0.5, -1.0, 2.0])


def over_constant_rows(w):
    t = 0.0
    for e in EPS_ROWS:
        t += np.sum((w * e) ** 2)
    return t


def over_constant_scalars(x):
    t = 0.0
    for c in HORNER:
        t = t * x + c
    return np.sum(t)


def over_constant_enumerated(w):
    t = 0.0
    for i, e in enumerate(EPS_ROWS):
        t += i * np.sum(w * e)
    return t


def writes_a_constant_row(w):
    t = 0.0
    for e in EPS_ROWS:
        e *= 2.0
        t += np.sum(w * e)
    return t


@pytest.mark.parametrize("fn", [over_constant_rows, over_constant_scalars, over_constant_enumerated])
def test_a_loop_over_a_module_arrays_rows(fn):
    """`for e in EPS:` over a module-level array reads its rows, as over an argument's (it was
    refused as 'a for loop over an array')."""
    w = np.array([0.3, -0.2, 1.1])
    value, g = gradc.value_and_grad(fn)(w)
    assert value == fn(w)
    assert_close(g, fd_grad(fn, (w,), 0), rtol=1e-6)


def test_writing_into_a_module_arrays_row_is_refused():
    with pytest.raises(gradc.CompileError, match="in-place update of 'e'.*a module-level array"):
        gradc.value_and_grad(writes_a_constant_row)(np.ones(3))


CENTERS = np.array([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]])
PLANES = np.arange(12.0).reshape(2, 3, 2) / 10


def unpacking_constant_rows(w):
    t = 0.0
    for a, b in CENTERS:
        t += np.sum((w - a) ** 2) * b
    return t


def nested_constant_rows(w):
    t = 0.0
    for plane in PLANES:
        for row in plane:
            t += np.sum(w * row)
    return t


@pytest.mark.parametrize("fn", [unpacking_constant_rows, nested_constant_rows])
def test_rows_of_constant_rows(fn):
    """`for a, b in CENTERS` and `for row in plane` over a constant's rows (were refused)."""
    w = np.array([0.3, -0.2])
    value, g = gradc.value_and_grad(fn)(w)
    assert value == fn(w)
    assert_close(g, fd_grad(fn, (w,), 0), rtol=1e-6)
