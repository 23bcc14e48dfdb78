"""The per-file outcome table of a port run."""
from collections import Counter

from .runner import OUTCOMES


def table(results: dict, verbose: bool = False) -> str:
    """results: {autograd file: [Result, ...]}."""
    head = f"{'autograd file':<18}{'grads':>7}" + "".join(f"{o:>14}" for o in OUTCOMES)
    rows, total = ["gradc on HIPS autograd's NumPy tests (one row per file; one gradient per case and argument)", head], Counter()
    for file, rs in results.items():
        c = Counter(r.outcome for r in rs)
        total.update(c)
        rows.append(f"{file:<18}{len(rs):>7}" + "".join(f"{c[o]:>14}" for o in OUTCOMES))
    n = sum(total.values())
    rows.append(f"{'total':<18}{n:>7}" + "".join(f"{total[o]:>14}" for o in OUTCOMES))
    in_scope = n - total["out-of-scope"]
    rows.append(f"correct: {total['correct']} of {in_scope} in scope ({100 * total['correct'] / max(in_scope, 1):.0f}%)")
    all_rs = [r for rs in results.values() for r in rs]
    if verbose:
        reasons = Counter((r.case.test, r.detail[:160]) for r in all_rs if r.outcome == "refused")
        for (test, why), k in sorted(reasons.items(), key=lambda kv: -kv[1]):
            rows.append(f"  refused x{k:<4} {test}: {why}")
    for r in all_rs:
        if r.outcome in ("wrong", "crash"):
            rows.append(f"  {r.outcome.upper():<6} {r.label}: {r.case.call}: {r.detail[:500]}")
    return "\n".join(rows)
