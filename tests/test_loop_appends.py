"""A loop that appends to a list once per iteration stays a loop (frontend/python.py
`_appends_as_rows`): the appended values are the loop region's stacked rows, the list gets
views of them after the loop, and np.stack(list) is a copy of the stack. Oracles: NumPy's
value, central finite differences, the cost not growing with T; anything else about the
list (appended under an if, read in the loop, a number appended) keeps the unrolled path."""
import time

import numpy as np
import pytest

import gradc
from fixtures.numeric import fd_grad


def rnn_outputs(h0, W, X):
    h = h0
    hs = []
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + X[t])
        hs.append(h)
    return np.sum(np.stack(hs) ** 2)


def two_lists_and_a_prefix(h0, W, X):
    h = h0
    hs, zs = [h0], []
    for t in range(X.shape[0]):
        z = W @ h + X[t]
        zs.append(z)
        h = np.tanh(z)
        hs.append(h)
    return np.sum(np.array(hs) ** 2) + np.sum(np.stack(zs, axis=0)[-1]) + np.sum(hs[1] * hs[-1])


def list_used_in_many_ways(h0, W, X):
    h = h0
    hs = []
    for t in range(X.shape[0]):
        h = np.sin(W @ h) + X[t]
        hs.append(h * 2.0)
    total = sum(hs)  # Python's sum over the rows
    last = hs[-1]
    return np.sum(total * last) + len(hs) + np.sum(np.mean(np.stack(hs), axis=0))


def appended_under_an_if(h0, W, X):  # a row only in some iterations: unrolled
    h = h0
    hs = []
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + X[t])
        if t % 2 == 0:
            hs.append(h)
    return np.sum(np.stack(hs))


def read_in_the_loop(h0, W, X):  # the list read inside the loop: unrolled
    h = h0
    hs = [h0]
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + X[t] + hs[-1])
        hs.append(h)
    return np.sum(np.stack(hs))


def numbers_appended(h0, W, X):  # a 0-d value per iteration: unrolled (a number, not a row)
    h = h0
    losses = []
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + X[t])
        losses.append(np.sum(h ** 2))
    return sum(losses)


r = np.random.default_rng(5)
H, T = 4, 7
ARGS = (r.normal(size=H), 0.4 * r.normal(size=(H, H)), r.normal(size=(T, H)))
CASES = {rnn_outputs: True, two_lists_and_a_prefix: True, list_used_in_many_ways: True,
         appended_under_an_if: False, read_in_the_loop: False, numbers_appended: False}


@pytest.mark.parametrize("fn", list(CASES), ids=lambda f: f.__name__)
def test_value_and_gradient(fn):
    c = gradc.compile(fn, (0, 1, 2), args=ARGS)
    loops = [op.prim.name for op in c.latest.ir.ops].count("loop")
    assert (loops == 1) == CASES[fn]
    value, grads = c.value_and_grad(*ARGS)
    assert value == pytest.approx(fn(*ARGS), rel=1e-12)
    for i, g in enumerate(grads):
        np.testing.assert_allclose(g, fd_grad(fn, ARGS, i), rtol=1e-6, atol=1e-8)


def test_cost_does_not_grow_with_the_trip_count():
    """T = 1000 (H = 64): before, the loop was written out 1000 times (1.8 s, 22 196 lines)."""
    sizes = []
    for steps in (200, 1000):
        args = (r.normal(size=64), 0.1 * r.normal(size=(64, 64)), r.normal(size=(steps, 64)))
        start = time.perf_counter()
        c = gradc.compile(rnn_outputs, (0, 1, 2), args=args)
        c.value_and_grad(*args)
        sizes.append((len(c.source.splitlines()), time.perf_counter() - start))
    assert sizes[0][0] == sizes[1][0] and sizes[1][1] < 0.5, sizes
    assert "np.copy(hs)" in c.source  # np.stack(hs) is the loop's stack, copied


def test_checkpointing_keeps_the_appended_rows():
    """Under a policy the loop's iterations are the steps; the forward steps' rows are kept by
    the runtime and stacked before the last step (the loss reads all of them)."""
    stored = gradc.compile(rnn_outputs, (0, 1, 2), args=ARGS)
    from gradc.checkpointing.split import StepPlan

    for policy in (gradc.Revolve(2), gradc.Segments()):
        c = gradc.compile(rnn_outputs, (0, 1, 2), args=ARGS, checkpoint=policy)
        assert not isinstance(c.latest.checkpointed.plan.source, StepPlan)
        value, grads = c.value_and_grad(*ARGS)
        want_value, want = stored.value_and_grad(*ARGS)
        assert value == want_value
        for g, w in zip(grads, want):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)


def appended_then_updated(h0, W, X):
    h = h0.copy()
    hs = []
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + X[t])
        hs.append(h)
        h += 1.0  # NumPy changes the appended array too: refused, as before
    return np.sum(np.stack(hs))


def test_an_appended_array_updated_in_place_is_refused():
    with pytest.raises(gradc.CompileError, match="memory shared with 'hs'"):
        gradc.compile(appended_then_updated, (0, 1, 2), args=ARGS)


# In NumPy the list holds the very arrays appended: the last row IS the carried h, a row
# X[t] is a view of X. An in-place update after the loop would change the list's rows too:
# refused (the rows are views of gradc's stack, which such an update would not reach).

def carried_updated_after(h0, W, X):
    h = h0
    hs = []
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + X[t])
        hs.append(h)
    h += 1.0
    return np.sum(hs[-1])


def input_rows_updated_after(h0, W, X):
    X = X.copy()
    hs = []
    for t in range(X.shape[0]):
        hs.append(X[t])
    X *= 2.0
    return np.sum(np.stack(hs) ** 2) + np.sum(W) + np.sum(h0)


def same_array_every_time(h0, W, X):
    h = h0.copy()
    hs = []
    for t in range(X.shape[0]):
        hs.append(h)
    h += 1.0
    return np.sum(np.stack(hs) * W[0]) + np.sum(X)


@pytest.mark.parametrize("fn", [carried_updated_after, input_rows_updated_after, same_array_every_time],
                         ids=lambda f: f.__name__)
def test_updating_what_the_list_holds_after_the_loop_is_refused(fn):
    with pytest.raises(gradc.CompileError, match="memory shared with 'hs'"):
        gradc.compile(fn, (0, 1, 2), args=ARGS)


def list_filled_by_an_inner_loop(h0, W, X):
    hs = []
    for i in range(2):  # (the outer loop cannot be a region: its body changes the list)
        h = h0 * (i + 1)
        for t in range(X.shape[0]):
            h = np.tanh(W @ h + X[t])
            hs.append(h)
    return np.sum(np.stack(hs) ** 2)


def test_a_list_filled_by_an_inner_loop_in_every_outer_iteration():
    """The inner loop's rows rebind the name to a new list: an outer loop tried as a region
    and given up leaves no rows of the attempt behind (they were appended to the list object:
    an internal error)."""
    c = gradc.compile(list_filled_by_an_inner_loop, (0, 1, 2), args=ARGS)
    assert c.value(*ARGS) == pytest.approx(list_filled_by_an_inner_loop(*ARGS), rel=1e-12)
    for i, g in enumerate(c.grad(*ARGS)):
        np.testing.assert_allclose(g, fd_grad(list_filled_by_an_inner_loop, ARGS, i), rtol=1e-6, atol=1e-8)


def _fill(hs, h, W, X):
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + X[t])
        hs.append(h)  # the caller's list: its rows must reach it
    return h


def helper_fills_the_callers_list(h0, W, X):
    hs = [h0]
    h = _fill(hs, h0, W, X)
    return np.sum(np.stack(hs) ** 2) + np.sum(h)


def closure_reads_the_list(h0, W, X):
    h = h0
    hs = []

    def n():
        return len(hs)  # read while the loop appends: the loop is unrolled

    for t in range(X.shape[0]):
        h = np.tanh(W @ h + X[t] * n())
        hs.append(h)
    return np.sum(np.stack(hs) ** 2)


def _fill_reading(out, n, h, W, X):
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + X[t] * n())  # n reads the caller's list, which is `out`
        out.append(h)
    return h


def helper_given_a_reader_of_the_list(h0, W, X):
    hs = []

    def n():
        return len(hs)

    h = _fill_reading(hs, n, h0, W, X)
    return np.sum(np.stack(hs) ** 2) + np.sum(h)


@pytest.mark.parametrize("fn", [helper_fills_the_callers_list, closure_reads_the_list,
                                helper_given_a_reader_of_the_list], ids=lambda f: f.__name__)
def test_lists_other_code_sees(fn):
    """The rows are added to the list object itself (a helper appending to its caller's list),
    and a loop whose list a function defined here reads by name is unrolled (it read the list
    without the rows: a different number)."""
    c = gradc.compile(fn, (0, 1, 2), args=ARGS)
    assert c.value(*ARGS) == pytest.approx(fn(*ARGS), rel=1e-12)
    for i, g in enumerate(c.grad(*ARGS)):
        np.testing.assert_allclose(g, fd_grad(fn, ARGS, i), rtol=1e-6, atol=1e-8)
