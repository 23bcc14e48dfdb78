"""The differential test corpus: realistic losses, each with a recorded expected outcome.

Every case is an ordinary Python/NumPy loss function in one of the category modules
below (real files, so gradc reads their source), written the way people write losses
in notebooks, not the way gradc's subset describes. A case also says how to build its
arguments (deterministically: a NumPy Generator seeded from the case's name) and which
arguments to differentiate (`wrt`, gradc's spelling: names or positions).

The reference value and gradient of each case come from an independent oracle — the
same math written with jax.numpy, differentiated by JAX in float64 — and are
cross-checked with central finite differences on the NumPy function itself
(tests/corpus/make_refs.py; JAX is only needed there). They are stored in
tests/corpus/refs.npz with a manifest, refs.json, so the test needs no JAX.

Outcomes (tests/corpus/runner.py):
  correct  value and gradient match the reference (rtol 1e-6, atol 1e-8), same tree structure
  refused  a gradc.CompileError whose location is a line inside the case (or a helper it calls)
           (for a case where NumPy itself raises — `raises=True` — this is the only right answer)
  wrong    anything else that returns numbers
  crash    any other exception, an InternalError, or a CompileError that points elsewhere

tests/corpus/expected.json records the expected outcome of each case ("correct" or
"refused"). A case going refused → correct is progress; any other change fails the suite.

    .venv/bin/python -m tests.corpus               # the per-category table, and every non-correct case
    .venv/bin/python -m tests.corpus.record        # rewrite expected.json from the current outcomes
    .venv/bin/python -m tests.corpus.make_refs     # regenerate refs.npz/refs.json (needs the `oracle` extra)
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
CATEGORIES = ("ml_losses", "control_flow", "indexing_numpy_api", "pythonic", "linalg",
              "aliasing_inplace", "numerics_boundary")
REFS_NPZ = HERE / "refs.npz"
REFS_JSON = HERE / "refs.json"
EXPECTED_JSON = HERE / "expected.json"


@dataclass
class Case:
    """One loss of the corpus."""

    name: str
    fn: Callable
    category: str
    wrt: object  # gradc's wrt: a name or position, or a tuple of them
    make_args: Callable  # rng -> tuple of arguments
    tags: tuple = ()  # extra tags, e.g. "real_numpy" for the Real NumPy issue's list
    twin: object = "auto"  # JAX twin: "auto" (same source, np -> jax.numpy) or a function of the same args
    ref_grad: Callable | None = None  # hand-derived gradient (args -> gradients), used instead of JAX
    fd: bool = True  # whether central differences are meaningful at this point (False at a kink)
    note: str = ""
    raises: bool = False  # NumPy itself raises on this input: the only acceptable outcome is a refusal

    def args(self) -> tuple:
        rng = np.random.default_rng(zlib.crc32(self.name.encode()))
        args = self.make_args(rng)
        return tuple(args) if isinstance(args, (tuple, list)) else (args,)

    @property
    def arg_names(self) -> list:
        return list(inspect.signature(self.fn).parameters)

    def wrt_positions(self) -> tuple:
        """wrt as a tuple of positions (JAX's argnums), and whether gradc was given a tuple."""
        ws = self.wrt if isinstance(self.wrt, (tuple, list)) else (self.wrt,)
        names = self.arg_names
        return tuple(names.index(w) if isinstance(w, str) else w % len(names) for w in ws)

    @property
    def wrt_is_tuple(self) -> bool:
        return isinstance(self.wrt, (tuple, list))

    def source_lines(self) -> tuple[int, int]:
        lines, start = inspect.getsourcelines(self.fn)
        return start, start + len(lines) - 1

    def fingerprint(self) -> str:
        """A hash of the function's source and its arguments: refs are stale when it changes."""
        h = hashlib.sha256(inspect.getsource(self.fn).encode())
        for path, leaf in flatten(self.args()):
            h.update(path.encode())
            if isinstance(leaf, (np.ndarray, np.generic)):
                h.update(str(leaf.dtype).encode() + str(leaf.shape).encode() + np.ascontiguousarray(leaf).tobytes())
            else:
                h.update(repr(leaf).encode())
        h.update(repr(self.wrt).encode())
        return h.hexdigest()[:16]


_REGISTRY: dict[str, Case] = {}


def case(fn, wrt=0, args=None, *, tags=(), twin="auto", ref_grad=None, fd=True, note="", raises=False):
    """Register `fn` as a corpus case; its category is its module's name."""
    category = fn.__module__.rsplit(".", 1)[-1]
    assert category in CATEGORIES, category
    name = fn.__name__
    assert name not in _REGISTRY, f"duplicate corpus case {name}"
    _REGISTRY[name] = Case(name, fn, category, wrt, args, tuple(tags), twin, ref_grad, fd, note, raises)
    return fn


def load_cases() -> dict[str, Case]:
    """Every case, by name, in category order."""
    for cat in CATEGORIES:
        importlib.import_module(f"{__name__}.{cat}")
    return dict(_REGISTRY)


# -- pytrees ------------------------------------------------------------------

def flatten(tree, prefix=""):
    """(path, leaf) pairs of a nest of dicts, lists and tuples (dict keys sorted)."""
    if isinstance(tree, dict):
        for k in sorted(tree, key=str):
            yield from flatten(tree[k], f"{prefix}/{k}")
    elif isinstance(tree, (list, tuple)):
        for i, t in enumerate(tree):
            yield from flatten(t, f"{prefix}/{i}")
    else:
        yield prefix or "/", tree


def structure(tree):
    """The shape of a pytree as JSON: dicts keep their keys; lists and tuples are both 'seq'."""
    if isinstance(tree, dict):
        return {"dict": {str(k): structure(tree[k]) for k in sorted(tree, key=str)}}
    if isinstance(tree, (list, tuple)):
        return {"seq": [structure(t) for t in tree]}
    return list(np.shape(tree))
