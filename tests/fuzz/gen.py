"""A Hypothesis strategy that writes random loss functions as Python SOURCE.

`programs()` draws a `Program`: the text of a module with a loss function `loss`, its
module-level helpers and constants, the arguments to call it with and the names to
differentiate with respect to. Every function is written twice: `loss` as a user would
write it (what gradc compiles and what NumPy runs as the oracle), and `loss__i`, the
same statements with each non-smooth site (abs, maximum/minimum, comparisons, max/min
reductions) routed through a recorder (see oracle.py), so the finite-difference oracle
can tell whether a perturbed point took the same branches.

Magnitudes are kept safe by construction: every expression carries a bound on |value|
(interval arithmetic, conservative; in-place updates raise every bound in scope, since
NumPy may show the update through an alias), log/sqrt/division only see expressions
that are positive by construction, except in the deliberately unsafe `np.where` branches
(`np.where(u > 0.0, np.log(u), 0.0)`) whose unselected entries are NaN or inf.

Aliasing patterns are written as plain Python; NumPy decides what they mean.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

MAX_BOUND = 1e3  # an expression whose bound exceeds this is squashed with np.tanh
FLOATS = ["0.5", "2.0", "1.5", "-0.75", "0.25", "3.0", "1.0", "-2.0"]


@dataclass
class E:
    """An expression: its source, its instrumented source, shape, bound on |value|."""

    src: str
    inst: str
    shape: tuple
    bound: float
    py: bool = False  # a plain Python float (no ndarray methods, not indexable)
    lo: float | None = None  # a positive lower bound, when the value is positive by construction


@dataclass
class Var:
    shape: tuple
    bound: float
    py: bool = False


@dataclass
class Program:
    source: str  # the module text
    args: list  # argument values (ndarrays, Python floats)
    arg_names: list
    wrt: tuple  # names
    features: frozenset
    uid: int
    checkpoint: str | None = None  # a checkpoint policy for gradc.compile, as text

    def policy(self):
        from gradc.runtime.checkpoint import Revolve, Segments
        if self.checkpoint is None or self.checkpoint == "segments":
            return self.checkpoint
        return eval(self.checkpoint, {"Revolve": Revolve, "Segments": Segments})  # noqa: S307

    def __repr__(self):
        shapes = ", ".join(f"{n}={_describe(a)}" for n, a in zip(self.arg_names, self.args))
        user = self.source.split("\n# --- instrumented twins")[0]
        cp = f" checkpoint={self.checkpoint}" if self.checkpoint else ""
        return f"<program wrt={self.wrt}{cp} args: {shapes}\n{user}>"


def _describe(a):
    if isinstance(a, float):
        return f"float {a!r}"
    return f"array{a.shape}"


def _bshape(*shapes):
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        return None


def fits_into(target):
    """Predicate: a shape that broadcasts into `target` without changing it (in-place rule)."""
    return lambda s: _bshape(s, target) == tuple(target)


def compatible(shape):
    return lambda s: _bshape(s, shape) is not None


def anything(s):
    return True


def both(p, q):
    return lambda s: p(s) and q(s)


class Fn:
    """One function being written: its scope and lines (indent, real, instrumented)."""

    def __init__(self, name, params):
        self.name = name
        self.scope: dict[str, Var] = dict(params)
        self.lines: list[tuple[int, str, str]] = []
        self.indent = 1
        self.must_use: list[str] = []  # names whose value aliasing may have changed

    def emit(self, real, inst=None):
        self.lines.append((self.indent, real, real if inst is None else inst))

    def bump_all(self, add=0.0, mul=1.0):
        """An in-place update may be visible through any alias: raise every bound."""
        for v in self.scope.values():
            v.bound = v.bound * mul + add


class Gen:
    def __init__(self, draw, uid, disable=frozenset()):
        self.disable = frozenset(disable)
        self.draw = draw
        self.uid = uid
        self.counter = 0
        self.consts: dict[str, np.ndarray] = {}
        self.helpers: list[Fn] = []
        self.helper_sigs: list[tuple] = []
        self.features: set[str] = set()
        self.rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    # -- drawing helpers ----------------------------------------------------

    def choice(self, seq):
        return self.draw(st.sampled_from(list(seq)))

    def int(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def flip(self, p_num=1, p_den=2):
        """True with probability about p_num/p_den; shrinks towards False."""
        return self.draw(st.integers(0, p_den - 1)) >= p_den - p_num

    def fresh(self, prefix="v"):
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const(self, shape):
        name = f"K{len(self.consts)}"
        self.consts[name] = np.round(self.rng.uniform(-1, 1, size=shape), 3)
        return name

    # -- expressions --------------------------------------------------------

    def leaf(self, fn: Fn, ok, arrays_only=False):
        cands = [n for n, v in fn.scope.items() if ok(v.shape) and not (arrays_only and v.py)]
        if cands and not (not arrays_only and self.int(0, 6) == 6):
            name = cands[len(cands) - 1 - self.int(0, len(cands) - 1)]
            v = fn.scope[name]
            return E(name, name, v.shape, v.bound, v.py)
        if arrays_only:
            return None
        lit = self.choice(FLOATS)
        return E(lit, lit, (), abs(float(lit)), py=True)

    def squash(self, e: E) -> E:
        if e.bound <= MAX_BOUND:
            return e
        return E(f"np.tanh({e.src})", f"np.tanh({e.inst})", e.shape, 1.0)

    def expr(self, fn: Fn, depth, ok=anything, arrays_only=False) -> E:
        """An expression whose shape satisfies ok."""
        if depth <= 0:
            e = self.leaf(fn, ok, arrays_only)
            if e is not None:
                return e
            depth = 1
        kind = self.choice([k for k in ["leaf", "unary", "unary", "binary", "binary", "positive_op",
                                        "minmax", "where", "where_nan", "reduce", "index", "shape",
                                        "matmul", "more"] if k not in self.disable])
        if kind == "leaf":
            e = self.leaf(fn, ok, arrays_only)
        else:
            e = getattr(self, "x_" + kind)(fn, depth - 1, ok)
        if e is None or not ok(e.shape) or (arrays_only and e.py):
            e = self.leaf(fn, ok, arrays_only)
            if e is None:  # arrays only and nothing fits: an elementwise function of a leaf
                e = self.leaf(fn, ok)
                e = E(f"np.tanh({e.src})", f"np.tanh({e.inst})", e.shape, 1.0)
        else:
            self.features.add(kind)
        return self.squash(e)

    def x_unary(self, fn, depth, ok):
        a = self.expr(fn, depth, ok)
        f = self.choice(["tanh", "sin", "cos", "arctan", "exp", "abs", "square", "pow2", "neg",
                         "log", "sqrt", "log1p"])
        B = a.bound
        if f in ("tanh", "sin", "cos", "arctan"):
            return E(f"np.{f}({a.src})", f"np.{f}({a.inst})", a.shape, 1.6)
        if f == "exp":
            if B > 4:
                a = E(f"np.tanh({a.src})", f"np.tanh({a.inst})", a.shape, 1.0)
                B = 1.0
            return E(f"np.exp({a.src})", f"np.exp({a.inst})", a.shape, math.exp(B), lo=math.exp(-B))
        if f == "abs":
            self.features.add("abs")
            return E(f"np.abs({a.src})", f"_abs({a.inst})", a.shape, B)
        if f in ("square", "pow2"):
            if B > 30:
                a = E(f"np.tanh({a.src})", f"np.tanh({a.inst})", a.shape, 1.0)
            s = "np.square({})" if f == "square" else "({}) ** 2"
            return E(s.format(a.src), s.format(a.inst), a.shape, a.bound ** 2,
                     py=a.py and f == "pow2")
        if f == "neg":
            return E(f"-({a.src})", f"-({a.inst})", a.shape, B, a.py)
        p = self.positive(a)
        if f == "log":
            return E(f"np.log({p.src})", f"np.log({p.inst})", p.shape,
                     max(abs(math.log(p.lo)), math.log(p.bound)))
        if f == "sqrt":
            return E(f"np.sqrt({p.src})", f"np.sqrt({p.inst})", p.shape, math.sqrt(p.bound),
                     lo=math.sqrt(p.lo))
        return E(f"np.log1p({p.src})", f"np.log1p({p.inst})", p.shape, math.log1p(p.bound))

    def x_more(self, fn, depth, ok):
        """Less common functions: expm1, tan, logaddexp, clip, gradc.nn, softmax family."""
        f = self.choice(["expm1", "tan", "logaddexp", "clip", "clip_method", "sigmoid", "softplus",
                         "relu", "logsumexp", "softmax", "log_softmax", "builtin_abs"])
        if f == "logaddexp":
            a, b, shape = self.pair(fn, depth, ok)
            return E(f"np.logaddexp({a.src}, {b.src})", f"np.logaddexp({a.inst}, {b.inst})", shape,
                     max(a.bound, b.bound) + 0.7)
        if f in ("logsumexp", "softmax", "log_softmax"):
            a = self.expr(fn, depth, lambda s: len(s) >= 1, arrays_only=True)
            if not a.shape:
                return None
            nd = len(a.shape)
            axis = self.int(-nd, nd - 1)
            self.features.add("nn_" + f)
            if f == "logsumexp":
                shape = np.sum(np.empty(a.shape), axis=axis).shape
                bound = a.bound + math.log(a.shape[axis])
            else:
                shape = a.shape
                bound = 1.0 if f == "softmax" else 2 * a.bound + math.log(a.shape[axis])
            return E(f"{f}({a.src}, axis={axis})", f"{f}({a.inst}, axis={axis})", shape, bound)
        a = self.expr(fn, depth, ok)
        B = a.bound
        self.features.add("more_" + f)
        if f == "expm1":
            if B > 4:
                a = E(f"np.tanh({a.src})", f"np.tanh({a.inst})", a.shape, 1.0)
            return E(f"np.expm1({a.src})", f"np.expm1({a.inst})", a.shape, math.exp(min(B, 4)))
        if f == "tan":
            return E(f"np.tan(np.tanh({a.src}))", f"np.tan(np.tanh({a.inst}))", a.shape, 1.6)
        if f in ("clip", "clip_method"):
            lo, hi = self.choice([("-0.5", "0.5"), ("0.0", "1.0"), ("-1.0", "0.25")])
            src = f"np.clip({a.src}, {lo}, {hi})" if f == "clip" or a.py else f"({a.src}).clip({lo}, {hi})"
            return E(src, f"_clip({a.inst}, {lo}, {hi})", a.shape, 1.0)
        if f == "sigmoid":
            return E(f"sigmoid({a.src})", f"sigmoid({a.inst})", a.shape, 1.0)
        if f == "softplus":
            return E(f"softplus({a.src})", f"softplus({a.inst})", a.shape, B + 0.7)
        if f == "relu":
            return E(f"relu({a.src})", f"_relu({a.inst})", a.shape, B)
        return E(f"abs({a.src})", f"_abs({a.inst})", a.shape, B, py=a.py)

    def positive(self, a: E) -> E:
        """A positive expression built from a, with lower and upper bounds."""
        B = min(a.bound, 30.0)
        if a.bound > 30:
            a = E(f"np.tanh({a.src})", f"np.tanh({a.inst})", a.shape, 1.0)
            B = 1.0
        form = self.choice(["sq", "exp", "one"])
        if form == "sq":
            return E(f"({a.src} * {a.src} + 0.5)", f"({a.inst} * {a.inst} + 0.5)", a.shape,
                     B * B + 0.5, py=a.py, lo=0.5)
        if form == "exp":
            return E(f"np.exp(np.tanh({a.src}))", f"np.exp(np.tanh({a.inst}))", a.shape, math.e,
                     lo=1 / math.e)
        return E(f"(1.0 + ({a.src}) ** 2)", f"(1.0 + ({a.inst}) ** 2)", a.shape, B * B + 1, py=a.py,
                 lo=1.0)

    def pair(self, fn, depth, ok):
        """Two expressions whose shapes broadcast together, the result satisfying ok."""
        a = self.expr(fn, depth, ok)
        b = self.expr(fn, depth, lambda s: _bshape(s, a.shape) is not None and ok(_bshape(s, a.shape)))
        if self.flip():
            a, b = b, a
        return a, b, _bshape(a.shape, b.shape)

    def x_binary(self, fn, depth, ok):
        a, b, shape = self.pair(fn, depth, ok)
        op = self.choice(["+", "-", "*", "*", "np.add", "np.multiply", "np.subtract"])
        py = a.py and b.py
        if op.startswith("np."):
            bound = a.bound * b.bound if op == "np.multiply" else a.bound + b.bound
            return E(f"{op}({a.src}, {b.src})", f"{op}({a.inst}, {b.inst})", shape, bound)
        bound = a.bound * b.bound if op == "*" else a.bound + b.bound
        return E(f"({a.src} {op} {b.src})", f"({a.inst} {op} {b.inst})", shape, bound, py)

    def x_positive_op(self, fn, depth, ok):
        """Division by, or a power of, a positive expression."""
        a, b, shape = self.pair(fn, depth, ok)
        p = self.positive(b)
        form = self.choice(["div", "pow", "rdiv", "powvar"])
        if form == "div":
            return E(f"({a.src} / {p.src})", f"({a.inst} / {p.inst})", shape, a.bound / p.lo,
                     py=a.py and p.py)
        if form == "rdiv":
            return E(f"(1.0 / {p.src})", f"(1.0 / {p.inst})", p.shape, 1 / p.lo, py=p.py)
        if form == "pow":
            k = self.choice(["1.5", "0.5", "-1.0", "3", "2.5"])
            hi = max(p.bound, 1 / p.lo) ** abs(float(k))
            return E(f"{p.src} ** {k}", f"{p.inst} ** {k}", p.shape, hi, py=p.py)
        t = E(f"np.tanh({a.src})", f"np.tanh({a.inst})", a.shape, 1.0)
        return E(f"np.power({p.src}, {t.src})", f"np.power({p.inst}, {t.inst})", shape,
                 max(p.bound, 1 / p.lo))

    def x_minmax(self, fn, depth, ok):
        a, b, shape = self.pair(fn, depth, ok)
        if a.src == b.src:  # maximum(v, v) sits on its kink everywhere
            b = E("0.25", "0.25", (), 0.25, True)
        f = self.choice(["maximum", "minimum"])
        self.features.add(f)
        return E(f"np.{f}({a.src}, {b.src})", f"_{f}({a.inst}, {b.inst})", shape,
                 max(a.bound, b.bound))

    def compare(self, fn, depth, ok):
        a = self.expr(fn, depth, ok)
        b = self.leaf(fn, lambda s: _bshape(s, a.shape) is not None and ok(_bshape(s, a.shape)))
        if b.src == a.src:
            b = E("0.25", "0.25", (), 0.25, True)
        op = self.choice([">", "<", ">=", "<="])
        shape = _bshape(a.shape, b.shape)
        return (f"({a.src} {op} {b.src})", f"_cmp('{op}', {a.inst}, {b.inst})", shape)

    def x_where(self, fn, depth, ok):
        c_src, c_inst, cshape = self.compare(fn, depth, ok)
        if self.flip(1, 4):
            d_src, d_inst, dshape = self.compare(fn, 0, lambda s: _bshape(s, cshape) is not None
                                                 and ok(_bshape(s, cshape)))
            op = self.choice(["&", "|"])
            c_src, c_inst = f"({c_src} {op} {d_src})", f"({c_inst} {op} {d_inst})"
            cshape = _bshape(cshape, dshape)
        x = self.expr(fn, depth, lambda s: _bshape(s, cshape) is not None and ok(_bshape(s, cshape)))
        s1 = _bshape(cshape, x.shape)
        y = self.expr(fn, depth, lambda s: _bshape(s, s1) is not None and ok(_bshape(s, s1)))
        shape = _bshape(s1, y.shape)
        self.features.add("where")
        return E(f"np.where({c_src}, {x.src}, {y.src})", f"np.where({c_inst}, {x.inst}, {y.inst})",
                 shape, max(x.bound, y.bound))

    def x_where_nan(self, fn, depth, ok):
        """np.where whose unselected branch is NaN or inf: the gradient must not be."""
        u = self.expr(fn, depth, ok)
        U, Ui = u.src, u.inst
        B = u.bound
        c = self.choice(["0.0", "0.5", "-0.5", "1.0"])
        form = self.choice(["log", "sqrt", "logelse", "xlogx", "sinc", "log1p", "recip"])
        self.features.add("where_nan")
        if form == "log":
            return E(f"np.where({U} > {c}, np.log({U} - {c}), {U})",
                     f"np.where(_cmp('>', {Ui}, {c}), np.log({Ui} - {c}), {Ui})", u.shape,
                     max(7.0, B, math.log(B + 1)))
        if form == "sqrt":
            return E(f"np.where({U} > {c}, np.sqrt({U} - {c}), 0.0)",
                     f"np.where(_cmp('>', {Ui}, {c}), np.sqrt({Ui} - {c}), 0.0)", u.shape,
                     math.sqrt(B + 1))
        if form == "logelse":
            c = self.choice(["0.5", "1.0"])
            return E(f"np.where({U} < {c}, {U}, np.log({U}))",
                     f"np.where(_cmp('<', {Ui}, {c}), {Ui}, np.log({Ui}))", u.shape, max(B, 1.0))
        if form == "xlogx":
            return E(f"np.where({U} > 0.0, {U} * np.log({U}), 0.0)",
                     f"np.where(_cmp('>', {Ui}, 0.0), {Ui} * np.log({Ui}), 0.0)", u.shape,
                     max(B * math.log(B + 1), 0.5))
        if form == "sinc":
            return E(f"np.where({U} != 0.0, np.sin({U}) / {U}, 1.0)",
                     f"np.where(_cmp('!=', {Ui}, 0.0), np.sin({Ui}) / {Ui}, 1.0)", u.shape, 1.0)
        if form == "log1p":
            return E(f"np.where({U} > -1.0, np.log1p({U}), {U})",
                     f"np.where(_cmp('>', {Ui}, -1.0), np.log1p({Ui}), {Ui})", u.shape, max(B, 7.0))
        # 1/u where u is away from zero, 0 elsewhere (inf/huge where unselected)
        return E(f"np.where(np.abs({U}) > 0.5, 1.0 / {U}, 0.0)",
                 f"np.where(_cmp('>', _abs({Ui}), 0.5), 1.0 / {Ui}, 0.0)", u.shape, 2.0)

    def axis(self, nd):
        mode = self.choice(["none", "int", "tuple"]) if nd else "none"
        if mode == "none":
            return None
        if mode == "int":
            return self.int(-nd, nd - 1)
        axes = self.draw(st.lists(st.integers(0, nd - 1), unique=True, min_size=1, max_size=nd))
        return tuple(axes)

    def x_reduce(self, fn, depth, ok):
        a = self.expr(fn, depth, arrays_only=True)
        nd = len(a.shape)
        f = self.choice(["sum", "mean", "max", "min", "sum"])
        axis = self.axis(nd)
        keep = self.flip(1, 3)
        shape = np.sum(np.empty(a.shape), axis=axis, keepdims=keep).shape
        axes = range(nd) if axis is None else [axis] if isinstance(axis, int) else axis
        count = int(np.prod([a.shape[i] for i in axes])) if nd else 1
        bound = a.bound * count if f == "sum" else a.bound
        kw = "" if axis is None else f", axis={axis!r}"
        kw += ", keepdims=True" if keep else ""
        if f in ("max", "min"):
            self.features.add("reduce_" + f)
            inst = f"_{f}({a.inst}{kw})"
        else:
            inst = None
        if self.flip(1, 3):  # method form
            src = f"({a.src}).{f}({kw[2:]})"
            inst = inst or f"({a.inst}).{f}({kw[2:]})"
        else:
            src = f"np.{f}({a.src}{kw})"
            inst = inst or f"np.{f}({a.inst}{kw})"
        return E(src, inst, shape, bound)

    def index(self, shape):
        """A basic index (text) into `shape` with a non-empty result: ints, slices with
        constant bounds, negative steps, None, Ellipsis."""
        nd = len(shape)
        k = self.int(1, nd)
        items = []
        for d in shape[:k]:
            kind = self.choice(["slice", "int", "rev", "all", "negstep", "step2", "neg_int"])
            if kind == "int":
                items.append(str(self.int(0, d - 1)))
            elif kind == "neg_int":
                items.append(str(-self.int(1, d)))
            elif kind == "slice":
                a = self.int(0, d - 1)
                b = self.int(a + 1, d)
                items.append(f"{a}:{b}" if self.flip() or b < d else f"{a}:")
            elif kind == "rev":
                items.append("::-1")
            elif kind == "negstep" and d >= 2:
                hi = self.int(1, d - 1)
                lo = self.int(-1, hi - 1)
                items.append(f"{hi}:{lo}:-1" if lo >= 0 else f"{hi}::-1")
            elif kind == "step2":
                items.append("::2")
            else:
                items.append(":")
        if self.flip(1, 5):
            items.insert(self.int(0, len(items)), "None")
        if self.flip(1, 6) and k < nd:
            items.append("...")
        text = ", ".join(items)
        return text

    def x_index(self, fn, depth, ok):
        a = self.leaf(fn, lambda s: len(s) >= 1, arrays_only=True) if self.flip(2, 3) else \
            self.expr(fn, depth, lambda s: len(s) >= 1, arrays_only=True)
        if a is None or not a.shape:
            return None
        idx = self.index(a.shape)
        shape = eval(f"np.empty({a.shape!r})[{idx}]", {"np": np}).shape  # noqa: S307 (our own text)
        if 0 in shape:
            return None
        self.features.add("index")
        src = a.src if a.src.isidentifier() else f"({a.src})"
        inst = a.inst if a.inst.isidentifier() else f"({a.inst})"
        return E(f"{src}[{idx}]", f"{inst}[{idx}]", shape, a.bound)

    def shape_text(self, shape):
        a = np.empty(shape)
        nd = len(shape)
        options = [(-1,), tuple(reversed(shape)), tuple(d for d in shape if d != 1)]
        pos = self.int(0, nd)
        options.append(shape[:pos] + (1,) + shape[pos:])
        if nd >= 2:
            options.append(shape[:-2] + (shape[-2] * shape[-1],))
        if a.size == 1:
            options.append(())
        new = self.choice(options)
        return new

    def x_shape(self, fn, depth, ok):
        a = self.expr(fn, depth, arrays_only=True)
        nd = len(a.shape)
        form = self.choice(["T", "transpose", "reshape", "np.reshape", "ravel", "expand", "flatten"])
        S, I = (a.src, a.inst) if a.src.isidentifier() else (f"({a.src})", f"({a.inst})")
        self.features.add("shape_" + form)
        if form == "T":
            return E(f"{S}.T", f"{I}.T", a.shape[::-1], a.bound)
        if form == "transpose":
            axes = tuple(self.draw(st.permutations(range(nd))))
            return E(f"np.transpose({a.src}, {axes!r})", f"np.transpose({a.inst}, {axes!r})",
                     tuple(a.shape[i] for i in axes), a.bound)
        if form in ("ravel", "flatten"):
            return E(f"{S}.{form}()", f"{I}.{form}()", (int(np.prod(a.shape)),), a.bound)
        if form == "expand":
            ax = self.int(-nd - 1, nd)
            return E(f"np.expand_dims({a.src}, {ax})", f"np.expand_dims({a.inst}, {ax})",
                     np.expand_dims(np.empty(a.shape), ax).shape, a.bound)
        new = self.shape_text(a.shape)
        shape = np.empty(a.shape).reshape(new).shape
        if form == "reshape":
            return E(f"{S}.reshape({new!r})", f"{I}.reshape({new!r})", shape, a.bound)
        return E(f"np.reshape({a.src}, {new!r})", f"np.reshape({a.inst}, {new!r})", shape, a.bound)

    def x_matmul(self, fn, depth, ok):
        a = self.expr(fn, depth, lambda s: len(s) >= 1, arrays_only=True)
        if not a.shape:
            return None
        k = a.shape[-1]

        def fits(s):
            if not s or s[0 if len(s) == 1 else -2] != k:
                return False
            try:
                np.matmul(np.zeros(a.shape), np.zeros(s))
                return True
            except ValueError:
                return False

        b = self.leaf(fn, fits, arrays_only=True) if self.flip() else None
        if b is None:
            shape = (k,) if self.flip() else (k, self.int(1, 3))
            name = self.const(shape)
            b = E(name, name, shape, 1.0)
        A, AI = (a.src, a.inst) if a.src.isidentifier() else (f"({a.src})", f"({a.inst})")
        out = np.matmul(np.zeros(a.shape), np.zeros(b.shape)).shape
        bound = a.bound * b.bound * k
        self.features.add("matmul")
        if len(a.shape) <= 2 and len(b.shape) <= 2 and self.flip(1, 4):
            return E(f"np.dot({a.src}, {b.src})", f"np.dot({a.inst}, {b.inst})", out, bound)
        return E(f"({A} @ {b.src})", f"({AI} @ {b.inst})", out, bound)

    # -- statements ---------------------------------------------------------

    def assign(self, fn: Fn, name, e: E):
        fn.emit(f"{name} = {e.src}", f"{name} = {e.inst}")
        fn.scope.pop(name, None)
        fn.scope[name] = Var(e.shape, e.bound, e.py)

    def inplace(self, fn: Fn, target, depth=1, op=None):
        """`target op= expr`, with a right-hand side that broadcasts into target."""
        v = fn.scope[target]
        op = op or self.choice(["+=", "-=", "*=", "+=", "/="])
        ok = fits_into(v.shape)
        if op in ("+=", "-="):
            e = self.expr(fn, depth, ok)
            fn.bump_all(add=e.bound)
        elif op == "*=":
            e = self.expr(fn, depth, ok)
            e = E(f"np.tanh({e.src})", f"np.tanh({e.inst})", e.shape, 1.0) if self.flip() else \
                E(self.choice(["2.0", "0.5", "-1.5"]), None, (), 2.0, py=True)
            e.inst = e.inst or e.src
            fn.bump_all(mul=max(1.0, e.bound))
        else:
            e = self.positive(self.expr(fn, depth, ok))
            fn.bump_all(mul=max(1.0, 1 / e.lo))
        fn.emit(f"{target} {op} {e.src}", f"{target} {op} {e.inst}")
        self.features.add("inplace")
        fn.scope[target] = fn.scope.pop(target)  # most recent
        return target

    def arrays(self, fn, ok=anything, nd_min=0):
        return [n for n, v in fn.scope.items() if not v.py and ok(v.shape) and len(v.shape) >= nd_min]

    def pick(self, names):
        return names[len(names) - 1 - self.int(0, len(names) - 1)]

    def statement(self, fn: Fn, top=True):
        kinds = ["assign", "assign", "assign", "inplace", "alias", "unpack"]
        if top:
            kinds += ["loop", "helper", "alias", "assign", "if_data", "while_data"]
        kinds = [k for k in kinds if k not in self.disable
                 and not (k == "alias" and "inplace" in self.disable)]
        kind = self.choice(kinds)
        getattr(self, "s_" + kind)(fn)

    def s_assign(self, fn):
        self.assign(fn, self.fresh(), self.expr(fn, self.int(1, 3)))

    def s_inplace(self, fn):
        self.inplace(fn, self.target(fn, list(fn.scope)))

    def target(self, fn, names):
        """A name to update: an argument now and then (gradc refuses those), mostly locals."""
        local = [n for n in names if n not in self.arg_names]
        if local and not self.flip(1, 6):
            return self.pick(local)
        if not local and not self.flip(1, 4):  # only arguments so far: make a local first
            name = self.fresh()
            self.assign(fn, name, self.expr(fn, self.int(1, 2), arrays_only=True))
            return name
        return self.pick(names)

    def s_unpack(self, fn):
        a, b = self.expr(fn, self.int(0, 2)), self.expr(fn, self.int(0, 2))
        n1, n2 = self.fresh(), self.fresh()
        fn.emit(f"{n1}, {n2} = {a.src}, {b.src}", f"{n1}, {n2} = {a.inst}, {b.inst}")
        fn.scope[n1] = Var(a.shape, a.bound, a.py)
        fn.scope[n2] = Var(b.shape, b.bound, b.py)
        self.features.add("unpack")

    def s_alias(self, fn):
        form = self.choice(["mul_one", "copy", "rebind", "tuple", "view_inplace", "view_then_base",
                            "arg_inplace", "list", "rebind_copy", "double_alias", "unpack_rows",
                            "tuple_loop", "asarray", "astype", "cond_expr", "plus_zero", "swap"])
        arrs = self.arrays(fn)
        if not arrs:
            return self.s_assign(fn)
        z = self.target(fn, arrs)
        zs = fn.scope[z].shape
        self.features.add("alias_" + form)
        if form == "mul_one":  # z2 = z * 1.0 is a new array: z2 += ... leaves z alone
            n = self.fresh("c")
            self.assign(fn, n, E(f"{z} * 1.0", f"{z} * 1.0", zs, fn.scope[z].bound))
            self.inplace(fn, n)
            fn.must_use += [z, n]
        elif form == "copy":
            n = self.fresh("c")
            self.assign(fn, n, E(f"{z}.copy()", f"{z}.copy()", zs, fn.scope[z].bound))
            self.inplace(fn, n, op=self.choice(["*=", "+="]))
            fn.must_use += [z, n]
        elif form == "rebind":  # y = z; z += ...: y sees the update (NumPy arrays)
            y = self.fresh("y")
            self.assign(fn, y, E(z, z, zs, fn.scope[z].bound))
            self.inplace(fn, z)
            fn.must_use += [y, z]
        elif form == "rebind_copy":  # y = z; z = z + ...: y does not see it
            y = self.fresh("y")
            self.assign(fn, y, E(z, z, zs, fn.scope[z].bound))
            e = self.expr(fn, 1, fits_into(zs))
            self.assign(fn, z, E(f"{z} + {e.src}", f"{z} + {e.inst}", zs, fn.scope[z].bound + e.bound))
            fn.must_use += [y, z]
        elif form == "double_alias":  # y = z; y += ...: z sees it
            y = self.fresh("y")
            self.assign(fn, y, E(z, z, zs, fn.scope[z].bound))
            self.inplace(fn, y)
            fn.must_use += [z]
        elif form == "tuple":
            p = self.fresh("pair")
            fn.emit(f"{p} = ({z}, 2.0)")
            self.inplace(fn, z)
            w = self.fresh("w")
            self.assign(fn, w, E(f"{p}[0] * {p}[1]", f"{p}[0] * {p}[1]", zs, fn.scope[z].bound * 2))
            fn.must_use += [w]
        elif form == "list":
            p = self.fresh("lst")
            others = self.arrays(fn, compatible(zs))
            o = self.pick(others)
            fn.emit(f"{p} = [{z}, {o}]")
            self.inplace(fn, z, op=self.choice(["*=", "+="]))
            w = self.fresh("w")
            self.assign(fn, w, E(f"{p}[0] + {p}[1]", f"{p}[0] + {p}[1]",
                                 _bshape(zs, fn.scope[o].shape),
                                 fn.scope[z].bound + fn.scope[o].bound))
            fn.must_use += [w]
        elif form in ("view_inplace", "view_then_base"):
            v = self.fresh("view")
            if zs and self.flip(2, 3):
                idx = self.index(zs)
                shape = eval(f"np.empty({zs!r})[{idx}]", {"np": np}).shape  # noqa: S307
                if 0 in shape:
                    idx, shape = ":", zs
                text = f"{z}[{idx}]"
            else:
                view = self.choice(["T", "reshape", "ravel", "ellipsis"])
                if view == "T":
                    text, shape = f"{z}.T", zs[::-1]
                elif view == "reshape":
                    new = self.shape_text(zs)
                    text, shape = f"{z}.reshape({new!r})", np.empty(zs).reshape(new).shape
                elif view == "ravel":
                    text, shape = f"{z}.ravel()", (int(np.prod(zs)),)
                else:
                    text, shape = f"{z}[...]", zs
            self.assign(fn, v, E(text, text, shape, fn.scope[z].bound))
            if form == "view_inplace":
                self.inplace(fn, v)
                fn.must_use += [z]
            else:
                self.inplace(fn, z)
                fn.must_use += [v]
        elif form == "unpack_rows" and len(zs) >= 1 and zs[0] <= 4:  # rows of z: views when 2-d+
            rows = [self.fresh("row") for _ in range(zs[0])]
            fn.emit(f"{', '.join(rows)}{',' if len(rows) == 1 else ''} = {z}")
            for r in rows:
                fn.scope[r] = Var(zs[1:], fn.scope[z].bound, False)
            self.inplace(fn, self.pick(rows))
            fn.must_use += [z] + rows
        elif form == "swap" and len(zs) >= 1 and zs[0] >= 2:  # z[0], z[-1] = z[-1], z[0]: views if 2-d+
            rhs = self.choice([f"{z}[-1], {z}[0]", f"{z}[-1].copy(), {z}[0].copy()", f"{z}[-1] * 1.0, {z}[0]"])
            fn.emit(f"{z}[0], {z}[-1] = {rhs}")
            fn.must_use += [z]
        elif form == "tuple_loop":  # for t in (z, w): t += ...: both updated in place
            others = self.arrays(fn)
            w = self.pick(others)
            t = self.fresh("t")
            fn.emit(f"for {t} in ({z}, {w}):")
            fn.indent += 1
            rhs = self.choice(["1.0", "0.5", "-2.0"])
            op = self.choice(["+=", "*="])
            fn.emit(f"{t} {op} {rhs}")
            fn.indent -= 1
            fn.bump_all(add=2.0, mul=2.0)
            fn.must_use += [z, w]
        elif form in ("asarray", "astype", "cond_expr", "plus_zero"):
            n = self.fresh("a")
            text = {"asarray": f"np.asarray({z})", "astype": f"{z}.astype(np.float64)",
                    "cond_expr": f"{z} if {z}.ndim >= 0 else {z} * 2.0",
                    "plus_zero": f"{z} + 0.0"}[form]
            self.assign(fn, n, E(text, text, zs, fn.scope[z].bound))
            if self.flip():
                self.inplace(fn, n)
            else:
                self.inplace(fn, z)
            fn.must_use += [z, n]
        else:  # arg_inplace
            args = [n for n in self.arrays(fn) if n in self.arg_names]
            if not args:
                return self.s_assign(fn)
            a = self.pick(args)
            self.inplace(fn, a)
            fn.must_use += [a]

    def s_loop(self, fn):
        k = self.int(1, 3)
        rng_text = str(k)
        sized = [n for n in self.arrays(fn, nd_min=1) if fn.scope[n].shape[0] <= 4]
        if sized and self.flip(1, 4):
            n = self.pick(sized)
            k = fn.scope[n].shape[0]
            rng_text = self.choice([f"len({n})", f"{n}.shape[0]"])
            self.features.add("loop_len")
        carried = []
        if self.flip(1, 3) and self.arrays(fn) and "inplace" not in self.disable:
            z = self.target(fn, self.arrays(fn))  # acc aliases z: in-place updates in the loop change z
            acc = self.fresh("acc")
            self.assign(fn, acc, E(z, z, fn.scope[z].shape, fn.scope[z].bound))
            fn.must_use += [z]
            self.features.add("loop_alias")
        else:
            acc = self.fresh("h")
            self.assign(fn, acc, self.expr(fn, 1))
        carried.append(acc)
        i = self.fresh("i")
        fn.emit(f"for {i} in range({rng_text}):")
        fn.indent += 1
        before = {n: v.bound for n, v in fn.scope.items()}
        for _ in range(self.int(1, 2)):
            h = self.pick(carried) if self.flip(3, 4) or len(fn.scope) < 2 else self.pick(list(fn.scope))
            hs = fn.scope[h].shape
            ok = fits_into(hs)
            form = self.choice([f for f in ["tanh", "sin_add", "inplace", "index", "decay", "counter",
                                            "if_data", "break_data"] if f not in self.disable])
            if form in ("if_data", "break_data") and fn.scope[h].py:
                form = "sin_add"
            if form == "if_data":  # a branch on data inside the loop: it may differ per iteration
                test, test_inst = self.data_test(fn, lambda s: True)
                fn.emit(f"if {test}:", f"if {test_inst}:")
                fn.indent += 1
                fn.emit(f"{h} = {h} * 0.5 - 0.25")
                fn.indent -= 1
                fn.emit("else:")
                fn.indent += 1
                fn.emit(f"{h} = np.sin({h}) + 0.5")
                fn.indent -= 1
                fn.scope[h].bound = fn.scope[h].bound + 0.5
                self.features.add("loop_if_data")
                continue
            if form == "break_data":  # stops early on data: the loop stays a loop (a flag)
                c = self.choice(["0.5", "1.0", "-0.5"])
                fn.emit(f"{h} = np.tanh({h}) + 0.1")
                fn.emit(f"if np.sum({h}) > {c}:", f"if _cmp('>', np.sum({h}), {c}):")
                fn.indent += 1
                fn.emit("break")
                fn.indent -= 1
                fn.scope[h].bound = 1.1
                self.features.add("loop_break_data")
                continue
            if form == "index":
                rows = [n for n in self.arrays(fn, nd_min=1) if fn.scope[n].shape[0] >= k
                        and _bshape(fn.scope[n].shape[1:], hs) == hs]
                if not rows:
                    form = "sin_add"
                else:
                    x = self.pick(rows)
                    fn.emit(f"{h} = {h} + np.sin({x}[{i}])")
                    fn.scope[h].bound += 1
                    self.features.add("loop_index")
                    continue
            e = self.expr(fn, 1, ok)
            if form == "tanh":
                w = self.leaf(fn, ok)
                fn.emit(f"{h} = np.tanh({h} * {w.src} + {e.src})", f"{h} = np.tanh({h} * {w.inst} + {e.inst})")
                fn.scope[h].bound = max(fn.scope[h].bound, 1.0)
                if _bshape(hs, w.shape, e.shape) != hs:  # cannot happen: both fit
                    raise AssertionError("generator: loop update changes a carried shape")
            elif form == "sin_add":
                fn.emit(f"{h} = {h} + 0.5 * np.sin({e.src})", f"{h} = {h} + 0.5 * np.sin({e.inst})")
                fn.scope[h].bound += 0.5
            elif form == "inplace":
                fn.emit(f"{h} += np.tanh({e.src})", f"{h} += np.tanh({e.inst})")
                fn.bump_all(add=1.0)
                self.features.add("loop_inplace")
            elif form == "decay":
                fn.emit(f"{h} = {h} * 0.5 + np.cos({e.src})", f"{h} = {h} * 0.5 + np.cos({e.inst})")
                fn.scope[h].bound += 1.0
            else:
                fn.emit(f"{h} = {h} * 0.9 + 0.1 * {i}")
                fn.scope[h].bound += 0.1 * k
        fn.indent -= 1
        for n, v in fn.scope.items():  # k iterations: every increment k times
            if n in before and v.bound > before[n]:
                v.bound = before[n] + k * (v.bound - before[n])
        fn.must_use += carried
        self.features.add("loop")

    # -- control flow on data (cond and while regions) -----------------------

    def data_test(self, fn, ok=anything):
        """A scalar comparison on traced values: `np.sum(e) > c` (src, instrumented)."""
        e = self.expr(fn, self.int(0, 2), ok, arrays_only=True)
        red = self.choice(["np.sum", "np.mean", "np.max"])
        op, c = self.choice([">", "<"]), self.choice(["0.0", "0.3", "-0.4", "1.0"])
        return f"{red}({e.src}) {op} {c}", f"_cmp('{op}', {red}({e.inst}), {c})"

    def s_if_data(self, fn):
        """`if <test on data>:` binding one name in both branches (or rebinding one name in
        the if only), an elif now and then: a cond region whose branch can change with x."""
        self.features.add("if_data")
        a = self.expr(fn, self.int(1, 2), arrays_only=True)
        same = lambda s: s == a.shape  # noqa: E731
        b = self.expr(fn, self.int(1, 2), same, arrays_only=True)
        if b.shape != a.shape or b.py:
            b = E(f"np.tanh({a.src}) * 0.5", f"np.tanh({a.inst}) * 0.5", a.shape, 0.5)
        test, test_inst = self.data_test(fn)
        name = self.fresh("c")
        form = self.choice(["else", "else", "elif", "only"])
        if form == "only":  # the name exists before: rebound in one branch only
            self.assign(fn, name, b)
        fn.emit(f"if {test}:", f"if {test_inst}:")
        fn.indent += 1
        fn.emit(f"{name} = {a.src}", f"{name} = {a.inst}")
        fn.indent -= 1
        bound = max(a.bound, b.bound)
        if form == "elif":
            test2, test2_inst = self.data_test(fn)
            fn.emit(f"elif {test2}:", f"elif {test2_inst}:")
            fn.indent += 1
            fn.emit(f"{name} = {a.src} * 0.5 - {b.src}", f"{name} = {a.inst} * 0.5 - {b.inst}")
            fn.indent -= 1
            bound = a.bound * 0.5 + b.bound
            self.features.add("elif_data")
        if form != "only":
            fn.emit("else:")
            fn.indent += 1
            fn.emit(f"{name} = {b.src}", f"{name} = {b.inst}")
            fn.indent -= 1
        fn.scope.pop(name, None)
        fn.scope[name] = Var(a.shape, bound)
        fn.must_use.append(name)

    def s_while_data(self, fn):
        """A while loop on data with a counter bound: halve until small (a trip count that
        changes with the input)."""
        self.features.add("while_data")
        a = self.expr(fn, self.int(1, 2), arrays_only=True)
        name, k = self.fresh("r"), self.fresh("k")
        self.assign(fn, name, a)
        fn.emit(f"{k} = 0")
        c = self.choice(["0.5", "1.0", "2.0"])
        fn.emit(f"while np.sum({name} * {name}) > {c} and {k} < 6:",
                f"while _cmp('>', np.sum({name} * {name}), {c}) and {k} < 6:")
        fn.indent += 1
        form = self.choice(["halve", "sin"])
        if form == "halve":
            fn.emit(f"{name} = {name} * 0.5")
        else:
            fn.emit(f"{name} = np.sin({name}) * 0.7")
        fn.emit(f"{k} += 1")
        fn.indent -= 1
        fn.must_use.append(name)

    def s_helper(self, fn):
        """Define a module-level helper for the shapes at hand and call it."""
        arrs = list(fn.scope)
        a = self.target(fn, arrs)
        b = self.pick(arrs) if self.flip(2, 3) else None
        name = f"helper{len(self.helpers)}"
        params = {"p": Var(fn.scope[a].shape, fn.scope[a].bound, fn.scope[a].py)}
        if b is not None:
            params["q"] = Var(fn.scope[b].shape, fn.scope[b].bound, fn.scope[b].py)
        default = self.choice(["0.5", "2.0", "-1.0"])
        params["scale"] = Var((), abs(float(default)) + 2.0, True)
        h = Fn(name, {k: Var(v.shape, v.bound, v.py) for k, v in params.items()})
        for _ in range(self.int(1, 3)):
            if self.flip(1, 3) and not params["p"].py and "inplace" not in self.disable:
                self.features.add("helper_inplace_param")
                self.inplace(h, "p", op=self.choice(["+=", "*=", "-="]))
                fn.must_use += [a]
            else:
                self.statement(h, top=False)
        ret = self.expr(h, 2)
        h.emit(f"return {ret.src}", f"return {ret.inst}")
        h.checkpointed = self.flip(1, 4)
        if h.checkpointed:
            self.features.add("helper_checkpoint")
        self.helpers.append(h)
        self.helper_sigs.append((name, list(params), default))
        # the call: positional, keyword, default or not
        call_args = [a] + ([b] if b is not None else [])
        parts = []
        if self.flip():
            parts = [f"p={a}"] + ([f"q={b}"] if b is not None else [])
            parts = parts[::-1] if self.flip() else parts
            self.features.add("helper_kwargs")
        else:
            parts = list(call_args)
        if self.flip():
            sc = self.choice(["1.5", "s" if "s" in fn.scope else "0.25"])
            parts.append(f"scale={sc}" if self.flip() else sc)
            if parts[-1] == sc and any("=" in p for p in parts[:-1]):
                parts[-1] = f"scale={sc}"
        out = self.fresh("r")
        args_text = ", ".join(parts)
        fn.emit(f"{out} = {name}({args_text})", f"{out} = {name}__i({args_text})")
        fn.scope[out] = Var(ret.shape, max(ret.bound, 1.0) * 8, ret.py)
        fn.bump_all(mul=4.0, add=4.0)  # the helper may have updated its arguments in place
        fn.scope[out] = Var(ret.shape, min(fn.scope[out].bound, 1e6), ret.py)
        self.features.add("helper")

    # -- the whole program --------------------------------------------------

    def program(self) -> Program:
        draw = self.draw
        ndim = self.choice([2, 1, 0, 3, 2, 1] if "zero_d" not in self.disable else [2, 1, 3])
        base = tuple(self.choice([3, 2, 4, 1]) for _ in range(ndim))
        if ndim == 3:
            base = tuple(min(d, 3) for d in base)
        nargs = self.int(1, 3)
        arg_names, args, params = [], [], {}
        for i in range(nargs):
            k = ndim if self.flip() else self.int(0 if "zero_d" not in self.disable else 1, ndim)
            shape = tuple(1 if self.flip(1, 4) else d for d in base[ndim - k:])
            name = ["x", "y", "w"][i]
            arg_names.append(name)
            args.append(np.asarray(self.rng.uniform(-1.5, 1.5, size=shape)))
            params[name] = Var(shape, 1.5)
        has_s = self.flip(1, 3)
        if has_s:
            arg_names.append("s")
            args.append(float(np.round(self.rng.uniform(0.5, 1.5) * self.choice([1, -1]), 6)))
            params["s"] = Var((), 1.5, True)
        self.arg_names = arg_names
        if "inplace" not in self.disable and self.flip(1, 2):  # half the programs: no in-place
            self.disable = self.disable | {"inplace"}
        fn = Fn("loss", params)
        for _ in range(self.int(1, 6)):
            self.statement(fn)
        # the result: the names aliasing may have changed, and the latest values
        names = list(dict.fromkeys(fn.must_use))
        names = [n for n in names if n in fn.scope]
        latest = [n for n in fn.scope if n not in names]
        for _ in range(self.int(1, 2)):
            if latest:
                names.append(latest.pop())
        names = names[:6]
        if not any(n in arg_names for n in names) and self.flip(3, 4):
            names.append(self.pick([n for n in arg_names if n in fn.scope] or list(fn.scope)))
        terms = []
        for n in names:
            v = fn.scope[n]
            form = self.choice(["sin", "sq", "tanh", "lin"])
            if v.bound > 30 and form in ("sq", "lin"):
                form = "sin"
            terms.append({"sin": f"np.sum(np.sin({n}))", "sq": f"np.sum({n} * {n}) * 0.25",
                          "tanh": f"np.mean(np.tanh({n}))", "lin": f"np.sum({n})"}[form])
        fn.emit("return " + " + ".join(terms))
        wrt = [n for n in arg_names if n != "s" and not (len(arg_names) > 1 and self.flip(1, 5))]
        if has_s and (self.flip() or not wrt):
            wrt.append("s")
        if not wrt:
            wrt = [arg_names[0]]
        checkpoint = None
        if "checkpoint" not in self.disable and self.flip(1, 4):
            checkpoint = self.choice(["segments", "Segments(1)", "Segments(2)", "Revolve(1)",
                                      "Revolve(2)", "Revolve(3)"])
            self.features.add("checkpoint")
        return Program(self.render(fn), args, arg_names, tuple(wrt), frozenset(self.features),
                       self.uid, checkpoint)

    def render(self, fn: Fn) -> str:
        out = ["import numpy as np", "import gradc",
               "from gradc.nn import log_softmax, logsumexp, relu, sigmoid, softmax, softplus", ""]
        for name, arr in self.consts.items():
            out.append(f"{name} = np.array({arr.tolist()!r})")
        out.append("")
        twins = []
        for f in [*self.helpers, fn]:
            params = ", ".join(self.signature(f))
            for tag, col in (("", out), ("__i", twins), ("__v", twins)):
                if getattr(f, "checkpointed", False):
                    col.append("@gradc.checkpoint")
                col.append(f"def {f.name}{tag}({params}):")
                col.append(f'    """fuzz example {self.uid}: {f.name}{tag}"""')
                for indent, real, inst in f.lines:
                    if tag == "__i":
                        text = _twin_calls(inst, self.helpers, tag)
                    elif tag == "__v":  # value semantics: every in-place update makes a new array
                        text = _twin_calls(_AUG.sub(r"\1 = \1 \2 (\3)", real), self.helpers, tag)
                    else:
                        text = real
                    col.append("    " * indent + text)
                col.append("")
        return "\n".join(out + ["", "# --- instrumented twins (oracle only) ---", ""] + twins) + "\n"

    def signature(self, f: Fn):
        if f.name == "loss":
            return list(self.arg_names)
        for name, params, default in self.helper_sigs:
            if name == f.name:
                return [p if p != "scale" else f"scale={default}" for p in params]
        raise AssertionError(f.name)


_AUG = re.compile(r"^(\w+) ([-+*/])= (.*)$")


def _twin_calls(text, helpers, tag):
    for h in helpers:
        text = text.replace(f"{h.name}(", f"{h.name}{tag}(")
    return text


@st.composite
def programs(draw, disable=frozenset(), counter=[0]):  # noqa: B006 (a module-lifetime counter)
    """Random programs. `disable` leaves out generator features, to look past known bugs:
    expression kinds ("where_nan", "matmul", ...), statement kinds ("alias", "loop",
    "helper", "unpack"), "inplace" (no in-place updates at all) and "zero_d" (no 0-d
    array arguments)."""
    counter[0] += 1
    return Gen(draw, counter[0], disable).program()
