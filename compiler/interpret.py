"""Evaluate a Program op by op with each primitive's NumPy implementation.

The generated code is what users run; this interpreter is the reference the
trace table and the tests read intermediate values from (v_1 = 1.25, ...).
"""
from __future__ import annotations



from .ir import Const, Program, Value


def evaluate(program: Program, *args) -> dict[Value, object]:
    """Values of every input and op result, keyed by Value."""
    if len(args) != len(program.inputs):
        raise TypeError(f"{program.name} takes {len(program.inputs)} inputs, got {len(args)}")
    env: dict[Value, object] = dict(zip(program.inputs, args))

    def read(v: Value):
        return v.value if isinstance(v, Const) else env[v]

    for op in program.ops:
        env[op.out] = op.prim.evaluate(*(read(v) for v in op.inputs), **op.params)
    for v in program.outputs:
        if isinstance(v, Const):
            env[v] = v.value
    return env


def by_number(program: Program, values: dict[Value, object]) -> tuple[dict[int, object], dict[int, object]]:
    """(primal values by v-index, adjoint values by the v-index they are adjoints of).

    For an adjoint with several partial sums, the last (complete) one wins."""
    nums = program.numbering()
    primal = {k: values[v] for v, k in nums.items() if v in values}
    adjoint = {}
    for op in program.ops:
        target = op.out.adjoint_of
        if target is not None and target in nums:
            adjoint[nums[target]] = values[op.out]
    return primal, adjoint


__all__ = ["evaluate", "by_number"]
