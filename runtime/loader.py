"""Generated source → callables.

The source is registered in `linecache` under a stable pseudo-filename, so a
traceback through generated code shows the generated line, as it would for a
saved module.
"""
from __future__ import annotations

import hashlib
import linecache

import numpy as np

from . import support


def load(source: str, name: str, constants: dict | None = None) -> dict:
    """Execute generated module source; return its namespace."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:10]
    filename = f"<gradc:{name}:{digest}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"__name__": f"gradc_generated_{name}", "np": np}
    namespace.update({k: getattr(support, k) for k in support.__all__})
    namespace.update(constants or {})
    exec(compile(source, filename, "exec"), namespace)  # our own generated code, never user text
    return namespace
