"""Activity analysis: which values carry derivative information.

A value is *varied* if it depends differentiably on a `wrt` input, and *useful*
if it reaches an output. Only active (varied and useful) values get adjoint code,
so data arrays, labels and masks cost nothing in the reverse sweep.
"""
from __future__ import annotations

from ..ir import Program, Value


def varied(program: Program, wrt) -> set[Value]:
    out = {program.inputs[i] for i in wrt}
    for op in program.ops:
        if op.prim.differentiable and any(v in out for v in op.inputs):
            out.add(op.out)
    return out


def useful(program: Program) -> set[Value]:
    out = set(program.outputs)
    for op in reversed(program.ops):
        if op.out in out:
            out.update(op.inputs)
    return out


def active(program: Program, wrt) -> set[Value]:
    return varied(program, wrt) & useful(program)
