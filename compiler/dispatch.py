"""The call path of a compiled function: from `vg(*args)` to the generated code in well under
a microsecond, when the arguments are of a kind seen before.

A specialisation is compiled for arguments of given kinds: an array's shape and dtype, a
Python float, a NumPy scalar's type, a compile-time value (an int, a string). For each,
`hot_entry` writes once a small function, `match(a0, a1, ...)`, that tests exactly those
kinds (one `type(a) is ...` per argument, an array's shape and dtype) and that the function's
code, defaults and everything it read from outside its arguments (its `Guard`) are unchanged:
no allocation, no dictionary lookups. A call whose positional arguments match a recent
specialisation runs its generated functions directly. The checks the generated module makes
at the top of each entry function (`check_arguments`) are what `match` has just proved, so
the functions called here are copies of the module's own that skip that call (the same code
objects, the same lines in tracebacks); a saved module keeps its checks. Any other call
(keywords, defaults left out, parameter trees, a new shape, a changed global) takes the
general path in `gradc.api`, which binds the arguments as Python does and compiles if needed.
"""
from __future__ import annotations

import types
from collections import OrderedDict

import numpy as np

HOT = 4  # specialisations tried by the fast path, most recently used first


class SpecCache(OrderedDict):
    """Argument signature → Specialization, least recently used first; `.hot` is the fast
    path's view of it (a tuple, replaced whole, so threads read it without a lock). Removing
    an entry in any way (eviction, `clear()`) drops the hot view, so it is rebuilt from what
    is left."""

    hot: tuple = ()

    def __delitem__(self, key):
        self.hot = ()
        super().__delitem__(key)

    def pop(self, key, *default):
        self.hot = ()
        return super().pop(key, *default)

    def popitem(self, last=True):
        self.hot = ()
        return super().popitem(last)

    def clear(self):
        self.hot = ()
        super().clear()

    def promote(self, key) -> None:
        """`key` was just used: most recently used, and first in the hot view."""
        self.move_to_end(key)
        entry = self[key].hot
        if entry and (not self.hot or self.hot[0] is not entry):
            self.hot = (entry, *(h for h in self.hot if h is not entry))[:HOT]


class Hot:
    """A specialisation as the fast path calls it: `value(*args)`, `value_and_grad(*args)`,
    `grad(*args)`, each MISS for arguments of other kinds (`match(*args)` says which)."""

    __slots__ = ("match", "value", "value_and_grad", "grad", "key")

    def __init__(self, match, value, value_and_grad, grad, key):
        self.match, self.value, self.value_and_grad, self.grad, self.key = match, value, value_and_grad, grad, key


MAX_TESTS = 256  # a bigger parameter tree takes the general path (a matcher that long is no shortcut)


def _argument_test(expr: str, a, bind: dict) -> str | None:
    """The test that `expr` (an argument, or a leaf of one) has the kind `a` has, as
    `api._arg_key` / `api._tree_key` see it (or stricter), or None when the fast path does
    not handle this kind. Constants are bound by number in `bind`, never written as text."""
    t = type(a)
    k = len(bind)
    if t is np.ndarray:
        bind[f"s{k}"], bind[f"d{k}"] = tuple(a.shape), np.dtype(a.dtype.str)
        # a dtype equal to this one but another object (metadata, byte order) takes the general path
        return f"type({expr}) is ndarray and {expr}.shape == s{k} and {expr}.dtype is d{k}"
    if t is float:
        return f"type({expr}) is float"
    if isinstance(a, np.generic):
        if a.dtype.kind not in "fiub":
            return None
        bind[f"t{k}"] = t  # a NumPy scalar type is its dtype
        return f"type({expr}) is t{k}"
    if a is None:
        return f"{expr} is None"
    if t in (bool, int, str):
        bind[f"t{k}"], bind[f"v{k}"] = t, a
        return f"type({expr}) is t{k} and {expr} == v{k}"
    if t is dict:  # a parameter tree: its type, keys in order, then each value
        bind[f"keys{k}"] = tuple(a)
        tests = [f"type({expr}) is dict and tuple({expr}) == keys{k}"]
        for key, value in a.items():
            j = len(bind)
            bind[f"key{j}"] = key
            tests.append(_argument_test(f"{expr}[key{j}]", value, bind))
        return None if None in tests or len(tests) > MAX_TESTS else " and ".join(tests)
    if t in (list, tuple):
        bind[f"t{k}"] = t
        tests = [f"type({expr}) is t{k} and len({expr}) == {len(a)}"]
        tests += [_argument_test(f"{expr}[{i}]", value, bind) for i, value in enumerate(a)]
        return None if None in tests or len(tests) > MAX_TESTS else " and ".join(tests)
    return None


def _test(args, state, guard, bind: dict) -> str | None:
    """The matcher's one expression over a0, a1, ... (constants bound in `bind`), or None."""
    tests = []
    for k, a in enumerate(args):
        test = _argument_test(f"a{k}", a, bind)
        if test is None:
            return None
        tests.append(test)
    reads = _guard_tests(guard, bind)
    if state is not None and not (reads and any(obj is state[0] for _, obj, _ in guard.checks)):
        bind["fn"], bind["code"], bind["defaults"], bind["kwdefaults"] = state
        tests.append("fn.__code__ is code and fn.__defaults__ is defaults and fn.__kwdefaults__ is kwdefaults")
    tests += reads
    return "\n            and ".join(tests) or "True"


def matcher(args, state=None, guard=None):
    """`match(a0, a1, ...) -> bool`: these arguments are of the kinds `args` are, and the
    function (`state`: (function, code, defaults, kwdefaults)) and `guard` are unchanged.
    None when some argument is of a kind only the general path handles."""
    bind = {"ndarray": np.ndarray}
    test = _test(args, state, guard, bind)
    if test is None:
        return None
    params = ", ".join(f"a{k}" for k in range(len(args)))
    exec(compile(f"def match({params}):\n    return ({test})\n", "<gradc:dispatch>", "exec"), bind)
    return bind["match"]


MISS = object()  # what a hot entry's functions return for arguments they were not made for


def hot_entry(args, state, guard, value, value_and_grad, key) -> "Hot | None":
    """The fast path's functions for one specialisation: each tests the arguments (as
    `matcher`) and calls `value` or `value_and_grad` with them in one frame, or returns MISS."""
    bind = {"ndarray": np.ndarray, "MISS": MISS, "value_fn": value, "value_and_grad_fn": value_and_grad}
    test = _test(args, state, guard, bind)
    if test is None:
        return None
    params = ", ".join(f"a{k}" for k in range(len(args)))
    source = "\n".join(
        f"def {name}({params}):\n    if ({test}):\n        return {call}\n    return MISS\n"
        for name, call in [("match", "True"), ("value", f"value_fn({params})"),
                           ("value_and_grad", f"value_and_grad_fn({params})"),
                           ("grad", f"value_and_grad_fn({params})[1]")])
    exec(compile(source, "<gradc:dispatch>", "exec"), bind)  # names and numbers only: no user text
    return Hot(bind["match"], bind["value"], bind["value_and_grad"], bind["grad"], key)


def _guard_tests(guard, bind) -> list[str]:
    """Guard.valid() unrolled: for each read, its slot still holds the same object and the
    object still holds what it held (its checker), tested in the matcher's one expression
    rather than a loop over tuples. A global's slot is read as the dict lookup it is; the
    function's own slot always holds the function (its checker looks at its code)."""
    from .frontend import captured

    if guard is None or not guard.checks:
        return []
    tests = []
    for k, check in enumerate(guard.checks):
        if not (isinstance(check, tuple) and len(check) == 3 and callable(getattr(check[0], "current", None))):
            bind["valid"] = guard.valid  # a guard of another make: ask it
            return ["valid()"]
        slot, obj, checker = check
        bind[f"obj{k}"] = obj
        if type(slot) is captured.GlobalSlot and type(getattr(slot, "globs", None)) is dict:
            bind[f"globals{k}"], bind[f"name{k}"], bind["MISSING"] = slot.globs, slot.name, captured.MISSING
            test = [f"globals{k}.get(name{k}, MISSING) is obj{k}"]
        elif type(slot) is captured.FunctionSelf and getattr(slot, "fn", None) is obj:
            test = []
        else:
            bind[f"current{k}"] = slot.current
            test = [f"current{k}() is obj{k}"]
        if checker is not None:
            bind[f"check{k}"] = checker
            test.append(f"check{k}(obj{k})")
        tests += test
    return tests


def _skip_check(*args, **kwargs) -> None:
    """Stands in for a generated module's `check_arguments` in the copies the fast path
    calls: the arguments were matched before the call."""


def unchecked(fn):
    """A copy of a generated entry function (same code object) whose call to the module's
    argument check does nothing: its first global name, when it is that check."""
    names = fn.__code__.co_names
    checker = fn.__globals__.get(names[0]) if names else None
    if not (isinstance(checker, types.FunctionType) and names[0].startswith("check_arguments")
            and (checker.__doc__ or "").startswith("The arguments this module was generated for")):
        return fn
    namespace = dict(fn.__globals__)
    namespace[names[0]] = _skip_check
    copy = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    copy.__doc__, copy.__qualname__ = fn.__doc__, fn.__qualname__
    return copy
