"""A StepPlan → one Python/NumPy module of step functions for the checkpointing runtime.

Each group of the plan becomes a function; groups whose code is the same (the
iterations of a loop, in the main) share one, so a 200-step loop gives a handful
of functions, not 400. Names inside a function are its own: arguments keep the
user's variable names where they have them, results are numbered v1, v2, ... from
the function's first line.
"""
from __future__ import annotations

import keyword
import re
import textwrap
from dataclasses import dataclass

from .ad.checkpoint import StepPlan
from .codegen import (HELPERS, INLINE_ARRAY_LIMIT, Naming, array_literal, const_names, constants,
                      function_source, helper_source, helpers_used)
from .ir import Program, Value


@dataclass
class StepModule:
    source: str
    prologue: str | None  # function names, looked up in the loaded module (no prologue: None)
    forward: list[str]  # per step; the last step has none (it is only ever reversed)
    reverse: list[str]
    finish: str | None


class StepNaming(Naming):
    """Local names: arguments by the user's variable names (made unique), then v1, v2, ..."""

    def __init__(self, program: Program, consts: dict):
        super().__init__(program, "python", consts)
        self.given: dict[Value, str] = {}
        taken = set(consts.values()) | {"np"} | set(HELPERS)
        for i, v in enumerate(program.inputs):
            if v.adjoint_of is not None and v.adjoint_of not in self.numbers and _hint(v.adjoint_of):
                name = f"{_hint(v.adjoint_of)}_bar"
            elif v.adjoint_of is not None or v.tangent_of is not None:
                name = self.base(v)
            else:
                name = _hint(v) or f"a{i}"
            base, k = name, 2
            while name in taken:
                name, k = f"{base}_{k}", k + 1
            taken.add(name)
            self.given[v] = name

    def base(self, v: Value) -> str:
        given = getattr(self, "given", {})
        if v in given:
            return given[v]
        if v not in self.numbers and v.adjoint_of is None and v.tangent_of is None and _hint(v):
            return _hint(v)  # a view made in the reverse sweep, such as W.T
        return super().base(v)

    def _mark(self, v: Value, suffix: str, accent: str) -> str:
        given = getattr(self, "given", {})
        return f"{given[v]}{suffix}" if v in given else super()._mark(v, suffix, accent)


SUFFIXES = {"getitem": "i", "transpose": "T", "reshape": "r", "expand_dims": "e", "broadcast_to": "b"}


def _hint(v: Value) -> str | None:
    """The user's name for v, or for the array v is a view of (`W[i]` → W_i)."""
    if _usable(v.name):
        return v.name
    op = v.producer
    if op is not None and op.prim.name in SUFFIXES and op.inputs and _usable(op.inputs[0].name):
        return f"{op.inputs[0].name}_{SUFFIXES[op.prim.name]}"
    return None


def _usable(name: str) -> bool:
    return bool(name) and name.isidentifier() and not keyword.iskeyword(name) \
        and not re.fullmatch(r"[vt]\d+|a\d+", name)


DOCS = {
    "prologue": "Values every step reads (computed once, kept for the whole run).",
    "forward": "One step forward: the values of the next state.",
    "reverse": "One step backward: recompute the step from its state, then its reverse sweep.",
    "finish": "The gradients, from the adjoints of the prologue's values.",
}


def step_module(plan: StepPlan, name: str, origin: str) -> StepModule:
    groups = [plan.prologue, *plan.forward, *plan.reverse, plan.finish]
    consts = const_names(*groups)
    bodies: dict[str, str] = {}  # function text (with a placeholder name) -> its name
    order: list[tuple[str, list[int], str]] = []  # (name, steps using it, text)

    def function(program: Program, kind: str, step: int | None, fname: str) -> str:
        text = function_source(program, "FNAME", DOCS[kind], naming=StepNaming(program, consts))
        if text in bodies:
            existing = bodies[text]
            for entry in order:
                if entry[0] == existing:
                    entry[1].append(step)
            return existing
        bodies[text] = fname
        order.append((fname, [step] if step is not None else [], text))
        return fname

    prologue = function(plan.prologue, "prologue", None, "prologue") if plan.prologue.ops else None
    forward = [function(p, "forward", i, f"step_{i}") for i, p in enumerate(plan.forward)]
    reverse = [None] * plan.steps
    for i in reversed(range(plan.steps)):  # in the order they run
        reverse[i] = function(plan.reverse[i], "reverse", i, f"step_{i}_adjoint")
    finish = function(plan.finish, "finish", None, "finish") if plan.finish.ops else None

    wrt = ", ".join(plan.adjoint.inputs[i].name for i in plan.adjoint.wrt)
    roles = ["the step functions to advance the state",
             "the adjoint functions to reverse steps under a checkpointing schedule"]
    if prologue:
        roles.insert(0, "`prologue` once")
    if finish:
        roles.append("`finish` for the gradients")
    how = ", ".join(roles[:-1]) + " and " + roles[-1]
    parts = [f'"""{name} and its gradient with respect to {wrt}, as {plan.steps} checkpointing '
             f"steps.\n\nGenerated by gradc from {origin}. Do not edit: regenerate instead.\n"
             + textwrap.fill(f"The gradc runtime (runtime/checkpoint.py) runs {how}.", 88)
             + '\n"""\nimport numpy as np']
    helpers = helpers_used(*groups)
    if helpers:
        parts.append("# Helpers.\n" + helper_source(helpers).rstrip())
    values = constants(*groups)
    if values:
        lines = ["# Constants captured from the module that defines the function."]
        for k, v in values.items():
            lines.append(f"{k} = {array_literal(v)}" if v.size <= INLINE_ARRAY_LIMIT
                         else f"# {k}: {v.dtype.name}{list(v.shape)}, bound by the gradc runtime")
        parts.append("\n".join(lines))
    for fname, steps, text in order:
        used = f"# {_kind_comment(fname)}{_ranges(steps)}\n" if steps else ""
        parts.append(used + text.replace("def FNAME(", f"def {fname}(", 1).rstrip())
    return StepModule("\n\n\n".join(parts) + "\n", prologue, forward, reverse, finish)


def _kind_comment(fname: str) -> str:
    return "adjoint of " if fname.endswith("_adjoint") else ""


def _ranges(steps: list[int]) -> str:
    """[0, 1, 2, 5] → 'steps 0-2, 5'."""
    steps = sorted(set(steps))
    runs, start = [], steps[0]
    for a, b in zip(steps, steps[1:] + [None]):
        if b != a + 1:
            runs.append(f"{start}" if start == a else f"{start}-{a}")
            start = b
    return ("step " if len(steps) == 1 else "steps ") + ", ".join(runs)
