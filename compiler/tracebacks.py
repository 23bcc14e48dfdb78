"""Errors that end in the user's code: gradc's own frames left out of CompileError tracebacks.

A CompileError already names the user's line and puts a caret under it; the thirty
frames of gradc's compiler between the user's call and the `raise` only bury it.
The public entry points (gradc.grad, Compiled.value_and_grad, @gradc.primitive, ...)
are wrapped with `api_boundary`, which drops the frames of the gradc package (and of
generated code) from a CompileError's traceback before it leaves gradc, as JAX and
pytest hide their internals. `GRADC_TRACEBACK=full` keeps every frame, for debugging
gradc itself. Other exceptions (a bug, an error raised by NumPy at run time) keep
their whole traceback.
"""
from __future__ import annotations

import functools
import os
import types
from pathlib import Path

from .errors import CompileError

_PACKAGE_DIRS = tuple(str(Path(p).resolve()) + os.sep for p in (
    Path(__file__).parent,  # the compiler (package gradc)
    Path(__import__("gradc.runtime", fromlist=["__file__"]).__file__).parent,  # gradc.runtime
))


def _internal(filename: str) -> bool:
    if filename.startswith("<gradc:"):  # generated code
        return True
    try:
        return str(Path(filename).resolve()).startswith(_PACKAGE_DIRS)
    except (OSError, ValueError):
        return False


def user_frames(tb: types.TracebackType | None) -> types.TracebackType | None:
    """The traceback without gradc's own frames (the user's frames in their order)."""
    kept = []
    while tb is not None:
        if not _internal(tb.tb_frame.f_code.co_filename):
            kept.append(tb)
        tb = tb.tb_next
    out = None
    for t in reversed(kept):
        out = types.TracebackType(out, t.tb_frame, t.tb_lasti, t.tb_lineno)
    return out


def full_tracebacks() -> bool:
    return os.environ.get("GRADC_TRACEBACK", "").strip().lower() == "full"


def api_boundary(fn):
    """Wrap a public entry point: a CompileError leaves it with the user's frames only."""
    @functools.wraps(fn)
    def boundary(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CompileError as e:
            if not full_tracebacks():
                e.with_traceback(user_frames(e.__traceback__))
                if e.__cause__ is None:
                    e.__suppress_context__ = True  # an internal exception it was raised while handling
            raise  # a bare raise: this frame is not added again

    return boundary
