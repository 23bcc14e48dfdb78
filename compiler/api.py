"""The public API: grad, value_and_grad, compile, and the Compiled object.

gradc specialises to argument shapes and dtypes, as JAX's jit does: shapes
decide loop trip counts, broadcasting and which sums the adjoint needs, so
knowing them gives straight-line code with no runtime shape logic. A Compiled
object keeps one specialisation per argument signature; compiling happens on
the first call with a new signature (or eagerly with `compile(fn, args=...)`).
"""
from __future__ import annotations

import os
import shutil
import warnings
import weakref
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import codegen
from .ad import reverse
from .ad.derived import hvp_program, jvp_program, vjp_program
from .errors import CompileError, InternalError, SignatureError
from .frontend.captured import Guard
from .frontend.python import ArgSpec
from .frontend.sources import frontend_for
from .ir import Aval, Program, verify
from . import stepped
from .frontend.python import UNROLL_LOOPS
from .passes import optimize
from .regions import unroll
from .passes.steps import count_steps, cut_layers, has_steps, number_steps
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
    input_positions: tuple = ()  # which call arguments are program inputs
    float_grads: tuple = ()  # wrt slots whose argument was a Python float
    derived: dict = field(default_factory=dict)  # (kind, options) → loaded derived function
    checkpointed: "stepped.Checkpointed | None" = None  # the step functions, with a checkpoint policy
    guard: Guard | None = None  # the compile-time reads from outside the arguments, fingerprinted
    linecache_files: list = field(default_factory=list)  # generated sources this one registered

    def __post_init__(self):
        weakref.finalize(self, _release_lines, self.linecache_files).atexit = False

    def still_valid(self) -> bool:
        return self.guard is None or self.guard.valid()


class Compiled:
    """A loss function compiled to value and gradient code.

    `.value(*args)`, `.grad(*args)`, `.value_and_grad(*args)` run it; `.ir`,
    `.adjoint_ir` and `.source` show what was generated for the latest argument
    signature; `.save(path)` writes a standalone module that imports only NumPy.
    """

    def __init__(self, fn, wrt=0, variables=None, checkpoint=None):
        self.fn = fn
        self.checkpoint = stepped.resolve(checkpoint)
        self.frontend = frontend_for(fn, wrt, variables)
        self.name = self.frontend.name
        self._loc = self.frontend.loc
        self.signature = self.frontend.signature
        params = list(self.signature.parameters.values())
        for p in params:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise SignatureError(f"*args/**kwargs parameters are not supported ({p})", self._loc)
        self.arg_names = [p.name for p in params]
        self.wrt_tuple = isinstance(wrt, (tuple, list))
        self.wrt = tuple(self._position(w) for w in (wrt if self.wrt_tuple else (wrt,)))
        if len(set(self.wrt)) != len(self.wrt):
            raise SignatureError(f"wrt={wrt!r} names an argument twice", self._loc)
        self._specs: OrderedDict = OrderedDict()  # least recently used first
        self.max_specializations = MAX_SPECIALIZATIONS
        self._latest: Specialization | None = None

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

    def _arguments(self, args, kwargs) -> list:
        if kwargs or len(args) != len(self.arg_names):
            try:
                bound = self.signature.bind(*args, **kwargs)
            except TypeError as e:
                raise SignatureError(f"bad arguments for {self.name}: {e}", self._loc) from None
            bound.apply_defaults()
            args = tuple(bound.arguments.values())
        args = [self._list_argument(name, a) if isinstance(a, list) else a
                for name, a in zip(self.arg_names, args)]
        if getattr(self.frontend, "real_variables", False):  # a formula's variables are real numbers
            args = [float(a) if isinstance(a, int) and not isinstance(a, bool) else a for a in args]
        return args

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

    def specialize(self, *args, **kwargs) -> Specialization:
        return self._specialization(self._arguments(args, kwargs))

    def _specialization(self, args) -> Specialization:
        """The code for these argument shapes, compiled again when a value it read from
        outside the arguments (global, closure variable, container, array) has changed."""
        key = tuple(_arg_key(a) for a in args)
        specs = self._specs
        spec = specs.get(key)
        if spec is not None and (spec.guard is None or spec.guard.valid()):
            specs.move_to_end(key)
        else:
            specs.pop(key, None)
            spec = self._build(args)
            specs[key] = spec
            while len(specs) > max(self.max_specializations, 1):
                specs.popitem(last=False)
        self._latest = spec
        return spec

    def _still_valid(self, spec: Specialization) -> bool:
        return spec.still_valid()

    @staticmethod
    def _inputs(spec: Specialization, args) -> list:
        # Python floats enter as float64 scalars, the dtype the program was compiled for.
        return [np.float64(a) if type(a) is float else a for a in (args[i] for i in spec.input_positions)]

    def _run(self, args, kwargs, which):
        args = self._arguments(args, kwargs)
        spec = self._specialization(args)
        inputs = self._inputs(spec, args)
        if which == "value":
            return spec.value_fn(*inputs)
        value, grads = spec.value_and_grad_fn(*inputs)
        grads = _fix_floats(grads, spec.float_grads, self.wrt_tuple)
        return grads if which == "grad" else (value, grads)

    def value(self, *args, **kwargs):
        return self._run(args, kwargs, "value")

    def grad(self, *args, **kwargs):
        return self._run(args, kwargs, "grad")

    def value_and_grad(self, *args, **kwargs):
        return self._run(args, kwargs, "value_and_grad")

    __call__ = value

    # -- inspecting -----------------------------------------------------------

    @property
    def latest(self) -> Specialization:
        if self._latest is None:
            raise CompileError(
                f"{self.name} has not been compiled for any argument shapes yet: call "
                f".grad(...) once, or use gradc.compile({self.name}, wrt=..., args=(...))",
                self._loc)
        return self._latest

    ir = property(lambda self: self.latest.ir, doc="the forward SSA program")
    adjoint_ir = property(lambda self: self.latest.adjoint_ir, doc="forward sweep + reverse sweep")

    @property
    def source(self) -> str:
        """The generated module's text: with a checkpoint policy, the step functions."""
        spec = self.latest
        return spec.checkpointed.source if spec.checkpointed else spec.source

    @property
    def schedule(self):
        """The checkpointing schedule the gradient runs (None: everything is stored).
        Print it, count it (`.forward_steps`, `.max_snapshots`) or draw it (`.render`)."""
        spec = self.latest
        return spec.checkpointed.schedule if spec.checkpointed else None

    def trace(self, *args, **kwargs):
        """The forward and reverse trace at these arguments, as in the lecture's table:
        one row per SSA value with its equation and value, and its adjoint's."""
        from .trace import build_trace

        args = self._arguments(args, kwargs)
        spec = self._specialization(args)
        return build_trace(spec, self._inputs(spec, args))

    def derived(self, kind: str):
        """(program, source) of a derived function already computed for the latest
        arguments: "jvp", "vjp", "hvp-forward-over-reverse", "hvp-reverse-over-reverse"."""
        spec = self.latest
        if kind not in spec.derived:
            done = ", ".join(sorted(spec.derived)) or "none yet"
            raise CompileError(f"no {kind!r} program for these arguments yet (computed: {done}); call "
                               f".{kind.split('-')[0]}(...) first", self._loc)
        program, source, _ = spec.derived[kind]
        return program, source

    def graph(self, kind: str = "forward", values=None, program: str | None = None):
        """The computational graph as a `graphviz.Digraph`: kind "forward", "adjoint" or
        "both"; `values` (a trace from `.trace(...)`) labels nodes with numbers.
        `program` draws a derived program ("jvp", "hvp-...") in place of the adjoint."""
        from types import SimpleNamespace

        from .render import build_graph

        spec = self.latest
        if program is not None:
            spec = SimpleNamespace(ir=spec.ir, adjoint_ir=self.derived(program)[0])
        return build_graph(spec, kind, values)

    def render(self, path, kind: str = "forward", values=None, program: str | None = None, *,
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
        """Jupyter shows a compiled function as its forward graph (SVG), or its listing."""
        if self._latest is None:
            return {"text/plain": repr(self)}
        from .render import mimebundle

        return mimebundle(self.graph("forward"), text=str(self.ir))

    # -- forward mode and second derivatives ------------------------------------

    def _derived(self, args, kwargs, kind: str, build):
        """A derived program (tangent, Hessian-vector product) for these arguments,
        built once per specialisation, loaded as a function of (inputs..., directions...)."""
        args = self._arguments(args, kwargs)
        spec = self._specialization(args)
        if kind not in spec.derived:
            program = build(spec)
            if _VERIFY:
                verify(program)
            fname = f"{self.name}_{kind.replace('-', '_')}"
            source = codegen.single_function_module(program, fname, f"{kind} of {self.name}",
                                                    self._origin())
            namespace = loader.load(source, fname, codegen.constants(program))
            _hold_lines(spec, namespace)
            spec.derived[kind] = (program, source, namespace[fname])
        return spec, self._inputs(spec, args), spec.derived[kind]

    def jvp(self, primals, tangents):
        """(value, directional derivative) at `primals` (the function's arguments) along
        `tangents`: one direction per wrt argument (a tuple when wrt is a tuple; a bare
        array or a 1-tuple when it is not), or JAX's form, one per primal, where the
        directions of arguments outside wrt must be zero."""
        primals = tuple(primals)
        spec, inputs, (_, _, fn) = self._derived(primals, {}, "jvp", lambda sp: jvp_program(sp.ir))
        directions = [np.asarray(t, dtype=np.result_type(np.asarray(primals[i]).dtype, np.float64)
                                 if np.asarray(primals[i]).dtype.kind != "f" else np.asarray(primals[i]).dtype)
                      for t, i in zip(self._tangents_for_wrt(primals, tangents), self.wrt)]
        value, derivative = fn(*inputs, *directions)
        return value, derivative

    def _tangents_for_wrt(self, primals, tangents) -> list:
        """The direction for each wrt argument, checked against its shape."""
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
        for name, i, t in zip(names, self.wrt, chosen):
            want, got = np.shape(primals[i]), np.shape(t)
            if want != got:
                raise SignatureError(f"jvp: the tangent for {name} has shape {got}; {name} has shape "
                                     f"{want}", self._loc)
        return chosen

    def vjp(self, *args, **kwargs):
        """(value, vjp_fn): vjp_fn(cotangent) is the cotangent pulled back to the wrt
        arguments (a tuple when wrt is a tuple), for functions with any output shape."""
        spec, inputs, (_, _, fn) = self._derived(args, kwargs, "vjp", lambda sp: vjp_program(sp.ir))
        value = spec.value_fn(*inputs)
        out_aval = spec.ir.outputs[0].aval

        def vjp_fn(cotangent):
            ct = np.asarray(cotangent, dtype=np.result_type(out_aval.dtype, np.float64))
            if ct.shape != out_aval.shape:
                raise SignatureError(f"the cotangent must have the output's shape {out_aval.shape}, "
                                     f"not {ct.shape}", self._loc)
            grads = fn(*inputs, ct)
            grads = grads if isinstance(grads, tuple) else (grads,)
            return grads if self.wrt_tuple else grads[0]

        return value, vjp_fn

    def jacobian(self, *args, mode: str = "auto"):
        """The Jacobian of the output with respect to wrt: shape out.shape + x.shape (a
        tuple of blocks when wrt is a tuple). mode "forward" costs one tangent sweep per
        input entry, "reverse" one adjoint sweep per output entry; "auto" picks the
        cheaper, and `.jacobian_mode` says which it picked."""
        bound = self._arguments(args, {})
        spec = self._specialization(bound)
        out = spec.ir.outputs[0].aval
        xs = [np.asarray(bound[i]) for i in self.wrt]
        n, m = sum(x.size for x in xs), out.size
        if mode == "auto":
            mode = "forward" if n <= m else "reverse"
        if mode not in ("forward", "reverse"):
            raise ValueError("mode is 'auto', 'forward' or 'reverse'")
        self.jacobian_mode = mode
        blocks = [np.zeros(out.shape + x.shape) for x in xs]
        if mode == "forward":
            for j, x in enumerate(xs):
                for idx in np.ndindex(x.shape):
                    tangents = [np.zeros(x2.shape) for x2 in xs]
                    tangents[j][idx] = 1.0
                    _, column = self.jvp(bound, tuple(tangents) if self.wrt_tuple else tangents[0])
                    blocks[j][(Ellipsis,) + idx] = column
        else:
            _, pull = self.vjp(*bound)
            for idx in np.ndindex(out.shape):
                ct = np.zeros(out.shape)
                ct[idx] = 1.0
                rows = pull(ct)
                for j, row in enumerate(rows if self.wrt_tuple else (rows,)):
                    blocks[j][idx] = row
        return tuple(blocks) if self.wrt_tuple else blocks[0]

    def hvp(self, *args, mode: str = "forward-over-reverse"):
        """H v: the Hessian (with respect to wrt) times v, without forming H. The last
        argument is the direction (a tuple of directions when wrt is a tuple)."""
        if mode not in ("forward-over-reverse", "reverse-over-reverse"):
            raise ValueError("mode is 'forward-over-reverse' or 'reverse-over-reverse'")
        *args, v = args
        directions = v if self.wrt_tuple else (v,)
        if not isinstance(directions, (tuple, list)) or len(directions) != len(self.wrt):
            raise SignatureError(f"hvp needs one direction per wrt argument ({len(self.wrt)}), as a tuple "
                                 "when wrt is a tuple", self._loc)
        spec, inputs, (_, _, fn) = self._derived(tuple(args), {}, f"hvp-{mode}",
                                                 lambda sp: hvp_program(sp.adjoint_ir, mode))
        out = fn(*inputs, *[np.asarray(d, dtype=np.float64) for d in directions])
        out = out if isinstance(out, tuple) else (out,)
        out = tuple(float(o) if spec.ir.inputs[k].pytype is float else o for o, k in zip(out, spec.ir.wrt))
        return out if self.wrt_tuple else out[0]

    def hessian(self, *args, mode: str = "forward-over-reverse"):
        """The Hessian, column by column from Hessian-vector products. For one wrt argument
        x it has shape x.shape + x.shape; for a tuple, a tuple of tuples of blocks."""
        bound = self._arguments(args, {})
        xs = [np.asarray(bound[i], dtype=np.float64) for i in self.wrt]
        blocks = [[np.zeros(a.shape + b.shape) for b in xs] for a in xs]
        for j, xj in enumerate(xs):
            for idx in np.ndindex(xj.shape):
                direction = [np.zeros(x.shape) for x in xs]
                direction[j][idx] = 1.0
                col = self.hvp(*bound, tuple(direction) if self.wrt_tuple else direction[0], mode=mode)
                col = col if self.wrt_tuple else (col,)
                for i in range(len(xs)):
                    blocks[i][j][(Ellipsis,) + idx] = col[i]
        if not self.wrt_tuple:
            h = blocks[0][0]
            return float(h) if h.ndim == 0 and isinstance(bound[self.wrt[0]], float) else h
        return tuple(tuple(row) for row in blocks)

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

    def save(self, path, *, overwrite: bool = False) -> Path:
        """Write a standalone module (imports only NumPy). Constants too large to
        write inline go to `<stem>_consts.npz` beside it. With a checkpoint policy the
        module still stores everything (the schedule needs gradc's runtime); a warning says so.
        Existing files (the module or its .npz) are replaced only with `overwrite=True`, and
        the function's own source file never (OverwriteRefused, a FileExistsError)."""
        path = Path(path)
        spec = self.latest
        npz_path = path.with_name(f"{path.stem}_consts.npz")
        check_output(path, overwrite=overwrite, protected=self.source_files())
        has_big = any(v.size > codegen.INLINE_ARRAY_LIMIT
                      for v in codegen.constants(spec.ir, spec.adjoint_ir).values())
        if has_big:
            check_output(npz_path, overwrite=overwrite, protected=self.source_files())
        if spec.checkpointed is not None:
            warnings.warn(f"{path.name}: the saved module stores every intermediate; checkpointing "
                          f"({self.checkpoint!r}) runs only inside gradc", stacklevel=2)
        npz = f"{path.stem}_consts.npz"
        text = codegen.module_source(spec.ir, spec.adjoint_ir, origin=self._origin(),
                                     grouped=self.wrt_tuple, external_consts=npz)
        path.write_text(text)
        big = {k: v for k, v in codegen.constants(spec.ir, spec.adjoint_ir).items()
               if v.size > codegen.INLINE_ARRAY_LIMIT}
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
        # checkpointing acts on a flat program whose steps are loop iterations: unroll loops
        token = UNROLL_LOOPS.set(True) if self.checkpoint is not None else None
        try:
            program, referenced = self.frontend.lower(specs, wrt)
        finally:
            if token is not None:
                UNROLL_LOOPS.reset(token)
        out = program.outputs[0]
        try:
            if out.shape != () or out.dtype.kind != "f":
                spec = self._vector_valued(program, out)
            else:
                spec = compile_program(program, grouped=self.wrt_tuple, origin=self._origin(),
                                       checkpoint=self.checkpoint)
        except CompileError:
            raise
        except Exception as e:
            raise InternalError.wrap(e, self._loc) from None
        spec.referenced, spec.input_positions, spec.float_grads = referenced, tuple(positions), float_grads
        spec.guard = Guard(referenced)  # fingerprints what lowering read, as it was read
        return spec

    def _vector_valued(self, program: Program, out) -> Specialization:
        """A function with a non-scalar (or integer) result: value, jvp, vjp and jacobians
        work; grad explains why it cannot."""
        program = optimize(program)
        if _VERIFY:
            verify(program)
        source = codegen.single_function_module(program, program.name, f"Value of {program.name}.",
                                                self._origin())
        namespace = loader.load(source, program.name, codegen.constants(program))
        value_fn = namespace[program.name]
        error = SignatureError(
            f"grad needs a function with a scalar floating-point result; {self.name} returns "
            f"{out.aval} here (reduce it, e.g. with np.sum, or use compiler.jacobian / compiler.vjp)",
            self.frontend.return_loc() or self._loc)

        def no_gradient(*_):
            raise error

        spec = Specialization(program, None, source, value_fn, no_gradient)
        _hold_lines(spec, namespace)
        return spec

    def _arg_spec(self, name, a, is_wrt) -> ArgSpec:
        if isinstance(a, bool) or (isinstance(a, int) and not isinstance(a, np.integer)):
            if is_wrt:
                raise SignatureError(f"cannot differentiate with respect to {name}={a!r}: it is "
                                     f"{'a bool' if isinstance(a, bool) else 'an integer'}; "
                                     f"pass a float (e.g. {float(a)!r})", self._loc)
            return ArgSpec(name, "static", value=a)
        if isinstance(a, float):
            return ArgSpec(name, "input", Aval((), np.dtype(np.float64)), pytype=float)
        if isinstance(a, (np.ndarray, np.generic)):
            dtype = a.dtype
            if is_wrt and dtype.kind != "f":
                raise SignatureError(
                    f"cannot differentiate with respect to {name}: its dtype is {dtype}, not a "
                    f"floating-point type; convert it with .astype(float)", self._loc)
            if dtype.kind not in "fiub" or (dtype.kind == "f" and dtype.itemsize > 8):
                raise SignatureError(f"argument {name} has dtype {dtype}, which gradc does not "
                                     "support (float16/32/64, integer and bool arrays are)", self._loc)
            return ArgSpec(name, "input", Aval(tuple(a.shape), dtype))
        if a is None or isinstance(a, str):
            if is_wrt:
                raise SignatureError(f"cannot differentiate with respect to {name}={a!r}", self._loc)
            return ArgSpec(name, "static", value=a)
        raise SignatureError(f"argument {name} is a {type(a).__name__}; gradc takes NumPy arrays, "
                             "floats, and ints or strings (compile-time constants)", self._loc)


def compile_program(program: Program, *, grouped: bool = False, origin: str = "an SSA program",
                    checkpoint=None) -> Specialization:
    """The back half of the pipeline, for any scalar-output program (frontends and tests
    use it): optimise, derive the adjoint, generate source, load it. With a
    `checkpoint` policy the gradient runs as checkpointed steps (compiler/stepped.py)."""
    policy = stepped.resolve(checkpoint)
    if policy is not None:
        program = unroll(program)
    program = optimize(program)
    if policy is not None and not has_steps(program):
        program = cut_layers(program)
    program = number_steps(program)
    adjoint = reverse(program, program.wrt)
    if _VERIFY:
        verify(program)
        verify(adjoint)
    source = codegen.module_source(program, adjoint, origin=origin, grouped=grouped)
    namespace = loader.load(source, program.name, codegen.constants(program, adjoint))
    spec = Specialization(program, adjoint, source, namespace[program.name],
                          namespace[f"{program.name}_value_and_grad"])
    _hold_lines(spec, namespace)
    if policy is not None:
        spec.checkpointed = stepped.build(adjoint, count_steps(program), policy, grouped=grouped,
                                          origin=origin)
        spec.value_and_grad_fn = spec.checkpointed
        _hold_lines(spec, spec.checkpointed.namespace)
    return spec


def _arg_key(a):
    if isinstance(a, np.ndarray):
        return (a.shape, a.dtype.str)
    if isinstance(a, np.generic):
        return ("scalar", a.dtype.str)
    if isinstance(a, float):
        return float
    if isinstance(a, (bool, int, str)) or a is None:
        return ("static", type(a).__name__, a)
    return ("other", type(a).__name__)


def _fix_floats(grads, float_slots, grouped):
    if not float_slots:
        return grads
    if not grouped:
        return float(grads)
    return tuple(float(g) if i in float_slots else g for i, g in enumerate(grads))


# -- function-style API ----------------------------------------------------

_cache: OrderedDict = OrderedDict()  # least recently used first, at most MAX_COMPILED


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
           stepped.policy_key(stepped.resolve(checkpoint)))
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
    if args is not None:
        compiled.specialize(*args, **(kwargs or {}))
    return compiled


def _wrt_key(wrt):
    return tuple(wrt) if isinstance(wrt, (list, tuple)) else wrt


def value_and_grad(fn, wrt=0, *, variables=None, checkpoint=None):
    """`f(*args) -> (value, gradient)`; the gradient is a tuple when `wrt` is."""
    return _entry_point(fn, wrt, variables, "value_and_grad", "Value and gradient", checkpoint=checkpoint)


def grad(fn, wrt=0, *, variables=None, checkpoint=None):
    """`f(*args) -> gradient` with the shape and dtype of the `wrt` argument(s)."""
    return _entry_point(fn, wrt, variables, "grad", "Gradient", checkpoint=checkpoint)


def _entry_point(fn, wrt, variables, method: str, what: str, checkpoint=None, **options):
    """A plain function calling `Compiled.<method>(*args, **options)`; `.compiled` is kept."""
    compiled = compile(fn, wrt, variables=variables, checkpoint=checkpoint)
    run = getattr(compiled, method)

    def entry(*args, **kwargs):
        return run(*args, **kwargs, **options)

    entry.compiled = compiled
    entry.__name__ = f"{method}_{compiled.name}"
    entry.__doc__ = f"{what} of {compiled.name}, compiled by gradc."
    return entry


def jvp(fn, primals, tangents, wrt=0, *, variables=None):
    """(value, directional derivative) of fn at `primals` along `tangents` (forward mode)."""
    return compile(fn, wrt, variables=variables).jvp(primals, tangents)


def hvp(fn, wrt=0, *, mode: str = "forward-over-reverse", variables=None):
    """`hvp_fn(*args, v) -> H v`, the Hessian with respect to wrt times v (a tuple of
    directions when wrt is a tuple), without forming H: forward-over-reverse by default,
    reverse-over-reverse with mode="reverse-over-reverse"."""
    return _entry_point(fn, wrt, variables, "hvp", "Hessian-vector product", mode=mode)


def hessian(fn, wrt=0, *, mode: str = "forward-over-reverse", variables=None):
    """`hessian_fn(*args) -> H` (from Hessian-vector products, one per input entry)."""
    return _entry_point(fn, wrt, variables, "hessian", "Hessian", mode=mode)


def vjp(fn, *args, wrt=0, variables=None):
    """(value, vjp_fn) at args; vjp_fn(cotangent) pulls the cotangent back to wrt."""
    return compile(fn, wrt, variables=variables).vjp(*args)


def jacobian(fn, wrt=0, *, variables=None):
    """`jacobian_fn(*args)`; picks forward or reverse mode by input and output sizes
    (O(n) tangent sweeps against O(m) adjoint sweeps) and records it in
    `jacobian_fn.compiled.jacobian_mode`."""
    return _entry_point(fn, wrt, variables, "jacobian", "Jacobian", mode="auto")


def jacfwd(fn, wrt=0, *, variables=None):
    """The Jacobian by forward mode: one tangent sweep per input entry."""
    return _entry_point(fn, wrt, variables, "jacobian", "Jacobian (forward mode)", mode="forward")


def jacrev(fn, wrt=0, *, variables=None):
    """The Jacobian by reverse mode: one adjoint sweep per output entry."""
    return _entry_point(fn, wrt, variables, "jacobian", "Jacobian (reverse mode)", mode="reverse")
