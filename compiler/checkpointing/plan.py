"""What a checkpointed gradient runs: step functions (as programs) and the keys they pass.

Both ways of finding steps give one: split.py (a stepped adjoint program, keys are SSA
value ids) and loops.py (a loop region's iterations, keys that name the step too).
module.py writes the programs as one module, chain.py wires them into a runtime Chain.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import Const, Op, Program, Value
from ..passes.dce import dce


def step_program(name: str, ops: list[Op], outputs: list[Value], bound=(), loc=None,
                 static_args=None) -> Program:
    """A step function's program: `ops` (dead ones dropped) taking `bound` first, then every
    other value read from outside, in order of first use (so alike steps come out alike)."""
    program = dce(Program(name, [], list(ops), list(outputs), loc, (), static_args or {}))
    made = {op.out for op in program.ops}
    inputs: dict[Value, None] = dict.fromkeys(v for v in bound if v not in made)
    for v in [v for op in program.ops for v in op.inputs] + list(outputs):
        if not isinstance(v, Const) and v not in made:
            inputs.setdefault(v)
    program.inputs = list(inputs)
    return program


@dataclass
class Call:
    """One call of a step function: its program and the keys of its arguments and results."""

    program: Program
    args: tuple
    outs: tuple


@dataclass
class ChainPlan:
    adjoint: Program  # the stored-everything adjoint program the steps come from
    inputs: tuple  # keys of the adjoint program's inputs
    prologue: Call | None
    forward: list[Call]  # forward[i]: x_i -> x_{i+1}; none for the last step
    reverse: list[Call]  # reverse[i]: the adjoint of step i
    finish: Call | None
    states: list[tuple]  # states[i]: the keys making up x_i
    outputs: tuple  # keys, or runtime Fixed values
    stacks: list[tuple] = field(default_factory=list)  # (row keys, key): rows stacked before the finish
    kept: list[tuple] = field(default_factory=list)  # kept[i]: results of forward[i] kept for the run (ys rows)
    gathers: list[tuple] = field(default_factory=list)  # (reverse step, row keys, key): kept rows stacked first
    source: object = None  # the split.StepPlan or the loop plan it was made from (the displays read it)

    @property
    def steps(self) -> int:
        return len(self.reverse)

    def calls(self) -> list[Call]:
        return [c for c in [self.prologue, *self.forward, *self.reverse, self.finish] if c is not None]

    def programs(self) -> list[Program]:
        """Each distinct program once, in the order the chain first calls it."""
        seen: dict[int, Program] = {}
        for c in self.calls():
            seen.setdefault(id(c.program), c.program)
        return list(seen.values())

    def marks(self, program: Program, iterations: dict) -> tuple[dict, dict]:
        """For the displays: each input and forward value of `program` (the adjoint program,
        or its flat view: `iterations` maps its ops' Op.step tags to (loc, iteration, trip
        count)) → its step (0: the prologue, k: the schedule's step k - 1), and whether
        the run keeps it: "stored", "recomputed" or "transient" (made before the first
        step, read by no step)."""
        return self.source.marks(program, iterations)

    def release(self) -> list[tuple]:
        """release[i]: keys made by later reverse steps that reverse step i reads last (the
        runtime drops them after it); outputs, stacked rows and the finish's inputs are kept."""
        keep = set(k for k in self.outputs if not hasattr(k, "value"))
        keep |= {k for rows, _ in self.stacks for k in rows}
        if self.finish is not None:
            keep |= set(self.finish.args)
        made_by = {k: i for i, call in enumerate(self.reverse) for k in call.outs}
        last: dict = {}
        for i in reversed(range(len(self.reverse))):  # the order they run
            for k in self.reverse[i].args:
                if k in made_by and k not in keep:
                    last[k] = i
        release = [[] for _ in self.reverse]
        for k, i in last.items():
            release[i].append(k)
        return [tuple(r) for r in release]
