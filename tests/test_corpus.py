"""The differential corpus (tests/corpus/): each realistic loss is correct or refused, as recorded.

A case that returns numbers must match the stored JAX float64 reference (value and
gradient, rtol 1e-6 / atol 1e-8); a refusal must be a CompileError at the case's own
line. A case recorded "refused" that is now "correct" is progress and passes; the table
printed by test_corpus_summary names it so tests/corpus/expected.json can be updated
(`python -m tests.corpus.record`). The table is also written to build/corpus_summary.txt.
"""
from pathlib import Path

import pytest

from corpus import load_cases
from corpus.runner import load_expected, load_refs, run_case, table, verdict

CASES = load_cases()
EXPECTED = load_expected()
MANIFEST, ARRAYS = load_refs()
RESULTS = {}


@pytest.mark.parametrize("name", list(CASES))
def test_corpus_case(name):
    result = run_case(CASES[name], MANIFEST, ARRAYS)
    RESULTS[name] = result
    problem = verdict(result, EXPECTED)
    if problem:
        pytest.fail(problem, pytrace=False)


def test_corpus_summary(capsys):
    """Print the per-category outcome table of the cases run in this session."""
    if not RESULTS:
        pytest.skip("no corpus case ran in this session")
    text = table(list(RESULTS.values()), EXPECTED)
    out = Path(__file__).resolve().parent.parent / "build" / "corpus_summary.txt"
    try:
        out.parent.mkdir(exist_ok=True)
        out.write_text(text + "\n")
    except OSError:
        pass
    with capsys.disabled():
        print("\n" + text)


def test_corpus_size():
    """The Trust issue asks for at least 150 cases, at least 20 per category."""
    from corpus import CATEGORIES
    counts = {c: sum(k.category == c for k in CASES.values()) for c in CATEGORIES}
    assert sum(counts.values()) >= 150, counts
    assert all(n >= 20 for n in counts.values()), counts
    assert sum("real_numpy" in k.tags for k in CASES.values()) >= 60
