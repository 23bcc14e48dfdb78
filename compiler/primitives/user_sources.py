"""The source text gradc copies into generated modules for a user primitive: the user's
functions renamed, the check that they read no global but NumPy, and the wrapper that calls
a `vjp=` rule.

The wrapper exists because a rule is written like PyTorch's (`gx = g.copy()`, `g[x <= 0] = 0`)
and gets values the rest of the program also holds: it hands the rule `g` as a new array of
out's shape (never a Python float, never an array another cotangent shares) and `x`, `out`
as read-only views (the caller's array or a value other derivatives read), and checks that
the rule returned a floating-point array of x's shape.
"""
from __future__ import annotations

import dis
import inspect
import io
import textwrap
import tokenize
import types

import numpy as np

from ..errors import SignatureError, SourceLoc

# Instructions that read or write a module-level name (a function's own names are locals;
# attributes, `x.T`, are LOAD_ATTR and name no global)
_GLOBAL_ACCESS = frozenset({"LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL", "STORE_NAME",
                            "DELETE_NAME", "LOAD_FROM_DICT_OR_GLOBALS"})


def global_names(code: types.CodeType) -> set[str]:
    """The module-level names a code object and the functions, lambdas and comprehensions
    inside it read or write (what runs, unlike inspect.getclosurevars, which counts every
    name in co_names, attributes included)."""
    names = {ins.argval for ins in dis.get_instructions(code) if ins.opname in _GLOBAL_ACCESS}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= global_names(const)
    return names


def source_as(fn, name: str, loc: SourceLoc | None) -> str:
    """The function's source without decorators, renamed to `name`; it must need only NumPy."""
    if not inspect.isfunction(fn) or fn.__name__ == "<lambda>":
        raise SignatureError(f"@primitive {name}: define the implementation and the vjp with `def` "
                             "(gradc copies their source into generated modules)", loc)
    module = fn.__globals__
    builtins = module.get("__builtins__", {})
    builtins = builtins if isinstance(builtins, dict) else vars(builtins)
    used = {n for n in global_names(fn.__code__) if n in module or n not in builtins}
    other = sorted(n for n in used if not (n == "np" and module.get(n) is np))
    other += sorted(fn.__code__.co_freevars)
    if other:
        hint = ("; generated modules import NumPy as np: write np." if "numpy" in other
                and "np" not in other else "")
        raise SignatureError(f"@primitive {name}: {fn.__name__} uses {', '.join(other)}; "
                             "a primitive's functions may use only NumPy (as np), since they are "
                             f"copied into generated modules{hint}", loc)
    lines = textwrap.dedent(inspect.getsource(fn)).splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("def "))
    lines = lines[start:]
    lines[0] = lines[0].replace(f"def {fn.__name__}(", f"def {name}(", 1)
    return "".join(lines)


_VJP_WRAPPER = '''\
def {vjp_name}(g, x, out):
    """{name}'s vjp= rule (rule below, as written), given g as a new array of out's shape and
    x, out read-only; it must return a floating-point array of x's shape."""
{rule}
    x, out = np.asarray(x).view(), np.asarray(out).view()
    x.flags.writeable = out.flags.writeable = False
    if type(g) is np.ndarray and g.shape == out.shape:
        g = g.copy()
    else:  # a Python float (the cotangent of a sum) or an array that broadcasts
        g = np.array(np.broadcast_to(g, out.shape), dtype=np.result_type(g, out))
    try:
        xbar = np.asarray(rule(g, x, out))
    except ValueError as e:
        if "read-only" not in str(e):
            raise
        raise ValueError("{vjp_name}: the rule wrote into x or out, which are values of the "
                         "program (read-only here); write into a copy (x.copy()) or into g, "
                         "a new array on each call") from e
    if xbar.shape != x.shape or xbar.dtype.kind != "f":
        raise ValueError(f"{vjp_name} returned an array of shape {{xbar.shape}} and dtype "
                         f"{{xbar.dtype}}; a vjp= rule returns the gradient with respect to x: a "
                         f"floating-point array of x's shape {{x.shape}} (elementwise: g * f'(x))")
    if not xbar.flags.writeable:  # x or out itself: the program may add into the gradient
        xbar = xbar.copy()
    return xbar if xbar.ndim else xbar[()]
'''


def vjp_wrapper(name: str, vjp, loc: SourceLoc | None) -> str:
    """Source of `{name}_vjp(g, x, out)`: the user's rule as a local function `rule`, called
    as the module docstring says. `name` is an identifier (checked by the caller)."""
    rule = _indent(source_as(vjp, "rule", loc))
    return _VJP_WRAPPER.format(vjp_name=f"{name}_vjp", name=name, rule=rule.rstrip("\n"))


def _indent(text: str, prefix: str = "    ") -> str:
    """`text` one level in, except the lines inside a multi-line string, whose value a
    prefix would change."""
    inside = set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        inside.update(range(tok.start[0] + 1, tok.end[0] + 1))
    return "".join(line if i in inside or not line.strip() else prefix + line
                   for i, line in enumerate(text.splitlines(keepends=True), start=1))
