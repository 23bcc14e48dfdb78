"""`python -m tests.corpus.record`: rewrite tests/corpus/expected.json from the current outcomes.

Refuses to record while any case is "wrong" or "crash" (those are bugs, not outcomes),
unless `--partial` is given: then correct/refused cases are written as they are, and a
wrong/crash case keeps its previous entry or, if it has none, is recorded at the floor
"refused" (a clean refusal is an acceptable fix for it, a correct answer is progress;
it keeps failing the suite until it is one of the two).
"""
import json
import sys

from . import EXPECTED_JSON
from .runner import load_expected, run_all, table


def main(argv=None):
    argv = list(argv or [])
    partial = "--partial" in argv
    results = run_all()
    old = load_expected()
    print(table(results, old))
    bad = [r for r in results if r.outcome not in ("correct", "refused")]
    if bad and not partial:
        print(f"\nnot recorded: {len(bad)} case(s) are wrong or crash (bugs to fix, not outcomes); "
              f"use --partial to record the others", file=sys.stderr)
        return 1
    new = {r.name: r.outcome for r in results if r.outcome in ("correct", "refused")}
    for r in bad:
        new[r.name] = old.get(r.name, "refused")
    changed = sorted(n for n in new if old.get(n) != new[n])
    EXPECTED_JSON.write_text(json.dumps(dict(sorted(new.items())), indent=1) + "\n")
    print(f"\nwrote {EXPECTED_JSON} ({len(new)} cases; {len(changed)} changed"
          + (f": {', '.join(changed)}" if changed and len(changed) < 40 else "") + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
