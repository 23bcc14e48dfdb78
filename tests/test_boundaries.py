"""Derivatives at the edges: domain boundaries, infinities, ties, and `where` traps.

1. Registry-driven: every primitive with a scalar SymPy formula (prim.sympy) is
   differentiated by gradc at boundary points (0, ±1, ±inf, ties for binary ones) and
   compared with SymPy's limit of the derivative, taken from the side(s) where the
   function is real and finite. Where the one-sided limits disagree (a kink) the
   point must be listed in CONVENTIONS, with the value gradc returns and why; a new
   primitive is covered the moment it is registered, and a kink nobody decided on
   fails the test.
2. The `np.where` NaN trap (JAX's "double where"): the unselected branch's local
   derivative never reaches the gradient, in reverse mode, forward mode and
   Hessian-vector products; likewise for maximum / minimum / clip / relu selections.
3. Conventions of rules that have no scalar formula: reductions with ties, logsumexp
   at infinities, pow with constant exponents, empty means.
"""
from __future__ import annotations

import functools
import math
import signal

import numpy as np
import pytest
import sympy as sp

import gradc
from gradc.api import compile_program
from gradc.ir import Aval, Builder, Program, Value
from gradc.primitives import registry

INF = math.inf
F64 = np.dtype(np.float64)
WITH_SYMPY = [p for p in registry.all() if p.sympy is not None]

UNARY_POINTS = [-INF, -1.0, 0.0, 1.0, INF]
BINARY_VALUES = [-INF, -1.0, 0.0, 0.5, 1.0, 2.0, INF]

# Coordinates whose infinite values are not boundary points of the primitive.
NOT_INFINITE = {
    ("pow", 1): "an infinite exponent: x**±inf is 0, 1 or inf by cases (no derivative to speak of)",
}

# Kinks: (primitive, point, operand) -> (gradc's derivative there, the reason).
CONVENTIONS = {
    ("abs", (0.0,), 0): (0.0, "sign(0) = 0: the smallest subgradient (PyTorch's and TF's; JAX gives 1)"),
    ("relu", (0.0,), 0): (0.0, "relu'(0) = 0, as JAX and PyTorch"),
}
for _name, _first in [("maximum", 1.0), ("minimum", 1.0)]:
    # At a tie the whole cotangent goes to the first argument (Python's max(a, b) returns a),
    # at finite ties and where both arguments are the same infinity.
    for _v in BINARY_VALUES:
        CONVENTIONS[(_name, (_v, _v), 0)] = (1.0, "tie: all to the first argument")
        CONVENTIONS[(_name, (_v, _v), 1)] = (0.0, "tie: nothing to the second argument")
for _v in (-INF, INF):
    # the same infinity twice: the limit depends on the path; along x = y it is 1/2 each
    # (and the derivative along (1, 1) is exactly 1, as everywhere else)
    CONVENTIONS[("logaddexp", (_v, _v), 0)] = (0.5, "limit along x = y")
    CONVENTIONS[("logaddexp", (_v, _v), 1)] = (0.5, "limit along x = y")
    CONVENTIONS[("logaddexp2", (_v, _v), 0)] = (0.5, "limit along x = y")
    CONVENTIONS[("logaddexp2", (_v, _v), 1)] = (0.5, "limit along x = y")
# hypot(x, y) = |(x, y)|: at the origin it is a cone (a kink in every direction); gradc gives 0
# there, as abs'(0) = 0. Where both are infinite the limit depends on the path; along |x| = |y|
# it is sign/sqrt(2) for each.
CONVENTIONS[("hypot", (0.0, 0.0), 0)] = (0.0, "the origin: the smallest subgradient, as abs'(0) = 0")
CONVENTIONS[("hypot", (0.0, 0.0), 1)] = (0.0, "the origin: the smallest subgradient, as abs'(0) = 0")
for _a in (-INF, INF):
    for _b in (-INF, INF):
        CONVENTIONS[("hypot", (_a, _b), 0)] = (math.copysign(math.sqrt(0.5), _a), "limit along |x| = |y|")
        CONVENTIONS[("hypot", (_a, _b), 1)] = (math.copysign(math.sqrt(0.5), _b), "limit along |x| = |y|")

# Known gaps, each reported: (primitive, point, operand) -> why. The test asserts that
# the gap is still there, so an entry goes stale (and fails) once it is fixed.
KNOWN_GAPS = {
    ("swish", (INF,), 0): "user primitive (examples/user_primitive.py): its derivative is SymPy's diff "
                          "lambdified as written, x·e^-x/(1+e^-x)² + ..., which is inf·0 = NaN at +inf",
}

t = sp.Symbol("t", positive=True)
TINY = [sp.Float("1e-30", 60), sp.Float("1e-40", 60)]


class _Timeout(Exception):
    pass


def _with_alarm(seconds, fn, *args):
    def handler(*_):
        raise _Timeout
    old = signal.signal(signal.SIGALRM, handler)
    signal.alarm(seconds)
    try:
        return fn(*args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _num(e):
    try:
        v = sp.N(e, 50)
    except Exception:
        return None
    if v.free_symbols or v.has(sp.nan, sp.zoo) or v.has(sp.AccumBounds) or not v.is_real:
        return None
    return v if v.is_finite else None


def _rate_paths(point, i):
    """Ways to approach `point` varying operand i: (rate, side) per coordinate. A finite
    coordinate j != i stays put; operand i comes from each side; infinite coordinates go
    to infinity like rate/t (several rates where two are infinite: the limit may depend on it)."""
    infinite = [j for j, p in enumerate(point) if math.isinf(p)]
    rates = [(1, 1), (1, 2), (2, 1)] if len(infinite) == 2 else [(1, 1)]
    sides = [0] if math.isinf(point[i]) else [-1, 1]
    return [(r, s) for r in rates for s in sides]


def _coord(p, j, i, rate, side):
    if math.isinf(p):
        return (1 if p > 0 else -1) * rate[j] / t
    return sp.nsimplify(p) + (side * t if j == i else 0)


def _analyse(prim, point, i):
    """What the derivative of prim with respect to operand i is at `point`:
    ("value", v) (v may be ±inf), ("nan",) where it has no limit (oscillates), ("outside",)
    where the function is not real on any side, ("kink", limits) where sides disagree."""
    syms = sp.symbols("x y", real=True)[: prim.arity]
    F = prim.sympy(*syms)
    limits = []
    for rate, side in _rate_paths(point, i):
        others = {s: _coord(p, j, i, rate, side) for j, (s, p) in enumerate(zip(syms, point)) if j != i}
        Fi = F.subs(others)
        u = _coord(point[i], i, i, rate, side)
        path = Fi.subs(syms[i], u)
        if any(_num(path.subs(t, h)) is None for h in TINY):
            continue  # not real and finite on this side: outside the domain
        d = sp.diff(Fi, syms[i])
        limits.append(_limit(d, syms[i], u, point[i], Fi))
    if not limits:
        return ("outside",)
    if any(isinstance(v, str) for v in limits):
        return ("nan",) if all(v == "nan" for v in limits) else ("kink", limits)
    if all(v == limits[0] for v in limits):
        return ("value", limits[0])
    return ("kink", limits)


def _limit(d, s, u, p, Fi):
    """lim_{t→0+} d(u(t)) as a float (±inf allowed), or "nan" if it oscillates."""
    if not math.isinf(p):
        exact = d.subs(s, sp.nsimplify(p))
        v0 = _num(exact)
        if v0 is not None:  # continuous there? compare with the values just beside p
            near = [_num(d.subs(s, u).subs(t, h)) for h in TINY]
            if all(v is not None and abs(v - v0) <= 1e-20 * (1 + abs(v0)) for v in near):
                return float(v0)
    try:
        L = _with_alarm(10, sp.limit, d.subs(s, u), t, 0, "+")
    except (_Timeout, NotImplementedError, ValueError, TypeError):
        L = sp.nan
    if isinstance(L, sp.AccumBounds):
        return "nan"
    if L is sp.nan or L.has(sp.nan):
        return _quotient(Fi, s, u)
    if L is sp.zoo:
        return "nan"
    return float(L)


def _quotient(Fi, s, u):
    """Where SymPy cannot say: the one-sided difference quotient, at 50 digits."""
    vals = []
    for h in TINY:
        a, b = _num(Fi.subs(s, u).subs(t, h)), _num(Fi.subs(s, u).subs(t, h / 2))
        du = _num((u.subs(t, h) - u.subs(t, h / 2)))
        if a is None or b is None or not du:
            return "nan"
        vals.append((a - b) / du)
    if abs(vals[0] - vals[1]) <= 1e-12 * (1 + abs(vals[0])):
        return float(vals[1])
    return "nan"


@functools.lru_cache(maxsize=None)
def _points(name):
    prim = registry.get(name)
    if prim.arity == 1:
        return [(v,) for v in UNARY_POINTS]
    pts = []
    for a in BINARY_VALUES:
        for b in BINARY_VALUES:
            if any(math.isinf(v) and (name, j) in NOT_INFINITE for j, v in enumerate((a, b))):
                continue
            pts.append((a, b))
    return pts


def _gradc_grads(prim, pts):
    cols = [np.array([p[j] for p in pts], dtype=np.float64) for j in range(prim.arity)]
    inputs = [Value(Aval(c.shape, F64), n) for c, n in zip(cols, "xy")]
    b = Builder()
    with b:
        s = b.bind("sum", b.bind(prim.name, *inputs))
    spec = compile_program(Program(f"f_{prim.name}", inputs, b.ops, [s],
                                   wrt=tuple(range(prim.arity))), grouped=True)
    with np.errstate(all="ignore"):
        _, grads = spec.value_and_grad_fn(*cols)
        values = prim.evaluate(*cols)
    return [np.asarray(g) for g in grads], np.asarray(values), spec.source


def _same(got, want):
    if math.isnan(want):
        return math.isnan(got)
    if math.isinf(want):
        return got == want
    return abs(got - want) <= 1e-9 * (1 + abs(want))


@pytest.mark.parametrize("prim", WITH_SYMPY, ids=lambda p: p.name)
def test_derivative_at_boundaries_matches_sympy_limits(prim):
    pts = _points(prim.name)
    grads, values, source = _gradc_grads(prim, pts)
    problems, tested = [], 0
    for k, pt in enumerate(pts):
        if np.isnan(values[k]):
            continue  # the value itself is NaN (0/0, inf - inf): no derivative to check
        for i in range(prim.arity):
            got = float(grads[i][k])
            kind, *info = _analyse(prim, pt, i)
            key = (prim.name, pt, i)
            if kind == "outside":
                continue
            if kind == "kink":
                if key not in CONVENTIONS:
                    problems.append(f"{key}: one-sided limits {info[0]} differ; gradc gives {got}: "
                                    f"add the convention to CONVENTIONS")
                    continue
                want, _reason = CONVENTIONS[key]
                finite = [v for v in info[0] if not isinstance(v, str)]
                if finite and not min(finite) <= want <= max(finite):
                    problems.append(f"{key}: convention {want} is not between the limits {info[0]}")
            elif key in CONVENTIONS:
                want = CONVENTIONS[key][0]  # a tie the limits could not see (e.g. max(inf, inf))
            else:
                want = math.nan if kind == "nan" else info[0]
            tested += 1
            if key in KNOWN_GAPS:
                if _same(got, want):
                    problems.append(f"{key}: fixed (gradc {got}): drop it from KNOWN_GAPS")
            elif not _same(got, want):
                problems.append(f"{key}: gradc {got}, expected {want} ({kind})")
    assert tested, f"{prim.name}: no boundary point was checked"
    assert not problems, "\n".join(problems) + "\n" + source


def test_conventions_name_known_kinks():
    """Every CONVENTIONS entry is a point the registry-driven test visits and a kink
    (or a tie at infinity that the limit along the diagonal cannot tell from a kink)."""
    for (name, pt, i), (value, reason) in CONVENTIONS.items():
        assert name in registry and registry.get(name).sympy is not None, name
        assert pt in _points(name), (name, pt)
        assert reason
        kind = _analyse(registry.get(name), pt, i)[0]
        assert kind in ("kink", "value"), (name, pt, i, kind)


# ---------------------------------------------------------------------------
# 2. The where trap: the unselected branch's derivative never reaches the gradient


def _grad(fn, *args, wrt=0):
    with np.errstate(all="ignore"):
        return gradc.compile(fn, wrt=wrt).grad(*args)


def _fd(fn, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (fn(xp) - fn(xm)) / (2 * eps)
    return g


def where_log(x):
    return np.sum(np.where(x > 1, np.log(x), x - 1))


def where_sqrt(d):
    return np.sum(np.where(d > 0, np.sqrt(d), 0.0))


def where_chain(x):
    return np.sum(np.where(x > 0, np.log(x) * 2 + 1, 3 * x))


def where_nested(x):
    return np.sum(np.where(x > -1, np.where(x > 0, np.sqrt(x), x * x), 1 / (x + 1)))


def where_loop(x):
    s = 0.0
    for k in range(3):
        s = s + np.sum(np.where(x > k, np.log(x - k), 0.0))
    return s


def max_log(x):
    return np.sum(np.maximum(np.log(x), -5.0))


def min_sqrt(x):
    return np.sum(np.minimum(np.sqrt(x), 1.0))


def clip_log(x):
    return np.sum(np.clip(np.log(x), -3.0, 3.0))


def relu_log(x):
    return np.sum(gradc.nn.relu(np.log(x)))


def sqrt_of_max(x):
    return np.sum(np.sqrt(np.maximum(x, 0.0)) + x)


TRAPS = [
    # (function, point, exact gradient there)
    (where_log, [0.0, 0.5, 2.0, 1.0], [1.0, 1.0, 0.5, 1.0]),
    (where_sqrt, [-1.0, 0.0, 4.0], [0.0, 0.0, 0.25]),
    (where_chain, [0.0, -2.0, 0.5], [3.0, 3.0, 4.0]),
    (where_nested, [0.0, -0.5, -2.0, 4.0, -3.0], [0.0, -1.0, -1.0, 0.25, -0.25]),
    (where_loop, [0.0, 1.0, 1.5, 3.0], [0.0, 1.0, 1 / 1.5 + 1 / 0.5, 1 / 3 + 1 / 2 + 1.0]),
    (max_log, [0.0, 1e-3, 1.0], [0.0, 0.0, 1.0]),
    (min_sqrt, [0.0, 0.25, 4.0], [math.inf, 1.0, 0.0]),
    (clip_log, [0.0, 1.0, 1e3], [0.0, 1.0, 0.0]),
    (relu_log, [0.0, 0.5, 2.0], [0.0, 0.0, 0.5]),
    (sqrt_of_max, [-1.0, 4.0], [1.0, 1.25]),
]


@pytest.mark.parametrize("fn,point,exact", TRAPS, ids=[f[0].__name__ for f in TRAPS])
def test_unselected_branch_never_reaches_the_gradient(fn, point, exact):
    x = np.array(point)
    np.testing.assert_allclose(_grad(fn, x), exact, rtol=1e-12, atol=0)


@pytest.mark.parametrize("fn,point,exact", TRAPS, ids=[f[0].__name__ for f in TRAPS])
def test_masked_gradients_match_finite_differences_away_from_branch_points(fn, point, exact):
    x = np.random.default_rng(0).uniform(0.05, 4.0, size=7) + 0.013  # never 0, 1, 2 or a bound
    x[::2] *= -1
    with np.errstate(all="ignore"):
        fd = _fd(fn, x)
        g = _grad(fn, x)
    ok = np.isfinite(fd)
    np.testing.assert_allclose(g[ok], fd[ok], rtol=1e-5, atol=1e-6)


def test_the_mask_appears_only_where_a_selection_is():
    src = gradc.compile(where_log, args=(np.ones(3),)).source
    assert "np.where(v1, v2_bar / x, 0.0)" in src.replace("  ", " "), src
    plain = gradc.compile(sum_log, args=(np.ones(3),)).source
    assert "where" not in plain


def test_hvp_through_where():
    """H v by forward-over-reverse and reverse-over-reverse: the second derivative of the
    selected branch (−1/x² for log), 0 in the linear branch, and no NaN at x = 0."""
    x = np.array([0.0, 0.5, 2.0, 4.0])
    v = np.array([1.0, -2.0, 0.5, 3.0])
    exact = np.where(x > 1, -1 / np.where(x > 1, x, 1) ** 2, 0.0) * v
    c = gradc.compile(where_log)
    with np.errstate(all="ignore"):
        for mode in ("forward-over-reverse", "reverse-over-reverse"):
            np.testing.assert_allclose(c.hvp(x, v, mode=mode), exact, rtol=1e-12, err_msg=mode)


def test_hvp_through_where_sqrt():
    d = np.array([-1.0, 0.0, 4.0])
    v = np.ones(3)
    c = gradc.compile(where_sqrt)
    with np.errstate(all="ignore"):
        h = c.hvp(d, v)
    np.testing.assert_allclose(h, [0.0, 0.0, -0.25 / 8], rtol=1e-12)


def test_jvp_of_a_selected_constant_is_zero():
    """Forward mode: sqrt(where(c, u, 0)) is constant where c is false; its tangent there
    is 0, not 0 / (2 sqrt(0)) = NaN."""
    def f(u):
        return np.sum(np.sqrt(np.where(u > 0, u, 0.0)))
    c = gradc.compile(f)
    u = np.array([-1.0, 4.0])
    with np.errstate(all="ignore"):
        _, tangent = c.jvp((u,), np.array([1.0, 1.0]))
    assert tangent == pytest.approx(0.25)


# ---------------------------------------------------------------------------
# 3. pow, reductions, logsumexp, empty means


def test_polynomial_from_k_equal_zero_has_a_finite_gradient_at_zero():
    coeffs = np.array([1.0, 2.0, 3.0, 4.0])

    def poly(x):
        s = 0.0
        for k in range(4):
            s = s + coeffs[k] * x ** k
        return np.sum(s)
    x = np.array([0.0, 1.0, -2.0])
    np.testing.assert_allclose(_grad(poly, x), 2 + 6 * x + 12 * x**2, rtol=1e-14)


def test_pow_exponent_derivative_at_zero_base():
    def f(x, p):
        return np.sum(x ** p)
    x = np.array([0.0, 0.0, 1.0, 2.0, 0.0])
    p = np.array([2.0, 0.5, 3.0, 1.5, 0.0])
    gp = _grad(f, x, p, wrt=1)
    np.testing.assert_allclose(gp, x ** p * np.log(np.where(x == 0, 1, x)), rtol=1e-14)
    assert gp[0] == 0 and gp[1] == 0 and gp[4] == 0
    gx = _grad(f, x, p, wrt=0)
    np.testing.assert_allclose(gx, [0.0, np.inf, 3.0, 1.5 * 2 ** 0.5, 0.0], rtol=1e-14)


def test_pow_keeps_nan_where_undefined():
    def f(x, p):
        return np.sum(x ** p)
    x, p = np.array([-2.0, 0.0]), np.array([0.5, -1.0])
    gx, gp = (_grad(f, x, p, wrt=0), _grad(f, x, p, wrt=1))
    assert np.isnan(gx[0]) and np.isnan(gp[0])  # negative base, fractional exponent
    assert np.isnan(gp[1])  # 0 ** y is inf for y < 0
    assert gx[1] == -np.inf


def test_pow_with_constant_exponent_arrays():
    def f(x):
        return np.sum(x ** np.array([0.0, 1.0, 2.0, 3.0]))
    np.testing.assert_allclose(_grad(f, np.zeros(4)), [0.0, 1.0, 0.0, 0.0])


def test_logsumexp_at_infinities():
    f = lse
    np.testing.assert_allclose(_grad(f, np.full(4, -np.inf)), [0.25] * 4)
    np.testing.assert_allclose(_grad(f, np.array([np.inf, 0.0, np.inf])), [0.5, 0.0, 0.5])
    np.testing.assert_allclose(_grad(f, np.array([-np.inf, 1.0, 1.0])), [0.0, 0.5, 0.5])
    np.testing.assert_allclose(_grad(f, np.array([1000.0, 0.0])), [1.0, 0.0])


def sum_sigmoid(x):
    return np.sum(gradc.nn.sigmoid(x))


def sum_softplus(x):
    return np.sum(gradc.nn.softplus(x))


def sum_tanh(x):
    return np.sum(np.tanh(x))


def sum_exp(x):
    return np.sum(np.exp(x))


def sum_log(x):
    return np.sum(np.log(x))


def sum_sqrt(x):
    return np.sum(np.sqrt(x))


def sum_abs(x):
    return np.sum(np.abs(x))


def sum_logaddexp_0(x):
    return np.sum(np.logaddexp(x, 0.0))


def sum_logaddexp_xx(x):
    return np.sum(np.logaddexp(x, x))


def sum_reciprocal(x):
    return np.sum(1.0 / x)


def sum_relu(x):
    return np.sum(gradc.nn.relu(x))


def sum_maximum_x0(x):
    return np.sum(np.maximum(x, 0.0))


def sum_maximum_0x(x):
    return np.sum(np.maximum(0.0, x))


def mean(x):
    return np.mean(x)


def lse(x):
    return gradc.nn.logsumexp(x)


@pytest.mark.parametrize("fn,x,exact", [
    (sum_sigmoid, [-np.inf, -800.0, 800.0, np.inf], [0.0] * 4),
    (sum_softplus, [-np.inf, -800.0, 800.0, np.inf], [0.0, 0.0, 1.0, 1.0]),
    (sum_tanh, [-np.inf, np.inf], [0.0, 0.0]),
    (sum_exp, [-np.inf, 1000.0], [0.0, np.inf]),
    (sum_log, [0.0, np.inf], [np.inf, 0.0]),
    (sum_sqrt, [0.0, np.inf], [np.inf, 0.0]),
    (sum_abs, [0.0, -0.0], [0.0, 0.0]),
    (sum_logaddexp_0, [-np.inf, np.inf], [0.0, 1.0]),
    (sum_logaddexp_xx, [-np.inf, np.inf, 0.0], [1.0, 1.0, 1.0]),
    (sum_reciprocal, [0.0, np.inf], [-np.inf, -0.0]),
], ids=lambda v: getattr(v, "__name__", ""))
def test_limits_at_infinities(fn, x, exact):
    np.testing.assert_array_equal(_grad(fn, np.array(x)), exact)


def test_logaddexp_second_derivative_at_a_tie():
    """The tie fix for (inf, inf) must not break the Hessian at finite ties."""
    c = gradc.compile(sum_logaddexp_0)
    h = c.hvp(np.array([0.0, 1.0]), np.ones(2))
    s = 1 / (1 + np.exp(-np.array([0.0, 1.0])))
    np.testing.assert_allclose(h, s * (1 - s), rtol=1e-12)


@pytest.mark.parametrize("name", ["max", "min"])
def test_reduction_ties_split_evenly(name):
    def fmax(x):
        return np.max(x)

    def fmin(x):
        return np.min(x)
    f = fmax if name == "max" else fmin
    x = np.array([2.0, 2.0, -1.0, 2.0]) * (1 if name == "max" else -1)
    np.testing.assert_allclose(_grad(f, x), [1 / 3, 1 / 3, 0.0, 1 / 3])


def test_maximum_and_minimum_ties_go_to_the_first_argument():
    def f(x, y):
        return np.sum(np.maximum(x, y) + 2 * np.minimum(x, y))
    x = np.array([1.0, 0.0, -np.inf, np.inf])
    np.testing.assert_array_equal(_grad(f, x, x.copy(), wrt=0), [3.0] * 4)
    np.testing.assert_array_equal(_grad(f, x, x.copy(), wrt=1), [0.0] * 4)


def test_clip_bounds_are_inside():
    def f(x):
        return np.sum(np.clip(x, -1.0, 1.0))
    np.testing.assert_array_equal(_grad(f, np.array([-1.0, 1.0, 1.5, -2.0, 0.0])), [1, 1, 0, 0, 1])


def test_relu_and_abs_at_zero():
    np.testing.assert_array_equal(_grad(sum_relu, np.zeros(2)), [0.0, 0.0])
    np.testing.assert_array_equal(_grad(sum_maximum_x0, np.zeros(2)), [1.0, 1.0])
    np.testing.assert_array_equal(_grad(sum_maximum_0x, np.zeros(2)), [0.0, 0.0])


@pytest.mark.filterwarnings("ignore:Mean of empty slice")
def test_mean_of_empty_has_an_empty_gradient():
    with np.errstate(all="ignore"):
        g = _grad(mean, np.zeros((0,)))
    assert g.shape == (0,)


def test_division_by_zero():
    def f(x, y):
        return np.sum(x / y)
    x, y = np.array([1.0, -1.0]), np.array([0.0, 0.0])
    np.testing.assert_array_equal(_grad(f, x, y, wrt=0), [np.inf, np.inf])
    np.testing.assert_array_equal(_grad(f, x, y, wrt=1), [-np.inf, np.inf])


def where_chain_loop(h):
    # each iteration selects from the last: the masks are and-ed across iterations
    for k in range(4):
        h = np.where(h > 0.5, np.sqrt(h), 0.0)
    return np.sum(h)


@pytest.mark.parametrize("policy", [None, "segments", gradc.runtime.checkpoint.Revolve(snapshots=1)],
                         ids=["stored", "segments", "revolve"])
def test_masks_cross_checkpointed_loop_steps(policy):
    """Masks and-ed over iterations, with checkpointing: each step's adjoint reads the
    mask a later step made; results are the stored-everything ones, bit for bit."""
    h = np.array([0.0, 0.3, 0.9, 4.0, 100.0, -1.0])
    exact = np.zeros_like(h)
    for i, v in enumerate(h):
        vals, d = [v], 1.0
        for _ in range(4):
            if vals[-1] > 0.5:
                d *= 0.5 / np.sqrt(vals[-1])
                vals.append(np.sqrt(vals[-1]))
            else:
                d, vals = 0.0, vals + [0.0]
        exact[i] = d
    with np.errstate(all="ignore"):
        g = gradc.compile(where_chain_loop, checkpoint=policy).grad(h)
    np.testing.assert_allclose(g, exact, rtol=1e-13, atol=0)
