"""The public API: grad, value_and_grad, compile, and the Compiled object.

gradc specialises to argument shapes and dtypes, as JAX's jit does: shapes
decide loop trip counts, broadcasting and which sums the adjoint needs, so
knowing them gives straight-line code with no runtime shape logic. A Compiled
object keeps one specialisation per argument signature; compiling happens on
the first call with a new signature (or eagerly with `compile(fn, args=...)`).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import threading
import warnings
import weakref
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import codegen, codegen_scalar, dispatch, syntax
from .ad import reverse
from .ad.derived import hvp_program, jvp_program, vjp_program
from .backends import dask as dask_backend
from .errors import CompileError, InternalError, SignatureError
from .frontend.captured import Guard
from .tracebacks import api_boundary, full_tracebacks, user_frames
from .frontend.python import ArgSpec
from .frontend.sources import PythonFunction, frontend_for
from . import pytree
from .ir import Aval, Program, verify
from . import checkpointing
from .passes import optimize
from .regions import unroll
from .checkpointing.loops import loop_of, plan as loop_plan
from .checkpointing.split import split
from .checkpointing.steps import count_steps, cut_layers, has_steps, number_steps
from gradc.runtime import loader

_VERIFY = os.environ.get("GRADC_VERIFY", "") not in ("", "0")

# Cache bounds (docs/supported-subset.md, "Caching"): least recently used entries go first.
MAX_SPECIALIZATIONS = 64  # argument signatures kept per Compiled (its .max_specializations)
MAX_COMPILED = 256  # Compiled objects kept by gradc.compile / grad / value_and_grad


class OverwriteRefused(FileExistsError):
    """save/render would replace an existing file (or the function's own source file)."""

    def __init__(self, path, reason: str):
        self.path, self.reason = Path(path), reason  # reason: "exists" or "source"
        if reason == "source":
            message = f"refusing to write over {path}: it is the source file of the compiled function"
        else:
            message = f"{path} already exists; pass overwrite=True to replace it"
        super().__init__(message)


def check_output(path, *, overwrite: bool, protected=()) -> None:
    """Refuse to write `path` if it is one of the `protected` files (even with overwrite)
    or, without `overwrite`, if it exists."""
    path = Path(path)
    for src in protected:
        try:
            same = path.exists() and os.path.samefile(path, src)
        except OSError:
            same = False
        if same or path.resolve() == Path(src).resolve():
            raise OverwriteRefused(path, "source")
    if path.exists() and not overwrite:
        raise OverwriteRefused(path, "exists")


# Generated sources are registered in linecache (tracebacks show their lines) for as
# long as a specialisation that loaded them is alive: counted here, dropped after.
_line_users: Counter = Counter()


def _hold_lines(spec, namespace) -> None:
    for name in loader.generated_files(namespace):
        _line_users[name] += 1
        spec.linecache_files.append(name)


def _release_lines(files: list) -> None:
    for name in files:
        _line_users[name] -= 1
        if _line_users[name] <= 0:
            del _line_users[name]
            loader.forget((name,))


@dataclass
class Specialization:
    """Everything compiled for one argument signature."""

    ir: Program
    adjoint_ir: Program
    source: str
    value_fn: object
    value_and_grad_fn: object
    referenced: dict = field(default_factory=dict)
    input_positions: tuple = ()  # which call arguments are program inputs (top-level ones)
    float_grads: tuple = ()  # wrt slots whose argument was a Python float
    grad_kinds: object = None  # wrt slot (flat) or id(leaf ArgSpec) (trees) → _grad_kind
    leaf_sources: tuple = ()  # per program input: (argument position, path in its tree)
    trees: dict = field(default_factory=dict)  # wrt position → its argument's tree, input leaves as ArgSpecs
    entry: "codegen.Entry | None" = None  # the generated functions take the user's arguments
    derived: dict = field(default_factory=dict)  # (kind, options) → loaded derived function
    checkpointed: "checkpointing.Checkpointed | None" = None  # the step functions, with a checkpoint policy
    guard: Guard | None = None  # the compile-time reads from outside the arguments, fingerprinted
    linecache_files: list = field(default_factory=list)  # generated sources this one registered
    backend: str | None = None  # "dask": generated for Dask arguments (compiler/backends/dask.py)
    # the entry functions without their argument check (dispatch.unchecked): the fast path's
    fast_value_fn: object = None
    fast_value_and_grad_fn: object = None
    hot: "dispatch.Hot | None" = None  # how the fast path calls this one (made on its first call)
    scalar: bool = False  # Python floats and math (codegen_scalar.py): its functions take Python floats
    result: str | None = None  # the Python type of a 0-d value, as NumPy gives it (Program.result)

    def __post_init__(self):
        weakref.finalize(self, _release_lines, self.linecache_files).atexit = False

    def still_valid(self) -> bool:
        return self.guard is None or self.guard.valid()


# Derived programs by name: each is built from a specialisation by composing the AD passes.
DERIVED = {
    "jvp": lambda spec: jvp_program(spec.ir),
    "vjp": lambda spec: vjp_program(spec.ir),
    "hvp-forward-over-reverse": lambda spec: hvp_program(spec.adjoint_ir, "forward-over-reverse"),
    "hvp-reverse-over-reverse": lambda spec: hvp_program(spec.adjoint_ir, "reverse-over-reverse"),
}


@dataclass
class DerivedProgram:
    """A derived program (jvp, vjp, hvp) and its generated module; prints as its listing."""

    kind: str
    program: Program
    source: str

    def __iter__(self):  # program, source = c.derived("jvp")
        return iter((self.program, self.source))

    def __str__(self) -> str:
        return str(self.program)

    def __repr__(self) -> str:
        return f"<gradc.DerivedProgram {self.kind} of {self.program.name}: {len(self.program.ops)} ops>"

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))


class Compiled:
    """A loss function compiled to value and gradient code.

    `.value(*args)`, `.grad(*args)`, `.value_and_grad(*args)` run it; `.ir`,
    `.adjoint_ir` and `.source` show what was generated for the latest argument
    signature; `.save(path)` writes a standalone module that imports only NumPy.
    """

    @api_boundary
    def __init__(self, fn, wrt=0, variables=None, checkpoint=None):
        self._made_with = (fn, wrt, variables, checkpoint)
        self.fn = fn
        self.checkpoint = checkpointing.resolve(checkpoint)
        self.frontend = frontend_for(fn, wrt, variables)
        self.name = self.frontend.name
        self._loc = self.frontend.loc
        self.signature = self.frontend.signature
        params = list(self.signature.parameters.values())
        self.python = isinstance(self.frontend, PythonFunction)  # parameter trees: Python functions only
        if not self.python:
            for p in params:
                if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                    raise SignatureError(f"*args/**kwargs parameters are not supported ({p})", self._loc)
        self.arg_names = [p.name for p in params]
        # every parameter an ordinary positional-or-keyword one: positional calls bind directly
        self._plain = all(p.kind == p.POSITIONAL_OR_KEYWORD for p in params)
        self.wrt_tuple = isinstance(wrt, (tuple, list))
        self.wrt = tuple(self._position(w) for w in (wrt if self.wrt_tuple else (wrt,)))
        if len(set(self.wrt)) != len(self.wrt):
            raise SignatureError(f"wrt={wrt!r} names an argument twice", self._loc)
        self._specs = dispatch.SpecCache()  # least recently used first; .hot for the fast path
        self.max_specializations = MAX_SPECIALIZATIONS
        self._latest: Specialization | None = None
        self._lock = threading.RLock()  # compiling, and the cache's order: one thread at a time
        self._nargs = len(params) if self._plain else -1  # positional calls the fast path takes
        self._state = ((fn, *self.frontend.state) if self.python else None)

    def _reread(self):
        """The function got a new __code__ or new default values: read its source and
        signature again (every specialisation is dropped: they were compiled from the old)."""
        max_specializations, lock = self.max_specializations, self._lock
        self.__init__(*self._made_with)
        self.max_specializations, self._lock = max_specializations, lock

    def _position(self, w) -> int:
        if not isinstance(w, (str, int, np.integer)) and hasattr(w, "name"):
            w = str(w.name)  # a SymPy symbol
        if isinstance(w, str):
            if w not in self.arg_names:
                raise SignatureError(f"wrt={w!r} names no argument of {self.name}"
                                     f"({', '.join(self.arg_names)})", self._loc)
            return self.arg_names.index(w)
        if isinstance(w, (int, np.integer)) and not isinstance(w, bool):
            n = len(self.arg_names)
            if not -n <= w < n:
                raise SignatureError(f"wrt={w} is out of range: {self.name} takes {n} "
                                     f"argument{'s' if n != 1 else ''}", self._loc)
            return int(w) % n
        raise SignatureError(f"wrt must be an argument name or position, or a tuple of them, "
                             f"not {w!r}", self._loc)

    # -- running ------------------------------------------------------------

    def _arguments(self, args, kwargs, in_order: bool = False) -> list:
        """One value per parameter, bound exactly as Python binds the call (defaults
        applied; a *args parameter gets its tuple, a **kwargs parameter its dict).
        `in_order`: one value per parameter, in order, is taken as it is (jvp, hvp, hessian
        and jacobian, which re-enter with bound arguments and are called so by the CLI)."""
        if self.python and not self.frontend.current():
            self._reread()
        var = not self._plain and any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                                      for p in self.signature.parameters.values())
        if in_order and not kwargs and len(args) == len(self.arg_names) and not var:
            pass
        elif kwargs or len(args) != len(self.arg_names) or not self._plain:
            try:
                bound = self.signature.bind(*args, **kwargs)
            except TypeError as e:
                raise SignatureError(f"bad arguments for {self.name}: {e}", self._loc) from None
            bound.apply_defaults()
            args = tuple(bound.arguments[name] for name in self.arg_names)
        if not self.python:  # a formula's variables are numbers or arrays: lists are arrays
            args = [self._list_argument(name, a) if isinstance(a, list) else a
                    for name, a in zip(self.arg_names, args)]
        else:
            args = list(args)
        if getattr(self.frontend, "real_variables", False):  # a formula's variables are real numbers
            args = [float(a) if isinstance(a, int) and not isinstance(a, bool) else a for a in args]
        return [_as_numpy_sees(name, a, self._loc) for name, a in zip(self.arg_names, args)]

    def _list_argument(self, name, a):
        """A list argument is an array (a nested list of numbers); anything else is refused
        (a list of arrays would come back as one stacked gradient, not a list of them)."""
        def holds_arrays(v):
            return isinstance(v, np.ndarray) or (isinstance(v, (list, tuple)) and any(map(holds_arrays, v)))

        try:
            array = None if holds_arrays(a) else np.asarray(a)
        except (ValueError, TypeError):
            array = None
        if array is None or array.dtype.kind not in "fiub":
            raise SignatureError(f"argument {name} is a list that is not a rectangular array of numbers "
                                 "(e.g. a list of arrays); gradc takes NumPy arrays, "
                                 "floats, ints and strings as arguments: pass the arrays as separate "
                                 "arguments or stack them", self._loc)
        return array

    @api_boundary
    def specialize(self, *args, **kwargs) -> Specialization:
        return self._specialization(self._arguments(args, kwargs))

    def _specialization(self, args) -> Specialization:
        """The code for these argument shapes, compiled again when a value it read from
        outside the arguments (global, closure variable, container, array) has changed."""
        key = tuple(self._tree_key(name, a) if isinstance(a, (dict, list, tuple)) else _arg_key(a)
                    for name, a in zip(self.arg_names, args))
        with self._lock:  # one compile per signature, however many threads call
            specs = self._specs
            spec = specs.get(key)
            if spec is None or not (spec.guard is None or spec.guard.valid()):
                specs.pop(key, None)
                spec = self._build(args)
                specs[key] = spec
                while len(specs) > max(self.max_specializations, 1):
                    specs.popitem(last=False)
            if spec.hot is None and len(args) == self._nargs:
                spec.hot = self._hot_entry(spec, args, key)
            specs.promote(key)
            self._latest = spec
        return spec

    def _hot_entry(self, spec: Specialization, args, key):
        """How the fast path calls `spec` (dispatch.Hot), or False when it cannot: arguments
        of a kind only the general path handles (trees with sets, lists for a formula, ...)."""
        if spec.entry is not None and spec.fast_value_and_grad_fn is not None and spec.checkpointed is None:
            value, vg = spec.fast_value_fn, spec.fast_value_and_grad_fn
        elif spec.entry is None and not spec.leaf_sources and spec.checkpointed is None:
            value, vg = self._flat_calls(spec, args)
        else:
            value, vg = (lambda *a: self._finish(spec, a, "value")), \
                (lambda *a: self._finish(spec, a, "value_and_grad"))
        return dispatch.hot_entry(args, self._state, spec.guard, value, vg, key) or False

    def _still_valid(self, spec: Specialization) -> bool:
        return spec.still_valid()

    def _flat_calls(self, spec: Specialization, args):
        """(value, value_and_grad) taking the arguments as called, for functions that take
        the program's inputs (formulas, expressions): `_finish` for arguments of these kinds,
        with what it decides per call decided here."""
        positions, value_fn, vg_fn = spec.input_positions, spec.value_fn, spec.value_and_grad_fn
        if spec.scalar and positions == tuple(range(len(args))):  # Python floats in, Python floats out
            return value_fn, vg_fn
        floats = [] if spec.scalar else [i for i in positions if type(args[i]) is float]
        direct = positions == tuple(range(len(args))) and not floats

        def inputs(a):
            return a if direct else [np.float64(a[i]) if i in floats else a[i] for i in positions]

        kinds = spec.grad_kinds if spec.grad_kinds and any(spec.grad_kinds) else None
        float_grads, grouped = spec.float_grads, self.wrt_tuple

        def value_and_grad(*a):
            value, grads = vg_fn(*inputs(a))
            grads = _fix_floats(grads, float_grads, grouped)
            if kinds is not None:
                grads = tuple(_as_grad_type(g, k) for g, k in zip(grads, kinds)) if grouped \
                    else _as_grad_type(grads, kinds[0])
            return value, grads

        return (lambda *a: value_fn(*inputs(a))), value_and_grad

    def _tree_key(self, name, a):
        """A parameter tree's part of the cache key: its structure, each leaf's shape and
        dtype (or value, for a compile-time leaf)."""
        try:
            return ("tree", pytree.walk(name, a, lambda _, leaf: _arg_key(leaf)))
        except SignatureError as e:
            raise SignatureError(e.message, self._loc) from None

    @staticmethod
    def _inputs(spec: Specialization, args, scalar_code: bool = False) -> list:
        # Python floats enter as float64 scalars, the dtype the program was compiled for
        # (`scalar_code`: as they are, to the math code of a scalar module, which does that itself).
        if spec.leaf_sources:
            values = []
            for i, path in spec.leaf_sources:
                a = args[i]
                for k in path:
                    a = a[k]
                values.append(a)
        else:
            values = [args[i] for i in spec.input_positions]
        if scalar_code and spec.scalar:
            return values
        return [np.float64(a) if type(a) is float else a for a in values]

    def _call_entry(self, fn, args):
        """Call a generated entry function that takes the user's arguments, as bound."""
        positional, keywords = [], {}
        for p, a in zip(self.signature.parameters.values(), args):
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                positional.append(a)
            elif p.kind == p.VAR_POSITIONAL:
                positional.extend(a)
            elif p.kind == p.KEYWORD_ONLY:
                keywords[p.name] = a
            else:
                keywords.update(a)
        return fn(*positional, **keywords)

    def _assemble(self, spec: Specialization, grads):
        """Flat gradients (a tuple, one per wrt leaf) in the structure of their arguments."""
        flat = iter(grads)

        def leaf(_, s):
            g = next(flat)
            return float(g) if s.pytype is float else _as_grad_type(g, (spec.grad_kinds or {}).get(id(s)))
        out = [pytree.map_leaves(spec.trees[w], leaf) for w in self.wrt]
        return tuple(out) if self.wrt_tuple else out[0]

    def _run(self, args, kwargs, which):
        """The fast path (dispatch.py): positional arguments of the kinds a recent
        specialisation was compiled for, nothing it read changed: its functions, called
        directly. Anything else: bound as Python binds it, looked up, compiled if new."""
        if not kwargs and len(args) == self._nargs:
            specs = self._specs
            for k, hot in enumerate(specs.hot):
                out = getattr(hot, which)(*args)
                if out is not dispatch.MISS:
                    if k:  # another recent signature: most recently used now
                        with self._lock:
                            if hot.key in specs:
                                specs.promote(hot.key)
                                self._latest = specs[hot.key]
                    return out
        args = self._arguments(args, kwargs)
        return self._finish(self._specialization(args), args, which)

    def _finish(self, spec: Specialization, args, which):
        """Run `spec` on bound arguments (one per parameter)."""
        if spec.entry is not None and (which == "value" or spec.checkpointed is None):
            if which == "value":
                return self._call_entry(spec.value_fn, args)
            value, grads = self._call_entry(spec.value_and_grad_fn, args)
            return grads if which == "grad" else (value, grads)
        inputs = self._inputs(spec, args, scalar_code=True)
        if which == "value":
            return spec.value_fn(*inputs)
        value, grads = spec.value_and_grad_fn(*inputs)
        if spec.checkpointed is not None:  # (the step functions' value, from the executor)
            value = _as_result(value, spec.result)
        if spec.leaf_sources:
            grads = self._assemble(spec, grads)
        else:
            grads = _fix_floats(grads, spec.float_grads, self.wrt_tuple)
            if spec.grad_kinds and any(spec.grad_kinds):
                grads = tuple(_as_grad_type(g, k) for g, k in zip(grads, spec.grad_kinds)) \
                    if self.wrt_tuple else _as_grad_type(grads, spec.grad_kinds[0])
        return grads if which == "grad" else (value, grads)

    @api_boundary
    def value(self, *args, **kwargs):
        return self._run(args, kwargs, "value")

    @api_boundary
    def grad(self, *args, **kwargs):
        return self._run(args, kwargs, "grad")

    @api_boundary
    def value_and_grad(self, *args, **kwargs):
        return self._run(args, kwargs, "value_and_grad")

    __call__ = value

    # -- inspecting -----------------------------------------------------------

    @property
    @api_boundary
    def latest(self) -> Specialization:
        if self._latest is None:
            raise CompileError(
                f"{self.name} has not been compiled for any argument shapes yet: call "
                f".grad(...) once, or use gradc.compile({self.name}, wrt=..., args=(...))",
                self._loc)
        return self._latest

    ir = property(api_boundary(lambda self: self.latest.ir), doc="the forward SSA program")
    adjoint_ir = property(api_boundary(lambda self: self.latest.adjoint_ir), doc="forward sweep + reverse sweep")

    @property
    @api_boundary
    def source(self) -> str:
        """The generated module's text: with a checkpoint policy, the step functions."""
        spec = self.latest
        return spec.checkpointed.source if spec.checkpointed else spec.source

    @property
    @api_boundary
    def schedule(self):
        """The checkpointing schedule the gradient runs (None: everything is stored).
        Print it, count it (`.forward_steps`, `.max_snapshots`) or draw it (`.render`)."""
        spec = self.latest
        return spec.checkpointed.schedule if spec.checkpointed else None

    @api_boundary
    def trace(self, *args, **kwargs):
        """The forward and reverse trace at these arguments, as in the lecture's table:
        one row per SSA value with its equation and value, and its adjoint's."""
        from .trace import build_trace

        args = self._arguments(args, kwargs)
        spec = self._specialization(args)
        return build_trace(spec, self._inputs(spec, args))

    @api_boundary
    def derived(self, kind: str) -> "DerivedProgram":
        """A derived program for the latest arguments, built on demand: "jvp", "vjp",
        "hvp-forward-over-reverse" or "hvp-reverse-over-reverse". It prints as its SSA
        listing; `.program` and `.source` (the generated module) are its parts, and
        `program, source = c.derived(kind)` unpacks them."""
        spec = self.latest
        if kind not in DERIVED:
            raise SignatureError(f"unknown derived program {kind!r}: one of {', '.join(DERIVED)}", self._loc)
        if kind not in spec.derived:
            self._load_derived(spec, kind)
        program, source, _ = spec.derived[kind]
        return DerivedProgram(kind, program, source)

    @api_boundary
    def graph(self, kind: str | None = None, values=None, program: str | None = None):
        """The computational graph as a `graphviz.Digraph`: kind "forward" (the default),
        "adjoint" or "both"; `values` (a trace from `.trace(...)`) labels nodes with numbers.
        `program` draws a derived program ("jvp", "vjp", "hvp-...") instead: all of it by
        default, its primal part with kind="forward", its derivative sweeps with "adjoint"."""
        from types import SimpleNamespace

        from .render import build_graph

        spec = self.latest
        if program is not None:
            spec = SimpleNamespace(ir=spec.ir, adjoint_ir=self.derived(program).program)
        return build_graph(spec, kind, values, derived=program)

    @api_boundary
    def render(self, path, kind: str | None = None, values=None, program: str | None = None, *,
               overwrite: bool = False) -> Path:
        """Write the graph as PNG, SVG or PDF (chosen by the file extension). An existing
        file is replaced only with `overwrite=True`; the function's source file never."""
        from .render import render_graph

        check_output(path, overwrite=overwrite, protected=self.source_files())
        if shutil.which("dot") is None:  # render_graph then writes the DOT source beside it
            check_output(Path(path).with_suffix(".dot"), overwrite=overwrite, protected=self.source_files())
        return render_graph(self.graph(kind, values, program), path)

    def source_files(self) -> tuple:
        """The user's files this function was compiled from (never written over)."""
        filename = getattr(self._loc, "filename", "") or ""
        return (filename,) if filename and os.path.isfile(filename) else ()

    def _repr_mimebundle_(self, include=None, exclude=None):
        """Jupyter shows a compiled function as its forward graph with its SSA listing and
        generated source (HTML), or the listing alone (plain text)."""
        if self._latest is None:
            return {"text/plain": repr(self)}
        from .render import mimebundle

        return mimebundle(self.graph("forward"), text=str(self.ir),
                          sections=[("SSA program (forward + adjoint)", str(self.adjoint_ir)
                                     if self.latest.adjoint_ir is not None else str(self.ir)),
                                    ("generated source", self.source)])

    # -- forward mode and second derivatives ------------------------------------

    def _derived(self, args, kwargs, kind: str, what: str | None = None):
        """A derived program (tangent, Hessian-vector product) for these arguments,
        built once per specialisation, loaded as a function of (inputs..., directions...)."""
        args = self._arguments(args, kwargs, in_order=True)
        self._no_tree_wrt(args, what or kind.split("-")[0])
        spec = self._specialization(args)
        if kind not in spec.derived:
            self._load_derived(spec, kind, what)
        return spec, self._inputs(spec, args), spec.derived[kind]

    def _load_derived(self, spec: Specialization, kind: str, what: str | None = None) -> None:
        if kind.startswith("hvp") and spec.adjoint_ir is None:
            self._need_scalar(spec, what or "hvp")
        program = DERIVED[kind](spec)
        if _VERIFY:
            verify(program)
        fname = f"{self.name}_{kind.replace('-', '_')}"
        source = codegen.single_function_module(program, fname, f"{kind} of {self.name}", self._origin())
        namespace = loader.load(source, fname, codegen.constants(program, avoid=(fname,)))
        _hold_lines(spec, namespace)
        spec.derived[kind] = (program, source, namespace[fname])

    def _need_scalar(self, spec: Specialization, what: str) -> None:
        """Second derivatives (hvp, hessian) need a scalar floating-point result, as grad does."""
        if spec.adjoint_ir is None:
            out = spec.ir.outputs[0].aval
            raise SignatureError(
                f"{what} needs a function with a scalar floating-point result; {self.name} returns "
                f"{out} here (reduce it, e.g. with np.sum, or use gradc.jacobian)",
                self.frontend.return_loc() or self._loc)

    def _no_tree_wrt(self, args, what: str) -> None:
        """jvp, vjp, hvp, hessian and jacobian take arrays and floats as wrt arguments (other
        arguments may be parameter trees)."""
        dask_backend.refuse_derived(args, what, self._loc)
        for i in self.wrt:
            if self.python and pytree.is_container(args[i]):
                raise SignatureError(
                    f"{what} with respect to {self.arg_names[i]}, a {type(args[i]).__name__} (a parameter "
                    f"tree), is not supported: grad and value_and_grad take parameter trees; for {what}, "
                    "pass the arrays as separate arguments", self._loc)

    @api_boundary
    def jvp(self, primals, tangents):
        """(value, directional derivative) at `primals` (the function's arguments) along
        `tangents`: one direction per wrt argument (a tuple when wrt is a tuple; a bare
        array or a 1-tuple when it is not), or JAX's form, one per primal, where the
        directions of arguments outside wrt must be zero."""
        primals = tuple(primals)
        spec, inputs, (program, _, fn) = self._derived(primals, {}, "jvp")
        avals = [v.aval for v in program.inputs[len(program.inputs) - len(self.wrt):]]
        value, derivative = fn(*inputs, *self._tangents_for_wrt(primals, tangents, avals))
        tangent_kind = spec.result if np.ndim(value) == 0 and np.asarray(value).dtype.kind == "f" else None
        return _as_result(value, spec.result), _as_result(derivative, tangent_kind)  # (the result's type)

    def _tangents_for_wrt(self, primals, tangents, avals) -> list:
        """The direction for each wrt argument, checked against its shape, as its dtype."""
        names = [self.arg_names[i] for i in self.wrt]
        if not isinstance(tangents, tuple):
            tangents = (tangents,)
        if len(tangents) == len(self.wrt):
            chosen = list(tangents)
        elif len(tangents) == len(primals):  # JAX's form: one tangent per primal
            for i, t in enumerate(tangents):
                if i not in self.wrt and np.any(np.asarray(t) != 0):
                    raise SignatureError(
                        f"jvp: the tangent for {self.arg_names[i]} is not zero, but {self.name} is "
                        f"differentiated only with respect to {', '.join(names)} (wrt); add it to wrt "
                        "or pass a zero tangent", self._loc)
            chosen = [tangents[i] for i in self.wrt]
        else:
            raise SignatureError(
                f"jvp takes one tangent per wrt argument ({', '.join(names)}: {len(self.wrt)}) or one "
                f"per primal ({len(primals)}), not {len(tangents)}", self._loc)
        return self._check_directions("jvp", "tangent", primals, chosen, avals)

    def _check_directions(self, what: str, noun: str, primals, directions, avals) -> list:
        """Each direction (tangent, hvp direction) an array of real numbers with the shape of
        its wrt argument, converted to the dtype of the derived program's direction input
        (`avals`), its argument's: a float32 argument's derivatives are computed in float32."""
        out = []
        for i, d, aval in zip(self.wrt, directions, avals):
            name = self.arg_names[i]
            a = self._real_array(what, f"the {noun} for {name}", d, np.shape(primals[i]), f"{name} has")
            out.append(np.asarray(a, dtype=aval.dtype))
        return out

    def _real_array(self, what: str, where: str, d, shape, whose: str) -> np.ndarray:
        """`d` as an array of real numbers of this shape, or a SignatureError saying why not."""
        try:
            a = np.asarray(d)
        except (TypeError, ValueError) as e:
            raise SignatureError(f"{what}: {where} is not an array of numbers ({e})", self._loc) from None
        if a.dtype.kind not in "biuf":
            raise SignatureError(f"{what}: {where} is not an array of real numbers (dtype {a.dtype})", self._loc)
        if a.shape != tuple(shape):
            raise SignatureError(f"{what}: {where} has shape {a.shape}; {whose} shape {tuple(shape)}",
                                 self._loc)
        return a

    @api_boundary
    def vjp(self, *args, **kwargs):
        """(value, vjp_fn): vjp_fn(cotangent) is the cotangent pulled back to the wrt
        arguments (a tuple when wrt is a tuple), for functions with any output shape."""
        bound = self._arguments(args, kwargs)
        if self.checkpoint is not None:  # a scalar loss: ct · gradient, from the checkpointed run
            return self._checkpointed_vjp(bound)
        spec, inputs, (program, _, fn) = self._derived(args, kwargs, "vjp")
        value = self._finish(spec, bound, "value")  # (the entry takes the user's arguments)
        seed = program.inputs[-1].aval  # the output's (float64 for an integer output)
        xs = [bound[i] for i in self.wrt]

        @api_boundary
        def vjp_fn(cotangent):
            ct = self._real_array("vjp", "the cotangent", cotangent, seed.shape, "the output has")
            grads = fn(*inputs, np.asarray(ct, dtype=seed.dtype))
            grads = tuple(like_argument(g, x) for g, x in zip(grads if isinstance(grads, tuple) else (grads,), xs))
            return grads if self.wrt_tuple else grads[0]

        return value, vjp_fn

    def _checkpointed_vjp(self, bound):
        """vjp of a checkpointed (scalar) loss: the cotangent times the gradient the
        checkpointing schedule computes, so it keeps the policy's memory bound (the vjp
        program would store everything) and gives grad's numbers at cotangent 1."""
        self._no_tree_wrt(bound, "vjp")
        value, grads = self._finish(self._specialization(bound), bound, "value_and_grad")
        grads = grads if self.wrt_tuple else (grads,)

        @api_boundary
        def vjp_fn(cotangent):
            ct = np.asarray(cotangent)
            if ct.shape != () or ct.dtype.kind not in "fiu":
                raise SignatureError(f"the cotangent of {self.name}'s scalar result is a number, "
                                     f"not {cotangent!r}", self._loc)
            pulled = tuple(like_argument(np.asarray(g) * ct.astype(np.asarray(g).dtype), bound[i])
                           for g, i in zip(grads, self.wrt))
            return pulled if self.wrt_tuple else pulled[0]

        return value, vjp_fn

    @api_boundary
    def jacobian(self, *args, mode: str = "auto"):
        """The Jacobian of the output with respect to wrt: shape out.shape + x.shape (a
        tuple of blocks when wrt is a tuple). mode "forward" costs one tangent sweep per
        input entry, "reverse" one adjoint sweep per output entry (each run as one batched
        program); "auto" picks the cheaper, and `.jacobian_mode` says which it picked."""
        bound = self._arguments(args, {}, in_order=True)
        self._no_tree_wrt(bound, "jacobian")
        spec = self._specialization(bound)
        out = spec.ir.outputs[0].aval
        xs = [np.asarray(bound[i]) for i in self.wrt]
        n, m = sum(x.size for x in xs), out.size
        if mode == "auto":
            mode = "forward" if n <= m else "reverse"
        if mode not in ("forward", "reverse"):
            raise ValueError("mode is 'auto', 'forward' or 'reverse'")
        self.jacobian_mode = mode
        from . import vectorized  # every direction at once: the derived program, batched

        blocks = [like_argument(b, bound[i]) for b, i in zip(vectorized.jacobian(self, bound, mode), self.wrt)]
        return tuple(blocks) if self.wrt_tuple else blocks[0]

    @api_boundary
    def hvp(self, *args, mode: str = "forward-over-reverse"):
        """H v: the Hessian (with respect to wrt) times v, without forming H. The last
        argument is the direction (a tuple of directions when wrt is a tuple)."""
        return self._hvp(args, mode, "hvp")

    def _hvp(self, args, mode: str, what: str):
        if mode not in ("forward-over-reverse", "reverse-over-reverse"):
            raise SignatureError(f"{what}: mode is 'forward-over-reverse' or 'reverse-over-reverse', not "
                                 f"{mode!r}", self._loc)
        if not args:
            raise SignatureError(f"hvp takes {self.name}'s arguments and then the direction v", self._loc)
        *args, v = args
        bound = self._arguments(tuple(args), {}, in_order=True)
        self._no_tree_wrt(bound, what)
        directions = v if self.wrt_tuple else (v,)
        if not isinstance(directions, (tuple, list)) or len(directions) != len(self.wrt):
            raise SignatureError(f"hvp needs one direction per wrt argument ({len(self.wrt)}), as a tuple "
                                 "when wrt is a tuple", self._loc)
        spec, inputs, (program, _, fn) = self._derived(tuple(bound), {}, f"hvp-{mode}", what)
        avals = [v.aval for v in program.inputs[len(program.inputs) - len(self.wrt):]]
        out = fn(*inputs, *self._check_directions(what, "direction", bound, directions, avals))
        out = tuple(like_argument(o, bound[i]) for o, i in zip(out if isinstance(out, tuple) else (out,), self.wrt))
        return out if self.wrt_tuple else out[0]

    @api_boundary
    def hessian(self, *args, mode: str = "forward-over-reverse"):
        """The Hessian: the Hessian-vector-product program batched over every basis direction
        (compiler/vectorized.py). For one wrt argument x it has shape x.shape + x.shape; for a
        tuple, a tuple of tuples of blocks."""
        bound = self._arguments(args, {}, in_order=True)
        self._no_tree_wrt(bound, "hessian")
        self._need_scalar(self._specialization(bound), "hessian")
        if mode not in ("forward-over-reverse", "reverse-over-reverse"):
            raise SignatureError(f"hessian: mode is 'forward-over-reverse' or 'reverse-over-reverse', "
                                 f"not {mode!r}", self._loc)
        from . import vectorized  # every column at once: the Hessian-vector product, batched

        blocks = vectorized.hessian(self, bound, mode)
        # block [i][j] is the derivative of the gradient for x_i (x_i's type) along x_j
        blocks = tuple(tuple(like_argument(b, bound[i]) for b in row) for row, i in zip(blocks, self.wrt))
        return blocks if self.wrt_tuple else blocks[0][0]

    @api_boundary
    def symbolic_grad(self):
        """The gradient as SymPy expressions rebuilt from the adjoint program, without
        expression swell: `(pairs, grads)` where `pairs` are `sympy.cse` (symbol, expr)
        definitions shared by the gradient expressions. Scalar inputs only."""
        import sympy as sp

        from .frontend.sympy_lower import to_sympy
        from .regions import flat_view

        spec = flat_view(self.latest)  # loops as SymPy: unrolled
        symbols = getattr(self.frontend, "symbols", None) or [sp.Symbol(v.name) for v in spec.ir.inputs]
        pairs, exprs = to_sympy(spec.adjoint_ir, [s for s in symbols if str(s) in
                                                  {v.name for v in spec.ir.inputs}])
        grads = exprs[1:]
        return pairs, (tuple(grads) if self.wrt_tuple else grads[0])

    @api_boundary
    def save(self, path, *, overwrite: bool = False, backend: str = "numpy") -> Path:
        """Write a standalone module (imports only NumPy). Constants too large to
        write inline go to `<stem>_consts.npz` beside it. With a checkpoint policy the module
        runs the same schedule: it holds the step functions, the schedule as data and a copy of
        gradc's checkpointing executor.
        Existing files (the module or its .npz) are replaced only with `overwrite=True`, and
        the function's own source file never (OverwriteRefused, a FileExistsError).
        `backend="array-api"` writes the module for the array API standard instead (CuPy, PyTorch,
        JAX, NumPy; needs array-api-compat): see docs/backends.md."""
        from .backends import BACKENDS

        if backend not in BACKENDS:
            raise SignatureError(f"save: backend is one of {', '.join(map(repr, BACKENDS))}, not {backend!r}",
                                 self._loc)
        path = Path(path)
        spec = self.latest
        self._writable_defaults(spec)
        if backend == "array-api":
            return self._save_array_api(spec, path, overwrite)
        npz_path = path.with_name(f"{path.stem}_consts.npz")
        check_output(path, overwrite=overwrite, protected=self.source_files())
        avoid = spec.entry.param_names() if spec.entry is not None else ()
        has_big = any(v.size > codegen.INLINE_ARRAY_LIMIT
                      for v in codegen.constants(spec.ir, spec.adjoint_ir, avoid=avoid, entry=spec.entry).values())
        if has_big:
            check_output(npz_path, overwrite=overwrite, protected=self.source_files())
        npz = f"{path.stem}_consts.npz"
        if spec.checkpointed is not None:
            from .checkpointing.module import saved_module

            saved = saved_module(spec, origin=self._origin(), policy=repr(self.checkpoint), npz=npz)
            if saved is not None:  # the step functions, the schedule and the executor
                text, big = saved
                if big:
                    check_output(path.with_name(npz), overwrite=overwrite, protected=self.source_files())
                path.write_text(text)
                if big:
                    np.savez(path.with_name(npz), **big)
                return path
            warnings.warn(f"{path.name}: the saved module stores every intermediate; checkpointing "
                          f"({self.checkpoint!r}) runs only inside gradc", stacklevel=2)
        token = codegen.FLAVOUR.set(dask_backend.LAZY) if spec.backend == "dask" else None
        try:
            text = codegen.module_source(spec.ir, spec.adjoint_ir, origin=self._origin(),
                                         grouped=self.wrt_tuple or bool(spec.leaf_sources),
                                         external_consts=npz, entry=spec.entry, result=spec.result)
        finally:
            if token is not None:
                codegen.FLAVOUR.reset(token)
        path.write_text(text)
        big = {k: v for k, v in codegen.constants(spec.ir, spec.adjoint_ir, avoid=avoid, entry=spec.entry).items()
               if v.size > codegen.INLINE_ARRAY_LIMIT}
        if big:
            np.savez(path.with_name(npz), **big)
        return path

    def _writable_defaults(self, spec: Specialization) -> None:
        """A saved module is called exactly like the loss: refused (before anything is written)
        when a parameter's default is an object no source can make (docs/supported-subset.md)."""
        for name in spec.entry.unwritable_defaults() if spec.entry is not None else ():
            default = self.signature.parameters[name].default
            raise SignatureError(
                f"save: the default of parameter {name} is a {type(default).__module__}."
                f"{type(default).__qualname__}, which a generated module cannot write (defaults are "
                "numbers, strings, None, NumPy scalars, arrays of numbers, and dicts, lists and "
                "tuples of them); the saved module would take different arguments than "
                f"{self.name}: give {name} such a default (or none)", self._loc)

    def _save_array_api(self, spec: Specialization, path: Path, overwrite: bool) -> Path:
        """The module for the array API standard: refused (CompileError) before anything is
        written when a primitive has no spelling there."""
        from .backends import array_api

        if spec.adjoint_ir is None:
            self._need_scalar(spec, "save(backend='array-api')")
        check_output(path, overwrite=overwrite, protected=self.source_files())
        npz = f"{path.stem}_consts.npz"
        text, big = array_api.module_source(spec.ir, spec.adjoint_ir, origin=self._origin(),
                                            grouped=self.wrt_tuple or bool(spec.leaf_sources),
                                            entry=spec.entry, external_consts=npz, loc=self._loc)
        if big:
            check_output(path.with_name(npz), overwrite=overwrite, protected=self.source_files())
        if spec.checkpointed is not None:
            warnings.warn(f"{path.name}: the saved module stores every intermediate; checkpointing "
                          f"({self.checkpoint!r}) runs only inside gradc", stacklevel=3)
        path.write_text(text)
        if big:
            np.savez(path.with_name(npz), **big)
        return path

    def _origin(self) -> str:
        return self.frontend.origin

    def __repr__(self) -> str:
        wrt = ", ".join(self.arg_names[i] for i in self.wrt)
        policy = f", checkpoint={self.checkpoint!r}" if self.checkpoint is not None else ""
        return f"<gradc.Compiled {self.name} wrt ({wrt}){policy}, {len(self._specs)} specialisation(s)>"

    # -- compiling ------------------------------------------------------------

    def _build(self, args) -> Specialization:
        # the generated functions take the user's arguments (and check what they were made for);
        # with a checkpoint policy the step functions take the program's inputs, which the
        # entry's leaves give (a saved module's entry function passes them to its executor)
        structured = self.python
        if not structured:
            return self._build_flat(args)
        specs, sources, leaf_specs, trees, checks = [], [], [], {}, []
        structure, kinds, grad_kinds = [], [], {}
        leaf_names = syntax.Namespace(self.arg_names)  # a leaf never takes a parameter's name
        for i, (name, a) in enumerate(zip(self.arg_names, args)):
            is_wrt = i in self.wrt
            _structure(name, a, (), structure)
            if pytree.is_container(a):
                def leaf(path, value, name=name, i=i, is_wrt=is_wrt):
                    where = pytree.path_text(name, path)
                    s = self._arg_spec(where, value, is_wrt)
                    if s.kind != "input":
                        checks.append((name, path, s.value))
                        return s.value
                    s.name = leaf_names.name(("leaf", i, path), pytree.leaf_hint(name, path), "leaf")
                    s.path = where
                    sources.append((i, path))
                    leaf_specs.append(s)
                    kinds.append(_input_kind(value))
                    grad_kinds[id(s)] = _grad_kind(value)
                    return s
                tree = pytree.map_leaves(a, leaf)
                specs.append(ArgSpec(name, "tree", value=tree))
            else:
                tree = self._arg_spec(name, a, is_wrt)
                specs.append(tree)
                if tree.kind == "input":
                    sources.append((i, ()))
                    leaf_specs.append(tree)
                    kinds.append(_input_kind(a))
                    grad_kinds[id(tree)] = _grad_kind(a)
                else:
                    checks.append((name, (), tree.value))
            if is_wrt:
                trees[i] = tree
        wrt = tuple(k for w in self.wrt for k, (i, _) in enumerate(sources) if i == w)
        program, referenced = self.frontend.lower(specs, wrt)
        out = program.outputs[0]
        counter = iter(range(len(wrt)))
        grads = [pytree.map_leaves(trees[w], lambda _, s: codegen.GradLeaf(
                     next(counter), s.pytype is float, grad_kinds.get(id(s)))) for w in self.wrt]
        entry = codegen.Entry(
            params=tuple((p.kind, p.name, p.default) for p in self.signature.parameters.values()),
            access=tuple((self.arg_names[i], path) for i, path in sources),
            grads=tuple(grads) if self.wrt_tuple else grads[0],
            wrt_names=tuple(self.arg_names[w] for w in self.wrt),
            checks=tuple(checks), structure=tuple(structure), kinds=tuple(kinds), result=program.result)
        lazy = dask_backend.uses_dask(kinds)
        if lazy:
            dask_backend.refuse_checkpoint(self.checkpoint, self._loc)
        token = codegen.FLAVOUR.set(dask_backend.LAZY) if lazy else None
        try:
            if out.shape != () or out.dtype.kind != "f":
                spec = self._vector_valued(program, out)
            else:
                spec = compile_program(program, grouped=True, origin=self._origin(),
                                       checkpoint=self.checkpoint, entry=entry)
        except CompileError:
            raise
        except Exception as e:
            raise InternalError.wrap(e, self._loc) from None
        finally:
            if token is not None:
                codegen.FLAVOUR.reset(token)
        if lazy:  # refused unless every op on the data stays lazy and exact; results as Dask arrays
            dask_backend.check((spec.ir, spec.adjoint_ir), kinds, self._loc)
            spec.backend = "dask"
            spec.value_fn = dask_backend.lazily(spec.value_fn)
            spec.value_and_grad_fn = dask_backend.lazily(spec.value_and_grad_fn)
        spec.referenced, spec.leaf_sources, spec.trees = referenced, tuple(sources), trees
        spec.grad_kinds = grad_kinds
        spec.input_positions = tuple(i for i, path in sources if not path)
        spec.guard = Guard(referenced)  # fingerprints what lowering read, as it was read
        return spec

    def _build_flat(self, args) -> Specialization:
        """Positional array, float and compile-time arguments: the generated functions take
        the program's inputs."""
        if any(dask_backend.is_dask(a) for a in args):
            dask_backend.refuse_checkpoint(self.checkpoint, self._loc)
            raise SignatureError("Dask arrays are taken by Python functions (not by formulas or SymPy "
                                 "expressions): pass NumPy arrays", self._loc)
        specs, positions, float_grads = [], [], []
        wrt_inputs = []
        for i, (name, a) in enumerate(zip(self.arg_names, args)):
            spec = self._arg_spec(name, a, i in self.wrt)
            if spec.kind == "input":
                if i in self.wrt:
                    wrt_inputs.append((self.wrt.index(i), len(positions)))
                positions.append(i)
            specs.append(spec)
        wrt_inputs.sort()
        wrt = tuple(k for _, k in wrt_inputs)
        float_grads = tuple(j for j, (_, k) in enumerate(wrt_inputs)
                            if specs[positions[k]].pytype is float)
        program, referenced = self.frontend.lower(specs, wrt)
        out = program.outputs[0]
        # the module's functions take the variables as the formula's caller passes them (a saved
        # module is called like gradc's: Python floats in, Python-float gradients out, checked)
        entry = codegen.Entry(
            params=tuple((p.kind, p.name, p.default) for p in self.signature.parameters.values()),
            access=tuple((self.arg_names[i], ()) for i in positions),
            grads=tuple(codegen.GradLeaf(j, specs[positions[k]].pytype is float, _grad_kind(args[positions[k]]))
                        for j, (_, k) in enumerate(wrt_inputs)),
            wrt_names=tuple(self.arg_names[w] for w in self.wrt),
            checks=tuple((s.name, (), s.value) for s in specs if s.kind != "input"),
            kinds=tuple(_input_kind(args[i]) for i in positions))
        if not self.wrt_tuple:
            entry = dataclasses.replace(entry, grads=entry.grads[0])
        try:
            if out.shape != () or out.dtype.kind != "f":
                spec = self._vector_valued(program, out)
            else:
                spec = compile_program(program, grouped=True, origin=self._origin(),
                                       checkpoint=self.checkpoint, entry=entry)
                if spec.entry is None and not self.wrt_tuple:  # a variable named like np or a helper:
                    spec = compile_program(program, grouped=False, origin=self._origin(),  # flat functions
                                           checkpoint=self.checkpoint)
        except CompileError:
            raise
        except Exception as e:
            raise InternalError.wrap(e, self._loc) from None
        spec.referenced, spec.input_positions, spec.float_grads = referenced, tuple(positions), float_grads
        spec.grad_kinds = tuple(_grad_kind(args[positions[k]]) for _, k in wrt_inputs)
        spec.guard = Guard(referenced)  # fingerprints what lowering read, as it was read
        return spec

    def _vector_valued(self, program: Program, out) -> Specialization:
        """A function with a non-scalar (or integer) result: value, jvp, vjp and jacobians
        work; grad explains why it cannot."""
        program = optimize(program)
        if _VERIFY:
            verify(program)
        source = codegen.single_function_module(program, program.name, f"Value of {program.name}.",
                                                self._origin(), result=program.result)
        namespace = loader.load(source, program.name, codegen.constants(program))
        value_fn = namespace[program.name]
        error = SignatureError(
            f"grad needs a function with a scalar floating-point result; {self.name} returns "
            f"{out.aval} here (reduce it, e.g. with np.sum, or use gradc.jacobian / gradc.vjp)",
            self.frontend.return_loc() or self._loc)

        def no_gradient(*_):
            raise error.with_traceback(None)  # (the same error each call: its traceback anew)

        spec = Specialization(program, None, source, value_fn, no_gradient, result=program.result)
        _hold_lines(spec, namespace)
        return spec

    def _arg_spec(self, name, a, is_wrt) -> ArgSpec:
        if isinstance(a, bool) or (isinstance(a, int) and not isinstance(a, np.integer)):
            if is_wrt:
                raise SignatureError(f"cannot differentiate with respect to {name}={a!r}: it is "
                                     f"{'a bool' if isinstance(a, bool) else 'an integer'}; "
                                     f"pass a float (e.g. {float(a)!r})", self._loc)
            return ArgSpec(name, "static", value=a)
        if isinstance(a, float) and not isinstance(a, np.generic):  # np.float64 is a (strong) NumPy scalar
            return ArgSpec(name, "input", Aval((), np.dtype(np.float64)), pytype=float)
        if isinstance(a, np.ndarray) and type(a) is not np.ndarray:  # np.matrix, masked, memmap, ...
            raise SignatureError(
                f"argument {name} is a {type(a).__module__}.{type(a).__qualname__}, a subclass of ndarray "
                "whose operators and functions differ from a plain array's (gradc compiles NumPy's "
                "ndarray semantics); "
                + (f"pass np.asarray({name})" if "[" not in name else "pass np.asarray(...) of it"),
                self._loc)
        if isinstance(a, (np.ndarray, np.generic)):
            dtype = a.dtype
            numpy_scalar = isinstance(a, np.generic)
            if is_wrt and dtype.kind != "f":
                raise SignatureError(
                    f"cannot differentiate with respect to {name}: its dtype is {dtype}, not a "
                    f"floating-point type; convert it with .astype(float)", self._loc)
            if dtype.kind not in "fiub" or (dtype.kind == "f" and dtype.itemsize > 8):
                raise SignatureError(f"argument {name} has dtype {dtype}, which gradc does not "
                                     "support (float16/32/64, integer and bool arrays are)", self._loc)
            if not dtype.isnative:
                raise SignatureError(f"argument {name} has dtype {dtype.str}, in the other byte order "
                                     "than this machine's; gradc takes native arrays: pass "
                                     f"{name}.astype({name}.dtype.newbyteorder('='))", self._loc)
            return ArgSpec(name, "input", Aval(tuple(a.shape), dtype), numpy_scalar=numpy_scalar)
        if dask_backend.is_dask(a):
            return ArgSpec(name, "input", dask_backend.aval(name, a, self._loc))
        if a is None or isinstance(a, str):
            if is_wrt:
                raise SignatureError(f"cannot differentiate with respect to {name}={a!r}: it is "
                                     f"{'None' if a is None else 'a string'}, a compile-time constant"
                                     + ("; pass it in an argument that is not differentiated"
                                        if "[" in name else ""), self._loc)
            return ArgSpec(name, "static", value=a)
        raise SignatureError(f"argument {name} is a {type(a).__name__}; gradc takes NumPy arrays and "
                             "floats (inputs), ints, bools, strings and None (compile-time constants), "
                             "and dicts, lists and tuples of them (parameter trees)", self._loc)


def compile_program(program: Program, *, grouped: bool = False, origin: str = "an SSA program",
                    checkpoint=None, entry: "codegen.Entry | None" = None) -> Specialization:
    """The back half of the pipeline, for any scalar-output program (frontends and tests
    use it): optimise, derive the adjoint, generate source, load it. With a
    `checkpoint` policy the gradient runs as checkpointed steps (compiler/checkpointing/)."""
    policy = checkpointing.resolve(checkpoint)
    result = program.result  # (the Python type of the value; the Entry's when there is one)
    program = optimize(program)
    chain = None
    if policy is not None:
        loop = loop_of(program)  # its iterations are the steps, the loop stays a loop
        chain = loop_plan(program, loop) if loop is not None else None
        if chain is None:  # steps from the source's marks, loop iterations or layers
            program = optimize(unroll(program, steps=True))
            if not has_steps(program):
                program = cut_layers(program)
    program = number_steps(program)  # (a store-all program keeps the op order a stepped one has)
    adjoint = reverse(program, program.wrt)
    if _VERIFY:
        verify(program)
        verify(adjoint)
    if entry is not None and not entry.usable(program, adjoint):
        entry = None  # a parameter named like the module's own names (np, a helper): flat functions
    source = codegen.module_source(program, adjoint, origin=origin, grouped=grouped, entry=entry, result=result)
    avoid = entry.param_names() if entry is not None else ()
    namespace = loader.load(source, program.name, codegen.constants(program, adjoint, avoid=avoid, entry=entry))
    spec = Specialization(program, adjoint, source, namespace[program.name],
                          namespace[f"{program.name}_value_and_grad"], entry=entry, result=result)
    spec.scalar = policy is None and codegen_scalar.applies(program, adjoint, entry)  # (steps take float64)
    if entry is not None:
        spec.fast_value_fn = dispatch.unchecked(spec.value_fn)
        spec.fast_value_and_grad_fn = dispatch.unchecked(spec.value_and_grad_fn)
    _hold_lines(spec, namespace)
    if policy is not None:
        if chain is None:
            chain = split(adjoint, count_steps(program)).chain_plan()
        spec.checkpointed = checkpointing.build(chain, policy, grouped=grouped, origin=origin)
        spec.value_and_grad_fn = spec.checkpointed
        _hold_lines(spec, spec.checkpointed.namespace)
    return spec


def _as_numpy_sees(name: str, a, loc):
    """An argument as NumPy treats it. An instance of a subclass of float (not a NumPy
    scalar) is a strong float64 to NumPy (`x32 * Real(0.5)` is float64; a Python float is
    weak): it enters as np.float64. An instance of a subclass of int (an IntEnum, say) is a
    strong int64 to NumPy but a compile-time int to gradc, so it is refused rather than
    given a Python int's meaning. Parameter trees are looked through; a container is
    rebuilt only where a leaf changes."""
    t = type(a)
    if t in (float, int, bool, str, np.ndarray) or a is None or isinstance(a, np.generic):
        return a
    if isinstance(a, float):
        return np.float64(a)
    if isinstance(a, int):
        raise SignatureError(
            f"argument {name} is an instance of {t.__name__}, a subclass of int: NumPy computes with it as an int64 "
            f"array scalar, gradc with a Python int as a compile-time constant; pass int({name}) "
            f"(a compile-time int) or np.int64({name})", loc)
    if t is dict:
        items = {k: _as_numpy_sees(f"{name}[{k!r}]", v, loc) for k, v in a.items()}
        return a if all(items[k] is v for k, v in a.items()) else items
    if t in (list, tuple):
        parts = [_as_numpy_sees(f"{name}[{k}]", v, loc) for k, v in enumerate(a)]
        return a if all(p is v for p, v in zip(parts, a)) else t(parts)
    return a


def _arg_key(a):
    if dask_backend.is_dask(a):
        return dask_backend.arg_key(a)
    if isinstance(a, np.ndarray) and type(a) is not np.ndarray:
        return ("other", type(a).__name__)  # an ndarray subclass: never a plain array's entry
    if isinstance(a, np.ndarray):
        return (a.shape, a.dtype.str)
    if isinstance(a, np.generic):
        return ("scalar", a.dtype.str)
    if isinstance(a, float):
        return float
    if isinstance(a, (bool, int, str)) or a is None:
        return ("static", type(a).__name__, a)
    return ("other", type(a).__name__)


def _structure(name, a, path, out):
    """The containers of an argument tree, for the generated functions' checks."""
    if type(a) is dict:
        out.append((name, path, "dict", tuple(a)))
        for k, v in a.items():
            _structure(name, v, path + (k,), out)
    elif type(a) in (list, tuple):
        out.append((name, path, type(a).__name__, len(a)))
        for k, v in enumerate(a):
            _structure(name, v, path + (k,), out)


def _input_kind(a):
    """What a program input was made from: a Python float, a NumPy scalar or an array."""
    if isinstance(a, float) and not isinstance(a, np.generic):
        return ("float",)
    if isinstance(a, np.generic):
        return ("scalar", a.dtype.name)
    if dask_backend.is_dask(a):
        return dask_backend.input_kind(a)
    return ("array", tuple(a.shape), a.dtype.name)


def like_argument(d, x):
    """A derivative with respect to the argument x (a pulled-back cotangent, an hvp, a Jacobian
    or Hessian block) with x's dtype (float64 for a Python float), and, where it is 0-d, of x's
    kind, as a gradient is: a Python float's is a Python float, a NumPy scalar's a NumPy scalar,
    a 0-d array's a 0-d array (docs/supported-subset.md, "Types of derivatives")."""
    if isinstance(x, np.generic):  # (before float: np.float64 is a float)
        a = np.asarray(d, dtype=x.dtype)
        return a if a.ndim else a[()]
    if isinstance(x, float):
        a = np.asarray(d, dtype=np.float64)
        return a if a.ndim else float(a)
    return np.asarray(d, dtype=x.dtype)


def _grad_kind(a):
    """A gradient has its argument's type: a NumPy scalar's is a NumPy scalar of its dtype, a
    0-d array's a 0-d array (a Python float's a Python float: GradLeaf.as_float)."""
    if isinstance(a, np.generic):
        return ("scalar", a.dtype.name)
    if isinstance(a, np.ndarray) and a.ndim == 0:
        return ("array0", a.dtype.name)
    return None


def _as_result(value, kind):
    """A 0-d value as the Python type NumPy gives it (Program.result; None: as it is)."""
    if kind == "float":
        return float(value)
    if kind == "scalar":
        return np.asarray(value)[()]
    if kind == "array":
        return np.asarray(value)
    return value


def _as_grad_type(g, kind):
    if kind is None:
        return g
    if kind[0] == "scalar":
        return np.dtype(kind[1]).type(g)
    return np.asarray(g, dtype=kind[1])


def _fix_floats(grads, float_slots, grouped):
    if not float_slots:
        return grads
    if not grouped:
        return float(grads)
    return tuple(float(g) if i in float_slots else g for i, g in enumerate(grads))


# -- function-style API ----------------------------------------------------

_cache: OrderedDict = OrderedDict()  # least recently used first, at most MAX_COMPILED


@api_boundary
def compile(fn, wrt=0, *, args=None, kwargs=None, variables=None, checkpoint=None) -> Compiled:  # noqa: A001
    """Compile `fn` for gradients with respect to `wrt` (a name or position, or a tuple).

    `fn` is a Python function, a math string ("sin(x) * y"), or a SymPy expression.
    With `args`, compile now for those example arguments so `.ir` and `.source`
    are ready to inspect; otherwise compiling happens on the first call.
    `variables` orders a formula's or expression's variables (default: wrt first for
    SymPy, alphabetical for strings; see docs/supported-subset.md).
    `checkpoint` trades recomputation for memory: None stores every intermediate;
    "segments" / Segments(k) stores every k-th step's state; Revolve(snapshots=s) runs
    the optimal binomial schedule with s stored states (see docs/checkpointing.md).
    """
    key = (getattr(fn, "__code__", fn), _wrt_key(wrt), _wrt_key(variables),
           checkpointing.policy_key(checkpointing.resolve(checkpoint)))
    try:
        compiled = _cache.get(key)
    except TypeError:  # an unhashable callable object (Compiled says what gradc takes): not cached
        compiled, key = None, None
    if compiled is None or not (compiled.fn is fn or (isinstance(fn, str) and compiled.fn == fn)):
        compiled = Compiled(fn, wrt, variables, checkpoint)
        if key is not None:
            _cache[key] = compiled
            while len(_cache) > max(MAX_COMPILED, 1):
                _cache.popitem(last=False)
    if key is not None:
        _cache.move_to_end(key)
    if args is not None or kwargs is not None:
        compiled.specialize(*(args or ()), **(kwargs or {}))
    return compiled


def _wrt_key(wrt):
    """`wrt` as a cache key that tells `1`, `True` and `1.0` apart (equal, and equally hashed,
    in a dict: `wrt=True` would reuse what `wrt=1` compiled, though it is refused)."""
    if isinstance(wrt, (list, tuple)):  # (a list and a tuple of the same names are the same wrt)
        return ("several", tuple(_wrt_key(w) for w in wrt))
    return (type(wrt), wrt)


@api_boundary
def value_and_grad(fn, wrt=0, *, variables=None, checkpoint=None, compute=False):
    """`f(*args) -> (value, gradient)`; the gradient is a tuple when `wrt` is. With Dask
    arguments both are lazy Dask arrays of one graph; `compute=True` computes them (one
    dask.compute) and returns NumPy results."""
    entry = _entry_point(fn, wrt, variables, "value_and_grad", "Value and gradient", checkpoint=checkpoint)
    return _computing(entry, "value_and_grad") if compute else entry


@api_boundary
def grad(fn, wrt=0, *, variables=None, checkpoint=None, compute=False):
    """`f(*args) -> gradient` with the shape and dtype of the `wrt` argument(s) (lazy Dask
    arrays for Dask arguments, unless `compute=True`)."""
    entry = _entry_point(fn, wrt, variables, "grad", "Gradient", checkpoint=checkpoint)
    return _computing(entry, "grad") if compute else entry


def _computing(entry, which: str):
    """`entry`, whose lazy Dask results are computed in one graph (NumPy results unchanged)."""
    compiled = entry.compiled

    @api_boundary
    def run(*args, **kwargs):
        result = entry(*args, **kwargs)
        spec = compiled.latest
        return dask_backend.computed(result, spec, which) if spec.backend == "dask" else result

    run.compiled, run.__name__, run.__doc__ = compiled, entry.__name__, entry.__doc__
    return run


def _entry_point(fn, wrt, variables, method: str, what: str, checkpoint=None, **options):
    """A plain function calling `Compiled.<method>(*args, **options)`; `.compiled` is kept."""
    compiled = compile(fn, wrt, variables=variables, checkpoint=checkpoint)
    if method in ("value", "grad", "value_and_grad") and not options:
        entry = _fast_entry(compiled, method)
    else:
        run = getattr(compiled, method)

        @api_boundary
        def entry(*args, **kwargs):
            return run(*args, **kwargs, **options)

    entry.compiled = compiled
    entry.__name__ = f"{method}_{compiled.name}"
    entry.__doc__ = f"{what} of {compiled.name}, compiled by gradc."
    entry.__signature__ = compiled.signature  # help() and IDEs show the loss's parameters
    return entry


def _fast_entry(compiled: Compiled, which: str):
    """`entry(*args, **kwargs)` for value, grad or value_and_grad: a call whose positional
    arguments match the most recent specialisation runs its generated function at once
    (dispatch.py); every other call goes through `Compiled._run`, with the arguments as they
    were given. For a function of n ordinary parameters the entry is written for n:
    `entry(a0=NO, ..., a{n-1}=NO, /, *rest, **kw)` takes n positional arguments without
    packing them into a tuple or unpacking them again, and calls the fast function with
    them (~0.06 µs less per call than `*args`) while the function still has n parameters
    (a new __code__ may have another count); the parameters are positional-only, so
    keywords, missing and extra arguments reach `_run` exactly as given (the last one given
    means all are). The entry is its own api_boundary (a try statement costs nothing until
    something raises)."""
    n = compiled._nargs
    params = [f"a{k}" for k in range(max(n, 0))]
    first = f"first_{which}"
    if n > 0:
        given = ", ".join(params)
        head = f"def entry({', '.join(p + '=NO' for p in params)}, /, *rest, **kw):"
        fast = (f"        if {params[-1]} is not NO and not (rest or kw) and compiled._nargs == {n}:\n"
                f"            out = compiled._specs.{first}({given})\n"
                f"            if out is not MISS:\n"
                f"                return out\n"
                f"        return run(tuple(a for a in ({given},) if a is not NO) + rest, kw, {which!r})\n")
    else:  # no parameters, or not all ordinary ones (_nargs -1): every call binds in _run
        head = "def entry(*rest, **kw):"
        fast = (f"        if len(rest) == compiled._nargs and not kw:\n"
                f"            out = compiled._specs.{first}(*rest)\n"
                f"            if out is not MISS:\n"
                f"                return out\n"
                f"        return run(rest, kw, {which!r})\n")
    source = (f"{head}\n    try:\n{fast}"
              "    except CompileError as e:\n"
              "        at_user_frames(e)\n"
              "        raise  # bare: this frame is not added again\n")
    names = {"NO": object(), "MISS": dispatch.MISS, "compiled": compiled, "run": compiled._run,
             "CompileError": CompileError, "at_user_frames": _at_user_frames}
    return loader.load(source, "entry", names)["entry"]  # names and numbers only: no user text


def _at_user_frames(e: CompileError) -> None:
    """What api_boundary does to a CompileError leaving gradc: its traceback without gradc's
    own frames (GRADC_TRACEBACK=full keeps them)."""
    if not full_tracebacks():
        e.with_traceback(user_frames(e.__traceback__))
        if e.__cause__ is None:
            e.__suppress_context__ = True


@api_boundary
def jvp(fn, primals, tangents, wrt=0, *, variables=None):
    """(value, directional derivative) of fn at `primals` along `tangents` (forward mode)."""
    return compile(fn, wrt, variables=variables).jvp(primals, tangents)


@api_boundary
def hvp(fn, wrt=0, *, mode: str = "forward-over-reverse", variables=None):
    """`hvp_fn(*args, v) -> H v`, the Hessian with respect to wrt times v (a tuple of
    directions when wrt is a tuple), without forming H: forward-over-reverse by default,
    reverse-over-reverse with mode="reverse-over-reverse"."""
    return _entry_point(fn, wrt, variables, "hvp", "Hessian-vector product", mode=mode)


@api_boundary
def hessian(fn, wrt=0, *, mode: str = "forward-over-reverse", variables=None):
    """`hessian_fn(*args) -> H`: the Hessian-vector-product program run on every basis
    direction at once (a batched program; a large Hessian a block of columns at a time)."""
    return _entry_point(fn, wrt, variables, "hessian", "Hessian", mode=mode)


@api_boundary
def vjp(fn, *args, wrt=0, variables=None):
    """(value, vjp_fn) at args; vjp_fn(cotangent) pulls the cotangent back to wrt."""
    return compile(fn, wrt, variables=variables).vjp(*args)


@api_boundary
def vmap(fn, in_axes=0, out_axes=0):
    """`fn` over a batch: `in_axes` gives, per positional argument, the axis its examples are
    stacked along (None: shared by every example; one int: every argument); each result gets
    the batch as axis `out_axes`. `fn` is a function, a compiled function, or gradc.grad /
    gradc.value_and_grad of one: `vmap(grad(loss), in_axes=(None, 0, 0))` gives per-example
    gradients, from one generated program (`.program`, `.source`)."""
    from .vectorized import VMapped

    return VMapped(fn, in_axes, out_axes)


@api_boundary
def jacobian(fn, wrt=0, *, variables=None):
    """`jacobian_fn(*args)`; picks forward or reverse mode by input and output sizes
    (O(n) tangent sweeps against O(m) adjoint sweeps) and records it in
    `jacobian_fn.compiled.jacobian_mode`."""
    return _entry_point(fn, wrt, variables, "jacobian", "Jacobian", mode="auto")


@api_boundary
def jacfwd(fn, wrt=0, *, variables=None):
    """The Jacobian by forward mode: the tangent program run on every input direction at once."""
    return _entry_point(fn, wrt, variables, "jacobian", "Jacobian (forward mode)", mode="forward")


@api_boundary
def jacrev(fn, wrt=0, *, variables=None):
    """The Jacobian by reverse mode: the adjoint program run on every output entry at once."""
    return _entry_point(fn, wrt, variables, "jacobian", "Jacobian (reverse mode)", mode="reverse")
