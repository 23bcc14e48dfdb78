"""Shared walk for passes that rewrite ops: never mutates the input program."""
from __future__ import annotations

from ..ir import Op, Program, Value


def copy_meta(new: Value, old: Value) -> Value:
    """Carry printing hints over to a value that replaces `old` (only for new values)."""
    new.name, new.adjoint_of, new.tangent_of, new.pytype = old.name, old.adjoint_of, old.tangent_of, old.pytype
    return new


def clone(op: Op, inputs: tuple[Value, ...]) -> Op:
    """The same op over new operands; reuses `op` itself when nothing changed."""
    if inputs == op.inputs:
        return op
    out = copy_meta(Value(op.out.aval), op.out)
    new = Op(op.prim, inputs, op.params, out, op.loc, op.sweep, op.step)
    out.producer = new
    return new


def rebuild(program: Program, visit) -> Program:
    """visit(op, inputs, emit) must return the Value that replaces op.out;
    `emit(new_op)` appends an op to the result."""
    subst: dict[Value, Value] = {}
    ops: list[Op] = []
    for op in program.ops:
        inputs = tuple(subst.get(v, v) for v in op.inputs)
        new = visit(op, inputs, ops.append)
        if new is not op.out:
            subst[op.out] = new
    for op in ops:  # adjoint and tangent names follow the values they belong to
        if op.out.adjoint_of in subst:
            op.out.adjoint_of = subst[op.out.adjoint_of]
        if op.out.tangent_of in subst:
            op.out.tangent_of = subst[op.out.tangent_of]
    outputs = [subst.get(v, v) for v in program.outputs]
    return program.with_ops(ops, outputs)
