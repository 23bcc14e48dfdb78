"""Every registered primitive, checked on its own.

Parametrised over `registry.all()`, so a newly registered primitive is picked up
automatically, and `test_every_primitive_has_cases` fails until it has test cases.

For each primitive the tests build a one-op program `s = sum(prim(inputs) * cot)`
with a fixed random cotangent `cot`, compile it with `compile_program`, and check

* the gradient against central finite differences of the same scalar computed by
  `prim.evaluate` (plain NumPy, no code generation involved);
* the derivative of scalar elementwise primitives against SymPy's;
* `prim.evaluate` against an independent NumPy reference, and the generated code
  against `prim.evaluate` (full output arrays, not just the contraction);
* non-differentiable primitives: no VJP rule, and exactly zero gradient through them;
* float32 in, float32 gradients out.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
import sympy as sp

import primitive_cases
from gradc.api import compile_program
from gradc.ir import Aval, Builder, Program, Value, verify
from gradc.primitives import registry

F64 = np.dtype(np.float64)
F32 = np.dtype(np.float32)

ALL = registry.all()
NON_DIFFERENTIABLE = [p for p in ALL if not p.differentiable]
INTEGER_ONLY = {"bitwise_and", "bitwise_or", "bitwise_xor", "invert"}  # operands: integers, booleans
SCALAR_ONLY = {"round_float"}  # one float64 number (Python's round of a Python float)


# ---------------------------------------------------------------------------
# Operand specifications and samplers


def _grid(rng, shape, step, offset):
    """Values k*step + offset in [-2, 2], jittered by at most 0.03: two arrays drawn from
    grids with offsets 0 and step/2 never come closer than step/2 - 0.06 (no ties)."""
    k = rng.integers(-int(2 // step), int(2 // step), size=shape, endpoint=False)
    return k * step + offset + rng.uniform(-0.03, 0.03, size=shape)


SAMPLERS = {
    # uniform in the primitive's own domain
    "domain": lambda rng, shape, dom: rng.uniform(dom[0], dom[1], size=shape),
    "normal": lambda rng, shape, dom: rng.standard_normal(shape),
    # |x| in [0.2, 2], both signs: both branches of abs/relu, never near the kink
    "awayzero": lambda rng, shape, dom: rng.choice([-1.0, 1.0], size=shape)
    * rng.uniform(0.2, 2.0, size=shape),
    # ~ odd multiples of 0.25 / multiples of 0.5: maximum/minimum/clip operands never tie
    "odd": lambda rng, shape, dom: _grid(rng, shape, 0.5, 0.25),
    "even": lambda rng, shape, dom: _grid(rng, shape, 0.5, 0.0),
    # all elements distinct (spaced >= 0.26 apart): max/min reductions never tie
    "distinct": lambda rng, shape, dom: (
        (rng.permutation(int(np.prod(shape, dtype=int))) * 0.3 - 1.0).reshape(shape)
        + rng.uniform(-0.02, 0.02, size=shape)),
}


@dataclass
class In:
    """A differentiable program input (in wrt)."""
    shape: tuple
    sampler: str = "domain"
    dtype: np.dtype = F64

    def sample(self, rng, domain):
        return np.asarray(SAMPLERS[self.sampler](rng, self.shape, domain)).astype(self.dtype)


@dataclass
class Fixed:
    """A program input that is not differentiated (boolean conditions, ...)."""
    value: np.ndarray


@dataclass
class K:
    """A compile-time constant operand (Python scalar or NumPy array)."""
    value: object


@dataclass
class Same:
    """The same Value as operand number `i` (tests adjoint accumulation)."""
    i: int


@dataclass
class Case:
    operands: list
    params: dict = field(default_factory=dict)
    eps: float = 1e-6
    rtol: float = 1e-6
    atol: float = 1e-6


def I(*shape, s="domain", dtype=F64):  # noqa: E743 (reads like a type)
    return In(tuple(shape), s, np.dtype(dtype))


def _bools(*shape, seed=7):
    return np.random.default_rng(seed).random(shape) > 0.5


# ---------------------------------------------------------------------------
# The table: at least one case per primitive, differentiable or not.

UNARY_SHAPES = [(), (4,), (2, 3)]
BINARY_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3, 1), (4,)), ((), (2, 3)), ((1,), (2, 3)),
                 ((2, 1, 3), (4, 1)), ((2, 3), ())]
REDUCTION_AXES = [((3, 4), None, False), ((3, 4), 0, False), ((3, 4), 1, True), ((3, 4), -1, False),
                  ((2, 3, 4), (0, 2), False), ((2, 3, 4), (0, 2), True), ((2, 3, 4), 1, True),
                  ((2, 3, 4), None, True), ((), None, False), ((4,), 0, True), ((2, 3), (), False),
                  ((2, 3, 4), (-1, 0), True), ((3, 1), 1, False)]


def _unary(sampler="domain"):
    return [Case([I(*s, s=sampler)]) for s in UNARY_SHAPES]


def _binary(sx="domain", sy="domain"):
    cases = [Case([I(*a, s=sx), I(*b, s=sy)]) for a, b in BINARY_SHAPES]
    cases.append(Case([I(2, 3, s=sx), Same(0)]))  # f(x, x): both contributions accumulate
    return cases


def _reductions(sampler):
    return [Case([I(*shape, s=sampler)], {"axis": axis, "keepdims": keep})
            for shape, axis, keep in REDUCTION_AXES]


CASES: dict[str, list[Case]] = {}
for _name in ["neg", "exp", "log", "log1p", "expm1", "sqrt", "square", "sin", "cos", "tan",
              "tanh", "arctan", "sigmoid", "softplus", "copy"]:
    CASES[_name] = _unary()
for _name in ["abs", "relu"]:
    CASES[_name] = _unary() + [Case([I(5, s="awayzero")]), Case([I(2, 3, s="awayzero")])]
CASES["sign"] = [Case([I(5, s="awayzero")]), Case([I(2, 3, s="awayzero")])]
CASES["zeros_like"] = _unary("normal")
CASES["cast"] = [
    Case([I(4)], {"dtype": F64}),
    Case([I(2, 3, dtype=F32)], {"dtype": F64}, eps=1e-3),  # exact: a float32 cast to float64
    Case([I(2, 3)], {"dtype": F32}, eps=1e-2, rtol=1e-4, atol=1e-4),  # output rounded to float32
    # piecewise constant: derivative zero (samples stay >= 0.2 from every integer)
    Case([I(2, 3, s="odd")], {"dtype": np.dtype(np.int64)}),
    Case([I(4, s="odd")], {"dtype": np.dtype(bool)}),
]
CASES["clip"] = [
    Case([I(3, 4, s="odd")], {"lo": -0.5, "hi": 1.0}),
    Case([I(5, s="odd")], {"lo": None, "hi": 0.5}),
    Case([I(5, s="odd")], {"lo": 0.0, "hi": None}),
    Case([I(s="odd")], {"lo": -1.0, "hi": 1.0}),
]

for _name in ["add", "sub", "mul", "logaddexp"]:
    CASES[_name] = _binary() + [Case([I(2, 3), K(2.5)]), Case([K(-1.5), I(3)]),
                                Case([I(2, 3), K(np.array([0.5, -1.0, 2.0]))])]
CASES["div"] = _binary() + [Case([K(1.0), I(2, 3)]), Case([I(3), K(4.0)]),
                            Case([I(2, 3), K(np.array([0.5, 1.5, 2.0]))])]
CASES["pow"] = _binary() + [Case([I(2, 3), K(3.0)]), Case([I(4), K(2)]), Case([K(2.0), I(2, 3)]),
                            Case([I(3), K(0.5)]),
                            # negative bases with a constant integral exponent: no log(x) needed
                            Case([I(2, 3, s="awayzero"), K(3)]), Case([I(4, s="awayzero"), K(2.0)])]
for _name in ["maximum", "minimum"]:
    CASES[_name] = [Case([I(*a, s="odd"), I(*b, s="even")]) for a, b in BINARY_SHAPES] + [
        Case([I(2, 3, s="odd"), K(0.0)]), Case([K(1.0), I(4, s="odd")])]
for _name in ["greater", "less", "greater_equal", "less_equal", "equal", "not_equal",
              "logical_and", "logical_or"]:
    CASES[_name] = [Case([I(3, 4, s="odd"), I(4, s="even")]), Case([I(2, 3, s="odd"), K(0.0)])]
CASES["logical_not"] = [Case([I(3, 4, s="odd")]), Case([Fixed(_bools(3, 4))]),
                        Case([Fixed(np.array([0, 1, 2, -3]))])]
for _name in ["logical_and", "logical_or"]:
    CASES[_name] += [Case([Fixed(_bools(3, 4)), Fixed(_bools(4, seed=8))]),
                     Case([Fixed(np.array([0, 1, 2, 3])), Fixed(np.array([1, 2, 0, 4]))])]

CASES["where"] = [
    Case([Fixed(_bools(3, 1)), I(3, 4), I(4)]),
    Case([K(_bools(2, 3)), I(2, 3), K(0.5)]),
    Case([Fixed(_bools()), I(), I(3)]),
    Case([Fixed(_bools(2, 3)), I(2, 3), Same(1)]),
    Case([Fixed(_bools(4)), K(-1.0), I(2, 1)]),
]

for _name in ["sum", "mean", "logsumexp"]:
    CASES[_name] = _reductions("normal")
for _name in ["max", "min"]:
    CASES[_name] = _reductions("distinct")

CASES["sum_to"] = [Case([I(*src, s="normal")], {"shape": dst}) for src, dst in [
    ((2, 3, 4), (3, 1)), ((3, 4), (4,)), ((3, 4), (1, 4)), ((2, 3), (2, 3)), ((3, 4), ()),
    ((2, 3, 4), (2, 1, 4)), ((4, 1), (1, 1)), ((2, 3, 4), (1,))]]

CASES["matmul"] = [Case([I(*a, s="normal"), I(*b, s="normal")]) for a, b in [
    ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((1, 3), (3, 1)),
    ((2, 2, 3), (3, 4)), ((2, 3), (2, 3, 4)), ((2, 2, 3), (2, 3, 4)), ((2, 1, 2, 3), (3, 3, 2))]] + [
    Case([I(3, 3, s="normal"), Same(0)]),
    Case([I(2, 3, s="normal"), K(np.arange(12.0).reshape(3, 4) / 10)]),
]
CASES["outer"] = [Case([I(*a, s="normal"), I(*b, s="normal")]) for a, b in [
    ((3,), (4,)), ((1,), (2,)), ((2, 2), (3,)), ((), (3,))]] + [Case([I(3, s="normal"), Same(0)])]

CASES["transpose"] = [Case([I(*shape, s="normal")], {"axes": axes}) for shape, axes in [
    ((2, 3), None), ((2, 3, 4), (1, 2, 0)), ((2, 3, 4), (0, 2, 1)), ((4,), None), ((), None),
    ((2, 3, 4), (-1, 0, 1)), ((2, 3), (0, 1))]]
CASES["reshape"] = [Case([I(*shape, s="normal")], {"shape": new}) for shape, new in [
    ((2, 3), (3, 2)), ((2, 3), (6,)), ((2, 3), (-1,)), ((2, 3), (1, 6, 1)), ((), (1, 1)),
    ((2, 3, 4), (4, -1)), ((6,), 6), ((1, 1), ())]]
CASES["broadcast_to"] = [Case([I(*shape, s="normal")], {"shape": new}) for shape, new in [
    ((3,), (2, 3)), ((3, 1), (2, 3, 4)), ((), (2, 2)), ((1,), (3,)), ((2, 3), (2, 3))]]
CASES["expand_dims"] = [Case([I(*shape, s="normal")], {"axis": axis}) for shape, axis in [
    ((3,), 0), ((3,), -1), ((2, 3), (0, 3)), ((), 0), ((2, 3), 1), ((2, 3), (-1, 0))]]
CASES["concatenate"] = [Case([I(*a, s="normal") for a in shapes], {"axis": axis}) for shapes, axis in [
    (((2, 3), (4, 3)), 0), (((2, 3), (2, 1), (2, 2)), 1), (((3,), (1,)), 0), (((2, 3), (2, 3)), -1),
    (((1, 2, 2), (1, 2, 3)), 2)]] + [
    Case([I(3, s="normal"), K(np.array([1.0, 2.0]))], {"axis": 0}),
    Case([I(2, 3, s="normal"), Same(0)], {"axis": 0})]
CASES["getitem"] = [Case([I(*shape, s="normal")], {"index": index}) for shape, index in [
    ((3, 4, 5), (1,)), ((3, 4, 5), (slice(None), 2)),
    ((3, 4, 5), (slice(1, 3), slice(None), slice(None, None, 2))), ((3, 4, 5), (Ellipsis, 1)),
    ((3, 4, 5), (None, 0)), ((3, 4, 5), (-1, slice(None, None, -1))), ((3, 4, 5), (1, 2, 3)),
    ((3, 4, 5), (slice(0, 0),)), ((3, 4, 5), (Ellipsis,)), ((4,), (slice(1, None),)),
    ((), ()), ((4,), (-2,)), ((5, 4), (slice(3, 0, -1), slice(-1, None, -2))),
    ((3, 4), (None, Ellipsis, None, 1)), ((3, 4, 5), (slice(None), None, slice(10, None)))]]
CASES["scatter"] = [Case([I(*g, s="normal")], {"index": index, "shape": shape}) for g, index, shape in [
    ((2,), (slice(1, 3),), (4,)), ((4,), (1,), (3, 4)), ((), (1, 2), (3, 4)),
    ((3, 2), (slice(None), slice(None, None, 2)), (3, 4)), ((3, 4), (Ellipsis,), (3, 4))]]
for _name in ["softmax", "log_softmax"]:
    CASES[_name] = [Case([I(*shape, s="normal")], {"axis": axis}) for shape, axis in [
        ((4,), -1), ((3, 4), 0), ((3, 4), 1), ((2, 3, 4), 1), ((3, 4), -2), ((3, 1), 1)]]

# User-defined primitives (@gradc.primitive; tests/conftest.py registers the examples')
# are elementwise: they get generic cases here, and are their own NumPy reference below.
for _p in ALL:
    if _p.family == "user" and _p.name not in CASES:
        CASES[_p.name] = [Case([I(*shape) for _ in range(_p.arity)]) for shape in [(), (5,), (2, 3)]]

for _module in primitive_cases.modules():  # families whose cases live in tests/primitive_cases/
    CASES.update(_module.cases(Case=Case, I=I, K=K, Fixed=Fixed, Same=Same))

CASE_IDS = [(p.name, i) for p in ALL for i in range(len(CASES.get(p.name, [])))]
DIFF_CASE_IDS = [(n, i) for n, i in CASE_IDS
                 if registry.get(n).differentiable and registry.get(n).derivative_known]


def _ids(pairs):
    return [f"{n}-{i}" for n, i in pairs]


# ---------------------------------------------------------------------------
# Building, evaluating, differencing


@dataclass
class Built:
    program: Program
    op_params: dict
    arrays: list  # one per program input
    wrt: tuple
    reference: object  # reference(*arrays) -> scalar, via prim.evaluate only
    prim_output: object  # prim_output(*arrays) -> the primitive's output array
    operands: object  # operands(*arrays) -> the primitive's operands (arrays and constants)


def build(name: str, case: Case, seed: int = 0, cot_dtype=F64, cot_is_input=False) -> Built:
    prim = registry.get(name)
    rng = np.random.default_rng(seed)
    inputs, arrays, wrt, operands = [], [], [], []
    slots = []  # per operand: ("in", k) | ("const", value)
    for j, spec in enumerate(case.operands):
        if isinstance(spec, In):
            arr = spec.sample(rng, prim.domain)
            v = Value(Aval(arr.shape, arr.dtype), f"x{j}")
            if not cot_is_input:
                wrt.append(len(inputs))
            slots.append(("in", len(inputs)))
            inputs.append(v)
            arrays.append(arr)
            operands.append(v)
        elif isinstance(spec, Fixed):
            arr = np.asarray(spec.value)
            v = Value(Aval(arr.shape, arr.dtype), f"c{j}")
            slots.append(("in", len(inputs)))
            inputs.append(v)
            arrays.append(arr)
            operands.append(v)
        elif isinstance(spec, Same):
            slots.append(slots[spec.i])
            operands.append(operands[spec.i])
        else:
            slots.append(("const", spec.value))
            operands.append(spec.value)
    b = Builder()
    with b:
        out = b.bind(name, *operands, **case.params)
        assert len(b.ops) == 1 and b.ops[0].prim is prim and b.ops[0].out is out
        cot = rng.standard_normal(out.shape).astype(cot_dtype)
        if cot_is_input:
            cot_v = Value(Aval(cot.shape, cot.dtype), "cot")
            wrt.append(len(inputs))
            inputs.append(cot_v)
            arrays.append(cot)
            s = b.bind("sum", b.bind("mul", out, cot_v))
        else:
            s = b.bind("sum", b.bind("mul", out, cot))
    op_params = dict(b.ops[0].params)

    def operand_values(*args):
        return [args[k] if kind == "in" else k for kind, k in slots]

    def prim_output(*args):
        return prim.evaluate(*operand_values(*args), **op_params)

    def reference(*args):
        c = args[-1] if cot_is_input else cot
        return np.sum(prim_output(*args) * c)

    prog = Program(f"f_{name}", inputs, b.ops, [s], wrt=tuple(wrt))
    return Built(prog, op_params, arrays, tuple(wrt), reference, prim_output, operand_values)


def numeric_grad(f, arrays, i, eps):
    """Central differences of scalar f with respect to arrays[i], in float64."""
    x = arrays[i]
    g = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] = xp[idx] + eps
        xm[idx] = xm[idx] - eps
        h = float(xp[idx]) - float(xm[idx])  # the step actually taken (float32 rounds it)
        ap, am = list(arrays), list(arrays)
        ap[i], am[i] = xp, xm
        g[idx] = (float(f(*ap)) - float(f(*am))) / h
    return g


def check_gradient_arrays(grads, built):
    for k, i in enumerate(built.wrt):
        x = built.arrays[i]
        g = grads[k]
        assert np.shape(g) == x.shape, f"gradient {k}: shape {np.shape(g)} != input shape {x.shape}"
        assert np.result_type(g) == x.dtype, f"gradient {k}: dtype {np.result_type(g)} != {x.dtype}"


# ---------------------------------------------------------------------------
# Registry-level consistency


@pytest.mark.parametrize("prim", ALL, ids=lambda p: p.name)
def test_every_primitive_has_cases(prim):
    assert CASES.get(prim.name), (f"primitive {prim.name!r} has no test cases: add it to CASES in "
                                  f"{__file__}")


@pytest.mark.parametrize("prim", ALL, ids=lambda p: p.name)
def test_differentiable_flag_matches_vjp(prim):
    if prim.differentiable:
        assert prim.vjp is not None, f"{prim.name} is differentiable but has no VJP rule"
    else:
        assert prim.vjp is None, f"{prim.name} is marked non-differentiable but has a VJP rule"


@pytest.mark.parametrize("prim", ALL, ids=lambda p: p.name)
def test_registry_metadata_is_consistent(prim):
    assert registry.get(prim.name) is prim
    assert prim.family in {"elementwise", "reductions", "linalg", "indexing", "nn", "user"}
    lo, hi = prim.domain
    assert lo < hi
    if prim.sympy is not None:
        assert prim.elementwise and prim.arity in (1, 2)
    for case in CASES.get(prim.name, []):
        n = len(case.operands)
        assert prim.arity is None or n == prim.arity, f"case has {n} operands, arity {prim.arity}"


# ---------------------------------------------------------------------------
# 1. Gradients against finite differences


@pytest.mark.parametrize("name,i", DIFF_CASE_IDS, ids=_ids(DIFF_CASE_IDS))
def test_gradient_matches_finite_differences(name, i):
    case = CASES[name][i]
    built = build(name, case, seed=i)
    spec = compile_program(built.program, grouped=True)
    value, grads = spec.value_and_grad_fn(*built.arrays)
    assert len(grads) == len(built.wrt)
    check_gradient_arrays(grads, built)
    np.testing.assert_allclose(value, built.reference(*built.arrays), rtol=1e-12, atol=1e-12)
    for k, pos in enumerate(built.wrt):
        fd = numeric_grad(built.reference, built.arrays, pos, case.eps)
        np.testing.assert_allclose(
            np.asarray(grads[k], dtype=np.float64), fd, rtol=case.rtol, atol=case.atol,
            err_msg=f"{name} case {i}: gradient w.r.t. input {pos} {built.program.inputs[pos]}\n"
                    f"{spec.source}")


@pytest.mark.parametrize("name,i", DIFF_CASE_IDS, ids=_ids(DIFF_CASE_IDS))
def test_gradients_are_fresh_writable_arrays(name, i):
    """Each gradient is the caller's own array: writable, and sharing memory with
    neither an input nor another gradient (so `g *= lr` cannot corrupt anything)."""
    built = build(name, CASES[name][i], seed=i)
    spec = compile_program(built.program, grouped=True)
    arrays = [a.copy() for a in built.arrays]
    _, grads = spec.value_and_grad_fn(*arrays)
    for k, g in enumerate(grads):
        if not isinstance(g, np.ndarray):
            continue  # a NumPy scalar is immutable and owns nothing
        assert g.flags.writeable, (f"gradient {k} is a read-only array (a broadcast view?)\n"
                                   f"{spec.source}")
        for a in arrays:
            assert not np.shares_memory(g, a), f"gradient {k} aliases an input\n{spec.source}"
        for other in grads[k + 1:]:
            if isinstance(other, np.ndarray):
                assert not np.shares_memory(g, other), f"gradient {k} aliases another\n{spec.source}"
    for a, orig in zip(arrays, built.arrays):
        np.testing.assert_array_equal(a, orig, err_msg="value_and_grad modified its input")
    # Scribbling over the returned gradients must not change the next call's results
    # (a gradient aliasing a constant captured by the generated module would).
    first = [np.array(g, copy=True) for g in grads]
    for g in grads:
        if isinstance(g, np.ndarray):
            g[...] = np.nan
    _, again = spec.value_and_grad_fn(*arrays)
    for g, f in zip(again, first):
        np.testing.assert_array_equal(g, f, err_msg=f"second call differs\n{spec.source}")


def test_inputs_with_identical_adjoints_get_distinct_gradient_arrays():
    """s = sum(y + x) + sum(exp(x + y)): x and y have the same adjoint expression, and
    after common-subexpression elimination the same Value. The caller still gets two
    arrays: scaling one gradient in place must not change the other."""
    x = Value(Aval((2,), F64), "x")
    y = Value(Aval((2,), F64), "y")
    b = Builder()
    with b:
        s = b.bind("add", b.bind("sum", b.bind("add", y, x)),
                   b.bind("sum", b.bind("exp", b.bind("add", x, y))))
    spec = compile_program(Program("f", [x, y], b.ops, [s], wrt=(0, 1)), grouped=True)
    xa, ya = np.array([0.1, 0.2]), np.array([0.3, 0.4])
    _, (gx, gy) = spec.value_and_grad_fn(xa, ya)
    expected = 1 + np.exp(xa + ya)
    np.testing.assert_allclose(gx, expected, rtol=1e-15)
    np.testing.assert_allclose(gy, expected, rtol=1e-15)
    assert not np.shares_memory(gx, gy), f"both gradients are one array\n{spec.source}"
    gx *= 0.0
    np.testing.assert_allclose(gy, expected, rtol=1e-15)


# ---------------------------------------------------------------------------
# Non-differentiable primitives: no rule, exactly zero gradient through them


@pytest.mark.parametrize("prim", NON_DIFFERENTIABLE, ids=lambda p: p.name)
def test_non_differentiable_gives_zero_gradient(prim):
    cases = [(i, c) for i, c in enumerate(CASES[prim.name]) if any(isinstance(o, In) for o in c.operands)]
    assert cases, f"{prim.name} needs a case with a floating-point input to differentiate"
    for i, case in cases:
        built = build(prim.name, case, seed=i)
        spec = compile_program(built.program, grouped=True)
        value, grads = spec.value_and_grad_fn(*built.arrays)
        np.testing.assert_allclose(value, built.reference(*built.arrays), rtol=1e-12, atol=1e-12)
        check_gradient_arrays(grads, built)
        for g in grads:
            np.testing.assert_array_equal(g, 0.0)


@pytest.mark.parametrize("prim", NON_DIFFERENTIABLE, ids=lambda p: p.name)
def test_non_differentiable_beside_a_differentiable_path(prim):
    """s = sum(x*x*w) + sum(prim(x, ...) * cot): only the first term has a derivative."""
    rng = np.random.default_rng(3)
    xa = SAMPLERS["odd"](rng, (2, 3), None)
    w = rng.standard_normal((2, 3))
    x = Value(Aval((2, 3), F64), "x")
    b = Builder()
    with b:
        others = [x] if prim.arity == 1 else [x, 0.25]  # 0.25 never ties with "odd" samples
        if prim.name in INTEGER_ONLY:  # bitwise operations: on integers (NumPy refuses floats)
            others = [b.bind("cast", x * 4.0, dtype=np.dtype(np.int64))] + ([3] if prim.arity == 2 else [])
        if prim.name in SCALAR_ONLY:  # Python's round of one Python float
            others = [b.bind("sum", x)]
        out = b.bind(prim.name, *others)
        cot = rng.standard_normal(out.shape)
        s = b.bind("add", b.bind("sum", x * x * w), b.bind("sum", b.bind("mul", out, cot)))
    spec = compile_program(Program("f", [x], b.ops, [s], wrt=(0,)))
    _, g = spec.value_and_grad_fn(xa)
    np.testing.assert_allclose(g, 2 * xa * w, rtol=1e-14, atol=1e-14)


# ---------------------------------------------------------------------------
# 2. Scalar elementwise primitives against SymPy

EXEMPT = {
    "cast": "changes the dtype only: the identity map, checked by finite differences",
    "copy": "the identity map, checked by finite differences",
    "clip": "bounds are compile-time parameters, not operands; piecewise identity, checked "
            "by finite differences on both sides of each bound",
    "where": "selects between operands under a boolean mask: no scalar formula; checked by "
             "finite differences with masks of both values",
}

ELEMENTWISE_DIFF = [p for p in ALL if p.elementwise and p.differentiable]
WITH_SYMPY = [p for p in ALL if p.sympy is not None]
# Fractions of the domain to sample at; pairs for binary primitives never coincide.
FRACTIONS_X = [0.04, 0.21, 0.37, 0.58, 0.73, 0.96]
FRACTIONS_Y = [0.93, 0.12, 0.66, 0.29, 0.47, 0.81]


@pytest.mark.parametrize("prim", ELEMENTWISE_DIFF, ids=lambda p: p.name)
def test_elementwise_primitive_has_sympy_or_exemption(prim):
    user_rule = prim.family == "user" and prim.sympy is None  # an explicit NumPy VJP: checked by FD
    assert prim.sympy is not None or prim.name in EXEMPT or user_rule, (
        f"elementwise primitive {prim.name!r} has no SymPy formula; give it one "
        f"(sympy=...) or list it in EXEMPT with a reason")


def test_exemptions_are_not_stale():
    for name, reason in EXEMPT.items():
        assert name in registry, f"EXEMPT lists unknown primitive {name!r}"
        assert registry.get(name).sympy is None, f"{name} now has a SymPy formula: drop it from EXEMPT"
        assert reason


def _points(domain, fractions):
    lo, hi = domain
    return np.array([lo + (hi - lo) * f for f in fractions], dtype=np.float64)


@pytest.mark.parametrize("prim", WITH_SYMPY, ids=lambda p: p.name)
def test_derivative_matches_sympy(prim):
    syms = sp.symbols("x y", real=True)[: prim.arity]
    expr = prim.sympy(*syms)
    derivs = [sp.diff(expr, s) for s in syms]
    pts = [_points(prim.domain, FRACTIONS_X), _points(prim.domain, FRACTIONS_Y)][: prim.arity]

    inputs = [Value(Aval(p.shape, F64), n) for p, n in zip(pts, "xy")]
    b = Builder()
    with b:
        s = b.bind("sum", b.bind(prim.name, *inputs))
    spec = compile_program(Program(f"f_{prim.name}", inputs, b.ops, [s],
                                   wrt=tuple(range(prim.arity))), grouped=True)
    value, grads = spec.value_and_grad_fn(*pts)

    def at(e, k):
        subs = {s: sp.Float(float(p[k]), 30) for s, p in zip(syms, pts)}
        return float(sp.N(e.subs(subs), 30))

    n = len(FRACTIONS_X)
    expected_value = sum(at(expr, k) for k in range(n))
    assert value == pytest.approx(expected_value, rel=1e-12, abs=1e-12)
    for j, d in enumerate(derivs):
        expected = np.array([at(d, k) for k in range(n)])
        np.testing.assert_allclose(grads[j], expected, rtol=1e-10, atol=1e-12,
                                   err_msg=f"d {prim.name} / d {syms[j]} = {d}, at {pts}")


# ---------------------------------------------------------------------------
# 3. prim.evaluate against NumPy; generated code against prim.evaluate


def _sum_to_ref(x, shape, **_):
    x = np.asarray(x)
    lead = x.ndim - len(shape)
    x = np.sum(x, axis=tuple(range(lead))) if lead else x
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and x.shape[i] != 1)
    return np.sum(x, axis=axes, keepdims=True).reshape(shape)


def _scatter_ref(g, index, shape):
    out = np.zeros(shape)
    out[index] = g
    return out


def _logsumexp_ref(x, axis=None, keepdims=False):
    return np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))


def _softmax_ref(x, axis=-1):
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


NUMPY_REF = {
    "neg": np.negative, "exp": np.exp, "log": np.log, "log1p": lambda x: np.log(1 + x),
    "expm1": lambda x: np.exp(x) - 1, "sqrt": np.sqrt, "square": lambda x: x * x,
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "tanh": np.tanh, "arctan": np.arctan,
    "abs": np.abs, "sign": np.sign, "cast": lambda x, dtype: np.asarray(x, dtype=dtype),
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power,
    "maximum": np.maximum, "minimum": np.minimum,
    "logaddexp": lambda x, y: np.log(np.exp(x) + np.exp(y)),
    "greater": np.greater, "less": np.less, "greater_equal": np.greater_equal,
    "less_equal": np.less_equal, "equal": np.equal, "not_equal": np.not_equal,
    "logical_and": np.logical_and, "logical_or": np.logical_or, "logical_not": np.logical_not,
    "where": np.where,
    "clip": lambda x, lo, hi: np.minimum(np.maximum(x, -np.inf if lo is None else lo),
                                         np.inf if hi is None else hi),
    "zeros_like": lambda x: np.zeros(np.shape(x), dtype=np.result_type(x)),
    "copy": lambda x: np.array(x, copy=True),
    "sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min,
    "sum_to": _sum_to_ref,
    "matmul": np.matmul,
    "outer": lambda x, y: np.ravel(x)[:, None] * np.ravel(y)[None, :],
    "transpose": lambda x, axes: np.transpose(x, axes),
    "reshape": lambda x, shape: np.reshape(x, shape),
    "concatenate": lambda *xs, axis: np.concatenate([np.asarray(x) for x in xs], axis=axis),
    "broadcast_to": lambda x, shape: np.broadcast_to(x, shape),
    "expand_dims": lambda x, axis: np.expand_dims(x, axis),
    "getitem": lambda x, index: np.asarray(x)[index],
    "scatter": _scatter_ref,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "softplus": lambda x: np.log(1 + np.exp(x)),
    "relu": lambda x: np.where(x > 0, x, 0.0),
    "logsumexp": _logsumexp_ref, "softmax": _softmax_ref,
    "log_softmax": lambda x, axis=-1: np.log(_softmax_ref(x, axis)),
}


NUMPY_REF.update({p.name: p.impl for p in ALL if p.family == "user"})
for _module in primitive_cases.modules():
    NUMPY_REF.update(_module.NUMPY_REF)


@pytest.mark.parametrize("prim", ALL, ids=lambda p: p.name)
def test_every_primitive_has_a_numpy_reference(prim):
    assert prim.name in NUMPY_REF, f"add a NumPy reference for {prim.name!r} to NUMPY_REF"


@pytest.mark.parametrize("name,i", CASE_IDS, ids=_ids(CASE_IDS))
def test_evaluate_matches_numpy(name, i):
    prim = registry.get(name)
    built = build(name, CASES[name][i], seed=i)
    got = built.prim_output(*built.arrays)  # prim.evaluate, with canonicalised params
    vals = built.operands(*built.arrays)
    with np.errstate(all="ignore"):  # the same operands and the params as written, through NumPy
        want = NUMPY_REF[name](*vals, **CASES[name][i].params)
    assert np.shape(got) == np.shape(want)
    assert np.result_type(got) == np.result_type(want), f"{np.result_type(got)} != {np.result_type(want)}"
    if np.result_type(want).kind == "b":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)
    # the abstract evaluation agrees with what NumPy computes
    assert built.program.ops[0].out.aval == Aval(np.shape(got), np.result_type(got)), prim.name


@pytest.mark.parametrize("name,i", CASE_IDS, ids=_ids(CASE_IDS))
def test_generated_code_matches_evaluate(name, i):
    """The generated value function, and the generated forward sweep (seen through
    the gradient with respect to the cotangent, which is the primitive's output)."""
    built = build(name, CASES[name][i], seed=i, cot_is_input=True)
    spec = compile_program(built.program, grouped=True)
    expected_out = built.prim_output(*built.arrays)
    expected = built.reference(*built.arrays)
    value = spec.value_fn(*built.arrays)
    np.testing.assert_allclose(value, expected, rtol=1e-13, atol=1e-13, err_msg=spec.source)
    value2, (cot_bar,) = spec.value_and_grad_fn(*built.arrays)
    np.testing.assert_allclose(value2, expected, rtol=1e-13, atol=1e-13, err_msg=spec.source)
    assert np.shape(cot_bar) == np.shape(expected_out)
    np.testing.assert_allclose(np.asarray(cot_bar, dtype=np.float64),
                               np.asarray(expected_out, dtype=np.float64),
                               rtol=1e-13, atol=1e-13, err_msg=spec.source)


# ---------------------------------------------------------------------------
# 4. float32 in, float32 out

FLOAT32_CASES = [
    ("exp", Case([I(2, 3)])),
    ("sigmoid", Case([I(4)])),
    ("tanh", Case([I()])),
    ("mul", Case([I(3, 1), I(4)])),
    ("mul", Case([I(2, 3), K(2.5)])),  # a Python float stays weak: float32 result
    ("div", Case([K(1.0), I(2, 3)])),
    ("pow", Case([I(2, 3), I(3)])),
    ("maximum", Case([I(2, 3, s="odd"), I(3, s="even")])),
    ("where", Case([Fixed(_bools(3, 1)), I(3, 4), K(0.5)])),
    ("sum", Case([I(2, 3, 4, s="normal")], {"axis": (0, 2), "keepdims": False})),
    ("mean", Case([I(3, 4, s="normal")], {"axis": 1, "keepdims": True})),
    ("max", Case([I(3, 4, s="distinct")], {"axis": 0})),
    ("logsumexp", Case([I(3, 4, s="normal")], {"axis": 1})),
    ("softmax", Case([I(3, 4, s="normal")], {"axis": -1})),
    ("log_softmax", Case([I(3, 4, s="normal")], {"axis": 0})),
    ("matmul", Case([I(2, 3, s="normal"), I(3, 4, s="normal")])),
    ("matmul", Case([I(3, s="normal"), I(3, 2, s="normal")])),
    ("transpose", Case([I(2, 3, 4, s="normal")], {"axes": (2, 0, 1)})),
    ("getitem", Case([I(3, 4, s="normal")], {"index": (slice(1, None), 2)})),
    ("broadcast_to", Case([I(3, 1, s="normal")], {"shape": (2, 3, 4)})),
    ("sum_to", Case([I(2, 3, 4, s="normal")], {"shape": (3, 1)})),
]


def _as_float32(case: Case) -> Case:
    ops = [In(s.shape, s.sampler, F32) if isinstance(s, In) else s for s in case.operands]
    return Case(ops, case.params)


@pytest.mark.parametrize("name,case", FLOAT32_CASES, ids=[f"{n}-{k}" for k, (n, _) in enumerate(FLOAT32_CASES)])
def test_float32_gradients_stay_float32(name, case):
    built32 = build(name, _as_float32(case), seed=1, cot_dtype=F32)
    built64 = build(name, case, seed=1)
    spec32 = compile_program(built32.program, grouped=True)
    spec64 = compile_program(built64.program, grouped=True)
    v32, g32 = spec32.value_and_grad_fn(*built32.arrays)
    # the same sample points, in float64
    arrays64 = [a.astype(F64) if a.dtype == F32 else a for a in built32.arrays]
    v64, g64 = spec64.value_and_grad_fn(*arrays64)
    assert np.result_type(v32) == F32, f"value is {np.result_type(v32)}\n{spec32.source}"
    check_gradient_arrays(g32, built32)
    for a, b in zip(g32, g64):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-5)


def test_mixed_precision_gradients_take_each_inputs_dtype():
    x = Value(Aval((2, 3), F32), "x")
    y = Value(Aval((3,), F64), "y")
    b = Builder()
    with b:
        s = b.bind("sum", b.bind("exp", x) * y)
    spec = compile_program(Program("f", [x, y], b.ops, [s], wrt=(0, 1)), grouped=True)
    xa = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    ya = np.array([0.5, -1.0, 2.0])
    value, (gx, gy) = spec.value_and_grad_fn(xa, ya)
    assert np.result_type(value) == F64
    assert gx.dtype == F32 and gx.shape == (2, 3)
    assert gy.dtype == F64 and gy.shape == (3,)
    np.testing.assert_allclose(gx, np.exp(xa.astype(F64)) * ya, rtol=1e-6)
    np.testing.assert_allclose(gy, np.exp(xa.astype(F64)).sum(axis=0), rtol=1e-6)


# ---------------------------------------------------------------------------
# Subgradient conventions where finite differences cannot look


@pytest.mark.parametrize("name", ["max", "min"])
def test_reduction_ties_share_the_gradient(name):
    """At a tie the derivative does not exist, but along the all-ones direction it
    does (max(x + t) = max(x) + t), so each reduced slice's gradient sums to its
    cotangent; gradc splits it evenly between the tied elements."""
    xa = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [-1.0, 5.0, 4.0, 5.0]])
    if name == "min":
        xa = -xa
    x = Value(Aval(xa.shape, F64), "x")
    w = np.array([1.5, -2.0, 0.5])
    b = Builder()
    with b:
        s = b.bind("sum", b.bind(name, x, axis=1) * w)
    spec = compile_program(Program("f", [x], b.ops, [s], wrt=(0,)))
    _, g = spec.value_and_grad_fn(xa)
    expected = np.array([[0, 0.5, 0.5, 0], [0.25, 0.25, 0.25, 0.25], [0, 0.5, 0, 0.5]]) * w[:, None]
    np.testing.assert_allclose(g, expected, rtol=1e-15)
    np.testing.assert_allclose(g.sum(axis=1), w, rtol=1e-15)


# ---------------------------------------------------------------------------
# Forward mode: every primitive's tangent rule agrees with its (FD-checked) VJP rule:
# the tangent of s = sum(out * cot) along u equals <grad s, u>.


@pytest.mark.parametrize("name,i", DIFF_CASE_IDS, ids=_ids(DIFF_CASE_IDS))
def test_jvp_agrees_with_vjp(name, i):
    from gradc.ad import forward
    from gradc.interpret import evaluate

    built = build(name, CASES[name][i], seed=i)
    if not built.wrt:
        return
    tangent = forward(built.program, built.wrt)
    verify(tangent)
    rng = np.random.default_rng(1000 + i)
    directions = [rng.standard_normal(built.arrays[k].shape).astype(built.arrays[k].dtype) for k in built.wrt]
    env = evaluate(tangent, *built.arrays, *directions)
    s_dot = float(np.asarray(env[tangent.outputs[1]], dtype=np.float64))
    _, grads = compile_program(built.program, grouped=True).value_and_grad_fn(*built.arrays)
    expected = sum(float(np.sum(np.asarray(g, np.float64) * d)) for g, d in zip(grads, directions))
    low = any(a.dtype == np.float32 for a in built.arrays) or any(
        op.out.dtype == np.float32 for op in built.program.ops)
    tol = 1e-4 if low else 1e-9
    assert s_dot == pytest.approx(expected, rel=tol, abs=tol), f"{name}: tangent {s_dot} vs <grad, u> {expected}"
