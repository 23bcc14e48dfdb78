"""`python -m tests.autograd_port [-v] [--subset] [--record] [FILE ...]`: run the port, print the table.

-v lists every refused gradient grouped by message, and each wrong or crashing one;
--subset runs the default test's deterministic subset; --record writes expected.json
(per file, the correct count the test must keep and the number of gradients; refuses
while anything is wrong or crashes). Record both: `--record` and `--record --subset`.
"""
import json
import sys
import time

from . import EXPECTED_JSON, load_cases, load_expected, subset
from .runner import run
from .report import table


def _dump(expected: dict) -> str:
    """One line per file, so a change reads as a one-line diff."""
    blocks = []
    for key in sorted(expected):
        rows = [f'  "{f}": {json.dumps(v, sort_keys=True)}' for f, v in sorted(expected[key].items())]
        blocks.append(f' "{key}": {{\n' + ",\n".join(rows) + "\n }")
    return "{\n" + ",\n".join(blocks) + "\n}\n"


def main(argv=None):
    argv = list(argv or [])
    verbose, record, sub = "-v" in argv, "--record" in argv, "--subset" in argv
    files = {a for a in argv if not a.startswith("-")} or None
    start = time.perf_counter()
    results = {}
    for file, cases in load_cases(files).items():
        results[file] = run(subset(cases) if sub else cases, file)
    print(table(results, verbose=verbose))
    print(f"({time.perf_counter() - start:.1f} s)")
    if record:
        if any(r.outcome in ("wrong", "crash") for rs in results.values() for r in rs):
            print("not recorded: wrong or crashing gradients are bugs, not outcomes", file=sys.stderr)
            return 1
        key = "subset" if sub else "full"
        expected = load_expected()
        expected[key] = {f: {"correct": sum(r.outcome == "correct" for r in rs), "grads": len(rs)}
                         for f, rs in results.items()}
        EXPECTED_JSON.write_text(_dump(expected))
        print(f"wrote {EXPECTED_JSON} [{key}]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
