"""Checkpointing schedules for reversing a chain of steps.

A chain of ``l`` steps maps ``x_0 -> x_1 -> ... -> x_l``; step ``i`` (``F_i``)
maps ``x_i`` to ``x_{i+1}`` and its adjoint needs ``x_i``.  Reverse mode must
either store every state or recompute some of them from stored snapshots.  A
:class:`Schedule` is a list of actions over step indices that does this within
a bounded number of snapshot slots:

``Advance(start, stop)``
    run forward steps ``start .. stop-1`` *without* taping, turning the current
    state ``x_start`` into ``x_stop``.
``Snapshot(step, slot)``
    copy the current state ``x_step`` into ``slot``.
``Restore(step, slot)``
    make ``x_step`` (held in ``slot``) the current state.
``FirstTurn(step)`` / ``Reverse(step)``
    run forward step ``step`` with taping from the current state ``x_step`` and
    immediately its adjoint: adjoint of ``x_{step+1}`` -> adjoint of
    ``x_step``.  ``FirstTurn`` is the first such action (step ``l-1``); the
    current state stays ``x_step`` afterwards.
``Terminate()``
    end of schedule; every step has been reversed.

Conventions (shared by every generator here):

* ``forward_steps`` (t) counts *untaped* forward step executions, i.e. the
  sum of ``stop - start`` over ``Advance`` actions, the first forward sweep
  included.  The taped forward run inside each reverse action is not counted.
* Slots include the one holding the initial state ``x_0``; every schedule
  starts with ``Snapshot(0, slot 0)``.  ``max_snapshots`` is the largest
  number of slots holding a state at the same time (a slot, once written,
  stays occupied; rewriting a slot does not add one).

Generators:

* :class:`Segments` (``k``): the classic sqrt(l) scheme (PyTorch
  ``checkpoint_sequential``-like).  See its docstring for costs.
* :class:`Revolve` (``snapshots=s``): the binomial schedule of Griewank and
  Walther, optimal in ``t`` for ``l`` steps and ``s`` slots:
  ``t(l, s) = r*l - C(s+r, s+1)`` with ``r`` the smallest integer such that
  ``C(s+r, s) >= l``.

Only the standard library is needed; nothing is compiled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Dict, Iterator, List, Optional, Sequence

from .progress import progress

__all__ = [
    "Action", "Advance", "Snapshot", "Restore", "FirstTurn", "Reverse", "Terminate",
    "Schedule", "Segments", "Revolve",
    "revolve_cost", "revolve_cost_dp", "repetition_number",
    "Call", "Fixed", "Chain", "run",
]


# ---------------------------------------------------------------------------
# actions


class Action:
    """Base class of schedule actions; ``kind`` names the action type."""

    kind: str = "action"


@dataclass(frozen=True)
class Advance(Action):
    start: int
    stop: int
    kind = "advance"

    def __str__(self) -> str:
        return f"advance {self.start}\u2192{self.stop}"


@dataclass(frozen=True)
class Snapshot(Action):
    step: int
    slot: int
    kind = "snapshot"

    def __str__(self) -> str:
        return f"snapshot x_{self.step} \u2192 slot {self.slot}"


@dataclass(frozen=True)
class Restore(Action):
    step: int
    slot: int
    kind = "restore"

    def __str__(self) -> str:
        return f"restore x_{self.step} \u2190 slot {self.slot}"


@dataclass(frozen=True)
class FirstTurn(Action):
    step: int
    kind = "firstturn"

    def __str__(self) -> str:
        return f"reverse step {self.step} (first turn)"


@dataclass(frozen=True)
class Reverse(Action):
    step: int
    kind = "reverse"

    def __str__(self) -> str:
        return f"reverse step {self.step}"


@dataclass(frozen=True)
class Terminate(Action):
    kind = "terminate"

    def __str__(self) -> str:
        return "terminate"


_REVERSE_KINDS = (FirstTurn, Reverse)


# ---------------------------------------------------------------------------
# schedule


class Schedule:
    """A sequence of actions reversing ``steps`` chain steps.

    The statistics (``forward_steps``, ``max_snapshots``, ``reversed_steps``)
    are read off the actions; :meth:`simulate` checks that the actions are
    consistent and raises :class:`ValueError` otherwise.
    """

    def __init__(self, actions: Sequence[Action], steps: int,
                 snapshots: Optional[int] = None, name: str = "schedule"):
        self.actions: List[Action] = list(actions)
        self.steps = int(steps)
        self.snapshots = snapshots  # slot budget (None: unbounded)
        self.name = name
        self.forward_steps = sum(a.stop - a.start for a in self.actions
                                 if isinstance(a, Advance))
        self.reversed_steps = sum(1 for a in self.actions
                                  if isinstance(a, _REVERSE_KINDS))
        used: set = set()
        peak = 0
        for a in self.actions:
            if isinstance(a, Snapshot):
                used.add(a.slot)
                peak = max(peak, len(used))
        self.max_snapshots = peak

    # -- container protocol -------------------------------------------------
    def __len__(self) -> int:
        return len(self.actions)

    def __iter__(self) -> Iterator[Action]:
        return iter(self.actions)

    def __getitem__(self, i):
        return self.actions[i]

    def counts(self) -> Dict[str, int]:
        """Number of actions of each kind, e.g. ``{'advance': 5, ...}``."""
        out: Dict[str, int] = {}
        for a in self.actions:
            out[a.kind] = out.get(a.kind, 0) + 1
        return out

    def reversed_order(self) -> List[int]:
        """Step indices in the order they are reversed."""
        return [a.step for a in self.actions if isinstance(a, _REVERSE_KINDS)]

    def __str__(self) -> str:
        """A summary: what the schedule costs against the optimum (``listing()`` has every action)."""
        budget = "unbounded" if self.snapshots is None else str(self.snapshots)
        head = (f"{self.name}: {self.steps} steps, slots {self.max_snapshots} "
                f"(budget {budget}), {self.forward_steps} untaped forward steps, "
                f"{len(self.actions)} actions")
        lines = [head]
        if self.max_snapshots >= 1:
            best = revolve_cost(self.steps, self.max_snapshots)
            lines.append(f"  optimum with {self.max_snapshots} slot{'s' if self.max_snapshots != 1 else ''} "
                         f"(binomial): {best:g} untaped forward steps; storing all {self.steps} states: 0")
        counts = ", ".join(f"{kind} {n}" for kind, n in self.counts().items())
        lines.append(f"  actions: {counts} (schedule.listing() shows each)")
        return "\n".join(lines)

    def listing(self) -> str:
        """The head line, then every action in order."""
        return "\n".join([str(self).splitlines()[0]] + [f"  {a}" for a in self.actions])

    def __repr__(self) -> str:
        return (f"<Schedule {self.name} steps={self.steps} "
                f"forward_steps={self.forward_steps} "
                f"max_snapshots={self.max_snapshots} actions={len(self.actions)}>")

    # -- drawing ----------------------------------------------------------------
    LEGEND = (("first forward sweep", "#999999", "line"), ("recomputation", "#1f77b4", "line"),
              ("reversed step (taped forward + adjoint)", "#d62728", "thick"),
              ("snapshot", "black", "dot"), ("restore", "#555555", "dashed"))

    def to_svg(self, max_width: int = 1100) -> str:
        """A timeline: action order (step executions) to the right, chain state x_i
        downwards, with labelled axes and a legend, cropped to what is drawn."""
        total = max(self.forward_steps + self.steps, 1)
        unit = max(1.0, min(14.0, (max_width - 120) / total))
        row = max(2.0, min(14.0, 420 / max(self.steps, 1)))
        left, top = 64, 58
        x = lambda t: left + t * unit  # noqa: E731
        y = lambda i: top + i * row  # noqa: E731
        items, t, state, seen_reverse = [], 0, 0, False
        for a in self.actions:
            if isinstance(a, Advance):
                colour = "#1f77b4" if seen_reverse else "#999999"  # recomputation vs first sweep
                n = a.stop - a.start
                items.append(f'<line x1="{x(t):.1f}" y1="{y(a.start):.1f}" x2="{x(t + n):.1f}" '
                             f'y2="{y(a.stop):.1f}" stroke="{colour}" stroke-width="2"/>')
                t, state = t + n, a.stop
            elif isinstance(a, Snapshot):
                items.append(f'<circle cx="{x(t):.1f}" cy="{y(a.step):.1f}" r="3" fill="black"/>')
            elif isinstance(a, Restore):
                items.append(f'<line x1="{x(t):.1f}" y1="{y(state):.1f}" x2="{x(t):.1f}" y2="{y(a.step):.1f}" '
                             'stroke="#555555" stroke-dasharray="3,3"/>')
                state = a.step
            elif isinstance(a, _REVERSE_KINDS):
                seen_reverse = True
                items.append(f'<line x1="{x(t):.1f}" y1="{y(a.step + 1):.1f}" x2="{x(t + 1):.1f}" '
                             f'y2="{y(a.step):.1f}" stroke="#d62728" stroke-width="3"/>')
                t, state = t + 1, a.step
        font = 'font-family="sans-serif"'
        right, bottom = x(t), y(self.steps)
        # Axes: state ticks on the left, time ticks below, each with its label.
        axes = [f'<line x1="{left - 8}" y1="{top}" x2="{left - 8}" y2="{bottom:.1f}" stroke="#333"/>',
                f'<line x1="{left}" y1="{bottom + 10:.1f}" x2="{right:.1f}" y2="{bottom + 10:.1f}" stroke="#333"/>']
        for i in _ticks(self.steps):
            axes.append(f'<text x="{left - 12}" y="{y(i) + 3:.1f}" {font} font-size="9" '
                        f'text-anchor="end">x_{i}</text>')
        for k in _ticks(t):
            axes.append(f'<line x1="{x(k):.1f}" y1="{bottom + 10:.1f}" x2="{x(k):.1f}" '
                        f'y2="{bottom + 14:.1f}" stroke="#333"/>'
                        f'<text x="{x(k):.1f}" y="{bottom + 24:.1f}" {font} font-size="9" '
                        f'text-anchor="middle">{k}</text>')
        axes.append(f'<text x="{(left + right) / 2:.1f}" y="{bottom + 38:.1f}" {font} font-size="10" '
                    f'text-anchor="middle">action order (step executions) →</text>')
        axes.append(f'<text transform="translate(12,{(top + bottom) / 2:.1f}) rotate(-90)" {font} '
                    f'font-size="10" text-anchor="middle">chain state ↓</text>')
        legend, lx = [], left
        for label, colour, mark in self.LEGEND:
            if mark == "dot":
                legend.append(f'<circle cx="{lx + 9}" cy="36" r="3" fill="{colour}"/>')
            else:
                dash = ' stroke-dasharray="3,3"' if mark == "dashed" else ""
                width = 3 if mark == "thick" else 2
                legend.append(f'<line x1="{lx}" y1="36" x2="{lx + 18}" y2="36" stroke="{colour}" '
                              f'stroke-width="{width}"{dash}/>')
            legend.append(f'<text x="{lx + 22}" y="39" {font} font-size="9">{label}</text>')
            lx += 30 + 5.2 * len(label)
        width, height = max(right, lx) + 16, bottom + 46
        title = (f"{self.name}: {self.steps} steps, {self.forward_steps} untaped forward steps, "
                 f"{self.max_snapshots} snapshots")
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}">'
                f'<rect width="100%" height="100%" fill="white"/>'
                f'<text x="{left}" y="18" {font} font-size="12">{title}</text>'
                + "".join(legend) + "".join(axes) + "".join(items) + "</svg>")

    def render(self, path) -> str:
        """Write the timeline as an SVG file; returns the path."""
        with open(path, "w") as f:
            f.write(self.to_svg())
        return str(path)

    def simulate(self, snapshots: Optional[int] = None) -> Dict[str, int]:
        """Replay the actions against an abstract state machine.

        Checks: advancing only from the current state and not past ``x_l``;
        snapshotting only the current state into a valid slot; restoring only
        the state a slot actually holds; reversing step ``i`` only when ``x_i``
        is current and the adjoint of ``x_{i+1}`` is available (so steps are
        reversed once each, in order ``l-1 .. 0``); ``FirstTurn`` only first;
        no actions after ``Terminate``; at most ``snapshots`` slots (default:
        this schedule's budget) in use; and at the end all ``l`` steps reversed.
        Returns a summary dict; raises ``ValueError`` on the first violation.
        """
        limit = self.snapshots if snapshots is None else snapshots
        l = self.steps
        current: Optional[int] = 0       # index of the state currently held
        slots: Dict[int, int] = {}       # slot -> state index
        adjoint = l                      # adjoint of x_adjoint is available
        forward = 0
        peak = 0
        terminated = False

        def fail(i: int, a: Action, why: str):
            raise ValueError(f"invalid schedule at action {i} ({a}): {why}")

        for i, a in enumerate(self.actions):
            if terminated:
                fail(i, a, "action after terminate")
            if isinstance(a, Advance):
                if current is None or a.start != current:
                    fail(i, a, f"current state is x_{current}, not x_{a.start}")
                if not (a.start < a.stop <= l):
                    fail(i, a, f"bad advance range (chain has {l} steps)")
                if a.stop >= adjoint:
                    fail(i, a, f"advance reaches x_{a.stop}, but steps from "
                               f"{adjoint} on are already reversed")
                forward += a.stop - a.start
                current = a.stop
            elif isinstance(a, Snapshot):
                if a.step != current:
                    fail(i, a, f"current state is x_{current}, not x_{a.step}")
                if a.slot < 0 or (limit is not None and a.slot >= limit):
                    fail(i, a, f"slot {a.slot} outside the {limit} available slots")
                slots[a.slot] = a.step
                peak = max(peak, len(slots))
                if limit is not None and len(slots) > limit:
                    fail(i, a, f"{len(slots)} slots in use, only {limit} allowed")
            elif isinstance(a, Restore):
                if a.slot not in slots:
                    fail(i, a, f"slot {a.slot} holds no state")
                if slots[a.slot] != a.step:
                    fail(i, a, f"slot {a.slot} holds x_{slots[a.slot]}, not x_{a.step}")
                current = a.step
            elif isinstance(a, _REVERSE_KINDS):
                if isinstance(a, FirstTurn) and adjoint != l:
                    fail(i, a, "first turn after steps were already reversed")
                if isinstance(a, Reverse) and adjoint == l:
                    fail(i, a, "first reversal must be a first turn")
                if a.step != adjoint - 1:
                    fail(i, a, f"out of order: adjoint of x_{a.step + 1} not "
                               f"available (next step to reverse is {adjoint - 1})")
                if current != a.step:
                    fail(i, a, f"current state is x_{current}, not x_{a.step}")
                adjoint = a.step
            elif isinstance(a, Terminate):
                terminated = True
            else:
                fail(i, a, f"unknown action {a!r}")
        if adjoint != 0:
            raise ValueError(f"invalid schedule: steps {adjoint - 1}..0 never reversed")
        if l > 0 and not terminated:
            raise ValueError("invalid schedule: missing terminate")
        return {"steps": l, "forward_steps": forward, "max_snapshots": peak,
                "reversed_steps": l}


# ---------------------------------------------------------------------------
# Segments


class Segments:
    """The sqrt(l) segment scheme (cf. PyTorch ``checkpoint_sequential``).

    The chain is cut into segments ``[0,k), [k,2k), ...`` (``n = ceil(l/k)``
    of them, the last possibly shorter).  The first forward sweep stores each
    segment start ``x_0, x_k, ...`` (slots ``0 .. n-1``) and stops at the last
    segment start.  Then, for each segment from last to first, the segment
    start is restored (unless current) and the segment ``[c, e)`` is
    recomputed once, storing the interior states ``x_{c+1} .. x_{e-2}`` (its
    "tape", in scratch slots ``n, n+1, ..``; ``x_{e-1}`` is left current); its
    steps are then reversed ``e-1 .. c``, restoring each state before use.

    Untaped forward steps: ``t = (n-1)*k + (l - n)`` (the sweep, then
    ``len - 1`` per segment); slots: ``n + max(0, min(k, l) - 2)``.
    ``k`` defaults to ``ceil(sqrt(l))``.
    """

    def __init__(self, k: Optional[int] = None):
        if k is not None and int(k) < 1:
            raise ValueError(f"segment length must be >= 1, got {k}")
        self.k = None if k is None else int(k)

    def __repr__(self) -> str:
        return "Segments()" if self.k is None else f"Segments({self.k})"

    def schedule(self, steps: int) -> Schedule:
        l = int(steps)
        if l < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        k = self.k if self.k is not None else max(1, math.ceil(math.sqrt(l)))
        starts = list(range(0, l, k))
        n = len(starts)
        acts: List[Action] = []
        for j, c in enumerate(starts):
            if j:
                acts.append(Advance(starts[j - 1], c))
            acts.append(Snapshot(c, j))
        current = starts[-1]
        first = True
        for j in range(n - 1, -1, -1):
            c, e = starts[j], min(starts[j] + k, l)
            if current != c:
                acts.append(Restore(c, j))
            # recompute the segment once, storing the interior states that
            # will be needed again (x_{c+1} .. x_{e-2}); x_{e-1} stays current
            scratch = {}
            for i in range(c + 1, e):
                acts.append(Advance(i - 1, i))
                if i < e - 1:
                    scratch[i] = n + (i - c - 1)
                    acts.append(Snapshot(i, scratch[i]))
            for i in range(e - 1, c - 1, -1):
                if i != e - 1:
                    acts.append(Restore(i, scratch[i] if i > c else j))
                acts.append(FirstTurn(i) if first else Reverse(i))
                first = False
            current = c
        acts.append(Terminate())
        longest = min(k, l)
        sched = Schedule(acts, l, snapshots=n + max(0, longest - 2), name=f"Segments(k={k})")
        sched.simulate()
        return sched


def _ticks(n: int, most: int = 10) -> list[int]:
    """Round tick positions 0..n, at most about `most` of them, always including n."""
    if n <= 0:
        return [0]
    step = max(1, n // most)
    for nice in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000):
        if nice >= step:
            step = nice
            break
    ticks = list(range(0, n, step))
    if n - ticks[-1] < step / 2 and len(ticks) > 1:
        ticks.pop()
    return ticks + [n]


# ---------------------------------------------------------------------------
# Revolve (binomial)


def repetition_number(steps: int, snapshots: int) -> int:
    """Smallest ``r`` with ``C(snapshots + r, snapshots) >= steps``."""
    if snapshots < 1:
        raise ValueError("need at least one snapshot slot (for x_0)")
    r = 0
    while math.comb(snapshots + r, snapshots) < steps:
        r += 1
    return r


@lru_cache(maxsize=4096)
def revolve_cost(steps: int, snapshots: int) -> float:
    """Optimal untaped forward steps ``t(l, s) = r*l - C(s+r, s+1)``.

    ``s`` counts the slot holding ``x_0``.  ``snapshots == 0`` is allowed for
    internal use: a single step needs no slot (cost 0), longer chains are
    impossible (``inf``).
    """
    l, s = int(steps), int(snapshots)
    if l <= 1:
        return 0
    if s <= 0:
        return math.inf
    r = repetition_number(l, s)
    return r * l - math.comb(s + r, s + 1)


def revolve_cost_dp(steps: int, snapshots: int) -> float:
    """Reference dynamic programme (quadratic; for checking the closed form).

    ``t(1, s) = 0``; ``t(l, 0) = inf`` for ``l > 1``;
    ``t(l, s) = min_{1<=m<l} m + t(l-m, s-1) + t(m, s)``.
    """
    L, S = int(steps), int(snapshots)
    inf = math.inf
    # table[s][l]
    table = [[0.0 if l <= 1 else inf for l in range(L + 1)]]
    for s in range(1, S + 1):
        prev = table[s - 1]
        row = [0.0] * (L + 1)
        for l in range(2, L + 1):
            row[l] = min(m + prev[l - m] + row[m] for m in range(1, l))
        table.append(row)
    return table[S][L]


def _beta(s: int, r: int) -> int:
    """``C(s + r, s)``: steps reversible with ``s`` slots and ``r`` repetitions."""
    return math.comb(s + r, s) if r >= 0 and s >= 0 else 0


def _split_candidates(l: int, s: int):
    """Candidate optimal splits ``m`` for ``(l, s)`` (closed form, O(1)).

    With ``r`` the repetition number of ``(l, s)`` and
    ``beta(s, r) = C(s+r, s)`` (``beta(s, r) = beta(s, r-1) + beta(s-1, r)``),
    the ``t``-optimal splits form the interval
    ``[max(beta(s, r-2), l - beta(s-1, r)), min(beta(s, r-1), l - beta(s-1, r-1))]``:
    i.e. the left part ``[a, m)`` (advanced once more, keeps ``s`` slots)
    has between ``beta(s, r-2)`` and ``beta(s, r-1)`` steps and the right
    part (``s-1`` slots) between ``beta(s-1, r-1)`` and ``beta(s-1, r)``.  Both ends are returned; :func:`_split` checks them
    against the cost (falling back to a linear scan, counted in
    ``_FALLBACKS``); both ends were checked optimal for all ``l < 800``,
    ``s < 14``, and the tests check the schedules against ``t(l, s)``.
    """
    r = repetition_number(l, s)
    lo = max(_beta(s, r - 2), l - _beta(s - 1, r), 1)
    hi = min(_beta(s, r - 1), l - _beta(s - 1, r - 1), l - 1)
    return lo, hi


_FALLBACKS = [0]  # number of times the closed-form split failed (tests: 0)


def _split(l: int, s: int) -> int:
    """Optimal split ``m`` (advance ``m`` steps, then snapshot) for ``(l, s)``."""
    target = revolve_cost(l, s)

    def cost(m: int) -> float:
        return m + revolve_cost(l - m, s - 1) + revolve_cost(m, s)

    for m in _split_candidates(l, s):
        if 1 <= m < l and cost(m) == target:
            return m
    _FALLBACKS[0] += 1  # safety net: linear scan
    for m in range(1, l):
        if cost(m) == target:
            return m
    raise AssertionError(f"no optimal split for l={l}, s={s}")  # pragma: no cover


class Revolve:
    """Binomial (Griewank-Walther) checkpointing with ``snapshots`` slots.

    ``snapshots`` counts the slot holding ``x_0``.  To reverse ``[a, b)``
    holding ``x_a`` in slot ``p`` with ``s`` slots ``p .. p+s-1`` available:
    if ``b - a == 1`` reverse step ``a``; otherwise advance ``a -> m`` for the
    optimal split ``m``, snapshot ``x_m`` into slot ``p+1`` (unless ``[m, b)``
    is a single step, which needs no snapshot), reverse ``[m, b)`` with
    ``s-1`` slots, restore ``x_a`` and reverse ``[a, m)`` with ``s`` slots.
    The result has exactly ``revolve_cost(l, s)`` untaped forward steps.
    """

    def __init__(self, snapshots: int):
        if int(snapshots) < 1:
            raise ValueError(f"snapshots must be >= 1 (the slot of x_0), got {snapshots}")
        self.snapshots = int(snapshots)

    def __repr__(self) -> str:
        return f"Revolve(snapshots={self.snapshots})"

    def schedule(self, steps: int) -> Schedule:
        l = int(steps)
        if l < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        s_total = self.snapshots
        acts: List[Action] = [Snapshot(0, 0)]
        first = [True]

        def reverse(i: int) -> None:
            acts.append(FirstTurn(i) if first[0] else Reverse(i))
            first[0] = False

        # solve(a, b, s, slot): x_a is current and stored in `slot`, slots slot..slot+s-1
        # usable. Written with an explicit stack of frames [a, b, s, slot, m] (m: the split
        # whose right part [m, b) is being reversed): the right parts nest up to s deep, and
        # s may be in the thousands.
        stack = [[0, l, s_total, 0, None]]
        while stack:
            frame = stack[-1]
            a, b, s, slot, m = frame
            if m is not None:  # back from reversing [m, b): now [a, m)
                acts.append(Restore(a, slot))
                frame[1], frame[4] = m, None
                b = m
            if b - a > 1:
                m = a + _split(b - a, s)
                acts.append(Advance(a, m))
                if b - m > 1:
                    acts.append(Snapshot(m, slot + 1))
                    frame[4] = m
                    stack.append([m, b, s - 1, slot + 1, None])
                else:
                    reverse(m)
                    acts.append(Restore(a, slot))
                    frame[1] = m
                continue
            reverse(a)
            stack.pop()
        acts.append(Terminate())
        sched = Schedule(acts, l, snapshots=s_total, name=f"Revolve(snapshots={s_total})")
        sched.simulate()
        return sched


# ---------------------------------------------------------------------------
# executor


@dataclass(frozen=True)
class Call:
    """A generated function and where its arguments and results live (by key)."""

    fn: Callable
    args: tuple
    outs: tuple


@dataclass(frozen=True)
class Fixed:
    """An output known at compile time (a gradient that is identically zero, say)."""

    value: object


@dataclass
class Chain:
    """The step functions of one compiled program, runnable under any schedule.

    Values are keyed (the compiler uses SSA value ids). `params` (the inputs and
    the prologue's results) are held for the whole run; a state ``x_i`` is a dict
    holding the keys ``states[i]``; adjoints flowing between reverse steps live in
    a third dict and are dropped after ``release[i]``, the last reverse step to
    read them. A step function given the key ``"step"`` receives the step's number
    (a loop's iteration: the steps of a loop share one function).
    """

    inputs: tuple
    prologue: Optional[Call]  # None when no value is shared by the steps
    forward: List[Call]  # forward[i]: x_i -> x_{i+1} (the last step has none)
    reverse: List[Call]  # reverse[i]: adjoint of step i
    finish: Optional[Call]  # None when the reverse steps already return every gradient
    states: List[tuple]
    release: List[tuple]
    outputs: tuple  # keys, or Fixed
    stacks: List[Call] = field(default_factory=list)  # rows of reverse steps stacked before the finish
    kept: List[tuple] = field(default_factory=list)  # kept[i]: keys forward[i] makes that the run keeps
    gathers: List[tuple] = field(default_factory=list)  # (reverse step, Call): kept rows stacked before it

    @property
    def steps(self) -> int:
        return len(self.reverse)


def run(chain: Chain, schedule: Schedule, inputs: Sequence) -> list:
    """Execute `schedule` over `chain` for these inputs; returns the program's outputs
    (the value, then the gradients), bitwise those of running it without checkpoints."""
    if schedule.steps != chain.steps:
        raise ValueError(f"the schedule is for {schedule.steps} steps, the program has {chain.steps}")
    actions = progress(schedule.actions, len(schedule.actions), f"checkpointed {schedule.name}")
    return run_steps(plain_chain(chain), (plain_action(a) for a in actions), inputs)


STEP = "step"  # the key a step function's argument has to receive the step's number


def is_fixed(output) -> bool:
    """Whether a plain chain's output is ("fixed", value) rather than a key (keys may be tuples
    too, but never start with "fixed")."""
    return type(output) is tuple and len(output) == 2 and output[0] == "fixed"


def plain_chain(chain: Chain) -> dict:
    """The chain as plain data (what a saved module holds): calls as (function, arg keys,
    result keys), outputs as keys or ("fixed", value)."""
    def call(c):
        return None if c is None else (c.fn, c.args, c.outs)
    return {"inputs": chain.inputs, "prologue": call(chain.prologue),
            "forward": [call(c) for c in chain.forward], "reverse": [call(c) for c in chain.reverse],
            "finish": call(chain.finish), "states": chain.states, "release": chain.release,
            "stacks": [call(c) for c in chain.stacks], "kept": chain.kept,
            "gathers": [(i, call(c)) for i, c in chain.gathers],
            "outputs": [("fixed", o.value) if isinstance(o, Fixed) else o for o in chain.outputs]}


def plain_action(action: Action) -> tuple:
    """An action as a tuple: ("advance", start, stop), ("snapshot", step, slot),
    ("restore", step, slot), ("reverse", step) or ("terminate",)."""
    if isinstance(action, Advance):
        return ("advance", action.start, action.stop)
    if isinstance(action, (Snapshot, Restore)):
        return (action.kind, action.step, action.slot)
    if isinstance(action, _REVERSE_KINDS):
        return ("reverse", action.step)
    return ("terminate",)


def run_steps(chain, actions, inputs):
    """Run the step functions of `chain` (plain data: plain_chain) under `actions` (tuples:
    plain_action) for these inputs; returns the outputs, the value then the gradients.
    Self-contained (only builtins): a saved checkpointed module carries a copy of it.
    A state is a dict of the values one step hands the next; snapshots keep states in
    slots; adjoints flowing between reverse steps are dropped after their last reader."""
    def call(step, *scopes):
        fn, keys, outs = step
        args = []
        for k in keys:
            for scope in scopes:
                if k in scope:
                    args.append(scope[k])
                    break
            else:
                raise KeyError(f"checkpointing: value {k} is not available for {fn.__name__}")
        out = fn(*args)
        return (out,) if len(outs) == 1 else out

    params = dict(zip(chain["inputs"], inputs))
    if chain["prologue"] is not None:
        params.update(zip(chain["prologue"][2], call(chain["prologue"], params)))
    current = {}  # x_0 holds nothing: step 0 reads only params
    slots = {}  # slot -> (step, state)
    adjoints = {}
    kept = {}  # rows forward steps make that a later step reads stacked (a loop's appended rows)
    kept_keys = chain.get("kept") or ()
    gathers = {}
    for i, step in chain.get("gathers") or ():
        gathers.setdefault(i, []).append(step)
    for action in actions:
        kind = action[0]
        if kind == "advance":
            for i in range(action[1], action[2]):
                step = chain["forward"][i]
                made = dict(zip(step[2], call(step, {"step": i}, current, params)))
                current = {k: current[k] if k in current else made[k] for k in chain["states"][i + 1]}
                if i < len(kept_keys):
                    kept.update((k, made[k]) for k in kept_keys[i])
        elif kind == "snapshot":
            slots[action[2]] = (action[1], current)
        elif kind == "restore":
            current = slots[action[2]][1]
        elif kind == "reverse":
            i = action[1]
            for gather in gathers.pop(i, ()):  # the kept rows, stacked (then let go)
                kept.update(zip(gather[2], call(gather, kept)))
                for k in gather[1]:
                    del kept[k]
            step = chain["reverse"][i]
            adjoints.update(zip(step[2], call(step, {"step": i}, current, params, adjoints, kept)))
            for k in chain["release"][i]:
                adjoints.pop(k, None)
            # x_i and every later state can never be needed again: let them go.
            slots = {s: held for s, held in slots.items() if held[0] < i}
            current = {}
    for step in chain.get("stacks", ()):  # rows the reverse steps made, as one array each
        adjoints.update(zip(step[2], call(step, adjoints)))
    if chain["finish"] is not None:
        adjoints.update(zip(chain["finish"][2], call(chain["finish"], params, adjoints)))
    return [o[1] if type(o) is tuple and len(o) == 2 and o[0] == "fixed" else
            adjoints[o] if o in adjoints else params[o] for o in chain["outputs"]]
