"""Program → Program passes, and the pipeline that runs them to a fixed point."""
from __future__ import annotations

from ..ir import Program
from .cse import cse
from .dce import dce
from .simplify import simplify


def optimize(program: Program) -> Program:
    """Simplify, share common subexpressions, drop dead code, until nothing changes."""
    for _ in range(4):
        before = len(program.ops)
        program = dce(cse(simplify(program)))
        if len(program.ops) == before:
            break
    return program


__all__ = ["optimize", "simplify", "cse", "dce"]
