"""Python/NumPy source → SSA program, by reading the function's `ast`.

The function is never called. Its body is walked once, statement by statement,
with every name bound either to an IR value (anything that depends on the
arguments) or to a compile-time Python object (numbers, shapes, module-level
constants, loop indices). Operations on compile-time objects are folded;
operations on IR values become ops. So `for i in range(x.shape[0])` unrolls,
`if` on a shape is decided now, and an `if` on data is an error that says so.
"""
from __future__ import annotations

import ast
import builtins
import collections.abc
import contextlib
import copy
import contextvars
import inspect
import operator
import os
import re
import textwrap
import types
from dataclasses import dataclass

import numpy as np

from ..errors import (CompileError, DataDependentControlFlow, InternalError, NameResolutionError,
                      ShapeError, SignatureError, SourceLoc, SourceUnavailable, UnsupportedFunction,
                      UnsupportedSyntax)
from ..ir import Aval, Builder, Const, Program, Value, max_ops
from ..passes import optimize
from ..syntax import normal
from ..passes.simplify import rewrite
from ..backends import dask as dask_backend
from . import captured, marks, numpy_indexing, numpy_math, numpy_table
from .branches import (LOOP_BARRIER, UNBOUND, Branches, bound_on_every_exit, jumps_in, value_name,
                       without_jumps)
from .while_loops import lower_while
from .constructs import (Break, Closure, Continue, ContainerMethod, Partial, PythonConstructs, held,
                         seq_items)

BINOPS = {ast.Add: ("add", operator.add), ast.Sub: ("sub", operator.sub),
          ast.Mult: ("mul", operator.mul), ast.Div: ("div", operator.truediv),
          ast.Pow: ("pow", operator.pow), ast.MatMult: ("matmul", operator.matmul),
          ast.FloorDiv: ("floor_divide", operator.floordiv), ast.Mod: ("mod", operator.mod),
          ast.BitAnd: ("bitwise_and", operator.and_), ast.BitOr: ("bitwise_or", operator.or_),
          ast.BitXor: ("bitwise_xor", operator.xor)}
# NumPy's & | ^ ~: logical on booleans, bitwise on integers, a TypeError on floats
_LOGICAL = {"bitwise_and": "logical_and", "bitwise_or": "logical_or", "bitwise_xor": "logical_xor",
            "invert": "logical_not"}
COMPARES = {ast.Gt: ("greater", operator.gt), ast.Lt: ("less", operator.lt),
            ast.GtE: ("greater_equal", operator.ge), ast.LtE: ("less_equal", operator.le),
            ast.Eq: ("equal", operator.eq), ast.NotEq: ("not_equal", operator.ne)}
SAFE_BUILTINS = {"range", "len", "abs", "min", "max", "float", "int", "bool", "tuple", "list",
                 "sorted", "any", "all",
                 "zip", "enumerate", "reversed", "sum", "round", "pow", "divmod", "print",
                 "slice", "dict"}
CONSTRUCT_NAMES = {
    ast.While: "while loop", ast.Lambda: "lambda", ast.ListComp: "list comprehension",
    ast.DictComp: "dict comprehension", ast.SetComp: "set comprehension",
    ast.GeneratorExp: "generator expression", ast.With: "with statement", ast.Try: "try statement",
    ast.Global: "global statement", ast.Nonlocal: "nonlocal statement", ast.Import: "import",
    ast.ImportFrom: "import", ast.Delete: "del statement", ast.ClassDef: "class definition",
    ast.FunctionDef: "nested function definition", ast.AsyncFunctionDef: "async function",
    ast.Yield: "yield", ast.YieldFrom: "yield", ast.Await: "await", ast.Break: "break",
    ast.Continue: "continue", ast.Dict: "dict display", ast.Set: "set display",
    ast.JoinedStr: "f-string", ast.NamedExpr: "assignment expression (:=)",
    ast.Starred: "starred expression", ast.Match: "match statement",
}


# -- memory model for in-place updates (NumPy's aliasing rules) -----------------------
# Every array a name can reach is described by the set of buffers it may share: the
# caller's arguments, module-level arrays, or memory made while lowering (fresh). The
# model follows NumPy, not the IR: `w * 1.0` and `w.copy()` are new memory even where the
# simplifier turns them back into `w`; views (slices, reshape, transpose) share memory.


class _Buffer:
    __slots__ = ("kind", "name")

    def __init__(self, kind: str, name: str = ""):
        self.kind = kind  # "argument", "constant", "fresh" or "unknown"
        self.name = name

    def __repr__(self):
        return f"<buffer {self.kind} {self.name}>"


@dataclass(frozen=True)
class _Seq:
    """The memory of a tuple/list display: one entry per item."""
    items: tuple


class _Marker:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


_UNKNOWN = _Marker("unknown memory")  # resolve from the value (its recorded buffers)
_DEFAULT = _Marker("default")
_UNTRACED = frozenset({_Buffer("unknown")})
_MEMBERSHIP = {ast.Is: operator.is_, ast.IsNot: operator.is_not,
               ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}


def _fresh(result, array=False):
    """Memory of a newly computed result: new buffer for arrays; none for scalars and
    Python values. A 0-d result is a NumPy scalar (immutable: `s += 1` rebinds s) unless
    `array`: the caller knows NumPy returns a 0-d ndarray there (np.where, np.asarray,
    x[...], a.copy() of a 0-d array, ...: mutable, `+=` writes into it)."""
    if isinstance(result, Const):
        return None if result.is_scalar and not array else frozenset({_Buffer("fresh")})
    if isinstance(result, Value):
        return None if result.ndim == 0 and not array else frozenset({_Buffer("fresh")})
    if isinstance(result, np.ndarray):
        return frozenset({_Buffer("fresh")})
    if isinstance(result, (list, tuple, dict, set)):
        return _UNKNOWN
    return None


# NumPy returns a NumPy scalar for a 0-d result of ufuncs, operators, reductions,
# np.dot and most other functions, but a 0-d ndarray from these (checked against NumPy
# in tests/test_fuzz_regressions.py). A function gradc does not know here (a user
# primitive) counts as returning an array: assuming memory only ever refuses more.
_ZERO_D_ARRAYS = frozenset({np.where, np.array, np.asarray, np.copy, np.full_like, np.zeros_like,
                            np.ones_like, np.empty_like, np.roll, np.pad, np.tile, np.tensordot,
                            np.moveaxis, np.broadcast_to, np.select})
_ZERO_D_ARRAY_METHODS = frozenset({"copy", "astype"})  # of a 0-d ndarray (of a scalar: a scalar)


def _zero_d_array(fn, args, kwargs) -> bool:
    """Whether NumPy's 0-d result of fn(*args, **kwargs) is an ndarray (else a NumPy scalar)."""
    from gradc.runtime import support
    if fn is support.logsumexp:  # np.squeeze(out, axis) with an axis; out.reshape(())[()] without
        try:
            bound = inspect.signature(fn).bind(*args, **kwargs)
        except TypeError:
            return True
        bound.apply_defaults()
        return bound.arguments["axis"] is not None and not bound.arguments["keepdims"]
    try:
        if fn in _ZERO_D_ARRAYS:
            return True
        if fn in (support.sigmoid, support.softplus, support.relu, support.softmax, support.log_softmax):
            return False  # ufunc expressions: scalars
        if fn in numpy_table.ALWAYS_LOWER:
            return True  # a user primitive: its own code decides, so assume an array
        if isinstance(fn, np.ufunc) or fn in numpy_table.TABLE or fn in _SCALAR_BUILTINS:
            return False
    except TypeError:  # an unhashable callable
        return True
    return getattr(fn, "__module__", None) != "math"


_SCALAR_BUILTINS = (abs, max, min, float, int, bool, round, pow, sum, len, divmod)
# NumPy functions returning a tuple of results computed afresh (0-d ones NumPy scalars)
_FRESH_TUPLES = frozenset({np.linalg.slogdet, np.linalg.eigh, np.linalg.svd, np.linalg.eig})


def _immutable(v) -> bool:
    """v cannot hold an array, so no in-place update can reach it."""
    return v is None or isinstance(v, (bool, int, float, complex, str, bytes, np.generic, range, slice,
                                       type, types.ModuleType, types.FunctionType,
                                       types.BuiltinFunctionType, np.ufunc, np.dtype))


def _argument_memory(name, v):
    if isinstance(v, Value) and not isinstance(v, Const):
        return None if v.pytype is float else frozenset({_Buffer("argument", name)})
    if isinstance(v, Const):
        return _UNKNOWN
    if isinstance(v, np.ndarray):
        return frozenset({_Buffer("argument", name)})
    if isinstance(v, (list, tuple, dict, set)):
        return _UNKNOWN
    return None


def _traced_inside(x, depth=0) -> bool:
    """Whether x is, or holds at any depth of lists/tuples/dicts/sets, a traced value."""
    if isinstance(x, Value):
        return not isinstance(x, Const)
    if depth > 100:
        return True
    if isinstance(x, (list, tuple, set, frozenset)):
        return any(_traced_inside(v, depth + 1) for v in x)
    if isinstance(x, dict):
        return any(_traced_inside(v, depth + 1) for v in (*x.keys(), *x.values()))
    if isinstance(x, slice):
        return any(_traced_inside(v, depth + 1) for v in (x.start, x.stop, x.step))
    return False


def _unwrap(x, depth=0):
    """Compile-time constants (Consts) replaced by their values, at any depth."""
    if isinstance(x, Const):
        return x.value
    if depth > 100:
        return x
    if isinstance(x, tuple):
        return tuple(_unwrap(v, depth + 1) for v in x)
    if isinstance(x, list):
        return [_unwrap(v, depth + 1) for v in x]
    if isinstance(x, dict):
        return {k: _unwrap(v, depth + 1) for k, v in x.items()}
    if isinstance(x, slice):
        return slice(_unwrap(x.start), _unwrap(x.stop), _unwrap(x.step))
    return x


class _Return(Exception):
    def __init__(self, value):
        self.value = value


@dataclass
class ArgSpec:
    name: str
    kind: str  # "input" (an IR input), "static" (a compile-time Python value) or "tree"
    aval: object = None
    value: object = None  # static: the value; tree: the containers, input leaves as ArgSpecs
    pytype: type | None = None
    path: str = ""  # an input leaf of a tree: how the user spells it (`params["W1"]`)
    numpy_scalar: bool = False  # an input given as a NumPy scalar (immutable, as NumPy has it; not a 0-d array)


@dataclass
class Source:
    """A parsed function with what is needed to point at its lines."""

    fn: types.FunctionType
    tree: ast.FunctionDef
    lines: list[str]
    filename: str
    offset: int

    @property
    def name(self) -> str:
        return self.fn.__name__

    def loc(self, node) -> SourceLoc:
        lineno = getattr(node, "lineno", self.tree.lineno)
        line = self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else ""
        end = getattr(node, "end_col_offset", None) if getattr(node, "end_lineno", lineno) == lineno else None
        return SourceLoc(self.filename, lineno + self.offset, getattr(node, "col_offset", 0), end,
                         line, self.fn.__name__)


_source_cache: dict = {}  # (code, filename) → (tree, lines, filename, offset), least recently used first
SOURCE_CACHE_SIZE = 256


def parse_function(fn) -> Source:
    """The parsed source of exactly the function that is called (refusing what gradc would
    misread: wrappers, callable objects, bound methods, partials)."""
    if isinstance(fn, staticmethod):
        fn = fn.__func__
    code = getattr(fn, "__code__", None)
    if not isinstance(fn, types.FunctionType) or code is None:
        raise SourceUnavailable(_not_a_function(fn))
    wrapped = fn.__dict__.get("__wrapped__")
    if wrapped is not None:  # inspect.getsource would show the wrapped function's source
        qual = getattr(code, "co_qualname", code.co_name)
        decorator = qual.split(".<locals>")[0].rsplit(".", 1)[-1] if ".<locals>" in qual else code.co_name
        name = getattr(wrapped, "__name__", fn.__name__)
        raise SourceUnavailable(
            f"{name} is wrapped by decorator {decorator!r} (functools.wraps); gradc compiles the source "
            f"of the function you call, and Python shows the undecorated {name}'s source for it, so "
            f"what the decorator adds would be lost. Compile the undecorated function "
            f"({name}.__wrapped__) and apply the decorator's effect outside, or write it into the "
            f"function's body")
    key = (code, code.co_filename)  # (equal code objects from two files compare equal)
    cached = _source_cache.pop(key, None)
    if cached is None:
        cached = _read_source(fn, code)
    _source_cache[key] = cached  # most recently used last
    while len(_source_cache) > SOURCE_CACHE_SIZE:
        del _source_cache[next(iter(_source_cache))]
    tree, lines, filename, offset = cached
    return Source(fn, tree, lines, filename, offset)  # this function's globals and closure, not a twin's


def source_lines(text: str) -> list[str]:
    """`text` split into lines the way Python's tokenizer numbers them: at \\n, \\r\\n and \\r
    only (str.splitlines also splits at U+2028, U+2029, U+0085, \\x0c and \\x1c-\\x1e, which
    may stand inside a string or comment, and would shift every later line)."""
    return _LINE_BREAK.split(text[:-1] if text.endswith("\n") else text) if text else []


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def parse_lambda(fn) -> Source:
    """The source of a `lambda` function object a compiled function calls (a module-level
    `relu = lambda z: ...`, a helper's default `act=lambda z: ...`): its node in the parsed
    file, checked to be the code Python runs, as a function whose body returns it."""
    code = fn.__code__
    key = (code, code.co_filename)
    cached = _source_cache.pop(key, None)
    if cached is None:
        cached = _read_lambda(fn, code)
    _source_cache[key] = cached
    while len(_source_cache) > SOURCE_CACHE_SIZE:
        del _source_cache[next(iter(_source_cache))]
    tree, lines, filename, offset = cached
    return Source(fn, tree, lines, filename, offset)


def _read_lambda(fn, code) -> tuple:
    try:
        file_lines = inspect.findsource(code)[0]
        filename = inspect.getsourcefile(fn) or code.co_filename
    except (OSError, TypeError, IndexError):
        raise SourceUnavailable(f"cannot read the source of the lambda defined at line {code.co_firstlineno} "
                                f"of {code.co_filename}; define it with `def`") from None
    text = "".join(file_lines)
    try:
        module = ast.parse(text)
    except SyntaxError:
        raise _source_changed(code, filename) from None
    found = [n for n in ast.walk(module) if isinstance(n, ast.Lambda) and n.lineno == code.co_firstlineno
             and _lambda_matches(n, code)]
    if len(found) > 1:  # several lambdas on the line: the one whose span holds the code's positions
        spots = [(line, col) for line, _, col, end in code.co_positions()
                 if line is not None and col is not None and end is not None and end > col]
        found = [n for n in found if all((n.lineno, n.col_offset) <= spot <= (n.end_lineno, n.end_col_offset)
                                         for spot in spots)]
    if len(found) != 1:
        if not found:
            raise _source_changed(code, filename)
        raise SourceUnavailable(f"cannot tell which of the lambdas on line {code.co_firstlineno} of "
                                f"{os.path.basename(filename)} is called; define it with `def`")
    node = found[0]
    body = ast.copy_location(ast.Return(value=node.body), node.body)
    tree = ast.copy_location(ast.FunctionDef(name="<lambda>", args=node.args, body=[body], decorator_list=[],
                                             returns=None, type_comment=None), node)
    return tree, source_lines(text), filename, 0


def _lambda_matches(node: ast.Lambda, code) -> bool:
    """Whether the lambda `node` is the one `code` was compiled from: its parameters and
    the names it spells (a file edited after import is refused, not read)."""
    a = node.args
    params = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
    params += [p.arg for p in (a.vararg, a.kwarg) if p is not None]
    n = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)
    if [normal(p) for p in params] != list(code.co_varnames[:n]):
        return False
    used, stack = set(), [code]
    while stack:
        c = stack.pop()
        used.update(c.co_names, c.co_varnames, c.co_freevars, c.co_cellvars)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    used = {x for x in used if x and not x.startswith(".")}
    spelled = _spelled_names([node.body]) | {normal(p) for p in params}
    return used <= spelled and not (_spelled_names([node.body]) - used)


def _read_source(fn, code) -> tuple:
    try:
        text = inspect.getsource(code)
        start = inspect.findsource(code)[1] + 1  # where getsource began: at a `def` or `@` line
        filename = inspect.getsourcefile(fn) or code.co_filename
    except (OSError, TypeError, IndexError):
        import linecache
        if linecache.getlines(code.co_filename):  # the file is there, the function's lines are not
            raise _source_changed(code, code.co_filename) from None
        raise SourceUnavailable(
            f"cannot read the source of {fn.__name__!r} (defined in {code.co_filename}): gradc reads "
            "a function's source, so define it with `def` in a .py file or notebook cell, "
            "not with exec() or at an interactive prompt without source") from None
    if fn.__name__ == "<lambda>" or code.co_name == "<lambda>":
        raise UnsupportedSyntax("lambda functions are not supported: define the loss with `def`",
                                SourceLoc(filename, code.co_firstlineno, 0, None, source_lines(text)[0]))
    dedented = textwrap.dedent(text)
    changed = _source_changed(code, filename)
    try:
        module = ast.parse(dedented)
    except SyntaxError as e:
        if start != code.co_firstlineno:
            raise changed from None
        raise SourceUnavailable(f"cannot parse the source of {fn.__name__!r}: {e.msg}") from None
    tree = module.body[0] if module.body else None
    if not isinstance(tree, ast.FunctionDef):
        if start != code.co_firstlineno or tree is None:
            raise changed
        raise SourceUnavailable(f"the source of {fn.__name__!r} is not a `def` statement")
    if start != code.co_firstlineno or not _source_matches(tree, code) or _bytecode_matches(tree, code) is False:
        raise changed
    return tree, source_lines(dedented), filename, code.co_firstlineno - 1


def _source_changed(code, filename) -> SourceUnavailable:
    return SourceUnavailable(
        f"the source of {code.co_name} in {os.path.basename(filename)} changed since it was imported "
        f"(the file no longer holds the code Python runs); re-import the module "
        f"(importlib.reload) or restart, so that gradc compiles the code that is called")


_FUTURE_FLAGS = 0x1000000  # CO_FUTURE_ANNOTATIONS: `from __future__ import annotations`


def _bytecode_matches(tree: ast.FunctionDef, code) -> bool | None:
    """Whether `tree`, compiled as Python would, gives `code`'s constants
    (a file edited after import, `x ** 2` now `x ** 3` or a coefficient tweaked, keeps the
    names and lines _source_matches looks at). None when it cannot tell (the compile fails,
    or the function is not found): then the other checks decide."""
    fn = copy.deepcopy(tree)
    fn.decorator_list = []  # decorators run at definition time; the code is the function's own
    body: list = [fn]
    if code.co_freevars:  # a closure: its free names are cells of an enclosing function
        cells = [ast.Assign(targets=[ast.Name(id=v, ctx=ast.Store())], value=ast.Constant(None))
                 for v in code.co_freevars]
        outer = ast.FunctionDef(name="__gradc_enclosing", args=ast.arguments(
            posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]),
            body=cells + [fn, ast.Return(value=ast.Name(id=fn.name, ctx=ast.Load()))], decorator_list=[],
            returns=None, type_comment=None)
        body = [outer]
    module = ast.fix_missing_locations(ast.Module(body=body, type_ignores=[]))
    try:
        compiled = compile(module, code.co_filename, "exec", flags=code.co_flags & _FUTURE_FLAGS,
                           dont_inherit=True)
    except Exception:  # noqa: BLE001 - cannot tell
        return None
    found = [c for c in _code_objects(compiled) if c.co_name == code.co_name
             and c.co_argcount == code.co_argcount and c.co_varnames == code.co_varnames]
    if len(found) != 1:
        return None
    return _same_code(found[0], code)


def _code_objects(code):
    for k in code.co_consts:
        if isinstance(k, types.CodeType):
            yield k
            yield from _code_objects(k)


def _same_code(a, b) -> bool:
    """The same constants, nested functions (comprehensions, lambdas) included. (Instructions
    are not compared: the same source can compile to different specialised opcodes.)"""
    consts_a = [k for k in a.co_consts if not isinstance(k, types.CodeType)]
    consts_b = [k for k in b.co_consts if not isinstance(k, types.CodeType)]
    if len(consts_a) != len(consts_b) or any(type(x) is not type(y) or x != y and not (x != x and y != y)
                                            for x, y in zip(consts_a, consts_b)):
        return False
    nested_a = [k for k in a.co_consts if isinstance(k, types.CodeType)]
    nested_b = [k for k in b.co_consts if isinstance(k, types.CodeType)]
    return len(nested_a) == len(nested_b) and all(_same_code(x, y) for x, y in zip(nested_a, nested_b))


def _source_matches(tree: ast.FunctionDef, code) -> bool:
    """Whether `tree` (its first line numbered 1, at code.co_firstlineno) is the function
    `code` was compiled from: the same name, first line (decorators included), line span,
    parameters, and the names it spells (a file edited after import is refused, not read)."""
    if tree.name != code.co_name:
        return False
    first = min([tree.lineno] + [d.lineno for d in tree.decorator_list])
    if first != 1:
        return False
    offset = code.co_firstlineno - 1
    lines = {line for _, _, line in code.co_lines() if line is not None}
    for start, end, _, _ in code.co_positions():
        lines.update(x for x in (start, end) if x is not None)
    if not lines or min(lines) - offset < 1 or max(lines) - offset > tree.end_lineno:
        return False
    code_statements = [st for st in tree.body if not isinstance(st, ast.Pass)
                       and not (isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant))]
    if code_statements and max(lines) - offset < code_statements[-1].lineno:
        return False
    a = tree.args
    params = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
    params += [p.arg for p in (a.vararg, a.kwarg) if p is not None]
    n = code.co_argcount + code.co_kwonlyargcount + bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)
    if [normal(p) for p in params] != list(code.co_varnames[:n]):
        return False
    spelled = _spelled_names(tree.body) | {normal(p) for p in params}
    used = set()
    stack = [code]
    while stack:
        c = stack.pop()
        used.update(c.co_names, c.co_varnames)
        used.update(x for x in c.co_freevars + c.co_cellvars if x not in ("__class__", "__classdict__"))
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    used = {x for x in used if x and not x.startswith(".")}  # (".0": a comprehension's iterator)
    used -= {"__module__", "__qualname__", "__name__"} - spelled  # a nested class body sets them
    # private names are mangled in a class: self.__state is _Class__state in the code
    mangled = {x: m.group(1) for x in used if (m := re.fullmatch(r"_[A-Za-z0-9]\w*?(__\w+)", x))
               and x not in spelled and m.group(1) in spelled}
    used = {mangled.get(x, x) for x in used}
    # every name the code uses is spelled in the source, and the source spells no name the
    # code lacks (except in annotations, which Python may not evaluate, and in asserts,
    # which python -O drops)
    if not used <= spelled | {x.split(".")[0] for x in spelled}:
        return False
    asserted = _spelled_names([a for stmt in tree.body for a in ast.walk(stmt) if isinstance(a, ast.Assert)])
    return not (_spelled_names(tree.body, annotations=False) - used - asserted - {"super"})


def _spelled_names(nodes, annotations: bool = True) -> set:
    """The names a list of statements spells (variables, attributes, parameters, imports)."""
    spelled = set()
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            spelled.add(node.id)
        elif isinstance(node, ast.Attribute):
            spelled.add(node.attr)
        elif isinstance(node, ast.arg):
            spelled.add(node.arg)
        elif isinstance(node, ast.alias):  # import a.b as c: a.b, b and c; import a.b: a.b and a
            spelled.update([node.name, node.asname or node.name.split(".")[0]])
            if node.asname:  # import a.b.c as d: the code reads b and c from a
                spelled.update(node.name.split(".")[1:])
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            spelled.update(node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            spelled.add(node.module)
        elif isinstance(node, (ast.ExceptHandler, ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) \
                and node.name:
            spelled.add(node.name)
        for field, child in ast.iter_fields(node):
            if not annotations and field in ("annotation", "returns"):
                continue
            if isinstance(child, ast.AST):
                stack.append(child)
            elif isinstance(child, list):
                stack.extend(c for c in child if isinstance(c, ast.AST))
    return {normal(x) for x in spelled}


def _not_a_function(fn) -> str:
    import functools

    what = getattr(fn, "__name__", None) or type(fn).__name__
    if isinstance(fn, functools.partial):
        inner = getattr(fn.func, "__name__", "the function")
        return (f"cannot compile functools.partial({inner}, ...): gradc compiles a function defined "
                f"with `def`; write one that passes the fixed arguments, e.g. "
                f"`def loss(x): return {inner}(x, ...)` (module-level values it reads are tracked)")
    if isinstance(fn, types.MethodType):
        return (f"cannot compile the bound method {fn.__qualname__!r}: gradc compiles plain functions "
                f"(it does not read attributes of `self`); pass the object's arrays as arguments to a "
                f"module-level function, or use a @staticmethod")
    if isinstance(fn, classmethod):
        return f"cannot compile the classmethod {what!r}: gradc compiles plain functions"
    if callable(fn) and not isinstance(fn, (types.BuiltinFunctionType, np.ufunc)) \
            and not type(fn).__module__.startswith("numpy") and hasattr(type(fn), "__call__") \
            and not isinstance(fn, type):
        return (f"cannot compile a callable {type(fn).__name__} object: gradc reads the source of a "
                f"function defined with `def`, not an object's __call__; pass a function (its "
                f"arrays as arguments)")
    return (f"cannot read the source of {what!r}: gradc compiles Python "
            "functions defined with `def` in a file (not builtins, NumPy functions or C extensions)")


def _weak_float(a) -> bool:
    """A traced value that is a Python float (a float argument, or Python arithmetic on one)."""
    return isinstance(a, Value) and not isinstance(a, Const) and a.pytype is float


def _python_scalar(a) -> bool:
    """A Python bool/int/float (weak under NEP 50; NumPy scalars and 0-d arrays are strong)."""
    if isinstance(a, Const):
        return a.weak
    return isinstance(a, (bool, int, float)) and not isinstance(a, np.generic)


# where a Python float meets arrays as a weak scalar (ufuncs, operators, np.where)
_WEAK_PRIMS = frozenset(["add", "sub", "mul", "div", "pow", "neg", "mod", "floor_divide", "maximum",
                         "minimum", "where", "arctan2", "hypot", "logaddexp", "logaddexp2", "heaviside",
                         "equal", "not_equal", "greater", "greater_equal", "less", "less_equal",
                         "clip"])
# Python's own operators: a Python float in, a Python float out
_PYTHON_OPS = frozenset(["add", "sub", "mul", "div", "pow", "neg", "mod", "floor_divide"])


class Lowering(Branches, PythonConstructs):
    """The walk over one function body (helpers called from it get their own)."""

    def __init__(self, src, builder: Builder, scope: dict, *, module_globals: dict | None = None,
                 stack=(), consts=None):
        self.src = src  # anything with .tree, .name and .loc(node)
        self.b = builder
        self.stack = stack  # code objects being inlined, to refuse recursion
        self.env: dict[str, object] = {}
        self.node = src.tree
        self.scope = scope  # names visible besides locals: module globals, closure, a whitelist
        self.module_globals = module_globals
        # NumPy's memory sharing, for in-place updates (see _check_in_place)
        self.prov: dict[str, object] = {}  # name -> the memory its array may share
        self.outer_buffers: frozenset = frozenset()  # buffers the calling functions still hold
        self.value_buffers: dict = {}  # Value -> buffers (shared with inlined helpers)
        self.static_buffers: dict = {}  # id(compile-time ndarray) -> (array, buffers)
        self.return_memory = None
        self._memories: dict[int, object] = {}  # id(ast node) -> memory of its last value
        self._explicit: dict[int, object] = {}
        self._call_memory = ([], {})
        self._call_result_memory = _DEFAULT
        self.named_consts: dict[tuple, Const] = {} if consts is None else consts  # shared with helpers
        # lists made while lowering (displays, list(), slices, +): id -> list (shared with helpers).
        # Only those may be changed in place (`h += [...]`); any other list is the caller's or a
        # module's, which Python would change for every later call.
        self.made_lists: dict[int, list] = {}
        # names read from outside the arguments (by this function and inlined helpers): key → Read
        self.referenced = captured.Reads()
        self.tails: list = []  # per enclosing block, the statements after the current one
        self.loop_depth = 0  # loops being lowered around the current statement
        self.mixed_floats: set = set()  # values that are Python floats in one branch only
        self.python_ints: set = set()  # int64 values that are Python ints (a while loop's counters)
        self.scalar_inputs: frozenset = frozenset()  # inputs given as NumPy scalars (not 0-d arrays)
        # 0-d values whose Python type depends on the branch taken (a NumPy scalar in one, a 0-d
        # array or Python float in the other): shared with helpers; see result_type
        self.mixed_types: set = set()
        self.rewritten: dict = {}  # id(loop node) -> the statements it was lowered as (break flags)
        self.enclosing = None  # a nested function's or comprehension's enclosing lowering
        self.is_comprehension = False  # a comprehension's scope (`:=` binds in the enclosing function)
        self.made_in: dict = {}  # id(list or dict made here) -> the loop region it was made in
        self.made_in_branch: dict = {}  # id(list, dict or iterator made here) -> the branch it was made in
        self.mutated: dict = {}  # id -> list changed in place (its _Seq memory is stale)
        # id -> (iterator or list, buffers): it holds rows read from traced arrays with those
        # buffers; while a loop iterates over one, updates of the buffers are refused
        self.row_sources: dict = {}
        self.live_rows: list = []  # buffers whose rows loops are iterating over now
        self.pending: list = []  # (value, memory) a tuple assignment has still to bind (`assign_in_order`)
        self.in_place_updates = 0  # in-place updates lowered so far (`_check_in_place`)
        self.list_journal: list = []  # (list, its length before): rows a loop region added to it
        self.warned: set = set()  # (file, line) of dropped prints already warned about

    @classmethod
    def for_function(cls, src: Source, builder: Builder, stack=(), consts=None) -> "Lowering":
        fn = src.fn
        cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))
        nonlocals = {}
        for name, cell in cells.items():
            with contextlib.suppress(ValueError):  # an empty cell: the name is not bound yet
                nonlocals[name] = cell.cell_contents
        lw = cls(src, builder, {**fn.__globals__, **nonlocals},
                 module_globals=fn.__globals__, stack=stack + (fn.__code__,), consts=consts)
        lw.cells = cells
        # Python's scoping: a name bound anywhere in the function (assignment, for target, ...)
        # is local in all of it; reading it before it is bound raises UnboundLocalError
        lw.local_names = frozenset(fn.__code__.co_varnames) | frozenset(fn.__code__.co_cellvars)
        lw.referenced.attributes |= captured.attribute_names(src.tree)
        return lw

    # -- helpers used by the NumPy table ---------------------------------

    def fail(self, message: str, cls=UnsupportedFunction, node=None):
        raise cls(message, self.src.loc(node or self.node))

    def bind(self, prim: str, *args, **params):
        self.b.loc = self.src.loc(self.node)
        # NumPy converts list and tuple operands with np.asarray: so does gradc (traced items
        # are stacked, numbers become float64/int64 arrays exactly as np.asarray makes them)
        args = [numpy_table.array_from(self, a) if isinstance(a, (list, tuple)) and a else a for a in args]
        for a in args:
            self._check_operand(a, prim)
        try:
            return self._bind(prim, args, params)
        except OverflowError as e:  # a Python int out of an integer array's range, as NumPy refuses it
            self.fail(f"{prim}: NumPy raises OverflowError here: {e}", SignatureError)

    def _bind(self, prim, args, params):
        self.check_mixed(prim, args)
        if self.python_ints and any(isinstance(a, Value) and a in self.python_ints for a in args):
            return self._bind_python_int(prim, args, params)
        weak = [_weak_float(a) for a in args]
        if not any(weak):
            return self.b.bind(prim, *args, **params)
        if prim == "cast":  # the operand may be a real Python float at run time
            params = {**params, "scalar": True}
        # A Python-float argument is weak (NEP 50): float32_data * lam is float32, so it is
        # cast to the precision of the float arrays it meets in a ufunc or operator
        python = all(w or _python_scalar(a) for a, w in zip(args, weak))
        strong = [self.dtype(a) for a, w in zip(args, weak) if not w and not _python_scalar(a)]
        if strong and prim in _WEAK_PRIMS:
            target = np.result_type(*strong)
            if target.kind == "f" and target != np.float64:
                args = [self.b.bind("cast", a, dtype=target, scalar=True) if w else a
                        for a, w in zip(args, weak)]
        out = self.b.bind(prim, *args, **params)
        if python and prim in _PYTHON_OPS and isinstance(out, Value) and not isinstance(out, Const) \
                and out.ndim == 0 and out.dtype == np.float64:
            out.pytype = float  # Python float <op> Python number is a Python float: still weak
        return out

    def _bind_python_int(self, prim, args, params):
        """An op on a Python int carried through a while loop (an int64 there): refused where
        NumPy would give a Python int a narrower array's dtype (NEP 50), so the int64 would
        change the result's dtype; a 0-d int result stays a Python int."""
        for a in args:
            if not isinstance(a, (Value, np.ndarray, np.generic)) or _python_scalar(a) \
                    or isinstance(a, Value) and a in self.python_ints:
                continue
            dt = np.dtype(a.dtype)
            if dt.kind in "fiuc" and dt.itemsize < 8 or dt.kind == "c" and dt.itemsize < 16:
                self.fail(f"{prim}: a Python int counted in a while loop on data (an int64 in the "
                          f"compiled loop) meets a {dt} array: NumPy's result dtype would differ; "
                          f"convert it first (np.{dt.name}(...) or float(...))", DataDependentControlFlow)
        saved, self.python_ints = self.python_ints, set()
        try:
            out = self._bind(prim, args, params)
        finally:
            self.python_ints = saved
        if isinstance(out, Value) and not isinstance(out, Const) and out.ndim == 0 and out.dtype == np.int64:
            self.python_ints.add(out)
        elif isinstance(out, Value) and not isinstance(out, Const) and out.ndim == 0 \
                and out.dtype == np.float64 and prim in _PYTHON_OPS \
                and all(isinstance(a, Value) and a in self.python_ints or _python_scalar(a) or _weak_float(a)
                        for a in args):
            out.pytype = float  # `it * 0.25`: a Python float in Python, so weak (NEP 50) from here on
        return out

    def _check_operand(self, a, prim):
        if isinstance(a, Value):
            return
        if isinstance(a, (bool, int, float, np.generic)) and not isinstance(a, complex):
            return
        if isinstance(a, np.ndarray) and a.dtype.kind in "fiub":
            return
        self.fail(f"{prim}: unsupported operand {_describe(a)}", UnsupportedFunction)

    @staticmethod
    def is_static(x) -> bool:
        return not isinstance(x, Value) or isinstance(x, Const)

    @staticmethod
    def value(x):
        return x.value if isinstance(x, Const) else x

    def static(self, x, what: str):
        if not self.is_static(x):
            self.fail(f"{what} must be known at compile time, not computed from the arguments",
                      DataDependentControlFlow)
        v = self.value(x)
        if isinstance(v, list):
            v = tuple(v)
        if isinstance(v, np.ndarray) and v.ndim == 0:
            v = v.item()
        return v

    def ndim(self, x) -> int:
        return x.ndim if isinstance(x, Value) else np.ndim(x)

    def shape(self, x):
        return x.shape if isinstance(x, Value) else np.shape(x)

    def dtype(self, x):
        return x.dtype if isinstance(x, Value) else np.result_type(x)

    # -- statements -------------------------------------------------------

    def run(self, args: dict[str, object], implicit_none: bool = False):
        """Lower the body with `args` bound; the returned value. A helper or nested function
        that ends without `return` returns None, as in Python (`implicit_none`); the
        compiled function itself must return a value."""
        self.env.update(args)
        for name, v in args.items():  # a helper's parameters arrive with the caller's memory
            if name not in self.prov:
                self.prov[name] = None if isinstance(v, Value) and v in self.scalar_inputs \
                    else _argument_memory(name, v)
            self._remember(v, self.prov[name])
        try:
            self.block(self.src.tree.body)
        except _Return as r:
            return r.value
        if implicit_none:
            self.return_memory = None
            return None
        self.node = self.src.tree
        self.fail(f"{self.src.name} does not return a value", SignatureError)

    def block(self, body):
        for i, stmt in enumerate(body):
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                    and isinstance(stmt.value.value, str):
                continue  # docstring
            self.node = stmt
            self.tails.append(body[i + 1:])  # what runs after it, for a branch that returns
            try:
                self.stmt(stmt)
            finally:
                self.tails.pop()

    def stmt(self, s):
        if isinstance(s, (ast.For, ast.While)) and jumps_in(s.body):
            rewritten = without_jumps(s)  # break/continue as flags (frontend/branches.py)
            if rewritten is not None:
                stmts, hidden = rewritten
                self.rewritten[id(s)] = stmts
                # names the loop and its `else` bind however it ends, but no branch of the flag
                # form binds alone: a stand-in until the paths that bind them join
                stand_ins = sorted(n for n in bound_on_every_exit(s) if n not in self.env)
                for n in stand_ins:
                    self.env[n], self.prov[n] = UNBOUND, None
                for t in stmts:
                    self.node = t
                    self.stmt(t)
                for name in list(hidden) + [n for n in stand_ins if self.env.get(n) is UNBOUND]:
                    self.env.pop(name, None)
                    self.prov.pop(name, None)
                return
        method = getattr(self, f"stmt_{type(s).__name__}", None)
        if method is None:
            self.unsupported(s)
        loop = isinstance(s, (ast.For, ast.While))
        if loop:
            self.tails.append(LOOP_BARRIER)
            self.loop_depth += 1
        try:
            method(s)
        except CompileError as e:
            if e.loc is not None:
                raise
            raise type(e)(e.message, self.src.loc(s), hint=e.hint) from None
        finally:
            if loop:
                self.tails.pop()
                self.loop_depth -= 1

    def unsupported(self, node, extra=""):
        name = CONSTRUCT_NAMES.get(type(node), type(node).__name__)
        self.fail(f"unsupported construct '{name}'{extra}", UnsupportedSyntax, node)

    def stmt_Pass(self, s):
        pass

    def stmt_Return(self, s):
        value = self.expr(s.value) if s.value is not None else None
        self.return_memory = self._memory(s.value) if s.value is not None else None
        raise _Return(value)

    def stmt_Assign(self, s):
        value = self.expr(s.value)
        memory = self._memory(s.value)
        for target in s.targets:
            self.assign(target, value, memory)

    def stmt_AnnAssign(self, s):
        if s.value is None:
            return
        value = self.expr(s.value)
        self.assign(s.target, value, self._memory(s.value))

    def stmt_AugAssign(self, s):
        if isinstance(s.target, ast.Subscript):
            return self.assign_item(s.target, None, s)
        if not isinstance(s.target, ast.Name):
            self.fail(f"unsupported construct 'augmented assignment to {_target_kind(s.target)}': "
                      "gradc values are immutable (in-place updates would hide aliasing); "
                      "build a new array instead", UnsupportedSyntax, s)
        name = s.target.id
        current = self.lookup(name, s.target)
        rhs = self.expr(s.value)
        self.node = s
        if isinstance(current, (dict, set)) or isinstance(current, list) and \
                self.made_lists.get(id(current)) is not current:
            symbol = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.BitOr: "|", ast.BitAnd: "&",
                      ast.BitXor: "^"}.get(type(s.op), type(s.op).__name__)
            self.fail(f"unsupported construct '{symbol}= on the {type(current).__name__} "
                      f"{name!r}': Python changes it in place, and it was not made inside the function "
                      "(a module-level or default-argument container, or one gradc cannot trace): "
                      f"every later call would see the change; build a new one instead: "
                      f"`{name} = {name} + [...]`", UnsupportedSyntax, s)
        if isinstance(current, list):  # Python lists are updated in place: do exactly that
            if _traced_inside(rhs) and not isinstance(rhs, (list, tuple)) or isinstance(rhs, Value):
                self.fail(f"unsupported construct 'list {type(s.op).__name__} with an array'",
                          UnsupportedSyntax, s)
            inplace = {ast.Add: operator.iadd, ast.Mult: operator.imul}.get(type(s.op))
            if inplace is None:
                self.fail(f"unsupported operator '{type(s.op).__name__}=' on a list", UnsupportedSyntax, s)
            self.mutable(current, s, f"{name} {'+' if isinstance(s.op, ast.Add) else '*'}= ...")
            try:
                result = inplace(current, self.value(rhs))
            except TypeError as e:
                self.fail(f"{name} {type(s.op).__name__}= failed: {e}", SignatureError, s)
            self.env[name] = result
            return
        memory = self.prov.get(name, _UNKNOWN) if name in self.env else _UNKNOWN
        buffers = self._buffers(memory, current) if isinstance(current, (Value, np.ndarray)) else frozenset()
        if not buffers:  # a Python number, tuple or NumPy scalar: `x op= y` rebinds x
            new = self.binop(s.op, current, rhs, s)
            self.assign(s.target, new, _fresh(new))
            return
        self._check_in_place(name, buffers, s)
        new = self.binop(s.op, current, rhs, s)
        shape, dtype = tuple(self.shape(current)), self.dtype(current)
        if tuple(self.shape(new)) != shape:
            self.fail(f"in-place update of {name!r}: the result has shape {tuple(self.shape(new))}, "
                      f"but {name!r} has shape {shape} (NumPy: non-broadcastable output operand)",
                      ShapeError, s)
        if self.dtype(new) != dtype:
            if not np.can_cast(self.dtype(new), dtype, casting="same_kind"):
                self.fail(f"in-place update of {name!r}: NumPy cannot cast the {self.dtype(new)} result "
                          f"to {name!r}'s dtype {dtype} (casting rule 'same_kind')", ShapeError, s)
            new = self.bind("cast", new, dtype=dtype)
        self.env[name] = new  # the same memory, new contents
        self._remember(new, memory)

    def _check_in_place(self, name, buffers, node, instead=None, what=None):
        """`x += y` updates an array in place in NumPy. gradc computes `x = x + y`, which is
        the same only if nothing else can see x's memory: refuse where that is not certain."""
        self.in_place_updates += 1  # (a while loop on data asks whether its body made any)
        why = None
        current = self.env.get(name)
        module_array = any(b.kind == "constant" for b in buffers)  # (gradc holds its copy read-only)
        if any(b.kind == "readonly" for b in buffers) or isinstance(current, np.ndarray) \
                and not current.flags.writeable and not module_array:
            source = next((b.name for b in buffers if b.kind == "readonly"), "")
            self.fail(f"unsupported construct '{what or f'in-place update of {name!r}'}': it is a read-only "
                      f"array{f' (a view made by {source})' if source else ''}: NumPy raises ValueError "
                      f"(output array is read-only); make a copy first: `{name} = {name}.copy()`",
                      UnsupportedSyntax, node)
        for b in buffers:
            if b.kind == "argument":
                why = ("an argument (NumPy would modify the caller's array)" if b.name == name
                       else f"the argument {b.name!r} or a view of it (NumPy would modify the caller's "
                       "array)")
            elif b.kind == "constant":
                why = f"a module-level array{'' if b.name == name else f' ({b.name!r}) or a view of it'}"
            elif b.kind == "unknown":
                why = "memory gradc cannot trace (it may be shared with another array)"
            if why:
                break
        if why is None:
            for other, v in self.env.items():
                if other == name:
                    continue
                shared = self._buffers(self.prov.get(other, _UNKNOWN), v)
                if shared & buffers or any(b.kind == "unknown" for b in shared) and not _immutable(v):
                    why = (f"memory shared with {other!r} (a view, an alias, or a container holding it), "
                           "which NumPy's in-place update would change too")
                    break
        if why is None and any(self._buffers(m, v) & buffers for v, m in self.pending):
            why = ("also held by a value the same tuple assignment has still to assign (its right side "
                   "holds views, which this write changes first: in NumPy `Z[0], Z[1] = Z[1], Z[0]` "
                   "leaves both rows equal to the old Z[1])")
            instead = "copy the right side's views first, e.g. `Z[0], Z[1] = Z[1].copy(), Z[0].copy()`"
        if why is None and any(live & buffers or any(b.kind == "unknown" for b in live)
                               for live in self.live_rows):
            why = ("an array whose rows a loop is still iterating over (NumPy's rows are views: "
                   "the rows still to come would see the update)")
        if why is None and buffers & self.outer_buffers:
            why = "an array the calling function still holds (NumPy would modify the caller's array)"
        if why:
            instead = instead or f"write `{name} = {name} <op> ...` to make a new array"
            what = what or f"in-place update of {name!r}"
            self.fail(f"unsupported construct '{what}': it is {why}; {instead}", UnsupportedSyntax, node)

    def assign(self, target, value, memory=_UNKNOWN):
        """Bind target to value; `memory` is what the value's array may share (None: no
        mutable memory, e.g. a Python number or NumPy scalar)."""
        if isinstance(target, ast.Name):
            if isinstance(value, Value) and not isinstance(value, Const) and not value.name:
                value.name = target.id
            self.env[target.id] = value
            self.prov[target.id] = memory
            self._remember(value, memory)
        elif isinstance(target, (ast.Tuple, ast.List)):
            if any(isinstance(e, ast.Starred) for e in target.elts):
                return self.assign_starred(target, value, memory)
            items = self.unpack(value, len(target.elts), target)
            seq = seq_items(self, memory, value)
            if seq is not None and len(seq) == len(items):
                memories = list(seq)
            elif isinstance(value, Value):  # rows of an array are views; elements of a vector, scalars
                rows = self._buffers(memory, value)  # (memory not known here: what the value may share)
                memories = [rows if item.ndim else None for item in items]
            else:
                memories = [_UNKNOWN] * len(items)
            self.assign_in_order(list(zip(target.elts, items, memories)))
        elif isinstance(target, ast.Subscript):
            self.assign_item(target, value)
        else:
            self.fail(f"unsupported construct 'assignment to {_target_kind(target)}': gradc values "
                      "are immutable (item assignment would hide aliasing); build a new array with "
                      "np.where or arithmetic instead", UnsupportedSyntax, target)

    def assign_in_order(self, triples) -> None:
        """(target, value, memory) assigned left to right, as Python does, each write checked
        against the values still to be assigned (NumPy's right side is evaluated first, to
        views that a write into their array changes before they are assigned)."""
        outer = self.pending
        try:
            for k, (t, v, m) in enumerate(triples):
                self.pending = outer + [(v2, m2) for _, v2, m2 in triples[k + 1:]]
                self.assign(t, v, m)
        finally:
            self.pending = outer

    def assign_item(self, target, value, aug=None):
        """`z[index] = value` (or, with `aug` the AugAssign statement, `z[index] op= ...`):
        NumPy writes into z's memory; gradc makes z a new value (index_set / index_add /
        where) under z's name, which is the same only if nothing else can see z's memory
        (_check_in_place). The value is evaluated first, as in Python."""
        node = aug or target
        base = target.value
        if isinstance(base, ast.Name) and isinstance(self.env.get(base.id), (list, dict)):
            return self.container_setitem(target, value, aug)  # a list or dict made here (else refused)
        if not isinstance(base, ast.Name):
            self.fail("unsupported construct 'assignment to an item of an expression': assign through "
                      "one name and one subscript, e.g. `z[i, j] = v` (not `z[i][j] = v`, which writes "
                      "through the view z[i])", UnsupportedSyntax, target)
        name, current, memory, buffers = self._writable(base, target)
        index = self.expr(target.slice)
        rhs = self.expr(aug.value) if aug is not None else value
        self.node = node
        self._check_in_place(name, buffers, node, instead=(
            f"make a copy to write into first: `{name} = {name}.copy()`, or build the new array with "
            "np.where"), what=f"{'augmented ' if aug is not None else ''}assignment to an item or slice "
                              f"of {name!r}")
        z = Const(current) if isinstance(current, np.ndarray) else current
        if aug is None:
            new = numpy_indexing.setitem(self, z, index, rhs, name)
        else:
            new = numpy_indexing.aug_setitem(self, z, index, aug.op, rhs, name,
                                             lambda a, b: self.binop(aug.op, a, b, aug))
        self._rebind_updated(name, new, memory)

    def _writable(self, base, target):
        """(name, array, memory, buffers) of the local array `base` names, which an item
        update writes into; refused where NumPy's write could not be an array update."""
        name = base.id
        if name not in self.env:
            current = self.lookup(name, base)  # a NameError if it does not exist at all
            if self.owner_of(name) is not None:
                self.fail(f"unsupported construct 'assignment to an item of {name!r}': it is a variable of "
                          "the enclosing function (Python would change its array); return a new array "
                          "instead", UnsupportedSyntax, target)
            self.fail(f"unsupported construct 'assignment to an item of {name!r}': it is a module-level "
                      f"{'array' if isinstance(current, (Value, np.ndarray)) else 'value'} (NumPy would "
                      f"change it for every later call); make a local copy: `z = {name}.copy()`",
                      UnsupportedSyntax, target)
        current = self.env[name]
        if isinstance(current, (list, dict)):
            self.fail(f"unsupported construct 'item assignment to the {type(current).__name__} {name!r}': "
                      f"build a new {type(current).__name__} instead", UnsupportedSyntax, target)
        if not isinstance(current, (Value, np.ndarray)):
            self.fail(f"{name!r} is {_describe(current)}, which does not support item assignment",
                      UnsupportedSyntax, target)
        memory = self.prov.get(name, _UNKNOWN)
        buffers = self._buffers(memory, current)
        if not buffers:
            self.fail(f"{name!r} is a NumPy scalar (a 0-d result), which does not support item "
                      f"assignment (NumPy raises TypeError); rebind the name instead", UnsupportedSyntax,
                      target)
        return name, current, memory, buffers

    def _rebind_updated(self, name, new, memory):
        """`name` holds its updated array: the same memory, new contents."""
        if isinstance(new, Const):  # all known at compile time: z stays a compile-time array
            new = np.array(new.value)
        elif not new.name:
            new.name = name
        self.env[name] = new  # the same memory, new contents
        self._remember(new, memory)

    def _ufunc_at(self, call, s) -> bool:
        """`np.add.at(z, index, v)` (and np.subtract.at): an unbuffered update of a local
        array, repeated indices accumulating; False if the call is not a ufunc's .at."""
        ufunc = self.expr(call.func.value)
        if not isinstance(ufunc, np.ufunc):
            return False
        self.node = s
        if ufunc not in (np.add, np.subtract):
            self.fail(f"np.{ufunc.__name__}.at is not supported (np.add.at and np.subtract.at are); "
                      "write the update as `z[index] = ...` (or with np.where)", UnsupportedFunction, s)
        if call.keywords or len(call.args) != 3 or any(isinstance(a, ast.Starred) for a in call.args):
            self.fail(f"np.{ufunc.__name__}.at(a, indices, b) takes three positional arguments here",
                      SignatureError, s)
        base = call.args[0]
        if not isinstance(base, ast.Name):
            self.fail(f"np.{ufunc.__name__}.at: the array to update must be a local name",
                      UnsupportedSyntax, base)
        name, current, memory, buffers = self._writable(base, base)
        index, rhs = self.expr(call.args[1]), self.expr(call.args[2])
        self.node = s
        self._check_in_place(name, buffers, s, instead=(
            f"make a copy to add into first: `{name} = {name}.copy()`"),
            what=f"np.{ufunc.__name__}.at into {name!r}")
        z = Const(current) if isinstance(current, np.ndarray) else current
        new = numpy_indexing.add_at(self, z, index, rhs, name, negate=ufunc is np.subtract)
        self._rebind_updated(name, new, memory)
        return True

    def unpack(self, value, n, node):
        if isinstance(value, (tuple, list)):
            if len(value) != n:
                self.fail(f"cannot unpack {len(value)} values into {n} names", SignatureError, node)
            return list(value)
        if isinstance(value, Value) and value.ndim >= 1:
            if value.shape[0] != n:
                self.fail(f"cannot unpack an array of length {value.shape[0]} into {n} names",
                          SignatureError, node)
            return [self.bind("getitem", value, index=(i,)) for i in range(n)]
        if isinstance(value, np.ndarray) and value.ndim >= 1:  # a compile-time array: its rows
            if len(value) != n:
                self.fail(f"cannot unpack an array of length {len(value)} into {n} names", SignatureError, node)
            return list(value)
        if self.is_static(value) and not isinstance(value, (Const, np.ndarray)) and hasattr(value, "__iter__"):
            items = [item for item, _ in self.iterate(value, _UNKNOWN, node)]  # a generator, zip, dict, ...
            if len(items) != n:
                self.fail(f"cannot unpack {len(items)} values into {n} names", SignatureError, node)
            return items
        self.fail(f"cannot unpack {_describe(value)}", UnsupportedSyntax, node)

    MAX_WHILE_ITERATIONS = 10_000

    def stmt_While(self, s):
        """A while loop is unrolled while its condition is known at compile time; from the first
        iteration whose condition (or break flag) depends on data, the rest of the loop is one
        while region (frontend/while_loops.py), its trip count decided at run time."""
        n = 0
        while True:
            broken = self.env.get(getattr(s, "break_flag", None))
            if broken is True or broken is np.True_:
                break  # a break decided at compile time (the flags of without_jumps)
            if isinstance(broken, Value) and not isinstance(broken, Const):
                lower_while(self, s)  # a break on data: the remaining iterations are one region
                return
            saved = self._save_state()
            c = self.expr(s.test)
            if not self.is_static(c):
                self._restore_state(saved)
                lower_while(self, s)  # the remaining iterations: one while region (while_loops.py)
                return
            if not self.truth(c, s.test):
                break
            if n >= self.MAX_WHILE_ITERATIONS:
                self.fail(f"while loop: more than {self.MAX_WHILE_ITERATIONS:,} iterations at compile "
                          "time", DataDependentControlFlow, s)
            with self.step():
                self.block(s.body)
            n += 1
        self.block(s.orelse)

    def stmt_If(self, s):
        c = self.expr(s.test)
        if not self.is_static(c):
            self.lower_if(s, c)  # a cond region (frontend/branches.py)
            return
        self.block(s.body if self.truth(c, s.test) else s.orelse)

    def condition(self, node, what):
        c = self.expr(node)
        if not self.is_static(c):
            self.fail(f"unsupported construct 'data-dependent {what}': the condition depends on the "
                      "function's array arguments, which is not supported yet (a later version will); "
                      "use np.where(condition, a, b) to select values", DataDependentControlFlow, node)
        return self.truth(c, node)

    def truth(self, c, node):
        """Python's truth value of a compile-time object (never of a traced array)."""
        c = self.value(c)
        if isinstance(c, np.ndarray) and c.size != 1:
            self.fail(f"the truth value of an array with {c.size} elements is ambiguous",
                      UnsupportedSyntax, node)
        return bool(c)

    def stmt_For(self, s):
        # a loop with `else` is unrolled (a region has no `else` to run after it)
        region = not s.orelse
        call = s.iter
        if region and isinstance(call, ast.Call) and isinstance(call.func, ast.Name) \
                and call.func.id == "reversed" and len(call.args) == 1 and not call.keywords \
                and self.lookup("reversed", call.func) is builtins.reversed:
            inner = self.expr(call.args[0])
            if isinstance(inner, range) and self._loop_region(s, inner[::-1]):
                return  # `for t in reversed(range(...))`: a loop region over the reversed range
        it = self.expr(s.iter)
        if isinstance(it, Value) and not isinstance(it, Const) and it.ndim >= 1 and region \
                and self._loop_region(s, range(it.shape[0]), over=it):
            return  # `for x in xs` over an array's first axis: a loop region reading xs[k]
        if isinstance(it, Value) and it.ndim >= 1:
            # `for x in xs` the region cannot hold (0 or 1 rows, a weak-float carry, `else`), or
            # over a constant array (a module's): unrolled over the rows xs[k] (read as the loop
            # goes; xs cannot change meanwhile)
            memory = self._memory(s.iter)
            self._unrolled(s, self.iterate(it, memory, s.iter), it.shape[0], self._buffers(memory, it))
            return
        if not self.is_static(it) or isinstance(it, Const):
            self.fail("unsupported construct 'for loop over an array': loop over "
                      "range(len(x)) or range(x.shape[k]) and index instead",
                      DataDependentControlFlow, s.iter)
        if isinstance(it, np.ndarray) and it.ndim == 0:
            self.fail("iteration over a 0-d array (NumPy raises TypeError)", UnsupportedSyntax, s.iter)
        if isinstance(it, range) and region and self._loop_region(s, it):
            return  # the loop stays a loop: one region op (see _loop_region)
        total = len(it) if isinstance(it, (range, tuple, list)) else None
        rows = self.row_sources.get(id(it))
        self._unrolled(s, self.iterate(it, self._memory(s.iter), s.iter), total,
                       rows[1] if rows is not None and rows[0] is it else None)
        broken = self.env.get(getattr(s, "break_flag", None))
        if isinstance(broken, Value) and not isinstance(broken, Const) \
                and isinstance(it, collections.abc.Iterator) \
                and any(v is it or _holds_object(v, it) for v in self.env.values()):
            self.fail("unsupported construct 'a break on data in a loop over a named iterator': where "
                      "the iterator stands after the loop would depend on the data; iterate over a list "
                      "(list(...)) or a range", DataDependentControlFlow, s)

    def _unrolled(self, s, items, total, rows=None):
        """The loop body once per item, as Python runs it: `continue` and `break` decided at
        compile time, the `else` block when no `break` ended the loop. `rows`: the buffers of
        the arrays whose rows the items are (not updated in place while the loop runs)."""
        if rows is not None:
            self.live_rows.append(rows)
        try:
            self._unrolled_items(s, items, total)
        finally:
            if rows is not None:
                self.live_rows.pop()

    def _unrolled_items(self, s, items, total):
        each = None  # the fewest ops an iteration has made (loops are unrolled: a budget)
        flag = getattr(s, "break_flag", None)  # the break flag of without_jumps (frontend/branches.py)
        stops = _breaks(s.body) or flag is not None  # it may end early: no prediction from the total
        for k, (item, m) in enumerate(items):
            before = len(self.b.ops)
            try:
                with self.step():
                    self.assign(s.target, item, m)
                    self.block(s.body)
            except Continue:
                pass
            except Break:
                break
            finally:
                each = len(self.b.ops) - before if each is None else min(each, len(self.b.ops) - before)
            if flag is not None and self.env.get(flag) is True:
                break  # a break decided at compile time: the remaining iterations would do nothing
            if total is not None and k >= 1 and not stops:
                self.b.expect_iterations(each, total - k - 1, self.src.loc(s))
        else:
            self.block(s.orelse)

    # -- loop regions: `for i in range(T)` as one loop op -------------------------

    def _loop_region(self, s, rng: range, over: Value | None = None) -> bool:
        """Lower the loop as a region (compiler/regions.py) when its body allows it: the
        names it assigns that exist before the loop are carried, `X[i]` with X from
        outside reads the i-th row of a stacked input, and the index is used for nothing
        else. Anything else (the index as a Python int, a construct a region cannot hold,
        a carried value that changes shape or type) raises inside, and the loop is unrolled
        exactly as before: returns False with every binding restored."""
        if UNROLL_LOOPS.get() or len(rng) < 2 or not isinstance(s.target, ast.Name):
            return False
        stored = _stored_names(s.body)
        later = _loads_outside(self.src.tree, s, self.rewritten)
        if s.target.id in later:
            return False
        bound = [n for n in stored if n in self.env and self.env[n] is not UNBOUND]
        carried = [n for n in bound if n != s.target.id]
        # names first bound in the body and read after it: carried from zeros (never read)
        late = [n for n in stored if n not in bound and n in later and n != s.target.id]
        saved = self._save_state()
        s, rows = _appends_as_rows(s, self.env)
        try:
            done = self._lower_region(s, rng, carried, late, over, saved, rows)
        except Exception as e:  # noqa: BLE001 - any failure means: unroll as before
            if os.environ.get("GRADC_DEBUG_LOOPS"):
                import traceback
                traceback.print_exception(e)
            done = False
        if not done:
            self._restore_state(saved)
        return done

    def _save_state(self):
        return (self.b, self.node, self.b.loc, dict(self.env), dict(self.prov), dict(self.value_buffers),
                dict(self.static_buffers), dict(self._memories), dict(self._explicit), self.return_memory,
                self._call_memory, self._call_result_memory, len(self.list_journal))

    def _restore_state(self, saved):
        (self.b, self.node, self.b.loc, self.env, self.prov, self.value_buffers, self.static_buffers,
         self._memories, self._explicit, self.return_memory, self._call_memory,
         self._call_result_memory, journal) = saved
        while len(self.list_journal) > journal:  # rows a loop region added since: taken out again
            rows_of, length = self.list_journal.pop()
            del rows_of[length:]

    def _lower_region(self, s, rng: range, carried: list[str], late: list[str], over, saved,
                      rows=()) -> bool:
        """`rows`: (list name, name of the value appended per iteration): its rows are the
        loop's stacked results, appended to the list after the loop."""
        from .. import regions

        trees, inits = [], []
        for n in carried:
            tree = _flatten(self.env[n], inits)
            if tree is None:
                return False
            trees.append(tree)
        if late:  # a first pass tells the avals of the names the body binds
            built = self._region_body(s, rng, carried, trees, [v.aval for v in inits], over, inits, rows)
            if built is None:
                return False
            found = []
            for n in late:
                leaves = []
                tree = _flatten(self.env.get(n), leaves)
                if tree is None or any(isinstance(v, Const) or v.pytype is not None or v in self.python_ints
                                       or v in self.mixed_floats for v in leaves):
                    return False  # (a Python number carried from a NumPy zero would turn strong)
                trees.append(tree)
                found += leaves
            self._restore_state(saved)
            saved = self._save_state()
            for v in found:
                zero = Const(np.zeros((), v.dtype))
                inits.append(zero if not v.shape else self.b.bind("broadcast_to", zero, shape=v.shape))
            carried = carried + late
        avals = [v.aval for v in inits]
        for attempt in range(2):
            built = self._region_body(s, rng, carried, trees, avals, over, inits, rows)
            if built is None:
                return False
            ctx, outs, appended = built
            out_avals = [v.aval for v in outs]
            if out_avals == avals:
                break
            # a Python number carried into arrays of one dtype: carry that dtype (same shape only)
            if attempt or any(o != a and not (isinstance(v, Const) and v.weak and o.shape == a.shape)
                              for v, a, o in zip(inits, avals, out_avals)):
                return False
            avals = out_avals
        else:
            return False
        # Python numbers carried (NEP 50: weak): a Python int carried as an int is unbounded in
        # Python (the region's int64 would wrap), and a Python float still weak after the body
        # (Python arithmetic on Python floats) must stay weak after the loop: unroll both
        py = [_weak_scalar(v) for v in inits]
        if any(p and a.dtype.kind in "iub" for p, a in zip(py, avals)):
            return False
        if any(p and (_weak_scalar(o) or (isinstance(o, Value) and o.pytype is not None))
               for p, o in zip(py, outs)):
            return False
        weak = any(py)
        ops = ctx.builder.ops
        inside = set(ctx.inputs()) | {op.out for op in ops}
        local = set(carried) | set(_stored_names(s.body)) | {s.target.id}
        if any(_holds(v, inside) for n, v in self.env.items() if n not in local):
            return False  # a value made in the body escaped it some other way: unroll
        if any(ctx.index in op.inputs for op in ops) or ctx.index in outs:
            return False  # the index is used as a number: unroll (it is then a Python int)
        if weak and any(op.out.dtype.kind == "f" and op.out.dtype.itemsize != 8 for op in ops):
            return False  # a Python number's weak type would decide dtypes: unroll
        xs = list(ctx.xs.values())
        inputs = [ctx.index] + ctx.carry_inputs + [b for _, _, b in xs]
        # Loop-invariant code motion: ops reading only values from outside the loop run
        # once, before it (as the unrolled program's CSE would have merged them).
        hoisted, kept = regions.split_invariant(ops, inputs)
        for op in hoisted:
            op.sweep, op.step = self.b.sweep, self.b.step
            self.b.add_op(op)
        loc = self.src.loc(s)
        body, invariants = regions.close_body("loop body", inputs, kept, outs + appended, loc)
        body = optimize(body)
        self.b.loc = loc
        outer_xs = []
        for obj, index, _ in xs:
            outer_xs.append(obj if index is None else self.b.bind("getitem", obj, index=(index,)))
        starts = [self.b.bind("cast", v, dtype=a.dtype) if isinstance(v, Const) and v.aval != a
                  else v for v, a in zip(inits, avals)]
        results = regions.emit_loop(self.b, body, len(rng), starts, outer_xs, invariants,
                                    index_name=s.target.id if over is None else "k")
        for v, b in zip(results, ctx.carry_inputs):
            v.name = b.name
        # after the loop: carried names hold the results; names local to the body are gone
        stored = _stored_names(s.body) | {s.target.id}
        k = 0
        for n, tree in zip(carried, trees):
            self.env[n], k = _unflatten(tree, results, k)
            self.prov[n] = None if n in ctx.scalars or n in ctx.scalar_ends else _UNKNOWN
        for n in stored - set(carried):
            self.env.pop(n, None)
            self.prov.pop(n, None)
        # what the results' arrays may share: a result the body makes afresh each iteration
        # (and a stack of rows) is a new array of its own; the others stay untraced
        for v in results:
            if v.ndim and regions.is_fresh(v):
                self._remember(v, frozenset({_Buffer("fresh", v.name or "")}))
        for (name, _), stacked in zip(rows, results[len(outs):]):
            # the appended rows, as views of the stack. In NumPy the list holds the very arrays
            # appended (the last one may be a carried array, or a view of an input): their
            # memory is left untraced, so an in-place update anything may share is refused
            stacked.name = name
            views = [self.b.bind("getitem", stacked, index=(k,)) for k in range(len(rng))]
            rows_of = self.env[name]  # the list object itself (a caller, a helper's argument, sees them)
            self.list_journal.append((rows_of, len(rows_of)))  # (undone if an outer region gives up)
            rows_of.extend(views)
            self.prov[name] = _UNKNOWN
        return True

    def _region_body(self, s, rng, carried, trees, avals, over, inits=None, rows=()):
        """Lower the body once with carried values as fresh inputs; (region, output leaves,
        the values `rows` names hold at the end of the body: what it appends)."""
        index = Value(Aval((), np.dtype(np.int64)), s.target.id if over is None else "k")
        body_builder = Builder(rewrite=rewrite)
        body_builder.loc = self.b.loc
        ctx = _Region(index, list(rng), body_builder, getattr(self.b, "region", None))
        body_builder.region = ctx
        names = [f"{value_name(n)}{k}" if len(_leaves(t)) > 1 else value_name(n) for n, t in zip(carried, trees)
                 for k in range(len(_leaves(t)))]
        ctx.carry_inputs = [Value(a, nm) for a, nm in zip(avals, names)]
        if inits is not None:  # a Python float carried in is weak in the body (NEP 50)
            for b, v in zip(ctx.carry_inputs, inits):
                if _weak_scalar(v) and b.aval == Aval((), np.dtype(np.float64)):
                    b.pytype = float
        outer = self.b
        self.b = body_builder
        try:
            with body_builder:
                if over is None:
                    self.env[s.target.id] = _LoopIndex(ctx)
                    self.prov[s.target.id] = None
                else:
                    self.assign(s.target, ctx.slice_of(over, ()))
                k = 0
                scalars = set()  # names holding immutable scalars (`loss += ...` rebinds them)
                for n, tree in zip(carried, trees):
                    self.env[n], k = _unflatten(tree, ctx.carry_inputs, k)
                    if tree == "leaf" and self.env[n].ndim == 0 and n in self.prov and self.prov[n] is None:
                        scalars.add(n)
                    self.prov[n] = None if n in scalars else _UNKNOWN
                self.block(s.body)
                outs = []
                for n, tree in zip(carried, trees):
                    leaves = []
                    if _flatten(self.env.get(n), leaves) != tree:
                        return None
                    if n in scalars and self.prov.get(n, _UNKNOWN) is not None:
                        return None  # a 0-d array that may share memory: unroll
                    outs += leaves
                ctx.scalars = scalars
                # names each iteration leaves holding a NumPy scalar (`s = s + w[i]` of a 0-d array
                # s): so does the loop, which runs at least once
                ctx.scalar_ends = {n for n, tree in zip(carried, trees) if tree == "leaf"
                                   and self.env[n].ndim == 0 and self.prov.get(n, _UNKNOWN) is None}
                appended = [self.env.get(row) for _, row in rows]
                if any(not isinstance(v, Value) or isinstance(v, Const) or v.pytype is not None or not v.ndim
                       for v in appended):
                    return None  # a number or a constant appended: unroll
        finally:
            self.b = outer
        return ctx, outs, appended

    def _region_slice(self, obj, idx):
        """`X[i, ...]` with i a loop region's index: the row the iteration reads, or None."""
        if not idx or not isinstance(idx[0], _LoopIndex):
            return None
        ctx = idx[0].region
        rest = idx[1:]
        if rest and isinstance(rest[0], _LoopIndex):  # X[i, j]: X[i] then [j] (two regions' rows)
            row = self._region_slice(obj, idx[:1])
            inner = self._region_slice(row, rest)
            if inner is None:
                raise DataDependentControlFlow("unsupported index with loop indices")
            return inner
        if not all(self.is_static(i) for i in rest) or _traced_inside(rest):
            return None
        if isinstance(obj, np.ndarray) and obj.dtype.kind in "fiub":
            obj = Const(obj)
        if not isinstance(obj, Value) or obj.ndim < 1 or self._inside_region(obj, ctx):
            raise DataDependentControlFlow("a loop index reads rows of an array from outside the loop only")
        row = ctx.slice_of(obj, (), idx[0])
        return self.bind("getitem", row, index=tuple(_unwrap(rest))) if rest else row

    def _inside_region(self, v, ctx) -> bool:
        """Whether v is made inside the body of region ctx (or of a region nested in it)."""
        if isinstance(v, Const):
            return False
        b = self.b  # the branches (of ifs on data) being lowered inside the region's body
        while b is not None and b is not ctx.builder:
            if v.producer is not None and v.producer in b.ops:
                return True
            b = getattr(b, "enclosing", None)
        level = getattr(self.b, "region", None)
        while level is not None:
            if v in level.inputs() or (v.producer is not None and v.producer in level.builder.ops):
                return True
            if level is ctx:
                return False
            level = level.parent
        return False

    @contextlib.contextmanager
    def step(self):
        """Tag the ops made inside as one checkpointing step (the outermost loop or call wins)."""
        if self.b.step is not None:
            yield
            return
        self.b.step_count += 1
        self.b.step = self.b.step_count
        try:
            yield
        finally:
            self.b.step = None

    def stmt_Expr(self, s):
        """An expression evaluated for its effects (`xs.append(h)`, a helper that appends),
        its value dropped as Python drops it; `print(...)` is dropped with a warning."""
        if numpy_indexing.is_ufunc_at(s.value) and self._ufunc_at(s.value, s):
            return
        if self._dropped_print(s):
            return
        self.expr(s.value)

    def stmt_Assert(self, s):
        if not self.condition(s.test, "assert"):
            self.fail("assertion fails for these argument shapes", SignatureError, s)

    def stmt_Raise(self, s):
        self.fail("the function raises an exception here for these argument shapes",
                  SignatureError, s)

    # -- expressions ------------------------------------------------------

    def expr(self, node):
        saved = self.node
        self.node = node
        method = getattr(self, f"expr_{type(node).__name__}", None)
        if method is None:
            self.unsupported(node)
        try:
            result = method(node)
        except CompileError as e:  # a traced value refused a Python protocol: point at this node
            if e.loc is not None:
                raise
            raise type(e)(e.message, self.src.loc(node), hint=e.hint) from None
        if isinstance(result, np.ndarray) and type(result) is not np.ndarray:
            self._no_subclass(result, node, "this value")
        if isinstance(result, list) and isinstance(node, (ast.List, ast.BinOp, ast.ListComp)):
            self.made(result)  # a new list
        memory = self._explicit.pop(id(node), _DEFAULT)
        if memory is _DEFAULT:
            memory = self._default_memory(node, result)
        self._memories[id(node)] = memory
        self._remember(result, memory)
        self.node = saved
        return result

    # -- memory: which names may share an array (NumPy's aliasing, for `x += y`) ------

    def _memory(self, node):
        return self._memories.get(id(node), _UNKNOWN)

    def _set_memory(self, node, memory):
        self._explicit[id(node)] = memory

    def _default_memory(self, node, result):
        if isinstance(node, ast.Name):
            if node.id in self.env:
                return self.prov.get(node.id, _UNKNOWN)
            owner = self.owner_of(node.id)
            if owner is not None:  # a free variable of a nested function or comprehension
                return owner.prov.get(node.id, _UNKNOWN)
            if isinstance(result, Const) and isinstance(self.scope.get(node.id), np.ndarray):
                return frozenset({_Buffer("constant", node.id)})  # a module-level array, 0-d ones too
            return _UNKNOWN  # other module-level names: resolve by value
        if isinstance(node, ast.Constant):
            return None
        if isinstance(node, (ast.Tuple, ast.List)):
            return _Seq(tuple(self._memory(e) for e in node.elts))
        if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Compare)):
            return _fresh(result)
        return _UNKNOWN

    def _remember(self, value, memory):
        """Record which buffers a value may be (the fallback for containers built by calls).
        Unknown memory records nothing: an unrecorded value counts as possibly shared."""
        if memory is None:
            memory = frozenset()
        if not isinstance(memory, frozenset):
            return
        if isinstance(value, Value) and not isinstance(value, Const):
            self.value_buffers[value] = self.value_buffers.get(value, frozenset()) | memory
        elif isinstance(value, np.ndarray):
            old = self.static_buffers.get(id(value), (value, frozenset()))[1]
            self.static_buffers[id(value)] = (value, old | memory)

    def _buffers(self, memory, value, depth=0):
        """The buffers `value` (reached through `memory`) may share."""
        if memory is None:
            return frozenset()
        if isinstance(memory, frozenset):
            return memory
        seq = seq_items(self, memory, value)
        if seq is not None:
            out = frozenset()
            for m, v in zip(seq, value):
                out |= self._buffers(m, v, depth + 1)
            return out
        return self._value_buffers(value, depth)

    def _value_buffers(self, value, depth=0):
        if depth > 50:
            return _UNTRACED
        if isinstance(value, Const):
            return frozenset({_Buffer("constant", value.name)}) if value.name and not value.is_scalar \
                else frozenset()
        if isinstance(value, Value):
            return self.value_buffers.get(value, _UNTRACED)
        if isinstance(value, np.ndarray):
            known = self.static_buffers.get(id(value))
            return known[1] if known is not None and known[0] is value else _UNTRACED
        if isinstance(value, (list, tuple, set, frozenset)):
            out = frozenset()
            for v in value:
                out |= self._value_buffers(v, depth + 1)
            return out
        if isinstance(value, dict):
            return self._value_buffers(list(value.values()), depth + 1)
        if isinstance(value, (Closure, Partial, ContainerMethod)):
            return self._value_buffers(held(value), depth + 1)
        if isinstance(value, (collections.abc.KeysView, collections.abc.ValuesView, collections.abc.ItemsView)):
            return self._value_buffers(list(value), depth + 1)
        if isinstance(value, collections.abc.Iterator):
            return _UNTRACED  # a live iterator (zip, a generator, ...): what it will give is unknown
        return frozenset()

    def _all_buffers(self):
        out = frozenset()
        for k, v in self.env.items():
            out |= self._buffers(self.prov.get(k, _UNKNOWN), v)
        return out

    def expr_Constant(self, node):
        if isinstance(node.value, complex):
            self.fail("complex numbers are not supported", UnsupportedSyntax, node)
        return node.value

    def expr_Name(self, node):
        return self.lookup(node.id, node)

    def _no_subclass(self, obj, node, what):
        """ndarray subclasses (np.matrix, masked arrays, memmaps, record arrays, user classes)
        have their own operators and functions: gradc compiles plain-ndarray semantics only."""
        if type(obj) is not np.ndarray:
            self.fail(f"{what} is a {type(obj).__module__}.{type(obj).__qualname__}, a subclass of ndarray "
                      "whose operators and functions differ from a plain array's (gradc compiles "
                      "NumPy's ndarray semantics); use np.asarray(...) of it", UnsupportedFunction, node)

    def lookup(self, name, node):
        if name in self.env:
            if self.env[name] is UNBOUND:  # (bound_on_every_exit proves no read reaches one)
                self.fail(f"local variable {name!r} is read before it is assigned on some paths "
                          "(Python raises UnboundLocalError there)", NameResolutionError, node)
            return self.env[name]
        if name not in getattr(self, "local_names", ()) and self.enclosing is not None:
            return self.enclosing.lookup(name, node)  # a free variable: its value now, as Python reads it
        if name in getattr(self, "local_names", ()):
            self.fail(f"local variable {name!r} is read before it is assigned (Python raises "
                      f"UnboundLocalError: {name!r} is assigned somewhere in {self.src.name}, so it is "
                      "local in all of it, and a module-level value of the same name is not used)",
                      NameResolutionError, node)
        cells, globs = getattr(self, "cells", {}), self.module_globals
        if name in cells:
            try:
                cells[name].cell_contents
            except ValueError:  # Python raises NameError, whatever the module has of that name
                self.fail(f"free variable {name!r} is read before the enclosing function assigns it "
                          "(Python raises NameError)", NameResolutionError, node)
        if name in self.scope:
            obj = self.scope[name]
            if name in cells:  # a closure variable (`nonlocal` in the enclosing function rebinds it)
                self.referenced[("cell", id(cells[name]))] = captured.Read(captured.CellSlot(cells[name], name), obj)
            elif globs is not None and name in globs:
                self.referenced[(id(globs), name)] = captured.Read(captured.GlobalSlot(globs, name), obj)
            if isinstance(obj, np.ndarray):
                return self.captured_array(name, obj, node)
            if dask_backend.is_dask(obj):  # data is an argument: a constant would be computed
                self.fail(f"{name!r} is a Dask array read from outside the function (a global or closure "
                          "variable), which gradc does not capture: pass it as an argument",
                          UnsupportedFunction, node)
            return obj
        if name in SAFE_BUILTINS:
            if globs is not None:  # a module-level `sum = ...` defined later must not be missed
                self.referenced[(id(globs), name)] = captured.Read(captured.GlobalSlot(globs, name),
                                                                   captured.MISSING)
            return getattr(builtins, name)
        if hasattr(builtins, name):
            self.fail(f"builtin {name}() is not supported in compiled functions", UnsupportedFunction, node)
        self.fail(f"name {name!r} is not defined (gradc resolves arguments, local variables and "
                  "module-level constants and functions)", NameResolutionError, node)

    def captured_array(self, name, obj, node):
        """A module-level array as a named constant: a read-only snapshot per compilation."""
        self._no_subclass(obj, node, f"module-level array {name!r}")
        if obj.dtype.kind not in "fiub":
            self.fail(f"module-level array {name!r} has unsupported dtype {obj.dtype}",
                      UnsupportedFunction, node)
        key = (id(obj), name)
        if key not in self.named_consts:
            # a snapshot: what the program computes with cannot change under it later
            snapshot = obj.copy()
            snapshot.flags.writeable = False
            self.named_consts[key] = Const(snapshot, name)
        return self.named_consts[key]

    def expr_Tuple(self, node):
        return tuple(self.display_items(node))

    def expr_List(self, node):
        return self.display_items(node)

    def expr_Slice(self, node):
        parts = [None if p is None else self.static(self.expr(p), "slice bound")
                 for p in (node.lower, node.upper, node.step)]
        return slice(*parts)

    def _check_scalar_attribute(self, obj, attr, node):
        """A Python float or int has none of an array's attributes, and a NumPy scalar lacks
        some (.dot): Python raises AttributeError where an array would have them."""
        if isinstance(obj, Const):
            return
        if _weak_float(obj) or obj in self.python_ints:
            kind = "float" if _weak_float(obj) else "int"
            if not hasattr(kind == "float" and 0.5 or 1, attr):
                self.fail(f"'.{attr}' of a Python {kind}: Python raises AttributeError ({kind} has no "
                          f"attribute '{attr}'); convert it first (np.float64(...) or np.asarray(...))",
                          UnsupportedSyntax, node)
        elif obj.ndim == 0 and not self._buffers(self._memory(node.value), obj) \
                and not hasattr(np.float64(0), attr):
            self.fail(f"'.{attr}' of a NumPy scalar: NumPy raises AttributeError ({obj.dtype} scalars "
                      f"have no '{attr}'; 0-d arrays do): use np.{attr}(...) or np.asarray(...) first",
                      UnsupportedSyntax, node)

    def expr_Attribute(self, node):
        obj = self.expr(node.value)
        attr = node.attr
        if isinstance(obj, Value):
            self._check_scalar_attribute(obj, attr, node)
            if attr == "T":
                self._set_memory(node, self._view_of(node.value, obj))
                return self.bind("transpose", obj, axes=None)
            if attr in ("shape", "ndim", "size", "dtype"):
                self._set_memory(node, None)
                return {"shape": obj.shape, "ndim": obj.ndim, "size": obj.aval.size,
                        "dtype": obj.dtype}[attr]
            if attr in numpy_table.METHODS:
                self._set_memory(node, None)
                return _Method(obj, attr, self._memory(node.value))
            self.fail(f"array attribute or method '.{attr}' is not supported", UnsupportedFunction, node)
        if isinstance(obj, (list, dict)):
            return self.container_attribute(obj, attr, node)
        if isinstance(obj, types.ModuleType) or isinstance(obj, (np.ndarray, np.generic, int, float, tuple, str)):
            try:
                result = getattr(obj, attr)
            except AttributeError:
                owner = obj.__name__ if isinstance(obj, types.ModuleType) else _describe(obj)
                self.fail(f"{owner} has no attribute {attr!r}", NameResolutionError, node)
            if isinstance(obj, types.ModuleType) and isinstance(result, np.ndarray):
                self._set_memory(node, frozenset({_Buffer("constant", attr)}))  # another module's array
            elif isinstance(obj, np.ndarray) and isinstance(result, np.ndarray):
                self._set_memory(node, self._view_of(node.value, obj))  # .T, .real: views
            return result
        self.fail(f"attribute access on {_describe(obj)} is not supported", UnsupportedSyntax, node)

    def _view_of(self, node, obj):
        """The memory of a view of the array `obj` (the value of `node`)."""
        return self._buffers(self._memory(node), obj)

    def expr_Subscript(self, node):
        obj = self.expr(node.value)
        index = self.expr(node.slice)
        if getattr(self.b, "region", None) is not None:
            row = self._region_slice(obj, index if isinstance(index, tuple) else (index,))
            if row is not None:
                self._set_memory(node, _UNKNOWN)
                return row
        if isinstance(obj, np.ndarray) and _traced_inside(index):
            obj = Const(obj)  # a compile-time array indexed by traced positions: a gather
        if isinstance(obj, Value):
            try:
                result, kind = numpy_indexing.subscript(self, obj, index)
            except CompileError as e:
                if e.loc is not None:
                    raise
                raise type(e)(e.message, self.src.loc(node.slice), hint=e.hint) from None
            if kind == "view":
                idx = index if isinstance(index, tuple) else (index,)
                scalar = all(isinstance(i, (int, np.integer)) or (isinstance(i, Const) and i.is_scalar)
                             for i in idx) and result.ndim == 0
                # a view of an array shares its memory; s[None] and s[...] of a NumPy scalar are
                # new arrays (NumPy makes one holding the scalar's value)
                self._set_memory(node, None if scalar else
                                 self._view_of(node.value, obj) or _fresh(result, array=True))
            else:
                self._set_memory(node, _fresh(result))  # advanced indexing copies
            return result
        if _traced_inside(index):
            self.fail(f"indexing {_describe(obj)} with an array computed from the arguments is not "
                      "supported; make it an array (np.array(...)) to gather from it",
                      UnsupportedSyntax, node.slice)
        index = _unwrap(index)
        try:
            result = obj[index]
        except (TypeError, IndexError, KeyError) as e:
            self.fail(f"cannot index {_describe(obj)}: {e}", UnsupportedSyntax, node)
        if isinstance(obj, list) and isinstance(index, slice):
            self.made(result)  # a new list
        memory = self._memory(node.value)
        if isinstance(obj, np.ndarray):
            if isinstance(result, np.ndarray):
                self._set_memory(node, self._view_of(node.value, obj) if np.may_share_memory(result, obj)
                                 else _fresh(result))
            else:
                self._set_memory(node, None)
        elif isinstance(obj, (list, tuple)) and seq_items(self, memory, obj) is not None:
            items = seq_items(self, memory, obj)
            if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
                self._set_memory(node, items[index])
            elif isinstance(index, slice):
                self._set_memory(node, _Seq(items[index]))
        return result

    def expr_BinOp(self, node):
        left = self.expr(node.left)
        right = self.expr(node.right)
        return self.binop(node.op, left, right, node)

    def binop(self, op, left, right, node):
        prim, pyop = BINOPS.get(type(op), (None, None))
        if pyop is None:
            self.fail(f"unsupported operator '{type(op).__name__}'", UnsupportedSyntax, node)
        if self.is_static(left) and self.is_static(right) and not (
                isinstance(left, Const) or isinstance(right, Const)):
            if isinstance(op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > 1e4 \
                    and isinstance(left, int):
                self.fail("exponent too large to fold at compile time", UnsupportedSyntax, node)
            if not isinstance(op, (ast.Add, ast.Mult)) and (_traced_inside(left) or _traced_inside(right)):
                self.fail(f"operator '{type(op).__name__}' on a container holding arrays computed from "
                          "the arguments is not supported", UnsupportedSyntax, node)
            if (_traced_inside(left) or _traced_inside(right)) and not (
                    isinstance(left, (list, tuple)) and isinstance(right, (list, tuple, int))
                    or isinstance(right, (list, tuple)) and isinstance(left, int)):
                self.fail(f"operator '{type(op).__name__}' on a container holding arrays computed from "
                          "the arguments is not supported", UnsupportedSyntax, node)
            try:
                return pyop(left, right)
            except (TypeError, ValueError, ZeroDivisionError, OverflowError) as e:
                self.fail(f"{type(op).__name__} failed at compile time: {type(e).__name__}: {e}",
                          SignatureError, node)
        if prim is None:
            self.fail(f"operator '{type(op).__name__}' is not differentiable and not supported on arrays",
                      UnsupportedSyntax, node)
        self.node = node
        if prim in _LOGICAL:
            prim = self._bitwise_prim(prim, (left, right), node)
        return self.bind(prim, left, right)

    def _bitwise_prim(self, prim, operands, node):
        """NumPy's & | ^ ~: the logical operation when every operand is boolean, the bitwise
        one when they are integers (or booleans with integers), a TypeError on floats."""
        kinds = [np.dtype(self.dtype(a)).kind for a in operands]
        if any(k not in "biu" for k in kinds):
            symbol = {"bitwise_and": "&", "bitwise_or": "|", "bitwise_xor": "^", "invert": "~"}[prim]
            self.fail(f"operator {symbol!r} on {' and '.join(str(self.dtype(a)) for a in operands)} "
                      f"operands: NumPy's {symbol} is bitwise (np.{prim}) on integers "
                      "and logical on booleans, and raises TypeError on floats; compare first "
                      "(e.g. (x > 0) & (y > 0)) or use np.logical_and / np.logical_or",
                      UnsupportedSyntax, node)
        return _LOGICAL[prim] if all(k == "b" for k in kinds) else prim

    def expr_UnaryOp(self, node):
        x = self.expr(node.operand)
        if isinstance(node.op, ast.UAdd):
            return x  # NumPy's +x is a new array with x's values (the memory is fresh)
        if isinstance(node.op, ast.Not):
            if not self.is_static(x):  # Python's `not`: the negated truth value, a bool
                return self.bind("logical_not", self.predicate(x, node))
            return not self.truth(x, node)
        if self.is_static(x) and not isinstance(x, Const):
            if _traced_inside(x):
                self.fail(f"unary '{type(node.op).__name__}' on a container holding arrays",
                          UnsupportedSyntax, node)
            return {ast.USub: operator.neg, ast.Invert: operator.invert}[type(node.op)](x)
        if isinstance(node.op, ast.USub):
            return self.bind("neg", x)
        if isinstance(node.op, ast.Invert):
            return self.bind(self._bitwise_prim("invert", (x,), node), x)
        self.fail(f"unsupported unary operator '{type(node.op).__name__}' on an array",
                  UnsupportedSyntax, node)

    def expr_Compare(self, node):
        if len(node.ops) != 1:  # a < b < c is (a < b) and (b < c), b evaluated once, c only if needed
            left = self.expr(node.left)
            for k, (op, comparator) in enumerate(zip(node.ops, node.comparators)):
                right = self.expr(comparator)
                result = self.compare(op, left, right, node)
                if not self.is_static(result) and k + 1 < len(node.ops):
                    # traced: `result and (right <rest of the chain>)`, the rest evaluated only
                    # where result is true (a cond region; arrays of several elements are refused,
                    # as NumPy refuses their truth value)
                    names = [f"<comparison {node.lineno}:{node.col_offset}:{k}>",
                             f"<operand {node.lineno}:{node.col_offset}:{k}>"]
                    first, middle = (ast.copy_location(ast.Name(id=n, ctx=ast.Load()), node) for n in names)
                    rest = ast.copy_location(ast.Compare(left=middle, ops=node.ops[k + 1:],
                                                         comparators=node.comparators[k + 1:]), node)
                    both = ast.copy_location(ast.BoolOp(op=ast.And(), values=[first, rest]), node)
                    both.gradc_what = "a chained comparison"
                    with self._hidden(dict(zip(names, (result, right)))):
                        return self.expr(both)
                if not self.is_static(result):
                    return result
                if isinstance(result, Const) or _traced_inside(result):
                    self.fail("chained comparisons of arrays are not supported (Python asks for the truth "
                              "value of each comparison); combine with &: (a < x) & (x < b)",
                              UnsupportedSyntax, node)
                if not self.static_truth(result, node):
                    return result
                left = right
            return result
        left, right = self.expr(node.left), self.expr(node.comparators[0])
        return self.compare(node.ops[0], left, right, node)

    def compare(self, op, left, right, node):
        """One comparison `left op right`: Python's on compile-time values, NumPy's on arrays."""
        if isinstance(op, (ast.Is, ast.IsNot, ast.In, ast.NotIn)):
            if isinstance(right, collections.abc.Iterator):
                self.consumable(right, node)  # `x in it` consumes it
            keys = isinstance(op, (ast.In, ast.NotIn)) and isinstance(
                right, (dict, set, frozenset, collections.abc.KeysView))  # tests keys, which are static
            if self.is_static(left) and self.is_static(right) and not (
                    isinstance(op, (ast.In, ast.NotIn)) and (_traced_inside(left) or (
                        _traced_inside(right) and not keys) or keys and isinstance(left, Const))):
                try:
                    return _MEMBERSHIP[type(op)](left, right)
                except TypeError as e:
                    self.fail(f"'{type(op).__name__}' failed at compile time: {e}", SignatureError, node)
            self.fail(f"'{type(op).__name__}' on arrays is not supported", UnsupportedSyntax, node)
        prim, pyop = COMPARES[type(op)]
        if self.is_static(left) and self.is_static(right) and not (
                isinstance(left, Const) or isinstance(right, Const)):
            if _traced_inside(left) or _traced_inside(right):
                self.fail("comparing containers that hold arrays computed from the arguments needs "
                          "their truth values; compare the arrays themselves", UnsupportedSyntax, node)
            return pyop(left, right)
        self.node = node
        return self.bind(prim, left, right)

    @contextlib.contextmanager
    def _hidden(self, values: dict):
        """Bind values to names no user code can spell, for the duration of a rewrite."""
        for n, v in values.items():
            self.env[n] = v
            self.prov[n] = _UNKNOWN
        try:
            yield
        finally:
            for n in values:
                self.env.pop(n, None)
                self.prov.pop(n, None)

    def expr_BoolOp(self, node):
        op = "and" if isinstance(node.op, ast.And) else "or"
        for i, v in enumerate(node.values):
            x = self.expr(v)
            if i == len(node.values) - 1:  # the last operand is returned as it is, never tested
                self._set_memory(node, self._memory(v))
                return x
            if not self.is_static(x):
                # Python's `x and rest` is `rest if x else x` (x evaluated once): a cond region
                # on x's truth value (an array of several elements is refused, as by NumPy)
                rest = node.values[i + 1:]
                rest = rest[0] if len(rest) == 1 else ast.copy_location(ast.BoolOp(op=node.op, values=rest), node)
                name = f"<{op} {node.lineno}:{node.col_offset}:{i}>"
                test = ast.copy_location(ast.Name(id=name, ctx=ast.Load()), node)
                body, orelse = (rest, test) if op == "and" else (test, rest)
                ifexp = ast.copy_location(ast.IfExp(test=test, body=body, orelse=orelse), node)
                ifexp.gradc_what = f"'{op}'" if not getattr(node, "gradc_what", "") else node.gradc_what
                with self._hidden({name: x}):
                    return self.expr(ifexp)
            truth = self.truth(x, v)
            if (op == "and" and not truth) or (op == "or" and truth):
                self._set_memory(node, self._memory(v))
                return x

    def expr_IfExp(self, node):
        c = self.expr(node.test)
        if not self.is_static(c):
            return self.lower_ifexp(node, c)  # a cond region (frontend/branches.py)
        branch = node.body if self.truth(c, node.test) else node.orelse
        result = self.expr(branch)
        self._set_memory(node, self._memory(branch))
        return result

    def expr_Call(self, node):
        fn = self.expr(node.func)
        args, kwargs, pos_memory, kw_memory = self.call_arguments(node)
        self.node = node
        self._call_memory = (pos_memory, kw_memory)
        arg_memory = self._call_memory
        self._call_result_memory = _DEFAULT
        result = self.call(fn, args, kwargs, node)
        if fn in (list, sorted) and isinstance(result, list):
            self.made(result)  # a new list
        memory = self._call_result_memory
        if memory is _DEFAULT:
            memory = self._result_memory(fn, args, kwargs, arg_memory, result)
        self._set_memory(node, memory)
        return result

    def _result_memory(self, fn, args, kwargs, arg_memory, result):
        """Which memory a call's result may share, by NumPy's rules."""
        pos, kw = arg_memory
        first = args[0] if args else next(iter(kwargs.values()), None)
        first_memory = pos[0] if pos else next(iter(kw.values()), _UNKNOWN)
        if isinstance(fn, _Method):
            kind = numpy_table.method_kind(fn.name, args, kwargs)
            shared = self._buffers(fn.memory, fn.obj)  # empty: fn.obj is a NumPy scalar
            if kind == "readonly" and isinstance(result, (Value, np.ndarray)):
                return (shared or _fresh(result, array=True)) | {_Buffer("readonly", f".{fn.name}()")}
            if kind in ("view", "alias"):
                # s.reshape((1,)), s.ravel() of a NumPy scalar are new arrays; s.reshape(()) a scalar
                return shared or _fresh(result)
            return _fresh(result, array=bool(shared) and fn.name in _ZERO_D_ARRAY_METHODS)
        if fn in (max, min):
            return frozenset().union(*(self._buffers(m, a) for m, a in zip(pos, args))) \
                if isinstance(result, (Value, np.ndarray)) else None
        if fn in (tuple, list, zip, enumerate, reversed, sorted):
            return _UNKNOWN
        try:
            kind = numpy_table.KIND.get(fn, "fresh")
        except TypeError:
            kind = "fresh"
        if isinstance(result, Value):
            try:
                kind = _call_kind(fn, args, kwargs, kind)
            except Exception:  # noqa: BLE001 -- cannot tell: assume the result may be the operand
                kind = "alias"
        if isinstance(kind, tuple):  # np.einsum: the operands (positions) whose memory it shares
            shared = frozenset().union(*(self._buffers(pos[i] if i < len(pos) else _UNKNOWN, args[i])
                                         for i in kind))
            return shared or _fresh(result)  # (a 0-d result sharing nothing: a NumPy scalar)
        if kind == "readonly" and isinstance(result, (Value, np.ndarray)):
            return (self._buffers(first_memory, first) or _fresh(result, array=True)) | {
                _Buffer("readonly", _qualname(fn))}
        if kind in ("view", "alias") and isinstance(result, (Value, np.ndarray)):
            if fn is np.asarray and not isinstance(first, (Value, np.ndarray)):
                return _fresh(result, array=True)
            # the "view" of a NumPy scalar is a new array (np.expand_dims(s, 0), np.asarray(s)),
            # or the scalar again (np.reshape(s, ()), np.squeeze(s), np.transpose(s))
            return self._buffers(first_memory, first) or _fresh(result, array=fn in _ZERO_D_ARRAYS)
        if isinstance(result, np.ndarray):
            shared = frozenset()
            owner = getattr(fn, "__self__", None)
            if isinstance(owner, np.ndarray) and np.may_share_memory(result, owner):
                shared |= self._value_buffers(owner)
            for m, a in zip(pos + list(kw.values()), args + list(kwargs.values())):
                if isinstance(a, np.ndarray) and np.may_share_memory(result, a):
                    shared |= self._buffers(m, a)
            return _fresh(result) | shared
        if isinstance(result, tuple) and fn in _FRESH_TUPLES:  # new arrays and NumPy scalars
            return _Seq(tuple(_fresh(r) for r in result))
        if isinstance(result, (list, tuple, dict)):
            return _UNKNOWN
        return _fresh(result, array=isinstance(result, Value) and result.ndim == 0
                      and _zero_d_array(fn, args, kwargs))

    def call(self, fn, args, kwargs, node):
        if fn is marks.checkpoint:
            if len(args) != 1 or kwargs or not isinstance(args[0], (types.FunctionType, marks.Checkpointed)):
                self.fail("gradc.checkpoint takes one argument, a Python function defined at module "
                          "level", SignatureError, node)
            return marks.checkpoint(args[0])
        if isinstance(fn, marks.Checkpointed):
            with self.step():
                return self.inline(fn.fn, args, kwargs, node)
        if isinstance(fn, _Method):
            return numpy_table.METHODS[fn.name](self, fn.obj, args, kwargs)
        special = self.call_python(fn, args, kwargs, node)  # closures, partials, list methods, ...
        if special is not NotImplemented:
            return special
        lower = numpy_table.lookup(fn)
        operands = (*args, *kwargs.values())
        traced = _traced_inside(operands)  # computed from the arguments, however nested
        owner = getattr(fn, "__self__", None)
        if isinstance(owner, (np.ndarray, np.generic)) and isinstance(fn, types.BuiltinMethodType):
            # a method of a compile-time array: run now, or lower like an array method
            if traced and isinstance(owner, np.ndarray) and fn.__name__ in numpy_table.METHODS:
                return numpy_table.METHODS[fn.__name__](self, Const(owner), args, kwargs)
            if traced:
                self.fail(f"the method .{fn.__name__}() of a compile-time array is not supported on "
                          "arrays computed from the arguments", UnsupportedFunction, node)
            return self._static_call(fn, args, kwargs, node)
        if lower is not None and (traced or fn in numpy_table.ALWAYS_LOWER
                                  or any(isinstance(a, Const) for a in operands)):
            result = lower(self, args, kwargs)  # on constants, the builder folds it
            # (a math function's float result is a Python float, as Python's: weak)
            return result if numpy_math.is_math(fn) and traced else self._strong(result)
        if _draws_random_numbers(fn):
            self.fail(f"{_qualname(fn)} draws random numbers: gradc would draw them once, at compile "
                      "time, and reuse them on every call; draw them outside and pass the array as an "
                      "argument", UnsupportedFunction, node)
        if numpy_math.is_math(fn):  # Python's math module on compile-time numbers: run it now
            return self._static_call(fn, args, kwargs, node)
        if fn in (pow, divmod, round) and traced:
            return self._pow_divmod_round(fn, args, kwargs, node)
        if _is_numpy(fn) or fn in numpy_table.CONSTRUCTORS:
            if traced:
                self.fail(f"{_qualname(fn)} is not supported on arrays computed from the arguments "
                          "(see docs/supported-subset.md)", UnsupportedFunction, node)
            return self._static_call(fn, args, kwargs, node)
        if fn in (len, abs) and (len(args) != 1 or kwargs):
            self.fail(f"{fn.__name__}() takes exactly one argument", SignatureError, node)
        if fn is len:
            x = args[0]
            if isinstance(x, Value):
                if x.ndim == 0:
                    self.fail("len() of a 0-d array", SignatureError, node)
                return x.shape[0]
            try:
                return len(x)
            except TypeError as e:  # a generator, zip, ...: Python raises too
                self.fail(f"len() failed at compile time: {e}", SignatureError, node)
        if fn is abs:
            x = args[0]
            if isinstance(x, Value):
                return self._weak(self.bind("abs", x), [x])
            if _traced_inside(x):
                self.fail("abs() of a container holding arrays", UnsupportedFunction, node)
            return abs(_unwrap(x))
        if fn is sum and args and (traced or not isinstance(args[0], (list, tuple))):
            return self.builtin_sum(args, kwargs, node)
        if fn is sum and args and isinstance(args[0], (list, tuple)) and not kwargs:
            total = args[1] if len(args) > 1 else 0
            for item in args[0]:
                total = self.binop(ast.Add(), total, item, node)
            return total
        if fn in (max, min):
            if len(args) == 1 and not isinstance(args[0], (list, tuple, Value)) \
                    and isinstance(args[0], collections.abc.Iterator):
                args = [[item for item, _ in self.iterate(args[0], _UNKNOWN, node)]]  # max consumes it all
                traced = _traced_inside((*args, *kwargs.values()))
            items = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
            return self._weak(self._min_max(fn, args, kwargs, node), list(items))
        if fn in (sorted, any, all, sum) and traced:
            hint = {sorted: "use np.sort(x) (it differentiates through the permutation)",
                    any: "use np.max(mask) or np.where to combine conditions on arrays",
                    all: "use np.min(mask) or np.where to combine conditions on arrays",
                    sum: "use np.sum(x, axis=0) (sum() iterates over the first axis)"}[fn]
            self.fail(f"builtin {fn.__name__}() of arrays computed from the arguments is not "
                      f"supported: it needs their values at compile time; {hint}",
                      UnsupportedFunction, node)
        if fn is float and traced and len(args) == 1 and not kwargs and isinstance(args[0], Value):
            return self.python_float(args[0], node)
        if fn in (float, complex) and traced:
            hint = {float: " (an array already is one: use it as it is, or x.astype(np.float64))"}.get(fn, "")
            self.fail(f"builtin {fn.__name__}() of an array computed from the arguments is not "
                      f"supported: its value is not known at compile time{hint}", UnsupportedFunction, node)
        if fn in (tuple, list, zip, enumerate, reversed):
            return self.iterating_builtin(fn, args, kwargs, node)
        if fn in (range, float, int, bool, round, sorted, any, all, sum, pow, divmod, slice):
            if traced:
                self.fail(f"unsupported construct '{fn.__name__}() of an array': values computed from "
                          "the function's array arguments cannot decide loop bounds or other compile-time "
                          "quantities; data-dependent control flow is not supported yet (a later version "
                          "will support it)" + {int: "; for an integer array use x.astype(np.int64)",
                                                bool: "; for a mask use a comparison such as x != 0"}
                          .get(fn, ""), DataDependentControlFlow, node)
            return self._static_call(fn, args, kwargs, node)
        if isinstance(fn, types.FunctionType):
            return self.inline(fn, args, kwargs, node)
        self.fail(f"call to {_qualname(fn)} is not supported (see docs/supported-subset.md)",
                  UnsupportedFunction, node)

    def _strong(self, result):
        """A NumPy function's result is a NumPy scalar or array, never a Python number: a
        Python-float value it returns (np.float64(lam), np.asarray(lam), np.add(lam, 1.0)) is
        made a strong float64 (NEP 50), np.float64(...) in the generated code too, and a
        constant folded from Python numbers (relu(0.5)) NumPy's scalar of it."""
        if isinstance(result, (list, tuple)):
            items = [self._strong(r) for r in result]
            if all(a is b for a, b in zip(items, result)):
                return result
            return type(result)(*items) if hasattr(result, "_fields") else type(result)(items)
        if _weak_float(result):
            return self.b.bind("cast", result, dtype=np.dtype(np.float64), scalar=True)
        if isinstance(result, Const) and result.weak:  # folded from Python numbers: relu(0.5)
            return Const(np.asarray(result.value)[()])
        return result

    def _weak(self, out, operands):
        """A Python builtin (abs, max, min, round) of Python numbers is a Python number: weak."""
        if isinstance(out, Value) and not isinstance(out, Const) and out.ndim == 0 \
                and out.dtype == np.float64 and any(_weak_float(a) for a in operands) \
                and all(_weak_float(a) or _python_scalar(a) for a in operands):
            out.pytype = float
        return out

    def _pow_divmod_round(self, fn, args, kwargs, node):
        """pow(x, y) is x ** y; divmod(x, y) is (x // y, x % y); round(x[, n]) is np.round(x, n)
        (NumPy's __round__: a float with the rounded value, derivative zero), on traced values."""
        name = fn.__name__
        allowed = {round: {"ndigits"}, pow: {"base", "exp", "mod"}, divmod: set()}[fn]
        if set(kwargs) - allowed:
            self.fail(f"builtin {name}() with keyword arguments {', '.join(sorted(kwargs))} is not "
                      "supported", SignatureError, node)
        if fn is round:
            return self._builtin_round(args, kwargs, node)
        given = list(args) + [kwargs[k] for k in ("base", "exp", "mod") if k in kwargs]
        if fn is pow and len(given) == 3:
            if given[2] is not None:
                self.fail("pow(x, y, mod) of values computed from the arguments is not supported "
                          "(modular exponentiation is for integers); write (x ** y) % mod",
                          UnsupportedFunction, node)
            given = given[:2]
        if len(given) != 2:
            self.fail(f"{name}() takes exactly two arguments", SignatureError, node)
        a, b = given
        if fn is pow:
            return self.binop(ast.Pow(), a, b, node)
        return self.binop(ast.FloorDiv(), a, b, node), self.binop(ast.Mod(), a, b, node)

    def _builtin_round(self, args, kwargs, node):
        """Python's round(x, ndigits) of a traced number: of a Python float, Python's own
        (correctly rounded) float; of a NumPy scalar, its __round__ (np.round, same dtype).
        An ndarray, 0-d too, has no __round__ (TypeError), and round(x) is a Python int of
        unbounded size: both refused."""
        if not args or len(args) + len(kwargs) > 2:
            self.fail("round() takes a number and optionally ndigits", SignatureError, node)
        x, ndigits = args[0], args[1] if len(args) > 1 else kwargs.get("ndigits")
        if not isinstance(x, Value):
            self.fail(f"round() of {_describe(x)} is not supported", UnsupportedFunction, node)
        if x.ndim or self._buffers(self._arg_memory(x, args), x):
            given = node.args[1:] + [k.value for k in node.keywords if k.arg == "ndigits"]
            shown = f", {ast.unparse(given[0])}" if len(given) == 1 and ndigits is not None else ""
            self.fail(f"unsupported construct 'round() of an array': Python's round() of a {x.ndim}-d "
                      f"array raises TypeError in NumPy (ndarray has no __round__); use "
                      f"np.round(x{shown})", UnsupportedSyntax, node)
        if ndigits is None:
            self.fail("round(x) without ndigits of a value computed from the arguments is a Python int "
                      "(unbounded; an error for inf and nan), which gradc does not compute; use "
                      "np.round(x) for a float with the rounded value", UnsupportedFunction, node)
        ndigits = self.static(ndigits, "ndigits")
        if isinstance(ndigits, bool) or not isinstance(ndigits, (int, np.integer)):
            self.fail(f"round(): ndigits must be an integer, not {ndigits!r}", SignatureError, node)
        if _weak_float(x):
            return self._weak(self.bind("round_float", x, ndigits=int(ndigits)), [x])
        return self.bind("round", x, decimals=int(ndigits))

    def _min_max(self, fn, args, kwargs, node):
        """Python's max/min: the first maximal (minimal) item, compared with > (<). On traced
        scalars that is where(b > a, b, a) item by item: ties keep the earlier item, so the
        gradient at a tie goes to the first argument, as the value does."""
        name = fn.__name__
        if not _traced_inside((*args, *kwargs.values())):
            return self._static_call(fn, args, kwargs, node)
        if kwargs:
            self.fail(f"builtin {name}() with {', '.join(sorted(kwargs))}= of arrays computed from the "
                      "arguments is not supported", UnsupportedFunction, node)
        items = list(args)
        if len(args) == 1:
            if isinstance(args[0], Value):
                self.fail(f"builtin {name}() of an array iterates over it and compares with Python's "
                          f"{'>' if name == 'max' else '<'}; use np.{name}(x) for the whole array "
                          f"(ties share the gradient) or np.{name}imum(a, b) elementwise",
                          UnsupportedFunction, node)
            if not isinstance(args[0], (list, tuple)):
                self.fail(f"builtin {name}() of {_describe(args[0])} is not supported", UnsupportedFunction, node)
            items = list(args[0])
        if not items:
            self.fail(f"{name}() of an empty sequence", SignatureError, node)
        for item in items:
            if isinstance(item, Value):
                scalar = item.ndim == 0
            else:
                scalar = not isinstance(item, (str, bytes, list, tuple, dict)) and \
                    not _traced_inside(item) and np.ndim(_unwrap(item)) == 0
            if not scalar:
                self.fail(f"builtin {name}() of arrays with more than one element: Python would need the "
                          "truth value of an array comparison; use np.maximum(a, b) / np.minimum(a, b) "
                          f"elementwise or np.{name}(x) over an array", UnsupportedFunction, node)
        compare = "greater" if name == "max" else "less"
        best = items[0]
        for item in items[1:]:
            best = self.bind("where", self.bind(compare, item, best), item, best)
        # Python returns one of the items, so the result's type is theirs: a Python float when all
        # are (`_weak`), a 0-d array when one is (the memory it may share); of a NumPy scalar and
        # Python floats, a NumPy scalar (the type of the item chosen depends on the data)
        return best

    def _static_call(self, fn, args, kwargs, node, unwrap=True):
        """Run a call now, on compile-time values only (proven free of traced values)."""
        owner = getattr(fn, "__self__", None)
        if _is_numpy(fn) or isinstance(owner, (np.ndarray, np.ufunc)) or isinstance(fn, type) \
                and issubclass(fn, np.generic):
            why = _impure_call(fn, args, kwargs)
            if why:
                instead = ("read or write files outside the function and pass the arrays as arguments"
                           if "file" in why else "compute a new array instead (`z = a * 2.0`, "
                           "`z = np.where(mask, v, a)`)" if "place" in why else
                           "pass np.asarray(...) of it" if "subclass" in why else "do it outside the function")
                self.fail(f"{_qualname(fn)} {why} (gradc runs NumPy calls on compile-time values once, "
                          f"while compiling, not as the program runs); {instead}", UnsupportedFunction, node)
        if unwrap:
            for a in (*args, *kwargs.values()):
                if _traced_inside(a):
                    self.fail(f"{_qualname(fn)} is not supported on arrays computed from the arguments "
                              "(see docs/supported-subset.md)", UnsupportedFunction, node)
                if isinstance(a, (types.GeneratorType, zip, enumerate, map, filter, reversed)):
                    self.fail(f"{_qualname(fn)}() of an iterator: pass a list or tuple",
                              UnsupportedFunction, node)
            args, kwargs = _unwrap(list(args)), _unwrap(dict(kwargs))
        try:
            result = fn(*args, **kwargs)
            memory = _new_static_memory(result, (owner, *args, *kwargs.values()))
            if memory is not None:  # new arrays (np.triu_indices(n)): nothing else holds them
                self._call_result_memory = memory
            return result
        except CompileError:
            raise
        except Exception as e:  # the user's own call on constants failed: report it at their line
            self.fail(f"{_qualname(fn)}(...) failed at compile time: {type(e).__name__}: {e}",
                      SignatureError, node)

    def _share_memory_with(self, inner, fn, signature=None):
        """The helper's parameters hold the caller's arrays; the caller's names stay live."""
        pos, kw = self._call_memory
        signature = signature or inspect.signature(fn)
        try:
            given = signature.bind(*pos, **kw).arguments
        except TypeError:
            given = {}
        for name, p in signature.parameters.items():
            m = given.get(name, _UNKNOWN)
            if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                m = _UNKNOWN
            inner.prov[name] = m
        inner.value_buffers = self.value_buffers
        inner.static_buffers = self.static_buffers
        inner.made_lists = self.made_lists
        inner.made_in, inner.mutated, inner.row_sources = self.made_in, self.mutated, self.row_sources
        inner.made_in_branch = self.made_in_branch
        inner.live_rows, inner.warned = self.live_rows, self.warned
        inner.list_journal = self.list_journal
        inner.scalar_inputs, inner.mixed_types = self.scalar_inputs, self.mixed_types
        inner.outer_buffers = self.outer_buffers | self._all_buffers()

    def inline(self, fn, args, kwargs, node):
        """A call to a module-level helper: lower its body in place."""
        self.check_recursion(fn.__code__, fn.__name__, node)
        try:
            src = parse_lambda(fn) if fn.__code__.co_name == "<lambda>" else parse_function(fn)
        except CompileError as e:  # say where the helper is called, not only what it is
            raise type(e)(e.message, e.loc or self.src.loc(node), hint=e.hint) from None
        try:
            bound = inspect.signature(fn).bind(*args, **kwargs)
        except TypeError as e:
            self.fail(f"bad call to {fn.__name__}(): {e}", SignatureError, node)
        bound.apply_defaults()
        inner = Lowering.for_function(src, self.b, self.stack, self.named_consts)
        check_body(src)
        self._share_memory_with(inner, fn)
        self.referenced.update(inner.referenced)
        inner.referenced = self.referenced  # (closures it returns record their reads here too)
        result = inner.run(dict(bound.arguments), implicit_none=True)
        self._call_result_memory = inner.return_memory
        return result




@dataclass
class _Method:
    obj: Value
    name: str
    memory: object = None  # the array's memory (methods like reshape return views)


_RANDOM_STATE = (np.random.Generator, np.random.RandomState, np.random.BitGenerator)


def _draws_random_numbers(fn) -> bool:
    """np.random.* and the methods of generators: state that a compile-time call would freeze."""
    module = getattr(fn, "__module__", None) or ""
    return module.startswith("numpy.random") or isinstance(getattr(fn, "__self__", None), _RANDOM_STATE)


# NumPy calls gradc must not run at compile time: they write into their arguments (so a
# constant an earlier operation already used would change under it, or a module-level array
# for every later call), read or write files (frozen into the program / done once, while
# compiling), or change NumPy's global state. A denylist plus `out=` detection: the pure
# functions are the many, and every one of them is run on compile-time values exactly as
# NumPy runs it (an allowlist of hundreds would only refuse correct programs).
def _call_kind(fn, args, kwargs, kind):
    """The memory kind of a call whose aliasing depends on its arguments (NumPy's rules;
    tests/test_attack_regressions.py checks them with np.shares_memory)."""
    if fn is np.array:  # copy=None/False: the operand itself (or a view, ndmin) when no copy is needed
        bound = inspect.signature(np.array).bind(*args, **kwargs).arguments
        copy = _unwrap(bound.get("copy", True))
        dtype = _unwrap(bound.get("dtype"))
        obj = bound.get("object", bound.get("a"))
        if copy is True or not isinstance(obj, (Value, np.ndarray)):
            return kind
        if dtype is not None and np.dtype(dtype) != np.dtype(obj.dtype):
            return "fresh"  # a cast copies
        return "alias"
    if isinstance(fn, type) and issubclass(fn, np.generic):  # np.float64(a) is a when dtypes match
        # (an array with dimensions; of a 0-d one it is a new NumPy scalar)
        return "alias" if args and isinstance(args[0], (Value, np.ndarray)) and np.ndim(args[0]) else kind
    if fn is np.diff:  # n=0 returns the operand itself
        bound = inspect.signature(np.diff).bind(*args, **kwargs).arguments
        return "alias" if _unwrap(bound.get("n", 1)) == 0 else kind
    if fn is np.diag:  # of a matrix: a read-only view of its diagonal; of a vector: a new matrix
        bound = inspect.signature(np.diag).bind(*args, **kwargs).arguments
        v = bound.get("v")
        return "readonly" if isinstance(v, (Value, np.ndarray)) and np.ndim(_unwrap(v)) == 2 \
            or isinstance(v, Value) and v.ndim == 2 else "fresh"
    if fn is np.einsum:  # "returns a view when possible": ask NumPy, on stand-ins of the operands
        stand = [np.zeros(tuple(a.shape), dtype=a.dtype) if isinstance(a, (Value, np.ndarray)) else _unwrap(a)
                 for a in args]
        out = np.einsum(*stand, **{k: _unwrap(v) for k, v in kwargs.items()})
        if not isinstance(out, np.ndarray):
            return ()
        shares = tuple(i for i, a in enumerate(stand) if isinstance(a, np.ndarray) and (
            np.shares_memory(out, a) or a.size == 0))
        return shares
    return kind


def _impure_numpy():
    import numpy.lib.format as fmt
    try:
        from numpy.lib import _npyio_impl as npyio
    except ImportError:  # NumPy 1.x
        from numpy.lib import npyio
    out = {fn: "modifies its argument in place"
           for fn in (np.copyto, np.fill_diagonal, np.put, np.place, np.putmask, np.put_along_axis)}
    for name in getattr(npyio, "__all__", ()):
        fn = getattr(npyio, name, None)
        if callable(fn) and name not in ("packbits", "unpackbits"):
            out[fn] = "reads or writes a file at compile time"
    for name in ("load", "loadtxt", "genfromtxt", "fromfile", "fromregex", "save", "savez",
                 "savez_compressed", "savetxt", "memmap", "DataSource"):
        if hasattr(np, name):
            out[getattr(np, name)] = "reads or writes a file at compile time"
    for name in ("open_memmap", "read_array", "write_array", "read_magic", "write_array_header_1_0",
                 "write_array_header_2_0", "read_array_header_1_0", "read_array_header_2_0"):
        if hasattr(fmt, name):
            out[getattr(fmt, name)] = "reads or writes a file at compile time"
    for name in ("set_printoptions", "printoptions", "seterr", "seterrcall", "setbufsize",
                 "set_string_function", "info", "show_config", "show_runtime"):
        if hasattr(np, name):
            out[getattr(np, name)] = "changes or prints NumPy's global state at compile time"
    return out


_IMPURE_NUMPY = _impure_numpy()
# methods of an ndarray that write into it (or a file)
_IN_PLACE_METHODS = {"fill", "put", "resize", "setfield", "setflags", "sort", "partition", "itemset",
                     "byteswap", "tofile", "dump"}


def _user_callable(a, depth=0) -> bool:
    """a is (or a list/tuple/dict holds) a callable that is not NumPy's own."""
    if depth > 3:
        return False
    if isinstance(a, (list, tuple)):
        return any(_user_callable(v, depth + 1) for v in a)
    if isinstance(a, dict):
        return any(_user_callable(v, depth + 1) for v in a.values())
    if not callable(a) or isinstance(a, (type, np.ufunc, np.generic, np.ndarray)):
        return False
    return not _is_numpy(a)


def _impure_call(fn, args, kwargs):
    """Why NumPy's fn(*args, **kwargs) must not run at compile time (None: it may)."""
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, np.ndarray) and isinstance(fn, types.BuiltinMethodType):
        name = fn.__name__
        if name in _IN_PLACE_METHODS and not (name == "byteswap" and not (
                kwargs.get("inplace", args[0] if args else False))):
            return "writes a file at compile time" if name in ("tofile", "dump") else \
                "modifies the array in place"
        target = getattr(np, name, None)
        if kwargs.get("out") is not None:
            return "writes into its `out` argument in place"
        if callable(target):
            with contextlib.suppress(TypeError, ValueError):
                bound = inspect.signature(target).bind(owner, *args, **kwargs).arguments
                if bound.get("out") is not None:
                    return "writes into its `out` argument in place"
        return None
    if isinstance(owner, np.ufunc):  # np.add.at / .reduce / .accumulate / .outer / .reduceat
        if fn.__name__ == "at":
            return "modifies its argument in place"
        if kwargs.get("out") is not None or fn.__name__ in ("reduce", "accumulate", "reduceat") \
                and len(args) > (3 if fn.__name__ != "reduceat" else 4):
            return "writes into its `out` argument in place"
        return None
    try:
        why = _IMPURE_NUMPY.get(fn)
    except TypeError:  # unhashable
        why = None
    if isinstance(fn, np.vectorize) or any(_user_callable(a) for a in (*args, *kwargs.values())):
        # np.vectorize, np.apply_along_axis(f, ...), np.piecewise(x, c, [f]), np.frompyfunc(f, ...):
        # the user's function would run now, once, on constants (its reads of globals frozen)
        return "calls a Python function at compile time"
    if why:
        return why
    module = getattr(fn, "__module__", None) or ""
    if module.startswith(("numpy.ma", "numpy.matlib", "numpy.rec", "numpy.char", "numpy.strings")) \
            or fn in (np.asmatrix, np.matrix, np.recarray, np.memmap, getattr(np, "bmat", None)):
        return ("returns an ndarray subclass (masked array, matrix, record array, ...), whose "
                "operators and functions differ from plain ndarrays")
    if isinstance(fn, np.ufunc):
        if len(args) > fn.nin or any(k in kwargs and kwargs[k] is not None for k in ("out",)):
            return "writes into its `out` argument in place"
        return None
    if kwargs.get("out") is not None:
        return "writes into its `out` argument in place"
    with contextlib.suppress(TypeError, ValueError):
        bound = inspect.signature(fn).bind(*args, **kwargs).arguments
        if bound.get("out") is not None:
            return "writes into its `out` argument in place"
    return None


def _new_static_memory(result, inputs):
    """The memory of a compile-time call's result when it is new arrays (an array, or a tuple or
    list of arrays and numbers, none sharing memory with an array among the inputs:
    np.triu_indices, np.arange), a new buffer each (results that may share memory, one);
    else None (np.asarray(C) and C.reshape(...) are C's memory; anything else is resolved as
    before)."""
    items = [result] if isinstance(result, np.ndarray) else list(result) \
        if isinstance(result, (tuple, list)) else []
    arrays = [a for a in items if isinstance(a, np.ndarray)]
    if not arrays or any(not isinstance(a, (np.ndarray, np.generic, int, float, bool)) for a in items):
        return None
    ins = [a for a in (*inputs, *(x for i in inputs if isinstance(i, (tuple, list)) for x in i))
           if isinstance(a, np.ndarray)]
    if any(np.may_share_memory(a, b) for a in arrays for b in ins):
        return None
    fresh = {}  # one new buffer per group of results that may share memory (np.diag_indices: (i, i))
    for i, a in enumerate(arrays):
        fresh[id(a)] = next((fresh[id(b)] for b in arrays[:i] if np.may_share_memory(a, b)),
                            frozenset({_Buffer("fresh")}))
    if isinstance(result, np.ndarray):
        return fresh[id(result)]
    return _Seq(tuple(fresh.get(id(a)) if isinstance(a, np.ndarray) else None for a in items))


def _is_numpy(fn) -> bool:
    mod = getattr(fn, "__module__", None) or ""
    return isinstance(fn, np.ufunc) or mod == "numpy" or mod.startswith("numpy.")


def _qualname(fn) -> str:
    if isinstance(fn, np.ufunc):
        return f"np.{fn.__name__}"
    mod = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    if mod.startswith("numpy"):
        return "np." + (mod[len("numpy."):] + "." if mod.startswith("numpy.") and not mod.startswith("numpy._") else "") + name
    return f"{mod}.{name}" if mod and mod != "builtins" else name


def _describe(x) -> str:
    if isinstance(x, Value):
        return f"array {x.aval}"
    return f"{type(x).__name__} {x!r}"[:80]


UNROLL_LOOPS = contextvars.ContextVar("gradc_unroll_loops", default=False)  # checkpointing unrolls


class _LoopIndex:
    """A loop region's index inside its body: `a * i + b` for compile-time ints a, b, good for
    nothing but the rows it reads (`X[i]`, `X[n - 1 - i]`, `X[2 * i + 1]`). Anything else asked
    of it raises, and the loop is unrolled (where the index is a Python int)."""

    __slots__ = ("region", "scale", "offset")

    def __init__(self, region, scale=1, offset=0):
        self.region, self.scale, self.offset = region, scale, offset

    def positions(self):
        return [self.scale * p + self.offset for p in self.region.positions]

    def _affine(self, scale, offset):
        return _LoopIndex(self.region, scale, offset)

    @staticmethod
    def _int(x):
        if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
            _LoopIndex._refuse()
        return int(x)

    def __add__(self, o): return self._affine(self.scale, self.offset + self._int(o))
    __radd__ = __add__
    def __sub__(self, o): return self._affine(self.scale, self.offset - self._int(o))
    def __rsub__(self, o): return self._affine(-self.scale, self._int(o) - self.offset)
    def __mul__(self, o): return self._affine(self.scale * self._int(o), self.offset * self._int(o))
    __rmul__ = __mul__
    def __neg__(self): return self._affine(-self.scale, -self.offset)
    def __pos__(self): return self

    @staticmethod
    def _refuse(*args, **kwargs):
        raise DataDependentControlFlow("a loop region's index is used as a number")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __bool__ = __index__ = __int__ = __float__ = __complex__ = __iter__ = __len__ = _refuse
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _refuse
    __pow__ = __rpow__ = __matmul__ = __rmatmul__ = __abs__ = __round__ = __invert__ = _refuse
    __and__ = __rand__ = __or__ = __ror__ = __xor__ = __rxor__ = __lshift__ = __rshift__ = _refuse
    __array__ = __format__ = __getitem__ = __contains__ = _refuse
    __hash__ = object.__hash__


class _Region:
    """A loop body being lowered: its index, iteration positions and stacked inputs."""

    def __init__(self, index, positions, builder, parent):
        self.index, self.positions, self.builder, self.parent = index, positions, builder, parent
        self.carry_inputs: list[Value] = []
        self.xs: dict = {}  # outer array -> (array, slice of the rows read or None, body input)

    def inputs(self):
        return [self.index, *self.carry_inputs, *(b for _, _, b in self.xs.values())]

    def slice_of(self, obj: Value, rest, index: "_LoopIndex | None" = None) -> Value:
        key = (obj, 1, 0) if index is None else (obj, index.scale, index.offset)
        if key in self.xs:
            return self.xs[key][2]
        n = obj.shape[0]
        rows = [p + n if p < 0 else p for p in (self.positions if index is None else index.positions())]
        if not all(0 <= r < n for r in rows):
            raise ShapeError(f"index out of bounds for axis 0 with size {n}")
        step = rows[1] - rows[0]
        if any(b - a != step for a, b in zip(rows, rows[1:])) or step == 0:
            raise DataDependentControlFlow("loop index rows are not evenly spaced")
        stop = rows[-1] + step
        index = None if (rows[0] == 0 and step == 1 and len(rows) == n) else \
            slice(rows[0], stop if stop >= 0 else None, step)
        del rest
        b = Value(Aval(obj.shape[1:], obj.dtype), f"{obj.name}_row" if obj.name else "row")
        self.xs[key] = (obj, index, b)
        return b


def _weak_scalar(v) -> bool:
    """A Python number (NEP 50 weak): a Python-number constant or a Python-float argument."""
    if isinstance(v, Const):
        return v.weak
    return isinstance(v, Value) and v.pytype is not None


def _leaves(tree):
    return [None] if tree == "leaf" else [x for t in tree[1] for x in _leaves(t)]


def _flatten(x, leaves: list, joined: bool = False):
    """Tuple/list structure of x with its array and number leaves appended, or None.

    A value a loop region carries (the default) has its compile-time leaves appended as
    Consts, and of booleans only NumPy's (a break flag; a Python bool is weak, NumPy's
    bool[] is not). A value an `if` on data joins (`joined`, frontend/branches.py) keeps
    its leaves as they are (a Python number the branches agree on stays one) and takes
    Python bools and boolean arrays too (`found = True` joins as a traced bool)."""
    if isinstance(x, Value):
        leaves.append(x)
        return "leaf"
    if isinstance(x, (float, int, np.generic, np.ndarray)) and not isinstance(x, (bool, np.bool_)) \
            and np.asarray(x).dtype.kind in "fiu":
        leaves.append(x if joined else Const(x))
        return "leaf"
    if isinstance(x, np.bool_) or joined and (isinstance(x, bool) or isinstance(x, np.ndarray)
                                                and x.dtype == np.bool_):
        leaves.append(x if joined else Const(x))
        return "leaf"
    if isinstance(x, (tuple, list)) and not hasattr(x, "_fields"):  # (a namedtuple is rebuilt otherwise)
        subs = [_flatten(e, leaves, joined) for e in x]
        return None if any(t is None for t in subs) else (type(x), tuple(subs))
    return None


def _unflatten(tree, leaves, k):
    if tree == "leaf":
        return leaves[k], k + 1
    items = []
    for t in tree[1]:
        item, k = _unflatten(t, leaves, k)
        items.append(item)
    return tree[0](items), k


def _writes_in_place(body) -> bool:
    """Whether the statements may write into an array (`a[i] = v`, `a.x = v`, `a += v`)."""
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.AugAssign):
                return True
            if isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, (ast.Store, ast.Del)):
                return True
    return False


def _breaks(body) -> bool:
    """Whether a `break` may end this loop (not one of a loop or function nested in it)."""
    stack = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Break):
            return True
        if isinstance(node, (ast.For, ast.While)):
            stack.extend(node.orelse)  # a break in an inner loop's `else` ends this loop
            continue
        if isinstance(node, (ast.FunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False


def _appends_as_rows(loop, env) -> tuple:  # noqa: C901 - one pass over the body
    """A `for` loop whose body appends to a list once per iteration (`hs.append(h)` as a
    statement of the body itself, `hs` a list bound before the loop, not otherwise used in
    it, held by that name only and read by no function defined here): the loop with each
    such statement written `hs__row = h`, and the pairs (list name, row name); its region stacks the rows, and the
    list gets them after the loop (np.stack(hs) is then a copy of the stack). Else (loop, ())."""
    uses: dict = {}
    for node in ast.walk(ast.Module(body=loop.body, type_ignores=[])):
        if isinstance(node, ast.Name):
            uses[node.id] = uses.get(node.id, 0) + 1
    rows, body = [], []
    for stmt in loop.body:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        name = None
        if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "append"
                and isinstance(call.func.value, ast.Name) and len(call.args) == 1 and not call.keywords
                and not isinstance(call.args[0], ast.Starred)):
            name = call.func.value.id
        if name is not None and type(env.get(name)) is list and uses.get(name) == 1 \
                and name not in (n for n, _ in rows) and f"{name}__row" not in uses \
                and sum(_holds_object(v, env[name]) for v in env.values()) == 1 \
                and not any(_reads_list(v, env[name]) for v in env.values()):  # (a closure reads it)
            row = f"{name}__row"
            rows.append((name, row))
            body.append(ast.copy_location(ast.Assign(targets=[ast.copy_location(ast.Name(id=row, ctx=ast.Store()), stmt)],
                                                     value=call.args[0]), stmt))
        else:
            body.append(stmt)
    if not rows:
        return loop, ()
    new = copy.copy(loop)
    new.body = body
    return new, tuple(rows)


def _reads_list(x, lst, depth=0) -> bool:
    """Whether x is, or holds, a function defined in the compiled function whose code reads
    a name that holds `lst` where the function was defined (it reads the list when called)."""
    if depth > 20:
        return True
    if isinstance(x, Closure):
        scope = getattr(x.parent, "env", None) or {}
        free = {n.id for n in ast.walk(x.tree) if isinstance(n, ast.Name)} - x.local_names
        return any(_holds_object(scope.get(n), lst) for n in free) \
            or any(_reads_list(d, lst, depth + 1) for d in x.held())
    if isinstance(x, (list, tuple, set, frozenset)):
        return any(_reads_list(e, lst, depth + 1) for e in x)
    if isinstance(x, dict):
        return any(_reads_list(e, lst, depth + 1) for e in x.values())
    if isinstance(x, Partial):
        return any(_reads_list(e, lst, depth + 1) for e in x.held())
    return False


def _stored_names(body) -> set:
    """Names the statements bind or write into (`z[i] = v` writes into z)."""
    names = {}
    for stmt in body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.setdefault(node.id)
            elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, ast.Store):
                base = node.value
                while isinstance(base, (ast.Subscript, ast.Attribute)):
                    base = base.value
                if isinstance(base, ast.Name):
                    names.setdefault(base.id)
    return _Ordered(names)


def _holds_object(x, obj, depth=0) -> bool:
    """Whether x holds obj (by identity) in lists, tuples, dicts or what a closure holds."""
    if x is obj:
        return True
    if depth > 20:
        return False
    if isinstance(x, (list, tuple, set, frozenset)):
        return any(_holds_object(e, obj, depth + 1) for e in x)
    if isinstance(x, dict):
        return any(_holds_object(e, obj, depth + 1) for e in x.values())
    if isinstance(x, (Closure, Partial, ContainerMethod)):
        return any(_holds_object(e, obj, depth + 1) for e in held(x))
    return False


def _holds(x, values: set, depth=0) -> bool:
    """Whether x is, or holds in lists, tuples or dicts, one of `values`."""
    if isinstance(x, Value):
        return x in values
    if depth > 50:
        return True
    if isinstance(x, (list, tuple, set, frozenset)):
        return any(_holds(e, values, depth + 1) for e in x)
    if isinstance(x, dict):
        return any(_holds(e, values, depth + 1) for e in x.values())
    if isinstance(x, (Closure, Partial, ContainerMethod)):  # default values, bound arguments
        return _holds(held(x), values, depth + 1)
    return False


class _Ordered(set):
    """A set that iterates in first-insertion order (deterministic carried names)."""

    def __init__(self, keys):
        super().__init__(keys)
        self.order = list(keys)

    def __iter__(self):
        return iter(self.order)


def _loads_outside(tree, loop, rewritten=None) -> set:
    """Names read outside `loop`, except reads of another loop's own target inside it
    (`rewritten`: id(loop node) -> the statements it is lowered as, read instead)."""
    out: set = set()
    rewritten = rewritten or {}

    def visit(node, bound):
        if node is loop:
            return
        if id(node) in rewritten:
            for child in rewritten[id(node)]:
                visit(child, bound)
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in bound:
            out.add(node.id)
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
            visit(node.iter, bound)
            # an enclosing loop with the same target: `loop` rebinds it, so its reads there
            # read what `loop` leaves behind (not the enclosing loop's own index)
            shadowed = isinstance(getattr(loop, "target", None), ast.Name) and loop.target.id == node.target.id \
                and any(n is loop for n in ast.walk(node))
            for child in node.body + node.orelse:
                visit(child, bound if shadowed else bound | {node.target.id})
            return
        for child in ast.iter_child_nodes(node):
            visit(child, bound)

    visit(tree, frozenset())
    return out


def _target_kind(t) -> str:
    return {ast.Subscript: "an item or slice (x[i] = ...)", ast.Attribute: "an attribute"}.get(
        type(t), type(t).__name__)


def check_body(src: Source):
    """Reject constructs that are never supported, wherever they are (even in untaken branches)."""
    for node in ast.walk(src.tree):
        if node is src.tree:
            continue
        if isinstance(node, (ast.Yield, ast.YieldFrom, ast.Await, ast.Global, ast.Nonlocal,
                             ast.AsyncFunctionDef, ast.ClassDef)) or isinstance(
                node, (ast.ListComp, ast.DictComp, ast.SetComp, ast.GeneratorExp)) and any(
                g.is_async for g in node.generators):
            name = CONSTRUCT_NAMES.get(type(node), type(node).__name__)
            raise UnsupportedSyntax(f"unsupported construct '{name}'", src.loc(node))


def bind_arguments(specs: list[ArgSpec]) -> tuple[list[Value], dict[str, object]]:
    """Program inputs for the "input" specs and the input leaves of "tree" specs (in
    order), and every argument's binding by name: an input Value, the compile-time value
    of a static argument, or a tree's containers holding its input Values and constants
    (lists and dicts that refuse to change: they are the caller's)."""
    from ..pytree import map_leaves

    inputs, bound = [], {}

    def make(spec):
        v = Value(spec.aval, spec.name)
        v.pytype = spec.pytype
        inputs.append(v)
        return v

    for spec in specs:
        if spec.kind == "input":
            bound[spec.name] = make(spec)
        elif spec.kind == "tree":
            bound[spec.name] = map_leaves(spec.value, lambda _, leaf: make(leaf) if isinstance(leaf, ArgSpec)
                                          else leaf, frozen=True)
        else:
            bound[spec.name] = spec.value
    return inputs, bound


def _leaf_memories(lw: "Lowering", specs: list[ArgSpec], inputs: list[Value]) -> None:
    """The input leaves of trees are the caller's arrays (a Python float or NumPy scalar leaf:
    no memory; a NumPy scalar argument's is set where it is bound: `scalar_inputs`)."""
    from ..pytree import leaves as tree_leaves

    leaves = iter(inputs)
    for spec in specs:
        if spec.kind == "input":
            next(leaves)
        elif spec.kind == "tree":
            for _, leaf in tree_leaves(spec.value):
                if isinstance(leaf, ArgSpec):
                    v = next(leaves)
                    lw._remember(v, frozenset() if leaf.pytype is float or leaf.numpy_scalar
                                 else frozenset({_Buffer("argument", leaf.path or leaf.name)}))


def lower(fn, specs: list[ArgSpec], wrt: tuple[int, ...]) -> tuple[Program, dict]:
    """Lower `fn` for the given argument specs. Returns the program and the
    module-level names it read (so a cache can tell when they are rebound)."""
    src = parse_function(fn)
    check_body(src)
    builder = Builder(rewrite=rewrite, max_ops=max_ops())
    inputs, bound = bind_arguments(specs)
    lw = Lowering.for_function(src, builder)
    # the function itself: a new __code__ or new default values compile again
    lw.referenced[("function", id(fn))] = captured.Read(captured.FunctionSelf(fn), fn)
    _leaf_memories(lw, specs, inputs)
    lw.scalar_inputs = frozenset(_scalar_inputs(specs, inputs))
    with builder:
        try:
            result = lw.run(bound)
        except CompileError:
            raise
        except RecursionError:
            raise UnsupportedSyntax("the function is too deeply nested or recursive to compile",
                                    src.loc(lw.node)) from None
        except Exception as e:  # a gap in gradc, not the user's fault: still point at their line
            raise InternalError.wrap(e, src.loc(lw.node)) from None
    if isinstance(result, (tuple, list)):
        raise SignatureError("the function returns a tuple; gradc differentiates a function with one "
                             "array or scalar result", src.loc(_return_node(src)))
    if result is None or isinstance(result, (str, dict)):
        raise SignatureError(f"the function returns {_describe(result)}, not a number or array",
                             src.loc(_return_node(src)))
    if not isinstance(result, Value):
        result = Const(result)
    program = Program(fn.__name__, inputs, builder.ops, [result], src.loc(src.tree), wrt,
                      {s.name: s.value for s in specs if s.kind == "static"},
                      result=result_type(lw, result))
    return program, lw.referenced


def _scalar_inputs(specs: list[ArgSpec], inputs: list[Value]):
    """The inputs given as NumPy scalars (in the order bind_arguments made them)."""
    from ..pytree import leaves as tree_leaves

    it = iter(inputs)
    for spec in specs:
        leaves = [spec] if spec.kind == "input" else \
            [leaf for _, leaf in tree_leaves(spec.value) if isinstance(leaf, ArgSpec)] if spec.kind == "tree" else []
        for leaf in leaves:
            v = next(it)
            if leaf.numpy_scalar:
                yield v


def result_type(lw: "Lowering", result) -> str | None:
    """The Python type NumPy gives the function's 0-d result: "float" (a Python float),
    "scalar" (a NumPy scalar) or "array" (a 0-d ndarray), read from what the lowering knows of
    the returned expression (its memory: a 0-d value with buffers of its own is an ndarray). A
    value whose type depends on the branch taken is a NumPy scalar (documented). None where it
    cannot tell (memory gradc does not trace, a Python int) or for arrays with dimensions: the
    generated code's own type stands."""
    if not isinstance(result, Value) or result.ndim:
        return None
    if isinstance(result, Const):
        if result.weak:
            return "float" if type(result.value) is float else None
        return "array" if isinstance(result.value, np.ndarray) else "scalar"
    if result in lw.python_ints:
        return None
    if result in lw.mixed_types or result in lw.mixed_floats:
        return "scalar"  # of another type in each branch: a NumPy scalar (documented)
    if result.pytype is float:
        return "float"
    producer = getattr(result, "producer", None)
    if producer is not None and producer.prim.family == "user":
        return None  # a user primitive's function returns what it returns (np.tanh: a NumPy scalar)
    buffers = lw._buffers(lw.return_memory, result)
    if not buffers:
        return "scalar"
    return "array" if any(b.kind != "unknown" for b in buffers) else None


def _return_node(src: Source):
    for node in ast.walk(src.tree):
        if isinstance(node, ast.Return):
            return node
    return src.tree
