"""Checkpointing steps: Program → Program passes that tag each forward op with a step.

A checkpointed program is a chain: a prologue (step 0: what every step reads, such
as weights and their views) followed by steps 1..l, each turning a small boundary
state into the next. The frontend tags the ops of each `for` iteration and of each
call to a `gradc.checkpoint` helper; `number_steps` turns those tags into 0..l.
A straight-line program without tags is cut into layers by `cut_layers`.
Tags are metadata only: the ops, their order and so every number computed stay
those of the untagged program, so a checkpointed gradient is bitwise the same as a
stored one.
"""
from __future__ import annotations

import itertools
import math

from ..ir import Const, Op, Program, Value
from ..passes.rebuild import copy_meta, rebuild

# Operations on prologue values worth moving out of the steps even when only one
# step reads them: they are views (no memory), and hoisting them makes the steps
# of a loop identical (`W[i]` becomes an argument instead of a constant index).
HOISTED = frozenset({"getitem", "transpose", "reshape", "expand_dims", "broadcast_to"})


def has_steps(program: Program) -> bool:
    return any(op.step is not None for op in program.ops)


def count_steps(program: Program) -> int:
    return max((op.step or 0 for op in program.ops), default=0)


def number_steps(program: Program) -> Program:
    """Frontend tags → 0 (prologue) and 1..l in program order.

    Untagged ops before the first tagged one form the prologue; an untagged op after
    it joins the step before it (the loss after a loop joins the last iteration).
    Loop-invariant ops — reading only inputs and prologue values — join the prologue
    when they are views or more than one step reads them (CSE already made them one)."""
    if not has_steps(program):
        return program
    raw: list[int] = []
    numbers: dict[object, int] = {}
    current = 0
    for op in program.ops:
        if op.step is not None:
            current = numbers.setdefault(op.step, len(numbers) + 1)
        raw.append(current)
    readers: dict[Value, set[int]] = {}
    for op, step in zip(program.ops, raw):
        for v in op.inputs:
            readers.setdefault(v, set()).add(step)

    prologue: set[Value] = set(program.inputs)
    hoisted, rest = [], []
    for op, step in zip(program.ops, raw):
        invariant = all(isinstance(v, Const) or v in prologue for v in op.inputs)
        if step == 0 or (invariant and (op.prim.name in HOISTED or len(readers.get(op.out, ())) > 1)):
            prologue.add(op.out)
            hoisted.append((op, 0))
        else:
            rest.append((op, step))
    return with_steps(program, hoisted + rest)


def cut_layers(program: Program, period: int | None = None) -> Program:
    """Tag a straight-line program with steps cut where little data crosses.

    A cut is allowed where the bytes live across it (values made before, read after,
    inputs excluded) are the fewest anywhere; cuts are at least a layer apart. The
    layer length is the period of the op sequence (a deep network repeats its
    layer's ops; a cut starts a layer like the one before it) or, with no
    repetition, about the square root of the op count."""
    ops = program.ops
    n = len(ops)
    if n < 2:
        return with_steps(program, [(op, 1) for op in ops])
    names = [op.prim.name for op in ops]
    repeats = period or _period(names)
    period = repeats or max(1, round(math.sqrt(n)))
    last_read: dict[Value, int] = {}
    for i, op in enumerate(ops):
        for v in op.inputs:
            last_read[v] = i
    for v in program.outputs:
        last_read[v] = n
    change = [0] * (n + 2)  # live[b]: bytes made by ops[:b] and read by ops[b:]
    for i, op in enumerate(ops):
        end = last_read.get(op.out, i)
        if end > i:
            change[i + 1] += op.out.aval.size * op.out.dtype.itemsize
            change[end + 1] -= op.out.aval.size * op.out.dtype.itemsize
    live = list(itertools.accumulate(change))
    fewest = min(live[1:n])
    step, last_cut, tags = 1, 0, []
    for b, op in enumerate(ops):
        starts_layer = not repeats or names[b:b + period] == names[b - period:b]
        results = names[b] == "loop_result"  # a region op and its results stay in one step
        if b > 0 and b - last_cut >= period and live[b] <= fewest and n - b >= period and starts_layer \
                and not results:
            step, last_cut = step + 1, b
        tags.append((op, step))
    return with_steps(program, tags)


def _period(names: list[str]) -> int | None:
    """The shortest p ≥ 2 with names[i] == names[i + p] for all i but a period's worth or a
    tenth (the head and tail of a network differ from its layers); three repeats at least."""
    n = len(names)
    for p in range(2, min(n // 3, 256) + 1):
        differ = sum(names[i] != names[i + p] for i in range(n - p))
        if differ <= max(p, 0.1 * (n - p)):
            return p
    return None


def with_steps(program: Program, tagged: list[tuple[Op, int]]) -> Program:
    """The program with these ops, in this order, each tagged with its step (tests use it
    to tag random programs as the frontend would)."""
    def visit(op, inputs, emit):
        out = copy_meta(Value(op.out.aval), op.out)
        new = Op(op.prim, inputs, op.params, out, op.loc, op.sweep, steps[op])
        out.producer = new
        emit(new)
        return out

    steps = dict(tagged)
    return rebuild(program.with_ops([op for op, _ in tagged]), visit)
