"""`while` loops whose condition depends on data, as one while region (compiler/regions.py).

The names the body rebinds that exist before the loop are carried (as a for loop's are,
frontend/python.py `_lower_region`); the condition and the body are lowered once each,
from carried inputs, into closed programs over (carries..., invariants...). Python's
order is kept: the condition runs before every iteration, so a loop may run no
iteration at all. A `break` (rewritten as flags by frontend/branches.py `without_jumps`)
ends the loop through the condition `not broken and (test)`.

What cannot be carried is refused at the `while`, never guessed: a carried value whose
shape or dtype changes in an iteration (after 0 iterations it would still have the old
one), a name first bound in the body and read after the loop, a list changed in place.
A Python int counter (`it += 1`) is carried as int64; where it meets a NumPy array of
lower precision (whose dtype NumPy would keep for a Python int) it is refused.
"""
from __future__ import annotations

import ast

import numpy as np

from ..errors import DataDependentControlFlow, ShapeError
from ..ir import Aval, Builder, Const, Program, Value
from ..passes import optimize
from ..passes.simplify import rewrite
from .. import regions


class _Dead(Exception):
    """Carried names the body left unbound (dead at the end of an iteration): not carried."""


def lower_while(lw, s: ast.While) -> None:
    """Lower `s` (its condition being on data) as a while region, binding the carried names."""
    from .branches import UNBOUND
    from .python import _loads_outside, _stored_names

    stored = _stored_names(s.body)
    later = _loads_outside(lw.src.tree, s, lw.rewritten)
    carried = [n for n in stored if n in lw.env and lw.env[n] is not UNBOUND]
    saved = lw._save_state()
    while True:
        try:
            return _lower(lw, s, stored, later, carried)
        except _Dead as e:
            lw._restore_state(tuple(dict(x) if isinstance(x, dict) else x for x in saved))
            carried = [n for n in carried if n not in e.args[0]]


def _lower(lw, s, stored, later, carried) -> None:
    from .python import _flatten, _Region, _unflatten, _weak_scalar
    from .branches import UNBOUND, value_name

    flag = getattr(s, "break_flag", None)
    for n in stored:
        if (n not in lw.env or lw.env[n] is UNBOUND) and n in later and not n.startswith("<"):
            lw.fail(f"unsupported construct 'a name first bound inside a while loop on data and read "
                    f"after it': {n!r}; bind it before the loop (the loop may run no iteration)",
                    DataDependentControlFlow, s)
    trees, inits = [], []
    for n in carried:
        tree = _flatten(lw.env[n], inits)
        if tree is None:
            lw.fail(f"unsupported construct 'a while loop on data rebinding {value_name(n)!r}': only "
                    "arrays, numbers and tuples/lists of them can be carried from one iteration to "
                    "the next", DataDependentControlFlow, s)
        trees.append(tree)
    avals = [v.aval if not isinstance(v, Const) else Aval(np.shape(v.value), np.asarray(v.value).dtype)
             for v in inits]
    names = [value_name(n) + (str(k) if len(_leaves_of(t)) > 1 else "")
             for n, t in zip(carried, trees) for k in range(len(_leaves_of(t)))]
    py_ints = [isinstance(v, Const) and v.weak and a.dtype.kind == "i" for v, a in zip(inits, avals)]
    saved = lw._save_state()
    was_scalar = {n: n in lw.prov and lw.prov[n] is None for n in carried}

    def restore():
        lw._restore_state(tuple(dict(x) if isinstance(x, dict) else x for x in saved))

    def lower(what):
        """Lower the condition or the body from fresh carried inputs; (inputs, ops, outputs)."""
        restore()
        builder = Builder(rewrite=rewrite, max_ops=lw.b.max_ops)
        builder.loc, builder.sweep, builder.step = lw.b.loc, lw.b.sweep, lw.b.step
        builder.step_count = lw.b.step_count
        # containers and iterators made before the loop stay as they are (constructs.py)
        builder.branch, builder.branch_owner, builder.branch_kind = object(), lw, "a while loop on data"
        inputs = [Value(a, nm) for a, nm in zip(avals, names)]
        for b, v, pi in zip(inputs, inits, py_ints):
            if _weak_scalar(v) and b.aval == Aval((), np.dtype(np.float64)):
                b.pytype = float
            if pi:
                lw.python_ints.add(b)
        index = Value(Aval((), np.dtype(np.int64)), "it")
        ctx = _Region(index, [], builder, getattr(lw.b, "region", None))
        ctx.carry_inputs = inputs
        builder.region = ctx
        outer = lw.b
        lw.b = builder
        try:
            with builder:
                k = 0
                for n, tree in zip(carried, trees):
                    lw.env[n], k = _unflatten(tree, inputs, k)
                outs = what()
        finally:
            lw.b = outer
        return inputs, builder.ops, outs

    def condition():
        c = lw.expr(s.test)
        if lw.is_static(c):
            c = Const(np.bool_(lw.truth(c, s.test)))
        else:
            lw.node = s.test
            c = lw.predicate(c, s.test)
        broken = lw.env.get(flag) if flag is not None else None
        if isinstance(broken, Value) and not (isinstance(broken, Const) and not bool(broken.value)):
            c = lw.bind("logical_and", lw.bind("logical_not", broken), c)
        if isinstance(c, Const):
            if bool(c.value):
                lw.fail("while loop: its condition is always true and no break on data ends it",
                        DataDependentControlFlow, s)
            c = Const(np.bool_(False))
        return [c]

    def body():
        updates = lw.in_place_updates
        lw.block(s.body)
        if lw.in_place_updates > updates:
            _refuse_shared_carries(lw, carried, s)
        dead = [n for n in carried if n not in lw.env and n not in later]
        if dead:  # (an if on data dropped a name nothing reads after it: `skip` of a break)
            raise _Dead(dead)
        outs = []
        for n, tree, in zip(carried, trees):
            leaves = []
            if _flatten(lw.env.get(n), leaves) != tree:
                lw.fail(f"unsupported construct 'a while loop on data changing what {value_name(n)!r} "
                        "is': it must stay an array, number or tuple of the same structure",
                        DataDependentControlFlow, s)
            outs += leaves
        return outs

    cond_in, cond_ops, cond_out = lower(condition)
    body_in, body_ops, body_out = lower(body)
    restore()
    # a name the body rebinds whose value at the start of an iteration nothing reads (nor
    # anything after the loop) is the body's own: not carried (`inner = ...; new = ...`)
    read = {v for op in cond_ops + body_ops for v in op.inputs} | set(cond_out)
    read |= {o for k, o in enumerate(body_out) if o is not body_in[k]}
    unread, k = [], 0
    for n, tree in zip(carried, trees):
        width = len(_leaves_of(tree))
        if n not in later and not any(b in read for b in cond_in[k:k + width] + body_in[k:k + width]):
            unread.append(n)
        k += width
    if unread:
        raise _Dead(unread)
    for n, b, v, a in zip(names, body_in, body_out, avals):
        got = v.aval if not isinstance(v, Const) else Aval(np.shape(v.value), np.asarray(v.value).dtype)
        if got != a:
            lw.fail(f"unsupported construct 'a carried value changing shape or dtype in a while loop on "
                    f"data': {n!r} is {a} before the loop and {got} after an iteration (after no "
                    "iteration it would keep the first); make them agree (np.broadcast_to, .astype, "
                    "a float literal like 1.0)", ShapeError, s)
    body_out = [Const(np.asarray(v.value, dtype=a.dtype)) if isinstance(v, Const) else v
                for v, a in zip(body_out, avals)]

    # Loop-invariant code motion: body ops reading only outside values run once, before it.
    hoisted, kept = regions.split_invariant(body_ops, body_in, stays=regions.bodies)
    for op in hoisted:
        op.sweep, op.step = lw.b.sweep, lw.b.step
        lw.b.add_op(op)
    loc = lw.src.loc(s)
    cond, body, invariants = regions.close_while(cond_in, cond_ops, cond_out, body_in, kept, body_out, loc)
    lw.b.loc = loc
    # a Python number carried in starts as a NumPy value of the carry's dtype (`np.int64(0)`):
    # the generated loop then holds NumPy values, as the IR says (`it += 1` stays an int64)
    starts = [Const(np.asarray(v.value, dtype=a.dtype)[()]) if isinstance(v, Const) and (v.weak or v.aval != a)
              else v for v, a in zip(inits, avals)]
    results = regions.emit_while(lw.b, optimize(cond), optimize(body), starts, invariants)
    for r, b, v, o, pi in zip(results, body_in, inits, body_out, py_ints):
        r.name = b.name
        if _weak_scalar(v) and r.aval == Aval((), np.dtype(np.float64)):
            if isinstance(o, Value) and not isinstance(o, Const) and o.pytype is float:
                r.pytype = float  # a Python float in, Python arithmetic: a Python float out
            else:
                lw.mixed_floats.add(r)  # a Python float after no iteration, np.float64 after some
        if pi:
            lw.python_ints.add(r)
    k = 0
    from .python import _UNKNOWN
    for n, tree in zip(carried, trees):
        lw.env[n], k = _unflatten(tree, results, k)
        lw.prov[n] = None if was_scalar[n] and tree == "leaf" else _UNKNOWN
    for n in stored - set(carried):
        lw.env.pop(n, None)
        lw.prov.pop(n, None)


def _refuse_shared_carries(lw, carried, s) -> None:
    """The body is lowered once for every iteration, from the carried values' memory before
    the loop. When an iteration ends with a carried array sharing memory with another name
    (`b = a`, `b = x`, a view of a module array, memory gradc cannot trace), the next
    iteration's in-place updates would change both in NumPy, which that lowering did not see:
    refused wherever the body updates arrays in place."""
    from .python import _UNKNOWN

    def buffers(n):
        return lw._buffers(lw.prov.get(n, _UNKNOWN), lw.env.get(n))

    names = [n for n in lw.env if not n.startswith("<")]
    for n in carried:
        if n not in lw.env or lw.prov.get(n, _UNKNOWN) is None:
            continue  # gone, or a number (no memory to share)
        mine = buffers(n)
        shared = next((m for m in names if m != n and buffers(m) & mine), None)
        outside = next((b for b in mine if b.kind in ("argument", "constant", "unknown", "readonly")), None)
        if shared is None and outside is None:
            continue
        what = f"{shared!r}" if shared is not None else \
            {"argument": "an argument", "constant": "a module-level array"}.get(outside.kind, "memory gradc cannot trace")
        lw.fail(f"unsupported construct 'in-place updates in a while loop on data whose carried array "
                f"{n!r} ends an iteration sharing memory with {what}': NumPy's in-place updates in the "
                f"next iteration would change both, which gradc does not follow; make it a copy "
                f"(`{n} = ....copy()`) or update with `x = x + ...`", DataDependentControlFlow, s)


def _leaves_of(tree):
    return [None] if tree == "leaf" else [x for t in tree[1] for x in _leaves_of(t)]
