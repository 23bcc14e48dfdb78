"""Compile each ported case with gradc and classify every gradient it asks for.

A case `f(a0, a1, ...)` with differentiated arguments `argnums` becomes the scalar loss

    def case_17(a0, a1, c0):
        out = np.tensordot(a0, a1, axes=[(1,), (0,)])
        return np.sum(out * c0)

(one random cotangent per float output; autograd's VJP check with a fixed covector),
written into a generated module so gradc can read its source. One gradient is one
(case, differentiated argument) pair, and is

- correct: gradc's value matches NumPy running the same source, and its gradient has the
  argument's structure, shape and type and matches central finite differences (float64);
- refused: a gradc.CompileError (not an InternalError);
- wrong: a value or gradient that differs;
- crash: any other exception (an InternalError too);
- out-of-scope: complex arguments or results, or an autograd-only function (not NumPy).
"""
from __future__ import annotations

import copy
import importlib.util
import signal
import sys
import tempfile
import traceback
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import gradc
from gradc.errors import InternalError

from .shims import Case, leaves

OUTCOMES = ("correct", "refused", "wrong", "crash", "out-of-scope")
RTOL, ATOL = 1e-5, 1e-6  # finite differences in float64 (eps 1e-6) are good to ~1e-8 here
TIMEOUT_S = 60


@dataclass
class Result:
    case: Case
    argnum: int
    outcome: str
    detail: str = ""

    @property
    def label(self) -> str:
        return f"{self.case.label}/a{self.argnum}"


# -- the generated module -------------------------------------------------------------


def _namespace(case: Case) -> dict:
    import operator
    ns = {"np": np, "operator": operator}
    if case.helpers:
        mod = importlib.import_module(case.module)
        ns.update({h: getattr(mod, h) for h in case.helpers})
    return ns


def _evaluate(case: Case):
    """NumPy's result of the call (the reference's structure), or the exception it raises."""
    params = ", ".join(f"a{i}" for i in range(len(case.args)))
    fn = eval(compile(f"lambda {params}: {case.call}", case.label, "eval"), _namespace(case))  # our own text
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*copy.deepcopy(case.args))


def _float_outputs(out):
    """(path, leaf) of the outputs a cotangent reaches; None when one is complex."""
    found = []
    for path, leaf in leaves(tuple(out) if isinstance(out, (list, tuple)) else out):
        arr = np.asarray(leaf)
        if arr.dtype.kind == "c":
            return None
        if arr.dtype.kind == "f":
            found.append((path, arr.shape))
    return found


def _loss_source(i: int, case: Case, outputs) -> str:
    params = [f"a{j}" for j in range(len(case.args))] + [f"c{k}" for k in range(len(outputs))]
    terms = [f"np.sum(out{''.join(f'[{p}]' for p in path)} * c{k})" for k, (path, _) in enumerate(outputs)]
    return (f"def case_{i}({', '.join(params)}):\n"
            f"    out = {case.call}\n"
            f"    return {' + '.join(terms) or '0.0 * np.sum(a0)'}\n")


@dataclass
class Prepared:
    case: Case
    fn: object = None  # the generated loss
    cotangents: tuple = ()
    skip: str = ""  # out-of-scope reason
    numpy_error: str = ""


def prepare(cases: list[Case], tag: str, folder: Path) -> list[Prepared]:
    """Evaluate each case with NumPy, then write (into folder) and import the module of their losses."""
    prepared, sources, imports = [], [], set()
    for i, case in enumerate(cases):
        p = Prepared(case)
        prepared.append(p)
        if case.note:
            p.skip = case.note
            continue
        if case.complex_args():
            p.skip = "complex arguments"
            continue
        try:
            out = _evaluate(case)
        except Exception as e:  # noqa: BLE001 - NumPy refusing the case is reported, not raised
            p.numpy_error = f"NumPy raises {type(e).__name__}: {e}"
            continue
        outputs = _float_outputs(out)
        if outputs is None:
            p.skip = "complex result"
            continue
        rng = np.random.RandomState(zlib.crc32(case.label.encode()))
        p.cotangents = tuple(rng.randn(*shape) for _, shape in outputs)
        sources.append(_loss_source(i, case, outputs))
        imports.update((case.module, h) for h in case.helpers)
    header = ["import operator", "", "import numpy as np", ""]
    header += [f"from {m} import {h}" for m, h in sorted(imports)]
    text = "\n".join(header) + "\n\n\n" + "\n\n".join(sources)
    name = f"_autograd_port_{tag}"
    path = folder / f"{name}.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    for i, p in enumerate(prepared):
        p.fn = getattr(module, f"case_{i}", None)
    return prepared


# -- finite differences over argument trees -------------------------------------------------


def _replace(tree, path, value):
    if not path:
        return value
    items = list(tree)
    items[path[0]] = _replace(tree[path[0]], path[1:], value)
    return type(tree)(items) if isinstance(tree, tuple) else items


def fd_tree(fn, args, pos, eps=1e-6):
    """Central differences of fn(*args) in every float leaf of args[pos] (structure kept)."""
    def at(tree):
        a = list(args)
        a[pos] = tree
        return float(fn(*a))

    def grad_leaf(path, leaf):
        if isinstance(leaf, float):
            return (at(_replace(args[pos], path, leaf + eps)) - at(_replace(args[pos], path, leaf - eps))) / (2 * eps)
        x = np.asarray(leaf, dtype=np.float64)
        g = np.zeros(x.shape)
        for idx in np.ndindex(x.shape):
            hi, lo = x.copy(), x.copy()
            hi[idx] += eps
            lo[idx] -= eps
            g[idx] = (at(_replace(args[pos], path, hi)) - at(_replace(args[pos], path, lo))) / (2 * eps)
        return g

    tree = args[pos]
    if not isinstance(tree, (list, tuple)):
        return grad_leaf((), tree)
    out = tree
    for path, leaf in leaves(tree):
        out = _replace(out, path, grad_leaf(path, leaf))
    return out


def _zeros_like(tree):
    if isinstance(tree, (list, tuple)):
        return type(tree)(_zeros_like(t) for t in tree)
    return np.zeros(np.shape(tree))


def _differs(got, want, arg, exact=False) -> str:
    """Why gradient `got` is not `want` for argument `arg` ('' when it matches)."""
    if isinstance(arg, (list, tuple)):
        if type(got) is not type(arg) or len(got) != len(arg):
            return f"gradient structure {type(got).__name__} != {type(arg).__name__}"
        return next((d for g, w, a in zip(got, want, arg) if (d := _differs(g, w, a, exact))), "")
    if isinstance(arg, np.generic):
        if type(got) is not type(arg):
            return f"gradient of a NumPy {type(arg).__name__} is {type(got).__name__}"
    elif isinstance(arg, float):
        if type(got) is not float:
            return f"gradient of a Python float is {type(got).__name__}"
    elif isinstance(arg, np.ndarray):
        if not isinstance(got, np.ndarray) or got.shape != arg.shape or got.dtype != arg.dtype:
            return f"gradient {type(got).__name__} {np.shape(got)} {getattr(got, 'dtype', '')} for {arg.shape} {arg.dtype}"
    g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    scale = max(1.0, float(np.max(np.abs(w), initial=0.0)))
    err = float(np.max(np.abs(g - w), initial=0.0)) if np.all(np.isfinite(g)) else np.inf
    if err > (0.0 if exact else ATOL + RTOL * scale):
        return f"gradient off by {err:.3g}: got {np.array2string(g, precision=5)[:300]} want {np.array2string(w, precision=5)[:300]}"
    return ""


# -- running ---------------------------------------------------------------------------------


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout(f"no answer within {TIMEOUT_S} s")


def _classify_error(e: BaseException) -> tuple[str, str]:
    if isinstance(e, gradc.CompileError) and not isinstance(e, InternalError):
        return "refused", getattr(e, "message", str(e)).split("\n")[0]
    tb = traceback.format_exception_only(type(e), e)[-1].strip()
    where = traceback.extract_tb(e.__traceback__)[-1] if e.__traceback__ else None
    at = f" (raised at {where.filename}:{where.lineno})" if where else ""
    return "crash", f"{tb[:800]}{at}"


def _gradc(fn, wrt, args):
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIMEOUT_S)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return gradc.value_and_grad(fn, wrt=wrt)(*copy.deepcopy(args))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run_prepared(p: Prepared) -> list[Result]:
    case = p.case
    if p.skip:
        return [Result(case, n, "out-of-scope", p.skip) for n in case.argnums]
    if p.numpy_error:
        return [Result(case, n, "crash", f"the port is broken: {p.numpy_error}") for n in case.argnums]
    args = case.args + p.cotangents
    try:
        value, grads = _gradc(p.fn, tuple(f"a{n}" for n in case.argnums), args)
    except Exception as e:  # noqa: BLE001 - every exception is an outcome here
        outcome, detail = _classify_error(e)
        if outcome == "refused" and len(case.argnums) > 1:  # one argument may be refused alone
            return [r for n in case.argnums for r in _run_one(p, n, args)]
        return [Result(case, n, outcome, detail) for n in case.argnums]
    return _judge(p, args, value, dict(zip(case.argnums, grads)))


def _run_one(p, n, args):
    try:
        value, grads = _gradc(p.fn, (f"a{n}",), args)
    except Exception as e:  # noqa: BLE001
        return [Result(p.case, n, *_classify_error(e))]
    return _judge(p, args, value, {n: grads[0]})


def _judge(p: Prepared, args, value, grads) -> list[Result]:
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        want = p.fn(*copy.deepcopy(args))
        out = []
        value_ok = np.allclose(np.asarray(value, float), np.asarray(want, float), rtol=1e-7, atol=1e-9)
        for n, g in grads.items():
            if not value_ok:
                out.append(Result(p.case, n, "wrong", f"value {value!r} != NumPy's {want!r}"))
                continue
            want_g = _zeros_like(args[n]) if p.case.zero_grad else fd_tree(p.fn, args, n)
            why = _differs(g, want_g, args[n], exact=p.case.zero_grad)
            out.append(Result(p.case, n, "wrong" if why else "correct", why))
    return out


def run(cases: list[Case], tag: str) -> list[Result]:
    with tempfile.TemporaryDirectory(prefix="gradc_autograd_port_") as folder:
        try:
            return [r for p in prepare(cases, tag, Path(folder)) for r in run_prepared(p)]
        finally:
            sys.modules.pop(f"_autograd_port_{tag}", None)
