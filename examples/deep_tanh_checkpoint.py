"""Checkpointing a deep tanh network: the same gradient in a fraction of the memory.

The loss is the mean squared error of an L-layer tanh network h <- tanh(h @ W[i]) on a
batch of B rows of width d. Reverse mode needs every layer's input, so storing everything
keeps about one B x d activation per layer (B*d*8 bytes each, L of them: ~0.84 GB at the
default sizes; store-all peaks at about twice that). Each loop iteration is a checkpointing step, so gradc can instead keep a
few states and recompute the rest: Segments(k) stores every k-th state, Revolve(s) the
optimal binomial schedule with s stored states. The gradients are bitwise identical.

For each policy this prints the peak memory (tracemalloc, which sees NumPy buffers), the
wall time of a value_and_grad call (the first; --repeat N reports the fastest of N), and
the schedule's untaped forward step count: the first sweep plus recomputation, also as a
multiple of L (store-all tapes its single sweep instead). It writes each schedule's
timeline to out/deep_tanh_<policy>.svg.

    python examples/deep_tanh_checkpoint.py                 # 1.7 GB store-all peak, ~15 s on 2 cores
    python examples/deep_tanh_checkpoint.py --batch 65536   # 3.5 GB store-all peak, a few minutes
    python examples/deep_tanh_checkpoint.py --quick         # tiny sizes, under two seconds
    python examples/deep_tanh_checkpoint.py --skip-store-all --layers 400   # estimate store-all

On a busy 2-core machine, OPENBLAS_NUM_THREADS=1 avoids BLAS threads fighting for cores.
"""
import argparse
import re
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

import gradc

OUT = Path(__file__).resolve().parent.parent / "out"
DEFAULT_POLICIES = "store-all,segments,revolve:4,revolve:10"


def loss(x, W, T, n):
    h = x
    for i in range(n):
        h = np.tanh(h @ W[i])
    return np.mean((h - T) ** 2)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=100, help="L, the number of tanh layers (steps)")
    p.add_argument("--batch", type=int, default=16384, help="B, rows per batch")
    p.add_argument("--width", type=int, default=64, help="d, the layer width")
    p.add_argument("--policies", default=DEFAULT_POLICIES,
                   help="comma list of store-all, segments[:k], revolve:s (default: %(default)s)")
    p.add_argument("--skip-store-all", action="store_true",
                   help="do not run store-all; estimate its memory as L activations")
    p.add_argument("--repeat", type=int, default=1,
                   help="calls per policy; the fastest is reported (default 1: the first call)")
    p.add_argument("--quick", action="store_true", help="tiny sizes (L=12, B=64, d=16)")
    p.add_argument("--out", type=Path, default=OUT, help="where the schedule timelines go")
    args = p.parse_args(argv)
    if args.quick:
        args.layers, args.batch, args.width = 12, 64, 16
    return args


def parse_policy(text):
    """'store-all' -> None; 'segments' / 'segments:k' -> Segments; 'revolve:s' -> Revolve."""
    kind, _, arg = text.strip().lower().partition(":")
    if kind in ("store-all", "none"):
        return None
    if kind == "segments":
        return gradc.Segments(int(arg)) if arg else gradc.Segments()
    if kind == "revolve" and arg:
        return gradc.Revolve(snapshots=int(arg))
    raise SystemExit(f"unknown policy {text!r}: use store-all, segments[:k] or revolve:s")


def policy_name(policy, compiled):
    """The schedule's own name (it resolves Segments' default k), or store-all."""
    return "store-all" if policy is None else compiled.schedule.name


def problem(L, B, d, seed=0):
    """Input, weights (variance 1/d keeps tanh out of saturation) and a random target."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, d))
    W = rng.standard_normal((L, d, d)) / np.sqrt(d)
    T = 0.5 * rng.standard_normal((B, d))
    return x, W, T


def measure(compiled, args, repeat=1):
    """Peak traced memory and the fastest wall time of `repeat` value_and_grad calls.

    compile() already specialised on these arguments, so the first call builds nothing
    and peaks like any later one; it may still be slower, as the OS maps fresh pages."""
    peak, seconds = 0, float("inf")
    for _ in range(max(1, repeat)):
        tracemalloc.start()
        t0 = time.perf_counter()
        value, grad = compiled.value_and_grad(*args)
        seconds = min(seconds, time.perf_counter() - t0)
        peak = max(peak, tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    return value, grad, peak, seconds


def fmt_seconds(t):
    return f"{t:.2f} s" if t >= 1 else f"{t * 1e3:.1f} ms"


def slug(name):
    """'Revolve(snapshots=4)' -> 'revolve_snapshots_4', a safe file name."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def fmt_bytes(n):
    if n >= 1e9:
        return f"{n / 1e9:.2f} GB"
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def run_policies(policies, args, out, repeat=1):
    """Compile and differentiate once per policy; one row of results each."""
    rows = []
    for k, policy in enumerate(policies, 1):
        if sys.stderr.isatty():  # progress on a terminal only; logs and pipes stay clean
            print(f"[{k}/{len(policies)}] {policy or 'store-all'} ...", file=sys.stderr, flush=True)
        compiled = gradc.compile(loss, wrt="W", args=args, checkpoint=policy)
        value, grad, peak, seconds = measure(compiled, args, repeat)
        name = policy_name(policy, compiled)
        schedule = compiled.schedule
        svg = schedule and schedule.render(out / f"deep_tanh_{slug(name)}.svg")
        rows.append(dict(name=name, value=value, grad=grad, peak=peak, seconds=seconds,
                         schedule=schedule, svg=svg, compiled=compiled))
    return rows


def print_table(rows, reference, store_all_bytes, estimated):
    """One line per policy; memory relative to store-all, gradients compared bitwise."""
    ref_name = reference["name"]
    print(f"{'policy':<22}{'peak memory':>13}{'vs store-all':>14}{'time':>10}"
          f"{'untaped steps':>16}{'snapshots':>11}   gradient")
    if estimated:
        print(f"{'store-all (estimate)':<22}{fmt_bytes(store_all_bytes):>13}{1:>13.1%}"
              "   not run: one activation per layer x L")
    for r in rows:
        s = r["schedule"]
        steps = f"{s.forward_steps} ({s.forward_steps / s.steps:.2f} L)" if s else "(tapes all)"
        slots = f"{s.max_snapshots}" if s else "all"
        same = "reference" if r is reference else (
            f"identical to {ref_name}" if np.array_equal(r["grad"], reference["grad"])
            else f"DIFFERS from {ref_name}")
        print(f"{r['name']:<22}{fmt_bytes(r['peak']):>13}{r['peak'] / store_all_bytes:>13.1%} "
              f"{fmt_seconds(r['seconds']):>9}{steps:>16}{slots:>11}   {same}")


def step_functions(source, n_lines):
    """The generated module from its first step function on (skipping docstring and helpers)."""
    lines = source.splitlines()
    first = next((i for i, line in enumerate(lines) if line.startswith("def step_")), 0)
    start = first - 1 if first and lines[first - 1].startswith("#") else first
    return "\n".join(lines[start:start + n_lines])


MEANINGFUL_SECONDS = 0.5  # below this, a time ratio measures noise, not recomputation


def print_tradeoff(row, store_all):
    """The headline: memory saved against time spent recomputing (the time only where the
    runs are long enough for a ratio to mean something)."""
    memory = f"{row['name']}: {row['peak'] / store_all['peak']:.1%} of store-all's peak memory"
    if store_all["seconds"] >= MEANINGFUL_SECONDS:
        print(f"{memory} for {row['seconds'] / store_all['seconds']:.2f}x its time")
    else:
        print(f"{memory}; its cost in time is {row['schedule'].forward_steps} untaped forward steps "
              f"against store-all's 0 (wall times at these toy sizes are noise, not a trade-off)")


def print_details(row, rows, n_actions=16, n_lines=28):
    """What a checkpointed gradient runs: the schedule's head and the step functions."""
    compiled, schedule = row["compiled"], row["schedule"]
    print(f"\n== {schedule.name}: first {n_actions} of {len(schedule)} schedule actions ==")
    print("\n".join(schedule.listing().splitlines()[:n_actions + 1]) + "\n  ...")
    print(f"\n== {schedule.name}: generated step functions (c.source, from the first step) ==")
    print(step_functions(compiled.source, n_lines) + "\n...")
    print("\n== Schedule timelines ==")
    for r in rows:
        if r["svg"]:
            print(f"{r['name']:>22}: {r['svg']}")


def main(argv=None):
    started = time.perf_counter()
    opts = parse_args(argv)
    L, B, d = opts.layers, opts.batch, opts.width
    policies = [parse_policy(p) for p in opts.policies.split(",") if p.strip()]
    if opts.skip_store_all:
        policies = [p for p in policies if p is not None]
    if not policies:
        raise SystemExit("no policy left to run")
    opts.out.mkdir(parents=True, exist_ok=True)
    args = (*problem(L, B, d), L)
    activation = B * d * 8
    print(f"Deep tanh network: L={L} layers, batch B={B}, width d={d}")
    print(f"one activation: {fmt_bytes(activation)};  x L layers: {fmt_bytes(activation * L)};  "
          f"weights: {fmt_bytes(args[1].nbytes)}\n")

    rows = run_policies(policies, args, opts.out, opts.repeat)
    stored = [r for r in rows if r["schedule"] is None]
    reference = stored[0] if stored else rows[0]
    store_all_bytes = stored[0]["peak"] if stored else activation * L
    print_table(rows, reference, store_all_bytes, estimated=not stored)
    print(f"\nloss = {reference['value']:.6f} under every policy: "
          f"{all(r['value'] == reference['value'] for r in rows)}")
    checkpointed = [r for r in rows if r["schedule"] is not None]
    if checkpointed:
        leanest = min(checkpointed, key=lambda r: r["peak"])
        if stored:
            print_tradeoff(leanest, stored[0])
        print_details(leanest, rows)
    print(f"\ntotal time: {time.perf_counter() - started:.1f} s")
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
