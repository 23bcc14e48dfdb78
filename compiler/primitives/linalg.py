"""Matrix products and shape-only operations (views: no data is copied)."""
from __future__ import annotations

import numpy as np

from ..syntax import MUL, call, infix, literal, method
from . import ops, registry, same_dtype
from .reductions import axis_literal, expand_like, normalize_axis, reduced_shape


def _matmul_shape(avals):
    a, b = (x.shape for x in avals)
    if not a or not b:
        raise ValueError("operands must be at least 1-D (use * for scalars)")
    ka = a[-1]
    kb = b[0] if len(b) == 1 else b[-2]
    if ka != kb:
        raise ValueError(f"shapes {a} and {b} do not align ({ka} != {kb})")
    if len(a) == 1 and len(b) == 1:
        return ()
    if len(b) == 1:
        return a[:-1]
    if len(a) == 1:
        return b[:-2] + b[-1:]
    batch = np.broadcast_shapes(a[:-2], b[:-2])
    return tuple(batch) + (a[-2], b[-1])


def _matmul_vjp(g, out, x, y):
    if x.ndim == 1 and y.ndim == 1:
        return [g * y, g * x]
    if y.ndim == 1 and x.ndim == 2:
        return [ops.outer(g, y), g @ x]
    if x.ndim == 1 and y.ndim == 2:
        return [y @ g, ops.outer(x, g)]
    if x.ndim == 1:  # a vector times a stack of matrices: (k,) @ (..., k, n) -> (..., n)
        return [ops.getitem(y @ ops.expand_dims(g, axis=-1), index=(Ellipsis, 0)),
                ops.expand_dims(x, axis=-1) * ops.expand_dims(g, axis=-2)]
    if y.ndim == 1:  # a stack of matrices times a vector: (..., m, k) @ (k,) -> (..., m)
        return [ops.expand_dims(g, axis=-1) * y,
                ops.getitem(ops.expand_dims(g, axis=-2) @ x, index=(Ellipsis, 0, slice(None)))]
    return [g @ ops.transpose(y, axes=_swap_last(y.ndim)), ops.transpose(x, axes=_swap_last(x.ndim)) @ g]


def _swap_last(ndim):
    axes = list(range(ndim))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return tuple(axes)


def _bilinear_jvp(prim):
    def jvp(tangents, out, x, y):
        dx, dy = tangents
        terms = ([getattr(ops, prim)(dx, y)] if dx is not None else []) + \
                ([getattr(ops, prim)(x, dy)] if dy is not None else [])
        return terms[0] if len(terms) == 1 else terms[0] + terms[1]
    return jvp


registry.define("matmul", impl=np.matmul, family="linalg", arity=2, jvp=_bilinear_jvp("matmul"),
                emit=lambda a, b, **_: infix("@", MUL, a, b),
                shape_rule=lambda avals: _matmul_shape(avals), vjp=_matmul_vjp)

registry.define(
    "outer", impl=np.outer, family="linalg", arity=2, jvp=_bilinear_jvp("outer"),
    emit=lambda a, b, **_: call("np.outer", a, b),
    shape_rule=lambda avals: (avals[0].size, avals[1].size),
    vjp=lambda g, out, x, y: [_unflatten(g @ _flat(y), x), _unflatten(_flat(x) @ g, y)],
)


def _flat(v):
    return v if v.ndim == 1 else ops.reshape(v, shape=(-1,))


def _unflatten(v, like):
    return v if like.ndim == 1 else ops.reshape(v, shape=like.shape)


# --- shape operations ------------------------------------------------------


def _transpose_params(values, params):
    ndim = values[0].ndim
    axes = params.get("axes")
    if axes is None:
        axes = tuple(reversed(range(ndim)))
    axes = tuple(int(a) % ndim if ndim else int(a) for a in axes)
    if sorted(axes) != list(range(ndim)):
        raise ValueError(f"axes {axes} are not a permutation of {ndim} dimensions")
    return {"axes": axes}


def _transpose_emit(a, axes):
    if axes == tuple(reversed(range(len(axes)))):
        return method(a, ".T")
    return call("np.transpose", a, literal(axes))


transpose = registry.define(
    "transpose", dtype_rule=same_dtype, linear=True, impl=lambda x, axes: np.transpose(x, axes), family="linalg", fresh=False,
    emit=_transpose_emit,
    shape_rule=lambda avals, axes: tuple(avals[0].shape[i] for i in axes),
    vjp=lambda g, out, x, axes: [_transpose_adjoint(g, tuple(np.argsort(axes).tolist()))],
)


def _transpose_adjoint(g, axes):
    """(a @ b).T is computed as b.T @ a.T: BLAS writes the result in the layout the
    transposed operand's adjoint needs, instead of a strided copy later. Safe to
    rewrite because an adjoint is read only by its own op's rule (the old product dies)."""
    op = g.producer
    if op is not None and op.prim.name == "matmul" and g.ndim == 2 and all(v.ndim == 2 for v in op.inputs):
        a, b = op.inputs
        return ops.transpose(b, axes=None) @ ops.transpose(a, axes=None)
    return ops.transpose(g, axes=axes)
transpose.canonical_params = _transpose_params


def _reshape_params(values, params):
    shape = params["shape"]
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    size = values[0].aval.size
    if shape.count(-1) > 1:
        raise ValueError("can only specify one unknown dimension")
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
        shape = tuple(size // known if d == -1 else d for d in shape)
    if int(np.prod(shape, dtype=np.int64)) != size:
        raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
    return {"shape": shape}


reshape = registry.define(
    "reshape", dtype_rule=same_dtype, linear=True, impl=lambda x, shape: np.reshape(x, shape), family="linalg", fresh=False,
    emit=lambda a, shape: method(a, f".reshape({literal(shape).text})"),
    shape_rule=lambda avals, shape: shape,
    vjp=lambda g, out, x, shape: [ops.reshape(g, shape=x.shape)],
)
reshape.canonical_params = _reshape_params


def _broadcast_to_params(values, params):
    shape = tuple(int(d) for d in params["shape"])
    np.broadcast_shapes(values[0].shape, shape)  # raises for incompatible shapes
    if np.broadcast_shapes(values[0].shape, shape) != shape:
        raise ValueError(f"cannot broadcast {values[0].shape} to {shape}")
    return {"shape": shape}


broadcast_to = registry.define(
    "broadcast_to", dtype_rule=same_dtype, linear=True, impl=lambda x, shape: np.broadcast_to(x, shape), family="linalg",
    fresh=False, foldable=False,  # folding would materialise a large array from a scalar
    emit=lambda a, shape: call("np.broadcast_to", a, literal(shape)),
    shape_rule=lambda avals, shape: shape,
    vjp=lambda g, out, x, shape: [ops.sum_to(g, shape=x.shape)],
)
broadcast_to.canonical_params = _broadcast_to_params


def _expand_dims_params(values, params):
    axis = params["axis"]
    axes = axis if isinstance(axis, tuple) else (axis,)
    ndim = values[0].ndim + len(axes)
    return {"axis": normalize_axis(axes, ndim)}


def _expand_dims_shape(avals, axis):
    shape = list(avals[0].shape)
    for a in axis:
        shape.insert(a, 1)
    return tuple(shape)


expand_dims = registry.define(
    "expand_dims", dtype_rule=same_dtype, linear=True, impl=lambda x, axis: np.expand_dims(x, axis), family="linalg", fresh=False,
    emit=lambda a, axis: call("np.expand_dims", a, literal(axis_literal(axis))),
    shape_rule=_expand_dims_shape,
    vjp=lambda g, out, x, axis: [ops.reshape(g, shape=x.shape)],
)
expand_dims.canonical_params = _expand_dims_params


# --- concatenate: np.array / np.stack / np.concatenate of traced pieces ----------


def _concatenate_params(values, params):
    ndim = values[0].ndim
    if ndim == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    axis = params.get("axis", 0)
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis!r} is out of bounds for array of dimension {ndim}")
    return {"axis": int(axis) % ndim}


def _concatenate_shape(avals, axis):
    first = avals[0].shape
    for a in avals[1:]:
        if len(a.shape) != len(first) or any(d != e for i, (d, e) in enumerate(zip(a.shape, first))
                                             if i != axis):
            raise ValueError(f"all the input array dimensions except for the concatenation axis "
                             f"must match exactly: {first} and {a.shape} along axis {axis}")
    return first[:axis] + (sum(a.shape[axis] for a in avals),) + first[axis + 1:]


def _concatenate_vjp(g, out, *xs, axis):
    pieces, start = [], 0
    for x in xs:
        stop = start + x.shape[axis]
        pieces.append(ops.getitem(g, index=(slice(None),) * axis + (slice(start, stop),)))
        start = stop
    return pieces


def _concatenate_jvp(tangents, out, *xs, axis):
    if all(t is None for t in tangents):
        return None
    return ops.concatenate(*(ops.zeros_like(x) if t is None else t for t, x in zip(tangents, xs)),
                           axis=axis)


concatenate = registry.define(
    "concatenate", impl=lambda *xs, axis: np.concatenate(xs, axis=axis), family="linalg", arity=None,
    emit=lambda *xs, axis: call("np.concatenate", f"[{', '.join(str(x) for x in xs)}]", axis=axis),
    shape_rule=_concatenate_shape,
    dtype_rule=lambda avals, values, axis: np.result_type(*(a.dtype for a in avals)),
    vjp=_concatenate_vjp, jvp=_concatenate_jvp,
    doc="join arrays along an existing axis (np.array, np.stack, np.hstack/vstack lower to it)",
)
concatenate.canonical_params = _concatenate_params


# --- einsum: every contraction (np.einsum, dot, tensordot, inner, kron, trace, diagonal) ---------
# The subscripts are kept in an explicit canonical form: ellipses replaced by letters, the
# output always spelled out ("ij,jk->ik"), so the derivative rules read the labels directly.

_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def parse_einsum(subscripts, ndims):
    """NumPy's subscript grammar -> (input terms, output term), explicit, without ellipses."""
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum subscripts must be a string, not {type(subscripts).__name__}")
    s = subscripts.replace(" ", "")
    bad = set(s) - set(_LETTERS) - set(".,->")
    if bad:
        raise ValueError(f"invalid subscript {sorted(bad)[0]!r} in einstein sum subscripts string")
    if s.count("->") > 1 or (s.count("-") != s.count(">")) or s.count("-") != s.count("->"):
        raise ValueError("einstein sum subscripts string includes output subscripts in the wrong format")
    explicit = "->" in s
    ins, out = s.split("->") if explicit else (s, None)
    terms = ins.split(",")
    if len(terms) != len(ndims):
        raise ValueError(f"{len(terms)} subscript terms for {len(ndims)} operands")
    used = set(c for c in s if c in _LETTERS)
    free = [c for c in _LETTERS if c not in used]
    n_ell = []
    for t, nd in zip(terms, ndims):
        if "." in t:
            if t.count("...") != 1 or t.replace("...", "").count("."):
                raise ValueError("invalid ellipsis ('...') in einstein sum subscripts string")
            k = nd - (len(t) - 3)
            if k < 0:
                raise ValueError(f"operand has {nd} dimensions, fewer than its subscripts {t!r}")
            n_ell.append(k)
        else:
            if len(t) != nd:
                raise ValueError(f"operand has {nd} dimensions but its subscripts {t!r} name {len(t)}")
            n_ell.append(0)
    m = max(n_ell, default=0)
    if m > len(free):
        raise ValueError("too many subscripts in einsum")
    ell = "".join(free[:m])
    terms = [t.replace("...", ell[m - k:]) for t, k in zip(terms, n_ell)]
    if explicit:
        if "." in out:
            if out.count("...") != 1 or out.replace("...", "").count("."):
                raise ValueError("invalid ellipsis ('...') in einstein sum output subscripts")
            out = out.replace("...", ell)
        elif m and any(n_ell):
            raise ValueError("output has more dimensions than subscripts given in einstein sum, but "
                             "no '...' ellipsis provided to broadcast the extra dimensions.")
        if len(set(out)) != len(out):
            raise ValueError(f"einstein sum subscripts string includes output subscript "
                             f"{next(c for c in out if out.count(c) > 1)!r} multiple times")
        for c in out:
            if not any(c in t for t in terms):
                raise ValueError(f"einstein sum subscripts string included output subscript {c!r} "
                                 "which never appeared in an input")
    else:
        counts = {}
        for c in "".join(terms):
            counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    return terms, out


def einsum_sizes(terms, shapes):
    sizes = {}
    for t, shape in zip(terms, shapes):
        own = {}
        for c, d in zip(t, shape):
            if own.setdefault(c, d) != d:
                raise ValueError(f"dimensions in operand for collapsing index {c!r} don't match "
                                 f"({own[c]} != {d})")
            if c not in sizes or sizes[c] == 1:
                sizes[c] = d
            elif d != 1 and d != sizes[c]:
                raise ValueError(f"operands could not be broadcast together: subscript {c!r} has "
                                 f"sizes {sizes[c]} and {d}")
    return sizes


def _split(subscripts):
    ins, out = subscripts.split("->")
    return ins.split(","), out


def _einsum_params(values, params):
    terms, out = parse_einsum(params["subscripts"], [v.ndim for v in values])
    return {"subscripts": ",".join(terms) + "->" + out}


def _einsum_shape(avals, subscripts):
    terms, out = _split(subscripts)
    sizes = einsum_sizes(terms, [a.shape for a in avals])
    return tuple(sizes[c] for c in out)


def _einsum_impl(*xs, subscripts):
    return np.einsum(subscripts, *xs, optimize=len(xs) > 2)


def _einsum_emit(*xs, subscripts):
    kw = {"optimize": True} if len(xs) > 2 else {}
    return call("np.einsum", repr(subscripts), *xs, **kw)  # canonical letters only: safe to quote


def _einsum_adjoint(g, xs, k, terms, out):
    """The cotangent of operand k: an einsum of g with the other operands onto k's labels.
    Labels only k has (summed inside k) are broadcast back; labels k broadcasts (size 1
    against a larger size) are summed; a label repeated within k (a diagonal) gets the
    result written back on that diagonal by an einsum with an identity matrix."""
    x, term = xs[k], terms[k]
    sizes = einsum_sizes(terms, [v.shape for v in xs])
    own = {c: d for c, d in zip(term, x.shape)}
    uniq = list(dict.fromkeys(term))
    present = set(out).union(*(set(t) for j, t in enumerate(terms) if j != k))
    avail = [c for c in uniq if c in present and own[c] == sizes[c]]
    operands = [g] + [v for j, v in enumerate(xs) if j != k]
    subs = [out] + [t for j, t in enumerate(terms) if j != k]
    target = "".join(avail)
    if len(operands) == 1 and subs[0] == target:
        c = g
    elif len(operands) == 1 and sorted(subs[0]) == sorted(target):
        c = ops.transpose(g, axes=tuple(subs[0].index(ch) for ch in target))
    else:
        c = ops.einsum(*operands, subscripts=",".join(subs) + "->" + target)
    ushape = tuple(own[ch] for ch in uniq)
    if len(avail) < len(uniq):
        c = ops.reshape(c, shape=tuple(own[ch] if ch in avail else 1 for ch in uniq))
        if c.shape != ushape:
            c = ops.broadcast_to(c, shape=ushape)
    if len(uniq) < len(term):
        used = set("".join(terms) + out)
        fresh = iter(ch for ch in _LETTERS if ch not in used)
        seen, full, eyes = set(), [], []
        for ch in term:
            if ch in seen:
                f = next(fresh)
                full.append(f)
                eyes.append((ch + f, np.eye(own[ch], dtype=c.dtype if c.dtype.kind == "f" else x.dtype)))
            else:
                seen.add(ch)
                full.append(ch)
        c = ops.einsum(c, *(e for _, e in eyes),
                       subscripts=",".join(["".join(uniq)] + [s for s, _ in eyes]) + "->" + "".join(full))
    return c


def _einsum_vjp(g, out, *xs, subscripts):
    from ..ir import Const
    terms, outsub = _split(subscripts)
    return [None if isinstance(x, Const) else _einsum_adjoint(g, xs, k, terms, outsub)
            for k, x in enumerate(xs)]


def _einsum_jvp(tangents, out, *xs, subscripts):
    total = None
    for k, t in enumerate(tangents):
        if t is None:
            continue
        args = list(xs)
        args[k] = t
        term = ops.einsum(*args, subscripts=subscripts)
        total = term if total is None else total + term
    return total


einsum = registry.define(
    "einsum", impl=_einsum_impl, family="linalg", arity=None, emit=_einsum_emit,
    shape_rule=_einsum_shape, vjp=_einsum_vjp, jvp=_einsum_jvp,
    dtype_rule=lambda avals, values, subscripts: np.result_type(*(a.dtype for a in avals)),
    doc="Einstein summation (explicit canonical subscripts); dot, tensordot, inner, kron, trace "
        "and diagonal lower to it; its adjoint is an einsum",
)
einsum.canonical_params = _einsum_params


# --- vector norms: the 2-norm over any axes, p-norms (p >= 1) along one axis ---------------------
# At x = 0 the norm has no derivative; gradc returns 0 (the minimum-norm subgradient, PyTorch's
# convention): the rule divides by where(norm == 0, 1, norm), and x is 0 there.


def _norm_params(values, params):
    ndim = values[0].ndim
    axis = normalize_axis(params.get("axis"), ndim)
    axis = tuple(range(ndim)) if axis is None else axis
    ord_ = float(params.get("ord", 2.0))
    if not (ord_ >= 1.0 and np.isfinite(ord_)):
        raise ValueError(f"vector_norm: ord must be finite and >= 1, not {ord_}")
    if ord_ != 2.0 and len(axis) != 1:
        raise ValueError("vector_norm: a p-norm other than 2 is taken along one axis")
    return {"ord": ord_, "axis": axis, "keepdims": bool(params.get("keepdims", False))}


def _norm_impl(x, ord, axis, keepdims):
    x = np.asarray(x)
    if not axis:  # a norm over no axes (a 0-d array): |x|
        return np.abs(x)
    if ord == 2.0 and len(axis) > 2:  # np.linalg.norm takes at most two axes
        return np.sqrt(np.sum(np.square(x), axis=axis, keepdims=keepdims))
    if ord == 2.0:
        return np.linalg.norm(x, axis=axis_literal(axis), keepdims=keepdims)
    return np.linalg.norm(x, ord=ord, axis=axis[0], keepdims=keepdims)


def _norm_emit(a, ord, axis, keepdims):
    kw = {"keepdims": True} if keepdims else {}
    if not axis:
        return call("np.abs", a)
    if ord == 2.0 and len(axis) > 2:
        return call("np.sqrt", call("np.sum", call("np.square", a), axis=axis, **kw))
    if ord == 2.0:
        return call("np.linalg.norm", a, axis=axis_literal(axis), **kw)
    return call("np.linalg.norm", a, ord=ord, axis=axis[0], **kw)


def _safe(n):
    return ops.where(ops.equal(n, 0), 1.0, n)


def _norm_weights(out, x, ord, axis, keepdims):
    """d norm / dx, with 0 where the norm is 0."""
    n = _safe(expand_like(out, x, axis, keepdims))
    if ord == 2.0:
        return x / n
    return ops.sign(x) * (ops.abs(x) / n) ** (ord - 1.0)


vector_norm = registry.define(
    "vector_norm", impl=_norm_impl, family="linalg", dtype_rule=same_dtype,
    emit=_norm_emit,
    shape_rule=lambda avals, ord, axis, keepdims: reduced_shape(avals[0].shape, axis, keepdims),
    vjp=lambda g, out, x, ord, axis, keepdims: [
        expand_like(g, x, axis, keepdims) * _norm_weights(out, x, ord, axis, keepdims)],
    jvp=lambda t, out, x, ord, axis, keepdims: ops.sum(
        t[0] * _norm_weights(out, x, ord, axis, keepdims), axis=axis, keepdims=keepdims),
    defaults={"ord": 2.0, "keepdims": False},
    doc="(sum |x|^p)^(1/p) over axes (p = 2: any axes); derivative 0 at x = 0",
)
vector_norm.canonical_params = _norm_params
