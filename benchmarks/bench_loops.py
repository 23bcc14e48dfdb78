"""Loops stay loops: compile time and generated size against the trip count, and an RNN's
value and gradient against hand-written backpropagation through time (BPTT).

    .venv/bin/python benchmarks/bench_loops.py            # full run
    .venv/bin/python benchmarks/bench_loops.py --quick    # fewer repeats
    .venv/bin/python benchmarks/bench_loops.py --threads 1  # one BLAS thread (H = 64 matvecs)

The RNN is `h = tanh(W @ h + U @ X[t])` with H = 64 hidden units, loss sum(h ** 2),
gradient with respect to W, U and h0. Compile time is `gradc.compile` plus the first
value_and_grad call, for a function object compiled for the first time. Value-and-grad
times are the best of interleaved repeats (same process, same data). Not a test: the
numbers are printed, nothing is asserted except that gradients agree.
"""
from __future__ import annotations

import argparse
import os
import sys

# --threads must take effect before NumPy (and its BLAS) is imported.
import blas_threads  # noqa: E402,F401  (before NumPy: --threads reaches the BLAS)
import time  # noqa: E402
import types  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

import gradc  # noqa: E402
from gradc.api import Compiled  # noqa: E402
from gradc.frontend.python import UNROLL_LOOPS  # noqa: E402

H, D = 64, 32


def rnn(W, U, X, h0):
    h = h0
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + U @ X[t])
    return np.sum(h * h)


def bptt(W, U, X, h0):
    """Hand-written value and gradient (W, U, h0): the textbook BPTT."""
    T = X.shape[0]
    hs = np.empty((T + 1, h0.shape[0]))
    hs[0] = h = h0
    for t in range(T):
        h = np.tanh(W @ h + U @ X[t])
        hs[t + 1] = h
    loss = np.sum(h * h)
    dh = 2 * h
    dW, dU = np.zeros_like(W), np.zeros_like(U)
    for t in range(T - 1, -1, -1):
        da = dh * (1 - hs[t + 1] ** 2)
        dW += np.outer(da, hs[t])
        dU += np.outer(da, X[t])
        dh = da @ W
    return loss, (dW, dU, dh)


def fresh_rnn():
    """A new function object with rnn's code: compile caches cannot answer for it."""
    return types.FunctionType(rnn.__code__, rnn.__globals__, "rnn")


def args_for(T, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(H, H)) / np.sqrt(H), rng.normal(size=(H, D)) / np.sqrt(D),
            rng.normal(size=(T, D)), rng.normal(size=H))


def compile_time(T, unroll=False):
    args = args_for(T)
    fn = fresh_rnn()
    token = UNROLL_LOOPS.set(True) if unroll else None
    try:
        start = time.perf_counter()
        compiled = Compiled(fn, ("W", "U", "h0"))
        compiled.specialize(*args)
        compiled_at = time.perf_counter()
        compiled.value_and_grad(*args)
        called_at = time.perf_counter()
    finally:
        if token is not None:
            UNROLL_LOOPS.reset(token)
    return compiled_at - start, called_at - compiled_at, len(compiled.source.splitlines())


def best_of(fns, repeats, min_time):
    """Interleaved repeats; per function the best time per call."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, f in enumerate(fns):
            n, start = 0, time.perf_counter()
            while True:
                f()
                n += 1
                elapsed = time.perf_counter() - start
                if elapsed >= min_time:
                    break
            best[i] = min(best[i], elapsed / n)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, help="BLAS threads (set before NumPy loads)")
    opts = parser.parse_args(argv)
    repeats, min_time = (3, 0.05) if opts.quick else (7, 0.2)

    print(f"RNN H={H}, D={D}; numpy {np.__version__}, {os.cpu_count()} CPUs\n")
    compile_time(10)  # imports and first-use caches, not counted
    print("compile (trace, passes, adjoint, codegen, load) and the first value_and_grad call, ms;")
    print("the loop region, and the same function unrolled (the frontend's old path) for comparison")
    print(f"{'T':>6} {'compile':>8} {'1st call':>9} {'lines':>6}   {'unrolled':>9} {'1st call':>9} {'lines':>6}")
    for T in (10, 100, 1000, 10000):
        c, first, n = compile_time(T)
        row = f"{T:>6} {c * 1e3:>8.1f} {first * 1e3:>9.1f} {n:>6}   "
        if T <= 1000:
            uc, ufirst, un = compile_time(T, unroll=True)
            row += f"{uc * 1e3:>9.1f} {ufirst * 1e3:>9.1f} {un:>6}"
        else:
            row += f"{'(skipped: minutes)':>26}"
        print(row)

    print("\nvalue_and_grad per call (best of interleaved repeats)")
    print(f"{'T':>6} {'gradc ms':>9} {'hand BPTT ms':>13} {'ratio':>6}")
    for T in (200, 1000):
        args = args_for(T, seed=1)
        compiled = gradc.compile(fresh_rnn(), wrt=("W", "U", "h0"), args=args)
        value, grads = compiled.value_and_grad(*args)
        ref_value, ref_grads = bptt(*args)
        assert np.allclose(value, ref_value) and all(np.allclose(g, r) for g, r in zip(grads, ref_grads))
        ours, hand = best_of([lambda: compiled.value_and_grad(*args), lambda: bptt(*args)], repeats, min_time)
        print(f"{T:>6} {ours * 1e3:>9.3f} {hand * 1e3:>13.3f} {ours / hand:>6.2f}")

    checkpointed(opts.quick)


def peak_bytes(fn):
    """Peak traced memory of one call (tracemalloc sees NumPy's allocations)."""
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def checkpointed(quick: bool) -> None:
    """Checkpointing acts on the loop's iterations without unrolling it: compile time and the
    module's size do not grow with T; memory and time against storing everything."""
    T = 1000
    args = args_for(T, seed=2)
    print(f"\ncheckpointed RNN, T = {T}: compile + first call, per-call time, tracemalloc peak")
    print(f"{'policy':>22} {'compile ms':>11} {'lines':>6} {'call ms':>8} {'peak KiB':>9} {'fwd steps':>10}")
    reference = None
    for policy in (None, gradc.Segments(), gradc.Revolve(10), gradc.Revolve(3)):
        fn = fresh_rnn()
        start = time.perf_counter()
        compiled = gradc.compile(fn, wrt=("W", "U", "h0"), args=args, checkpoint=policy)
        value, grads = compiled.value_and_grad(*args)
        made = time.perf_counter() - start
        if reference is None:
            reference = grads
        assert all(np.allclose(g, r, rtol=1e-12, atol=1e-14) for g, r in zip(grads, reference))
        (per_call,) = best_of([lambda: compiled.value_and_grad(*args)], 1 if quick else 3, min_time=0.05)
        peak = peak_bytes(lambda: compiled.value_and_grad(*args))
        schedule = compiled.schedule
        steps = schedule.forward_steps if schedule is not None else T
        print(f"{str(policy or 'store all'):>22} {made * 1e3:>11.1f} {len(compiled.source.splitlines()):>6} "
              f"{per_call * 1e3:>8.2f} {peak / 1024:>9.0f} {steps:>10}")
    hand = peak_bytes(lambda: bptt(*args))
    print(f"{'hand BPTT':>22} {'':>11} {'':>6} {'':>8} {hand / 1024:>9.0f}")


if __name__ == "__main__":
    main()
