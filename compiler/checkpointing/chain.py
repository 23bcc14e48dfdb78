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

from .. import codegen
from .plan import Call, ChainPlan
from .module import step_module
from ..errors import SignatureError

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

    plan: ChainPlan
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


def build(plan: ChainPlan, policy, *, grouped: bool, origin: str) -> Checkpointed:
    """Write the plan's step functions as one module, load it, wire them into a Chain."""
    adjoint = plan.adjoint
    module = step_module(plan, adjoint.name, origin)
    namespace = loader.load(module.source, f"{adjoint.name}_steps", codegen.constants(*plan.programs()))

    def call(c: Call | None) -> rt.Call | None:
        return None if c is None else rt.Call(namespace[module.names[id(c.program)]], c.args, c.outs)

    chain = rt.Chain(
        inputs=plan.inputs, prologue=call(plan.prologue), forward=[call(c) for c in plan.forward],
        reverse=[call(c) for c in plan.reverse], finish=call(plan.finish), states=plan.states,
        release=plan.release(), outputs=plan.outputs,
        stacks=[rt.Call(namespace[module.stack], rows, (key,)) for rows, key in plan.stacks],
        kept=plan.kept, gathers=[(i, rt.Call(namespace[module.stack], rows, (key,))) for i, rows, key in plan.gathers])
    return Checkpointed(plan, module.source, chain, policy.schedule(plan.steps), grouped, namespace)
