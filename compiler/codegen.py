"""Program → Python/NumPy source. Deterministic: the same program gives the same bytes.

One statement per forward value (v1, v2, ... as in the SSA listing), then the
reverse sweep; an adjoint value is named after the value it is the adjoint of
(v3_bar). Temporaries of a derivative rule used once are written inline, so
`v1_bar = v3_bar * v3 * (1 - v3)` reads like the lecture's equation. The first
contribution to an adjoint assigns it; later ones accumulate with `+=` when the
target is an array this function allocated (never an input, a view or a constant).
Likewise an elementwise op writes its result into such an operand that nothing reads
afterwards (`v4 = np.subtract(v2, v3, out=v2)`: one array fewer at the peak, no new
pages), and `np.where(k, x, 0)` on large arrays is `where_zero(k, x)` (its bits, without
a branch per element). A Python-float argument that only meets float64 NumPy values stays
a Python float (`weak_floats`: NEP 50 gives the same numbers without a conversion per call).
"""
from __future__ import annotations

import contextvars
import inspect
import itertools
import textwrap
from dataclasses import dataclass, field

import numpy as np

from gradc.runtime import support

from .ir import Const, Op, Program, Value
from .regions import is_fresh
from .syntax import (Expr, Namespace, call, comment_text, docstring_text, float_text, index_text, is_identifier,
                     key_text, literal)
from .syntax import normal as normal_name

INLINE_ARRAY_LIMIT = 16  # constant arrays up to this size are written into the source
# Every array a function makes is deleted after its last read, so memory follows the sweep;
# only 0-d values (a NumPy scalar: not worth a statement) and arrays read last by the
# function's final statement (its return frees them) are left to the return.
FREE_BYTES = 1  # arrays at least this large (with at least one dimension) are freed

# The array library the code is generated for: None is NumPy (this module's spellings). Another
# backend (compiler/backends/) sets a Flavour while it generates: its own spellings of primitives,
# scalars and loop stacks, whether `x_bar += c` is allowed, how a gradient leaf is returned.
FLAVOUR: contextvars.ContextVar = contextvars.ContextVar("gradc_codegen_flavour", default=None)


@dataclass
class Statement:
    op: Op
    target: str
    expr: str
    augmented: bool = False  # `target += expr`
    frees: tuple[str, ...] = ()  # names to `del` after this statement (large, no longer read)
    subscript: str = ""  # `target[index] += expr`: a scattered contribution added in place
    loop: "LoopBlock | None" = None  # a loop op: written as a for statement (see LoopBlock)
    cond: "CondBlock | None" = None  # a cond op: written as an if statement (see CondBlock)
    wloop: "WhileBlock | None" = None  # a while or unwind op (see WhileBlock)

    @property
    def lhs(self) -> str:
        return self.target + self.subscript

    @property
    def results(self) -> dict | None:
        """Names a loop or if statement binds for its results (None for an assignment)."""
        block = self.loop or self.cond or self.wloop
        return block.results if block is not None else None


@dataclass
class LoopBlock:
    """A loop op as statements: `target = init` for each carry, a preallocated stack for
    each per-iteration result, then `for index in range(...):` over the body's statements,
    each stack row written and the carries rebound at the end of the iteration."""
    inits: list  # (name, expr)
    stacks: list  # (name, shape, dtype)
    header: str  # `range(...)` text
    index: str
    body: list  # Statements of the body
    writes: list  # (stack name, expr)
    carries: list  # (name, expr)
    results: dict  # result Value -> name
    # per-iteration results stacked one row off into a buffer with one more row, whose extra
    # row is a carry's initial value (the buffer is then the carry at the start of each
    # iteration and, shifted by one, the stack): result position j -> (buffer name,
    # initial value, the row it fills: 0, or T for a loop run last iteration first)
    shifted: dict = field(default_factory=dict)


@dataclass
class CondBlock:
    """A cond op as statements: `if test:`, each branch's statements, then its values
    assigned to the names the results have after the if (one set of names for both)."""
    test: str
    branches: list  # per branch (true, then false): (Statements, [(result name, expr)])
    results: dict  # result Value -> name


@dataclass
class WhileBlock:
    """A while op as statements: the carries bound, an iteration counter and a tape list
    when something reads them, then `while True:` over the condition's statements,
    `if not test: break`, the body, the tape row appended, the carries rebound and the
    counter advanced (`while test:` when the condition is one expression). An unwind op:
    `for k in range(n - 1, -1, -1):` reading row k of the tape, over the body."""
    inits: list  # (name, expr)
    count: str | None  # the trip count's name (forward) or expression (unwind)
    tape: str | None  # the tape list's name
    cond: list  # Statements of the condition (forward)
    test: str  # the condition's value (forward)
    body: list  # Statements of the body
    appends: list  # exprs appended to the tape per iteration (forward)
    carries: list  # (name, expr)
    results: dict  # result Value -> name
    index: str | None = None  # unwind: the iteration number
    rows: list | None = None  # unwind: names of the tape row's items


class BodyNaming:
    """Names inside a loop body: the body's inputs are spelled as the enclosing code binds
    them (carries, rows of stacked inputs, invariants); everything else comes from the
    enclosing function's namespace, adjoint names in a key space of their own so a body's
    partial adjoint never takes the name of a value the enclosing code still holds."""

    def __init__(self, parent, body: Program, bound: dict, tag):
        self.parent, self.program, self.bound, self.tag = parent, body, bound, tag
        self.style, self.numbers, self.const_names = parent.style, parent.numbers, parent.const_names
        self.space = parent.space

    def __getattr__(self, name):  # fresh(), ... behave as the enclosing naming's
        return getattr(self.parent, name)

    def base(self, v: Value) -> str:
        if v in self.bound:
            return self.bound[v]
        return Naming.base(self, v)

    def _spell(self, key, preferred: str) -> str:
        if self.space is None:
            return preferred
        if key[0] == "value":
            return self.space.name(key, preferred)
        return self.space.name((self.tag, key), preferred)

    def dot(self, v):
        return self._marked(v, "_dot", "\u0307")

    def bar(self, v):
        return self._marked(v, "_bar", "\u0304")

    def _marked(self, v, suffix, accent):
        text = self.bound.get(v)
        if text is not None and not is_identifier(text):  # a row X[t]: X_row_bar, not X[t]_bar
            if self.style == "python":
                return self._spell((suffix, v), f"{v.name or 'row'}{suffix}")
            return f"{v.name or 'row'}{accent}"
        return Naming._mark(self, v, suffix, accent)

    @property
    def _temps(self):
        return self.parent._temps

    @_temps.setter
    def _temps(self, n):
        self.parent._temps = n


class Naming:
    """How values are spelled: Python identifiers (codegen) or v-notation (listing).

    In Python style every name a function binds comes from one Namespace: the inputs
    first (the user's argument names, kept when free), then v1, v2, ..., adjoints
    (`v3_bar`, `W_bar`) and temporaries as the code generator asks for them. Names the
    body reads from the module (np, helpers, constants) are never handed out, so no
    user name can shadow them and no generated name can clobber a user's."""

    def __init__(self, program: Program, style: str = "python", consts: dict | None = None,
                 entry: "Entry | None" = None, helpers: dict | None = None, reserved=()):
        self.style = style
        self.entry = entry
        self.numbers = program.numbering()
        self.program = program
        self.const_names = consts if consts is not None else const_names(program)
        self.helpers = dict(helpers or {})  # helper → its name in this module, where it had to yield
        self._temps = 0
        self.space = None
        if style == "python":
            used = helpers_used(program)
            reads = {"np", *BUILTINS_READ, *used, *(self.helpers.get(h, h) for h in used),
                     *self.const_names.values(), *reserved}
            self.space = Namespace(reads)
            self._claim_inputs(program)

    def _claim_inputs(self, program: Program) -> None:
        entry = self.entry
        if entry is not None:  # the user's parameter names first: the function's signature
            whole = {param: k for k, (param, path) in enumerate(entry.access) if not path}
            for param in entry.param_names():
                key = ("value", program.inputs[whole[param]]) if param in whole else ("param", param)
                got = self.space.name(key, param)
                assert got == param, (got, param)  # Entry.usable checked it
        for i, v in enumerate(program.inputs):
            if v.adjoint_of is None and v.tangent_of is None:
                self.space.name(("value", v), v.name, f"a{i}")

    def _spell(self, key, preferred: str) -> str:
        return preferred if self.space is None else self.space.name(key, preferred)

    def fresh(self, name: str, holder) -> str:
        """Another name for the variable `name` while its old value is still live."""
        if self.space is None:
            return _fresh(name, holder)
        return self.space.version(name, holder)

    def base(self, v: Value) -> str:
        if v.adjoint_of is not None:
            return self.bar(v.adjoint_of)
        if v.tangent_of is not None:
            return self.dot(v.tangent_of)
        k = self.numbers.get(v)
        if k is None:
            if self.space is not None and self.space.get(("value", v)) is not None:
                return self.space.get(("value", v))
            self._temps += 1
            return self._spell(("value", v), f"t{self._temps}") if self.style == "python" \
                else f"t_{self._temps}"
        if self.style == "python":
            return self._spell(("value", v), v.name if k <= 0 else f"v{k}")
        return f"v_{k}"

    def dot(self, v: Value) -> str:
        return self._mark(v, "_dot", "\u0307")

    def bar(self, v: Value) -> str:
        return self._mark(v, "_bar", "\u0304")

    def _mark(self, v: Value, suffix: str, accent: str) -> str:
        """v3_bar / v̄_3; of a value with no v-number (an adjoint's adjoint): its own name, marked."""
        k = self.numbers.get(v)
        if k is None:
            inner = self.base(v)
            return self._spell((suffix, v), f"{inner}{suffix}") if self.style == "python" \
                else f"{inner}{accent}"
        if self.style == "python":
            return self._spell((suffix, v), f"{self.base(v)}{suffix}")
        return f"v{accent}_{k}"


@dataclass(frozen=True)
class GradLeaf:
    """Where a gradient goes in an Entry's result: the k-th gradient output (a Python
    float when its argument leaf was one)."""

    index: int
    as_float: bool = False
    kind: object = None  # ("scalar", dtype name): a NumPy scalar; ("array0", dtype name): a 0-d array

    def wrap(self, text: str) -> str:
        """The gradient as its argument's type: a Python float, a NumPy scalar or a 0-d array."""
        flavour = FLAVOUR.get()
        if flavour is not None:
            return flavour.wrap(self, text)
        if self.as_float:
            return f"float({text})"
        if self.kind is not None and self.kind[0] == "scalar":
            return f"np.{self.kind[1]}({text})"
        if self.kind is not None and self.kind[0] == "array0":
            return f"np.asarray({text}, dtype=np.{self.kind[1]})"
        return text


NO_DEFAULT = inspect.Parameter.empty


@dataclass(frozen=True)
class Entry:
    """The user's signature for a module's entry functions, so a saved module is called
    exactly like the loss: `params` is the signature's parameters, (kind, name, default)
    with kind an inspect.Parameter kind; `access` says where each program input comes
    from, (parameter name, path of keys/indices: () for the argument itself); `grads` is
    the gradients' structure, containers holding GradLeafs (None: the value function)."""

    params: tuple
    access: tuple
    grads: object = None
    wrt_names: tuple = ()
    checks: tuple = ()  # (parameter, path, value): compile-time values the code was specialised to
    # (parameter, path, type name, dict keys or length): the containers it was specialised to
    structure: tuple = ()
    # per program input (as `access`): ("float",), ("scalar", dtype name) or ("array", shape, dtype name)
    kinds: tuple = ()
    result: str | None = None  # the Python type of a 0-d result, as NumPy gives it (Program.result)

    def param_names(self) -> list[str]:
        return [name for _, name, _ in self.params]

    def usable(self, *programs: Program) -> bool:
        """Whether every parameter can keep its name in the generated functions (it must be an
        identifier gradc may bind and not one the module's code reads: np, helpers)."""
        taken = {"np", "os", "_consts", *HELPERS, *helpers_used(*programs), *BUILTINS_READ}
        return all(is_identifier(n) and n not in taken and n == normal_name(n) for n in self.param_names())

    def for_value(self) -> "Entry":
        return Entry(self.params, self.access, None, self.wrt_names, self.checks, self.structure,
                     self.kinds, self.result)

    def signature_text(self, consts: dict | None = None) -> str:
        return ", ".join(self.signature_parts(consts))

    def default_arrays(self) -> list[tuple[str, np.ndarray]]:
        """(name hint, array) for each array in a default too large to write inline, once each:
        module-level constants (`const_names`), so the signature can name them."""
        out, seen = [], set()
        for _, name, default in self.params:
            for a in _default_leaves(default) if default is not NO_DEFAULT else ():
                if _writable_dtype(a.dtype) and a.size > INLINE_ARRAY_LIMIT and id(a) not in seen:
                    seen.add(id(a))
                    out.append((f"{name}_default", a))
        return out

    def unwritable_defaults(self) -> list[str]:
        """The parameters whose default a module cannot write (an object that is not a number,
        string, NumPy scalar or array of numbers, or a container of those)."""
        return [name for _, name, d in self.params
                if d is not NO_DEFAULT and default_text(d, lambda a: "_") is None]

    def signature_parts(self, consts: dict | None = None) -> list[str]:
        """The parameters as the user wrote them, defaults included; `consts` (Const → the
        name of a module-level constant: `const_names(..., entry=self)`) names the large
        arrays in defaults. A default no module can write (`unwritable_defaults`: save refuses
        those) is left out, with every positional default before it."""
        P = inspect.Parameter
        params = list(self.params)
        arrays = {id(c.value): n for c, n in (consts or {}).items()}
        defaults = [default_text(d, lambda a: arrays.get(id(a))) if d is not NO_DEFAULT else None
                    for _, _, d in params]
        positional = [i for i, (kind, _, _) in enumerate(params)
                      if kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
        # A positional parameter without a (writable) default ends the defaults before it.
        for i in positional:
            if defaults[i] is None:
                for j in positional:
                    if j < i:
                        defaults[j] = None
        parts, star = [], False
        for i, (kind, name, _) in enumerate(params):
            if kind == P.KEYWORD_ONLY and not star:
                parts.append("*")
                star = True
            if kind == P.VAR_POSITIONAL:
                parts.append(f"*{name}")
                star = True
            elif kind == P.VAR_KEYWORD:
                parts.append(f"**{name}")
            else:
                parts.append(name if defaults[i] is None else f"{name}={defaults[i]}")
            if kind == P.POSITIONAL_ONLY and (i + 1 == len(params) or params[i + 1][0] != P.POSITIONAL_ONLY):
                parts.append("/")
        return parts

    def call_parts(self) -> list[str]:
        """The arguments that pass this signature's parameters on unchanged."""
        P = inspect.Parameter
        return [f"*{name}" if kind == P.VAR_POSITIONAL else f"**{name}" if kind == P.VAR_KEYWORD
                else f"{name}={name}" if kind == P.KEYWORD_ONLY else name
                for kind, name, _ in self.params]

    def checking_function(self, cname: str, module: str, consts: dict | None = None) -> str | None:
        """`def cname(...)`: the containers, shapes, dtypes and compile-time values the module
        was generated for, refused otherwise with a ValueError naming the argument. One
        function both entry points call, so each of them starts with one line, not dozens."""
        body = (self.structure_lines(module) + self.check_lines(module) + self.input_lines(module))
        if not body:
            return None
        params = self.signature_parts(consts)
        head = f"def {cname}({', '.join(params)}):"
        if len(head) > 96:
            head = "\n".join([f"def {cname}("] + [f"        {p}," for p in params] + ["):"])
        doc = '    """The arguments this module was generated for (it is specialised to them)."""'
        return "\n".join([head, doc] + body)

    def structure_lines(self, fname: str) -> list[str]:
        """Refuse containers other than those the code was generated for (their type, dict
        keys in order, lengths): before any leaf is read."""
        lines = []
        for param, path, kind, shape in self.structure:
            where = f"{param}{''.join(f'[{key_text(k)}]' for k in path)}"
            if kind == "dict":
                keys = "[" + ", ".join(key_text(k) for k in shape) + "]"
                test, want = f"type({where}) is not dict or list({where}) != {keys}", f"a dict with keys {keys}"
            else:
                test, want = (f"type({where}) is not {kind} or len({where}) != {int(shape)}",
                              f"a {kind} of length {int(shape)}")
            message = key_text(f"{fname} was generated for {where}: {want}")
            lines += [f"    if {test}:", f"        raise ValueError({message})"]
        return lines

    def input_lines(self, fname: str) -> list[str]:
        """Refuse arrays of other shapes or dtypes (and other kinds of numbers) than those
        the code was generated for."""
        lines = []
        for (param, path), kind in zip(self.access, self.kinds):
            where = f"{param}{''.join(f'[{key_text(k)}]' for k in path)}"
            if kind[0] == "float":  # exactly float: NumPy takes a subclass's instance for a strong float64
                test, want = f"type({where}) is not float", "a Python float (of type float)"
            elif kind[0] == "dask":  # ("dask", shape, dtype name, chunks): compiler/backends/dask.py
                shape, chunks = repr(tuple(kind[1])), repr(tuple(kind[3]))
                test = (f"not hasattr({where}, 'chunks') or {where}.shape != {shape} "
                        f"or {where}.dtype != np.{kind[2]} or {where}.chunks != {chunks} "
                        f"or type({where}._meta) is not np.ndarray")
                want = f"a Dask array of NumPy chunks, shape {shape}, dtype {kind[2]} and chunks {chunks}"
            elif kind[0] == "scalar":  # by dtype (np.longlong is an int64 scalar of another type)
                test = f"not isinstance({where}, np.generic) or {where}.dtype != np.{kind[1]}"
                want = f"a NumPy {kind[1]} scalar"
            else:
                shape = repr(tuple(int(n) for n in kind[1]))
                test = (f"type({where}) is not np.ndarray or {where}.shape != {shape} "
                        f"or {where}.dtype != np.{kind[2]}")
                want = f"an array of shape {shape} and dtype {kind[2]}"
            message = key_text(f"{fname} was generated for {where}: {want}")
            lines += [f"    if {test}:", f"        raise ValueError({message})"]
        return lines

    def check_lines(self, fname: str) -> list[str]:
        """Refuse compile-time values other than those the code was generated for."""
        lines = []
        for param, path, value in self.checks:
            where = f"{param}{''.join(f'[{key_text(k)}]' for k in path)}"
            want = default_text(value, lambda a: None)
            if want is None:  # not writable as a literal (an int subclass, ...): not checked
                continue
            test = f"{where} is not None" if value is None else \
                f"type({where}) is not {type(value).__name__} or {where} != {want}" \
                if type(value) in (bool, int, float, str) else f"{where} != {want}"
            message = key_text(f"{fname} was generated for {where}={want}")
            lines += [f"    if {test}:", f"        raise ValueError({message})"]
        return lines

    def gradient_text(self, texts: list[str], split: bool = False) -> str:
        """The gradients as a display of their structure; `split` lays a display too long
        for one line out with one item per line (nested ones too, as far as needed)."""
        def parts(t):
            if type(t) is dict:
                return [(f"{key_text(k)}: ", v) for k, v in t.items()], "{}"
            if type(t) in (list, tuple):
                return [("", v) for v in t], "[]" if type(t) is list else "()"
            raise TypeError(f"not a gradient structure: {t!r}")

        def text(t):
            if isinstance(t, GradLeaf):
                return t.wrap(texts[t.index])
            items, brackets = parts(t)
            inner = [prefix + text(v) for prefix, v in items]
            if brackets == "()" and len(inner) == 1:
                return f"({inner[0]},)"
            return f"{brackets[0]}{', '.join(inner)}{brackets[1]}"

        def laid_out(t, indent, used):
            one = text(t)
            if isinstance(t, GradLeaf) or used + len(one) <= 96:
                return one
            items, brackets = parts(t)
            if not items:
                return one
            pad = " " * (indent + 4)
            body = "".join(f"\n{pad}{prefix}{laid_out(v, indent + 4, len(pad) + len(prefix))},"
                           for prefix, v in items)
            return f"{brackets[0]}{body}\n{' ' * indent}{brackets[1]}"

        return laid_out(self.grads, 4, 97 if split else 0) if split else text(self.grads)


def default_text(value, array_name, depth: int = 0) -> str | None:
    """A parameter's default as source that reads back as an equal value of the same type:
    Python literals; NumPy scalars as `np.float32(0.1)` (the exact value: repr of a double
    round-trips it); arrays of numbers bit for bit, inline up to INLINE_ARRAY_LIMIT entries,
    larger ones by `array_name(a)` (a module-level constant: None when the module has none);
    dicts, lists and tuples of those. None for anything else (no source can make it)."""
    t = type(value)
    if t is str:
        return key_text(value)
    if t is bytes:
        return repr(value)
    if t in (bool, int, float) or value is None:
        return literal(value).text
    if isinstance(value, np.generic):
        spelling = "bool_" if t is np.bool_ else t.__name__  # np.int64, np.longlong, ...: its own type
        if getattr(np, spelling, None) is not t or not _writable_dtype(value.dtype) \
                or not _literal_exact(np.asarray(value)):
            return None  # (a subclass; a NaN with another payload than np.nan's)
        return f"np.{spelling}({literal(value.item()).text})"
    if depth >= MAX_DEFAULT_DEPTH:  # (and cycles)
        return None
    if t is np.ndarray:
        if not _writable_dtype(value.dtype):
            return None
        if value.size > INLINE_ARRAY_LIMIT:
            return array_name(value)
        return array_literal(value) if _literal_exact(value) else None
    if t in (tuple, list):
        items = [default_text(v, array_name, depth + 1) for v in value]
        if any(i is None for i in items):
            return None
        if t is tuple and len(items) == 1:
            return f"({items[0]},)"
        return ("({})" if t is tuple else "[{}]").format(", ".join(items))
    if t is dict:
        if not all(type(k) in (str, int) for k in value):
            return None
        items = [default_text(v, array_name, depth + 1) for v in value.values()]
        if any(i is None for i in items):
            return None
        return "{" + ", ".join(f"{key_text(k)}: {i}" for k, i in zip(value, items)) + "}"
    return None  # an instance of a class, a function, a set, an enum, ...


MAX_DEFAULT_DEPTH = 64  # containers in a default nested deeper than this are not written


def _writable_dtype(dtype: np.dtype) -> bool:
    """Numbers NumPy scalars and array literals write exactly: bool, integers, float16/32/64."""
    return dtype.kind in "biuf" and dtype.isnative and not (dtype.kind == "f" and dtype.itemsize > 8)


def _literal_exact(a: np.ndarray) -> bool:
    """Whether the literal of `a`'s numbers reads back bit for bit: all but a NaN whose payload
    is not NumPy's own (np.nan, -np.nan)."""
    if a.dtype.kind != "f":
        return True
    nan = np.isnan(a)
    if not nan.any():
        return True
    own = np.copysign(np.full(a.shape, np.nan, dtype=a.dtype), np.where(np.signbit(a), -1.0, 1.0).astype(a.dtype))
    return a[nan].tobytes() == own[nan].tobytes()


def _default_leaves(value, depth: int = 0):
    """The arrays inside a default (through dicts, lists and tuples)."""
    if type(value) is np.ndarray:
        yield value
    elif type(value) in (tuple, list, dict) and depth < MAX_DEFAULT_DEPTH:
        for v in (value.values() if type(value) is dict else value):
            yield from _default_leaves(v, depth + 1)


def scalar_literal(value) -> Expr:
    """A scalar constant operand as source: a Python number stays a Python literal (weak
    under NEP 50, as in the source); a NumPy scalar keeps its type, np.float64(0.5) or
    np.int64(3) (strong: float16 data / np.int64(3) is float64 in NumPy)."""
    if isinstance(value, np.generic):
        return Expr(f"np.{value.dtype.name}({literal(value.item()).text})")
    return literal(value)


def const_names(*programs: Program, avoid=(), entry: "Entry | None" = None) -> dict[Const, str]:
    """One name per array constant across all the programs of a module, and (after them)
    per large array in the `entry`'s defaults (`def loss(w, A=A_default)`).

    Module-level names are allocated from one Namespace: gradc's own (np, os, _consts,
    the helpers) are never handed out; the functions' names and argument names are
    avoided so a user's function and arguments keep their names; each constant keeps
    its own name when that is still free."""
    fixed = {"np", "os", "_consts", *HELPERS, *helpers_used(*programs)}
    avoid = {n for p in programs for n in (p.name, f"{p.name}_value_and_grad")} | set(avoid)
    avoid |= {v.name for p in programs for v in p.inputs if isinstance(v.name, str)}
    if entry is not None:
        avoid |= set(entry.param_names())
    space = Namespace(fixed | {n for n in avoid if is_identifier(n)})
    consts = list({c.uid: c for p in programs for c in p.consts()}.values())
    consts += [Const(a, hint) for hint, a in (entry.default_arrays() if entry is not None else ())]
    return {c: space.name(("const", c.uid), c.name or f"c{i}", f"c{i}") for i, c in enumerate(consts, 1)}


def entry_names(wanted: list[str], programs, consts: dict, extra=()) -> dict[str, str]:
    """Module-level names for the functions a module defines: each as the runtime asks
    for it when that is free (np, the helpers and the constants are the module's own)."""
    space = Namespace({"np", *extra, *helpers_used(*programs), *consts.values()})
    return {w: space.name(("function", w), w, "f_value_and_grad" if w.endswith("_value_and_grad") else "f")
            for w in wanted}


def module_names(wanted: list[str], programs, consts: dict, extra=()) -> tuple[dict, dict]:
    """Module-level names for the functions a module defines, as (entry points, helpers).
    The entry points (the functions the module exists to provide) keep the names the
    runtime and the user ask for; only np and the module's own imports come before them
    (constants avoid them already: `const_names`). A helper (gradc's or a user primitive's)
    named like one yields: `loss_value_and_grad_2`, renamed where it is defined and called."""
    fixed = {"np", *extra}
    space = Namespace(fixed)
    entries = {w: space.name(("function", w), w, "f_value_and_grad" if w.endswith("_value_and_grad") else "f")
               for w in wanted}
    for c in consts.values():
        space.name(("const", c), c)
    helpers = {h: space.name(("helper", h), h) for h in helpers_used(*programs)}
    return entries, helpers


def entry_points_text(names: dict[str, str]) -> str:
    """The line telling gradc's loader which function stands for a name that was taken."""
    moved = {k: v for k, v in names.items() if k != v}
    if not moved:
        return ""
    return ("# Functions whose requested names are taken here, for gradc's loader.\n"
            f"__gradc_entry_points__ = {{{', '.join(f'{k!r}: {v!r}' for k, v in moved.items())}}}")


# The builtins and module-level names generated code reads (its checks, loops, round() of a
# Python float, the scalar modules' math code and their helpers): a parameter of one of these
# names would shadow it, so such a signature is not kept (the functions take the program's
# inputs instead). tests/test_codegen_names.py checks that generated code reads no other builtin.
BUILTINS_READ = frozenset({
    "type", "isinstance", "float", "int", "bool", "str", "len", "range", "tuple", "list", "dict", "map",
    "getattr", "hasattr", "abs", "min", "max", "sum", "enumerate", "zip", "iter", "next", "reversed", "round",
    "slice", "object", "ValueError", "ArithmeticError", "TypeError", "KeyError", "IndexError", "math",
    "numpy_errors_default"})

HELPERS = ("sigmoid", "softplus", "relu", "logsumexp", "softmax", "log_softmax", "scatter", "scatter_add",
           "gather_last", "index_set", "index_add", "where_zero")


def statements(program: Program, naming: Naming, emit=None) -> list[Statement]:
    """Straight-line statements for `program`, with adjoint temporaries inlined and
    large intermediates released (`del`) as soon as nothing reads them any more.
    `emit(op, operands)` spells an op (default: its primitive's NumPy spelling)."""
    uses = program.use_counts()
    outputs = set(program.outputs)
    regions = ("loop", "cond", "loop_result", "while", "unwind")
    loop_reads = {v for op in program.ops if op.prim.name in regions for v in op.inputs}

    def inlined(op: Op) -> bool:
        v = op.out
        return (op.sweep != "forward" and v.adjoint_of is None and v.tangent_of is None
                and uses.get(v, 0) == 1 and v not in outputs and v not in loop_reads
                and op.prim.name not in regions)

    # Where each value is last read, counting a read inside an inlined temporary at the
    # statement that evaluates it: a name must not be reused or freed before then.
    consumer: dict[Value, int] = {}
    for i, op in enumerate(program.ops):
        for v in op.inputs:
            consumer[v] = i
    at = list(range(len(program.ops)))
    for i in reversed(range(len(program.ops))):
        if inlined(program.ops[i]):
            at[i] = at[consumer[program.ops[i].out]]
    last_use: dict[Value, int] = {}
    for i, op in enumerate(program.ops):
        for v in op.inputs:
            last_use[v] = max(last_use.get(v, -1), at[i])
    for v in program.outputs:
        last_use[v] = len(program.ops)

    # Values by the statement that reads them last: the candidates to free there.
    last_read: dict[int, list[Value]] = {}
    for v, i in last_use.items():
        last_read.setdefault(i, []).append(v)

    exprs: dict[Value, Expr] = {}
    made = {op.out for op in program.ops}
    # Arrays a loop stacked (and views or shifts of them) are released after their last
    # read whatever their size: the generated code then has the same lines for any T.
    stacks: set[Value] = set()
    for op in program.ops:
        if op.prim.name == "loop_result" and op.inputs[0].producer.prim.name == "loop" \
                and op.params["index"] >= op.inputs[0].producer.params["n_carry"]:
            stacks.add(op.out)
        elif op.prim.name in ("getitem", "transpose", "concatenate") and any(v in stacks for v in op.inputs):
            stacks.add(op.out)

    def large(v: Value) -> bool:  # (a while loop's tape, a list, is released after its last read)
        return ((v.aval.ndim > 0 and v.aval.size * v.dtype.itemsize >= FREE_BYTES) or v in stacks
                or v.dtype == object)

    holder: dict[str, Value] = {}  # which value a name currently holds
    held: dict[Value, str] = {}  # the other way round
    order: dict[str, int] = {}  # when each held name was (re)bound into `holder`, for its order
    ticks = itertools.count()
    out: list[Statement] = []

    def hold(name: str, v: Value) -> None:
        old = holder.get(name)
        if old is None:
            order[name] = next(ticks)
        elif held.get(old) == name:
            del held[old]
        holder[name] = v
        held[v] = name

    final = len(program.ops) - 1 if not isinstance(naming, BodyNaming) else None  # (a loop body repeats)

    def release(i: int) -> None:
        """`del` the arrays this function made whose last read is statement i (not when the
        function returns right after it: that frees them as well)."""
        if i == final:
            return
        frees = [held[v] for v in last_read.get(i, ()) if v in held and v in made and large(v)]
        out[-1].frees = tuple(sorted(frees, key=order.__getitem__))
        for n in out[-1].frees:
            del held[holder.pop(n)]
            del order[n]

    for v in program.inputs:
        name = naming.base(v)
        exprs[v] = Expr(name)
        hold(name, v)

    flavour = FLAVOUR.get()
    # In-place results (`INPLACE_BYTES`) and `where_zero`: in generated NumPy code (not the
    # listings, traces and graphs, which show the program's ops), with the default spellings;
    # in place only in a function, not a loop body (whose values repeat).
    python_code = flavour is None and emit is None and naming.style == "python"
    reusable_ok = python_code and final is not None
    allocates = _allocating(program)

    def reuse(op: Op, i: int) -> str | None:
        """The name of an operand `op` can write its result into (`np.add(a, b, out=a)`),
        or None. Only when provably safe: the operand is an array this function allocated
        (`_allocating`: not an input, a constant or a view) that nothing else views, of
        the result's shape and dtype, not returned, and read by nothing after this op."""
        if not _in_place_op(op) or op.out.aval.size * op.out.dtype.itemsize < INPLACE_BYTES:
            return None
        for v in op.inputs:
            name = held.get(v)
            if (name is not None and v in allocates and v not in outputs and v.aval == op.out.aval
                    and last_use.get(v) == i and exprs.get(v) is not None and exprs[v].text == name):
                return name
        return None

    shifts = _shifted_tapes(program, uses) if python_code and not isinstance(naming, BodyNaming) else {}
    buffers: dict[Value, str] = {}  # a shifted tape's concatenate -> its buffer's view

    def operand(v: Value) -> Expr:
        if isinstance(v, Const):
            if v.is_scalar and flavour is not None:
                return flavour.scalar(v)
            return Expr(naming.const_names[v]) if not v.is_scalar else scalar_literal(v.value)
        return exprs[v]

    for i, op in enumerate(program.ops):
        if op.prim.name == "loop_result":
            continue  # named by its loop
        if op.prim.name in ("loop", "cond", "while", "unwind"):
            live_names = {n for n, v in holder.items() if last_use.get(v, -1) > i}
            if op.prim.name in ("while", "unwind"):
                block = _while_block(program, op, naming, operand, live_names)
                st = Statement(op, "", "", wloop=block)
            elif op.prim.name == "loop":
                shifted = {j: c for c, (loop, j) in shifts.items() if loop is op}
                block = _loop_block(program, op, naming, operand, live_names, set(shifted))
                for j, c in shifted.items():
                    buffer = block.shifted[j][0]
                    buffers[c] = (f"{buffer}[:-1]" if not op.params["reverse"] else f"{buffer}[1:]", buffer)
                st = Statement(op, "", "", loop=block)
            else:
                block = _cond_block(program, op, naming, operand, live_names)
                st = Statement(op, "", "", cond=block)
            for v, name in block.results.items():
                hold(name, v)
                exprs[v] = Expr(name)
            out.append(st)
            release(i)
            continue
        operands = [operand(v) for v in op.inputs] if op.out not in buffers else []
        if op.out in buffers:  # the carries at the start of each iteration: a view of the buffer
            expr = Expr(buffers[op.out][0])
        elif emit is not None:  # a caller's spelling (scalar programs: codegen_scalar.py)
            expr = emit(op, operands)
        elif flavour is not None:  # a backend's spelling (Dask, the array API: compiler/backends)
            expr = flavour.emit(op, operands)
        else:
            expr = op.prim.emit(*operands, **op.params)
        helper = op.prim.helper if emit is None else None
        if python_code and _where_zero(op):  # np.where(k, x, 0) without a branch per element
            x = _where_zero(op)
            expr = call("where_zero", operands[0], operands[x], *([] if x == 1 else [Expr("False")]))
            helper = "where_zero"
        if helper and naming.helpers.get(helper, helper) != helper:  # the helper yielded its name here
            assert expr.text.startswith(f"{helper}("), (helper, expr.text)
            expr = Expr(naming.helpers[helper] + expr.text[len(helper):], expr.prec)
        if inlined(op):
            exprs[op.out] = expr
            continue
        name = naming.base(op.out)
        prev = holder.get(name)
        if prev is not None and last_use.get(prev, -1) > i:
            name = naming.fresh(name, holder)  # the old value is still needed: do not clobber it
        into = reuse(op, i) if reusable_ok else None
        if into is not None:  # a fresh array no one reads again: NumPy writes the result into it
            expr = Expr(f"np.{op.prim.impl.__name__}({', '.join(x.text for x in operands)}, out={into})")
        if _accumulates(op, name, holder, uses, outputs, made):
            part = op.inputs[1].producer
            if part is not None and part.prim.name == "scatter" and inlined(part) and op.out.ndim:
                # x̄ += scatter(g, i): add g into x̄[i] instead of allocating zeros of x's shape
                rhs = operand(part.inputs[0])
                out.append(Statement(op, name, rhs.text, augmented=True,
                                     subscript=f"[{index_text(part.params['index'])}]"))
            else:
                out.append(Statement(op, name, operand(op.inputs[1]).text, augmented=True))
        else:
            out.append(Statement(op, name, expr.text))
        hold(name, op.out)
        exprs[op.out] = Expr(name)
        release(i)
        if op.out in buffers:  # the buffer's name is read no more (its two views keep it)
            out[-1].frees += (buffers[op.out][1],)
    return out


def _shifted_tapes(program: Program, uses: dict) -> dict:
    """The reverse sweep reads a carry at the start of each iteration as the stack of its new
    values shifted by one row: `concatenate([expand_dims(init, 0), stack[:-1]])` (a copy of
    the whole tape). Those concatenates → (the loop, the stack's position among its
    per-iteration results), for a loop that then writes the stack one row off into a buffer
    holding the initial carry too: the stack and its shift are both views of the buffer."""
    found = {}
    for c in program.ops:
        if c.prim.name != "concatenate" or len(c.inputs) != 2 or c.params.get("axis") != 0:
            continue
        ops = [v.producer for v in c.inputs]
        if any(o is None for o in ops):
            continue
        names = [o.prim.name for o in ops]
        if names == ["expand_dims", "getitem"]:
            first, rest, cut = ops[0], ops[1], slice(None, -1, None)
        elif names == ["getitem", "expand_dims"]:
            first, rest, cut = ops[1], ops[0], slice(1, None, None)
        else:
            continue
        stack = rest.inputs[0]
        loop = stack.producer.inputs[0].producer if stack.producer is not None and \
            stack.producer.prim.name == "loop_result" else None
        if loop is None or loop.prim.name != "loop" or loop.params["reverse"] != (cut.start == 1):
            continue
        p = loop.params
        body, nc, j = p["body"], p["n_carry"], stack.producer.params["index"] - p["n_carry"]
        if j < 0 or rest.params.get("index") != (cut,) or first.params.get("axis") not in ((0,), 0):
            continue
        row = body.outputs[nc + j]
        k = body.outputs.index(row)
        init = first.inputs[0]
        if k >= nc or loop.inputs[k] is not init or init.aval != row.aval or \
                uses.get(c.inputs[0]) != 1 or uses.get(c.inputs[1]) != 1:
            continue
        if any(loop is l2 and j == j2 for l2, j2 in found.values()):
            continue
        found[c.out] = (loop, j)
    return found


def _loop_block(program: Program, op: Op, naming, operand, live_names=frozenset(),
                shifted=frozenset()) -> LoopBlock:
    """The for statement of loop op `op`. Its results are named as the values they are
    (or after the body's carried inputs), never as a name still read after the loop
    (`live_names`) nor as another result of this loop."""
    p = op.params
    body, nc, nx, length = p["body"], p["n_carry"], p["n_xs"], p["length"]
    results = [None] * len(body.outputs)
    for r in program.ops:
        if r.prim.name == "loop_result" and r.inputs[0] is op.out:
            results[r.params["index"]] = r.out

    def result_name(k: int) -> str:
        v = results[k]
        preferred = body.inputs[1 + k].name if k < nc else "tape"
        if naming.space is None:
            return naming.base(v) if v is not None else (preferred or f"c{k}")
        if v is not None and naming.space.get(("value", v)) is None and (
                v.adjoint_of is None and v.tangent_of is None):
            return naming.space.name(("value", v), v.name or preferred, "v")
        return naming.base(v) if v is not None else naming.space.name(("result", op, k), preferred, "v")

    names: list[str] = []
    for k in range(len(body.outputs)):
        name = result_name(k)
        if name in live_names or name in names:
            name = naming.fresh(name, set(live_names) | set(names))
        names.append(name)
    if naming.space is not None:
        index = naming.space.name(("index", op), p["index_name"], "i")
    else:
        index = p["index_name"]
    bound = {body.inputs[0]: index}
    for k in range(nc):
        bound[body.inputs[1 + k]] = names[k]
    operands = [operand(v).text for v in op.inputs]
    for j in range(nx):
        row = FLAVOUR.get().row if FLAVOUR.get() is not None else None  # X[t] (NumPy), X[t, ...]
        bound[body.inputs[1 + nc + j]] = row(operands[nc + j], index) if row else f"{operands[nc + j]}[{index}]"
    for b, text in zip(body.inputs[1 + nc + nx:], operands[nc + nx:]):
        bound[b] = text
    inner = BodyNaming(naming, body, bound, ("body", id(op)))
    stmts = statements(body, inner)
    final = _final_names(stmts)

    def text(v: Value) -> str:
        if isinstance(v, Const):
            return naming.const_names[v] if not v.is_scalar else literal(v.value).text
        return final.get(v) or bound[v]

    header = f"range({length - 1}, -1, -1)" if p["reverse"] else f"range({length})"
    inits = [(names[k], operands[k]) for k in range(nc)]
    stacks = [(names[nc + j], (length,) + v.shape, v.dtype) for j, v in enumerate(body.outputs[nc:])]
    writes = [(names[nc + j], text(v)) for j, v in enumerate(body.outputs[nc:])]
    carries = [(names[k], text(body.outputs[k])) for k in range(nc)]
    buffers = {}
    for j in sorted(shifted):
        k = body.outputs.index(body.outputs[nc + j])  # the carry whose new value the stack holds
        buffer = naming.space.name(("buffer", op, j), f"{names[nc + j]}_rows", "v")
        buffers[j] = (buffer, operands[k], length if p["reverse"] else 0)
    return LoopBlock(inits, stacks, header, index, stmts, writes, carries,
                     {v: names[k] for k, v in enumerate(results) if v is not None}, buffers)


def _result_names(program: Program, op: Op, preferred: list, naming, live_names) -> tuple[list, list]:
    """(result Values or None, their names) of region op `op`: named as the values they are,
    never as a name still read after the region nor as another of its results."""
    results = [None] * len(preferred)
    for r in program.ops:
        if r.prim.name == "loop_result" and r.inputs[0] is op.out:
            results[r.params["index"]] = r.out
    names: list[str] = []
    for k, v in enumerate(results):
        if naming.space is None:
            name = naming.base(v) if v is not None else preferred[k]
        elif v is not None and naming.space.get(("value", v)) is None and (
                v.adjoint_of is None and v.tangent_of is None):
            name = naming.space.name(("value", v), v.name or preferred[k], "v")
        elif v is not None:
            name = naming.base(v)
        else:
            name = naming.space.name(("result", op, k), preferred[k], "v")
        if name in live_names or name in names:
            name = naming.fresh(name, set(live_names) | set(names))
        names.append(name)
    return results, names


def _while_block(program: Program, op: Op, naming, operand, live_names=frozenset()) -> WhileBlock:
    """The while statement of a while op, or the reversed for statement of an unwind op."""
    p = op.params
    nc, body = p["n_carry"], p["body"]
    operands = [operand(v) for v in op.inputs]

    def bind(prog: Program, texts: dict, tag) -> tuple[list, dict, "callable"]:
        stmts = statements(prog, BodyNaming(naming, prog, texts, (tag, id(op))))
        final = _final_names(stmts)

        def text(v: Value) -> str:
            if isinstance(v, Const):
                return naming.const_names[v] if not v.is_scalar else literal(v.value).text
            return final.get(v) or texts[v]
        return stmts, final, text

    if op.prim.name == "while":
        preferred = [b.name or f"c{k}" for k, b in enumerate(body.inputs[:nc])] + ["iterations", "tape"]
        results, names = _result_names(program, op, preferred[:nc + 1 + (1 if p["n_tape"] else 0)], naming,
                                       live_names)
        count = names[nc] if results[nc] is not None else None
        tape = names[nc + 1] if p["n_tape"] and results[nc + 1] is not None else None
        invs = [o.text for o in operands[nc:]]
        cstmts, _, ctext = bind(p["cond"], dict(zip(p["cond"].inputs, names[:nc] + invs)), "cond")
        bstmts, _, btext = bind(body, dict(zip(body.inputs, names[:nc] + invs)), "body")
        appends = [btext(v) for v in body.outputs[nc:]] if tape is not None else []
        return WhileBlock([(names[k], operands[k].text) for k in range(nc)], count, tape, cstmts,
                          ctext(p["cond"].outputs[0]), bstmts, appends,
                          [(names[k], btext(body.outputs[k])) for k in range(nc)],
                          {v: names[k] for k, v in enumerate(results) if v is not None})
    # unwind: (count, carries, [tape], invariants); body (carries, rows, invariants). Its
    # results are named after what they carry (x_bar for x's adjoint), not after the operands
    # they flow to (a loop's carried adjoint and an invariant's may flow to the same one).
    results = [None] * nc
    for r in program.ops:
        if r.prim.name == "loop_result" and r.inputs[0] is op.out:
            results[r.params["index"]] = r.out
    names = []
    for k, b in enumerate(body.inputs[:nc]):
        want = f"{b.name or 'c'}_bar"
        if naming.space is not None:
            want = naming.space.name(("result", op, k), want, "v")
        if want in live_names or want in names:
            want = naming.fresh(want, set(live_names) | set(names))
        names.append(want)
    nr = p["n_rows"]
    index = naming.space.name(("index", op), "k", "i") if naming.space is not None else "k"
    rows = []
    for j, b in enumerate(body.inputs[nc:nc + nr]):
        want = b.name or "t"
        if naming.space is not None:
            want = naming.space.name(("row", op, j), want, "v")
        if want in names or want in rows or want in live_names:
            want = naming.fresh(want, set(live_names) | set(names) | set(rows))
        rows.append(want)
    invs = [o.text for o in operands[1 + nc + (1 if nr else 0):]]
    texts = dict(zip(body.inputs, names + rows + invs))
    bstmts, _, btext = bind(body, texts, "body")
    return WhileBlock([(names[k], operands[1 + k].text) for k in range(nc)], operands[0].text,
                      operands[1 + nc].text if nr else None, [], "", bstmts, [],
                      [(names[k], btext(body.outputs[k])) for k in range(nc)],
                      {v: names[k] for k, v in enumerate(results) if v is not None}, index, rows)


def _cond_block(program: Program, op: Op, naming, operand, live_names=frozenset()) -> CondBlock:
    """The if statement of cond op `op`: each branch assigns the same result names (named
    as the values they are, never as a name still read after the if)."""
    branches = op.params["branches"]
    results = [None] * len(branches[0].outputs)
    for r in program.ops:
        if r.prim.name == "loop_result" and r.inputs[0] is op.out:
            results[r.params["index"]] = r.out
    names: list = []
    for v in results:
        if v is None:  # read by nothing: not assigned
            names.append(None)
            continue
        if naming.space is not None and naming.space.get(("value", v)) is None and (
                v.adjoint_of is None and v.tangent_of is None):
            name = naming.space.name(("value", v), v.name or "v", "v")
        else:
            name = naming.base(v)
        if name in live_names or name in names:
            name = naming.fresh(name, set(live_names) | {n for n in names if n})
        names.append(name)
    operands = [operand(v).text for v in op.inputs]
    blocks = []
    for j, body in enumerate(branches):
        bound = dict(zip(body.inputs, operands[1:]))
        stmts = statements(body, BodyNaming(naming, body, bound, ("branch", id(op), j)))
        final = _final_names(stmts)

        def text(v: Value) -> str:
            if isinstance(v, Const):
                return naming.const_names[v] if not v.is_scalar else scalar_literal(v.value).text
            return final.get(v) or bound[v]

        assigns = [(name, text(v)) for name, v in zip(names, body.outputs) if name is not None]
        blocks.append((stmts, assigns))
    return CondBlock(operands[0], blocks, {v: names[k] for k, v in enumerate(results) if v is not None})


def _final_names(stmts) -> dict:
    """The name each value made by these statements has at their end."""
    final: dict[Value, str] = {}
    for st in stmts:
        if st.results is not None:
            final.update(st.results)
        else:
            final[st.op.out] = st.target
    return final


# Arrays of at least this many bytes are written in place by an elementwise op when their
# last reader is that op (below this, a new array costs no more than the `out=` call).
INPLACE_BYTES = 8192
# Primitives whose result is always a new array of its own (never a view or an operand):
# NumPy ufuncs, and these. `pow` is not written in place: `a ** 2` on an array is NumPy's
# square, np.power(a, 2, out=...) the power loop.
ALLOCATING = frozenset({"matmul", "sigmoid", "softplus", "relu", "softmax", "log_softmax", "where", "clip"})
# ... and readers whose result shares no memory with their operands (copies, reductions).
COPYING = ALLOCATING | {"sum", "mean", "max", "min", "prod", "logsumexp", "cast", "copy", "concatenate", "outer"}


def _in_place_op(op: Op) -> bool:
    """op is a NumPy ufunc applied elementwise, spelled as that ufunc's call would be."""
    impl = op.prim.impl
    return (op.prim.elementwise and isinstance(impl, np.ufunc) and impl.nout == 1 and not op.params
            and len(op.inputs) == impl.nin and op.prim.name != "pow" and op.out.ndim > 0
            and getattr(np, impl.__name__, None) is impl)


def _allocating(program: Program) -> set:
    """Values the program computes into arrays no other value shares: made by a ufunc or
    an ALLOCATING op, and read only by ops whose results share no memory with them
    (COPYING: a view, a region's result or a helper of unknown make could)."""
    def ufunc(op: Op) -> bool:
        return isinstance(op.prim.impl, np.ufunc) and op.prim.fresh and op.prim.helper is None

    made = {op.out for op in program.ops if (ufunc(op) or op.prim.name in ALLOCATING) and op.out.ndim > 0}
    for op in program.ops:
        if not (ufunc(op) or op.prim.name in COPYING):
            made.difference_update(op.inputs)
    return made


def _where_zero(op: Op) -> int:
    """For `where(k, x, 0)` (1) or `where(k, 0, x)` (2), the position of x when the generated
    NumPy code calls runtime.support.where_zero instead (bitwise np.where's result, without
    a branch per element): k a bool array and x a float array of the result's shape and
    dtype, 0 a +0 constant, at least INPLACE_BYTES of it. Else 0."""
    if op.prim.name != "where" or len(op.inputs) != 3 or FLAVOUR.get() is not None:
        return 0
    k, a, b = op.inputs
    if isinstance(k, Const) or k.dtype != np.bool_ or k.aval.shape != op.out.aval.shape \
            or op.out.aval.size * op.out.dtype.itemsize < INPLACE_BYTES:
        return 0
    for pos, x, zero in ((1, a, b), (2, b, a)):
        if (isinstance(zero, Const) and zero.is_scalar and isinstance(zero.value, (int, float, np.number))
                and not isinstance(zero.value, (bool, np.bool_)) and zero.value == 0 and not np.signbit(zero.value)
                and not isinstance(x, Const) and x.dtype.kind == "f" and x.dtype.itemsize in (2, 4, 8)
                and x.aval == op.out.aval):
            return pos
    return 0


def _fresh(name: str, holder) -> str:
    k = 2
    while f"{name}_{k}" in holder:
        k += 1
    return f"{name}_{k}"


def _accumulates(op: Op, name: str, holder, uses, outputs, made) -> bool:
    """`name += b` is safe: a is the array held under `name`, used only here, and
    allocated by this function (so no caller's array or view is modified)."""
    if op.prim.name != "add" or op.out.adjoint_of is None:
        return False
    if FLAVOUR.get() is not None and not FLAVOUR.get().inplace:
        return False  # a lazy or foreign array added into a NumPy one: `x_bar = x_bar + c`
    a = op.inputs[0]
    return (holder.get(name) is a and uses.get(a, 0) == 1 and a not in outputs
            and a in made and is_fresh(a)
            and a.aval == op.out.aval and a.adjoint_of is op.out.adjoint_of)


def output_text(program: Program, naming: Naming, stmts, grouped: bool, entry: "Entry | None" = None,
                texts: bool = False, result: str | None = None):
    """`return v9` or `return v9, (W_bar, b_bar)`; with an Entry, the gradients in the
    structure of their arguments (`return v9, {'W1': params_W1_bar, ...}`). `result` (or the
    Entry's): the Python type the value is returned as (result_text)."""
    final = _final_names(stmts)
    for v in program.inputs:
        final.setdefault(v, naming.base(v))

    def text(v):
        if isinstance(v, Const):
            return naming.const_names[v] if not v.is_scalar else scalar_literal(v.value).text
        return final[v]

    first, rest = program.outputs[0], program.outputs[1:]
    if texts:  # the gradients' texts, for an Entry to arrange
        return [text(v) for v in rest]
    first_text = text(first)
    want = result if result is not None else entry.result if entry is not None else None
    if want is not None and FLAVOUR.get() is None:
        first_text = result_text(first_text, want, computed_type(program, first, entry), first)
    return _output_with(first_text, rest, text, grouped, entry)


def _output_with(first_text, rest, text, grouped, entry):
    """The return's text, given the value's text."""
    if entry is not None and entry.grads is None:
        return first_text
    if entry is not None and entry.grads is not None:
        return f"{first_text}, {entry.gradient_text([text(v) for v in rest])}"
    if not rest:
        return first_text
    grads = ", ".join(text(v) for v in rest)
    if grouped:
        return f"{first_text}, ({grads},)" if len(rest) == 1 else f"{first_text}, ({grads})"
    return f"{first_text}, {grads}"


# The Python type of a 0-d value as the generated NumPy code computes it, by the primitive that
# computes it (checked against the generated code in tests/test_result_types.py): ufuncs,
# operators, reductions and products give NumPy scalars whatever their operands' types
# (NumPy 2 returns a scalar for a 0-d ufunc result); np.where, np.copy and np.zeros_like give
# 0-d arrays; a cast (.astype) keeps its operand's type. Other primitives: not known here.
SCALAR_RESULTS = frozenset({
    "neg", "exp", "log", "log1p", "expm1", "sqrt", "square", "sin", "cos", "tan", "tanh", "arctan",
    "abs", "sign", "add", "sub", "mul", "div", "pow", "maximum", "minimum", "logaddexp", "greater",
    "less", "greater_equal", "less_equal", "equal", "not_equal", "logical_and", "logical_or",
    "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor", "invert", "log2", "log10", "exp2",
    "sinh", "cosh", "arcsin", "arccos", "arcsinh", "arccosh", "arctanh", "cbrt", "sinc", "floor",
    "ceil", "trunc", "rint", "isnan", "isinf", "isfinite", "signbit", "round", "heaviside",
    "logical_xor", "floor_divide", "arctan2", "hypot", "logaddexp2", "mod", "sigmoid", "softplus",
    "relu", "logsumexp", "sum", "mean", "max", "min", "prod", "matmul", "einsum", "vector_norm",
    "det", "logabsdet", "slogdet_sign"})
ARRAY_RESULTS = frozenset({"where", "copy", "zeros_like"})
SAME_RESULTS = frozenset({"cast"})


def computed_type(program: Program, v, entry: "Entry | None" = None) -> str | None:
    """"scalar" or "array": what the generated NumPy code gives for 0-d value v (None when
    codegen cannot tell; a Python float is never left as one by the NumPy code)."""
    for _ in range(64):  # (a chain of casts)
        if isinstance(v, Const):
            return None
        op = v.producer
        if op is None:  # an input: as the Entry's kinds say (a Python float enters as np.float64)
            if entry is None or not entry.kinds or v not in program.inputs:
                return None
            k = program.inputs.index(v)
            kind = entry.kinds[k][:1] if k < len(entry.kinds) else ()
            return {("float",): "scalar", ("scalar",): "scalar", ("array",): "array"}.get(kind)
        name = op.prim.name
        if name in SCALAR_RESULTS:
            return "scalar"
        if name in ARRAY_RESULTS:
            return "array"
        if name == "getitem" and all(type(i) is int for i in op.params.get("index", (None,))):
            return "scalar"
        if name not in SAME_RESULTS:
            return None
        v = op.inputs[0]
    return None


def result_text(text: str, want: str, have: str | None, v=None) -> str:
    """`text` (a 0-d value of type `have`) as the Python type `want`: a Python float, a NumPy
    scalar or a 0-d array, as NumPy's code would have returned it."""
    if want == have:
        return text
    if want == "float":
        return f"float({text})"
    if want == "array":
        return f"np.asarray({text})"
    if isinstance(v, Const):  # a literal
        return f"np.{v.dtype.name}({text})"
    return f"{text}[()]" if is_identifier(text) else f"({text})[()]"

# Ops whose result is the same float64 number, of the same NumPy type, whether an operand
# is a Python float or np.float64 of it, when the other operand is a float64 NumPy value:
# NEP 50 makes the Python float weak (it takes the other's dtype), and NumPy's reflected
# operator answers first (np.float64 is a float subclass; an ndarray is not a float).
WEAK_FLOAT_OPS = frozenset({"add", "sub", "mul", "div"})


def weak_floats(program: Program) -> set:
    """The Python-float inputs (of float64 aval) that need no np.float64() conversion: every
    read is a WEAK_FLOAT_OPS op whose other operand is a float64 value computed here (a NumPy
    array or scalar: not a constant, not another Python float), or a cast to a NumPy scalar
    type. Elsewhere (Python float arithmetic alone, math-like calls, returned, read by a
    loop or branch) Python's float semantics could differ from NumPy's: converted."""
    if FLAVOUR.get() is not None:
        return set()
    floats = {v for v in program.inputs if v.pytype is float and v.dtype == np.float64 and v.aval.shape == ()}
    weak = set(floats) - set(program.outputs)
    for op in program.ops:
        for i, v in enumerate(op.inputs):
            if v not in weak:
                continue
            if op.prim.name == "cast" and op.params.get("scalar"):
                continue
            other = op.inputs[1 - i] if len(op.inputs) == 2 else None
            if not (op.prim.name in WEAK_FLOAT_OPS and other is not None and not isinstance(other, Const)
                    and other not in floats and other.dtype == np.float64 and op.out.dtype == np.float64):
                weak.discard(v)
    return weak


def function_source(program: Program, fname: str, doc: str, grouped: bool = False,
                    consts: dict | None = None, naming: Naming | None = None,
                    entry: "Entry | None" = None, helpers: dict | None = None,
                    checker: str | None = None, result: str | None = None) -> str:
    """`def fname(...)`: fname is a name the module allocated; `doc` is plain text (escaped here);
    `checker` names the module's argument-checking function the entry point calls first;
    `result` the Python type of a 0-d value returned (without an Entry: Program.result).
    With an Entry, the function takes the user's arguments as the user passes them and
    unpacks the leaves of parameter trees first (`params_W1 = params['W1']`)."""
    assert is_identifier(fname) or fname == "FNAME", fname
    naming = naming or Naming(program, "python", consts, entry, helpers, reserved=(checker,) if checker else ())
    stmts = statements(program, naming)
    if entry is not None:
        params = entry.signature_parts(consts)
        head = f"def {fname}({', '.join(params)}):"
        if len(head) > 96:  # one parameter a line: never a break inside a default's literal
            head = "\n".join([f"def {fname}("] + [f"        {p}," for p in params] + ["):"])
    else:
        head = _wrap(f"def {fname}(", ", ".join(naming.base(v) for v in program.inputs), "):", indent="")
    lines = [head, f'    """{docstring_text(doc)}"""']
    if entry is not None:
        if checker is not None:
            call = f"    {checker}({', '.join(entry.call_parts())})"
            if len(call) > 96:
                body = textwrap.wrap(", ".join(entry.call_parts()), 84, break_long_words=False,
                                     break_on_hyphens=False)
                call = "\n".join([f"    {checker}("] + [f"        {line}" for line in body] + ["    )"])
            lines.append(call)
        kinds = entry.kinds or [()] * len(entry.access)
        weak = weak_floats(program)
        for v, (param, path), kind in zip(program.inputs, entry.access, kinds):
            source = f"{param}{''.join(f'[{key_text(k)}]' for k in path)}"
            if kind[:1] == ("float",) and v in weak and not path:
                # weak (NEP 50), meeting float64 values only: the same numbers as np.float64(...)
                if naming.base(v) != source:
                    lines.append(f"    {naming.base(v)} = {source}")
            elif kind[:1] == ("float",):
                # A Python float computes as NumPy's float64 (documented): inf and nan where
                # Python would raise or turn complex; its weak dtype was decided at compile time.
                lines.append(f"    {naming.base(v)} = np.float64({source})")
            elif path:
                lines.append(f"    {naming.base(v)} = {source}")
    last_sweep, last_line = "forward", None
    masked = _masked_statements(program, stmts)
    in_errstate = False
    for s, rows in _unpackings(stmts):
        sweep, loc = s.op.sweep, s.op.loc
        if sweep != last_sweep:
            lines.append(f"    # {sweep} sweep")
            in_errstate = False
        if loc is not None and loc.line and (sweep, loc.lineno) != (last_sweep, last_line):
            prefix = "adjoint of " if sweep == "reverse" else ""
            lines.append(f"    # {prefix}line {loc.lineno}: {comment_text(loc.line.strip())}")
            in_errstate = False
        last_sweep, last_line = sweep, loc.lineno if loc is not None else None
        if s.loop is not None or s.cond is not None or s.wloop is not None:
            lines += _block_lines([s], "    ")
            in_errstate = False  # (the block ended any `with` before it)
            continue
        if rows:
            lines.append(_unpack_line([r.target for r in rows], s.expr[:-len("[0]")]))
            in_errstate = False
            continue
        pad = "    "
        if id(s) in masked:
            if not in_errstate:
                lines.append(f"    {ERRSTATE}  # masked elements")
                in_errstate = True
            pad = "        "
        else:
            in_errstate = False
        lines.append(f"{pad}{s.lhs} {'+=' if s.augmented else '='} {s.expr}")
        if s.frees:
            lines.append(f"{pad}del {', '.join(s.frees)}")
    returned = output_text(program, naming, stmts, grouped, entry, result=result) if program.outputs else "()"
    if entry is not None and entry.grads is not None and len(returned) + 17 > 96:
        final = output_text(program, naming, stmts, grouped, entry.for_value(), result=result)
        texts = output_text(program, naming, stmts, grouped, None, texts=True)
        lines.append(f"    return {final}, {entry.gradient_text(texts, split=True)}")
    else:
        lines.append(_wrap("    return (", returned, ")", indent="    ") if program.outputs else "    return ()")
    return "\n".join(lines) + "\n"


# Masked derivative contributions (ad/masks.py) compute the derivative everywhere and
# select the elements where it applies: the dropped elements may divide by zero or overflow
# (0.5 / sqrt(0) beside an unselected branch), so they are computed with NumPy's floating-point
# errors off, even under np.seterr(all="raise"), and print no RuntimeWarning.
ERRSTATE = 'with np.errstate(divide="ignore", invalid="ignore", over="ignore"):'


def _masked_statements(program: Program, stmts: list[Statement]) -> set:
    """id()s of the statements that compute a masked contribution: a derivative sweep's
    `where(k, c, 0)` / `where(k, 0, c)` whose c is computed in the same statement (written
    inline), and statements computing a c that only such selections read."""
    own = {s.op.out: s for s in stmts}
    made = {op.out for op in program.ops}

    def zero(v) -> bool:
        return (isinstance(v, Const) and v.is_scalar and not isinstance(v.value, (bool, np.bool_))
                and v.value == 0)

    def selected(op):  # the computed branch of a masking where, or None
        if op.prim.name != "where" or op.sweep == "forward" or len(op.inputs) != 3:
            return None
        _, a, b = op.inputs
        c = a if zero(b) else b if zero(a) else None
        return c if c is not None and not isinstance(c, Const) and c in made else None

    readers: dict[Value, list] = {}
    for op in program.ops:
        for v in op.inputs:
            readers.setdefault(v, []).append(op)

    def computes_masked(op, seen) -> bool:
        """op, or an op written inline into its statement, is a masking where whose branch
        is computed inline."""
        c = selected(op)
        if c is not None and c not in own:
            return True
        for v in op.inputs:
            if v in made and v not in own and v.producer is not None and id(v) not in seen:
                seen.add(id(v))
                if computes_masked(v.producer, seen):
                    return True
        return False

    # The statement each op is written in (its own, or the one it is inlined into).
    home: dict = {}
    for s in stmts:
        stack = [s.op]
        while stack:
            op = stack.pop()
            home.setdefault(id(op), s)
            stack += [v.producer for v in op.inputs
                      if v in made and v not in own and v.producer is not None and id(v.producer) not in home]

    # Last to first: a derivative value whose every reader selects it with a masking where,
    # or is an elementwise op of a masked statement, only reaches the result where it applies.
    out = set()
    for s in reversed(stmts):
        v = s.op.out
        rs = readers.get(v, [])
        only_masked = (s.op.sweep != "forward" and rs and v not in program.outputs
                       and all(selected(r) is v or (r.prim.elementwise and id(home.get(id(r))) in out)
                               for r in rs))
        if only_masked or computes_masked(s.op, set()):
            out.add(id(s))
    return out


def _loop_lines(s: Statement, indent: str) -> list[str]:
    """The for statement of a loop op, its body indented once more."""
    block, lines = s.loop, []
    inits = [(n, e) for n, e in block.inits if n != e]
    if len(inits) == 1:
        lines.append(f"{indent}{inits[0][0]} = {inits[0][1]}")
    elif inits:  # all at once: a carry's name may be another carry's initial value
        lines.append(f"{indent}{', '.join(n for n, _ in inits)} = {', '.join(e for _, e in inits)}")
    shifted = {block.stacks[j][0]: entry for j, entry in block.shifted.items()}
    for name, shape, dtype in block.stacks:
        kind = "" if dtype == np.float64 else ", dtype=object" if dtype == object else f", dtype=np.{dtype.name}"
        flavour = FLAVOUR.get()
        if name in shifted:  # one buffer of T + 1 rows: the initial carry, then each new one
            buffer, init, row = shifted[name]
            lines.append(f"{indent}{buffer} = np.empty({(shape[0] + 1,) + tuple(shape[1:])!r}{kind})")
            lines.append(f"{indent}{buffer}[{row}] = {init}")
            continue
        empty = flavour.empty(shape, dtype) if flavour is not None else f"np.empty({shape!r}{kind})"
        lines.append(f"{indent}{name} = {empty}")
    lines.append(f"{indent}for {block.index} in {block.header}:")
    inner = indent + "    "
    lines += _block_lines(block.body, inner)
    for name, expr in block.writes:
        if name in shifted:
            buffer, _, row = shifted[name]
            lines.append(f"{inner}{buffer}[{block.index}{' + 1' if row == 0 else ''}] = {expr}")
            continue
        row = FLAVOUR.get().row(name, block.index) if FLAVOUR.get() is not None else f"{name}[{block.index}]"
        lines.append(f"{inner}{row} = {expr}")
    changed = [(n, e) for n, e in block.carries if n != e]
    if len(changed) == 1:
        lines.append(f"{inner}{changed[0][0]} = {changed[0][1]}")
    elif changed:
        lines.append(f"{inner}{', '.join(n for n, _ in changed)} = {', '.join(e for _, e in changed)}")
    if not block.body and not block.writes and not changed:
        lines.append(f"{inner}pass")
    for name, (buffer, _, row) in shifted.items():  # the stack: the buffer without the initial row
        lines.append(f"{indent}{name} = {buffer}[1:]" if row == 0 else f"{indent}{name} = {buffer}[:-1]")
    if s.frees:
        lines.append(f"{indent}del {', '.join(s.frees)}")
    return lines


def _assign_all(indent: str, pairs: list) -> list[str]:
    """`a = x` or, for several, `a, b = x, y` (all at once: one may read another's old value)."""
    changed = [(n, e) for n, e in pairs if n != e]
    if len(changed) == 1:
        return [f"{indent}{changed[0][0]} = {changed[0][1]}"]
    if changed:
        return [f"{indent}{', '.join(n for n, _ in changed)} = {', '.join(e for _, e in changed)}"]
    return []


def _while_lines(s: Statement, indent: str) -> list[str]:
    """The while statement of a while op (or the reversed for statement of an unwind op)."""
    block, inner = s.wloop, indent + "    "
    lines = _assign_all(indent, block.inits)
    if block.index is None:
        if block.count is not None:
            lines.append(f"{indent}{block.count} = 0")
        if block.tape is not None:
            lines.append(f"{indent}{block.tape} = []")
        if block.cond:
            lines.append(f"{indent}while True:")
            lines += _block_lines(block.cond, inner)
            lines.append(f"{inner}if not {block.test}:")
            lines.append(f"{inner}    break")
        else:
            lines.append(f"{indent}while {block.test}:")
        lines += _block_lines(block.body, inner)
        if block.tape is not None:
            item = block.appends[0] if len(block.appends) == 1 else f"({', '.join(block.appends)})"
            lines.append(f"{inner}{block.tape}.append({item})")
        lines += _assign_all(inner, block.carries)
        if block.count is not None:
            lines.append(f"{inner}{block.count} += 1")
        elif not block.body and not block.carries and block.tape is None:
            lines.append(f"{inner}pass")
    else:
        lines.append(f"{indent}for {block.index} in range({block.count} - 1, -1, -1):")
        if block.rows:
            lines.append(f"{inner}{', '.join(block.rows)} = {block.tape}[{block.index}]")
        body = _block_lines(block.body, inner) + _assign_all(inner, block.carries)
        lines += body or ([] if block.rows else [f"{inner}pass"])
    if s.frees:
        lines.append(f"{indent}del {', '.join(s.frees)}")
    return lines


def _cond_lines(s: Statement, indent: str) -> list[str]:
    """The if statement of a cond op: each branch's statements, then its result names bound."""
    block, lines = s.cond, [f"{indent}if {s.cond.test}:"]
    inner = indent + "    "
    for j, (stmts, assigns) in enumerate(block.branches):
        if j:
            lines.append(f"{indent}else:")
        body = _block_lines(stmts, inner)
        changed = [(n, e) for n, e in assigns if n != e]
        if len(changed) == 1:
            body.append(f"{inner}{changed[0][0]} = {changed[0][1]}")
        elif changed:  # all at once: a result's name may be what another branch value reads
            body.append(f"{inner}{', '.join(n for n, _ in changed)} = {', '.join(e for _, e in changed)}")
        lines += body or [f"{inner}pass"]
    if s.frees:
        lines.append(f"{indent}del {', '.join(s.frees)}")
    return lines


def _block_lines(stmts: list[Statement], indent: str) -> list[str]:
    """Statements inside a loop or branch, at `indent`."""
    lines = []
    for st in stmts:
        if st.loop is not None:
            lines += _loop_lines(st, indent)
        elif st.cond is not None:
            lines += _cond_lines(st, indent)
        elif st.wloop is not None:
            lines += _while_lines(st, indent)
        else:
            lines.append(f"{indent}{st.lhs} {'+=' if st.augmented else '='} {st.expr}")
            if st.frees:
                lines.append(f"{indent}del {', '.join(st.frees)}")
    return lines


def _unpackings(stmts: list[Statement]):
    """(statement, rows): rows is the run `v1 = x[0]`, `v2 = x[1]`, ... over every row of x
    that starts at this statement (written `v1, v2, ... = x`: an unrolled loop's
    `x[i]`, hoisted), else None; statements inside a run are skipped."""
    i = 0
    while i < len(stmts):
        s, n = stmts[i], 0
        x = s.op.inputs[0] if s.op.prim.name == "getitem" and s.op.inputs else None
        if x is not None and x.ndim and s.expr.endswith("[0]"):
            base = s.expr[:-len("[0]")]
            while (i + n < len(stmts) and n < x.shape[0] and _row(stmts[i + n], x, n)
                   and stmts[i + n].expr == f"{base}[{n}]"):
                n += 1
        if n >= 3 and n == x.shape[0]:
            yield s, stmts[i:i + n]
            i += n
        else:
            yield s, None
            i += 1


def _row(s: Statement, x: Value, k: int) -> bool:
    op = s.op
    return (op.prim.name == "getitem" and op.inputs[0] is x and op.params["index"] == (k,)
            and not s.augmented and not s.frees and not s.subscript)


def _unpack_line(targets: list[str], source: str, width: int = 96) -> str:
    names = ", ".join(targets)
    if len(names) + len(source) + 7 <= width:
        return f"    {names} = {source}"
    body = textwrap.wrap(names, width - 9, break_long_words=False, break_on_hyphens=False)
    return "\n".join(["    (" + body[0]] + [f"     {line}" for line in body[1:]]) + f") = {source}"


def _wrap(head: str, items: str, tail: str, indent: str, width: int = 96) -> str:
    """`head items tail` on one line, or the comma-separated items wrapped below the head
    (a step function of a long chain can take hundreds of arguments)."""
    if len(indent) + len(head) + len(items) + len(tail) <= width:
        return f"{head}{items}{tail}" if tail == "):" else f"{head[:-1]}{items}"
    body = textwrap.wrap(items, width - len(indent) - 8, break_long_words=False, break_on_hyphens=False)
    return "\n".join([head] + [f"{indent}        {line}" for line in body]) + tail


def helpers_used(*programs: Program) -> list[str]:
    """Helper functions the code calls: gradc's own, then user primitives' (by name)."""
    from .regions import all_ops
    used = {op.prim.helper or ("where_zero" if _where_zero(op) else None) for p in programs for op in all_ops(p)}
    used.discard(None)
    return [h for h in HELPERS if h in used] + sorted(used - set(HELPERS))


def helper_source(names, renamed: dict | None = None) -> str:
    """The helpers' definitions; `renamed`: helper → the name it has in this module."""
    from .primitives.helper_sources import SOURCES

    def source(name):
        text = SOURCES[name] if name in SOURCES else inspect.getsource(getattr(support, name))
        new = (renamed or {}).get(name, name)
        if new != name:
            assert text.startswith(f"def {name}("), name
            text = f"def {new}(" + text[len(f"def {name}("):]
        return text
    return "\n\n".join(source(n).rstrip() + "\n" for n in names)


def constants(*programs: Program, avoid=(), entry: "Entry | None" = None) -> dict[str, np.ndarray]:
    """Array constants by their module-level names (`avoid`: the entry functions' parameter names;
    `entry`: its large default arrays too)."""
    return {name: np.asarray(c.value) for c, name in const_names(*programs, avoid=avoid, entry=entry).items()}


def array_literal(a: np.ndarray) -> str:
    """Source for a small array that reads back bit for bit: every float (inf, nan,
    -0.0, subnormals, float16/32 values) and integer of any dtype, and bools."""
    a = np.asarray(a)
    dtype = "" if a.dtype == np.float64 else f", dtype=np.{a.dtype.name}"
    if a.size == 0:  # a nested list cannot carry the shape of an empty array
        return f"np.zeros({a.shape!r}, dtype=np.{a.dtype.name})"
    if a.dtype.kind == "f":
        # as float64 (exact for float16/32 too), then cast: repr round-trips a double
        items = np.asarray(a, dtype=np.float64)
        body = _nested(items.tolist(), lambda x: float_text(x).text)
    elif a.dtype.kind in "iub":
        body = repr(a.tolist())
    else:
        raise TypeError(f"no literal syntax for a {a.dtype} array")
    return f"np.array({body}{dtype})"


def _nested(items, text) -> str:
    if isinstance(items, list):
        return "[" + ", ".join(_nested(x, text) for x in items) + "]"
    return text(items)


def _docstring(*paragraphs: str) -> str:
    """A module docstring of our own sentences with user text already escaped."""
    return '"""' + "\n\n".join(paragraphs) + '\n"""'


def module_source(forward: Program, adjoint: Program, *, origin: str, grouped: bool,
                  external_consts: str = "runtime", entry: "Entry | None" = None,
                  result: str | None = None) -> str:
    """The whole generated module: helpers, constants, `f(...)` and `f_value_and_grad(...)`.

    external_consts: "runtime" (large constants are bound by the loader) or the
    file name of an .npz written beside a saved module. User text (the origin, names)
    enters only escaped (docstrings, comments) or as allocated identifiers.
    """
    from . import codegen_scalar

    if codegen_scalar.applies(forward, adjoint, entry):  # Python floats and math (codegen_scalar.py)
        return codegen_scalar.module_source(forward, adjoint, origin=origin, grouped=grouped, entry=entry,
                                            result=result)
    name = forward.name
    wrt_names = ", ".join(entry.wrt_names if entry is not None else
                          (adjoint.inputs[i].name for i in adjoint.wrt))
    names = const_names(forward, adjoint, avoid=entry.param_names() if entry is not None else (), entry=entry)
    consts = {n: np.asarray(c.value) for c, n in names.items()}
    big = {k: v for k, v in consts.items() if v.size > INLINE_ARRAY_LIMIT}
    external = bool(big) and external_consts != "runtime"
    entries, renamed = module_names([name, f"{name}_value_and_grad"], (forward, adjoint), names,
                                    extra=("os", "_consts") if external else ())
    fname, gname = entries[name], entries[f"{name}_value_and_grad"]
    checker = checking = None
    if entry is not None:
        # A name no parameter, leaf, constant, helper or entry point has (inside the entry
        # functions it is read before anything is bound, so a local of that name would shadow it).
        taken = ({"np", "os", "_consts", *entries.values(), *names.values(), *renamed.values(),
                  *entry.param_names()} | {v.name for p in (forward, adjoint) for v in p.inputs})
        checker = "check_arguments"
        while checker in taken:
            checker += "_"
        checking = entry.checking_function(checker, "this module", names)
        checker = checker if checking is not None else None
    imports = "import os\n\nimport numpy as np" if external else "import numpy as np"
    parts = [_docstring(docstring_text(f"{name} and its gradient with respect to {wrt_names}."),
                        docstring_text(f"Generated by gradc from {origin}.") + " Do not edit: regenerate instead.")
             + f"\n{imports}"]
    helpers = helpers_used(forward, adjoint)
    if helpers:
        title = ("# Helpers from gradc's runtime.support." if set(helpers) <= set(HELPERS)
                 else "# Helpers: gradc's runtime.support and user-defined primitives.")
        parts.append(title + "\n" + helper_source(helpers, renamed).rstrip())
    if consts:
        lines = ["# Constants captured from the module that defines the function."]
        for k, v in consts.items():
            if v.size <= INLINE_ARRAY_LIMIT:
                lines.append(f"{k} = {array_literal(v)}")
            elif external_consts == "runtime":
                lines.append(f"# {k}: {v.dtype.name}{list(v.shape)}, bound by the gradc runtime")
        if external:
            lines.append(f"_consts = np.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "
                         f"{external_consts!r}))")
            lines += [f"{k} = _consts[{k!r}]" for k in big]
        parts.append("\n".join(lines))
    if checking is not None:
        parts.append(checking)
    parts.append(function_source(forward, fname, f"Value of {name}.", consts=names,
                                 entry=entry.for_value() if entry is not None else None,
                                 helpers=renamed, checker=checker, result=result).rstrip())
    parts.append(function_source(adjoint, gname,
                                 f"Value of {name} and its gradient with respect to {wrt_names}.",
                                 grouped=grouped, consts=names, entry=entry, helpers=renamed,
                                 checker=checker, result=result).rstrip())
    if entry_points_text(entries):
        parts.append(entry_points_text(entries))
    return "\n\n\n".join(parts) + "\n"


def single_function_module(program: Program, fname: str, doc: str, origin: str,
                           result: str | None = None) -> str:
    """A module with one function (tangent and second-order programs, the value of a function
    with no gradient), loaded by the runtime; `result`: as function_source's."""
    names = const_names(program, avoid=(fname,))
    entries, renamed = module_names([fname], (program,), names)
    parts = [_docstring(docstring_text(doc), docstring_text(f"Generated by gradc from {origin}.")
                        + " Do not edit: regenerate instead.") + "\nimport numpy as np"]
    helpers = helpers_used(program)
    if helpers:
        parts.append("# Helpers.\n" + helper_source(helpers, renamed).rstrip())
    consts = {n: np.asarray(c.value) for c, n in names.items()}
    small = [f"{k} = {array_literal(v)}" for k, v in consts.items() if v.size <= INLINE_ARRAY_LIMIT]
    big = [f"# {k}: {v.dtype.name}{list(v.shape)}, bound by the gradc runtime"
           for k, v in consts.items() if v.size > INLINE_ARRAY_LIMIT]
    if consts:
        parts.append("\n".join(["# Constants captured from the module that defines the function."] + small + big))
    parts.append(function_source(program, entries[fname], doc, consts=names, helpers=renamed,
                                 result=result).rstrip())
    if entry_points_text(entries):
        parts.append(entry_points_text(entries))
    return "\n\n\n".join(parts) + "\n"
