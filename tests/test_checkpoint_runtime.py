"""Checkpointed gradients: steps from the source, step functions, the executor.

The oracle is the stored-everything gradient of the same function: every policy
must give bitwise the same numbers (the step functions are the stored program's
ops, regrouped), and the schedule must bound the memory.
"""
import numpy as np
import pytest

import gradc
from fixtures.numeric import peak_bytes
from gradc import Revolve, Segments
from gradc.api import Compiled
from gradc.frontend.python import UNROLL_LOOPS
from gradc.errors import CompileError, SignatureError
from gradc.runtime.checkpoint import revolve_cost

POLICIES = ["segments", Segments(1), Segments(3), Segments(1000), Revolve(1), Revolve(2), Revolve(5),
            Revolve(100)]


def rnn(x, W, U, xs, n):
    h = x
    for t in range(n):
        h = np.tanh(h @ W + xs[t] @ U)
    return np.sum(h ** 2) / 2.0


def chain_with_skip(x, a, n):
    h = x
    for i in range(n):
        h = np.sin(h * a[i]) + 0.5 * h
        if i == 2:
            early = h  # read again after the loop: stays in every later state
    return np.sum(h * early) + a[0] ** 2


@gradc.checkpoint
def block(h, W, b):
    return np.tanh(h @ W + b)


def blocks(x, W1, b1, W2, b2, W3, b3):
    h = block(x, W1, b1)
    h = gradc.checkpoint(block)(h, W2, b2)  # the call form marks the same step
    h = block(h, W3, b3)
    return np.mean(h ** 2)


def straight(x, W1, W2, W3, W4, W5, W6):
    h = np.tanh(x @ W1)
    h = np.tanh(h @ W2)
    h = np.tanh(h @ W3)
    h = np.tanh(h @ W4)
    h = np.tanh(h @ W5)
    h = np.tanh(h @ W6)
    return np.sum(h * h)


def nested(x, a):
    h = x
    for i in range(4):  # the outer iterations are the steps
        for j in range(3):
            h = np.sin(h * a[i, j])
    return np.sum(h)


def two_loops(x, a, b):
    h = x
    for i in range(3):
        h = np.cos(h) * a[i]
    g = h * 2.0  # joins the last step of the first loop
    for i in range(4):
        g = np.tanh(g + b[i] * h)  # h stays in every state of the second loop
    return np.sum(g * g)


rng = np.random.default_rng(7)
CASES = {
    "rnn": (rnn, ("x", "W", "U"), (rng.standard_normal((3, 5)), 0.4 * rng.standard_normal((5, 5)),
                                    rng.standard_normal((2, 5)), rng.standard_normal((12, 3, 2)), 12), 12),
    "skip": (chain_with_skip, ("x", "a"), (rng.standard_normal(6), np.linspace(0.5, 1.5, 9), 9), 9),
    "blocks": (blocks, (0, 1, 2, 3, 4, 5, 6), (rng.standard_normal((4, 3)),
                                               *[rng.standard_normal(s) for s in
                                                 [(3, 3), 3, (3, 3), 3, (3, 3), 3]]), 3),
    "nested": (nested, (0, 1), (rng.standard_normal(5), rng.standard_normal((4, 3))), 4),
    "two_loops": (two_loops, (0, 1, 2), (rng.standard_normal(5), rng.standard_normal(3),
                                         rng.standard_normal(4)), 7),
    "formula": ("sin(sin(sin(sin(x * y)))) * y", ("x", "y"), (0.5, 2.0), 2),
    "straight": (straight, (0, 1, 2, 3, 4, 5, 6), (rng.standard_normal((4, 3)),
                                                   *[rng.standard_normal((3, 3)) for _ in range(6)]), 6),
}


def assert_same(a, b):
    (va, ga), (vb, gb) = a, b
    assert va == vb
    assert len(ga) == len(gb)
    for x, y in zip(ga, gb):
        assert type(x) is type(y) and np.shape(x) == np.shape(y) and np.result_type(x) == np.result_type(y)
        assert np.array_equal(x, y), np.max(np.abs(x - y))


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("policy", POLICIES, ids=str)
def test_every_policy_is_bitwise_store_everything(case, policy):
    fn, wrt, args, steps = CASES[case]
    stored = gradc.compile(fn, wrt, args=args)
    checkpointed = gradc.compile(fn, wrt, args=args, checkpoint=policy)
    assert checkpointed.schedule.steps == steps
    assert_same(checkpointed.value_and_grad(*args), stored.value_and_grad(*args))


def test_store_everything_agrees_with_finite_differences():
    """The oracle itself is right (so bitwise equality means a right gradient)."""
    fn, wrt, args, _ = CASES["skip"]
    _, (gx, _) = gradc.compile(fn, wrt, args=args, checkpoint=Revolve(3)).value_and_grad(*args)
    x, a, n = args
    eps = 1e-6
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = eps
        fd = (fn(x + e, a, n) - fn(x - e, a, n)) / (2 * eps)
        assert gx[i] == pytest.approx(fd, rel=1e-6, abs=1e-8)


def test_one_chain_runs_under_any_schedule():
    fn, wrt, args, steps = CASES["rnn"]
    c = gradc.compile(fn, wrt, args=args, checkpoint=Revolve(2))
    spec = c.latest
    inputs = c._inputs(spec, c._arguments(args, {}))
    reference = spec.checkpointed.run(inputs)
    for schedule in (Segments(2).schedule(steps), Revolve(4).schedule(steps)):
        out = spec.checkpointed.run(inputs, schedule)
        assert all(np.array_equal(p, q) for p, q in zip(out, reference))
    with pytest.raises(ValueError, match="schedule is for 5 steps"):
        spec.checkpointed.run(inputs, Revolve(2).schedule(5))


def test_schedule_is_exposed_and_optimal():
    fn, wrt, args, steps = CASES["rnn"]
    c = gradc.compile(fn, wrt, args=args, checkpoint=Revolve(snapshots=3))
    assert c.schedule.forward_steps == revolve_cost(steps, 3)
    assert c.schedule.max_snapshots <= 3
    assert "Revolve(snapshots=3)" in str(c.schedule)
    assert gradc.compile(fn, wrt, args=args).schedule is None
    assert gradc.compile(fn, wrt, args=args, checkpoint="segments").schedule.name == "Segments(k=4)"


def test_loop_iterations_share_step_functions():
    """The loop stays a loop: its iterations are the steps, and they share one forward and
    one adjoint function (plus the last step's adjoint, which also reverses the loss)."""
    fn, wrt, args, _ = CASES["rnn"]
    c = gradc.compile(fn, wrt, args=args, checkpoint=Revolve(3))
    source = c.source
    functions = [line for line in source.splitlines() if line.startswith("def ")]
    assert functions == ["def step_0(t, h, xs, W, U):", "def step_11_adjoint(t, h, xs, W, U):",
                         "def step_0_adjoint(t, h, h_bar, W_bar, U_bar, xs, W, U):"]
    assert "# steps 0-10" in source and "# adjoint of steps 0-10" in source
    assert "    v1 = xs[t]\n" in source  # the step reads its row of the stacked input
    compile(source, "<steps>", "exec")  # and it is valid Python on its own


def test_a_loop_stays_a_loop_whatever_its_length():
    """Checkpointing a loop does not unroll it: the step module is the same size for 12 and
    for 3000 iterations, and compiling takes about as long as storing everything."""
    import time

    fn, wrt, args, _ = CASES["rnn"]
    x, W, U, xs, _ = args
    long_xs = np.resize(xs, (3000,) + xs.shape[1:])
    sizes = {}
    for n, data in ((12, xs), (3000, long_xs)):
        start = time.perf_counter()
        c = gradc.compile(fn, wrt, args=(x, W, U, data, n), checkpoint=Revolve(10))
        sizes[n] = (len(c.source.splitlines()), time.perf_counter() - start)
        assert [op.prim.name for op in c.ir.ops].count("loop") == 1
    assert sizes[12][0] == sizes[3000][0]
    assert sizes[3000][1] < 1.0, sizes  # (unrolled: several seconds)


def test_checkpoint_helper_marks_one_step_per_call():
    fn, wrt, args, _ = CASES["blocks"]
    c = gradc.compile(fn, wrt, args=args, checkpoint=Revolve(2))
    assert sorted({op.step for op in c.ir.ops}) == [1, 2, 3]
    assert block(np.ones((1, 2)), np.eye(2), np.zeros(2)).shape == (1, 2)  # still a function


def test_straight_line_program_is_cut_into_layers():
    fn, wrt, args, _ = CASES["straight"]
    c = gradc.compile(fn, wrt, args=args, checkpoint=Revolve(2))
    steps = {}
    for op in c.ir.ops:
        steps.setdefault(op.step, []).append(op.prim.name)
    assert steps[1] == ["matmul", "tanh"]
    assert steps[6][-1] == "sum"  # the loss joins the last layer


def test_policy_errors_are_clear():
    with pytest.raises(SignatureError, match="unknown checkpointing policy 'revolve'"):
        gradc.compile(rnn, "W", checkpoint="revolve")
    with pytest.raises(TypeError, match="takes a Python function"):
        gradc.checkpoint(np.sin)

    def bad(x):
        return gradc.checkpoint(3)(x)

    with pytest.raises(CompileError, match="gradc.checkpoint takes one argument") as e:
        gradc.compile(bad, args=(np.ones(2),))
    assert "gradc.checkpoint(3)" in str(e.value)


def test_grad_and_value_and_grad_take_a_policy():
    fn, wrt, args, _ = CASES["skip"]
    reference = gradc.compile(fn, wrt, args=args).value_and_grad(*args)
    assert_same(gradc.value_and_grad(fn, wrt, checkpoint=Revolve(2))(*args), reference)
    grads = gradc.grad(fn, wrt, checkpoint="segments")(*args)
    assert all(np.array_equal(p, q) for p, q in zip(grads, reference[1]))


def long_chain(x, a, n):
    h = x
    for i in range(n):
        h = np.sin(h * a[i]) + h
    return np.sum(h * h)


def test_revolve_bounds_peak_memory():
    """40 steps of a 200 KB state: storing everything holds ~2 arrays per step;
    Revolve(s) holds its s snapshots plus one step's working set."""
    n, x = 40, np.random.default_rng(0).standard_normal(25_000)
    a = np.linspace(0.5, 1.5, n)
    state = x.nbytes
    stored = peak_bytes(gradc.compile(long_chain, ("x", "a")).value_and_grad, x, a, n)
    assert stored > 0.9 * 2 * n * state
    for s in (3, 6):
        c = gradc.compile(long_chain, ("x", "a"), checkpoint=Revolve(s))
        peak = peak_bytes(c.value_and_grad, x, a, n)
        assert peak < (s + 6) * state, (s, peak / state)
        assert peak < stored / 8


def layers(x, W, n):
    h = x
    for i in range(n):
        h = np.tanh(h @ W[i])
    return np.sum(h)


def test_per_layer_weight_gradients_are_rows_stacked_once():
    """W̄ of `h @ W[i]` is one row per step: the adjoint steps make the rows, and they are
    stacked into W̄ once after the last one (never a W-sized array per step)."""
    x, W = rng.standard_normal((2, 3)), 0.5 * rng.standard_normal((5, 3, 3))
    c = gradc.compile(layers, "W", args=(x, W, 5))  # stored: the loop stays a loop, W̄ a stack of rows
    assert "for i in range(5):" in c.source and "scatter(" not in c.source
    stepped = gradc.compile(layers, "W", args=(x, W, 5), checkpoint=Revolve(2))
    assert "scatter(" not in stepped.source and "return np.stack(rows)" in stepped.source
    g = stepped.grad(x, W, 5)
    assert np.array_equal(g, c.grad(x, W, 5))
    eps, e = 1e-6, np.zeros_like(W)
    e[3, 1, 2] = eps
    assert g[3, 1, 2] == pytest.approx((layers(x, W + e, 5) - layers(x, W - e, 5)) / (2 * eps), rel=1e-6)


def test_every_row_of_an_array_is_unpacked_in_one_line():
    """The hoisted `xs[t]` of an unrolled loop read as `v1, ..., v12 = xs`; a loop over
    only some rows keeps one line per row (unpacking would fail)."""
    fn, wrt, args, _ = CASES["rnn"]
    token = UNROLL_LOOPS.set(True)  # (a stored loop stays a loop; this is about unrolled code)
    try:
        source = Compiled(fn, wrt).specialize(*args).source
        x, W, U, xs, _ = args
        partial = Compiled(fn, wrt).specialize(x, W, U, xs, 11)
    finally:
        UNROLL_LOOPS.reset(token)
    assert "    v1, v2, v3, v4, v5, v6, v7, v8, v9, v10, v11, v12 = xs\n" in source
    assert "xs[0]" not in source
    assert "= xs[10]" in partial.source and ") = xs" not in partial.source
    assert np.array_equal(partial.value_and_grad_fn(x, W, U, xs, 11)[1][0],
                          gradc.compile(fn, wrt, args=(x, W, U, xs, 11), checkpoint=Revolve(3))
                          .grad(x, W, U, xs, 11)[0])


@pytest.mark.parametrize("name", sorted(CASES))  # a formula too: its variables are the signature
@pytest.mark.parametrize("policy", [Revolve(2), Segments()], ids=["revolve", "segments"])
def test_a_saved_checkpointed_module_runs_the_schedule_alone(tmp_path, name, policy):
    """The module holds the step functions, the schedule as data and the executor: it
    imports only NumPy and returns bitwise what gradc's checkpointed run returns."""
    import importlib.util
    import subprocess
    import sys

    fn, wrt, args, _ = CASES[name]
    c = gradc.compile(fn, wrt, args=args, checkpoint=policy)
    path = c.save(tmp_path / f"{name}_grad.py")
    text = path.read_text()
    assert "import gradc" not in text and "SCHEDULE = [" in text and "def run_steps(" in text
    spec = importlib.util.spec_from_file_location(f"{name}_grad", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    value, grads = getattr(module, f"{c.name}_value_and_grad")(*args)
    want_value, want_grads = c.value_and_grad(*args)
    assert value == want_value
    for a, b in zip(grads if isinstance(grads, tuple) else (grads,),
                    want_grads if isinstance(want_grads, tuple) else (want_grads,)):
        assert np.array_equal(a, b)
    # gradc is not importable where the module runs
    probe = f"import sys; sys.modules['gradc'] = None; import runpy; runpy.run_path({str(path)!r})"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0
