"""Splitting an adjoint program into the functions a checkpointing runtime calls.

The adjoint program of a stepped forward program (passes/steps.py) is cut, op by op,
into groups by the step each op came from:

    prologue          forward ops of step 0: what every step reads
    forward[i]        forward ops of step i+1: state x_i -> x_{i+1}
    adjoint[i]        forward ops of step i+1 again, then their reverse ops:
                      x_i and the adjoints flowing back from later steps -> adjoints for earlier ones
    finish            reverse ops of step 0 (and the returned gradients)

Nothing is re-derived: each group holds the very ops of the stored-everything program,
in the same order, so every result is bitwise the same. What crosses a boundary is
read off the ops (liveness), so a value used several steps later simply stays in
the state.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Const, Op, Program, Value
from gradc.runtime.checkpoint import Fixed

from .plan import Call, ChainPlan, step_program


@dataclass
class StepPlan:
    """The groups of a split adjoint program, as sub-programs over shared Values."""

    adjoint: Program  # the whole stored-everything adjoint program
    prologue: Program
    forward: list[Program]  # forward[i]: step i (x_i -> x_{i+1}); none for the last step
    reverse: list[Program]  # reverse[i]: the adjoint of step i
    finish: Program
    states: list[list[Value]]  # states[i]: the values making up x_i, i = 0..l
    params: list[Value]  # inputs and prologue values: held for the whole run

    @property
    def steps(self) -> int:
        return len(self.reverse)

    def chain_plan(self) -> ChainPlan:
        """The plan as calls keyed by SSA value ids (what the runtime Chain passes)."""
        def call(p: Program) -> Call:
            return Call(p, tuple(v.uid for v in p.inputs), tuple(v.uid for v in p.outputs))

        return ChainPlan(self.adjoint, tuple(v.uid for v in self.adjoint.inputs),
                         call(self.prologue) if self.prologue.ops else None,
                         [call(p) for p in self.forward], [call(p) for p in self.reverse],
                         call(self.finish) if self.finish.ops else None,
                         [tuple(v.uid for v in state) for state in self.states],
                         tuple(Fixed(v.value) if isinstance(v, Const) else v.uid for v in self.adjoint.outputs),
                         source=self)

    def marks(self, program: Program, iterations: dict) -> tuple[dict, dict]:
        """(ChainPlan.marks) The ops carry their steps; stored: params and boundary states."""
        stored = self.stored()
        step = {v: 0 for v in program.inputs}
        step.update((op.out, op.step or 0) for op in program.forward_ops())
        kept = {v: "stored" if v in stored else "recomputed" if k else "transient" for v, k in step.items()}
        return kept, step

    def stored(self) -> set[Value]:
        """Forward values a checkpointed run keeps (params and boundary states); the
        other forward values are recomputed in the backward pass."""
        return set(self.params).union(*map(set, self.states))


def split(adjoint: Program, steps: int) -> StepPlan:
    ops = adjoint.ops
    steps = max(steps, 1)  # a chain has a step, even an empty one (every op in the prologue)
    if any(op.step is None for op in ops):
        if any(op.step is not None for op in ops):
            raise ValueError("split needs every op tagged with a step (passes.steps)")
        # Nothing tagged: the forward program has no ops (a loss that is a constant), and
        # the ops returning the (zero) gradients run once, in the finish.
        ops = [Op(op.prim, op.inputs, op.params, op.out, op.loc, op.sweep, 0) for op in ops]
    fwd = [[] for _ in range(steps + 1)]
    rev = [[] for _ in range(steps + 1)]
    for op in ops:
        (fwd if op.sweep == "forward" else rev)[op.step].append(op)

    # Execution order of the groups: prologue, forward 1..l (repeatable), then the
    # adjoint groups l..1 (each re-running its forward ops), then the finish.
    made_fwd = {op.out: op.step for op in ops if op.sweep == "forward"}

    # State x_i: forward values of steps 1..i that any group of a later step reads.
    last_reader = {}  # forward value -> largest step whose forward or reverse group reads it
    for op in ops:
        if op.step == 0:
            continue
        for v in op.inputs:
            if v in made_fwd and made_fwd[v] >= 1:
                last_reader[v] = max(last_reader.get(v, 0), op.step)
    out_set = set(adjoint.outputs)
    states: list[list[Value]] = [[] for _ in range(steps + 1)]
    for v, k in made_fwd.items():
        for i in range(max(k, 1), last_reader.get(v, 0)):  # x_k .. x_{r-1}
            states[i].append(v)

    forward = []
    for i in range(steps - 1):
        made = {op.out for op in fwd[i + 1]}
        outs = [v for v in states[i + 1] if v in made]
        forward.append(_group(adjoint, f"step {i}", fwd[i + 1], outs))

    # Adjoint groups: outputs are what a group makes that an earlier-run group or the
    # program's outputs read (adjoints of states and of params, in the main).
    reverse = []
    read_later: set[Value] = set()  # read by the groups that run after adjoint[i]: rev[0..i]
    for i in range(steps):
        k = i + 1
        group_ops = fwd[k] + rev[k]
        read_later.update(v for op in rev[i] for v in op.inputs)
        outs = [op.out for op in group_ops if op.out in read_later or op.out in out_set]
        reverse.append(_group(adjoint, f"adjoint of step {i}", group_ops, outs))
    finish_outs = [v for v in adjoint.outputs if v in {op.out for op in rev[0]}]
    finish = _group(adjoint, "finish", rev[0], finish_outs)
    read_after = {v for op in ops if op.step != 0 or op.sweep != "forward" for v in op.inputs}
    prologue_outs = [op.out for op in fwd[0] if op.out in read_after or op.out in out_set]
    prologue = _group(adjoint, "prologue", fwd[0], prologue_outs)
    return StepPlan(adjoint, prologue, forward, reverse, finish, states,
                    list(adjoint.inputs) + prologue.outputs)


def _group(adjoint: Program, name: str, ops: list[Op], outputs: list[Value]) -> Program:
    return step_program(name, ops, outputs, loc=adjoint.loc, static_args=adjoint.static_args)
