"""Dead-code elimination: keep only ops whose results reach an output."""
from __future__ import annotations

from ..ir import Program


def dce(program: Program) -> Program:
    live = {v for v in program.outputs}
    kept = []
    for op in reversed(program.ops):
        if op.out in live:
            kept.append(op)
            live.update(op.inputs)
    kept.reverse()
    return program.with_ops(kept)
