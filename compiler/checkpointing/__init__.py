"""Checkpointing, compile side: a `checkpoint=` policy → step functions and a runtime chain.

    steps.py    which ops form which step (loop iterations unrolled, `gradc.checkpoint`
                calls, layers cut where the fewest bytes cross)
    split.py    a stepped adjoint program → prologue, per-step forward and adjoint groups, finish
    loops.py    a loop region's iterations as the steps, without unrolling: one forward and
                one adjoint function from the loop body and its adjoint
    module.py   the groups → one module of step functions (alike groups share one function);
                the standalone module `Compiled.save` writes
    chain.py    policies, and the loaded functions wired into a runtime Chain

The runtime side (schedules and the executor that runs a chain) is gradc.runtime.checkpoint.
"""
from .chain import POLICIES, Checkpointed, build, policy_key, resolve

__all__ = ["POLICIES", "Checkpointed", "build", "policy_key", "resolve"]
