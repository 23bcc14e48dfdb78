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
from .codegen import (INLINE_ARRAY_LIMIT, Naming, array_literal, const_names, constants,
                      entry_names, function_source, helper_source, helpers_used)
from .syntax import docstring_text
from .ir import Program, Value


@dataclass
class StepModule:
    source: str
    prologue: str | None  # function names, looked up in the loaded module (no prologue: None)
    forward: list[str]  # per step; the last step has none (it is only ever reversed)
    reverse: list[str]
    finish: str | None


class StepNaming(Naming):
    """Local names: arguments by the user's variable names (made unique), then v1, v2, ...
    All of them come from the function's Namespace (codegen.Naming), which never hands
    out the module's names (np, helpers, constants)."""

    def __init__(self, program: Program, consts: dict):
        self.given: dict[Value, str] = {}  # filled as the base class claims the inputs
        super().__init__(program, "python", consts)

    def _claim_inputs(self, program: Program) -> None:
        for i, v in enumerate(program.inputs):
            if v.adjoint_of is not None and v.adjoint_of not in self.numbers and _hint(v.adjoint_of):
                name = self.space.name(("input", v), f"{_hint(v.adjoint_of)}_bar")
            elif v.adjoint_of is not None or v.tangent_of is not None:
                # Spelled after the value it is the adjoint (tangent) of, but two inputs can be
                # partial sums of one adjoint (x̄ accumulated by two later steps): every input
                # is a different value, so each gets its own name from the Namespace.
                name = self.base(v)
                if name in self.given.values():
                    name = self.space.name(("input", v), name)
            else:
                name = self.space.name(("input", v), _hint(v) or f"a{i}", f"a{i}")
            self.given[v] = name

    def base(self, v: Value) -> str:
        if v in self.given:
            return self.given[v]
        if v not in self.numbers and v.adjoint_of is None and v.tangent_of is None and _hint(v):
            return self._spell(("hint", _hint(v)), _hint(v))  # a view made in the reverse sweep, such as W.T
        return super().base(v)

    def _mark(self, v: Value, suffix: str, accent: str) -> str:
        if v in self.given:
            return self._spell((suffix, v), f"{self.given[v]}{suffix}")
        return super()._mark(v, suffix, accent)


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
    order: dict[str, tuple[str, list[int]]] = {}  # function text -> (kind, steps using it)

    def function(program: Program, kind: str, step: int | None) -> str:
        text = function_source(program, "FNAME", DOCS[kind], naming=StepNaming(program, consts))
        order.setdefault(text, (kind, []))[1].append(step)
        return text

    prologue = function(plan.prologue, "prologue", None) if plan.prologue.ops else None
    forward = [function(p, "forward", i) for i, p in enumerate(plan.forward)]
    reverse = [function(plan.reverse[i], "reverse", i) for i in reversed(range(plan.steps))][::-1]
    finish = function(plan.finish, "finish", None) if plan.finish.ops else None
    wanted = {text: _function_name(kind, steps) for text, (kind, steps) in order.items()}
    entries = entry_names(list(wanted.values()), groups, consts)
    names = {text: entries[w] for text, w in wanted.items()}
    wrt = ", ".join(plan.adjoint.inputs[i].name for i in plan.adjoint.wrt)

    roles = ["the step functions to advance the state",
             "the adjoint functions to reverse steps under a checkpointing schedule"]
    if prologue:
        roles.insert(0, "`prologue` once")
    if finish:
        roles.append("`finish` for the gradients")
    how = ", ".join(roles[:-1]) + " and " + roles[-1]
    parts = [f'"""{docstring_text(name)} and its gradient with respect to {docstring_text(wrt)}, as '
             f"{plan.steps} checkpointing steps.\n\n{docstring_text(f'Generated by gradc from {origin}.')} "
             "Do not edit: regenerate instead.\n"
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
    for text, (kind, steps) in order.items():
        comment = f"# {'adjoint of ' if kind == 'reverse' else ''}{_ranges(steps)}\n" if kind in STEPPED else ""
        parts.append(comment + text.replace("def FNAME(", f"def {names[text]}(", 1).rstrip())
    name_of = lambda text: names[text] if text else None  # noqa: E731
    return StepModule("\n\n\n".join(parts) + "\n", name_of(prologue), [names[t] for t in forward],
                      [names[t] for t in reverse], name_of(finish))


STEPPED = ("forward", "reverse")


def _function_name(kind: str, steps: list) -> str:
    """prologue, finish, step_<first step>, step_<first step>_adjoint."""
    if kind not in STEPPED:
        return kind
    return f"step_{min(steps)}" + ("_adjoint" if kind == "reverse" else "")


def _ranges(steps: list[int]) -> str:
    """[0, 1, 2, 5] → 'steps 0-2, 5'."""
    steps = sorted(set(steps))
    runs, start = [], steps[0]
    for a, b in zip(steps, steps[1:] + [None]):
        if b != a + 1:
            runs.append(f"{start}" if start == a else f"{start}-{a}")
            start = b
    return ("step " if len(steps) == 1 else "steps ") + ", ".join(runs)
