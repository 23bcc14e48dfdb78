"""Memory/time trade-off of gradc's checkpointing on a chain of steps.

The loss is a chain of `--steps` steps on a state of `--state-mb` MB,
`h = sin(h * a[i]) + h`, then `sum(h * h)`; its gradient is taken with respect to the
state x and the step factors a. Store-all (checkpoint=None) keeps every step's
intermediates; Segments() and Revolve(snapshots=s) keep a few states and recompute
the rest. For each policy this measures the peak memory of one value_and_grad call
(tracemalloc), its median wall time, and the untaped forward steps its schedule runs,
and checks that its gradients are bitwise those of store-all. A hand-written NumPy
store-everything gradient is the baseline row.

    .venv/bin/python benchmarks/bench_checkpoint.py                  # 200 steps, 1 MB state
    .venv/bin/python benchmarks/bench_checkpoint.py --quick          # smoke run, about a second
    .venv/bin/python benchmarks/bench_checkpoint.py --steps 400 --state-mb 4 --out /tmp/ck

Writes the table as markdown (checkpoint_tradeoff.md) and a plot of memory and time
against s (checkpoint_tradeoff.svg) to --out. Exit status 1 if a gradient differs.
See benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import gradc
from svg_plot import HLine, Panel, Point, Series, figure  # noqa: E402

SNAPSHOTS = (2, 3, 4, 6, 8, 10, 15, 20, 40)
QUICK_SNAPSHOTS = (2, 3, 4, 8)
HAND_RTOL = 1e-12  # the hand gradient sums in the same order, but is not required to be bitwise


def chain(x, a, n):
    h = x
    for i in range(n):
        h = np.sin(h * a[i]) + h
    return np.sum(h * h)


def chain_hand(x, a, n):
    """Value and gradient of `chain`, written by hand: store every h_i and u_i = h_i * a_i."""
    hs, us = [], []
    h = x
    for i in range(n):
        u = h * a[i]
        hs.append(h)
        us.append(u)
        h = np.sin(u) + h
    value = np.sum(h * h)
    h_bar = h + h
    a_bar = np.zeros_like(a)
    for i in range(n - 1, -1, -1):
        u_bar = h_bar * np.cos(us[i])
        a_bar[i] = np.sum(u_bar * hs[i])
        h_bar = h_bar + u_bar * a[i]
    return value, (h_bar, a_bar)


@dataclass
class Row:
    """One policy's measurements; `run` is a no-argument value-and-gradient call."""
    name: str
    run: object
    snapshots: int | None = None  # Revolve's s (the plot's x); None for the others
    slots: str = ""
    forward_steps: int = 0
    peak_bytes: int = 0
    times: list = field(default_factory=list)
    check: str = ""
    ok: bool = True
    result: tuple = ()

    @property
    def time_s(self) -> float:
        return statistics.median(self.times)


def make_args(steps: int, state_mb: float, seed: int = 0) -> tuple:
    """(x, a, n): a float64 state of about state_mb MB and one factor per step."""
    elements = max(1, round(state_mb * 1e6 / 8))
    x = np.random.default_rng(seed).standard_normal(elements)
    return x, np.linspace(0.5, 1.5, steps), steps


def policies(snapshots) -> list:
    """(row name, checkpoint policy, Revolve's s) for every policy compared."""
    return ([("store-all", None, None), ("Segments()", gradc.Segments(), None)]
            + [(f"Revolve({s})", gradc.Revolve(snapshots=s), s) for s in snapshots])


def build_rows(args, snapshots) -> list:
    """The hand row, then one compiled row per policy, with schedule statistics."""
    steps = args[2]
    rows = [Row("hand NumPy (store all)", lambda: chain_hand(*args), slots="all",
                forward_steps=steps)]
    for name, policy, s in policies(snapshots):
        c = gradc.compile(chain, wrt=("x", "a"), args=args, checkpoint=policy)
        sched = c.schedule
        row = Row(name, lambda c=c: c.value_and_grad(*args), snapshots=s)
        if sched is None:
            row.slots, row.forward_steps = "all", steps
        else:
            row.name = sched.name if name == "Segments()" else name
            row.slots, row.forward_steps = str(sched.max_snapshots), sched.forward_steps
        rows.append(row)
    return rows


def peak_memory(run) -> tuple:
    """(peak traced bytes of one call, its result), after a warm-up call. Arrays that
    exist before the call (the inputs) are not counted."""
    result = run()
    gc.collect()
    tracemalloc.start()
    try:
        run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, result


def time_round_robin(rows, repeats: int) -> None:
    """Wall time of single calls, repeats taken round-robin over the rows so that a slow
    spell on the machine hits every row alike. No tracemalloc here: it slows allocation."""
    for _ in range(repeats):
        for row in rows:
            gc.collect()
            gc.disable()
            try:
                t0 = time.perf_counter()
                row.run()
                row.times.append(time.perf_counter() - t0)
            finally:
                gc.enable()


def check(rows) -> None:
    """Every compiled policy must give bitwise the store-all value and gradients;
    the hand-written ones must agree to HAND_RTOL."""
    ref = next(r for r in rows if r.name == "store-all").result
    flat = lambda res: [np.asarray(res[0]), *map(np.asarray, res[1])]  # noqa: E731
    for row in rows:
        pairs = list(zip(flat(row.result), flat(ref)))
        if row.name.startswith("hand"):
            err = max(float(np.max(np.abs(g - r) / np.maximum(np.abs(r), 1e-300))) for g, r in pairs)
            row.ok = err <= HAND_RTOL
            row.check = ("bitwise" if err == 0 else f"max rel err {err:.0e}") if row.ok \
                else f"MISMATCH (rel err {err:.1e})"
        else:
            row.ok = all(g.shape == r.shape and np.array_equal(g, r) for g, r in pairs)
            row.check = "reference" if row.name == "store-all" else "bitwise" if row.ok else "MISMATCH"


def measure(args, snapshots, repeats: int) -> list:
    rows = build_rows(args, snapshots)
    for row in rows:
        row.peak_bytes, row.result = peak_memory(row.run)
    check(rows)
    time_round_robin(rows, repeats)
    return rows


def format_table(rows, steps: int, state_bytes: int) -> str:
    """Markdown table; ratios are against the compiled store-all row."""
    base = next(r for r in rows if r.name == "store-all")
    header = ["policy", "slots", "peak MB", "states", "fwd steps t", "t / l", "time (s)",
              "time / store-all", "gradient vs store-all"]
    body = [[r.name, r.slots, f"{r.peak_bytes / 1e6:.1f}", f"{r.peak_bytes / state_bytes:.1f}",
             str(r.forward_steps), f"{r.forward_steps / steps:.2f}", f"{r.time_s:.3f}",
             f"{r.time_s / base.time_s:.2f}", r.check] for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) if i in (0, 8) else c.rjust(w)  # noqa: E731
                                           for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    sep = "|" + "|".join("-" * (w + 1) + ("-" if i in (0, 8) else ":") for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), sep, *(line(b) for b in body)])


def notes(steps: int, state_bytes: int, repeats: int) -> str:
    return (f"l = {steps} steps, state {state_bytes / 1e6:g} MB ({state_bytes // 8} float64). "
            "peak MB: tracemalloc peak of one value_and_grad call after a warm-up call (inputs "
            "not counted); states = peak / state size. slots: the schedule's snapshot slots, x_0's "
            "included (x_0 is the input, so it costs nothing here). fwd steps t: untaped forward "
            "steps (schedule.forward_steps, the first sweep included); store-all's is its one taped "
            "sweep, l. A checkpointed run also re-runs every step once, taped, while reversing, so "
            f"it evaluates t + l steps against store-all's l. time: median of {repeats} calls, "
            "taken round-robin without tracemalloc.")


def time_model(rows) -> str:
    """Least-squares fit time = T0 + c * t over the Revolve rows: c is the cost of one
    untaped step, T0 that of the taped re-runs and the reversal, which store-all's time
    (the same taped work, but with every intermediate kept) can be compared with."""
    pts = [(r.forward_steps, r.time_s) for r in rows if r.snapshots is not None]
    if len({t for t, _ in pts}) < 2:
        return ""
    c, t0 = np.polyfit([t for t, _ in pts], [y for _, y in pts], 1)
    base = next(r for r in rows if r.name == "store-all")
    return (f"Fit over the Revolve rows: time = {t0:.3f} s + {c * 1e3:.3f} ms per untaped forward "
            f"step t; store-all takes {base.time_s:.3f} s.")


def plot(rows, steps: int, state_mb: float) -> str:
    """Two panels against Revolve's s: peak memory (log scale) and wall time, with
    store-all as a reference line and Segments as a point at its slot count."""
    revolve = [r for r in rows if r.snapshots is not None]
    base = next(r for r in rows if r.name == "store-all")
    seg = next(r for r in rows if r.name.startswith("Segments"))
    xs = [r.snapshots for r in revolve]

    def panel(title, ylabel, value, ylog):
        return Panel(title, "snapshots s (Revolve)", ylabel, ylog=ylog,
                     series=[Series("Revolve(snapshots=s)", xs, [value(r) for r in revolve], "#1f77b4")],
                     hlines=[HLine(f"store-all ({value(base):.3g})", value(base), "#d62728")],
                     points=[Point(f"{seg.name} ({seg.slots} slots)", float(seg.slots), value(seg),
                                   "#2ca02c")])

    return figure([panel("peak memory (MB, log scale)", "MB", lambda r: r.peak_bytes / 1e6, True),
                   panel("wall time of value_and_grad (s)", "seconds", lambda r: r.time_s, False)],
                  title=f"gradc checkpointing: {steps}-step chain, {state_mb:g} MB state",
                  note="peak memory: tracemalloc, one call after a warm-up; time: median wall "
                       "time; Segments is drawn at its slot count")


def machine_line() -> str:
    cpu = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} CPUs | Python {platform.python_version()} | "
            f"NumPy {np.__version__} | gradc {getattr(gradc, '__version__', '?')}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, help="chain length l (default 200; 20 with --quick)")
    ap.add_argument("--state-mb", type=float, help="state size in MB (default 1; 0.1 with --quick)")
    ap.add_argument("--snapshots", type=int, nargs="+", metavar="S",
                    help=f"Revolve budgets (default {' '.join(map(str, SNAPSHOTS))})")
    ap.add_argument("--repeats", type=int, help="timed calls per policy (default 5; 2 with --quick)")
    ap.add_argument("--quick", action="store_true", help="small, fast smoke run")
    ap.add_argument("--out", default=str(HERE / "out"), help="directory for the .md and .svg")
    opts = ap.parse_args(argv)
    steps = opts.steps or (20 if opts.quick else 200)
    state_mb = opts.state_mb or (0.1 if opts.quick else 1.0)
    repeats = opts.repeats or (2 if opts.quick else 5)
    snapshots = sorted(set(opts.snapshots or (QUICK_SNAPSHOTS if opts.quick else SNAPSHOTS)))

    args = make_args(steps, state_mb)
    state_bytes = args[0].nbytes
    print(machine_line())
    print(f"chain of {steps} steps, state {state_bytes / 1e6:g} MB; {repeats} timed calls per policy")
    t0 = time.perf_counter()
    rows = measure(args, snapshots, repeats)
    table = format_table(rows, steps, state_bytes)
    text = notes(steps, state_bytes, repeats)
    fit = time_model(rows)
    text += f"\n\n{fit}" if fit else ""
    print()
    print(table)
    print()
    print(text)
    print(f"total {time.perf_counter() - t0:.1f} s")

    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "checkpoint_tradeoff.md").write_text(
        f"Machine: {machine_line()}\n\n{table}\n\n{text}\n")
    (out / "checkpoint_tradeoff.svg").write_text(plot(rows, steps, state_mb))
    print(f"wrote {out / 'checkpoint_tradeoff.md'} and {out / 'checkpoint_tradeoff.svg'}")

    bad = [r.name for r in rows if not r.ok]
    if bad:
        print(f"\n*** GRADIENT CHECK FAILED *** for {', '.join(bad)}: not equal to store-all "
              "(compiled policies must match bitwise)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
