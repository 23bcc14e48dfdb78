"""Regenerate the corpus references: `python -m tests.corpus.make_refs [NAME ...]`.

Needs JAX (the `oracle` extra: `pip install -e '.[oracle]'`). For each case:

1. the NumPy function is called directly on its arguments: that is the value the loss has;
2. its JAX twin (the same math in jax.numpy, float64) gives value and gradient by
   `jax.value_and_grad(argnums=...)`; the twin's value must equal the NumPy value
   (this checks the twin); a case with `ref_grad` uses that hand-derived gradient instead;
3. the gradient is cross-checked with central finite differences on the NumPy function
   (skipped where the case says FD is meaningless, at a kink); disagreements are reported
   and the case is marked in the manifest.

Everything lands in tests/corpus/refs.npz (keys `CASE::value`, `CASE::grad/0/...`) and
tests/corpus/refs.json (per case: fingerprint, gradient structure, the checks' results).
With names, only those cases are recomputed and the others are kept.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import sys
import types

import numpy as np

from . import REFS_JSON, REFS_NPZ, flatten, load_cases, structure


def _jax():
    import jax
    jax.config.update("jax_enable_x64", True)
    return jax


# -- auto twins: the same source, with NumPy, math and gradc.nn bound to JAX ---------------

class _MathShim:
    """`math` whose functions use jax.numpy when given a traced value."""

    _names = {"atan2": "arctan2", "atan": "arctan", "asin": "arcsin", "acos": "arccos",
              "fabs": "abs", "pow": "power", "hypot": "hypot"}

    def __init__(self, jnp, jax):
        self.jnp, self.jax = jnp, jax

    def __getattr__(self, name):
        real = getattr(math, name)
        if not callable(real):
            return real
        jnp, jax = self.jnp, self.jax

        def f(*a):
            if any(isinstance(x, jax.Array) for x in a):
                if name == "erf":
                    return jax.scipy.special.erf(*a)
                return getattr(jnp, self._names.get(name, name))(*a)
            return real(*a)
        return f


def _nn_shim(jax):
    import jax.nn as jnn
    from jax.scipy.special import logsumexp
    return types.SimpleNamespace(sigmoid=jnn.sigmoid, softplus=jnn.softplus, relu=jnn.relu,
                                 logsumexp=logsumexp, softmax=jnn.softmax, log_softmax=jnn.log_softmax)


def auto_twin(fn):
    """`fn` re-made with its module's names bound to JAX (helpers of the same module too)."""
    jax = _jax()
    import jax.numpy as jnp
    import gradc.nn as gnn
    nn = _nn_shim(jax)
    g = dict(fn.__globals__)
    for k, v in list(g.items()):
        if v is np:
            g[k] = jnp
        elif v is math:
            g[k] = _MathShim(jnp, jax)
        elif v is gnn:
            g[k] = nn
        elif callable(v) and getattr(v, "__module__", None) == gnn.__name__ and hasattr(nn, v.__name__):
            g[k] = getattr(nn, v.__name__)
        elif callable(v) and (getattr(v, "__module__", "") or "").startswith("numpy") and hasattr(jnp, getattr(v, "__name__", "")):
            g[k] = getattr(jnp, v.__name__)
    for k, v in list(g.items()):
        if isinstance(v, types.FunctionType) and v.__module__ == fn.__module__:
            g[k] = types.FunctionType(v.__code__, g, v.__name__, v.__defaults__, v.__closure__)
            g[k].__kwdefaults__ = v.__kwdefaults__
    new = types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)
    new.__kwdefaults__ = fn.__kwdefaults__
    return new


# -- finite differences ------------------------------------------------------------------------

def _leaves(tree, path=()):
    if isinstance(tree, dict):
        for k in sorted(tree, key=str):
            yield from _leaves(tree[k], path + (k,))
    elif isinstance(tree, (list, tuple)):
        for i, t in enumerate(tree):
            yield from _leaves(t, path + (i,))
    else:
        yield path, tree


def _set(tree, path, value):
    if not path:
        return value
    if isinstance(tree, tuple):
        items = list(tree)
        items[path[0]] = _set(items[path[0]], path[1:], value)
        return tuple(items)
    tree[path[0]] = _set(tree[path[0]], path[1:], value)
    return tree


def fd_grad(fn, args, positions):
    """Central differences of the NumPy function, step 1e-6·max(1, |x|), as a tuple of trees."""
    out = []
    for pos in positions:
        grad_tree = copy.deepcopy(args[pos])
        for path, leaf in list(_leaves(args[pos])):
            x = np.asarray(leaf, dtype=np.float64)
            g = np.zeros(x.shape)
            for idx in np.ndindex(x.shape):
                vals = []
                h = 1e-6 * max(1.0, abs(float(x[idx])))
                for sign in (+1, -1):
                    xp = x.copy()
                    xp[idx] += sign * h
                    new_leaf = float(xp) if isinstance(leaf, float) else xp.astype(np.asarray(leaf).dtype)
                    a = list(copy.deepcopy(args))
                    a[pos] = _set(a[pos], path, new_leaf)
                    with np.errstate(all="ignore"), contextlib.redirect_stdout(io.StringIO()):
                        vals.append(float(fn(*a)))
                g[idx] = (vals[0] - vals[1]) / (2 * h)
            grad_tree = _set(grad_tree, path, float(g) if isinstance(leaf, float) else g)
        out.append(grad_tree)
    return tuple(out)


def _to_jax(tree, jnp):
    if isinstance(tree, dict):
        return {k: _to_jax(v, jnp) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_to_jax(v, jnp) for v in tree)
    if isinstance(tree, float):
        return tree
    return jnp.asarray(tree, dtype=jnp.float64)


def reference(case):
    """(value, gradient tuple, report dict) for one case."""
    jax = _jax()
    import jax.numpy as jnp
    args = case.args()
    positions = case.wrt_positions()
    report = {}
    if case.raises:
        try:
            with np.errstate(all="ignore"):
                case.fn(*copy.deepcopy(args))
        except Exception as e:  # noqa: BLE001
            return None, None, {"numpy_raises": f"{type(e).__name__}: {e}"}
        raise AssertionError(f"{case.name} is marked raises=True but NumPy returned a value")
    with np.errstate(all="ignore"):
        np_value = float(case.fn(*copy.deepcopy(args)))
    report["numpy_value"] = np_value
    if case.ref_grad is not None:
        grads = case.ref_grad(*copy.deepcopy(args))
        grads = tuple(grads) if case.wrt_is_tuple else (grads,)
        value = np_value
        report["gradient_source"] = "hand-derived"
        if case.twin is not None:
            twin = auto_twin(case.fn) if case.twin == "auto" else case.twin
            jargs = list(copy.deepcopy(args))
            for p in positions:
                jargs[p] = _to_jax(jargs[p], jnp)
            jv, jg = jax.value_and_grad(twin, argnums=positions)(*jargs)
            report["jax_grad_differs_from_hand"] = not all(
                np.allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-12)
                for (_, a), (_, b) in zip(flatten(tuple(jg)), flatten(grads)))
    else:
        twin = auto_twin(case.fn) if case.twin == "auto" else case.twin
        jargs = list(copy.deepcopy(args))
        for p in positions:
            jargs[p] = _to_jax(jargs[p], jnp)
        jv, jg = jax.value_and_grad(twin, argnums=positions)(*jargs)
        value = float(jv)
        grads = jax.tree_util.tree_map(lambda a: np.asarray(a, dtype=np.float64), tuple(jg))
        report["gradient_source"] = "jax"
        if not np.isclose(value, np_value, rtol=1e-9, atol=1e-12):
            report["twin_value_mismatch"] = f"jax {value!r} vs numpy {np_value!r}"
    # float64 leaves; the structure follows the arguments (lists stay lists, dicts dicts)
    grads = tuple(_np_tree(g) for g in grads)
    if case.fd:
        fd = fd_grad(case.fn, args, positions)
        errs = []
        for (p, a), (_, b) in zip(flatten(grads), flatten(fd)):
            a, b = np.asarray(a, float), np.asarray(b, float)
            scale = max(1.0, float(np.max(np.abs(a))) if a.size else 1.0)
            errs.append(float(np.max(np.abs(a - b))) / scale if a.size else 0.0)
        report["fd_max_rel_err"] = max(errs) if errs else 0.0
        report["fd_agrees"] = bool(report["fd_max_rel_err"] < 1e-5)
    else:
        report["fd_agrees"] = None
    finite = all(np.all(np.isfinite(np.asarray(l, float))) for _, l in flatten(grads)) and math.isfinite(value)
    report["finite"] = bool(finite)
    return value, grads, report


def _np_tree(t):
    if isinstance(t, dict):
        return {k: _np_tree(v) for k, v in t.items()}
    if isinstance(t, (list, tuple)):
        return type(t)(_np_tree(v) for v in t)
    return np.asarray(t, dtype=np.float64)


def main(argv=None):
    argv = list(argv or [])
    cases = load_cases()
    names = argv or list(cases)
    manifest = json.loads(REFS_JSON.read_text()) if (argv and REFS_JSON.exists()) else {}
    arrays = dict(np.load(REFS_NPZ)) if (argv and REFS_NPZ.exists()) else {}
    manifest = {k: v for k, v in manifest.items() if k in cases}
    arrays = {k: v for k, v in arrays.items() if k.split("::")[0] in cases}
    problems = []
    for name in names:
        case = cases[name]
        try:
            value, grads, report = reference(case)
        except Exception as e:  # noqa: BLE001
            problems.append(f"{name}: reference failed: {type(e).__name__}: {e}")
            print(f"FAIL {name}: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        for k in [k for k in arrays if k.split("::")[0] == name]:
            del arrays[k]
        if case.raises:
            manifest[name] = {"category": case.category, "tags": list(case.tags), "wrt": repr(case.wrt),
                              "fingerprint": case.fingerprint(), "note": case.note, **report}
            print(f"ok {case.category}/{name}: NumPy raises {report['numpy_raises'][:80]}")
            continue
        arrays[f"{name}::value"] = np.asarray(value, dtype=np.float64)
        for path, leaf in flatten(grads):
            arrays[f"{name}::grad{path}"] = np.asarray(leaf, dtype=np.float64)
        manifest[name] = {"category": case.category, "tags": list(case.tags), "wrt": repr(case.wrt),
                          "fingerprint": case.fingerprint(), "grad_structure": structure(grads),
                          "value": value, "note": case.note, **report}
        flag = []
        if report.get("twin_value_mismatch"):
            flag.append("twin value mismatch: " + report["twin_value_mismatch"])
        if report.get("fd_agrees") is False:
            flag.append(f"JAX/FD disagree (max rel err {report['fd_max_rel_err']:.2e})")
        if not report["finite"]:
            flag.append("non-finite reference")
        if flag:
            problems.append(f"{name}: " + "; ".join(flag))
        print(f"{'!!' if flag else 'ok'} {case.category}/{name}: value {value:.6g}"
              + (f"  [{'; '.join(flag)}]" if flag else ""))
    manifest = {k: manifest[k] for k in cases if k in manifest}
    np.savez_compressed(REFS_NPZ, **arrays)
    REFS_JSON.write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    print(f"\nwrote {REFS_NPZ.name} and {REFS_JSON.name}: {len(manifest)} cases")
    if problems:
        print(f"\n{len(problems)} problem(s):", *problems, sep="\n  ")
    return 1 if any("reference failed" in p or "twin value mismatch" in p for p in problems) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
