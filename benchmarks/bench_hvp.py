"""Cost of a Hessian-vector product relative to a gradient, measured in one run.

The theory (seed 004, and Griewank & Walther) says forward-over-reverse H·v costs a
small constant times a gradient. This times gradc's `hvp` (both modes) against its
`value_and_grad` on the benchmark MLP (784-256-256-10, batch 128) and on the
200 000-point logistic regression, and prints the ratios.

    .venv/bin/python benchmarks/bench_hvp.py [--quick]
"""
from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gradc
import workloads  # noqa: E402

CASES = [
    ("mlp", workloads.mlp_loss, workloads.mlp_make, ("W1", "b1", "W2", "b2", "W3", "b3")),
    ("logreg_200k", workloads.logreg_loss, workloads.logreg_make, ("w",)),
]


def best(fn, repeats: int) -> float:
    number, _ = timeit.Timer(fn).autorange()
    return min(timeit.repeat(fn, number=number, repeat=repeats)) / number


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    opts = parser.parse_args(argv)
    repeats = 3 if opts.quick else 7
    rng = np.random.default_rng(0)
    print(f"{'workload':<12} {'grad (ms)':>10} {'hvp f-o-r (ms)':>15} {'ratio':>6} "
          f"{'hvp r-o-r (ms)':>15} {'ratio':>6}")
    for name, loss, make, wrt in CASES:
        args = make(rng)
        c = gradc.compile(loss, wrt=wrt, args=args)
        positions = [c.arg_names.index(w) for w in wrt]
        v = tuple(rng.standard_normal(np.shape(args[p])) for p in positions)  # wrt is a tuple
        # Correctness first: the two modes agree.
        a, b = c.hvp(*args, v), c.hvp(*args, v, mode="reverse-over-reverse")
        for x, y in zip(a, b):
            assert np.allclose(x, y, rtol=1e-8, atol=1e-10), f"{name}: hvp modes disagree"
        t_grad = best(lambda: c.value_and_grad(*args), repeats)
        t_for = best(lambda: c.hvp(*args, v), repeats)
        t_ror = best(lambda: c.hvp(*args, v, mode="reverse-over-reverse"), repeats)
        print(f"{name:<12} {t_grad * 1e3:>10.3f} {t_for * 1e3:>15.3f} {t_for / t_grad:>6.2f} "
              f"{t_ror * 1e3:>15.3f} {t_ror / t_grad:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
