"""Checkpointing a loop region without unrolling it (compiler/checkpointing/loops.py).

The loop's iterations are the steps. Oracles: every policy gives bitwise the same numbers
(one chain, any schedule); the stored-everything gradient agrees to rounding (it sums an
invariant's per-iteration outer products as one matrix product after the loop, the
checkpointed run adds them step by step) and bitwise where it has no such sum; central
finite differences. Loops the plan does not take (two loops) are unrolled into steps as
before, and are checked the same way.
"""
import importlib.util
import numpy as np
import pytest

import gradc
from gradc import Revolve, Segments
from gradc.checkpointing.split import StepPlan
from fixtures.numeric import fd_grad, peak_bytes

rng = np.random.default_rng(11)
H, D, T = 5, 3, 9


def vec_rnn(h0, W, U, X):
    h = h0
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + U @ X[t])
    return np.sum(h ** 2)


def zeros_init(W, U, X):
    h = np.zeros(W.shape[0])  # a constant initial carry: step 0 has its own functions
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + U @ X[t])
    return np.sum(h ** 2) + 0.1 * np.sum(W ** 2)  # the loss after the loop reads W too


def seq_loss(W, U, X, Y):
    h = np.zeros(W.shape[0])
    loss = 0.0
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + U @ X[t])
        loss = loss + np.sum((h - Y[t]) ** 2)
    return loss / X.shape[0]


def active_xs(h0, W, X):
    h = h0
    for t in range(X.shape[0]):  # X̄: a row per step, stacked after the last one
        h = np.sin(W @ h) + X[t]
    return np.sum(h * h)


def batched(h0, W, X):
    h = h0
    for t in range(X.shape[0]):
        h = np.tanh(h @ W + X[t])  # (batch, H): no outer-product sum, bitwise to store-all
    return np.mean(h ** 2)


def with_branch(h0, W, X):
    h = h0
    for t in range(X.shape[0]):
        a = W @ h + X[t]
        if np.sum(a) > 0:  # taken differently in different iterations
            h = np.tanh(a)
        else:
            h = 0.5 * a
    return np.sum(h ** 2)


def nested(h0, W, X):
    h = h0
    for t in range(X.shape[0]):
        for j in range(3):
            h = np.tanh(W @ h + X[t] * j)
    return np.sum(h)


def with_break(h0, W, X):
    h = h0
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + X[t])
        if np.sum(h) > 1.0:
            break
    return np.sum(h ** 2)


def inner_while(x, a):
    h = x
    for t in range(6):
        s = h
        while np.sum(s * s) > 1.0:
            s = s * 0.5
        h = np.sin(s * a[t]) + h
    return np.sum(h)


def stacked(h0, W, X):
    h = h0
    hs = []
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + X[t])
        hs.append(h)
    return np.sum(np.stack(hs) ** 2)  # the rows are kept by the runtime, stacked by the last step


def two_loops(x, a, b):
    h = x
    for i in range(3):
        h = np.cos(h) * a[i]
    g = h * 2.0
    for i in range(4):
        g = np.tanh(g + b[i] * h)
    return np.sum(g * g)


W = 0.4 * rng.standard_normal((H, H))
U, X = rng.standard_normal((H, D)), rng.standard_normal((T, D))
XH, Y, h0 = rng.standard_normal((T, H)), rng.standard_normal((T, H)), rng.standard_normal(H)
CASES = {  # name: (fn, wrt, args, the loop plan takes it, bitwise to store-all)
    "vec_rnn": (vec_rnn, (0, 1, 2), (h0, W, U, X), True, False),
    "zeros_init": (zeros_init, (0, 1), (W, U, X), True, False),
    "seq_loss": (seq_loss, (0, 1), (W, U, X, Y), True, False),
    "active_xs": (active_xs, (0, 1, 2), (h0, W, XH), True, False),
    "batched": (batched, (0, 1, 2), (rng.standard_normal((4, H)), W, rng.standard_normal((T, 4, H))), True, True),
    "with_branch": (with_branch, (0, 1, 2), (h0, W, XH), True, False),
    "nested": (nested, (0, 1, 2), (h0, W, XH), True, True),
    "with_break": (with_break, (0, 1, 2), (h0, W, XH), True, True),
    "inner_while": (inner_while, (0, 1), (2 * rng.standard_normal(4), rng.standard_normal(6)), True, True),
    "stacked": (stacked, (0, 1, 2), (h0, W, XH), True, False),
    "two_loops": (two_loops, (0, 1, 2), (rng.standard_normal(5), rng.standard_normal(3),
                                         rng.standard_normal(4)), False, True),
}
POLICIES = [Revolve(1), Revolve(3), Segments(), Segments(2), Revolve(100)]


def leaves(g):
    return g if isinstance(g, tuple) else (g,)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_policy_gives_the_same_bits_and_the_right_gradient(name):
    fn, wrt, args, loop_path, bitwise = CASES[name]
    runs = [gradc.compile(fn, wrt, args=args, checkpoint=p) for p in POLICIES]
    plan = runs[0].latest.checkpointed.plan
    assert isinstance(plan.source, StepPlan) != loop_path
    if loop_path:
        assert [op.prim.name for op in runs[0].ir.ops].count("loop") == 1  # not unrolled
    value, grads = runs[0].value_and_grad(*args)
    for c in runs[1:]:
        v, g = c.value_and_grad(*args)
        assert v == value and all(np.array_equal(a, b) for a, b in zip(leaves(g), leaves(grads)))
    stored_value, stored = gradc.compile(fn, wrt, args=args).value_and_grad(*args)
    assert value == stored_value  # the forward sweep is the same ops
    for a, b in zip(leaves(grads), leaves(stored)):
        if bitwise:
            assert np.array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    for i, g in zip(wrt, leaves(grads)):
        np.testing.assert_allclose(g, fd_grad(fn, args, i), rtol=1e-5, atol=1e-6)


def test_float32_loops_stay_float32():
    args = tuple(a.astype(np.float32) for a in (h0, W, XH))
    c = gradc.compile(with_break, (0, 1, 2), args=args, checkpoint=Revolve(2))
    value, grads = c.value_and_grad(*args)
    assert np.result_type(value) == np.float32 and all(g.dtype == np.float32 for g in grads)
    _, stored = gradc.compile(with_break, (0, 1, 2), args=args).value_and_grad(*args)
    assert all(np.array_equal(a, b) for a, b in zip(grads, stored))


def test_step_functions_read_like_the_loop():
    c = gradc.compile(active_xs, (0, 1, 2), args=CASES["active_xs"][2], checkpoint=Revolve(3))
    source = c.source
    functions = [line for line in source.splitlines() if line.startswith("def ")]
    assert functions == ["def step_0(t, h, X, W):", "def step_8_adjoint(t, h, X, W):",
                         "def step_0_adjoint(t, h, h_bar, W_bar, W):", "def stack_rows(*rows):"]
    assert "# steps 0-7" in source and "# adjoint of steps 0-7" in source
    assert source.count("= X[t]") == 2  # the forward steps read their row (the adjoint needs none)
    adjoint = source[source.index("def step_0_adjoint"):source.index("def stack_rows")]
    assert "    v2 = np.sin(" not in adjoint and "v1 = W @ h" in adjoint  # it recomputes only what its reverse sweep reads (W @ h)


@pytest.mark.parametrize("name", ["zeros_init", "active_xs", "with_branch", "stacked"])
def test_a_saved_checkpointed_loop_runs_alone(tmp_path, name):
    fn, wrt, args, _, _ = CASES[name]
    c = gradc.compile(fn, wrt, args=args, checkpoint=Revolve(2))
    path = c.save(tmp_path / f"{name}_grad.py")
    spec = importlib.util.spec_from_file_location(f"{name}_grad", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    value, grads = getattr(module, f"{fn.__name__}_value_and_grad")(*args)
    want_value, want = c.value_and_grad(*args)
    assert value == want_value and all(np.array_equal(a, b) for a, b in zip(leaves(grads), leaves(want)))


def test_revolve_over_a_thousand_iterations_bounds_memory():
    """T = 1000 steps of a 64-float state: storing everything keeps the tape (T rows), Revolve(10)
    ten states and one step's working set."""
    n, h = 1000, 64
    r = np.random.default_rng(0)
    args = (r.standard_normal(h), r.standard_normal((h, h)) / 8, r.standard_normal((h, 4)), r.standard_normal((n, 4)))
    stored = gradc.compile(vec_rnn, (0, 1, 2), args=args)
    stepped = gradc.compile(vec_rnn, (0, 1, 2), args=args, checkpoint=Revolve(10))
    tape = n * h * 8
    assert peak_bytes(lambda: stored.value_and_grad(*args)) > tape
    assert peak_bytes(lambda: stepped.value_and_grad(*args)) < tape / 2
    for a, b in zip(stepped.value_and_grad(*args)[1], stored.value_and_grad(*args)[1]):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


def test_vjp_of_a_checkpointed_loss_runs_the_schedule():
    """c.vjp under a policy is the cotangent times the checkpointed gradient (the vjp program
    would store everything): grad's numbers at cotangent 1, and the policy's memory."""
    n, size = 60, 20_000
    r = np.random.default_rng(3)
    x, a = r.standard_normal(size), np.linspace(0.5, 1.5, n)

    def chain(x, a):
        h = x
        for i in range(n):
            h = np.sin(h * a[i]) + h
        return np.sum(h * h)

    stepped = gradc.compile(chain, (0, 1), args=(x, a), checkpoint=Revolve(4))
    value, pull = stepped.vjp(x, a)
    assert value == stepped.value(x, a)
    grads = stepped.grad(x, a)
    assert all(np.array_equal(p, g) for p, g in zip(pull(1.0), grads))
    assert all(np.array_equal(p, 2.0 * g) for p, g in zip(pull(2.0), grads))
    stored_peak = peak_bytes(lambda: gradc.compile(chain, (0, 1), args=(x, a)).vjp(x, a)[1](1.0))
    assert peak_bytes(lambda: pull(1.0)) < stored_peak / 4 and peak_bytes(lambda: stepped.vjp(x, a)) < stored_peak / 4


def test_vjp_takes_python_floats_like_the_other_entry_points():
    def f(x, w):
        h = x
        for t in range(5):
            h = np.sin(h * w) + h
        return np.sum(h)

    for policy in (None, Revolve(2)):
        c = gradc.compile(f, (0, 1), args=(np.ones(3), 0.5), checkpoint=policy)
        value, pull = c.vjp(np.ones(3), 0.5)
        gx, gw = pull(1.0)
        want = c.grad(np.ones(3), 0.5)
        assert value == c.value(np.ones(3), 0.5)
        np.testing.assert_allclose(gx, want[0], rtol=1e-14)
        assert float(gw) == pytest.approx(want[1], rel=1e-14)
