"""Indexing with NumPy's rules: `x[...]` on arrays (basic and advanced), index updates
(`z[i] = v`, `z[i] op= v`) as values, `np.take` and `np.take_along_axis`.

An index is normalised to a template (ints, slices, None, Ellipsis, and a
`Slot(k)` for the k-th index array) and a list of index arrays: traced integer
arrays (an int argument such as labels `y`), or constants (lists, `np.arange(n)`,
the positions of a constant boolean mask, which NumPy itself replaces by
`mask.nonzero()`). NumPy checks a constant index against the shape at compile time
(out of bounds is a compile error); a traced one is checked by NumPy when the
generated code runs, exactly as in the user's function (IndexError, never clamped).

A boolean mask computed from the arguments selects a data-dependent number of
elements: as an index to read it is refused (np.where instead); as the whole index
of an update (`z[z < 0] = 0`) it keeps z's shape and becomes np.where.
"""
from __future__ import annotations

import ast

import numpy as np

from ..errors import ShapeError, SignatureError, UnsupportedFunction, UnsupportedSyntax
from ..ir import Const, Value
from ..primitives.indexing import Slot, may_repeat
from . import numpy_table
from .numpy_table import _get, bind_params

MASK_HINT = ("use np.where(mask, x, 0) and reduce that (np.sum(np.where(mask, x, 0)), and "
             "np.sum(mask) to count), or np.sum(x, where=mask)")


def _traced(x) -> bool:
    return isinstance(x, Value) and not isinstance(x, Const)


def _describe(x) -> str:
    if isinstance(x, Value):
        return f"an array {x.aval}"
    return f"{type(x).__name__} {x!r}"[:60]


class Index:
    """A normalised index: template, index arrays, and NumPy's probe of it."""

    def __init__(self, template, arrays, shape):
        self.template = tuple(template)
        self.arrays = list(arrays)
        self.shape = tuple(shape)  # of x[index]

    @property
    def basic(self) -> bool:
        return not self.arrays


def _items(index):
    return list(index) if isinstance(index, tuple) else [index]


def traced_mask(index) -> bool:
    return any(_traced(i) and i.dtype == np.bool_ for i in _items(index))


def normalize(lw, x, index) -> Index:
    """The template and index arrays of `x[index]`, checked by NumPy against x's shape."""
    template, arrays, probe = [], [], []
    for item in _items(index):
        if item is None or item is Ellipsis or isinstance(item, slice):
            template.append(item)
            probe.append(item)
            continue
        if isinstance(item, Const):
            item = item.value
        if isinstance(item, (bool, np.bool_)):
            lw.fail("indexing with a boolean scalar (x[True]) is not supported; use x[None] to add "
                    "an axis", UnsupportedSyntax)
        if isinstance(item, (int, np.integer)):
            template.append(int(item))
            probe.append(int(item))
            continue
        if isinstance(item, (list, tuple)):
            if _has_traced(item):
                item = numpy_table.array_from(lw, item)
            else:
                try:
                    item = np.asarray(_plain(item))
                except (ValueError, TypeError) as e:
                    lw.fail(f"cannot use {_describe(item)} as an index: {e}", UnsupportedSyntax)
                if item.size == 0 and item.dtype.kind == "f":
                    item = item.astype(np.intp)  # NumPy reads an empty list as an empty index
        if isinstance(item, np.ndarray):
            if item.dtype.kind == "b":
                if item.ndim == 0:
                    lw.fail("indexing with a boolean scalar is not supported; use x[None] to add an axis",
                            UnsupportedSyntax)
                probe.append(item)
                for positions in np.nonzero(item):  # what NumPy does with a boolean index
                    template.append(Slot(len(arrays)))
                    arrays.append(Const(positions.astype(np.intp)))
                continue
            if item.dtype.kind not in "iu":
                lw.fail(f"arrays used as indices must be of integer (or boolean) type, not {item.dtype} "
                        "(NumPy raises IndexError)", UnsupportedSyntax)
            if item.ndim == 0:
                template.append(int(item))
                probe.append(int(item))
                continue
            template.append(Slot(len(arrays)))
            arrays.append(Const(item))
            probe.append(item)
            continue
        if isinstance(item, Value):
            kind = item.dtype.kind
            if kind == "b":
                lw.fail("indexing with a boolean mask computed from the arguments gives an array whose "
                        "length depends on the data, which gradc cannot compile; " + MASK_HINT,
                        UnsupportedSyntax)
            if kind not in "iu":
                lw.fail(f"arrays used as indices must be of integer (or boolean) type, not {item.dtype} "
                        "(NumPy raises IndexError); for a computed position use x.astype(np.int64)",
                        UnsupportedSyntax)
            template.append(Slot(len(arrays)))
            arrays.append(item)
            probe.append(np.zeros(item.shape, dtype=np.intp))
            continue
        lw.fail(f"cannot use {_describe(item)} as an index", UnsupportedSyntax)
    shape, dtype = lw.shape(x), lw.dtype(x)
    try:
        result = np.broadcast_to(np.empty((), dtype=dtype), shape)[tuple(probe)]
    except IndexError as e:
        lw.fail(f"index error: {e} (NumPy raises IndexError)", ShapeError)
    except (TypeError, ValueError) as e:
        lw.fail(f"invalid index: {e}", ShapeError)
    return Index(template, arrays, np.shape(result))


def _has_traced(x) -> bool:
    if isinstance(x, (list, tuple)):
        return any(_has_traced(i) for i in x)
    return _traced(x)


def _plain(x):
    if isinstance(x, (list, tuple)):
        return [_plain(i) for i in x]
    return x.value if isinstance(x, Const) else x


# -- reading: x[index] -----------------------------------------------------------------


def subscript(lw, x, index):
    """x[index] for an array x: (result, "view" | "fresh")."""
    idx = normalize(lw, x, index)
    if idx.basic:
        return lw.bind("getitem", x, index=idx.template), "view"
    return lw.bind("gather", x, *idx.arrays, index=idx.template), "fresh"


# -- writing: z[index] = v, z[index] op= v ------------------------------------------------


def _value(lw, v, dtype, target, what):
    """v as NumPy's setitem sees it: converted to z's dtype (unsafe casting, as NumPy
    assigns), leading length-1 axes beyond the target's dropped, broadcastable to it."""
    if isinstance(v, (list, tuple)):
        v = numpy_table.array_from(lw, v) if _has_traced(v) else np.asarray(_plain(v))
    if isinstance(v, Const):
        v = v.value
    if isinstance(v, (bool, int, float, np.generic)) and not isinstance(v, (complex, np.complexfloating)):
        try:
            v = np.array(v, dtype=dtype)[()]  # NumPy's conversion of a scalar (ValueError for nan -> int)
        except (ValueError, OverflowError, TypeError) as e:
            lw.fail(f"{what}: NumPy cannot store {v!r} in an array of dtype {dtype}: {e}", SignatureError)
    elif isinstance(v, np.ndarray):
        if v.dtype.kind not in "fiub":
            lw.fail(f"{what}: cannot assign an array of dtype {v.dtype}", UnsupportedFunction)
    elif not isinstance(v, Value):
        lw.fail(f"{what}: cannot assign {_describe(v)} to array elements", UnsupportedSyntax)
    shape = tuple(lw.shape(v))
    target = tuple(target)
    if not target and shape:
        lw.fail(f"{what}: setting an array element with a sequence (a value of shape {shape} into one "
                "element; NumPy raises ValueError)", ShapeError)
    if len(shape) > len(target):
        if any(d != 1 for d in shape[:len(shape) - len(target)]):
            lw.fail(f"{what}: could not broadcast input array from shape {shape} into shape {target}",
                    ShapeError)
        v = lw.bind("reshape", v, shape=shape[len(shape) - len(target):])
        shape = tuple(lw.shape(v))
    try:
        if np.broadcast_shapes(shape, target) != target:
            raise ValueError
    except ValueError:
        lw.fail(f"{what}: could not broadcast input array from shape {shape} into shape {target}",
                ShapeError)
    if lw.dtype(v) != dtype:
        v = lw.bind("cast", v, dtype=dtype)
    return v


def setitem(lw, z, index, v, name):
    """The new value of z after `z[index] = v`."""
    what = f"{name}[...] = ..."
    if traced_mask(index):
        return _masked(lw, z, index, v, None, name)
    idx = normalize(lw, z, index)
    v = _value(lw, v, lw.dtype(z), idx.shape, what)
    return lw.bind("index_set", z, v, *idx.arrays, index=idx.template)


def aug_setitem(lw, z, index, op, rhs, name, binop):
    """The new value of z after `z[index] op= rhs`: NumPy reads t = z[index], updates t
    (in place for an array: same shape, same_kind casting; a 0-d t is a scalar and is
    rebound), then writes z[index] = t. With repeated index arrays each repeat writes the
    same t element, so `z[[0, 0]] += 1` adds 1 once, as NumPy does."""
    what = f"{name}[...] {_symbol(op)}= ..."
    if traced_mask(index):
        return _masked(lw, z, index, rhs, (op, binop), name)
    idx = normalize(lw, z, index)
    dtype = lw.dtype(z)
    t = lw.bind("gather", z, *idx.arrays, index=idx.template) if idx.arrays \
        else lw.bind("getitem", z, index=idx.template)
    new = binop(t, rhs)
    if idx.shape:  # t is an array: NumPy's in-place ufunc (a 0-d t is a scalar: rebound)
        _check_in_place_result(lw, new, idx.shape, dtype, what)
    once = idx.basic or not may_repeat(idx.arrays, idx.template, tuple(lw.shape(z)))
    if once and isinstance(op, (ast.Add, ast.Sub)) and lw.dtype(new) == dtype and (
            _weak(rhs) or lw.dtype(rhs) == dtype) and tuple(lw.shape(new)) == idx.shape:
        # an index naming each element once: z[index] += v adds v there (the same numbers)
        v = rhs if isinstance(op, ast.Add) else (-rhs if _weak(rhs) else lw.bind("neg", rhs))
        v = _value(lw, v, dtype, idx.shape, what)
        return lw.bind("index_add", z, v, *idx.arrays, index=idx.template)
    new = _value(lw, new, dtype, idx.shape, what)
    return lw.bind("index_set", z, new, *idx.arrays, index=idx.template)


def is_ufunc_at(node) -> bool:
    """Whether an expression statement has the form `<something>.at(...)` (np.add.at)."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "at"


def add_at(lw, z, index, v, name, negate=False):
    """The new value of z after np.add.at(z, index, v) (np.subtract.at with negate):
    unbuffered, so repeated indices accumulate."""
    what = f"np.{'subtract' if negate else 'add'}.at({name}, ...)"
    if traced_mask(index):
        lw.fail(f"{what} with a boolean mask computed from the arguments: write "
                f"{name} = np.where(mask, {name} + v, {name})", UnsupportedSyntax)
    idx = normalize(lw, z, index)
    dtype = lw.dtype(z)
    if isinstance(v, (list, tuple)):
        v = numpy_table.array_from(lw, v) if _has_traced(v) else np.asarray(_plain(v))
    vd = lw.dtype(v) if not _weak(v) else np.result_type(np.zeros((), dtype), lw.value(v))
    if np.result_type(dtype, vd) != dtype:
        lw.fail(f"{what}: NumPy adds {vd} values into the {dtype} array element by element, "
                f"converting each partial sum; gradc does not model that: cast the values first "
                f"(v.astype(np.{dtype.name}))", UnsupportedFunction)
    if negate:
        v = -lw.value(v) if _weak(v) or not isinstance(v, Value) else lw.bind("neg", v)
    v = _value(lw, v, dtype, idx.shape, what)
    return lw.bind("index_add", z, v, *idx.arrays, index=idx.template)


def _weak(x) -> bool:
    return isinstance(x, (bool, int, float)) or (isinstance(x, Const) and x.weak)


def _symbol(op) -> str:
    return {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**",
            ast.MatMult: "@", ast.FloorDiv: "//", ast.Mod: "%", ast.BitAnd: "&",
            ast.BitOr: "|"}.get(type(op), "?")


def _check_in_place_result(lw, new, shape, dtype, what):
    if tuple(lw.shape(new)) != tuple(shape):
        lw.fail(f"{what}: the result has shape {tuple(lw.shape(new))}, but the indexed elements have "
                f"shape {tuple(shape)} (NumPy: non-broadcastable output operand)", ShapeError)
    if lw.dtype(new) != dtype and not np.can_cast(lw.dtype(new), dtype, casting="same_kind"):
        lw.fail(f"{what}: NumPy cannot cast the {lw.dtype(new)} result to the array's dtype {dtype} "
                "(casting rule 'same_kind')", ShapeError)


def _masked(lw, z, index, v, aug, name):
    """z[mask] = v / z[mask] op= v with a traced boolean mask: np.where(mask, ..., z)."""
    items = _items(index)
    mask = items[0]
    what = f"{name}[mask] {'' if aug is None else _symbol(aug[0])}= ..."
    if not (_traced(mask) and mask.dtype == np.bool_) or any(
            not (i is Ellipsis or (isinstance(i, slice) and i == slice(None))) for i in items[1:]):
        lw.fail(f"{what}: a boolean mask computed from the arguments is supported as the whole index "
                f"only ({name}[mask] = v); write {name} = np.where(mask, v, {name}) with a mask "
                f"of {name}'s shape", UnsupportedSyntax)
    shape = tuple(lw.shape(z))
    k = mask.ndim
    if tuple(mask.shape) != shape[:k]:
        lw.fail(f"{what}: boolean index of shape {tuple(mask.shape)} does not match the indexed array "
                f"of shape {shape} (NumPy raises IndexError)", ShapeError)
    rest = shape[k:]
    if isinstance(v, (list, tuple)):
        v = numpy_table.array_from(lw, v) if _has_traced(v) else np.asarray(_plain(v))
    vshape = tuple(lw.shape(v))
    lead = vshape[:max(0, len(vshape) - len(rest))]
    tail = vshape[len(lead):]
    try:
        ok = all(d == 1 for d in lead) and np.broadcast_shapes(tail, rest) == rest
    except ValueError:
        ok = False
    if not ok:
        lw.fail(f"{what}: a value of shape {vshape} fits {name}[mask] only for one number of True "
                f"elements, which depends on the data; assign a scalar (or one row) or write "
                f"{name} = np.where(mask, v, {name}) with v of {name}'s shape", UnsupportedSyntax)
    if lead:
        v = lw.bind("reshape", v, shape=tail)
    dtype = lw.dtype(z)
    m = lw.bind("reshape", mask, shape=tuple(mask.shape) + (1,) * len(rest)) if rest else mask
    if aug is None:
        new = _value(lw, v, dtype, rest, what)
    else:
        op, binop = aug
        new = binop(z, v)
        _check_in_place_result(lw, new, shape, dtype, what)
        if lw.dtype(new) != dtype:
            new = lw.bind("cast", new, dtype=dtype)
    return lw.bind("where", m, new, z)


# -- np.take, np.take_along_axis ---------------------------------------------------------------


def _axis(lw, axis, ndim, what):
    axis = lw.static(axis, "axis")
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool) or not -ndim <= axis < ndim:
        lw.fail(f"{what}(): axis {axis!r} is out of bounds for an array of dimension {ndim}", SignatureError)
    return int(axis) % ndim


def _as_array(lw, x):
    if isinstance(x, (list, tuple)):
        return numpy_table.array_from(lw, x) if _has_traced(x) else Const(np.asarray(_plain(x)))
    if isinstance(x, np.ndarray) or isinstance(x, (int, float, np.generic)):
        return Const(np.asarray(x))
    return x


def _take(lw, args, kw):
    g = bind_params(lw, np.take, "np.take", args, kw, ("a", "indices", "axis", "mode"))
    mode = lw.static(_get(g, "mode", "raise"), "mode")
    if mode != "raise":
        lw.fail(f"np.take(): mode={mode!r} changes out-of-bounds indices silently, which gradc does not "
                "do; use mode='raise' (the default), or wrap/clip the indices yourself "
                "(np.clip(idx, 0, n - 1), idx % n) before taking", UnsupportedFunction)
    a, indices = _as_array(lw, g["a"]), g["indices"]
    if isinstance(indices, np.ndarray) and indices.dtype.kind == "b" or _traced(indices) and \
            indices.dtype == np.bool_:
        lw.fail("np.take() with boolean indices: NumPy reads them as 0/1 positions; pass integer "
                "indices", UnsupportedFunction)
    axis = _get(g, "axis")
    if axis is None:
        a = lw.bind("reshape", a, shape=(-1,))
        axis = 0
    else:
        if lw.ndim(a) == 0:
            lw.fail("np.take(): axis given for a 0-d array", SignatureError)
        axis = _axis(lw, axis, lw.ndim(a), "np.take")
    if isinstance(indices, (int, np.integer)) and not isinstance(indices, bool):
        index = (slice(None),) * axis + (indices,)
    else:
        index = (slice(None),) * axis + (_as_array(lw, indices),)
    result, _ = subscript(lw, a, index)
    return result


def _take_along_axis(lw, args, kw):
    g = bind_params(lw, np.take_along_axis, "np.take_along_axis", args, kw, ("arr", "indices", "axis"))
    arr, indices = _as_array(lw, g["arr"]), _as_array(lw, g["indices"])
    if lw.dtype(indices).kind not in "iu":
        lw.fail("np.take_along_axis(): `indices` must be an integer array", SignatureError)
    axis = lw.static(g.get("axis", -1), "axis") if "axis" in g else -1
    if axis is None:
        if lw.ndim(indices) != 1:
            lw.fail("np.take_along_axis(): when axis=None, `indices` must have a single dimension",
                    SignatureError)
        arr, axis = lw.bind("reshape", arr, shape=(-1,)), 0
    ndim = lw.ndim(arr)
    if lw.ndim(indices) != ndim:
        lw.fail("np.take_along_axis(): `indices` and `arr` must have the same number of dimensions",
                SignatureError)
    axis = _axis(lw, axis, ndim, "np.take_along_axis")
    index = []
    for d in range(ndim):  # NumPy's own construction: aranges along the other axes
        if d == axis:
            index.append(indices)
        else:
            shape = [1] * ndim
            shape[d] = lw.shape(arr)[d]
            index.append(Const(np.arange(shape[d]).reshape(shape)))
    result, _ = subscript(lw, arr, tuple(index))
    return result


def _m_take(indices, axis=None, out=None, mode="raise"): ...


def _method_take(lw, x, args, kw):
    g = bind_params(lw, None, ".take", args, kw, ("indices", "axis", "mode"), sig=numpy_table.signature(_m_take))
    return _take(lw, (x,), g)


TABLE = {np.take: _take, np.take_along_axis: _take_along_axis}
KIND = {}  # both copy: fresh memory (the default)
METHODS = {"take": _method_take}
METHOD_SIGNATURES = {"take": _m_take}

# numpy_table merges this module's tables when it imports it; when this module is imported
# first (numpy_table then finds it half-initialised), merge here (idempotent).
numpy_table.TABLE.update(TABLE)
numpy_table.KIND.update(KIND)
numpy_table.METHODS.update(METHODS)
numpy_table.METHOD_SIGNATURES.update(METHOD_SIGNATURES)
