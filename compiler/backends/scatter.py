"""The adjoint of basic indexing (`scatter`: zeros of x's shape with ḡ written at the index)
without item assignment, for array libraries that do not update arrays in place (Dask's lazy
arrays, the array API standard): ḡ reshaped to name every axis of x, flipped along slices of
a negative step, spread by zeros along slices of a step other than ±1, then padded with zeros
on each axis, all by reshapes and concatenation."""
from __future__ import annotations

from dataclasses import dataclass

from ..syntax import Expr, literal


@dataclass(frozen=True)
class Plan:
    inner: tuple  # ḡ's shape with a length-1 axis for each integer index, None axes dropped
    flips: tuple  # axes whose slice had a negative step
    strides: tuple  # (axis, |step|) for slices of a step other than ±1: zeros between elements
    pads: tuple  # (zeros before, zeros after) on each axis of x


def plan(op) -> Plan:
    index, shape = op.params["index"], tuple(op.params["shape"])
    index = index if isinstance(index, tuple) else (index,)
    named = sum(1 for i in index if i is not None and i is not Ellipsis)
    fill = (slice(None),) * (len(shape) - named)
    if Ellipsis in index:
        k = index.index(Ellipsis)
        index = index[:k] + fill + index[k + 1:]
    else:
        index = index + fill
    inner, flips, strides, pads, axis = [], [], [], [], 0
    for item in index:
        if item is None:
            continue
        n = shape[axis]
        if isinstance(item, slice):
            r = range(*item.indices(n))
            first, span = (min(r[0], r[-1]), abs(r[-1] - r[0]) + 1) if len(r) else (0, 0)
            if len(r) > 1 and r.step < 0:
                flips.append(axis)
            if len(r) > 1 and abs(r.step) != 1:
                strides.append((axis, abs(r.step)))
            inner.append(len(r))
            pads.append((first, n - first - span))
        else:
            i = int(item) % n
            inner.append(1)
            pads.append((i, n - i - 1))
        axis += 1
    return Plan(tuple(inner), tuple(flips), tuple(strides), tuple(pads))


def spell(op, a: Expr, *, reshape, flip, zeros, concat, copy) -> Expr:
    """The scatter as calls of one namespace: reshape(a, shape), flip(a, axis),
    zeros(shape, dtype), concat(parts, axis) and copy(a) each give the text of a call."""
    p, dtype = plan(op), op.out.dtype.name
    text = a.text
    if tuple(op.inputs[0].shape) != p.inner:
        text = reshape(text, literal(p.inner).text)
    for axis in p.flips:
        text = flip(text, axis)
    current = list(p.inner)
    for axis, step in p.strides:  # each element followed by step - 1 zeros, the last ones cut
        before, after, count = current[:axis], current[axis + 1:], current[axis]
        text = reshape(text, literal(tuple(before + [count, 1] + after)).text)
        text = concat(f"{text}, {zeros(literal(tuple(before + [count, step - 1] + after)).text, dtype)}", axis + 1)
        text = reshape(text, literal(tuple(before + [count * step] + after)).text)
        current[axis] = (count - 1) * step + 1
        text = f"{text}[{', '.join([':'] * axis + [f':{current[axis]}'] + [':'] * len(after))}]"
    for axis, (lo, hi) in enumerate(p.pads):
        parts = []
        for count in (lo, None, hi):
            if count is None:
                parts.append(text)
            elif count:
                parts.append(zeros(literal(tuple(current[:axis] + [count] + current[axis + 1:])).text, dtype))
        if len(parts) > 1:
            text = concat(", ".join(parts), axis)
        current[axis] = op.params["shape"][axis]
    return Expr(copy(text) if text == a.text else text)  # x[:]: still a new array
