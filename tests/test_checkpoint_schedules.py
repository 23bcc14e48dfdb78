"""Tests for the checkpointing schedules in runtime.checkpoint."""

import math
import time

import numpy as np
import pytest

import gradc.runtime.checkpoint as ck
from gradc.runtime.checkpoint import (
    Advance, FirstTurn, Restore, Reverse, Revolve, Schedule, Segments,
    Snapshot, Terminate, revolve_cost, revolve_cost_dp,
)


def formula(l, s):
    """t(l, s) = r*l - C(s+r, s+1), r smallest with C(s+r, s) >= l (independent copy)."""
    r = 0
    while math.comb(s + r, s) < l:
        r += 1
    return r * l - math.comb(s + r, s + 1)


GRID = [(l, s) for l in range(1, 61) for s in range(1, 9)]


# --------------------------------------------------------------------------
# exact counts


@pytest.mark.parametrize("l,s,t", [
    (10, 3, 15), (20, 2, 65), (50, 5, 122), (100, 3, 490), (100, 10, 222),
    (1000, 5, 6284), (1000, 10, 3636),
])
def test_revolve_exact_counts(l, s, t):
    sched = Revolve(snapshots=s).schedule(steps=l)
    assert sched.forward_steps == t
    assert revolve_cost(l, s) == t == formula(l, s)
    assert sched.max_snapshots <= s
    assert sched.steps == l
    assert sched.reversed_steps == l
    sched.simulate()


def test_revolve_single_step():
    for s in (1, 2, 5):
        sched = Revolve(snapshots=s).schedule(steps=1)
        assert sched.forward_steps == 0
        assert sched.reversed_order() == [0]
        sched.simulate()


def test_revolve_one_slot_is_quadratic():
    for l in range(1, 40):
        sched = Revolve(snapshots=1).schedule(steps=l)
        assert sched.forward_steps == l * (l - 1) // 2
        assert sched.max_snapshots == 1


def test_revolve_grid_formula_snapshots_simulate():
    for l, s in GRID:
        sched = Revolve(snapshots=s).schedule(steps=l)
        assert sched.forward_steps == formula(l, s), (l, s)
        assert sched.max_snapshots <= s, (l, s)
        info = sched.simulate()
        assert info["forward_steps"] == sched.forward_steps
        assert info["max_snapshots"] <= s
        assert sched.reversed_order() == list(range(l - 1, -1, -1)), (l, s)
        assert sched.reversed_steps == l
    assert ck._FALLBACKS[0] == 0  # closed-form split always optimal


def test_revolve_enough_slots_stores_everything():
    # s >= l: r = 1, one sweep of l-1 steps (the last step runs taped).
    for l in range(1, 20):
        assert Revolve(snapshots=l + 3).schedule(steps=l).forward_steps == max(0, l - 1)


def test_dp_matches_formula():
    # one DP table per s covers every l <= 60
    for s in range(1, 9):
        for l in range(1, 61):
            assert revolve_cost_dp(l, s) == formula(l, s), (l, s)


def test_dp_is_a_real_minimisation():
    # sanity: the DP differs from naive choices, e.g. always splitting in half
    assert revolve_cost_dp(10, 3) == 15
    assert revolve_cost_dp(20, 2) == 65
    assert revolve_cost_dp(10, 1) == 45


def test_revolve_is_fast():
    t0 = time.perf_counter()
    sched = Revolve(snapshots=10).schedule(steps=1000)
    elapsed = time.perf_counter() - t0
    assert sched.forward_steps == 3636
    assert elapsed < 0.5


def test_revolve_rejects_bad_arguments():
    with pytest.raises(ValueError):
        Revolve(snapshots=0)
    with pytest.raises(ValueError):
        Revolve(snapshots=2).schedule(steps=0)


# --------------------------------------------------------------------------
# Segments


@pytest.mark.parametrize("l,k,t,slots", [
    # first sweep to the last segment start, then (len - 1) per segment
    (10, 3, 9 + (2 + 2 + 2 + 0), 4 + 1),   # segments 3,3,3,1
    (10, 4, 8 + (3 + 3 + 1), 3 + 2),       # segments 4,4,2
    (10, 10, 0 + 9, 1 + 8),                # one segment
    (10, 1, 9 + 0, 10),                    # store everything
    (100, 10, 90 + 90, 10 + 8),
    (7, 2, 6 + (1 + 1 + 1 + 0), 4),        # segments 2,2,2,1
])
def test_segments_forward_steps_by_hand(l, k, t, slots):
    sched = Segments(k).schedule(steps=l)
    assert sched.forward_steps == t
    assert sched.max_snapshots == slots
    assert sched.reversed_order() == list(range(l - 1, -1, -1))
    sched.simulate()


def test_segments_default_k():
    assert Segments().schedule(steps=100).forward_steps == 180      # k = 10
    assert Segments().schedule(steps=10).forward_steps == Segments(4).schedule(10).forward_steps


def test_segments_grid_simulate():
    for l in range(1, 41):
        for k in list(range(1, 9)) + [None]:
            sched = Segments(k).schedule(steps=l)
            info = sched.simulate()
            kk = k if k is not None else math.ceil(math.sqrt(l))
            n = math.ceil(l / kk)
            assert sched.forward_steps == (n - 1) * kk + (l - n)
            assert info["max_snapshots"] <= sched.snapshots
            assert sched.reversed_order() == list(range(l - 1, -1, -1))


def test_revolve_never_worse_than_segments_with_same_memory():
    for l in (10, 50, 100):
        seg = Segments().schedule(steps=l)
        rev = Revolve(snapshots=seg.max_snapshots).schedule(steps=l)
        assert rev.forward_steps <= seg.forward_steps


# --------------------------------------------------------------------------
# presentation


def test_str_and_counts():
    sched = Revolve(snapshots=3).schedule(steps=10)
    text = sched.listing()
    assert "advance 0→" in text
    assert "reverse step 0" in text
    assert "snapshot x_4 → slot 1" in text
    assert "restore x_4 ← slot 1" in text
    assert len(text.splitlines()) == len(sched) + 1
    assert str(Advance(0, 4)) == "advance 0→4"
    assert str(Reverse(7)) == "reverse step 7"
    counts = sched.counts()
    assert counts["firstturn"] + counts["reverse"] == 10
    assert counts["terminate"] == 1
    assert sum(counts.values()) == len(sched) == len(list(iter(sched)))
    assert counts["advance"] == sum(isinstance(a, Advance) for a in sched)


def test_str_is_a_summary_against_the_optimum():
    sched = Segments(4).schedule(steps=16)
    lines = str(sched).splitlines()
    assert len(lines) == 3  # not one line per action
    assert lines[0] == sched.listing().splitlines()[0]
    best = revolve_cost(16, sched.max_snapshots)
    assert f"optimum with {sched.max_snapshots} slots (binomial): {best:g} untaped forward steps" in lines[1]
    assert f"advance {sched.counts()['advance']}" in lines[2] and "listing()" in lines[2]


# --------------------------------------------------------------------------
# simulate() rejects bad schedules


def test_simulate_rejects_unstored_restore():
    acts = [Snapshot(0, 0), Advance(0, 1), Restore(1, 1), FirstTurn(1),
            Restore(0, 0), Reverse(0), Terminate()]
    with pytest.raises(ValueError, match="slot 1 holds no state"):
        Schedule(acts, steps=2).simulate()


def test_simulate_rejects_out_of_order_reverse():
    acts = [Snapshot(0, 0), Advance(0, 1), Snapshot(1, 1), Restore(0, 0),
            FirstTurn(0), Restore(1, 1), Reverse(1), Terminate()]
    with pytest.raises(ValueError, match="out of order"):
        Schedule(acts, steps=2).simulate()


def test_simulate_rejects_wrong_current_state_and_slot_budget():
    # reversing step 1 while x_0 is current
    acts = [Snapshot(0, 0), FirstTurn(1), Terminate()]
    with pytest.raises(ValueError, match="current state"):
        Schedule(acts, steps=2).simulate()
    # too many slots
    good = Revolve(snapshots=4).schedule(steps=20)
    with pytest.raises(ValueError, match="slot"):
        good.simulate(snapshots=2)
    # missing reversals
    with pytest.raises(ValueError, match="never reversed"):
        Schedule([Snapshot(0, 0), Advance(0, 1), FirstTurn(1), Terminate()], steps=2).simulate()
    # restoring a slot that now holds another state
    acts = [Snapshot(0, 0), Advance(0, 1), Snapshot(1, 0), FirstTurn(1),
            Restore(0, 0), Reverse(0), Terminate()]
    with pytest.raises(ValueError, match="holds x_1"):
        Schedule(acts, steps=2).simulate()


# --------------------------------------------------------------------------
# execution on a real chain


def _step(x, a):
    return np.sin(x) * a


def _step_adjoint(x, a, ybar):
    return ybar * (np.cos(x) * a)


def run_schedule(sched, x0, coeffs):
    """Gradient of sum(x_l) w.r.t. x_0, driven by the schedule's actions."""
    slots = {}
    current = x0
    xbar = None
    ran_forward = 0
    for act in sched:
        if isinstance(act, Advance):
            for i in range(act.start, act.stop):
                current = _step(current, coeffs[i])
                ran_forward += 1
        elif isinstance(act, Snapshot):
            slots[act.slot] = current.copy()
        elif isinstance(act, Restore):
            current = slots[act.slot].copy()
        elif isinstance(act, (FirstTurn, Reverse)):
            i = act.step
            y = _step(current, coeffs[i])          # taped forward step
            if isinstance(act, FirstTurn):
                xbar = np.ones_like(y)             # seed: d sum(x_l) / d x_l
            xbar = _step_adjoint(current, coeffs[i], xbar)
        elif isinstance(act, Terminate):
            break
    assert ran_forward == sched.forward_steps
    return xbar


def store_everything_gradient(x0, coeffs):
    xs = [x0]
    for a in coeffs:
        xs.append(_step(xs[-1], a))
    xbar = np.ones_like(xs[-1])
    for i in range(len(coeffs) - 1, -1, -1):
        xbar = _step_adjoint(xs[i], coeffs[i], xbar)
    return xbar


@pytest.mark.parametrize("make", [
    lambda: Revolve(snapshots=1), lambda: Revolve(snapshots=2),
    lambda: Revolve(snapshots=3), lambda: Revolve(snapshots=6),
    lambda: Segments(), lambda: Segments(3),
])
@pytest.mark.parametrize("l", [1, 2, 7, 23])
def test_execution_matches_store_everything_bitwise(make, l):
    rng = np.random.default_rng(l)
    x0 = rng.standard_normal(5)
    coeffs = rng.uniform(0.5, 1.5, size=l)
    sched = make().schedule(steps=l)
    got = run_schedule(sched, x0, coeffs)
    want = store_everything_gradient(x0, coeffs)
    assert np.array_equal(got, want)
    assert not np.allclose(want, 0)


def test_execution_detects_a_wrong_gradient():
    # the comparison is sharp: a perturbed coefficient changes the result
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(3)
    coeffs = rng.uniform(0.5, 1.5, size=9)
    got = run_schedule(Revolve(snapshots=3).schedule(steps=9), x0, coeffs)
    coeffs2 = coeffs.copy()
    coeffs2[4] += 1e-12
    assert not np.array_equal(got, store_everything_gradient(x0, coeffs2))


def test_timeline_svg_draws_every_reversed_step(tmp_path):
    import xml.etree.ElementTree as ET

    schedule = Revolve(snapshots=3).schedule(steps=10)
    path = schedule.render(tmp_path / "timeline.svg")
    root = ET.parse(path).getroot()
    lines = [e for e in root.iter() if e.tag.endswith("line")]
    drawn = [e for e in lines if float(e.get("y1")) > 40]  # below the legend
    assert sum(1 for e in drawn if e.get("stroke") == "#d62728") == 10  # one red segment per step
    circles = [e for e in root.iter() if e.tag.endswith("circle") and float(e.get("cy")) > 40]
    assert len(circles) == schedule.counts().get("snapshot", 0)
    texts = " ".join(e.text or "" for e in root.iter() if e.tag.endswith("text"))
    for words in ("action order", "chain state", "first forward sweep", "recomputation",
                  "reversed step", "snapshot", "restore", "x_0", "x_10"):
        assert words in texts
    long = ET.fromstring(Revolve(snapshots=3).schedule(steps=40).to_svg())
    drawn = [e for e in long.iter() if e.tag.endswith("line") and float(e.get("y1")) > 40]
    rightmost = max(float(e.get("x2")) for e in drawn)
    assert float(long.get("width")) - rightmost <= 20  # cropped to what is drawn
    assert "15 untaped forward steps" in open(path).read()


@pytest.mark.parametrize("l, s", [(1000, 999), (2000, 2000), (1500, 1499), (3000, 1200)])
def test_revolve_with_thousands_of_slots(l, s):
    """The right parts nest as deep as the slots: thousands of them must not exhaust the
    Python stack (a loop of 2000 iterations under Revolve(2000) compiles)."""
    sched = Revolve(s).schedule(l)
    assert sched.forward_steps == revolve_cost(l, s) and sched.max_snapshots <= s
