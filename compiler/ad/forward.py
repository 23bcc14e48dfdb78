"""The tangent (forward-mode) pass: Program → Program.

For each `wrt` input x the tangent program takes a direction ẋ (an extra input of
x's shape) and computes, alongside every active value v, its directional
derivative v̇, in the forward order. Applied to an adjoint program it gives
forward-over-reverse second derivatives (Hessian-vector products, seed 004).

Rules, in order of preference: a primitive's own `jvp`; for linear primitives the
primitive applied to the tangent; for elementwise primitives the VJP rule read
forwards (for an elementwise map the local Jacobian is diagonal, so
`vjp(ẋ)[i]` is exactly the i-th operand's contribution to v̇).

A tangent selected by `where` (or maximum, minimum, clip, relu) is zero outside a
mask; like the reverse pass, this one carries the mask through the elementwise ops
that read it and masks their tangents, so `np.sqrt(np.where(c, u, 0))` has the
tangent 0 (not 0/0) where c is false (ad/masks.py).
"""
from __future__ import annotations

from ..errors import CompileError
from ..ir import Builder, Const, Op, Program, Value, bind
from ..passes import optimize
from ..passes.activity import varied
from ..passes.simplify import rewrite
from . import masks


def forward(program: Program, wrt: tuple[int, ...] | None = None) -> Program:
    """Program with inputs (inputs..., ẋ for x in wrt) and outputs (outputs..., their tangents)."""
    wrt = program.wrt if wrt is None else tuple(wrt)
    live = varied(program, wrt)
    tangent: dict[Value, Value] = {}
    dots = []
    for i in wrt:
        x = program.inputs[i]
        dot = Value(x.aval, f"{x.name}_dot")
        dot.tangent_of = x
        tangent[x] = dot
        dots.append(dot)

    builder = Builder(rewrite=rewrite, sweep="tangent")
    support: dict[Value, object] = {}  # v -> where v̇ can be nonzero (masks.Mask); absent: anywhere
    with builder:
        for op in program.ops:
            if op.out not in live or not op.prim.differentiable:
                continue
            tangents = [tangent.get(v) for v in op.inputs]
            if all(t is None for t in tangents):
                continue
            builder.loc = op.loc
            t = _tangent(op, tangents)
            if t is None or masks.is_zero(t):
                continue  # a tangent that is identically zero contributes nothing
            seeds = [(v, d) for v, d in zip(op.inputs, tangents) if d is not None]
            m = support.get(seeds[0][0])
            for v, _ in seeds[1:]:
                m = masks.disj(m, support.get(v))
            t, m = masks.through(op.prim, m, t, [d for _, d in seeds])
            if t.shape != op.out.shape:
                t = builder.bind("broadcast_to", t, shape=op.out.shape)
            if t.dtype != op.out.dtype:
                t = builder.bind("cast", t, dtype=op.out.dtype)
            if t.producer is not None and t.producer.sweep == "tangent" and t.tangent_of is None:
                t.tangent_of = op.out
            tangent[op.out] = t
            support[op.out] = m
        builder.loc = None
        outs = [_zero_or(tangent.get(v), v, builder) for v in program.outputs]

    result = Program(program.name, list(program.inputs) + dots, list(program.ops) + builder.ops,
                     list(program.outputs) + outs, program.loc, program.wrt, program.static_args)
    return optimize(result)


def _tangent(op: Op, tangents: list) -> Value | None:
    prim = op.prim
    if not prim.derivative_known:
        raise CompileError(f"cannot differentiate {prim.name}: gradc has no derivative rule for it", op.loc)
    if prim.jvp is not None:
        return prim.jvp(tangents, op.out, *op.inputs, **op.params)
    if prim.linear:
        return bind(prim.name, tangents[0], **op.params)
    if prim.elementwise and prim.vjp is not None:
        total = None
        for i, t in enumerate(tangents):
            if t is None:
                continue
            contribution = prim.vjp(t, op.out, *op.inputs, **op.params)[i]
            if contribution is not None:
                total = contribution if total is None else total + contribution
        return total
    raise CompileError(f"cannot differentiate {prim.name} in forward mode: it has no tangent rule", op.loc)


def _zero_or(t: Value | None, v: Value, builder: Builder) -> Value:
    """An output's tangent; zero where it does not depend on the directions."""
    if t is not None:
        return t
    if isinstance(v, Const):
        return Const(0.0) if v.is_scalar else builder.bind("zeros_like", v)
    return builder.bind("zeros_like", v)
