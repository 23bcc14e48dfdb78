"""`python -m tests.corpus [-v] [NAME ...]`: run the corpus and print the per-category outcome table.

-v also lists every refused case with the line and message of its CompileError.
"""
import sys

from .runner import load_expected, run_all, table


def main(argv=None):
    argv = list(argv or [])
    verbose = "-v" in argv
    names = {a for a in argv if not a.startswith("-")} or None
    results = run_all(names)
    print(table(results, load_expected(), verbose=verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
