"""Parameter trees (JAX's pytrees): arguments that are dicts, lists and tuples, nested, of
arrays and numbers.

An argument is a tree of containers (exactly `dict`, `list` or `tuple`) whose leaves are
arrays, NumPy scalars, Python floats (each one a program input) or ints, bools, strings and
None (compile-time constants). gradc flattens a tree into its leaves in a fixed order
(depth first; dicts in their insertion order), keys its compiled code on the tree's
structure (container types, dict keys in order, lengths) and each leaf's shape and dtype (or
value, for a constant), and hands the loss the same containers holding the input values, so
Python's semantics hold: `params["W1"]` is a dict lookup, `len(layers)` is known, `ws + ws`
is list concatenation. Gradients come back in the structure of their argument.
"""
from __future__ import annotations

from .errors import SignatureError, UnsupportedSyntax

MAX_DEPTH = 64  # containers nested deeper than this are refused (and cycles with them)


def path_text(name: str, path: tuple) -> str:
    """`params["W1"][0]`: how a user spells the leaf (for messages)."""
    return name + "".join(f"[{k!r}]" for k in path)


def leaf_hint(name: str, path: tuple) -> str:
    """A readable identifier for a leaf: `params_W1`, `layers_0_1`, `params_W_1` for "W-1".
    Only a hint: codegen's Namespace makes it unique (and replaces it if unusable)."""
    parts = [name]
    for k in path:
        text = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in str(k)).strip("_")
        if text:
            parts.append(text)
    return "_".join(parts)


def is_container(x) -> bool:
    return type(x) in (dict, list, tuple) or isinstance(x, (ArgumentDict, ArgumentList))


def walk(name: str, value, visit, path=(), depth=0):
    """The structure of `value` as a hashable key; `visit(path, leaf)` gives each leaf's key.
    Refuses other containers, dict keys other than str/int, and nesting deeper than MAX_DEPTH."""
    if depth > MAX_DEPTH:
        raise SignatureError(f"argument {path_text(name, path)} is nested more than {MAX_DEPTH} "
                             "containers deep (or contains itself)")
    kind = type(value)
    if kind is dict:
        items = []
        for k, v in value.items():
            if type(k) not in (str, int):
                raise SignatureError(
                    f"argument {path_text(name, path)} has the key {k!r} ({type(k).__name__}); gradc "
                    "takes dicts whose keys are strings or ints")
            items.append((type(k) is int, k, walk(name, v, visit, path + (k,), depth + 1)))
        return ("dict", tuple(items))
    if kind is list or kind is tuple:
        return (kind.__name__, tuple(walk(name, v, visit, path + (i,), depth + 1) for i, v in enumerate(value)))
    if isinstance(value, (dict, list, tuple)):
        base = next(t for t in (dict, list, tuple) if isinstance(value, t)).__name__
        raise SignatureError(
            f"argument {path_text(name, path)} is a {type(value).__name__}, a subclass of {base}; gradc "
            f"takes plain dicts, lists and tuples as parameter trees: pass {base}(...) of it")
    return visit(path, value)


def leaves(value, path=()):
    """(path, leaf) for every leaf, in flattening order (after `walk` accepted the tree)."""
    if type(value) is dict or isinstance(value, ArgumentDict):
        for k, v in value.items():
            yield from leaves(v, path + (k,))
    elif type(value) in (list, tuple) or isinstance(value, ArgumentList):
        for i, v in enumerate(value):
            yield from leaves(v, path + (i,))
    else:
        yield path, value


def map_leaves(value, fn, path=(), *, frozen: bool = False):
    """The same tree with each leaf replaced by `fn(path, leaf)`; `frozen` builds the
    argument containers the frontend binds (dicts and lists that refuse to change)."""
    if type(value) is dict or isinstance(value, ArgumentDict):
        out = {k: map_leaves(v, fn, path + (k,), frozen=frozen) for k, v in value.items()}
        return ArgumentDict(out) if frozen else out
    if type(value) is list or isinstance(value, ArgumentList):
        out = [map_leaves(v, fn, path + (i,), frozen=frozen) for i, v in enumerate(value)]
        return ArgumentList(out) if frozen else out
    if type(value) is tuple:
        return tuple(map_leaves(v, fn, path + (i,), frozen=frozen) for i, v in enumerate(value))
    return fn(path, value)


# -- the containers a compiled function sees -----------------------------------------------
# Changing an argument's container in place would change the caller's object in Python;
# compiled code cannot, so these refuse every mutation. Copies (`list(ws)`, `dict(p)`,
# `ws + ws`, `p.copy()`, slices) are ordinary lists and dicts again, free to change.

def _refuse(kind: str):
    def refused(self, *args, **kwargs):
        raise UnsupportedSyntax(
            f"unsupported construct 'changing an argument's {kind} in place': in Python it would "
            f"change the caller's {kind} too, which compiled code does not do; make a copy first "
            f"({'list(xs)' if kind == 'list' else 'dict(d)'}) or build a new {kind}")
    return refused


class ArgumentList(list):
    """A list argument (or a list inside one), as the compiled function sees it."""

    __slots__ = ()


class ArgumentDict(dict):
    """A dict argument (or a dict inside one), as the compiled function sees it."""

    __slots__ = ()


for _name in ("append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse",
              "__setitem__", "__delitem__", "__iadd__", "__imul__"):
    setattr(ArgumentList, _name, _refuse("list"))
for _name in ("__setitem__", "__delitem__", "pop", "popitem", "clear", "update", "setdefault", "__ior__"):
    setattr(ArgumentDict, _name, _refuse("dict"))
del _name

# Messages name the type a user passed (`type(x).__name__`): a list is a list.
ArgumentList.__name__, ArgumentDict.__name__ = "list", "dict"
