"""The oracle for generated programs: NumPy runs the real function (on copies of the
arguments, so in-place updates of arguments cannot leak between calls), and central
finite differences of it give the gradient.

`check(program)` returns "ok" or "refused", raises `Reject` when the example cannot be
judged (the point is too close to a kink or branch point, the value is not finite,
finite differences are unstable), and raises `Mismatch` for a gradc bug, with a `kind`
used to group failures.
"""
from __future__ import annotations

import atexit
import importlib.util
import linecache
import math
import operator
import os
import re
import shutil
import sys
import tempfile
import traceback

import numpy as np

import gradc
from gradc.interpret import evaluate

KINK_MARGIN = 1e-3  # distance each comparison / kink keeps from its switching point
H = 1e-5  # finite-difference step (5-point stencil, error O(H^4))
VALUE_RTOL = 1e-9
GRAD_RTOL = 1e-5
MAX_VALUE = 1e6


class Reject(Exception):
    """The example cannot be judged (not a gradc failure)."""


class Mismatch(AssertionError):
    def __init__(self, kind, message):
        super().__init__(f"[{kind}] {message}")
        self.kind = kind


# -- the recorder behind the instrumented twins -----------------------------

REC: list = []
_CMP = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le,
        "!=": operator.ne}


def _note(decision, gap):
    REC.append((np.array(decision, copy=True), float(gap)))


def _min_abs(d):
    d = np.abs(np.asarray(d, dtype=np.float64))
    return float(np.min(d)) if d.size else math.inf


def _abs(x):
    _note(np.asarray(x) > 0, _min_abs(x))
    return np.abs(x)


def _maximum(a, b):
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    _note(d >= 0, _min_abs(d))
    return np.maximum(a, b)


def _minimum(a, b):
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    _note(d >= 0, _min_abs(d))
    return np.minimum(a, b)


def _cmp(op, a, b):
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    _note(_CMP[op](d, 0), _min_abs(d))
    return _CMP[op](a, b)


def _extreme(x, axis, smallest):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0:
        return np.zeros((), int), math.inf
    axes = tuple(range(x.ndim)) if axis is None else \
        tuple(a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis))
    rest = [i for i in range(x.ndim) if i not in axes]
    y = np.transpose(x, rest + list(axes)).reshape(*[x.shape[i] for i in rest], -1)
    if smallest:
        y = -y
    arg = np.argmax(y, axis=-1)
    if y.shape[-1] < 2:
        return arg, math.inf
    s = np.sort(y, axis=-1)
    return arg, float(np.min(s[..., -1] - s[..., -2]))


def _max(x, axis=None, keepdims=False):
    _note(*_extreme(x, axis, False))
    return np.max(x, axis=axis, keepdims=keepdims)


def _min(x, axis=None, keepdims=False):
    _note(*_extreme(x, axis, True))
    return np.min(x, axis=axis, keepdims=keepdims)


def _clip(x, lo, hi):
    d = np.asarray(x, dtype=np.float64)
    _note(np.stack(np.broadcast_arrays(d > lo, d < hi)), min(_min_abs(d - lo), _min_abs(d - hi)))
    return np.clip(x, lo, hi)


def _relu(x):
    from gradc.nn import relu
    _note(np.asarray(x) > 0, _min_abs(x))
    return relu(x)


RECORDERS = {"_abs": _abs, "_clip": _clip, "_relu": _relu, "_maximum": _maximum, "_minimum": _minimum, "_cmp": _cmp,
             "_max": _max, "_min": _min}


# -- loading a generated module ----------------------------------------------

_TMP = tempfile.mkdtemp(prefix="gradc_fuzz_")
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)


class Loaded:
    def __init__(self, program):
        self.program = program
        name = f"gradc_fuzz_{os.getpid()}_{program.uid}"
        self.path = os.path.join(_TMP, name + ".py")
        with open(self.path, "w") as f:
            f.write(program.source)
        spec = importlib.util.spec_from_file_location(name, self.path)
        self.module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.module)
        self.module.__dict__.update(RECORDERS)
        self.fn = self.module.loss
        self.twin = self.module.loss__i

    def close(self):
        try:
            os.remove(self.path)
        except OSError:
            pass
        linecache.cache.pop(self.path, None)
        # gradc keeps compiled functions and parsed sources in caches keyed by code
        # objects; a long fuzzing session would keep every generated module alive.
        for mod, attr in (("gradc.api", "_cache"), ("gradc.frontend.python", "_source_cache")):
            cache = getattr(sys.modules.get(mod), attr, None)
            if isinstance(cache, dict) and len(cache) > 64:
                cache.clear()


def copies(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def run(fn, args):
    with np.errstate(all="ignore"):
        return fn(*copies(args))


def run_twin(loaded, args):
    REC.clear()
    value = run(loaded.twin, args)
    return value, list(REC)


def _same_decisions(r1, r2):
    if len(r1) != len(r2):
        return False
    return all(d1.shape == d2.shape and np.array_equal(d1, d2) for (d1, _), (d2, _) in zip(r1, r2))


def numeric_grad(loaded, args, i, base_rec, h):
    """5-point central differences of the real function with respect to args[i]."""
    x = args[i]
    scalar = isinstance(x, float)
    shape = () if scalar else x.shape
    g = np.zeros(shape, dtype=np.float64)
    for idx in (np.ndindex(*shape) if shape else [()]):
        vals = []
        for step in (-2, -1, 1, 2):
            if scalar:
                xs = x + step * h
            else:
                xs = x.copy()
                xs[idx] += step * h
            a = list(args)
            a[i] = xs
            v, rec = run_twin(loaded, a)
            if not _same_decisions(rec, base_rec):
                raise Reject("a finite-difference point takes another branch")
            vals.append(float(v))
        g[idx] = (vals[0] - 8 * vals[1] + 8 * vals[2] - vals[3]) / (12 * h)
    if not np.all(np.isfinite(g)):
        raise Reject("finite differences are not finite")
    return float(g) if scalar else g


def _close(g, fd, scale):
    g = np.asarray(g, dtype=np.float64)
    return bool(np.all(np.abs(g - fd) <= GRAD_RTOL * np.abs(fd) + 1e-6 * scale))


def refusal_key(err) -> str:
    """A refusal message with names and numbers blanked, for counting."""
    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    first = re.sub(r"'[A-Za-z_]\w*'", "NAME", first)
    first = re.sub(r"\d+", "N", first)
    return f"{type(err).__name__}: {first[:110]}"


def _value_kind(loaded, args, v, program):
    """'value-alias:<patterns>' when gradc's value is what the program gives with every
    in-place update turned into `x = x op y` (gradc ignored an alias NumPy has), else 'value'."""
    try:
        plain = float(run(loaded.module.loss__v, args))
    except Exception:
        return "value"
    if np.shape(v) == () and abs(float(v) - plain) <= VALUE_RTOL * max(1.0, abs(plain)):
        zero_d = any(isinstance(a, np.ndarray) and a.ndim == 0 for a in args)
        pats = sorted(f for f in program.features
                      if f.startswith("alias_") or f in ("helper_inplace_param", "loop_alias"))
        return "value-alias:" + ",".join(pats + (["zero_d_arg"] if zero_d else []))
    return "value"


def check(program) -> tuple[str, str | None]:
    """('ok', None) or ('refused', key); raises Reject or Mismatch."""
    loaded = Loaded(program)
    try:
        return _check(loaded, program)
    finally:
        loaded.close()


def _check(loaded, program):
    args, names = program.args, program.arg_names
    # The oracle: the real function, and its instrumented twin (same numbers, plus the
    # branch decisions at the kinks).
    try:
        expected = run(loaded.fn, args)
    except Exception as e:  # NumPy rejects the program: gradc must refuse it too
        numpy_error = e
        expected = None
    else:
        numpy_error = None
    if numpy_error is None:
        twin_value, base_rec = run_twin(loaded, args)
        if np.iscomplexobj(expected) or not (np.shape(expected) == () and np.isfinite(expected)):
            raise Reject(f"value {expected!r} is not a finite scalar")
        if float(twin_value) != float(expected):
            raise AssertionError(f"generator bug: twin gives {twin_value!r}, loss {expected!r}")
        if abs(float(expected)) > MAX_VALUE:
            raise Reject("value too large")
        if any(gap <= KINK_MARGIN for _, gap in base_rec):
            raise Reject("too close to a kink")
        expected = float(expected)

    wrt = program.wrt
    try:
        with np.errstate(all="ignore"):  # np.where branches compute NaN where unselected
            compiled = gradc.compile(loaded.fn, wrt=wrt, args=tuple(copies(args)),
                                     checkpoint=program.policy())
            spec = compiled.specialize(*copies(args))
            passed = copies(args)
            value = compiled.value(*passed)
            value2, grads = compiled.value_and_grad(*passed)
    except gradc.CompileError as e:
        if isinstance(e, getattr(gradc.errors, "InternalError", ())):
            raise Mismatch("internal-error", f"gradc InternalError: {e}") from None
        return "refused", refusal_key(e)
    except Exception as e:
        raise Mismatch(f"exception:{type(e).__name__}",
                       f"gradc raised {type(e).__name__}: {e}\n{traceback.format_exc(limit=-3)}") from None

    if numpy_error is not None:
        raise Mismatch("accepts-invalid", f"NumPy raises {type(numpy_error).__name__}: {numpy_error}, "
                       f"gradc computes {value!r}")
    for a, b in zip(passed, args):
        if isinstance(a, np.ndarray) and not np.array_equal(a, b):
            raise Mismatch("mutates-input", "gradc modified an argument array")

    scale = max(1.0, abs(expected))
    for what, v in (("value", value), ("value_and_grad value", value2)):
        if not (np.shape(v) == () and abs(float(v) - expected) <= VALUE_RTOL * scale):
            raise Mismatch(_value_kind(loaded, args, v, program),
                           f"gradc {what} = {v!r}, NumPy = {expected!r}")

    # The IR interpreter on gradc's program.
    try:
        inputs = [np.float64(a) if type(a) is float else a
                  for a in (copies(args)[i] for i in spec.input_positions)]
        with np.errstate(all="ignore"):
            env = evaluate(spec.ir, *inputs)
        interp = env[spec.ir.outputs[0]]
    except Exception as e:
        raise Mismatch(f"interpreter:{type(e).__name__}",
                       f"IR interpreter raised {type(e).__name__}: {e}") from None
    if not abs(float(interp) - expected) <= VALUE_RTOL * scale:
        raise Mismatch("interpreter-value", f"IR interpreter = {interp!r}, NumPy = {expected!r}")

    if not isinstance(grads, tuple) or len(grads) != len(wrt):
        raise Mismatch("grad-structure", f"gradients {grads!r} for wrt={wrt}")
    for name, g in zip(wrt, grads):
        i = names.index(name)
        x = args[i]
        if isinstance(x, float):
            if type(g) is not float:
                raise Mismatch("grad-type", f"gradient for Python float {name} is {type(g).__name__}")
        elif np.shape(g) != x.shape or np.result_type(g) != x.dtype:
            raise Mismatch("grad-shape", f"gradient for {name}: shape {np.shape(g)} dtype "
                           f"{np.result_type(g)}, argument {x.shape} {x.dtype}")
        fd = numeric_grad(loaded, args, i, base_rec, H)
        gscale = max(1.0, float(np.max(np.abs(fd))))
        if _close(g, fd, gscale):
            continue
        # Before blaming gradc: finite differences with other steps must agree with
        # each other, and gradc must miss all of them.
        others = [numeric_grad(loaded, args, i, base_rec, h) for h in (4 * H, H / 4)]
        if any(_close(g, o, gscale) for o in others):
            continue
        if not all(_close(o, fd, gscale * 10) for o in others):
            raise Reject("finite differences disagree with each other")
        kind = "grad-nan" if not np.all(np.isfinite(g)) else "grad"
        raise Mismatch(kind, f"d/d{name}: gradc {np.array2string(np.asarray(g), precision=10)}\n"
                       f"finite differences {np.array2string(np.asarray(fd), precision=10)}")
    return "ok", None


__all__ = ["check", "Reject", "Mismatch", "refusal_key"]
