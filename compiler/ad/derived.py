"""Programs derived by composing the two AD passes: JVPs, VJPs of any output shape,
and Hessian-vector products, each an ordinary Program for codegen to emit."""
from __future__ import annotations

import os

from ..ir import Builder, Program, Value, verify
from ..passes import dce, optimize
from .forward import forward
from .reverse import reverse
from ..regions import has_loops, unroll


def jvp_program(program: Program) -> Program:
    """(outputs..., their tangents) from (inputs..., directions for wrt)."""
    return _or_unrolled(lambda p: forward(p, p.wrt), program)


def vjp_program(program: Program) -> Program:
    """The cotangent pulled back to each wrt input, from (inputs..., cotangent)."""
    adjoint = reverse(program, program.wrt, cotangent=True)
    return adjoint.with_ops(adjoint.ops, adjoint.outputs[1:])


def hvp_program(adjoint: Program, mode: str = "forward-over-reverse") -> Program:
    """H·v for each wrt input, from (inputs..., directions), given the adjoint program."""
    return _or_unrolled(lambda p: _hvp(p, mode), adjoint)


def _or_unrolled(build, program: Program) -> Program:
    """build(program), loops staying loops; should that fail, build it from the program
    with its loops unrolled (a gap in the loop rules must never cost a derivative)."""
    if not has_loops(program):
        return build(program)
    try:
        return verify(build(program))
    except Exception:  # noqa: BLE001
        if os.environ.get("GRADC_DEBUG_LOOPS"):
            raise
        return build(unroll(program))


def _hvp(adjoint: Program, mode: str) -> Program:
    if mode == "forward-over-reverse":
        # Seed 004's trick: the tangent of the gradient along v is H v.
        both = forward(adjoint, adjoint.wrt)
        return dce(both.with_ops(both.ops, both.outputs[len(adjoint.outputs) + 1:]))
    if mode == "reverse-over-reverse":
        # The gradient of ⟨∇f(x), v⟩ with respect to x is H v.
        directions = [Value(adjoint.inputs[i].aval, f"{adjoint.inputs[i].name}_dir") for i in adjoint.wrt]
        builder = Builder()
        with builder:
            total = None
            for g, d in zip(adjoint.outputs[1:], directions):
                term = builder.bind("sum", builder.bind("mul", g, d), axis=None, keepdims=False)
                total = term if total is None else builder.bind("add", total, term)
        inner = Program(adjoint.name, list(adjoint.inputs) + directions, list(adjoint.ops) + builder.ops,
                        [total], adjoint.loc, adjoint.wrt)
        outer = reverse(optimize(inner), adjoint.wrt)
        return outer.with_ops(outer.ops, outer.outputs[1:])
    raise ValueError("mode is 'forward-over-reverse' or 'reverse-over-reverse'")
