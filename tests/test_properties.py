"""Property tests: random well-formed programs, their compiled gradients against
finite differences.

A Hypothesis strategy builds SSA programs directly with the IR Builder: one to
three inputs whose shapes broadcast against each other ((3, 1) with (4,), (1,)
with (2, 3), 0-d, ...), then 3 to 10 ops drawn from unary and binary elementwise
primitives, reductions with axis/keepdims, shape operations (transpose, reshape,
expand_dims, broadcast_to, getitem, sum_to), matmul/outer, softmax, where over a
comparison, clip. Every value that no later op uses is contracted with a fixed
random cotangent and summed into the scalar output, so every computed value
matters. Domains are kept safe by construction (log/sqrt/div/pow only see exp(v)
or square(v) + 1) and magnitudes by interval bounds; kinks (abs, relu,
maximum/minimum, max/min reductions, comparisons, clip) are checked to be far from
the sample point before differencing.

The reference is an op-by-op evaluation of the *unoptimised* program with each
primitive's NumPy implementation, independent of gradc's passes and code generator.
Runs derandomised (no example database), so CI is deterministic.
"""
from __future__ import annotations

import math
import os

import numpy as np
from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

from gradc.api import compile_program
from gradc.ir import Aval, Builder, Const, Program, Value

F64 = np.dtype(np.float64)
F32 = np.dtype(np.float32)
MAX_BOUND = 200.0  # |value| bound every intermediate keeps (interval arithmetic, conservative)
KINK_MARGIN = 1e-3  # distance a non-smooth op's argument keeps from its kink
H = 1e-4  # finite-difference step (5-point stencil: error O(H^4))

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# The long profile: GRADC_PROPERTY_SCALE=200 runs 200x the examples, randomised (not the fixed
# CI sequence); the default profile is deterministic and fast.
SCALE = int(os.environ.get("GRADC_PROPERTY_SCALE", "1"))
if SCALE > 1:
    SETTINGS["derandomize"] = False


# ---------------------------------------------------------------------------
# The generator


def _broadcastable(*shapes) -> bool:
    try:
        np.broadcast_shapes(*shapes)
        return True
    except ValueError:
        return False


class Gen:
    """Draws a program op by op; `pool` holds (value, bound on |value|)."""

    def __init__(self, draw, dtype):
        self.draw = draw
        self.dtype = np.dtype(dtype)
        self.rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        self.b = Builder()
        self.pool: list[tuple[Value, float]] = []
        self.log: list[str] = []

    # -- helpers --------------------------------------------------------------

    def pick(self, pred=lambda v, bound: True):
        """A pool entry satisfying pred, shrinking towards the most recent one."""
        cands = [e for e in self.pool if pred(*e)]
        if not cands:
            return None
        k = self.draw(st.integers(0, len(cands) - 1))
        return cands[len(cands) - 1 - k]

    def const(self, shape, lo=-1.0, hi=1.0):
        return np.asarray(self.rng.uniform(lo, hi, size=shape)).astype(self.dtype)

    def bind(self, name, *operands, **params):
        v = self.b.bind(name, *operands, **params)
        self.log.append(f"{name}({', '.join(_show(o) for o in operands)}"
                        f"{''.join(f', {k}={p!r}' for k, p in params.items())}) -> {v.aval}")
        return v

    def push(self, v, bound):
        self.pool.append((v, float(bound)))
        return v

    def other_operand(self, shape):
        """A second operand broadcastable with `shape`: a pool value (maybe the same
        one), a Python float, or a constant array."""
        kind = self.draw(st.sampled_from(["value", "value", "float", "array"]))
        if kind == "value":
            e = self.pick(lambda v, b: _broadcastable(v.shape, shape))
            if e is not None:
                return e
        if kind == "array" and shape:
            k = self.draw(st.integers(1, len(shape)))
            sub = tuple(d if self.draw(st.booleans()) else 1 for d in shape[len(shape) - k:])
            return self.const(sub), 1.0
        x = self.draw(st.sampled_from([0.5, -1.5, 2.0, 0.0, 1.0]))
        return x, abs(x)

    # -- op families ------------------------------------------------------------

    def unary(self, a, B):
        name = self.draw(st.sampled_from(
            ["neg", "exp", "expm1", "tanh", "sin", "cos", "arctan", "sigmoid", "softplus",
             "square", "abs", "relu", "copy"]))
        bound = {"neg": B, "exp": math.exp(B), "expm1": math.exp(B), "tanh": 1, "sin": 1,
                 "cos": 1, "arctan": 1.6, "sigmoid": 1, "softplus": B + 0.7, "square": B * B,
                 "abs": B, "relu": B, "copy": B}[name]
        return self.bind(name, a), bound

    def positive(self, a, B):
        """exp(a) or square(a) + 1: strictly positive, with (lower, upper) bounds."""
        if B <= 3 and self.draw(st.booleans()):
            return self.bind("exp", a), math.exp(-B), math.exp(B)
        return self.bind("add", self.bind("square", a), 1.0), 1.0, B * B + 1

    def safe(self, a, B):
        name = self.draw(st.sampled_from(["log", "sqrt", "log1p", "div", "pow"]))
        if B > 10:
            a, B = self.bind("tanh", a), 1.0
        pos, lo, hi = self.positive(a, B)
        if name == "log":
            return self.bind(name, pos), max(abs(math.log(lo)), math.log(hi))
        if name == "sqrt":
            return self.bind(name, pos), math.sqrt(hi)
        if name == "log1p":
            return self.bind(name, pos), math.log1p(hi)
        if name == "div":
            num, Bn = self.other_operand(pos.shape)
            return self.bind("div", num, pos), Bn / lo
        # pow: positive base, exponent bounded by 2 in magnitude
        e, Be = self.other_operand(pos.shape)
        if Be > 2:
            e, Be = (self.bind("tanh", e), 1.0) if isinstance(e, Value) else (1.5, 1.5)
        return self.bind("pow", pos, e), max(hi, 1 / lo) ** Be

    def binary(self, a, B):
        name = self.draw(st.sampled_from(["add", "sub", "mul", "mul", "maximum", "minimum",
                                          "logaddexp"]))
        o, Bo = self.other_operand(a.shape)
        x, y = (o, a) if self.draw(st.booleans()) else (a, o)
        bound = {"add": B + Bo, "sub": B + Bo, "mul": B * Bo, "maximum": max(B, Bo),
                 "minimum": max(B, Bo), "logaddexp": max(B, Bo) + 0.7}[name]
        return self.bind(name, x, y), bound

    def axis(self, ndim):
        if ndim == 0:
            return None
        mode = self.draw(st.sampled_from(["none", "int", "tuple"]))
        if mode == "none":
            return None
        if mode == "int":
            return self.draw(st.integers(-ndim, ndim - 1))
        axes = self.draw(st.lists(st.integers(0, ndim - 1), unique=True, max_size=ndim))
        return tuple(axes)

    def reduce(self, a, B):
        name = self.draw(st.sampled_from(["sum", "mean", "max", "min", "logsumexp"]))
        axis = self.axis(a.ndim)
        keepdims = self.draw(st.booleans())
        axes = range(a.ndim) if axis is None else [axis] if isinstance(axis, int) else axis
        count = int(np.prod([a.shape[i] for i in axes], dtype=np.int64))
        bound = {"sum": B * count, "mean": B, "max": B, "min": B,
                 "logsumexp": B + math.log(max(count, 1))}[name]
        return self.bind(name, a, axis=axis, keepdims=keepdims), bound

    def shape_op(self, a, B):
        name = self.draw(st.sampled_from(["transpose", "reshape", "expand_dims", "broadcast_to",
                                          "getitem", "sum_to", "getitem", "scatter"]))
        shape, nd = a.shape, a.ndim
        if name == "transpose":
            axes = None if self.draw(st.booleans()) else tuple(self.draw(st.permutations(range(nd))))
            return self.bind("transpose", a, axes=axes), B
        if name == "reshape":
            options = [(-1,), tuple(reversed(shape)), tuple(d for d in shape if d != 1)]
            pos = self.draw(st.integers(0, nd))
            options.append(shape[:pos] + (1,) + shape[pos:])
            if a.aval.size == 1:
                options.append(())
            if nd >= 2:
                options.append(shape[:-2] + (shape[-2] * shape[-1],))
            return self.bind("reshape", a, shape=self.draw(st.sampled_from(options))), B
        if name == "expand_dims":
            return self.bind("expand_dims", a, axis=self.draw(st.integers(-nd - 1, nd))), B
        if name == "broadcast_to":
            lead = tuple(self.draw(st.lists(st.integers(1, 3), max_size=1)))
            new = lead + tuple(self.draw(st.integers(1, 3)) if d == 1 else d for d in shape)
            return self.bind("broadcast_to", a, shape=new), B
        if name == "sum_to":
            k = self.draw(st.integers(0, nd))
            target = tuple(d if self.draw(st.booleans()) else 1 for d in shape[nd - k:])
            return self.bind("sum_to", a, shape=target), B * a.aval.size / max(1, int(np.prod(target)))
        index = self.index(shape)
        if name == "scatter":  # a with everything outside a[index] zeroed
            part = self.bind("getitem", a, index=index)
            return self.bind("scatter", part, index=index, shape=shape), B
        return self.bind("getitem", a, index=index), B

    def index(self, shape):
        """A basic index into `shape`: ints, non-empty slices, reversal, strides, None, ...,"""
        nd = len(shape)
        ellipsis = nd > 0 and self.draw(st.booleans())
        k = self.draw(st.integers(0, nd))
        dims = shape[nd - k:] if ellipsis else shape[:k]
        items = []
        for d in dims:
            kind = self.draw(st.sampled_from(["int", "slice", "rev", "step", "all"]))
            if kind == "int":
                items.append(self.draw(st.integers(-d, d - 1)))
            elif kind == "slice":
                start = self.draw(st.integers(0, d - 1))
                items.append(slice(start, self.draw(st.integers(start + 1, d))))
            elif kind == "rev":
                items.append(slice(None, None, -1))
            elif kind == "step":
                items.append(slice(None, None, 2))
            else:
                items.append(slice(None))
        if self.draw(st.booleans()):
            items.insert(self.draw(st.integers(0, len(items))), None)
        return ((Ellipsis,) + tuple(items)) if ellipsis else tuple(items)

    def matmul(self, a, B):
        if a.ndim == 0:
            return None
        if a.ndim == 1 and self.draw(st.booleans()):  # outer product of two vectors
            e = self.pick(lambda v, b: v.ndim == 1)  # a itself qualifies
            return self.bind("outer", a, e[0]), B * e[1]
        if a.ndim <= 2 and self.draw(st.booleans()):  # constant @ a
            k = a.shape[0]
            shape = (k,) if self.draw(st.booleans()) else (self.draw(st.integers(1, 3)), k)
            return self.bind("matmul", self.const(shape), a), B * k
        k = a.shape[-1]

        def fits(v, bound):  # can v be the right operand of a @ v?
            if v.ndim == 0 or v.shape[-1 if v.ndim == 1 else -2] != k:
                return False
            if (a.ndim == 1 and v.ndim > 2) or (v.ndim == 1 and a.ndim > 2):
                return False  # matmul of a vector with a batch of matrices: not supported
            return v.ndim == 1 or a.ndim == 1 or _broadcastable(a.shape[:-2], v.shape[:-2])

        e = self.pick(fits) if self.draw(st.booleans()) else None
        if e is None:
            vector = a.ndim <= 2 and self.draw(st.booleans())
            e = (self.const((k,) if vector else (k, self.draw(st.integers(1, 3)))), 1.0)
        return self.bind("matmul", a, e[0]), B * e[1] * k

    def softmax(self, a, B):
        if a.ndim == 0:
            return None
        name = self.draw(st.sampled_from(["softmax", "log_softmax"]))
        axis = self.draw(st.integers(-a.ndim, a.ndim - 1))
        n = a.shape[axis]
        return self.bind(name, a, axis=axis), 1.0 if name == "softmax" else 2 * B + math.log(n)

    def where(self, a, B):
        cmp = self.draw(st.sampled_from(["greater", "less", "greater_equal", "less_equal"]))
        o, _ = self.other_operand(a.shape)
        cond = self.bind(cmp, a, o)
        if self.draw(st.booleans()):
            p = self.pick(lambda v, b: _broadcastable(v.shape, cond.shape))
            cond2 = self.bind("less", p[0], self.draw(st.sampled_from([0.0, 0.5])))
            cond = self.bind(self.draw(st.sampled_from(["logical_and", "logical_or"])), cond, cond2)
        x, Bx = self.other_operand(cond.shape)
        y, By = self.other_operand(np.broadcast_shapes(cond.shape, np.shape(x)))
        if not isinstance(x, Value) and not isinstance(y, Value):
            x, Bx = a, B
        return self.bind("where", cond, x, y), max(Bx, By)

    def clip(self, a, B):
        lo = self.draw(st.sampled_from([None, -1.0, -0.5, 0.0]))
        hi = self.draw(st.sampled_from([None, 0.25, 0.5, 1.0])) if lo is not None else \
            self.draw(st.sampled_from([0.25, 0.5, 1.0]))
        return self.bind("clip", a, lo=lo, hi=hi), B


FAMILIES = ["unary", "unary", "binary", "binary", "safe", "reduce", "shape_op", "shape_op",
            "matmul", "softmax", "where", "clip"]


def _show(o):
    if isinstance(o, Value):
        return f"{o.name or f'v{o.uid}'}:{o.aval}"
    if isinstance(o, np.ndarray):
        return f"const{o.shape}"
    return repr(o)


class Generated:
    def __init__(self, program, arrays, log):
        self.program, self.arrays, self.log = program, arrays, log

    def __repr__(self):
        shapes = ", ".join(f"{v.name}: {v.aval}" for v in self.program.inputs)
        return f"<program ({shapes})\n  " + "\n  ".join(self.log) + ">"


@st.composite
def programs(draw, dtype=F64, mixed=False):
    """Random programs over `dtype`; with mixed=True each input is float32 or float64."""
    g = Gen(draw, dtype)
    # A base shape, and inputs that broadcast against it: trailing dims of it, some
    # set to 1. (Choices are ordered so that Hypothesis' simplest draw is a 2-d shape.)
    ndim = draw(st.sampled_from([2, 1, 3, 2, 3, 0]))
    base = tuple(draw(st.sampled_from([3, 2, 4, 2, 3, 1])) for _ in range(ndim))
    inputs, arrays = [], []
    for i in range(draw(st.integers(1, 3))):
        k = ndim if draw(st.booleans()) else draw(st.integers(0, ndim))
        shape = tuple(1 if draw(st.sampled_from([False, False, True])) else d
                      for d in base[ndim - k:])
        dt = draw(st.sampled_from([F32, F64])) if mixed and i else g.dtype
        v = Value(Aval(shape, dt), f"x{i}")
        inputs.append(v)
        arrays.append(g.const(shape).astype(dt))
        g.push(v, 1.0)

    with g.b:
        for _ in range(draw(st.integers(3, 10))):
            family = draw(st.sampled_from(FAMILIES))
            a, B = g.pick()
            start, logged = len(g.b.ops), len(g.log)
            result = getattr(g, family)(a, B)
            if result is None or not result[1] <= MAX_BOUND:
                del g.b.ops[start:], g.log[logged:]  # roll back: no dead, overflowing ops
                result = g.bind("tanh", a), 1.0
            g.push(*result)
        used = {u for op in g.b.ops for u in op.inputs}
        leaves = [v for v, _ in g.pool if v not in used and v.producer is not None]
        total = None
        for v in leaves:
            cot = g.rng.standard_normal(v.shape).astype(g.dtype)
            term = g.b.bind("sum", g.b.bind("mul", v, cot))
            total = term if total is None else g.b.bind("add", total, term)
    program = Program("random_program", inputs, list(g.b.ops), [total],
                      wrt=tuple(range(len(inputs))))
    return Generated(program, arrays, g.log)


# ---------------------------------------------------------------------------
# Reference evaluation and finite differences


def evaluate(program, arrays):
    env = dict(zip(program.inputs, arrays))

    def read(v):
        return v.value if isinstance(v, Const) else env[v]

    for op in program.ops:
        env[op.out] = op.prim.evaluate(*(read(v) for v in op.inputs), **op.params)
    return env, read


def reference(program, arrays):
    env, read = evaluate(program, arrays)
    return float(read(program.outputs[0]))


def _top_gap(x, axis, smallest):
    """Smallest gap between the two largest (smallest) entries of each reduced slice."""
    x = np.asarray(x, dtype=np.float64)
    axes = tuple(range(x.ndim)) if axis is None else axis
    if not axes:
        return math.inf
    rest = [i for i in range(x.ndim) if i not in axes]
    x = np.transpose(x, rest + list(axes)).reshape(*[x.shape[i] for i in rest], -1)
    if x.shape[-1] < 2:
        return math.inf
    s = np.sort(-x if smallest else x, axis=-1)
    return float(np.min(s[..., -1] - s[..., -2]))


def kink_margin(program, arrays) -> float:
    """How far the sample point is from the nearest kink of a non-smooth op."""
    env, read = evaluate(program, arrays)
    margin = math.inf
    for op in program.ops:
        name = op.prim.name
        args = [np.asarray(read(v)) for v in op.inputs]
        args = [a.astype(np.float64) if a.dtype != bool else a for a in args]
        if name in ("abs", "relu", "sign"):
            m = np.min(np.abs(args[0]), initial=math.inf)
        elif name in ("maximum", "minimum", "greater", "less", "greater_equal", "less_equal",
                      "equal", "not_equal"):
            m = np.min(np.abs(args[0] - args[1]), initial=math.inf)
        elif name in ("max", "min"):
            m = _top_gap(args[0], op.params["axis"], name == "min")
        elif name == "clip":
            lo, hi = op.params["lo"], op.params["hi"]
            m = min(np.min(np.abs(args[0] - b), initial=math.inf) for b in (lo, hi) if b is not None)
        else:
            continue
        margin = min(margin, float(m))
    return margin


def numeric_grad(f, arrays, i, h=H):
    """5-point central differences of scalar f with respect to arrays[i]."""
    x = arrays[i]
    g = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(*x.shape):
        vals = []
        for step in (-2, -1, 1, 2):
            xs = x.copy()
            xs[idx] += step * h
            args = list(arrays)
            args[i] = xs
            vals.append(f(args))
        g[idx] = (vals[0] - 8 * vals[1] + 8 * vals[2] - vals[3]) / (12 * h)
    return g


def _prepare(gen):
    note(repr(gen))
    margin = kink_margin(gen.program, gen.arrays)
    assume(margin > KINK_MARGIN)
    env, _ = evaluate(gen.program, gen.arrays)
    for v in env.values():
        a = np.asarray(v)
        if a.dtype.kind == "f":
            assert np.all(np.isfinite(a)) and np.all(np.abs(a) <= MAX_BOUND * 1.0001), \
                "generator bug: an intermediate escaped its bound"


def _check_fresh(grads, inputs):
    """Gradients are the caller's own arrays: writable, aliasing no input and no other
    gradient (so updating one in place cannot corrupt anything else)."""
    for k, g in enumerate(grads):
        if not isinstance(g, np.ndarray):
            continue
        assert g.flags.writeable, f"gradient {k} is read-only"
        assert not any(np.shares_memory(g, a) for a in inputs), f"gradient {k} aliases an input"
        assert not any(isinstance(o, np.ndarray) and np.shares_memory(g, o) for o in grads[k + 1:]), \
            f"gradient {k} aliases another gradient"


# ---------------------------------------------------------------------------
# Properties


@settings(max_examples=500 * SCALE, **SETTINGS)
@given(programs())
def test_random_program_gradients_match_finite_differences(gen):
    _prepare(gen)
    program, arrays = gen.program, gen.arrays
    spec = compile_program(program, grouped=True)
    note(spec.source)
    expected = reference(program, arrays)
    value = spec.value_fn(*arrays)
    args = [a.copy() for a in arrays]
    value2, grads = spec.value_and_grad_fn(*args)
    _check_fresh(grads, args)
    for a, orig in zip(args, arrays):
        np.testing.assert_array_equal(a, orig, err_msg="value_and_grad modified an input")
    first = [np.array(g, copy=True) for g in grads]
    for g in grads:  # scribbling over returned gradients must not affect the next call
        if isinstance(g, np.ndarray):
            g[...] = np.nan
    _, again = spec.value_and_grad_fn(*args)
    for g, f in zip(again, first):
        np.testing.assert_array_equal(g, f, err_msg="a second call gives different gradients")
    grads = first
    scale = max(1.0, abs(expected))
    assert abs(float(value) - expected) <= 1e-10 * scale, (value, expected)
    assert abs(float(value2) - expected) <= 1e-10 * scale, (value2, expected)
    assert len(grads) == len(arrays)
    for i, (g, x) in enumerate(zip(grads, arrays)):
        assert np.shape(g) == x.shape and np.result_type(g) == x.dtype, (i, np.shape(g), np.result_type(g))
        fd = numeric_grad(lambda args: reference(program, args), arrays, i)
        gscale = max(1.0, float(np.max(np.abs(fd), initial=0.0)))
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7 * gscale,
                                   err_msg=f"gradient w.r.t. x{i}")


@settings(max_examples=150 * SCALE, **SETTINGS)
@given(programs(dtype=F32, mixed=True))
def test_random_float32_and_mixed_programs_keep_dtypes(gen):
    """float32 inputs and constants give a float32 value and float32 gradients, close to
    the float64 derivative of the same program at the same point. With some inputs
    float64 (mixed precision), each gradient has its own input's dtype."""
    _prepare(gen)
    program, arrays = gen.program, gen.arrays
    spec = compile_program(program, grouped=True)
    note(spec.source)
    value, grads = spec.value_and_grad_fn(*arrays)
    if all(a.dtype == F32 for a in arrays):
        assert np.result_type(value) == F32, np.result_type(value)
    assert len(grads) == len(arrays)
    # The reference in float64: float64 inputs promote every op (constants hold the
    # same float32 numbers), so this differences the same function in higher precision.
    arrays64 = [a.astype(F64) for a in arrays]
    for i, (g, x) in enumerate(zip(grads, arrays)):
        assert np.shape(g) == x.shape and np.result_type(g) == x.dtype, (i, np.shape(g), np.result_type(g))
        fd = numeric_grad(lambda args: reference(program, args), arrays64, i)
        gscale = max(1.0, float(np.max(np.abs(fd), initial=0.0)))
        np.testing.assert_allclose(g, fd, rtol=1e-3, atol=1e-4 * gscale,
                                   err_msg=f"gradient w.r.t. x{i}")


@settings(max_examples=300 * SCALE, **SETTINGS)
@given(programs(), st.data())
def test_random_steps_and_schedules_give_the_stored_gradient_bitwise(gen, data):
    """Checkpointing regroups the stored program: any tagging of any program into steps
    (ops left untagged too, as between loops), under any schedule, gives the same bits."""
    from gradc.checkpointing.steps import with_steps
    from gradc.runtime.checkpoint import Revolve, Segments

    program, arrays = gen.program, gen.arrays
    tags, current = [], 0
    for op in program.ops:
        current += data.draw(st.sampled_from([0, 0, 1]))  # a new step now and then
        tags.append((op, data.draw(st.sampled_from([current, current, None]))))
    if all(t is None for _, t in tags):
        tags[0] = (tags[0][0], 0)
    tagged = with_steps(program, tags)
    policy = data.draw(st.sampled_from([Segments(), Segments(1), Revolve(1), Revolve(2), Revolve(4)]))
    note(f"tags {[t for _, t in tags]}, policy {policy}")
    stored = compile_program(tagged, grouped=True)
    checkpointed = compile_program(tagged, grouped=True, checkpoint=policy)
    value, grads = stored.value_and_grad_fn(*arrays)
    value2, grads2 = checkpointed.value_and_grad_fn(*arrays)
    assert np.array_equal(value, value2)
    for g, g2 in zip(grads, grads2):
        assert np.result_type(g) == np.result_type(g2) and np.shape(g) == np.shape(g2)
        assert np.array_equal(g, g2, equal_nan=True)
