"""Common-subexpression elimination: one op per (primitive, operands, parameters)."""
from __future__ import annotations

from ..ir import Const, Program, freeze
from .rebuild import clone, rebuild


def cse(program: Program) -> Program:
    seen: dict = {}

    def visit(op, inputs, emit):
        key = (op.prim.name, tuple(_operand_key(v) for v in inputs), freeze(op.params))
        if key in seen:
            return seen[key]
        new = clone(op, inputs)
        emit(new)
        if op.prim.shareable:
            seen[key] = new.out
        return new.out

    return rebuild(program, visit)


def _operand_key(v):
    # Equal scalar constants are interchangeable; arrays are compared by identity.
    if isinstance(v, Const) and v.is_scalar:
        return ("const", type(v.value).__name__, v.dtype.str, repr(v.value))
    return v.uid
