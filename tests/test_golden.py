"""Golden files of generated code for the lecture examples: any change to codegen shows
up in review as a diff of these files. Regenerate with GRADC_UPDATE_GOLDEN=1 make test."""
import os
from pathlib import Path

import numpy as np
import pytest

import gradc

import deep_tanh_checkpoint
import logistic_rss
import rnn_clipped
import rnn_loop
import softmax_cross_entropy
import sqrt_exp_cos

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("GRADC_UPDATE_GOLDEN") == "1"


def _cases():
    rng = np.random.default_rng(0)
    W, b, x = rng.normal(size=(4, 5)), rng.normal(size=4), rng.normal(size=5)
    return {
        "logistic_rss": (logistic_rss.rss_loss, "w", (np.array([-1.0, 1.5, 0.5]),)),
        "softmax_cross_entropy": (softmax_cross_entropy.cross_entropy_l2, ("W", "b"),
                                  (W, b, x, np.eye(4)[2], 0.1)),
        "sqrt_exp_cos": (sqrt_exp_cos.f, "x", (0.5,)),
        # the time loop stays a loop in both sweeps (compiler/regions.py)
        "rnn_loop": (rnn_loop.rnn, ("W", "U", "h0"), (rng.normal(size=(3, 3)), rng.normal(size=(3, 2)),
                                                      rng.normal(size=(50, 2)), rng.normal(size=3))),
        # a branch on data in every step and a break on data: one loop, `if` in both sweeps
        "rnn_clipped": (rnn_clipped.rnn_clipped, ("W", "U", "h0"),
                        (rng.normal(size=(3, 3)), rng.normal(size=(3, 2)), rng.normal(size=(40, 2)),
                         rng.normal(size=(40, 3)), rng.normal(size=3), 1.2)),
        # a long loop: W̄ = Σ outer products taken as matrix products a block of 64 iterations at a
        # time (and the first 11 iterations after them), the tape one buffer with the initial h
        "rnn_long": (rnn_loop.rnn, ("W", "U", "h0"), (rng.normal(size=(3, 3)) / 3, rng.normal(size=(3, 2)),
                                                      rng.normal(size=(203, 2)), rng.normal(size=3))),
        # checkpointing the time loop: its iterations are the steps, one step function each way
        "rnn_checkpoint": (rnn_loop.rnn, ("W", "U", "h0"), (rng.normal(size=(3, 3)), rng.normal(size=(3, 2)),
                                                            rng.normal(size=(12, 2)), rng.normal(size=3)),
                           gradc.Revolve(snapshots=3)),
        # seed 001's figure F.6.1: four blocks, checkpointed (the step module and its schedule)
        "deep_tanh_checkpoint": (deep_tanh_checkpoint.loss, "W",
                                 (rng.normal(size=(2, 3)), rng.normal(size=(4, 3, 3)),
                                  rng.normal(size=(2, 3)), 4), gradc.Revolve(snapshots=2)),
    }


@pytest.mark.parametrize("name", sorted(_cases()))
def test_generated_code_matches_golden(name):
    fn, wrt, args, *policy = _cases()[name]
    compiled = gradc.compile(fn, wrt=wrt, args=args, checkpoint=policy[0] if policy else None)
    outputs = {f"{name}.py": compiled.source, f"{name}.ssa.txt": str(compiled.adjoint_ir) + "\n"}
    if policy:
        outputs[f"{name}.schedule.txt"] = compiled.schedule.listing() + "\n"
    for filename, text in outputs.items():
        path = GOLDEN / filename
        if UPDATE:
            path.write_text(text)
        assert path.exists(), f"missing golden file {path}; run with GRADC_UPDATE_GOLDEN=1"
        assert text == path.read_text(), f"generated output changed: diff against {path}"
