"""Run corpus cases through gradc and classify each outcome (no JAX needed)."""
from __future__ import annotations

import ast
import copy
import inspect
import json
import signal
import traceback
import warnings
from dataclasses import dataclass

import numpy as np

import gradc
from gradc.errors import InternalError

from . import CATEGORIES, EXPECTED_JSON, REFS_JSON, REFS_NPZ, Case, flatten, load_cases, structure

RTOL, ATOL = 1e-6, 1e-8
OUTCOMES = ("correct", "refused", "wrong", "crash")
TIMEOUT_S = 60


@dataclass
class Result:
    name: str
    category: str
    outcome: str
    detail: str = ""


def load_refs():
    manifest = json.loads(REFS_JSON.read_text()) if REFS_JSON.exists() else {}
    arrays = dict(np.load(REFS_NPZ)) if REFS_NPZ.exists() else {}
    return manifest, arrays


def load_expected() -> dict:
    return json.loads(EXPECTED_JSON.read_text()) if EXPECTED_JSON.exists() else {}


def _helper_ranges(case: Case) -> list[tuple[int, int]]:
    """Line ranges of the case function and of the module-level functions it calls (transitively)."""
    module = inspect.getmodule(case.fn)
    seen, todo, ranges = set(), [case.fn], []
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        try:
            lines, start = inspect.getsourcelines(f)
        except (OSError, TypeError):
            continue
        ranges.append((start, start + len(lines) - 1))
        for node in ast.walk(ast.parse(_dedent(lines))):
            if isinstance(node, ast.Name):
                g = getattr(module, node.id, None)
                if inspect.isfunction(g) and inspect.getmodule(g) is module:
                    todo.append(g)
    return ranges


def _dedent(lines):
    import textwrap
    return textwrap.dedent("".join(lines))


def _classify_error(case: Case, e: BaseException) -> tuple[str, str]:
    if isinstance(e, InternalError) or not isinstance(e, gradc.CompileError):
        tb = traceback.format_exception_only(type(e), e)[-1].strip()
        where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
        at = f" (raised at {where.filename}:{where.lineno})" if where else ""
        return "crash", f"{tb[:2000]}{at}"
    msg = str(e)
    loc = getattr(e, "loc", None)
    if loc is None or not getattr(e, "message", ""):
        return "crash", f"CompileError without a location or message: {msg[:500]}"
    file = inspect.getsourcefile(case.fn)
    ranges = _helper_ranges(case)
    inside = any(a <= loc.lineno <= b for a, b in ranges)
    same_file = not loc.filename or loc.filename == file or file.endswith(str(loc.filename))
    if not (inside and same_file):
        return "crash", f"CompileError points outside the case (line {loc.lineno} of {loc.filename}): {msg[:500]}"
    real_line = open(file).read().splitlines()[loc.lineno - 1]
    if loc.line and loc.line.strip() != real_line.strip():
        return "crash", f"CompileError quotes {loc.line.strip()!r} but line {loc.lineno} is {real_line.strip()!r}"
    return "refused", f"line {loc.lineno}: {e.message}"


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout(f"no answer within {TIMEOUT_S} s")


def run_case(case: Case, manifest: dict, arrays: dict) -> Result:
    def res(outcome, detail=""):
        return Result(case.name, case.category, outcome, detail)

    ref = manifest.get(case.name)
    args = case.args()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT_S)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):  # the NaN traps warn by design
            warnings.simplefilter("ignore", RuntimeWarning)
            value, grads = gradc.value_and_grad(case.fn, wrt=case.wrt)(*copy.deepcopy(args))
    except _Timeout as e:
        return res("crash", str(e))
    except Exception as e:  # noqa: BLE001 - every exception is an outcome here
        return res(*_classify_error(case, e))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    if ref is None:
        return res("wrong", "no stored reference: run `python -m tests.corpus.make_refs`")
    if ref.get("fingerprint") != case.fingerprint():
        return res("wrong", "stored reference is stale (source or arguments changed): regenerate refs")
    if "numpy_raises" in ref:
        return res("wrong", f"NumPy raises here ({ref['numpy_raises'][:200]}), gradc returned value {value!r}")
    problems = []
    try:
        v = np.asarray(value, dtype=float)
    except Exception as e:  # noqa: BLE001
        return res("wrong", f"value is not a number: {value!r} ({e})")
    rv = arrays[f"{case.name}::value"]
    if v.shape != rv.shape or not np.allclose(v, rv, rtol=RTOL, atol=ATOL):
        problems.append(f"value {v!r} != reference {rv!r}")
    got_struct = structure(grads if case.wrt_is_tuple else (grads,))
    if got_struct != ref["grad_structure"]:
        problems.append(f"gradient structure {got_struct} != reference {ref['grad_structure']}")
    else:
        for path, leaf in flatten(grads if case.wrt_is_tuple else (grads,)):
            r = arrays[f"{case.name}::grad{path}"]
            try:
                g = np.asarray(leaf, dtype=float)
            except Exception as e:  # noqa: BLE001
                problems.append(f"gradient {path} is not numeric: {leaf!r} ({e})")
                continue
            if g.shape != r.shape or not np.allclose(g, r, rtol=RTOL, atol=ATOL):
                err = np.max(np.abs(g - r)) if g.shape == r.shape else "shape"
                problems.append(f"gradient {path}: got {np.array2string(g, precision=6)} "
                                f"want {np.array2string(r, precision=6)} (max abs err {err})")
    if problems:
        return res("wrong", "; ".join(problems))
    return res("correct")


def run_all(names=None) -> list[Result]:
    cases = load_cases()
    manifest, arrays = load_refs()
    return [run_case(c, manifest, arrays) for n, c in cases.items() if names is None or n in names]


def table(results: list[Result], expected: dict | None = None, verbose: bool = False) -> str:
    """The per-category outcome table, then the cases that are not as expected."""
    rows = [f"{'category':<20}{'cases':>6}" + "".join(f"{o:>9}" for o in OUTCOMES)]
    total = {o: 0 for o in OUTCOMES}
    for cat in CATEGORIES:
        rs = [r for r in results if r.category == cat]
        counts = {o: sum(r.outcome == o for r in rs) for o in OUTCOMES}
        for o in OUTCOMES:
            total[o] += counts[o]
        rows.append(f"{cat:<20}{len(rs):>6}" + "".join(f"{counts[o]:>9}" for o in OUTCOMES))
    rows.append(f"{'total':<20}{len(results):>6}" + "".join(f"{total[o]:>9}" for o in OUTCOMES))
    out = ["gradc differential corpus", *rows]
    if expected is not None:
        progress = [r for r in results if expected.get(r.name) == "refused" and r.outcome == "correct"]
        regress = [r for r in results if expected.get(r.name) == "correct" and r.outcome == "refused"]
        new = [r for r in results if r.name not in expected]
        if progress:
            out.append("progress (refused -> correct; update with `python -m tests.corpus.record`): "
                       + ", ".join(r.name for r in progress))
        if regress:
            out.append("REGRESSION (correct -> refused): " + ", ".join(r.name for r in regress))
        if new:
            out.append("not in expected.json: " + ", ".join(r.name for r in new))
    if verbose:
        for r in results:
            if r.outcome == "refused":
                out.append(f"  refused {r.category}/{r.name}: {r.detail[:300]}")
    bad = [r for r in results if r.outcome in ("wrong", "crash")]
    for r in bad:
        out.append(f"  {r.outcome.upper():<6} {r.category}/{r.name}: {r.detail[:600]}")
    return "\n".join(out)


def verdict(result: Result, expected: dict) -> str | None:
    """Why this result fails the suite, or None when it passes."""
    if result.outcome in ("wrong", "crash"):
        return f"{result.name}: {result.outcome}: {result.detail}"
    want = expected.get(result.name)
    if want is None:
        return (f"{result.name}: not in tests/corpus/expected.json (now {result.outcome}); "
                f"run `python -m tests.corpus.record`")
    if want == "correct" and result.outcome != "correct":
        return f"{result.name}: expected correct, now {result.outcome}: {result.detail}"
    return None
