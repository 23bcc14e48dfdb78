"""Ordinary Python in a compiled function, lowered at compile time with Python's meaning.

Comprehensions and generator expressions, nested `def` and `lambda` (closures with
Python's late binding), `functools.partial`, recursion to a compile-time depth, lists
and dicts built with `append`/`extend`/item assignment, `*` unpacking, `:=`, imports
inside the body, `break`/`continue`/`for ... else` on compile-time conditions,
`float()` of a traced 0-d value and `print` (dropped with a warning).

The mixin's methods run on the `Lowering` of python.py. The rules that keep them exact:

- A comprehension or nested function is a scope of its own (a child lowering whose
  names are its parameters and targets); every other name is read from the enclosing
  lowering *when it is read*, so a closure sees the value at call time, as in Python.
- A generator expression is a real Python generator: its elements are lowered when
  it is consumed, not when it is made, and only in the loop body it was made in.
- Lists and dicts made in the function are the real Python objects, changed in place
  exactly as Python changes them; any other list or dict (an argument's, a module's, a
  default's) is never changed. A change invalidates the list's recorded memory, and a
  loop region (lowered once for all iterations) never changes a container made outside
  its body: the region gives up and the loop is unrolled.
- Rows of a traced array given to `zip`, `enumerate`, `list`, ... are read when the
  iterator is made; an in-place update that could change them while they are still
  to be read is refused.
"""
from __future__ import annotations

import ast
import builtins
import collections.abc
import functools
import importlib.util
import inspect
import sys
import types
import warnings

import numpy as np

from .. import ir
from ..errors import (CompileWarning, DataDependentControlFlow, NameResolutionError, SignatureError,
                      UnsupportedFunction, UnsupportedSyntax)
from ..ir import Const, Value
from . import captured

MAX_RECURSION = 40  # calls of one function inside itself, inlined at compile time
MAX_ITERATIONS = 1_000_000  # items of one compile-time iteration (a list growing while iterated)

# list and dict methods: those that read, and those that change the container in place
LIST_READS = frozenset({"copy", "index", "count"})
LIST_CHANGES = frozenset({"append", "extend", "insert", "pop", "remove", "reverse", "clear", "sort"})
DICT_READS = frozenset({"keys", "values", "items", "get", "copy"})
DICT_CHANGES = frozenset({"update", "pop", "setdefault", "popitem", "clear"})
_CHANGES = LIST_CHANGES | DICT_CHANGES


class Break(Exception):
    """`break` at compile time: ends the innermost unrolled loop."""


class Continue(Exception):
    """`continue` at compile time: ends this iteration of the innermost unrolled loop."""


class NestedSource:
    """A nested function's or comprehension's source: the enclosing function's file and
    lines (so errors point at the user's line), its own tree and name."""

    def __init__(self, outer, tree, name):
        self.outer, self.tree, self.name = outer, tree, name

    def loc(self, node):
        return self.outer.loc(node)


class Closure:
    """A function defined by `def` or `lambda` inside the compiled function: its tree, the
    lowering it was defined in (its enclosing scope, read at call time) and its default
    values (evaluated where it was defined, as Python does)."""

    def __init__(self, node, name, parent, defaults, kw_defaults):
        self.node, self.name, self.parent = node, name, parent
        self.defaults, self.kw_defaults = defaults, kw_defaults
        if isinstance(node, ast.Lambda):
            body = ast.copy_location(ast.Return(value=node.body), node.body)
            tree = ast.FunctionDef(name="<lambda>", args=node.args, body=[body], decorator_list=[],
                                   returns=None, type_comment=None)
            self.tree = ast.copy_location(tree, node)
        else:
            self.tree = node
        self.local_names = frozenset(scope_locals(node))
        self.signature = _signature(node.args, defaults, kw_defaults)

    def held(self):
        """What the function object itself holds (its defaults): arrays an update would change."""
        return [*self.defaults, *(d for d in self.kw_defaults if d is not _NO_DEFAULT)]

    def __call__(self, *args, **kwargs):  # NumPy or a builtin calling it at compile time
        raise UnsupportedFunction(
            f"the function {self.name} defined inside the compiled function is called by a library "
            "function at compile time (a sort key, np.vectorize, ...): gradc can only inline calls "
            "the function's own code makes")

    def __repr__(self):
        return f"<function {self.name} defined in the compiled function>"


class Partial:
    """functools.partial(f, *args, **keywords) made inside the compiled function."""

    def __init__(self, func, args, keywords):
        self.func, self.args, self.keywords = func, tuple(args), dict(keywords)

    def held(self):
        return [self.func, *self.args, *self.keywords.values()]


def held(obj):
    """What a function-like object made here holds (defaults, bound arguments, a container)."""
    return [obj.obj] if isinstance(obj, ContainerMethod) else obj.held()


class ContainerMethod:
    """`xs.append`, `d.items`, ...: a method of a list or dict, called at compile time."""

    def __init__(self, obj, name, memory):
        self.obj, self.name, self.memory = obj, name, memory


_NO_DEFAULT = object()


def _signature(a: ast.arguments, defaults, kw_defaults) -> inspect.Signature:
    P = inspect.Parameter
    positional = a.posonlyargs + a.args
    first_default = len(positional) - len(defaults)
    params = []
    for i, arg in enumerate(positional):
        kind = P.POSITIONAL_ONLY if i < len(a.posonlyargs) else P.POSITIONAL_OR_KEYWORD
        params.append(P(arg.arg, kind, default=defaults[i - first_default] if i >= first_default else P.empty))
    if a.vararg is not None:
        params.append(P(a.vararg.arg, P.VAR_POSITIONAL))
    for arg, d in zip(a.kwonlyargs, kw_defaults):
        params.append(P(arg.arg, P.KEYWORD_ONLY, default=P.empty if d is _NO_DEFAULT else d))
    if a.kwarg is not None:
        params.append(P(a.kwarg.arg, P.VAR_KEYWORD))
    return inspect.Signature(params)


def scope_locals(node) -> set:
    """The names local to a `def` or `lambda` (Python's rule: bound anywhere in its body,
    not inside a function or comprehension nested in it; `:=` in a comprehension binds here)."""
    a = node.args
    names = {p.arg for p in a.posonlyargs + a.args + a.kwonlyargs}
    names |= {p.arg for p in (a.vararg, a.kwarg) if p is not None}
    stack = list(node.body) if isinstance(node, ast.FunctionDef) else [node.body]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            names.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            if not isinstance(n, ast.Lambda):
                names.add(n.name)
                stack.extend(n.decorator_list)
            if not isinstance(n, ast.ClassDef):  # defaults are evaluated here
                stack.extend(n.args.defaults + [d for d in n.args.kw_defaults if d is not None])
            continue
        elif isinstance(n, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            names |= {w.target.id for w in ast.walk(n) if isinstance(w, ast.NamedExpr)}
            stack.append(n.generators[0].iter)  # evaluated in this scope
            continue
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names |= {al.asname or al.name.split(".")[0] for al in n.names}
        elif isinstance(n, ast.ExceptHandler) and n.name:
            names.add(n.name)
        stack.extend(ast.iter_child_nodes(n))
    return names


def comprehension_targets(generators) -> set:
    return {n.id for g in generators for n in ast.walk(g.target) if isinstance(n, ast.Name)}


def seq_items(lw, memory, value):
    """The per-item memories a `_Seq` records for `value`, while they still describe it
    (None for a list that was changed in place since)."""
    from .python import _Seq
    if isinstance(memory, _Seq) and isinstance(value, (list, tuple)) and len(memory.items) == len(value) \
            and not (isinstance(value, list) and id(value) in lw.mutated):
        return memory.items
    return None


def _mutates(node) -> bool:
    """Whether an expression may change state when evaluated (`:=`, list/dict methods that
    change the container, a call of any function but a few builtins and NumPy's)."""
    for sub in ast.walk(node):
        if isinstance(sub, (ast.NamedExpr, ast.Yield, ast.YieldFrom, ast.Await)):
            return True
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in _CHANGES:
            return True
    return False


def _numpy_callable(fn) -> bool:
    from . import numpy_table
    from .python import _is_numpy
    try:
        return _is_numpy(fn) or numpy_table.lookup(fn) is not None
    except TypeError:
        return False


def _name(fn) -> str:
    from .python import _qualname
    return _qualname(fn)


class PythonConstructs:
    """Python constructs lowered at compile time (mixed into python.Lowering)."""

    # -- scopes ---------------------------------------------------------------------

    def owner_of(self, name):
        """The enclosing lowering whose name `name` a nested scope reads, or None."""
        lw = self.enclosing
        while lw is not None:
            if name in lw.env:
                return lw
            if name in getattr(lw, "local_names", ()):
                return None
            lw = lw.enclosing
        return None

    def chain_buffers(self):
        out, lw = frozenset(), self
        while lw is not None:
            out |= lw._all_buffers()
            lw = lw.enclosing
        return out

    def share_state(self, lw):
        """`lw` records memory, made containers and outside reads where this lowering does."""
        lw.value_buffers, lw.static_buffers = self.value_buffers, self.static_buffers
        lw.made_lists, lw.made_in, lw.mutated = self.made_lists, self.made_in, self.mutated
        lw.made_in_branch = self.made_in_branch
        lw.row_sources, lw.live_rows, lw.referenced = self.row_sources, self.live_rows, self.referenced
        lw.warned = self.warned

    def child_scope(self, tree, name, local_names, *, comprehension=False, stack=None):
        lw = type(self)(NestedSource(self.src, tree, name), self.b, {}, module_globals=self.module_globals,
                        stack=self.stack if stack is None else stack, consts=self.named_consts)
        lw.enclosing, lw.is_comprehension = self, comprehension
        lw.local_names = frozenset(local_names)
        lw.cells = {}
        self.share_state(lw)
        lw.outer_buffers = self.outer_buffers
        return lw

    def check_recursion(self, key, name, node):
        if sum(1 for k in self.stack if k is key) >= MAX_RECURSION:
            self.fail(f"recursion deeper than {MAX_RECURSION} calls of {name}() at compile time: gradc "
                      "inlines every call, so a recursion must end at a depth known at compile time "
                      "(an int argument counting down to a base case)", UnsupportedSyntax, node)

    # -- containers made in the function --------------------------------------------

    def made(self, obj):
        """A list or dict made here: the function may change it (Python's own object)."""
        self.made_lists[id(obj)] = obj
        self.made_in[id(obj)] = getattr(self.b, "region", None)
        self.made_in_branch[id(obj)] = getattr(self.b, "branch", None)

    def _outside_branch(self, obj) -> bool:
        """Whether obj was made outside the branch of an if on data being lowered now: changing
        or consuming it there would happen whichever branch runs (both are lowered)."""
        branch = getattr(self.b, "branch", None)
        return branch is not None and self.made_in_branch.get(id(obj)) is not branch

    def mutable(self, obj, node, what):
        """Refuse changing a container the function did not make; inside a loop region (its
        body is lowered once for all iterations) a container made outside it makes the
        region give up, and the loop is unrolled."""
        kind = "dict" if isinstance(obj, dict) else "list"
        if self.made_lists.get(id(obj)) is not obj:
            self.fail(f"unsupported construct '{what}': the {kind} was not made inside the function "
                      f"(an argument's, a module-level or default-argument {kind}): Python would change it "
                      f"for the caller and every later call; make a copy first "
                      f"({'dict(d)' if kind == 'dict' else 'list(xs)'})", UnsupportedSyntax, node)
        region = getattr(self.b, "region", None)
        if region is not None and self.made_in.get(id(obj)) is not region:
            raise DataDependentControlFlow(f"{what} changes a {kind} made outside the loop body")
        if self._outside_branch(obj):
            where = getattr(self.b, "branch_kind", "an if on data")
            self.fail(f"unsupported construct '{what} under {where}': the {kind} was made before it (or "
                      f"in a default argument), and changing it where the data decides cannot be "
                      f"compiled; build a new {kind}, or select values with np.where",
                      DataDependentControlFlow, node)
        self.mutated[id(obj)] = obj

    def consumable(self, it, node):
        """An iterator is consumed by iterating it: only one the function made (a module's
        would be used up at compile time), and inside a loop region only one made in its
        body (the body is lowered once: the region gives up and the loop is unrolled)."""
        if self.made_lists.get(id(it)) is not it:
            self.fail("iterating over an iterator not made inside the function: gradc would use it up "
                      "while compiling; pass a list", UnsupportedSyntax, node)
        region = getattr(self.b, "region", None)
        if region is not None and self.made_in.get(id(it)) is not region:
            raise DataDependentControlFlow("an iterator made outside a loop body is consumed in it")
        if self._outside_branch(it):
            where = getattr(self.b, "branch_kind", "an if on data")
            self.fail(f"unsupported construct 'an iterator consumed under {where}': it was made before "
                      "it, and using it up where the data decides cannot be compiled; iterate over a "
                      "list instead (list(...))", DataDependentControlFlow, node)

    def container_attribute(self, obj, attr, node):
        allowed = (LIST_READS | LIST_CHANGES) if isinstance(obj, list) else (DICT_READS | DICT_CHANGES)
        if attr not in allowed:
            self.fail(f"{type(obj).__name__} method or attribute '.{attr}' is not supported (supported: "
                      f"{', '.join(sorted(allowed))})", UnsupportedFunction, node)
        from .python import _UNKNOWN
        self._set_memory(node, _UNKNOWN)  # it holds the container: resolved from its items
        return ContainerMethod(obj, attr, self._memory(node.value))

    def call_container_method(self, m, args, kwargs, node):
        from .python import _UNKNOWN, _traced_inside
        obj, name = m.obj, m.name
        what = f"{type(obj).__name__}.{name}()"
        if name in _CHANGES:
            self.mutable(obj, node, what)
        if isinstance(obj, list):
            if name in ("index", "count", "remove", "sort") and _traced_inside((obj, args, kwargs)):
                self.fail(f"{what} on a list holding arrays computed from the arguments compares them "
                          "with ==, which needs their values", UnsupportedFunction, node)
            if name == "extend" and args:
                args = [self._as_items(args[0], self._arg_memory(args[0], args), node)] + list(args[1:])
        else:
            keys = list(args[:1]) if name in ("get", "pop", "setdefault") else []
            if name == "update":
                keys = list(kwargs) + ([k for k, _ in self._pairs(args[0], node)] if args else [])
                args = [dict(self._pairs(args[0], node))] if args else []
            for k in keys:
                self.check_key(k, node)
        try:
            result = getattr(obj, name)(*args, **kwargs)
        except (TypeError, ValueError, IndexError, KeyError) as e:
            self.fail(f"{what} failed at compile time: {type(e).__name__}: {e}", SignatureError, node)
        if name == "copy":
            self.made(result)
        self._call_result_memory = None if name in _CHANGES and result is None else _UNKNOWN
        return result

    def _pairs(self, obj, node):
        from .python import _UNKNOWN
        if isinstance(obj, dict):
            return list(obj.items())
        pairs = []
        for item, _ in self.iterate(obj, _UNKNOWN, node):
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                self.fail("dict update needs key/value pairs", SignatureError, node)
            pairs.append(tuple(item))
        return pairs

    def _as_items(self, obj, memory, node):
        """What Python's iteration of obj gives, as a list (rows for a traced array)."""
        if isinstance(obj, (list, tuple)):
            return obj
        return [item for item, _ in self.iterate(obj, memory, node)]

    def check_key(self, key, node):
        from .python import _traced_inside
        if isinstance(key, Const) or _traced_inside(key):
            self.fail("a dict key or set item computed from the arguments is not supported (an array "
                      "is unhashable, and a NumPy scalar hashes by its value, not known at compile time)",
                      UnsupportedSyntax, node)
        try:
            hash(key)
        except TypeError as e:
            self.fail(f"unhashable key: {e}", SignatureError, node)

    def container_setitem(self, target, value, aug):
        """`xs[i] = v`, `d[k] = v` (and `d[k] += v` on numbers) on a list or dict made here."""
        from .python import _UNKNOWN, _traced_inside
        node = aug or target
        name = target.value.id
        obj = self.env[name]
        index = self.expr(target.slice)
        if isinstance(index, Const) or _traced_inside(index):
            self.fail("a list index or dict key computed from the arguments is not supported",
                      UnsupportedSyntax, target.slice)
        if isinstance(obj, dict):
            self.check_key(index, target.slice)
        if aug is not None:
            try:
                current = obj[index]
            except (TypeError, IndexError, KeyError) as e:
                self.fail(f"cannot index {type(obj).__name__} {name!r}: {type(e).__name__}: {e}",
                          SignatureError, node)
            rhs = self.expr(aug.value)
            if isinstance(current, (np.ndarray, list, dict)) or isinstance(current, Value) and \
                    self._buffers(self._memory(target), current):
                self.fail(f"unsupported construct 'augmented assignment to an array or list held in "
                          f"{name!r}': Python updates it in place; write `{name}[...] = {name}[...] <op> ...`",
                          UnsupportedSyntax, node)
            value = self.binop(aug.op, current, rhs, aug)
        self.node = node
        self.mutable(obj, node, f"assignment to an item of {name!r}")
        if isinstance(obj, list) and isinstance(index, slice):
            value = list(self._as_items(value, _UNKNOWN, node))
        try:
            obj[index] = value
        except (TypeError, IndexError, ValueError) as e:
            self.fail(f"assignment to {name}[...] failed at compile time: {type(e).__name__}: {e}",
                      SignatureError, node)

    # -- iteration ------------------------------------------------------------------

    def iterate(self, obj, memory, node):
        """Python's iteration over obj, as (item, memory) pairs: the rows of an array (a
        traced array's rows are read lazily, as NumPy's iterator reads them), the items
        of a sequence with their recorded memory, anything else as Python iterates it."""
        from .python import _UNKNOWN, _describe
        if isinstance(obj, Const):
            obj = obj.value
        if isinstance(obj, (Value, np.ndarray)) and obj.ndim == 0:
            self.fail("iteration over a 0-d array (NumPy raises TypeError)", UnsupportedSyntax, node)
        if isinstance(obj, Value):
            return self._rows(obj, self._buffers(memory, obj))
        if isinstance(obj, np.ndarray):
            buffers = self._buffers(memory, obj)
            return ((row, buffers if np.ndim(row) else None) for row in obj)
        seq = seq_items(self, memory, obj)
        if isinstance(obj, collections.abc.Iterator):
            self.consumable(obj, node)
        try:
            it = iter(obj)  # now, as Python's `for` and comprehensions call it
        except TypeError:
            self.fail(f"cannot iterate over {_describe(obj)}", UnsupportedSyntax, node)

        def items():
            for k, item in enumerate(it):
                if k >= MAX_ITERATIONS:
                    self.fail(f"more than {MAX_ITERATIONS} items in one loop at compile time (a list "
                              "that grows while it is iterated?)", UnsupportedSyntax, node)
                fresh = seq is not None and k < len(seq) and id(obj) not in self.mutated
                yield item, seq[k] if fresh else _UNKNOWN
        return items()

    def _rows(self, x, buffers):
        for k in range(x.shape[0]):
            row = self.bind("getitem", x, index=(k,))
            memory = buffers if row.ndim else None  # rows are views; elements of a vector, scalars
            self._remember(row, memory)
            yield row, memory

    def iterating_builtin(self, fn, args, kwargs, node):
        """tuple/list/zip/enumerate/reversed: of a traced array, over its rows."""
        rows = None  # the buffers of the traced arrays whose rows the result holds
        items = []
        for a in args:
            if isinstance(a, (Value, np.ndarray)):  # Python iterates an array along its first axis
                memory = self._arg_memory(a, args)
                if isinstance(a, Value) and not isinstance(a, Const):
                    rows = (rows or frozenset()) | self._buffers(memory, a)
                items.append([item for item, _ in self.iterate(a, memory, node)])
            else:
                held = self.row_sources.get(id(a))
                if held is not None and held[0] is a:
                    rows = (rows or frozenset()) | held[1]
                items.append(a)
        result = self._static_call(fn, items, kwargs, node, unwrap=False)
        if isinstance(result, collections.abc.Iterator):
            self.made(result)
        if rows is not None:
            self.row_sources[id(result)] = (result, rows)
        return result

    def _arg_memory(self, a, args):
        from .python import _UNKNOWN
        pos = self._call_memory[0]
        for k, b in enumerate(args):
            if b is a and k < len(pos):
                return pos[k]
        return _UNKNOWN

    def builtin_sum(self, args, kwargs, node):
        """Python's sum: start + item + item + ..., one add at a time (an array's rows)."""
        from .python import _traced_inside
        if len(args) > 2 or set(kwargs) - {"start"} or len(args) == 2 and kwargs:
            self.fail("sum() takes an iterable and optionally start", SignatureError, node)
        start = args[1] if len(args) > 1 else kwargs.get("start", 0)
        if isinstance(start, (str, bytes, bytearray)):
            self.fail("sum() can't sum strings (Python raises TypeError)", SignatureError, node)
        iterable = args[0]
        if not isinstance(iterable, (Value, collections.abc.Iterator)) and not _traced_inside(args):
            return self._static_call(sum, args, kwargs, node)
        total = start
        for item, _ in self.iterate(iterable, self._arg_memory(iterable, args), node):
            total = self.binop(ast.Add(), total, item, node)
        return total

    def python_float(self, x, node):
        """float() of a traced 0-d value: a Python float with its value (weak under NEP 50,
        as a Python float is); the derivative passes through it."""
        if x.ndim != 0:
            self.fail(f"builtin float() of an array with {x.ndim} dimension(s) is not supported (NumPy "
                      "deprecates it); reduce it first, e.g. float(np.sum(x))", UnsupportedFunction, node)
        if x.pytype is float:
            return x
        if x.dtype == np.float64:
            out = self.bind("copy", x)  # a new value: x itself stays a NumPy float64
        else:
            out = self.b.bind("cast", x, dtype=np.dtype(np.float64), scalar=True)
        out.pytype = float
        return out

    # -- calls ----------------------------------------------------------------------

    def call_arguments(self, node):
        """The call's positional and keyword arguments (`*xs` and `**d` spread at compile time)
        and the memory of each."""
        from .python import _UNKNOWN
        args, pos_memory = [], []
        for a in node.args:
            if isinstance(a, ast.Starred):
                for item, m in self.iterate(self.expr(a.value), self._memory(a.value), a):
                    args.append(item)
                    pos_memory.append(m)
            else:
                args.append(self.expr(a))
                pos_memory.append(self._memory(a))
        kwargs, kw_memory = {}, {}
        for k in node.keywords:
            if k.arg is None:
                spread = self.expr(k.value)
                if not isinstance(spread, dict) or not all(isinstance(key, str) for key in spread):
                    self.fail("**kwargs in a call needs a dict with str keys", SignatureError, k.value)
                pairs = [(key, v, _UNKNOWN) for key, v in spread.items()]
            else:
                pairs = [(k.arg, self.expr(k.value), self._memory(k.value))]
            for key, v, m in pairs:
                if key in kwargs:
                    self.fail(f"got multiple values for keyword argument {key!r}", SignatureError, node)
                kwargs[key], kw_memory[key] = v, m
        return args, kwargs, pos_memory, kw_memory

    def call_python(self, fn, args, kwargs, node):
        """Calls of what the constructs here make (NotImplemented for anything else)."""
        from .python import _DEFAULT, _UNKNOWN
        for a in (*args, *kwargs.values()):
            if isinstance(a, collections.abc.Iterator):
                self.consumable(a, node)  # the call may consume it
        if isinstance(fn, Closure):
            return self.call_closure(fn, args, kwargs, node)
        if isinstance(fn, ContainerMethod):
            return self.call_container_method(fn, args, kwargs, node)
        if fn in (any, all) and len(args) == 1 and not kwargs and isinstance(args[0], collections.abc.Iterator):
            for item, _ in self.iterate(args[0], _UNKNOWN, node):  # stops where Python stops
                if self.static_truth(item, node, f"{fn.__name__}() item") is (fn is any):
                    return fn is any
            return fn is all
        if fn is sorted and args and isinstance(args[0], collections.abc.Iterator):
            items = [item for item, _ in self.iterate(args[0], _UNKNOWN, node)]
            return self._static_call(sorted, [items, *args[1:]], kwargs, node)
        if fn is dict:  # a new dict (its values may be traced; its keys are not)
            if len(args) > 1:
                self.fail("dict() takes at most one positional argument", SignatureError, node)
            pairs = (self._pairs(args[0], node) if args else []) + list(kwargs.items())
            for k, _ in pairs:
                self.check_key(k, node)
            out = dict(pairs)
            self.made(out)
            self._call_result_memory = _UNKNOWN
            return out
        if fn is functools.partial:
            if not args:
                self.fail("functools.partial() needs a function", SignatureError, node)
            self._call_result_memory = _UNKNOWN  # it holds its arguments: resolved from them
            return Partial(args[0], args[1:], kwargs)
        if isinstance(fn, (Partial, functools.partial)):
            func, pargs, pkw = fn.func, tuple(fn.args), dict(fn.keywords)
            pos, kw = self._call_memory
            memory = ([_UNKNOWN] * len(pargs) + list(pos), {**{k: _UNKNOWN for k in pkw}, **kw})
            self._call_memory = memory
            full_args, full_kwargs = [*pargs, *args], {**pkw, **kwargs}
            result = self.call(func, full_args, full_kwargs, node)
            if self._call_result_memory is _DEFAULT:  # as the function itself would have it
                self._call_result_memory = self._result_memory(func, full_args, full_kwargs, memory, result)
            return result
        if isinstance(fn, types.BuiltinMethodType) and isinstance(getattr(fn, "__self__", None), (str, tuple)):
            return self._static_call(fn, args, kwargs, node)  # str.format, tuple.index, ...: pure
        if any(isinstance(a, collections.abc.Iterator) for a in (*args, *kwargs.values())) and _numpy_callable(fn):
            self.fail(f"{_name(fn)}() of a generator or iterator: NumPy needs a sequence (np.stack raises "
                      "TypeError, np.array makes an object array); pass a list, [... for ...]",
                      UnsupportedFunction, node)
        return NotImplemented

    def call_closure(self, clo, args, kwargs, node):
        """Lower a nested function's body at its call: its parameters bound here, every other
        name read from the scope it was defined in, now (Python's late binding)."""
        self.check_recursion(clo.node, clo.name, node)
        try:
            bound = clo.signature.bind(*args, **kwargs)
        except TypeError as e:
            self.fail(f"bad call to {clo.name}(): {e}", SignatureError, node)
        bound.apply_defaults()
        parent = clo.parent
        inner = parent.child_scope(clo.tree, clo.name, clo.local_names, stack=self.stack + (clo.node,))
        inner.b = self.b  # ops go where the call is (a loop body's builder inside one)
        self._share_memory_with(inner, None, clo.signature)
        self.share_state(inner)
        inner.outer_buffers = inner.outer_buffers | parent.chain_buffers()
        result = inner.run(dict(bound.arguments), implicit_none=True)
        self._call_result_memory = inner.return_memory
        return result

    def stmt_FunctionDef(self, s):
        if s.decorator_list:
            self.fail("unsupported construct 'decorated nested function': define it without "
                      "decorators (or at module level)", UnsupportedSyntax, s)
        from .python import _UNKNOWN
        self.env[s.name] = self.make_closure(s, s.name)
        self.prov[s.name] = _UNKNOWN  # it holds its default values: resolved from them

    def expr_Lambda(self, node):
        from .python import _UNKNOWN
        self._set_memory(node, _UNKNOWN)
        return self.make_closure(node, "<lambda>")

    def make_closure(self, node, name):
        a = node.args
        defaults = [self.expr(d) for d in a.defaults]
        kw_defaults = [_NO_DEFAULT if d is None else self.expr(d) for d in a.kw_defaults]
        return Closure(node, name, self, defaults, kw_defaults)

    # -- comprehensions -------------------------------------------------------------

    def comprehension(self, node, produce, lazy=False):
        """The items of a comprehension, produce(scope) for each, as a generator. The first
        iterable is evaluated now, in this scope; the rest in the comprehension's own scope
        as it runs. A lazy one (a generator expression) may only run in the loop body it
        was made in (a loop region is lowered once: running it there would run it once)."""
        gens = node.generators
        first = self.expr(gens[0].iter)
        top = self.iterate(first, self._memory(gens[0].iter), gens[0].iter)
        scope = self.child_scope(self.src.tree, self.src.name, comprehension_targets(gens), comprehension=True)
        builder, parent = self.b, self

        def resume():
            if lazy:
                if ir._active.get(None) is not builder:
                    raise DataDependentControlFlow("a generator made outside a loop body is consumed in it")
                parent.share_state(scope)

        def run(k, it):
            g = gens[k]
            while True:
                resume()
                try:
                    item, memory = next(it)
                except StopIteration:
                    return
                scope.assign(g.target, item, memory)
                if not all(scope.static_truth(scope.expr(c), c, "comprehension condition") for c in g.ifs):
                    continue
                if k + 1 < len(gens):
                    nxt = gens[k + 1]
                    inner = scope.expr(nxt.iter)
                    if lazy and isinstance(inner, Value) and not isinstance(inner, Const):
                        held = parent.row_sources.get(id(out), (out, frozenset()))[1]
                        parent.row_sources[id(out)] = (out, held | scope._buffers(scope._memory(nxt.iter), inner))
                    yield from run(k + 1, scope.iterate(inner, scope._memory(nxt.iter), nxt.iter))
                else:
                    yield produce(scope)

        out = run(0, top)
        if lazy:
            self.made(out)
        if lazy and isinstance(first, Value) and not isinstance(first, Const):
            self.row_sources[id(out)] = (out, self._buffers(self._memory(gens[0].iter), first))
        return out

    def static_truth(self, value, node, what="condition"):
        """Python's truth value of a compile-time value (a traced one is refused)."""
        if not self.is_static(value):
            self.fail(f"unsupported construct 'data-dependent {what}': it depends on the function's "
                      "array arguments; select values with np.where(condition, a, b) instead",
                      DataDependentControlFlow, node)
        v = self.value(value)
        if isinstance(v, np.ndarray) and v.size != 1:
            self.fail(f"the truth value of an array with {v.size} elements is ambiguous",
                      UnsupportedSyntax, node)
        return bool(v)

    def expr_ListComp(self, node):
        from .python import _Seq
        pairs = list(self.comprehension(node, lambda c: (c.expr(node.elt), c._memory(node.elt))))
        self._set_memory(node, _Seq(tuple(m for _, m in pairs)))
        return [v for v, _ in pairs]

    def expr_SetComp(self, node):
        def item(c):
            v = c.expr(node.elt)
            c.check_key(v, node.elt)
            return v
        return set(self.comprehension(node, item))

    def expr_DictComp(self, node):
        def pair(c):
            k = c.expr(node.key)
            c.check_key(k, node.key)
            return k, c.expr(node.value)
        out = dict(self.comprehension(node, pair))
        self.made(out)
        return out

    def expr_GeneratorExp(self, node):
        return self.comprehension(node, lambda c: c.expr(node.elt), lazy=True)

    # -- displays -------------------------------------------------------------------

    def display_items(self, node):
        """The items of a list or tuple display, `*xs` spread."""
        from .python import _Seq
        if not any(isinstance(e, ast.Starred) for e in node.elts):
            return [self.expr(e) for e in node.elts]
        items, memories = [], []
        for e in node.elts:
            if isinstance(e, ast.Starred):
                for item, m in self.iterate(self.expr(e.value), self._memory(e.value), e):
                    items.append(item)
                    memories.append(m)
            else:
                items.append(self.expr(e))
                memories.append(self._memory(e))
        self._set_memory(node, _Seq(tuple(memories)))
        return items

    def expr_Dict(self, node):
        out = {}
        for k, v in zip(node.keys, node.values):
            if k is None:  # {**d}
                spread = self.expr(v)
                if not isinstance(spread, dict):
                    self.fail("'**' in a dict display needs a dict", SignatureError, v)
                out.update(spread)
                continue
            key = self.expr(k)
            self.check_key(key, k)
            out[key] = self.expr(v)
        self.made(out)
        return out

    def expr_Set(self, node):
        from .python import _UNKNOWN
        out = set()
        for e in node.elts:
            values = [i for i, _ in self.iterate(self.expr(e.value), _UNKNOWN, e)] \
                if isinstance(e, ast.Starred) else [self.expr(e)]
            for v in values:
                self.check_key(v, e)
                out.add(v)
        return out

    # -- assignment -----------------------------------------------------------------

    def assign_starred(self, target, value, memory):
        """`a, *rest, b = seq`: rest is a new list of the middle items."""
        from .python import _Seq
        elts = target.elts
        i = next(k for k, e in enumerate(elts) if isinstance(e, ast.Starred))
        after = len(elts) - i - 1
        pairs = list(self.iterate(value, memory, target))
        if len(pairs) < i + after:
            self.fail(f"not enough values to unpack (expected at least {i + after}, got {len(pairs)})",
                      SignatureError, target)
        middle = pairs[i:len(pairs) - after]
        rest = [v for v, _ in middle]
        self.made(rest)
        self.assign_in_order([(t, v, m) for t, (v, m) in zip(elts[:i], pairs[:i])]
                             + [(elts[i].value, rest, _Seq(tuple(m for _, m in middle)))]
                             + [(t, v, m) for t, (v, m) in zip(elts[i + 1:], pairs[len(pairs) - after:])])

    def expr_NamedExpr(self, node):
        """`(y := expr)`: binds y in the enclosing function (also from a comprehension)."""
        value = self.expr(node.value)
        memory = self._memory(node.value)
        scope = self
        while scope.is_comprehension:
            scope = scope.enclosing
        owner = getattr(self.b, "branch_owner", None)
        if scope is not self and owner is not None and owner is not scope:
            self.fail("unsupported construct ':= inside a comprehension under an if on data': the name "
                      "it binds in the function would depend on the branch taken for each item; "
                      "assign it in a for loop instead", DataDependentControlFlow, node)
        scope.assign(node.target, value, memory)
        self._set_memory(node, memory)
        return value

    # -- statements -----------------------------------------------------------------

    def stmt_Break(self, s):
        raise Break()

    def stmt_Continue(self, s):
        raise Continue()

    def stmt_With(self, s):
        """`with np.errstate(...)` whose settings change no value ("ignore", "warn"): the block
        is lowered as it is (the generated code does not apply the errstate: it may warn where
        the block would not). "raise", "call", "print" and "log" change what happens: refused."""
        ctx = s.items[0].context_expr if len(s.items) == 1 else None
        fn = self.expr(ctx.func) if isinstance(ctx, ast.Call) else None
        if fn is not np.errstate or s.items[0].optional_vars is not None:
            self.fail("unsupported construct 'with statement' (of context managers only "
                      "`with np.errstate(...)` is supported)", UnsupportedSyntax, s)
        args, kwargs, _, _ = self.call_arguments(ctx)
        if args:
            self.fail("np.errstate() takes keyword arguments only", SignatureError, ctx)
        for k, v in kwargs.items():
            if k not in ("all", "divide", "over", "under", "invalid") or v not in (None, "ignore", "warn"):
                self.fail(f"unsupported construct 'with np.errstate({k}={v!r})': the compiled code does not "
                          "apply NumPy's error state, so only settings that change no value (\"ignore\", "
                          "\"warn\") are supported; check the result with np.isfinite instead",
                          UnsupportedSyntax, s)
        self.block(s.body)

    def stmt_Import(self, s):
        for alias in s.names:
            module = self.imported_module(alias.name, s)
            name = alias.asname or alias.name.split(".")[0]
            self.env[name] = module if alias.asname else self.imported_module(name, s)
            self.prov[name] = None

    def stmt_ImportFrom(self, s):
        package = (self.module_globals or {}).get("__package__") or ""
        try:
            module_name = importlib.util.resolve_name("." * s.level + (s.module or ""), package) \
                if s.level else s.module
        except (ImportError, ValueError) as e:
            self.fail(f"cannot resolve the relative import: {e}", NameResolutionError, s)
        module = self.imported_module(module_name, s)
        for alias in s.names:
            if alias.name == "*":
                self.fail("unsupported construct 'from ... import *' in a function", UnsupportedSyntax, s)
            try:
                obj = getattr(module, alias.name)
            except AttributeError:
                obj = sys.modules.get(f"{module_name}.{alias.name}", captured.MISSING)
            if obj is captured.MISSING:
                self.fail(f"cannot import name {alias.name!r} from {module_name!r}", NameResolutionError, s)
            self.referenced[("module attribute", module_name, alias.name)] = captured.Read(
                captured.ModuleAttributeSlot(module_name, alias.name), obj)
            name = alias.asname or alias.name
            self.env[name] = self.captured_array(name, obj, s) if isinstance(obj, np.ndarray) else obj
            self.prov[name] = None

    def imported_module(self, name, node):
        """A module the import statement names: only one already imported (gradc does not run
        a module's code while compiling); read when compiled and checked before each call."""
        module = sys.modules.get(name)
        if module is None:
            self.fail(f"import of {name!r} inside the function: the module is not imported yet, and "
                      "gradc does not run a module's code while compiling; import it at module level",
                      UnsupportedSyntax, node)
        self.referenced[("module", name)] = captured.Read(captured.ModuleSlot(name), module)
        return module

    def _dropped_print(self, s) -> bool:
        """`print(...)` as a statement: not part of the compiled code. Its arguments are not
        evaluated (they may be traced values, which have no value yet), so arguments that
        would change state are refused."""
        call = s.value
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "print"):
            return False
        if self.lookup("print", call.func) is not builtins.print:
            return False
        if any(_mutates(a) for a in [*call.args, *(k.value for k in call.keywords)]):
            self.fail("print(...) with arguments that change state (':=', a list method): gradc drops "
                      "print calls without evaluating their arguments; move the change out of the print",
                      UnsupportedSyntax, s)
        loc = self.src.loc(s)
        if (loc.filename, loc.lineno) in self.warned:  # once per compilation (loops unroll)
            return True
        self.warned.add((loc.filename, loc.lineno))
        warnings.warn_explicit(
            f"gradc: the print(...) at line {loc.lineno} of {loc.function or 'the function'} is dropped: the "
            "compiled code does not print (its arguments are not evaluated); print the compiled "
            "function's results instead", CompileWarning, loc.filename, loc.lineno)
        return True
