"""Checkpointed gradients: a stepped adjoint program → step functions → a runtime Chain.

`compile(fn, wrt, checkpoint=policy)` lands here after the adjoint pass. The
policy picks the schedule; the plan (ad/checkpoint.py) and the step module
(codegen_steps.py) do not depend on it, so one compiled chain runs under any
schedule (`Checkpointed.run(inputs, schedule)`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from gradc.runtime import checkpoint as rt
from gradc.runtime import loader

from . import codegen
from .ad.checkpoint import StepPlan, split
from .codegen_steps import step_module
from .errors import SignatureError
from .ir import Const, Program

POLICIES = "checkpoint=None, \"segments\", Segments(k) or Revolve(snapshots=s)"


def resolve(policy):
    """The schedule generator for a `checkpoint=` argument (None: store everything)."""
    if policy is None or isinstance(policy, (rt.Segments, rt.Revolve)):
        return policy
    if policy == "segments":
        return rt.Segments()
    raise SignatureError(f"unknown checkpointing policy {policy!r}: use {POLICIES} "
                         "(from gradc.runtime.checkpoint or compiler)")


def policy_key(policy):
    """A hashable description of a policy (for caches and reprs)."""
    if isinstance(policy, rt.Segments):
        return ("segments", policy.k)
    if isinstance(policy, rt.Revolve):
        return ("revolve", policy.snapshots)
    return policy


@dataclass
class Checkpointed:
    """Value and gradient of one program, computed step by step under a schedule."""

    plan: StepPlan
    source: str
    chain: rt.Chain
    schedule: rt.Schedule
    grouped: bool
    namespace: dict = field(default_factory=dict, repr=False)  # the loaded step module

    def run(self, inputs, schedule: rt.Schedule | None = None) -> list:
        return rt.run(self.chain, schedule or self.schedule, inputs)

    def __call__(self, *inputs):
        value, *grads = self.run(inputs)
        return value, (tuple(grads) if self.grouped else grads[0])


def build(adjoint: Program, steps: int, policy, *, grouped: bool, origin: str) -> Checkpointed:
    plan = split(adjoint, steps)
    module = step_module(plan, adjoint.name, origin)
    groups = [plan.prologue, *plan.forward, *plan.reverse, plan.finish]
    namespace = loader.load(module.source, f"{adjoint.name}_steps", codegen.constants(*groups))

    def call(program: Program, fname: str) -> rt.Call:
        return rt.Call(namespace[fname], tuple(v.uid for v in program.inputs),
                       tuple(v.uid for v in program.outputs))

    reverse = [call(p, f) for p, f in zip(plan.reverse, module.reverse)]
    chain = rt.Chain(
        inputs=tuple(v.uid for v in adjoint.inputs),
        prologue=call(plan.prologue, module.prologue) if module.prologue else None,
        forward=[call(p, f) for p, f in zip(plan.forward, module.forward)],
        reverse=reverse,
        finish=call(plan.finish, module.finish) if module.finish else None,
        states=[tuple(v.uid for v in state) for state in plan.states],
        release=_release(reverse, plan.finish, adjoint),
        outputs=tuple(rt.Fixed(v.value) if isinstance(v, Const) else v.uid for v in adjoint.outputs))
    return Checkpointed(plan, module.source, chain, policy.schedule(plan.steps), grouped, namespace)


def _release(reverse: list[rt.Call], finish: Program, adjoint: Program) -> list[tuple]:
    """release[i]: adjoints made by later reverse steps that reverse step i reads last."""
    keep = {v.uid for v in adjoint.outputs} | {v.uid for v in finish.inputs}
    made_by = {k: i for i, call in enumerate(reverse) for k in call.outs}
    last: dict = {}
    for i in reversed(range(len(reverse))):  # the order they run
        for k in reverse[i].args:
            if k in made_by and k not in keep:
                last[k] = i
    release = [[] for _ in reverse]
    for k, i in last.items():
        release[i].append(k)
    return [tuple(r) for r in release]
