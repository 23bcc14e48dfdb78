"""Generated source → callables.

The source is registered in `linecache` under a stable pseudo-filename, so a
traceback through generated code shows the generated line, as it would for a
saved module.

The namespace holds nothing but what codegen named: a generated module imports
NumPy and defines its helpers itself; the loader binds only the large constants,
under the names codegen's allocator gave them (`codegen.constants`). When a
function's requested name was taken in the module (a function called `np`, or like
a helper it uses), the module lists it in `__gradc_entry_points__` and the
namespace returned here has it under the requested name too.
"""
from __future__ import annotations

import hashlib
import linecache


def load(source: str, name: str, constants: dict | None = None) -> dict:
    """Execute generated module source; return its namespace."""
    digest = hashlib.sha1(source.encode()).hexdigest()[:10]
    name = ascii(str(name))[1:-1]  # shown in tracebacks: no control characters, one line
    filename = f"<gradc:{name}:{digest}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"__name__": f"gradc_generated_{name}"}
    namespace.update(constants or {})
    exec(compile(source, filename, "exec"), namespace)  # our own generated code, never user text
    moved = namespace.get("__gradc_entry_points__")
    if moved:  # the module's globals stay as they are; the caller sees the requested names
        namespace = {**namespace, **{want: namespace[have] for want, have in moved.items()}}
    return namespace


# -- bounding linecache (gradc.api drops the entries of evicted specialisations) --------


def generated_files(namespace: dict) -> set:
    """The linecache names of the generated code in a namespace `load` returned."""
    return {v.__code__.co_filename for v in namespace.values()
            if callable(v) and hasattr(v, "__code__") and v.__code__.co_filename.startswith("<gradc:")}


def forget(filenames) -> None:
    """Remove generated sources from linecache (nothing alive runs them any more)."""
    for filename in filenames:
        if filename.startswith("<gradc:"):
            linecache.cache.pop(filename, None)
