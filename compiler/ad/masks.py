"""Masks: where an adjoint (or a tangent) is known to be zero, so that the unselected
branch of a `where` never reaches the derivative.

`np.where(x > 1, np.log(x), x - 1)` at x = 0: the adjoint of log(x) is
where(x > 1, ḡ, 0) = 0, and log's rule multiplies it by 1/x = inf: 0 · inf = NaN,
although the branch was never selected (JAX's "double where" trap). The AD passes
track, for each value, a mask under which its adjoint (tangent) can be nonzero, and
emit a contribution through an elementwise op as `where(mask, contribution, 0)`:
the local derivative of an unselected element is never multiplied in.

A mask is a pair (k, sense): nonzero only where bool(k) == sense; None means
"anywhere" (no mask). Masks come from selections the derivative rules build
(`where(k, ḡ, 0)`, `where(k, 0, ḡ)`: where, maximum, minimum, clip, relu), are
combined with logical_and along a chain (nested selections) and with logical_or
where contributions accumulate; an unmasked contribution drops the mask. A
contribution built from the masked value only by selection, negation, casts and
scaling by finite constants is zero outside the mask already and stays as it is,
so the extra `where` appears only where a local derivative could be infinite.
"""
from __future__ import annotations

import numpy as np

from ..ir import Const, Value
from ..primitives import ops

Mask = "tuple[Value, bool] | None"

_PASS = {"neg", "cast", "copy", "broadcast_to"}


def _is_zero(v: Value) -> bool:
    return isinstance(v, Const) and v.is_scalar and not isinstance(v.value, bool) and v.value == 0


def is_zero(v: Value) -> bool:
    """v is identically zero: an adjoint or tangent that contributes nothing, so the AD
    passes drop it instead of multiplying it by a local derivative that may be infinite
    (0 · inf = NaN). Constants folded to zeros, and selections of zeros
    (`where(k, 0, 0)`: the mask of a where is lost once both branches are zero)."""
    if isinstance(v, Const):
        a = np.asarray(v.value)
        return a.dtype.kind in "iufc" and not np.any(a)
    op = v.producer
    if op is None:
        return False
    if op.prim.name in _PASS:
        return is_zero(op.inputs[0])
    if op.prim.name == "where":
        return is_zero(op.inputs[1]) and is_zero(op.inputs[2])
    return False


def _finite_const(v: Value, nonzero: bool = False) -> bool:
    if not isinstance(v, Const) or np.asarray(v.value).dtype.kind not in "biuf":
        return False
    a = np.asarray(v.value, dtype=np.float64)
    return bool(np.all(np.isfinite(a)) and (not nonzero or np.all(a != 0)))


def source(c: Value) -> Mask:
    """The selection c makes: (k, True) for where(k, a, 0), (k, False) for where(k, 0, a)."""
    op = c.producer
    while op is not None and op.prim.name == "broadcast_to":
        op = op.inputs[0].producer
    if op is None or op.prim.name != "where":
        return None
    k, a, b = op.inputs
    if _is_zero(b) and not _is_zero(a):
        return (k, True)
    if _is_zero(a) and not _is_zero(b):
        return (k, False)
    return None


def follows(c: Value, seeds) -> bool:
    """c is zero wherever every seed is: built from them by selection, negation, casts,
    sums and scaling by finite constants (so no inf · 0 can appear in it)."""
    if c in seeds:
        return True
    op = c.producer
    if op is None:
        return False
    name, xs = op.prim.name, op.inputs
    if name in _PASS:
        return follows(xs[0], seeds)
    if name in ("add", "sub"):
        return all(_is_zero(v) or follows(v, seeds) for v in xs)
    if name == "mul":
        return (follows(xs[0], seeds) and _finite_const(xs[1])) or (
            follows(xs[1], seeds) and _finite_const(xs[0]))
    if name == "div":
        return follows(xs[0], seeds) and _finite_const(xs[1], nonzero=True)
    if name == "where":
        return all(_is_zero(v) or follows(v, seeds) for v in xs[1:])
    return False


def apply(mask: Mask, c: Value) -> Value:
    """c where the mask holds, 0 elsewhere."""
    k, sense = mask
    return ops.where(k, c, 0.0) if sense else ops.where(k, 0.0, c)


def conj(a: Mask, b: Mask) -> Mask:
    """Nonzero only where both allow (None allows everything)."""
    if a is None:
        return b
    if b is None:
        return a
    (p, sp), (q, sq) = a, b
    if p is q and sp == sq:
        return a
    if sp and sq:
        return (ops.logical_and(p, q), True)
    if not sp and not sq:
        return (ops.logical_or(p, q), False)
    if not sp:
        p, q = q, p
    return (ops.logical_and(p, ops.logical_not(q)), True)


def disj(a: Mask, b: Mask) -> Mask:
    """Nonzero where either allows (None allows everything)."""
    if a is None or b is None:
        return None
    (p, sp), (q, sq) = a, b
    if p is q:
        return a if sp == sq else None
    if sp and sq:
        return (ops.logical_or(p, q), True)
    if not sp and not sq:
        return (ops.logical_and(p, q), False)
    if not sp:
        p, q = q, p
    return (ops.logical_or(p, ops.logical_not(q)), True)


def fit(mask: Mask, shape: tuple) -> Mask:
    """The mask of a contribution summed back to `shape` (sum_to): reduced with any()
    over the axes broadcasting stretched, so that it broadcasts against `shape`."""
    if mask is None:
        return None
    k, sense = mask
    n = max(k.ndim, len(shape))
    ks = (1,) * (n - k.ndim) + tuple(k.shape)
    lead = n - len(shape)
    if any(d != 1 and i >= lead and shape[i - lead] not in (1, d) for i, d in enumerate(ks)):
        return None  # not a mask of this value (cannot happen for a contribution's mask)
    axes = [i for i, d in enumerate(ks) if d != 1 and (i < lead or shape[i - lead] == 1)]
    if not axes and k.ndim <= len(shape):
        return mask
    if k.dtype != np.bool_:
        k = ops.not_equal(k, 0)
    off = n - k.ndim
    if axes:
        # any(k) where the adjoint is nonzero under k; any(not k) = not all(k) otherwise
        k = (ops.max if sense else ops.min)(k, axis=tuple(i - off for i in axes), keepdims=True)
    if k.ndim > len(shape):
        k = ops.reshape(k, shape=tuple(k.shape[k.ndim - len(shape):]))
    return (k, sense)


def through(prim, mask: Mask, c: Value, seeds) -> tuple[Value, Mask]:
    """A contribution c made by prim's rule from seeds (adjoints or tangents) that are
    zero outside `mask`: (c, its mask), c masked with `where` if it needs it."""
    selected = source(c)
    if mask is not None and not follows(c, seeds):
        if prim.elementwise:
            c = apply(mask, c)
        else:
            mask = None
    return c, conj(mask, selected)
