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
import contextlib
import inspect
import operator
import textwrap
import types
from dataclasses import dataclass

import numpy as np

from ..errors import (CompileError, DataDependentControlFlow, InternalError, NameResolutionError,
                      SignatureError, SourceLoc, SourceUnavailable, UnsupportedFunction,
                      UnsupportedSyntax)
from ..ir import Builder, Const, Program, Value
from ..passes.simplify import rewrite
from . import marks, numpy_table

BINOPS = {ast.Add: ("add", operator.add), ast.Sub: ("sub", operator.sub),
          ast.Mult: ("mul", operator.mul), ast.Div: ("div", operator.truediv),
          ast.Pow: ("pow", operator.pow), ast.MatMult: ("matmul", operator.matmul),
          ast.FloorDiv: (None, operator.floordiv), ast.Mod: (None, operator.mod),
          ast.BitAnd: ("logical_and", operator.and_), ast.BitOr: ("logical_or", operator.or_)}
COMPARES = {ast.Gt: ("greater", operator.gt), ast.Lt: ("less", operator.lt),
            ast.GtE: ("greater_equal", operator.ge), ast.LtE: ("less_equal", operator.le),
            ast.Eq: ("equal", operator.eq), ast.NotEq: ("not_equal", operator.ne)}
SAFE_BUILTINS = {"range", "len", "abs", "min", "max", "float", "int", "bool", "tuple", "list",
                 "zip", "enumerate", "reversed", "sum", "round"}
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


class _Return(Exception):
    def __init__(self, value):
        self.value = value


@dataclass
class ArgSpec:
    name: str
    kind: str  # "input" (an IR input) or "static" (a compile-time Python value)
    aval: object = None
    value: object = None
    pytype: type | None = None


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


_source_cache: dict = {}


def parse_function(fn) -> Source:
    code = getattr(fn, "__code__", None)
    if not isinstance(fn, types.FunctionType) or code is None:
        raise SourceUnavailable(
            f"cannot read the source of {getattr(fn, '__name__', fn)!r}: gradc compiles Python "
            "functions defined with `def` in a file (not builtins, NumPy functions or C extensions)")
    if code in _source_cache:
        return _source_cache[code]
    try:
        text = inspect.getsource(fn)
        filename = inspect.getsourcefile(fn) or code.co_filename
    except (OSError, TypeError):
        raise SourceUnavailable(
            f"cannot read the source of {fn.__name__!r} (defined in {code.co_filename}): gradc reads "
            "a function's source, so define it with `def` in a .py file or notebook cell, "
            "not with exec() or at an interactive prompt without source") from None
    if fn.__name__ == "<lambda>":
        raise UnsupportedSyntax("lambda functions are not supported: define the loss with `def`",
                                SourceLoc(filename, code.co_firstlineno, 0, None, text.splitlines()[0]))
    dedented = textwrap.dedent(text)
    try:
        module = ast.parse(dedented)
    except SyntaxError as e:
        raise SourceUnavailable(f"cannot parse the source of {fn.__name__!r}: {e.msg}") from None
    tree = module.body[0]
    if not isinstance(tree, ast.FunctionDef):
        raise SourceUnavailable(f"the source of {fn.__name__!r} is not a `def` statement")
    src = Source(fn, tree, dedented.splitlines(), filename, code.co_firstlineno - 1)
    _source_cache[code] = src
    return src


class Lowering:
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
        self.named_consts: dict[tuple, Const] = {} if consts is None else consts  # shared with helpers
        # module-level names read (by this function and inlined helpers): (globals, name, object)
        self.referenced: dict[tuple, tuple] = {}

    @classmethod
    def for_function(cls, src: Source, builder: Builder, stack=(), consts=None) -> "Lowering":
        closure = inspect.getclosurevars(src.fn)
        return cls(src, builder, {**src.fn.__globals__, **closure.nonlocals},
                   module_globals=src.fn.__globals__, stack=stack + (src.fn.__code__,), consts=consts)

    # -- helpers used by the NumPy table ---------------------------------

    def fail(self, message: str, cls=UnsupportedFunction, node=None):
        raise cls(message, self.src.loc(node or self.node))

    def bind(self, prim: str, *args, **params):
        self.b.loc = self.src.loc(self.node)
        for a in args:
            self._check_operand(a, prim)
        return self.b.bind(prim, *args, **params)

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

    def run(self, args: dict[str, object]):
        self.env.update(args)
        try:
            self.block(self.src.tree.body)
        except _Return as r:
            return r.value
        self.node = self.src.tree
        self.fail(f"{self.src.name} does not return a value", SignatureError)

    def block(self, body):
        for i, stmt in enumerate(body):
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                    and isinstance(stmt.value.value, str):
                continue  # docstring
            self.node = stmt
            self.stmt(stmt)

    def stmt(self, s):
        method = getattr(self, f"stmt_{type(s).__name__}", None)
        if method is None:
            self.unsupported(s)
        method(s)

    def unsupported(self, node, extra=""):
        name = CONSTRUCT_NAMES.get(type(node), type(node).__name__)
        if isinstance(node, ast.While):
            self.fail("unsupported construct 'while loop': loops whose end depends on data are "
                      "not supported yet (a later version will support them); use "
                      "`for i in range(N)` with N known at compile time", DataDependentControlFlow, node)
        self.fail(f"unsupported construct '{name}'{extra}", UnsupportedSyntax, node)

    def stmt_Pass(self, s):
        pass

    def stmt_Return(self, s):
        raise _Return(self.expr(s.value) if s.value is not None else None)

    def stmt_Assign(self, s):
        value = self.expr(s.value)
        for target in s.targets:
            self.assign(target, value)

    def stmt_AnnAssign(self, s):
        if s.value is None:
            return
        self.assign(s.target, self.expr(s.value))

    def stmt_AugAssign(self, s):
        if not isinstance(s.target, ast.Name):
            self.fail(f"unsupported construct 'augmented assignment to {_target_kind(s.target)}': "
                      "gradc values are immutable (in-place updates would hide aliasing); "
                      "build a new array instead", UnsupportedSyntax, s)
        current = self.lookup(s.target.id, s.target)
        self._check_in_place(s.target.id, current, s)
        self.node = s
        self.assign(s.target, self.binop(s.op, current, self.expr(s.value), s))

    VIEWS = frozenset({"getitem", "reshape", "transpose", "broadcast_to", "expand_dims"})

    def _check_in_place(self, name, current, node):
        """`x += y` updates an ndarray in place in NumPy. gradc computes `x = x + y`, which is
        the same only if no other name can see x's memory: refuse where that is not certain."""
        if not isinstance(current, Value) or current.ndim == 0:
            return
        why = None
        if isinstance(current, Const):
            why = "a module-level array" if current.name else None
        elif current.producer is None:
            why = "an argument (NumPy would modify the caller's array)"
        elif current.producer.prim.name in self.VIEWS:
            why = "a view of another array (NumPy would modify that array too)"
        elif any(v is current for k, v in self.env.items() if k != name):
            why = f"also named {next(k for k, v in self.env.items() if v is current and k != name)!r}"
        if why:
            self.fail(f"unsupported construct 'in-place update of {name!r}': it is {why}; "
                      f"write `{name} = {name} <op> ...` to make a new array", UnsupportedSyntax, node)

    def assign(self, target, value):
        if isinstance(target, ast.Name):
            if isinstance(value, Value) and not isinstance(value, Const) and not value.name:
                value.name = target.id
            self.env[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            items = self.unpack(value, len(target.elts), target)
            for t, v in zip(target.elts, items):
                self.assign(t, v)
        else:
            self.fail(f"unsupported construct 'assignment to {_target_kind(target)}': gradc values "
                      "are immutable (item assignment would hide aliasing); build a new array with "
                      "np.where or arithmetic instead", UnsupportedSyntax, target)

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
        self.fail(f"cannot unpack {_describe(value)}", UnsupportedSyntax, node)

    def stmt_If(self, s):
        cond = self.condition(s.test, "if statement")
        self.block(s.body if cond else s.orelse)

    def condition(self, node, what):
        c = self.expr(node)
        if not self.is_static(c):
            self.fail(f"unsupported construct 'data-dependent {what}': the condition depends on the "
                      "function's array arguments, which is not supported yet (a later version will); "
                      "use np.where(condition, a, b) to select values", DataDependentControlFlow, node)
        c = self.value(c)
        if isinstance(c, np.ndarray) and c.size != 1:
            self.fail(f"the truth value of an array with {c.size} elements is ambiguous",
                      UnsupportedSyntax, node)
        return bool(c)

    def stmt_For(self, s):
        if s.orelse:
            self.fail("unsupported construct 'for ... else'", UnsupportedSyntax, s)
        it = self.expr(s.iter)
        if not self.is_static(it) or isinstance(it, Const):
            self.fail("unsupported construct 'for loop over an array': loop over "
                      "range(len(x)) or range(x.shape[k]) and index instead",
                      DataDependentControlFlow, s.iter)
        if not isinstance(it, (range, tuple, list, zip, enumerate, types.GeneratorType)) \
                and not hasattr(it, "__iter__"):
            self.fail(f"cannot loop over {_describe(it)}", UnsupportedSyntax, s.iter)
        for item in it:
            with self.step():
                self.assign(s.target, item)
                self.block(s.body)

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
        self.fail("unsupported construct 'expression statement': a statement that only calls a "
                  "function (print, list.append, ...) has no effect gradc can differentiate",
                  UnsupportedSyntax, s)

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
        result = method(node)
        self.node = saved
        return result

    def expr_Constant(self, node):
        if isinstance(node.value, complex):
            self.fail("complex numbers are not supported", UnsupportedSyntax, node)
        return node.value

    def expr_Name(self, node):
        return self.lookup(node.id, node)

    def lookup(self, name, node):
        if name in self.env:
            return self.env[name]
        if name in self.scope:
            obj = self.scope[name]
            globs = self.module_globals
            if globs is not None and name in globs:
                self.referenced[(id(globs), name)] = (globs, name, obj)
            if isinstance(obj, np.ndarray):
                if obj.dtype.kind not in "fiub":
                    self.fail(f"module-level array {name!r} has unsupported dtype {obj.dtype}",
                              UnsupportedFunction, node)
                key = (id(obj), name)
                if key not in self.named_consts:
                    self.named_consts[key] = Const(obj, name)
                return self.named_consts[key]
            return obj
        if name in SAFE_BUILTINS:
            return getattr(builtins, name)
        if hasattr(builtins, name):
            self.fail(f"builtin {name}() is not supported in compiled functions", UnsupportedFunction, node)
        self.fail(f"name {name!r} is not defined (gradc resolves arguments, local variables and "
                  "module-level constants and functions)", NameResolutionError, node)

    def expr_Tuple(self, node):
        return tuple(self.expr(e) for e in node.elts)

    def expr_List(self, node):
        return [self.expr(e) for e in node.elts]

    def expr_Slice(self, node):
        parts = [None if p is None else self.static(self.expr(p), "slice bound")
                 for p in (node.lower, node.upper, node.step)]
        return slice(*parts)

    def expr_Attribute(self, node):
        obj = self.expr(node.value)
        attr = node.attr
        if isinstance(obj, Value):
            if attr == "T":
                return self.bind("transpose", obj, axes=None)
            if attr in ("shape", "ndim", "size", "dtype"):
                return {"shape": obj.shape, "ndim": obj.ndim, "size": obj.aval.size,
                        "dtype": obj.dtype}[attr]
            if attr in numpy_table.METHODS:
                return _Method(obj, attr)
            self.fail(f"array attribute or method '.{attr}' is not supported", UnsupportedFunction, node)
        if isinstance(obj, types.ModuleType) or isinstance(obj, (np.ndarray, np.generic, int, float, tuple)):
            try:
                return getattr(obj, attr)
            except AttributeError:
                owner = obj.__name__ if isinstance(obj, types.ModuleType) else _describe(obj)
                self.fail(f"{owner} has no attribute {attr!r}", NameResolutionError, node)
        self.fail(f"attribute access on {_describe(obj)} is not supported", UnsupportedSyntax, node)

    def expr_Subscript(self, node):
        obj = self.expr(node.value)
        index = self.expr(node.slice)
        if isinstance(index, list) or not self.is_static(index) or (
                isinstance(index, tuple) and not all(self.is_static(i) for i in index)):
            self.fail("indexing with an array computed from the arguments is not supported yet; "
                      "use constant, slice or loop-index subscripts", UnsupportedSyntax, node.slice)
        index = self.value(index)
        if isinstance(obj, Value):
            idx = index if isinstance(index, tuple) else (index,)
            idx = tuple(self.value(i) for i in idx)
            for i in idx:
                if isinstance(i, np.ndarray):
                    self.fail("indexing with an integer or boolean array is not supported yet",
                              UnsupportedSyntax, node.slice)
            return self.bind("getitem", obj, index=idx)
        try:
            return obj[index]
        except (TypeError, IndexError, KeyError) as e:
            self.fail(f"cannot index {_describe(obj)}: {e}", UnsupportedSyntax, node)

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
            return pyop(left, right)
        if prim is None:
            self.fail(f"operator '{type(op).__name__}' is not differentiable and not supported on arrays",
                      UnsupportedSyntax, node)
        self.node = node
        return self.bind(prim, left, right)

    def expr_UnaryOp(self, node):
        x = self.expr(node.operand)
        if isinstance(node.op, ast.UAdd):
            return x
        if self.is_static(x) and not isinstance(x, Const):
            return {ast.USub: operator.neg, ast.Not: operator.not_, ast.Invert: operator.invert}[type(node.op)](x)
        if isinstance(node.op, ast.USub):
            return self.bind("neg", x)
        self.fail(f"unsupported unary operator '{type(node.op).__name__}' on an array",
                  UnsupportedSyntax, node)

    def expr_Compare(self, node):
        if len(node.ops) != 1:
            values = [self.expr(node.left)] + [self.expr(c) for c in node.comparators]
            if all(self.is_static(v) and not isinstance(v, Const) for v in values):
                return all(COMPARES[type(o)][1](a, b) for o, a, b in zip(node.ops, values, values[1:]))
            self.fail("chained comparisons of arrays are not supported; combine with &",
                      UnsupportedSyntax, node)
        left, right = self.expr(node.left), self.expr(node.comparators[0])
        op = node.ops[0]
        if isinstance(op, (ast.Is, ast.IsNot, ast.In, ast.NotIn)):
            if self.is_static(left) and self.is_static(right):
                return {ast.Is: operator.is_, ast.IsNot: operator.is_not,
                        ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}[type(op)](left, right)
            self.fail(f"'{type(op).__name__}' on arrays is not supported", UnsupportedSyntax, node)
        prim, pyop = COMPARES[type(op)]
        if self.is_static(left) and self.is_static(right) and not (
                isinstance(left, Const) or isinstance(right, Const)):
            return pyop(left, right)
        self.node = node
        return self.bind(prim, left, right)

    def expr_BoolOp(self, node):
        values = []
        for v in node.values:
            x = self.expr(v)
            if not self.is_static(x):
                self.fail("'and'/'or' on arrays is not supported: use & and | on comparisons, "
                          "or np.where", UnsupportedSyntax, node)
            values.append(self.value(x))
            truth = bool(values[-1])
            if isinstance(node.op, ast.And) and not truth or isinstance(node.op, ast.Or) and truth:
                return values[-1]
        return values[-1]

    def expr_IfExp(self, node):
        if self.condition(node.test, "conditional expression"):
            return self.expr(node.body)
        return self.expr(node.orelse)

    def expr_Call(self, node):
        fn = self.expr(node.func)
        for a in node.args:
            if isinstance(a, ast.Starred):
                self.unsupported(a)
        args = [self.expr(a) for a in node.args]
        kwargs = {}
        for k in node.keywords:
            if k.arg is None:
                self.fail("unsupported construct '**kwargs in a call'", UnsupportedSyntax, node)
            kwargs[k.arg] = self.expr(k.value)
        self.node = node
        return self.call(fn, args, kwargs, node)

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
        lower = numpy_table.lookup(fn)
        operands = (*args, *kwargs.values())
        traced = any(not self.is_static(a) for a in operands)  # computed from the arguments
        if lower is not None and (traced or fn in numpy_table.ALWAYS_LOWER
                                  or any(isinstance(a, Const) for a in operands)):
            return lower(self, args, kwargs)  # on constants, the builder folds it
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
            return len(x)
        if fn is abs:
            x = args[0]
            return self.bind("abs", x) if isinstance(x, Value) else abs(x)
        if fn is sum and args and isinstance(args[0], (list, tuple)) and not kwargs:
            total = args[1] if len(args) > 1 else 0
            for item in args[0]:
                total = self.binop(ast.Add(), total, item, node)
            return total
        if fn in (min, max, float, round, tuple, list, zip, enumerate, reversed) and traced:
            hint = {min: " (use np.minimum or np.min)", max: " (use np.maximum or np.max)"}.get(fn, "")
            self.fail(f"builtin {fn.__name__}() of an array computed from the arguments is not "
                      f"supported{hint}", UnsupportedFunction, node)
        if fn in (range, min, max, float, int, bool, tuple, list, zip, enumerate, reversed, round):
            if traced:
                self.fail(f"unsupported construct '{fn.__name__}() of an array': values computed from "
                          "the function's array arguments cannot decide loop bounds or other compile-time "
                          "quantities; data-dependent control flow is not supported yet (a later version "
                          "will support it)", DataDependentControlFlow, node)
            return self._static_call(fn, args, kwargs, node)
        if isinstance(fn, types.FunctionType):
            return self.inline(fn, args, kwargs, node)
        self.fail(f"call to {_qualname(fn)} is not supported (see docs/supported-subset.md)",
                  UnsupportedFunction, node)

    def _static_call(self, fn, args, kwargs, node):
        try:
            return fn(*[self.value(a) for a in args], **{k: self.value(v) for k, v in kwargs.items()})
        except Exception as e:  # the user's own call on constants failed: report it at their line
            self.fail(f"{_qualname(fn)}(...) failed at compile time: {type(e).__name__}: {e}",
                      SignatureError, node)

    def inline(self, fn, args, kwargs, node):
        """A call to a module-level helper: lower its body in place."""
        if fn.__code__ in self.stack:
            self.fail(f"recursive call to {fn.__name__}() is not supported", UnsupportedSyntax, node)
        src = parse_function(fn)
        try:
            bound = inspect.signature(fn).bind(*args, **kwargs)
        except TypeError as e:
            self.fail(f"bad call to {fn.__name__}(): {e}", SignatureError, node)
        bound.apply_defaults()
        inner = Lowering.for_function(src, self.b, self.stack, self.named_consts)
        check_body(src)
        result = inner.run(dict(bound.arguments))
        self.referenced.update(inner.referenced)
        return result




@dataclass
class _Method:
    obj: Value
    name: str


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


def _target_kind(t) -> str:
    return {ast.Subscript: "an item or slice (x[i] = ...)", ast.Attribute: "an attribute"}.get(
        type(t), type(t).__name__)


def check_body(src: Source):
    """Reject constructs that are never supported, wherever they are (even in untaken branches)."""
    for node in ast.walk(src.tree):
        if node is src.tree:
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.DictComp, ast.SetComp, ast.GeneratorExp,
                             ast.Yield, ast.YieldFrom, ast.Await, ast.Global, ast.Nonlocal,
                             ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.NamedExpr)):
            name = CONSTRUCT_NAMES.get(type(node), type(node).__name__)
            raise UnsupportedSyntax(f"unsupported construct '{name}'", src.loc(node))


def bind_arguments(specs: list[ArgSpec]) -> tuple[list[Value], dict[str, object]]:
    """Program inputs for the "input" specs, and every argument's binding by name
    (an input Value, or the compile-time value of a static argument)."""
    inputs, bound = [], {}
    for spec in specs:
        if spec.kind == "input":
            v = Value(spec.aval, spec.name)
            v.pytype = spec.pytype
            inputs.append(v)
            bound[spec.name] = v
        else:
            bound[spec.name] = spec.value
    return inputs, bound


def lower(fn, specs: list[ArgSpec], wrt: tuple[int, ...]) -> tuple[Program, dict]:
    """Lower `fn` for the given argument specs. Returns the program and the
    module-level names it read (so a cache can tell when they are rebound)."""
    src = parse_function(fn)
    check_body(src)
    builder = Builder(rewrite=rewrite)
    inputs, bound = bind_arguments(specs)
    lw = Lowering.for_function(src, builder)
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
                      {s.name: s.value for s in specs if s.kind == "static"})
    return program, lw.referenced


def _return_node(src: Source):
    for node in ast.walk(src.tree):
        if isinstance(node, ast.Return):
            return node
    return src.tree
