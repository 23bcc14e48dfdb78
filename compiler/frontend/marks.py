"""Markers a user's source may call, which the frontend reads instead of running."""
from __future__ import annotations

import functools
import types


class Checkpointed:
    """A helper whose body is one checkpointing step: with a `checkpoint=` policy its
    intermediates are recomputed in the backward pass rather than stored (the habit of
    `jax.checkpoint` and `torch.utils.checkpoint`). Called outside gradc, it is the helper."""

    def __init__(self, fn):
        self.fn = fn
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<gradc.checkpoint {self.fn.__qualname__}>"


def checkpoint(fn):
    """Mark `fn` (a plain Python function) as one step of a checkpointed chain; use as
    a decorator or as `gradc.checkpoint(block)(h, W)`."""
    if isinstance(fn, Checkpointed):
        return fn
    if not isinstance(fn, types.FunctionType):
        raise TypeError(f"gradc.checkpoint takes a Python function, not {type(fn).__name__}")
    return Checkpointed(fn)
