"""Batched programs behind the public API: `vmap`, and Hessians and Jacobians computed for
all basis directions at once (the batching pass, ad/batching.py, applied to a derived program).

Each batched program is generated and loaded once per specialisation, batch size and
choice of batched inputs, and kept with the specialisation's other derived programs.
"""
from __future__ import annotations

import os

import numpy as np

from . import codegen, pytree
from .ad.batching import batch_with_report
from .errors import SignatureError
from .ir import Program, verify
from .passes import dce
from .passes.activity import varied
from .tracebacks import api_boundary
from gradc.runtime import loader
from gradc.runtime.progress import progress

# Basis directions go through the batched program this many bytes of intermediates at a time
# (GRADC_BATCH_BYTES overrides): a large Hessian is computed a block of columns at a time.
BATCH_BYTES = 256 * 2**20


MAX_BATCHED = 16  # batched programs of one kind ("vmap", "batched") kept per specialisation


def batch_bytes() -> int:
    text = os.environ.get("GRADC_BATCH_BYTES", "").strip()
    try:
        return max(int(text), 1) if text else BATCH_BYTES
    except ValueError:
        return BATCH_BYTES


def _load(compiled, spec, key, program: Program, in_axes, size: int, fname: str, doc: str):
    """The program batched and loaded (cached in spec.derived under key)."""
    if key not in spec.derived:
        from .api import _VERIFY, _hold_lines

        batched, fallbacks = batch_with_report(program, in_axes, size, name=fname)
        if _VERIFY:
            verify(batched)
        source = codegen.single_function_module(batched, fname, doc, compiled._origin())
        namespace = loader.load(source, fname, codegen.constants(batched, avoid=(fname,)))
        _hold_lines(spec, namespace)
        spec.derived[key] = (batched, source, namespace[fname], fallbacks)
        mine = [k for k in spec.derived if isinstance(k, tuple) and k[:1] == key[:1]]
        for old in mine[:-MAX_BATCHED]:  # the oldest go first (a new batch size each call)
            del spec.derived[old]
    return spec.derived[key]


def _as_tuple(out, n: int) -> tuple:
    return tuple(out) if n > 1 else (out,)


# -- basis directions: Hessians and Jacobians ----------------------------------------------------


def _chunk(program: Program, positions, total: int) -> int:
    """How many directions to push through at once: as many as fit in batch_bytes() of the
    intermediates that depend on them."""
    live = varied(program, positions)
    per = sum(v.aval.size * v.dtype.itemsize for v in live if v.producer is not None
              and v.dtype != object) or 1
    return int(max(1, min(total, batch_bytes() // per)))


def _directions(shapes, dtypes, start: int, count: int) -> list[np.ndarray]:
    """Columns start..start+count-1 of the identity over all the direction inputs, one
    (count, *shape) array per input."""
    out, offset = [], 0
    for shape, dtype in zip(shapes, dtypes):
        n = int(np.prod(shape, dtype=np.int64))
        d = np.zeros((count, n), dtype=dtype)
        lo, hi = max(start, offset), min(start + count, offset + n)
        if lo < hi:
            d[np.arange(lo - start, hi - start), np.arange(lo - offset, hi - offset)] = 1
        out.append(d.reshape((count,) + tuple(shape)))
        offset += n
    return out


def over_basis(compiled, spec, kind: str, program: Program, inputs: list, n_dirs: int, what: str):
    """Run `program` (a derived program whose last n_dirs inputs are directions) on every basis
    direction; returns, per output, an array (N, *output shape) of the output's dtype (a float32
    argument's derivatives stay float32), row k the output for column k of the identity over all
    direction entries."""
    first = len(program.inputs) - n_dirs
    plan = spec.derived.get(("plan", kind))
    if plan is None:
        dirs = program.inputs[first:]
        total = sum(d.aval.size for d in dirs)
        chunk = _chunk(program, range(first, len(program.inputs)), total) if total else 1
        plan = spec.derived[("plan", kind)] = ([d.shape for d in dirs], [d.dtype for d in dirs], total, chunk)
    shapes, dtypes, total, chunk = plan
    axes = [None] * first + [0] * n_dirs
    fname = f"{compiled.name}_{kind.replace('-', '_')}_batched"
    starts = range(0, total, chunk)
    outs = [np.zeros((total,) + v.shape, dtype=v.dtype) for v in program.outputs] if len(starts) > 1 else None
    for start in progress(starts, len(starts), f"{what} of {compiled.name}"):
        count = min(chunk, total - start)
        fn = _load(compiled, spec, ("batched", kind, count), program, axes, count, fname,
                   f"{kind} of {compiled.name} over {count} directions at once")[2]
        result = _as_tuple(fn(*inputs, *_directions(shapes, dtypes, start, count)), len(program.outputs))
        if outs is None:
            return [np.asarray(r, dtype=v.dtype) for r, v in zip(result, program.outputs)]
        for o, r in zip(outs, result):
            o[start:start + count] = r
    return outs if outs is not None else [np.zeros((0,) + v.shape, dtype=v.dtype) for v in program.outputs]


def _column_blocks(rows: np.ndarray, sizes, shapes, out_shape) -> list[np.ndarray]:
    """rows (N, *out_shape), row k for basis column k: the blocks out_shape + shape_j per
    direction input j (entry [o..., i...] is row i's entry o)."""
    blocks, offset = [], 0
    r = len(out_shape)
    for n, shape in zip(sizes, shapes):
        block = rows[offset:offset + n].reshape(tuple(shape) + tuple(out_shape))
        order = tuple(range(len(shape), len(shape) + r)) + tuple(range(len(shape)))
        block = block.transpose(order)
        blocks.append(block if block.flags.c_contiguous else block.copy())
        offset += n
    return blocks


def hessian(compiled, bound, mode: str):
    """The Hessian blocks [i][j] (shape x_i.shape + x_j.shape), from the Hessian-vector-product
    program batched over every basis direction."""
    kind = f"hvp-{mode}"
    spec = compiled._specialization(bound)
    compiled._need_scalar(spec, "hessian")
    if kind not in spec.derived:
        compiled._load_derived(spec, kind, "hessian")
    program = spec.derived[kind][0]
    n = len(compiled.wrt)
    shapes = [v.shape for v in program.inputs[-n:]]
    sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
    outs = over_basis(compiled, spec, kind, program, compiled._inputs(spec, bound), n, "hessian")
    return [_column_blocks(o, sizes, shapes, v.shape) for o, v in zip(outs, program.outputs)]


def jacobian(compiled, bound, mode: str):
    """The Jacobian blocks (out.shape + x_j.shape): the tangent program batched over every
    input direction (forward) or the cotangent program over every output entry (reverse)."""
    spec = compiled._specialization(bound)
    kind = "jvp" if mode == "forward" else "vjp"
    if kind not in spec.derived:
        compiled._load_derived(spec, kind)
    program = spec.derived[kind][0]
    inputs = compiled._inputs(spec, bound)
    out_shape = spec.ir.outputs[0].shape
    n = len(compiled.wrt)
    if mode == "forward":
        tangent = dce(program.with_ops(program.ops, program.outputs[1:]))  # the tangent alone
        shapes = [v.shape for v in program.inputs[-n:]]
        sizes = [int(np.prod(s, dtype=np.int64)) for s in shapes]
        rows = over_basis(compiled, spec, "jvp-tangent", tangent, inputs, n, "jacobian")[0]
        return _column_blocks(rows, sizes, shapes, out_shape)
    outs = over_basis(compiled, spec, "vjp", program, inputs, 1, "jacobian")
    return [o.reshape(tuple(out_shape) + tuple(v.shape)) for o, v in zip(outs, program.outputs)]


# -- vmap ------------------------------------------------------------------------------------------

_METHODS = {"grad": "per-example gradient", "value_and_grad": "per-example value and gradient",
            "value": "value"}


def _target(fn):
    """(Compiled or None, method) for what vmap was given."""
    from .api import Compiled

    if isinstance(fn, Compiled):
        return fn, "value"
    compiled = getattr(fn, "compiled", None)
    if isinstance(compiled, Compiled):
        for method in ("value_and_grad", "grad"):
            if getattr(fn, "__name__", "") == f"{method}_{compiled.name}":
                return compiled, method
        raise SignatureError(
            f"vmap takes a function, gradc.grad(...), gradc.value_and_grad(...) or a compiled "
            f"function, not {getattr(fn, '__name__', fn)!r}: batch the function it differentiates "
            "instead", compiled._loc)
    if isinstance(fn, VMapped):
        raise SignatureError("vmap of a vmapped function is not supported: give in_axes for "
                             "one batch axis")
    return None, "value"


def _axes_option(in_axes):
    if in_axes is None or (isinstance(in_axes, (int, np.integer)) and not isinstance(in_axes, bool)):
        return in_axes if in_axes is None else int(in_axes)
    if isinstance(in_axes, (tuple, list)):
        for a in in_axes:
            if not (a is None or (isinstance(a, (int, np.integer)) and not isinstance(a, bool))):
                raise SignatureError(f"vmap: each entry of in_axes is an int or None, not {a!r}")
        return tuple(None if a is None else int(a) for a in in_axes)
    raise SignatureError(f"vmap: in_axes is an int, None, or a tuple of them (one per positional "
                         f"argument), not {in_axes!r}")


class VMapped:
    """`fn` over a batch: each argument with an in_axes entry is split along that axis into
    examples, the others are shared; every result gets the batch as axis out_axes. The
    batched program is generated once per argument signature (`.program`, `.source`)."""

    def __init__(self, fn, in_axes=0, out_axes=0):
        self.fn = fn
        self.compiled, self.method = _target(fn)
        self.in_axes = _axes_option(in_axes)
        if isinstance(out_axes, bool) or not isinstance(out_axes, (int, np.integer)):
            raise SignatureError(f"vmap: out_axes is an int (where the batch goes in each result), "
                                 f"not {out_axes!r}")
        self.out_axes = int(out_axes)
        self._latest = None
        self.__name__ = f"vmap_{getattr(fn, '__name__', 'fn')}"
        self.__doc__ = f"{getattr(fn, '__name__', 'fn')} over a batch, compiled by gradc."

    def __repr__(self) -> str:
        return f"<gradc.vmap of {getattr(self.fn, '__name__', self.fn)!r}, in_axes={self.in_axes!r}>"

    @property
    def program(self) -> Program:
        """The batched SSA program of the latest call."""
        return self._last()[0]

    @property
    def source(self) -> str:
        """The generated module of the latest call."""
        return self._last()[1]

    @property
    def fallbacks(self) -> tuple:
        """Primitives the latest batched program runs once per example (no batching rule)."""
        return self._last()[3]

    def _last(self):
        if self._latest is None:
            raise SignatureError("this vmapped function has not been called yet: call it once")
        return self._latest

    @api_boundary
    def __call__(self, *args, **kwargs):
        compiled = self._compiled(args, kwargs)
        bound = compiled._arguments(args, kwargs)
        axes = self._parameter_axes(compiled, args)
        size = None
        example = list(bound)
        for i, axis in enumerate(axes):
            if axis is not None:
                example[i], size = self._split(compiled, i, bound[i], axis, size)
        if size is None:
            raise SignatureError("vmap: no argument is batched (every in_axes entry is None)", compiled._loc)
        spec = compiled._specialization(example)
        program = self._program(compiled, spec)
        in_axes = self._input_axes(spec, bound, axes)
        name = f"{compiled.name}_{self.method}_vmap"
        self._latest = _load(compiled, spec, ("vmap", self.method, in_axes, size), program, in_axes, size,
                             name, f"The {_METHODS[self.method]} of {compiled.name} over a batch of {size}.")
        out = _as_tuple(self._latest[2](*compiled._inputs(spec, bound)), len(program.outputs))
        out = [self._move(compiled, o) for o in out]
        if self.method == "value":
            return out[0]
        grads = self._structure(compiled, spec, out[1:] if self.method == "value_and_grad" else out)
        return (out[0], grads) if self.method == "value_and_grad" else grads

    def _compiled(self, args, kwargs):
        if self.compiled is not None:
            return self.compiled
        from .api import Compiled, compile

        probe = Compiled(self.fn, 0)  # binds the call; its wrt is never compiled
        bound = probe._arguments(args, kwargs)
        floats = [i for i, a in enumerate(bound)
                  if isinstance(a, float) or (isinstance(a, (np.ndarray, np.generic)) and a.dtype.kind == "f")]
        # the value needs no wrt: with integer arguments only, none (wrt=0 would refuse an int)
        return compile(self.fn, wrt=floats[0] if floats else ())

    def _parameter_axes(self, compiled, args) -> list:
        """The batch axis of each parameter: in_axes entries go with the positional arguments."""
        n = len(compiled.arg_names)
        params = list(compiled.signature.parameters.values())
        positional = [k for k, p in enumerate(params) if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        given = self.in_axes if isinstance(self.in_axes, tuple) else (self.in_axes,) * len(args)
        if len(given) != len(args):
            raise SignatureError(f"vmap: in_axes has {len(given)} entries for {len(args)} positional "
                                 "arguments (one per positional argument; keyword arguments are shared)",
                                 compiled._loc)
        axes = [None] * n
        for k, axis in enumerate(given):
            if axis is None:
                continue
            if k >= len(positional):
                raise SignatureError("vmap: arguments passed to *args cannot be batched", compiled._loc)
            axes[positional[k]] = axis
        return axes

    def _split(self, compiled, i, a, axis, size):
        """One example of argument i (its leaves cut along `axis`), and the batch size."""
        name = compiled.arg_names[i]

        def leaf(path, x):
            nonlocal size
            where = pytree.path_text(name, path)
            if type(x) is not np.ndarray:
                raise SignatureError(f"vmap: {where} is batched (in_axes {axis}) but is a "
                                     f"{type(x).__name__}, not a NumPy array", compiled._loc)
            if not -x.ndim <= axis < x.ndim:
                raise SignatureError(f"vmap: in_axes {axis} is out of range for {where}, an array of "
                                     f"shape {x.shape}", compiled._loc)
            n = x.shape[axis]
            if size is not None and n != size:
                raise SignatureError(f"vmap: batched arguments have different sizes along their in_axes: "
                                     f"{where} has {n}, another {size}", compiled._loc)
            size = n
            if n == 0:
                return np.zeros(x.shape[:axis % x.ndim] + x.shape[axis % x.ndim + 1:], dtype=x.dtype)
            return np.take(x, 0, axis=axis)

        return pytree.map_leaves(a, leaf), size

    def _program(self, compiled, spec) -> Program:
        if self.method == "value":
            return spec.ir
        compiled._need_scalar(spec, "vmap of grad")
        adjoint = spec.adjoint_ir
        if self.method == "grad":
            return dce(adjoint.with_ops(adjoint.ops, adjoint.outputs[1:]))
        return adjoint

    @staticmethod
    def _input_axes(spec, bound, axes) -> tuple:
        """The batch axis of each program input (a leaf of its argument), counted from 0."""
        sources = spec.leaf_sources or tuple((i, ()) for i in spec.input_positions)
        out = []
        for i, path in sources:
            if axes[i] is None:
                out.append(None)
                continue
            x = bound[i]
            for k in path:
                x = x[k]
            out.append(axes[i] % x.ndim)
        return tuple(out)

    def _move(self, compiled, out):
        if self.out_axes == 0:
            return out
        if not -out.ndim <= self.out_axes < out.ndim:
            raise SignatureError(f"vmap: out_axes {self.out_axes} is out of range for a result with "
                                 f"{out.ndim} axes (the batch included)", compiled._loc)
        return np.moveaxis(out, 0, self.out_axes)

    @staticmethod
    def _structure(compiled, spec, grads):
        """The per-example gradients in the structure of their arguments."""
        flat = iter(grads)
        if spec.leaf_sources:
            out = [pytree.map_leaves(spec.trees[w], lambda _, s: next(flat)) for w in compiled.wrt]
        else:
            out = list(grads)
        return tuple(out) if compiled.wrt_tuple else out[0]


def vmap(fn, in_axes=0, out_axes=0) -> VMapped:
    return VMapped(fn, in_axes, out_axes)
