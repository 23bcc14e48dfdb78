"""Fuzzing gradc with random loss functions written as Python SOURCE.

Unlike tests/test_properties.py (which builds IR programs directly), this test writes
random functions as text (tests/fuzz/gen.py): 1-3 array arguments with broadcast-
compatible shapes (sometimes 0-d) and sometimes a Python float; elementwise NumPy calls,
operators with broadcasting, np.where (also with NaN/inf in the unselected branch),
clip, logaddexp, gradc.nn (sigmoid, softplus, relu, logsumexp, softmax, log_softmax),
reductions with axis/keepdims, slicing with constant bounds and negative steps,
transpose/reshape/ravel/expand_dims, `@`/np.dot, `for i in range(k)` / `range(len(x))`
loops, control flow on data (`if`/`elif`/`else` on a reduction of traced values, `while`
loops on data with a counter bound, `if` and `break` on data inside `for` loops: the
oracle's instrumented twin records each decision, and an example whose finite-difference
points decide differently is skipped), module-level helpers (some marked @gradc.checkpoint) called with keyword
arguments and defaults, module-level constant arrays, and aliasing patterns
(`y = z; z += 1`, views updated in place and views of arrays updated in place, in-place
updates of arguments and of helper parameters, tuples and lists holding an array that
is then updated, `for t in (z, w): t *= 2`, rows unpacked from an array, np.asarray,
.astype, .copy(), `z * 1.0`, ...). A quarter of the programs are compiled with a
checkpoint policy (segments, Segments(k), Revolve(s)). Half the programs have no
in-place updates at all. Each program is written to a temporary module and imported,
so gradc reads its source.

The oracle (tests/fuzz/oracle.py) is the function itself run by NumPy in float64 on
copies of the arguments, and 5-point central differences of it; points within 1e-3 of
a kink or branch switch are skipped, and so is any example whose finite-difference
points take a different branch. Every program must either
  (a) give gradc's value == NumPy's (rtol 1e-9), the IR interpreter's value == NumPy's,
      and gradient == finite differences (rtol 1e-5), or
  (b) raise gradc.CompileError (a refusal; InternalError counts as a failure).
Anything else fails, with the program's source in the Hypothesis notes.

Profiles:
  default (make test): 200 examples (about 10 s), derandomized, no example database, so CI
      is deterministic; the first failure fails the test and Hypothesis shrinks it.
  long run (once before resolving; about 15-20 examples/s on one core, so ~3-4 h):
      GRADC_FUZZ_EXAMPLES=200000 GRADC_FUZZ_SEED=1 GRADC_FUZZ_COLLECT=fuzz_failures.jsonl \
          nice .venv/bin/python -m pytest -q -s -p no:cacheprovider tests/test_fuzz_source.py
    GRADC_FUZZ_COLLECT=<file> keeps going past failures and appends each one (kind,
    message, program source, arguments) as a JSON line; without it the run stops at the
    first failure and shrinks it. -s shows progress every 1000 examples.
  GRADC_FUZZ_SEED=<int> runs a randomized (not derandomized) session with that seed.
  GRADC_FUZZ_ONLY=<kind> fails only on that failure kind (to shrink one bug at a time).
  GRADC_FUZZ_DISABLE=inplace,where_nan,zero_d,alias,helper,loop,... leaves generator
      features out, to look past known bugs (see fuzz.gen.programs).
Failure kinds: value (gradc's value differs from NumPy's), value-alias:<patterns> (it
equals what the program gives with every in-place update turned into `x = x op y`:
gradc missed an alias NumPy has), grad, grad-nan, interpreter-value, internal-error
(gradc.InternalError), exception:<Type> (not a CompileError), accepts-invalid (NumPy
raises, gradc computes a number), mutates-input, grad-shape, grad-type.
The share of refused programs and the most frequent refusals are printed at the end.
"""
from __future__ import annotations

import collections
import contextlib
import json
import os
import sys

import pytest
from hypothesis import HealthCheck, assume, given, note, seed, settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fuzz.gen import programs  # noqa: E402
from fuzz.oracle import Mismatch, Reject, check  # noqa: E402

EXAMPLES = int(os.environ.get("GRADC_FUZZ_EXAMPLES", "200"))
COLLECT = os.environ.get("GRADC_FUZZ_COLLECT")
ONLY = os.environ.get("GRADC_FUZZ_ONLY")
SEED = os.environ.get("GRADC_FUZZ_SEED")
DISABLE = frozenset(filter(None, os.environ.get("GRADC_FUZZ_DISABLE", "").split(",")))

SETTINGS = dict(max_examples=EXAMPLES, deadline=None, database=None,
                derandomize=SEED is None,
                suppress_health_check=list(HealthCheck))

STATS = collections.Counter()
REFUSALS = collections.Counter()
FEATURES_REFUSED = collections.Counter()
FEATURES_SEEN = collections.Counter()
FAILURES = collections.Counter()
CONTROL_FLOW = ("if_data", "elif_data", "while_data", "loop_if_data", "loop_break_data")  # (reported)


def _fuzz_body(program):
    note(repr(program))
    try:
        outcome, key = check(program)
    except Reject as r:
        STATS["rejected"] += 1
        assume(False)
        raise AssertionError(r)  # not reached
    except Mismatch as m:
        STATS["failing"] += 1
        FAILURES[m.kind] += 1
        if COLLECT:
            with open(COLLECT, "a") as f:
                f.write(json.dumps({"kind": m.kind, "message": str(m)[:2000],
                                    "features": sorted(program.features),
                                    "wrt": list(program.wrt), "checkpoint": program.checkpoint,
                                    "args": [repr(a) for a in program.args],
                                    "source": program.source.split("\n# --- instrumented")[0]}) + "\n")
            return
        if ONLY and m.kind != ONLY:
            return
        raise
    STATS[outcome] += 1
    judged = STATS["ok"] + STATS["refused"] + STATS["failing"]
    if EXAMPLES > 1000 and judged % 1000 == 0:  # progress, visible with -s
        print(f"[fuzz] {judged} judged: {dict(STATS)}", file=sys.stderr, flush=True)
    for feat in program.features:
        FEATURES_SEEN[feat] += 1
        if outcome == "refused":
            FEATURES_REFUSED[feat] += 1
    if key:
        REFUSALS[key] += 1


_test = given(programs(disable=DISABLE))(_fuzz_body)
_test = settings(**SETTINGS)(_test)
if SEED is not None:
    _test = seed(int(SEED))(_test)


def test_random_source_programs_match_numpy_and_finite_differences():
    _test()


@pytest.fixture(scope="module", autouse=True)
def _report(request):
    yield
    judged = STATS["ok"] + STATS["refused"] + STATS["failing"]
    if not judged:
        return
    lines = [f"gradc source fuzzing: {judged} programs judged: {STATS['ok']} correct, "
             f"{STATS['refused']} refused ({100 * STATS['refused'] / judged:.1f}%), "
             f"{STATS['failing']} failing; {STATS['rejected']} skipped (kinks, non-finite)"]
    for key, n in REFUSALS.most_common(12):
        lines.append(f"  refused {n:6d}x  {key}")
    for feat in sorted(FEATURES_SEEN, key=lambda f: -FEATURES_REFUSED[f] / FEATURES_SEEN[f])[:10]:
        if FEATURES_SEEN[feat] >= 5:
            lines.append(f"  feature {feat:24s} in {FEATURES_SEEN[feat]:6d} programs, "
                         f"{100 * FEATURES_REFUSED[feat] / FEATURES_SEEN[feat]:5.1f}% refused")
    flow = [f for f in CONTROL_FLOW if FEATURES_SEEN[f]]
    if flow:
        lines.append("  control flow on data: " + ", ".join(
            f"{f} {FEATURES_SEEN[f]} ({FEATURES_REFUSED[f]} refused)" for f in flow))
    for kind, n in FAILURES.most_common():
        lines.append(f"  failing {n:6d}x  {kind}")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n" + "\n".join(lines), flush=True)
