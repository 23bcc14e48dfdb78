"""The batching pass (compiler/ad/batching.py), rule by rule.

Every registered primitive, on every operand case of the registry tests (test_primitives.py
and tests/primitive_cases), is batched with each of its inputs batched alone and with all of
them batched (also along their last axis), and the generated batched code is compared with
the primitive evaluated on one example at a time: to 1e-12 for floating-point results,
exactly for integer and boolean ones. The same programs batched without rules (every op a
loop over the batch) must agree too, and so must the per-example gradient programs of every
differentiable case, whose adjoint sweeps combine many rules.
"""
from __future__ import annotations

import numpy as np
import pytest

import gradc
import test_primitives as T
from gradc import codegen
from gradc.ad.batching import batch_with_report
from gradc.ad.batching_rules import rule_for
from gradc.api import compile_program
from gradc.ir import Program, verify
from gradc.primitives import registry
from gradc.runtime import loader

B = 3
CASE_IDS = T.CASE_IDS
DIFF_CASE_IDS = T.DIFF_CASE_IDS


def _examples(name, case, seed):
    """B independent draws of the case's inputs: In operands resampled, Fixed ones (labels,
    masks, index arrays) permuted, so batched index arrays differ from example to example."""
    rng = np.random.default_rng(1000 + seed)
    base = T.build(name, case, seed=seed)
    draws = []
    for k in range(B):
        arrays = list(T.build(name, case, seed=seed + 17 * (k + 1)).arrays)
        j = 0
        for spec in case.operands:
            if isinstance(spec, (T.In, T.Fixed)):
                if isinstance(spec, T.Fixed) and arrays[j].size > 1:
                    arrays[j] = rng.permutation(arrays[j].ravel()).reshape(arrays[j].shape)
                j += 1
        draws.append(arrays)
    return base, draws


def _load(program: Program):
    verify(program)
    source = codegen.single_function_module(program, "batched", "a batched test program", "a test")
    return loader.load(source, "batched", codegen.constants(program, avoid=("batched",)))["batched"], source


def _one_op(built) -> Program:
    op = built.program.ops[0]
    return Program(f"f_{op.prim.name}", built.program.inputs, [op], [op.out])


def _stack(draws, j, axis):
    return np.stack([d[j] for d in draws], axis=axis)


def _patterns(n, ndims):
    """in_axes choices: each input alone, all inputs at axis 0, all at their last axis."""
    out = [tuple(0 if k == j else None for k in range(n)) for j in range(n)]
    out += [(0,) * n, tuple(nd for nd in ndims)]
    return list(dict.fromkeys(out))


def _compare(out, ref, what):
    out, ref = np.asarray(out), np.asarray(ref)
    assert out.dtype == ref.dtype, f"{what}: dtype {out.dtype} != {ref.dtype}"
    assert out.shape == ref.shape, f"{what}: shape {out.shape} != {ref.shape}"
    if ref.dtype.kind == "f":
        np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12, err_msg=what)
    else:
        np.testing.assert_array_equal(out, ref, err_msg=what)


def _check_batched(name, i, use_rules, patterns=None):
    case = T.CASES[name][i]
    base, draws = _examples(name, case, i)
    program = _one_op(base)
    op = program.ops[0]
    n = len(program.inputs)
    assert n, "a case without inputs has nothing to batch"
    ndims = [v.ndim for v in program.inputs]
    for axes in patterns or _patterns(n, ndims):
        batched, fallbacks = batch_with_report(program, axes, B, use_rules=use_rules)
        fn, source = _load(batched)
        args = [_stack(draws, j, a) if a is not None else base.arrays[j] for j, a in enumerate(axes)]
        out = fn(*args)
        expected_fallback = not use_rules or rule_for(op.prim) is None
        assert bool(fallbacks) == expected_fallback, (
            f"{name} case {i} in_axes {axes}: fallbacks {fallbacks}\n{source}")
        for k in range(B):
            example = [draws[k][j] if a is not None else base.arrays[j] for j, a in enumerate(axes)]
            ref = op.prim.evaluate(*base.operands(*example), **op.params)
            _compare(out[k], ref, f"{name} case {i} in_axes {axes} example {k}\n{source}")


@pytest.mark.parametrize("prim", T.ALL, ids=lambda p: p.name)
def test_every_primitive_has_a_batching_rule(prim):
    """User primitives run per example by design (gradc cannot see that they are elementwise)."""
    assert (rule_for(prim) is None) == (prim.family == "user"), prim.name


@pytest.mark.parametrize("name,i", CASE_IDS, ids=T._ids(CASE_IDS))
def test_batched_primitive_matches_each_example(name, i):
    _check_batched(name, i, use_rules=True)


@pytest.mark.parametrize("name,i", CASE_IDS, ids=T._ids(CASE_IDS))
def test_loop_over_the_batch_matches_each_example(name, i):
    """The fallback for ops without a rule: a loop region over the examples."""
    n = len(T.build(name, T.CASES[name][i], seed=i).program.inputs)
    _check_batched(name, i, use_rules=False, patterns=[(0,) * n] if n else None)


@pytest.mark.parametrize("name,i", DIFF_CASE_IDS, ids=T._ids(DIFF_CASE_IDS))
def test_per_example_gradient_programs(name, i):
    """The adjoint program of each case (value and gradient), batched over every input, gives
    each example's value and gradient: the derivative rules' primitives, batched together."""
    case = T.CASES[name][i]
    base, draws = _examples(name, case, i)
    spec = compile_program(base.program, grouped=True)
    n = len(base.program.inputs)
    batched, fallbacks = batch_with_report(spec.adjoint_ir, (0,) * n, B)
    fn, source = _load(batched)
    out = fn(*[_stack(draws, j, 0) for j in range(n)])
    value, grads = out[0], out[1:]
    for k in range(B):
        v_k, g_k = spec.value_and_grad_fn(*draws[k])
        _compare(value[k], np.asarray(v_k), f"{name} case {i}: value of example {k}\n{source}")
        for g, ref in zip(grads, g_k):
            out_k, ref = np.asarray(g[k]), np.asarray(ref)
            assert out_k.shape == ref.shape and out_k.dtype == ref.dtype
            np.testing.assert_allclose(out_k, ref, rtol=1e-11, atol=1e-12,
                                       err_msg=f"{name} case {i}: gradient of example {k}\n{source}")
    others = [f for f in fallbacks if registry.get(f).family != "user"]
    assert not others, f"{name} case {i}: ops run per example: {others}\n{source}"


def test_outputs_are_fresh_arrays():
    """A batched output never aliases an input, nor is it a read-only view."""
    program = _one_op(T.build("transpose", T.CASES["transpose"][0]))  # (2, 3) -> (3, 2): a view
    identity = Program("f", program.inputs, [], [program.inputs[0]])  # returns its input
    for p, axes, shape in [(program, (0,), (B, 2, 3)), (program, (2,), (2, 3, B)),
                           (identity, (None,), (2, 3)), (identity, (1,), (2, B, 3))]:
        fn, _ = _load(batch_with_report(p, axes, B)[0])
        x = np.arange(float(np.prod(shape))).reshape(shape)
        out = fn(x)
        assert out.shape[0] == B and out.flags.writeable and not np.shares_memory(out, x)


@pytest.mark.parametrize("use_rules", [True, False], ids=["rules", "per-example"])
@pytest.mark.parametrize("axes", [(None, None, 0, 0), (None, None, 0, None), (None, None, None, 0),
                                  (0, 0, None, None), (2, None, 1, 0)])
def test_loop_regions_batch_by_their_body(axes, use_rules):
    """The RNN's time loop (both sweeps): batched through its body (a carry becomes batched where
    the initial value or an iteration makes it so), or the whole loop once per example."""
    import rnn_loop

    rng = np.random.default_rng(5)
    args = [rng.normal(size=(3, 3)) / 2, rng.normal(size=(3, 2)) / 2, rng.normal(size=(4, 2)),
            rng.normal(size=3)]
    c = gradc.compile(rnn_loop.rnn, wrt=("W", "U", "h0"), args=args)
    batched, fallbacks = batch_with_report(c.adjoint_ir, axes, B, use_rules=use_rules)
    fn, source = _load(batched)
    examples = [[a + 0.1 * k * (ax is not None) for a, ax in zip(args, axes)] for k in range(B)]
    stacked = [np.stack([e[j] for e in examples], axis=ax) if ax is not None else args[j]
               for j, ax in enumerate(axes)]
    out = fn(*stacked)
    assert ("for t in range(4):" in source) and (bool(fallbacks) != use_rules), source
    for k in range(B):
        value, grads = c.value_and_grad(*examples[k])
        np.testing.assert_allclose(out[0][k], value, rtol=1e-13)
        for g, ref in zip(out[1:], grads):
            np.testing.assert_allclose(g[k], ref, rtol=1e-12, atol=1e-14, err_msg=source)
