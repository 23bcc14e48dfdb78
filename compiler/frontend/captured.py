"""Compile-time values read from outside a function's arguments, and the guard that
tells when they have changed.

The frontend reads module globals and closure cells (and, through them, attributes
of modules, items of containers, default values of inlined helpers, the bytes of
arrays) while it lowers a function: those values are baked into the compiled code.
Each read is recorded as a `Read` (where the name lives, and the object it named);
`Guard` turns the reads into a fingerprint when the code is compiled and checks it
before every call, so a rebinding (`global`, `nonlocal`) or an in-place change
(`CONFIG["t"] = 0.2`, `DATA[:] = ...`, `settings.SCALE = 3`) makes gradc compile
again instead of running stale numbers.

What is compared: scalars and strings by the identity of the binding (they cannot
change in place); arrays by dtype, shape and their bytes (a copy up to 64 KB, a
BLAKE2b digest beyond); lists, tuples, dicts and sets item by item, recursively;
modules by the attributes the lowered sources name (`np.sum` → np's `sum`);
functions by code and default values (gradc.nn's, which lower by identity, by
identity); other objects by identity (the guard keeps them alive, so an id is never
reused). The checkers of functions and modules are data (`FunctionCheck`, `ModuleCheck`),
so the dispatch writes them out as identity tests instead of calling them.
"""
from __future__ import annotations

import array
import collections
import collections.abc
import functools
import hashlib
import sys
import types

import numpy as np

from . import marks

MISSING = object()  # a name that was not bound when the function was compiled

_ATOMS = (int, float, complex, str, bytes, bool, type(None), range, slice, np.generic, np.dtype)
_MAX_DEPTH = 32
SMALL_ARRAY_BYTES = 65536  # captured arrays up to this size are compared byte for byte, larger ones by digest


class GlobalSlot:
    """A module-level name: `globs[name]`."""

    __slots__ = ("globs", "name")

    def __init__(self, globs: dict, name: str):
        self.globs, self.name = globs, name

    def current(self):
        return self.globs.get(self.name, MISSING)

    def __repr__(self) -> str:
        return f"global {self.name}"


class CellSlot:
    """A closure variable (a cell shared with the enclosing function, `nonlocal` writes it)."""

    __slots__ = ("cell", "name")

    def __init__(self, cell, name: str):
        self.cell, self.name = cell, name

    def current(self):
        try:
            return self.cell.cell_contents
        except ValueError:  # an empty cell
            return MISSING

    def __repr__(self) -> str:
        return f"closure variable {self.name}"


class ModuleSlot:
    """A module an import statement inside the function names: `sys.modules[name]`."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def current(self):
        return sys.modules.get(self.name, MISSING)

    def __repr__(self) -> str:
        return f"module {self.name}"


class ModuleAttributeSlot:
    """A name `from module import name` inside the function reads."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def current(self):
        m = sys.modules.get(self.module)
        if m is None:
            return MISSING
        value = m.__dict__.get(self.name, MISSING)
        if value is MISSING:  # a module __getattr__ name, or a submodule
            value = getattr(m, self.name, MISSING)
        return sys.modules.get(f"{self.module}.{self.name}", MISSING) if value is MISSING else value

    def __repr__(self) -> str:
        return f"{self.module}.{self.name}"


class FunctionSelf:
    """The compiled function itself: its code object and default values are part of what
    a specialisation was compiled from (`f.__defaults__ = ...`, `f.__code__ = ...` recompile)."""

    __slots__ = ("fn", "name")

    def __init__(self, fn):
        self.fn, self.name = fn, getattr(fn, "__name__", "function")

    def current(self):
        return self.fn

    def __repr__(self) -> str:
        return f"the code or default values of {self.name}"


def function_state(fn):
    """What of a function its compiled code depends on besides its globals and closure:
    (code object, defaults, keyword defaults), compared by identity."""
    return (fn.__code__, fn.__defaults__, fn.__kwdefaults__)


def same_function_state(fn, state) -> bool:
    code, defaults, kwdefaults = state
    return fn.__code__ is code and fn.__defaults__ is defaults and fn.__kwdefaults__ is kwdefaults


class Read:
    """One name read at compile time: where it lives and the object it was bound to."""

    __slots__ = ("slot", "obj")

    def __init__(self, slot, obj):
        self.slot, self.obj = slot, obj

    def __iter__(self):  # (globs-or-cell, name, obj), the shape older code unpacked
        return iter((self.slot, self.slot.name, self.obj))


class Reads(dict):
    """key → Read for every outside name a lowering (and the helpers it inlined) read,
    and `.attributes`: the attribute names those sources spell (`mod.attr`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.attributes: set = set()

    def update(self, other=(), **kwargs):
        super().update(other, **kwargs)
        self.attributes |= getattr(other, "attributes", set())


def attribute_names(tree) -> set:
    """The attribute names a function's source spells (`a.b.c` → {"b", "c"})."""
    import ast

    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}


class Guard:
    """What lowering read from outside the arguments, captured when compiled; `valid()`
    says whether every name is still bound to the same object with the same contents.

    Each read gets a checker built once for what it found (`_checker`): a dict checks
    its keys and the identity of its values, an array its shape, dtype and a BLAKE2b
    digest, a module the attributes the sources name, and so on down; identity is
    enough for immutable values. So a call costs a few dictionary lookups per read, plus
    hashing the bytes of captured arrays."""

    __slots__ = ("checks", "attributes")

    def __init__(self, reads: dict):
        self.attributes = frozenset(getattr(reads, "attributes", ()))
        self.checks: list = []  # (slot, obj, checker or None when identity is enough)
        for read in reads.values():
            if isinstance(read, Read):
                slot, obj = read.slot, read.obj
            else:  # (globs, name, obj) from an older frontend
                globs, name, obj = read
                slot = GlobalSlot(globs, name)
            self.checks.append((slot, obj, _checker(obj, self.attributes, set(), 0)))

    def valid(self) -> bool:
        for slot, obj, check in self.checks:
            if slot.current() is not obj or (check is not None and not check(obj)):
                return False
        return True

    def changed(self) -> list[str]:
        """What no longer matches (for messages and tests)."""
        return [repr(slot) for slot, obj, check in self.checks
                if slot.current() is not obj or (check is not None and not check(obj))]


def _checker(obj, attrs, seen, depth):
    """None when `obj` cannot change without being replaced (identity suffices), else a
    function telling whether `obj` still holds what it holds now."""
    if isinstance(obj, _ATOMS) or obj is MISSING or id(obj) in seen:
        return None
    if depth > _MAX_DEPTH:  # too deep to fingerprint: a container there counts as changed
        return None if isinstance(obj, (types.FunctionType, types.ModuleType, type)) else _NEVER_SAME
    if isinstance(obj, np.ndarray):
        shape, dtype = obj.shape, obj.dtype
        if obj.nbytes <= SMALL_ARRAY_BYTES and not dtype.hasobject:  # a copy of the bytes: exact, and fastest
            data = obj.tobytes()
            return lambda a: a.shape == shape and a.dtype == dtype and a.tobytes() == data
        digest = _digest(obj)
        return lambda a: a.shape == shape and a.dtype == dtype and _digest(a) == digest
    seen = seen | {id(obj)}
    sub = lambda v: _checker(v, attrs, seen, depth + 1)  # noqa: E731
    if isinstance(obj, tuple):  # immutable: the same items, whose contents may change
        items = [(i, c) for i, c in enumerate(map(sub, obj)) if c is not None]
        return (lambda t: all(c(t[i]) for i, c in items)) if items else None
    if isinstance(obj, list):
        items, n = list(obj), len(obj)
        checks = [(i, c) for i, c in enumerate(map(sub, items)) if c is not None]
        return lambda lst: (len(lst) == n and all(x is y for x, y in zip(lst, items))
                            and all(c(items[i]) for i, c in checks))
    if isinstance(obj, dict):
        return _dict_checker(obj, sub)
    if isinstance(obj, (set, frozenset)):
        frozen = frozenset(obj)
        return (lambda st: st == frozen) if isinstance(obj, set) else None
    if isinstance(obj, types.ModuleType):
        names = obj.__dict__  # (not getattr: no module __getattr__ hooks, no warnings)
        return ModuleCheck(tuple((a, names[a], sub(names[a])) for a in sorted(attrs) if a in names))
    if isinstance(obj, types.FunctionType):
        if _lowered_by_identity(obj):
            return None
        defaults, kwdefaults = obj.__defaults__, obj.__kwdefaults__
        return FunctionCheck(obj.__code__, defaults, kwdefaults, sub(defaults), sub(kwdefaults))
    if isinstance(obj, types.SimpleNamespace):
        vc = _dict_checker(vars(obj), sub)
        return lambda ns: vc(vars(ns))
    if isinstance(obj, functools.partial):  # its function, arguments and keywords
        fn, args, kwargs = obj.func, obj.args, obj.keywords
        fc, ac, kc = sub(fn), sub(args), sub(kwargs)
        return lambda p: (p.func is fn and p.args is args and p.keywords is kwargs
                          and all(c is None or c(v) for c, v in ((fc, fn), (ac, args), (kc, kwargs))))
    if isinstance(obj, marks.Checkpointed):  # gradc.checkpoint(helper): the helper
        fn, fc = obj.fn, sub(obj.fn)
        return lambda cp: cp.fn is fn and (fc is None or fc(fn))
    # other containers that can change in place: their contents now
    if isinstance(obj, (bytearray, memoryview, array.array)):
        data = bytes(obj)
        return lambda b: bytes(b) == data
    if isinstance(obj, collections.abc.Mapping):  # UserDict, ChainMap, MappingProxyType, ...
        vc = _dict_checker(dict(obj), sub)
        return lambda m: vc(dict(m))
    if isinstance(obj, (collections.abc.Sequence, collections.abc.Set, collections.deque)):
        lc = _checker(list(obj), attrs, seen, depth)
        return lambda q: lc(list(q))
    if isinstance(obj, (type, types.BuiltinFunctionType, np.ufunc)) or callable(obj) and not (
            hasattr(obj, "__getitem__") or hasattr(obj, "__array__") or hasattr(obj, "__iter__")):
        return None  # classes, builtins, ufuncs, NumPy's functions: replaced, not changed
    if hasattr(obj, "__getitem__") or hasattr(obj, "__array__") or hasattr(obj, "__iter__") \
            or hasattr(obj, "__dict__"):
        return _NEVER_SAME  # an object whose contents gradc cannot fingerprint: recompile every call
    return None  # other objects: by identity


def _lowered_by_identity(fn) -> bool:
    """gradc.nn's functions (sigmoid, log_softmax, ...): the frontend lowers them to
    primitives by identity and generated modules carry their own copies of gradc's helpers
    (from the source file), so what their code object is now changes nothing compiled."""
    from gradc.runtime import support

    from . import numpy_table

    return getattr(support, getattr(fn, "__name__", ""), None) is fn and fn in numpy_table.ALWAYS_LOWER


class FunctionCheck:
    """A function's code object and default values are the same objects (and the defaults
    hold what they held: `defaults_check`, `kwdefaults_check`, None when identity is enough).
    A class with its parts as data, so the dispatch can write the test out (dispatch.py)."""

    __slots__ = ("code", "defaults", "kwdefaults", "defaults_check", "kwdefaults_check")

    def __init__(self, code, defaults, kwdefaults, defaults_check, kwdefaults_check):
        self.code, self.defaults, self.kwdefaults = code, defaults, kwdefaults
        self.defaults_check, self.kwdefaults_check = defaults_check, kwdefaults_check

    def __call__(self, f) -> bool:
        return (f.__code__ is self.code and f.__defaults__ is self.defaults and f.__kwdefaults__ is self.kwdefaults
                and (self.defaults_check is None or self.defaults_check(self.defaults))
                and (self.kwdefaults_check is None or self.kwdefaults_check(self.kwdefaults)))


class ModuleCheck:
    """A module's attributes that the sources name are the same objects, holding what they
    held: `reads` is (name, object, checker or None) per attribute (data, for dispatch.py).
    A module's `__dict__` is the same dict for the module's life, so it is read directly."""

    __slots__ = ("reads",)

    def __init__(self, reads: tuple):
        self.reads = reads

    def __call__(self, m) -> bool:
        get = m.__dict__.get
        for a, v, c in self.reads:
            if get(a, MISSING) is not v or (c is not None and not c(v)):
                return False
        return True


def _NEVER_SAME(_):
    return False


def _dict_checker(obj: dict, sub):
    keys = tuple(obj)
    values = [obj[k] for k in keys]
    pairs = list(zip(keys, values))
    checks = [(v, c) for v, c in zip(values, map(sub, values)) if c is not None]

    def dict_unchanged(d):
        if len(d) != len(keys):
            return False
        get = d.get
        for k, v in pairs:
            if get(k, MISSING) is not v:
                return False
        for v, c in checks:
            if not c(v):
                return False
        return tuple(d) == keys
    return dict_unchanged


def _digest(a: np.ndarray) -> bytes:
    if a.dtype.hasobject:
        return repr(a.tolist()).encode()
    data = a if a.flags.c_contiguous else np.ascontiguousarray(a)
    return hashlib.blake2b(data.data.cast("B") if data.ndim else data.tobytes(), digest_size=16).digest()
