"""The adjoint pass: Program → Program.

The adjoint program is the forward sweep followed by the reverse sweep, built
from the same primitives, so the same passes, printer and code generator handle
it. Walking the forward ops last to first, each active op's VJP rule turns the
adjoint of its result (v̄_k) into contributions to its operands; contributions
are summed back to the operand's shape when broadcasting stretched it, and
accumulated when a value has several uses (equation (3) of the lecture notes).

Selections (`where`, maximum, minimum, clip, relu) give adjoints that are zero
outside a mask; the pass carries that mask up the chain of elementwise ops that
fed the selection and masks their contributions with `where`, so the local
derivative of an unselected branch (1/x at x = 0, say) is never multiplied in
(ad/masks.py): `np.where(x > 1, np.log(x), x - 1)` has the gradient 0 at x = 0, not NaN.
"""
from __future__ import annotations

from ..errors import CompileError
import numpy as np

from ..ir import Aval, Builder, Const, Op, Program, Value
from ..passes import optimize
from . import masks, precision
from ..passes.activity import active
from ..passes.simplify import rewrite
from ..passes.rebuild import clone
from ..regions import (LOOP_RESULT, UNWIND, WHILE, emit_cond, emit_loop, emit_unwind, emit_while, is_cond,
                       is_fresh, is_loop, results_of, substitute)


def reverse(program: Program, wrt: tuple[int, ...] | None = None, *, cotangent: bool = False,
            stepwise: list | None = None) -> Program:
    """Return a program computing (output, d output / d inputs[i] for i in wrt).

    With cotangent=True the output may have any shape: the program takes one more
    input, the cotangent ȳ, and returns (output, ȳ pulled back to each wrt input).
    With a list `stepwise`, the top-level loops are planned for a checkpointed run, which
    reverses one iteration at a time: an invariant's adjoint is accumulated iteration by
    iteration (no Σ outer = Aᵀ B after the loop, which would keep per-iteration rows), and
    their plans are appended to the list (checkpointing/loops.py reads them)."""
    wrt = program.wrt if wrt is None else tuple(wrt)
    program, plans = _prepare_loops(program, active(program, wrt), hoist=stepwise is None)
    if stepwise is not None:
        stepwise.extend(p for p in plans.values() if isinstance(p, _LoopPlan))
    (out,) = program.outputs
    live = active(program, wrt)
    builder = Builder(rewrite=rewrite, sweep="reverse")
    adjoint: dict[Value, Value] = {}
    inputs = list(program.inputs)
    if cotangent:
        seed = Value(out.aval if out.dtype.kind == "f" else Aval(out.shape, np.dtype(np.float64)), "cotangent")
        inputs.append(seed)
        if out in live:
            adjoint[out] = seed
    elif out in live:
        adjoint[out] = Const(1.0)

    with builder:
        _sweep(program, live, adjoint, plans, builder)
        builder.loc = None  # returning gradients belongs to no source line
        builder.step = 0 if any(op.step is not None for op in program.ops) else None  # the prologue's adjoint
        grads = [_finish(program.inputs[i], adjoint.get(program.inputs[i]), builder) for i in wrt]

    adj = Program(program.name, inputs, list(program.ops) + builder.ops, [out] + grads,
                  program.loc, wrt, program.static_args)
    return _distinct_outputs(optimize(adj))


def _sweep(program: Program, live, adjoint: dict, plans: dict, builder: Builder) -> None:
    """The reverse sweep over program's ops, from the adjoints already in `adjoint`."""
    mask: dict[Value, object] = {}  # v -> where v̄ can be nonzero (masks.Mask); absent: anywhere
    pending: dict[Value, dict] = {}  # loop handle -> {result index: adjoint of that result}
    for op in reversed(program.ops):
        if op.prim is LOOP_RESULT:
            g = adjoint.get(op.out)
            if g is not None:
                pending.setdefault(op.inputs[0], {})[op.params["index"]] = g
            continue
        if op.prim is UNWIND and op.out in pending:
            raise CompileError("cannot differentiate the adjoint of a while loop on data again in "
                               "reverse mode (reverse-over-reverse); use forward-over-reverse "
                               "(mode='forward-over-reverse')", op.loc)
        if is_loop(op) or is_cond(op) or op.prim is WHILE:
            if op.out not in pending or (not is_cond(op) and op.out not in plans):
                continue
            builder.loc, builder.step = op.loc, op.step
            if not is_cond(op):
                parts = plans[op.out].adjoint(op, pending[op.out], builder)
                part_masks = [None] * len(parts)
            else:
                parts, part_masks = _cond_adjoint(op, pending[op.out], live, builder)
            for x, c, m in zip(op.inputs, parts, part_masks):
                if c is None or x not in live:
                    continue
                c = precision.contribution(c, x)
                if c.shape != x.shape:
                    c = builder.bind("sum_to", c, shape=x.shape)
                m = masks.fit(m, x.shape)
                if x in adjoint:
                    m = masks.disj(mask.get(x), m)
                    c = builder.bind("add", adjoint[x], c)
                _name(c, x)
                adjoint[x] = c
                mask[x] = m
            continue
        g = adjoint.get(op.out)
        if g is None or not op.prim.differentiable or masks.is_zero(g):
            continue  # an adjoint that is identically zero contributes nothing
        builder.loc, builder.step = op.loc, op.step
        for x, c in zip(op.inputs, _contributions(op, g, live)):
            if c is None or x not in live or masks.is_zero(c):
                continue
            c, m = masks.through(op.prim, mask.get(op.out), c, (g,))
            c = precision.contribution(c, x)
            if c.shape != x.shape:
                c = builder.bind("sum_to", c, shape=x.shape)
            m = masks.fit(m, x.shape)
            if x in adjoint:
                c = builder.bind("add", adjoint[x], c)
                m = masks.disj(mask.get(x), m)
            _name(c, x)
            adjoint[x] = c
            mask[x] = m


# ---------------------------------------------------------------------------
# Branches: the adjoint of a cond is a cond on the same predicate over the branches' adjoints


def _cond_adjoint(op: Op, cots: dict, live, builder: Builder) -> list:
    """Contributions of a cond op to its operands: one cond on the recorded predicate whose
    branches are the adjoints of the forward branches. Each adjoint branch recomputes the
    forward values of its branch it needs (the branch is its own checkpoint: nothing is
    stored for the reverse sweep but the operands and the predicate)."""
    pred, operands = op.inputs[0], op.inputs[1:]
    branches = op.params["branches"]
    floating = lambda v: v.dtype.kind == "f"  # noqa: E731
    wrt = [j for j, x in enumerate(operands) if x in live and floating(x)]
    outs = [k for k in sorted(cots) if cots[k] is not None and floating(branches[0].outputs[k])]
    if not wrt or not outs:
        return [], []
    seeds = []
    for k in outs:
        g, want = cots[k], branches[0].outputs[k].aval
        if isinstance(g, Const) and (g.weak or g.dtype != want.dtype):
            g = Const(np.asarray(g.value, dtype=want.dtype))
        elif g.dtype != want.dtype:
            g = builder.bind("cast", g, dtype=want.dtype)
        if g.shape != want.shape:
            g = builder.bind("broadcast_to", g, shape=want.shape)
        seeds.append(g)
    adjoints = [_branch_adjoint(b, wrt, outs) for b in branches]
    results = emit_cond(builder, pred, adjoints, list(operands) + seeds)
    contributions: list = [None] * len(op.inputs)
    part_masks: list = [None] * len(op.inputs)
    for j, r in zip(wrt, results):
        contributions[1 + j] = r
        # an operand only one branch reads has a zero adjoint when the other runs: a mask,
        # so that a local derivative upstream (sqrt at a negative s the taken branch never
        # used) is not multiplied in (0 · inf = NaN; ad/masks.py)
        reads = [_reads(b, b.inputs[j]) for b in branches]
        if reads[0] != reads[1]:
            part_masks[1 + j] = (pred, reads[0])
    return contributions, part_masks


def _reads(body: Program, v: Value) -> bool:
    return v in body.outputs or any(v in op.inputs for op in body.ops)


def _body_adjoint(body: Program, wrt: list[int], outs: list[int]):
    """The reverse sweep of a region body (this pass, applied to the body), seeded with one
    new cotangent input per output position in `outs`: (the body with its loops prepared,
    the cotangent inputs, the gradient of each input position in `wrt` — None where it is
    zero, cast to the input's dtype —, the reverse ops)."""
    body2, plans = _prepare_loops(body, active(body, wrt))
    blive = active(body2, wrt)
    cot_inputs = [Value(body2.outputs[k].aval, "cot") for k in outs]
    adjoint: dict[Value, Value] = {}
    builder = Builder(rewrite=rewrite, sweep="reverse")
    with builder:
        for k, c in zip(outs, cot_inputs):
            v = body2.outputs[k]
            if v in blive:
                adjoint[v] = builder.bind("add", adjoint[v], c) if v in adjoint else c
        _sweep(body2, blive, adjoint, plans, builder)
        grads = []
        for i in wrt:
            x = body2.inputs[i]
            g = adjoint.get(x)
            if g is not None and g.dtype != x.dtype:
                g = builder.bind("cast", g, dtype=x.dtype)
            grads.append(g)
    return body2, cot_inputs, grads, builder.ops


def _branch_adjoint(body: Program, wrt: list[int], outs: list[int]) -> Program:
    """(branch inputs..., cotangents of outputs `outs`) -> gradients of inputs `wrt`."""
    body2, cot_inputs, grads, rev_ops = _body_adjoint(body, wrt, outs)
    builder = Builder(rewrite=rewrite, sweep="reverse")
    with builder:
        grads = [g if g is not None else builder.bind("zeros_like", body2.inputs[j]) for g, j in zip(grads, wrt)]
    return optimize(Program(body.name + " adjoint", list(body2.inputs) + cot_inputs,
                            list(body2.ops) + rev_ops + builder.ops, grads, body.loc))


# ---------------------------------------------------------------------------
# Loops: the adjoint of a loop is a reversed loop over the adjoint of its body


class _LoopPlan:
    """How one loop is differentiated. The forward loop is replaced by one that also
    stacks, per iteration, the values the body's adjoint reads (its tape); the adjoint
    is a loop run last iteration to first whose body is the reverse sweep of the loop
    body (this very pass, applied to the body program) reading its row of the tape."""

    def __init__(self, fwd_op: Op, body: Program, rev_body: Program, carry_adj: list[int],
                 inv_adj: list[int], xs_adj: list[int], tape_from: list, ys_cot: list[int]):
        self.fwd_op, self.body, self.rev_body = fwd_op, body, rev_body
        self.carry_adj, self.inv_adj, self.xs_adj = carry_adj, inv_adj, xs_adj
        self.tape_from = tape_from  # where each tape input of rev_body comes from (_taped_adjoint)
        self.ys_cot = ys_cot
        self.tapes: list[Value] = []  # the forward loop's stacked tape results (set by _prepare_loops)
        self.tape_values: list[Value] = []  # the body values stacked on the tape
        self.rev_invariants: list[int] = []  # invariants (by position) the reverse body reads
        self.hoisted: dict[int, list] = {}  # invariant position -> sources of A and B in Aᵀ B
        self.aug: Program | None = None  # the forward loop's body with the tape as extra outputs

    def adjoint(self, op: Op, cots: dict, builder: Builder) -> list:
        p = op.params
        nc, nx, length = p["n_carry"], p["n_xs"], p["length"]
        carry_init, xs, invs = op.inputs[:nc], op.inputs[nc:nc + nx], op.inputs[nc + nx:]
        starts = []
        for i, k in enumerate(self.carry_adj):
            g = cots.get(k)
            if g is None:
                g = builder.bind("zeros_like", carry_init[k])
            want = self.rev_body.inputs[1 + i].aval
            if isinstance(g, Const) and (g.weak or g.dtype != want.dtype):
                # a seed made from a Python constant (`1.0`): the carried adjoint is of the
                # carry's dtype at run time too (float32 stays float32)
                g = Const(np.asarray(g.value, dtype=want.dtype))
            elif g.dtype != want.dtype:
                g = builder.bind("cast", g, dtype=want.dtype)
            if g.shape != want.shape:
                g = builder.bind("broadcast_to", g, shape=want.shape)
            starts.append(g)
        kept = [j for j in self.inv_adj if j not in self.hoisted]
        for j in kept:
            zero = builder.bind("zeros_like", invs[j])
            _name(zero, invs[j])
            starts.append(zero)
        stacked = []
        for kind, j, source in self.tape_from:
            if kind == "tape":
                stacked.append(self.tapes[j])
            elif kind == "shift":  # the carry at the start of each iteration: the result of the one before
                first = builder.bind("expand_dims", carry_init[j], axis=(0,))
                if p["reverse"]:  # iterations T-1 .. 0: row k starts from row k + 1's result
                    rest = builder.bind("getitem", self.tapes[source], index=(slice(1, None),))
                    stacked.append(builder.bind("concatenate", rest, first, axis=0))
                else:
                    rest = builder.bind("getitem", self.tapes[source], index=(slice(None, -1),))
                    stacked.append(builder.bind("concatenate", first, rest, axis=0))
            elif kind == "xs":
                stacked.append(xs[j])
            else:  # the adjoint of a stacked result
                g = cots.get(nc + j)
                if g is None:
                    res = p["body"].outputs[nc + j]
                    g = builder.bind("broadcast_to", Const(np.zeros((), res.dtype)), shape=(length,) + res.shape)
                stacked.append(g)
        invariants = [invs[j] for j in self.rev_invariants]
        contributions: list = [None] * len(op.inputs)
        n = len(self.carry_adj)
        if self.hoisted and not p["reverse"] and length > 2 * HOIST_BLOCK and not _reads(self.rev_body, self.rev_body.inputs[0]):
            results, ys, sums = self._by_blocks(builder, length, starts, stacked, invariants, invs, p["index_name"])
        else:
            results = emit_loop(builder, self.rev_body, length, starts, stacked, invariants,
                                reverse=not p["reverse"], index_name=p["index_name"])
            ys = results[n + len(kept):]
            sums = [_outer_sum(builder, sources, stacked, ys) for sources in self.hoisted.values()]
        for k, r in zip(self.carry_adj, results[:n]):
            contributions[k] = r
        for j, r in zip(kept, results[n:n + len(kept)]):
            contributions[nc + nx + j] = r
        for j, r in zip(self.xs_adj, ys):
            contributions[nc + j] = r
        for j, total in zip(self.hoisted, sums):
            contributions[nc + nx + j] = total
        return contributions

    def _by_blocks(self, builder: Builder, length: int, starts, stacked, invariants, invs, index_name: str):
        """The reversed loop with its hoisted sums (Σ outer = Aᵀ B) taken a block of rows at a
        time: an outer loop over blocks of B iterations (last first), each running the reverse
        body over its block and adding Aᵀ B for the block's rows, then the first T mod B
        iterations likewise. The factors are kept for one block, not for all T iterations
        (memory of a hand-written backpropagation loop), at the speed of matrix products.
        Returns (the loop's carried results, the stacked rows' adjoints, the sums)."""
        B = _block_size(length)
        nb, r = divmod(length, B)
        n_carry = len(starts)
        # the outer loop's body: (block, carries, sums, the block's rows, invariants)
        index = Value(self.rev_body.inputs[0].aval, "block")
        carries = [Value(v.aval, v.name) for v in self.rev_body.inputs[1:1 + n_carry]]
        rows = [Value(Aval((B,) + s.shape[1:], s.dtype), s.name) for s in stacked]
        inv_in = [Value(v.aval, v.name) for v in invariants]
        inner = Builder(rewrite=rewrite, sweep="reverse")
        sums_in, sums_out = [], []
        with inner:
            res = emit_loop(inner, self.rev_body, B, carries, rows, inv_in, reverse=True, index_name=index_name)
            for j, sources in self.hoisted.items():
                part = _outer_sum(inner, sources, rows, res[n_carry:])
                name = invs[j].name
                acc = Value(part.aval, f"{name}_sum" if isinstance(name, str) and name.isidentifier() else "acc")
                sums_in.append(acc)
                sums_out.append(inner.bind("add", acc, part))
        body = Program("loop body adjoint, a block of iterations", [index] + carries + sums_in + rows + inv_in,
                       list(inner.ops), res[:n_carry] + sums_out + res[n_carry:n_carry + len(self.xs_adj)],
                       self.rev_body.loc)
        # (a broadcast zero: no memory, where np.zeros_like would allocate the sum's size)
        zeros = [builder.bind("broadcast_to", Const(np.zeros((), a.dtype)), shape=a.shape) for a in sums_in]
        blocks = [builder.bind("reshape", builder.bind("getitem", s, index=(slice(r, None),)) if r else s,
                               shape=(nb, B) + s.shape[1:]) for s in stacked]
        out = emit_loop(builder, body, nb, list(starts) + zeros, blocks, invariants, reverse=True,
                        index_name="block")
        results, sums = out[:n_carry], out[n_carry:n_carry + len(zeros)]
        ys = [builder.bind("reshape", y, shape=(nb * B,) + y.shape[2:]) for y in out[n_carry + len(zeros):]]
        if r:  # the first r iterations, run last
            head = [builder.bind("getitem", s, index=(slice(None, r),)) for s in stacked]
            rest = emit_loop(builder, self.rev_body, r, results, head, invariants, reverse=True,
                             index_name=index_name)
            results = rest[:n_carry]
            sums = [builder.bind("add", total, _outer_sum(builder, sources, head, rest[n_carry:]))
                    for total, sources in zip(sums, self.hoisted.values())]
            ys = [builder.bind("concatenate", y0, y, axis=0) for y0, y in zip(rest[n_carry:], ys)]
        return results, ys, sums


HOIST_BLOCK = 64  # iterations whose factors a hoisted Σ outer keeps at once (loops of > 2 blocks)


def _block_size(length: int) -> int:
    """A divisor of the trip count near HOIST_BLOCK (no remainder loop), else HOIST_BLOCK."""
    near = [b for b in range(HOIST_BLOCK // 2, 2 * HOIST_BLOCK + 1) if length % b == 0]
    return min(near, key=lambda b: (abs(b - HOIST_BLOCK), b)) if near else HOIST_BLOCK


def _outer_sum(builder: Builder, sources, rows, ys) -> Value:
    """Σₖ outer(aₖ, bₖ) over stacked rows: Aᵀ B (sources: ("row", i) a stacked input of the
    reversed loop, ("ys", i) one of its stacked results)."""
    a, b = (rows[i] if kind == "row" else ys[i] for kind, i in sources)
    return builder.bind("matmul", builder.bind("transpose", a, axes=(1, 0)), b)


def _prepare_loops(program: Program, live, hoist: bool = True) -> tuple[Program, dict]:
    """Replace each active loop by one that also stacks its tape; plans keyed by the new handle."""
    if not any(is_loop(op) or op.prim is WHILE for op in program.ops):
        return program, {}
    results = results_of(program)
    plans: dict[Value, _LoopPlan] = {}
    subst: dict[Value, Value] = {}
    ops: list[Op] = []
    builder = Builder()
    for op in program.ops:
        inputs = tuple(subst.get(v, v) for v in op.inputs)
        if not (is_loop(op) or op.prim is WHILE) or not any(r is not None and r in live
                                                             for r in results[op.out]):
            new = clone(op, inputs)
            ops.append(new)
            if new.out is not op.out:
                subst[op.out] = new.out
            continue
        if op.prim is WHILE:
            builder.ops, builder.loc, builder.sweep, builder.step = [], op.loc, op.sweep, op.step
            plan = _plan_while(op, [r is not None and r in live for r in results[op.out]], live)
            handle = plan.emit(op, inputs, builder, results[op.out], subst)
            subst[op.out] = handle
            plans[handle] = plan
            ops += builder.ops
            continue
        plan = _plan_loop(op, inputs, [r is not None and r in live for r in results[op.out]], live, hoist=hoist)
        p = dict(op.params)
        nc = p["n_carry"]
        tape_values = plan.tape_values
        aug = Program(p["body"].name, plan.body.inputs, plan.body.ops, plan.body.outputs + tape_values,
                      plan.body.loc)
        p["body"] = plan.aug = aug
        builder.ops, builder.loc, builder.sweep, builder.step = [], op.loc, op.sweep, op.step
        outs = emit_loop(builder, aug, p["length"], inputs[:nc], inputs[nc:nc + p["n_xs"]],
                         inputs[nc + p["n_xs"]:], reverse=p["reverse"], index_name=p["index_name"])
        handle = builder.ops[0].out
        subst[op.out] = handle
        old = results[op.out]
        for k, v in enumerate(outs[:len(old)]):
            if old[k] is not None:
                subst[old[k]] = v
                v.name = old[k].name
        plan.tapes = outs[len(old):]
        for v in plan.tapes:
            v.name = "tape"
        plans[handle] = plan
        ops += [o for o in builder.ops if o.prim is not LOOP_RESULT or o.out in subst.values() or
                o.out in plan.tapes]
    program = program.with_ops(ops, [subst.get(v, v) for v in program.outputs])
    return program, plans


def _plan_loop(op: Op, inputs, cot_mask: list[bool], live, *, hoist: bool = True) -> _LoopPlan:
    p = op.params
    body, nc, nx = p["body"], p["n_carry"], p["n_xs"]
    ni = len(op.inputs) - nc - nx
    floating = lambda v: v.dtype.kind == "f"  # noqa: E731
    carry_adj = [k for k in range(nc) if floating(body.inputs[1 + k])]
    # (activity is that of the program before _prepare_loops rebuilt it: read op.inputs)
    xs_adj = [j for j in range(nx) if op.inputs[nc + j] in live and floating(body.inputs[1 + nc + j])]
    inv_adj = [j for j in range(ni) if op.inputs[nc + nx + j] in live
               and floating(body.inputs[1 + nc + nx + j])]
    ys_cot = [nc + j for j in range(len(body.outputs) - nc) if cot_mask[nc + j] and floating(body.outputs[nc + j])]
    t = _taped_adjoint(body, "loop body adjoint", True, nc, nx, carry_adj, xs_adj, inv_adj, ys_cot, hoist=hoist)
    plan = _LoopPlan(op, t.body, t.rev_body, carry_adj, inv_adj, xs_adj, t.tape_from, list(ys_cot))
    plan.hoisted = t.hoisted
    plan.tape_values = t.tape_values
    plan.rev_invariants = t.inv_read
    return plan


class _Taped:
    """A region body's adjoint reading its tape (what _taped_adjoint found)."""

    def __init__(self, body, rev_body, tape_values, tape_from, inv_read, hoisted):
        self.body, self.rev_body, self.tape_values = body, rev_body, tape_values
        self.tape_from, self.inv_read, self.hoisted = tape_from, inv_read, hoisted


def _taped_adjoint(body: Program, name: str, counted: bool, nc: int, nx: int, carry_adj: list[int],
                   xs_adj: list[int], inv_adj: list[int], ys_cot: list[int], hoist: bool = True) -> _Taped:
    """The tape planning both loop kinds share: the reverse sweep of a region body (this
    pass applied to the body), rewritten to read, instead of the forward body's values, one
    tape row per value it needs. A counted loop's body takes (k, carries, xs rows,
    invariants) and stacks its tape as (T, ...) arrays; a while loop's takes (carries,
    invariants) and appends its tape rows to a list.

    The reverse body takes (k for a counted loop, carried adjoints, invariant accumulators,
    tape rows, invariants read) and returns (carried adjoints, accumulators, xs rows'
    adjoints). `tape_from` says where each tape row comes from: ("tape", j, None) the j-th
    stacked value, ("shift", k, j) carry k at the start of each iteration (the stacked
    value j, the carry's result, shifted by one row: no second tape), ("xs", j) an xs row,
    ("ycot", j) the cotangent of stacked result j. Counted loops only: an accumulator that
    is one outer product per iteration is `hoisted` to one matrix product after the loop
    (not with `hoist=False`: a checkpointed run reverses one iteration at a time)."""
    first = 1 if counted else 0  # a counted loop's body takes the iteration number first
    ni = len(body.inputs) - first - nc - nx
    wrt = ([first + k for k in carry_adj] + [first + nc + j for j in xs_adj]
           + [first + nc + nx + j for j in inv_adj])
    cot_out = list(carry_adj) + list(ys_cot)

    # The body's adjoint, by this pass: one cotangent per output in cot_out; gradients for wrt.
    body2, cot_inputs, grads, rev_ops = _body_adjoint(body, wrt, cot_out)

    # What the reverse body reads from the forward body: its tape.
    forward_made = {o.out for o in body2.ops}
    carry_in = set(body2.inputs[first:first + nc])
    reads: dict[Value, None] = {}
    for o in rev_ops:
        for v in o.inputs:
            reads.setdefault(v)
    for g in grads:
        if g is not None:
            reads.setdefault(g)
    tape_values = [v for v in reads if not isinstance(v, Const) and (v in forward_made or v in carry_in)]
    xs_read = [j for j in range(nx) if body2.inputs[first + nc + j] in reads]
    inv_read = [j for j in range(ni) if body2.inputs[first + nc + nx + j] in reads]
    ycots = [(k, c) for k, c in zip(cot_out, cot_inputs) if k >= nc]

    # The reverse body's inputs.
    index = Value(body2.inputs[0].aval, body2.inputs[0].name) if counted else None
    carry_bars = [Value(body2.inputs[first + k].aval, body2.inputs[first + k].name) for k in carry_adj]
    accs = [Value(body2.inputs[first + nc + nx + j].aval, body2.inputs[first + nc + nx + j].name)
            for j in inv_adj]
    rows, tape_from = [], []
    subst: dict[Value, Value] = {body2.inputs[0]: index} if counted else {}
    for k, c in zip(cot_out, cot_inputs):
        if k < nc:
            subst[c] = carry_bars[carry_adj.index(k)]
    # A carried value at the start of iteration k is the body's result of iteration k - 1:
    # a stacked tape keeps that result once and reads the start values shifted by one row.
    shifted = {}
    for k in range(nc if counted else 0):
        c, o = body2.inputs[1 + k], body2.outputs[k]
        if c in tape_values and o in forward_made:
            shifted[c] = k
            if o not in tape_values:
                tape_values.append(o)
    stored = [v for v in tape_values if v not in shifted]
    for v in tape_values:
        r = Value(v.aval, v.name)
        subst[v] = r
        rows.append(r)
        if v in shifted:
            k = shifted[v]
            tape_from.append(("shift", k, stored.index(body2.outputs[k])))
        else:
            tape_from.append(("tape", stored.index(v), None))
    tape_values = stored
    for j in xs_read:
        b = body2.inputs[first + nc + j]
        r = Value(b.aval, b.name)
        subst[b] = r
        rows.append(r)
        tape_from.append(("xs", j, None))
    for k, c in ycots:
        r = Value(c.aval, "cot")
        subst[c] = r
        rows.append(r)
        tape_from.append(("ycot", k - nc, None))
    invs = []
    for j in inv_read:
        b = body2.inputs[first + nc + nx + j]
        r = Value(b.aval, b.name)
        subst[b] = r
        invs.append(r)
    new_ops, new_grads = substitute(rev_ops, grads, subst)
    for o in new_ops:  # adjoint names follow the values they now belong to
        if o.out.adjoint_of in subst:
            o.out.adjoint_of = subst[o.out.adjoint_of]
    new_grads = [subst.get(g, g) if g is not None else None for g in new_grads]
    tail = Builder(rewrite=rewrite, sweep="reverse")
    n_c = len(carry_adj)
    with tail:
        carry_out = [g if g is not None else tail.bind("zeros_like", b) for g, b in zip(new_grads[:n_c], carry_bars)]
        ys_out = []
        for j, g in zip(xs_adj, new_grads[n_c:n_c + len(xs_adj)]):
            b = body2.inputs[first + nc + j]
            ys_out.append(g if g is not None else tail.bind("broadcast_to", Const(np.zeros((), b.dtype)),
                                                              shape=b.shape))
        # Σ_k outer(a_k, b_k) = Aᵀ B: an invariant's adjoint made of one outer product per
        # iteration is one matrix product after the loop, over the stacked a_k and b_k.
        reads_in_body = {v for o in new_ops for v in o.inputs}
        acc_out, kept_accs, hoisted = [], [], {}
        for j, acc, g in zip(inv_adj, accs, new_grads[n_c + len(xs_adj):]):
            factors = g.producer.inputs if (counted and g is not None and g.producer is not None and
                                            g.producer.prim.name == "outer" and g not in reads_in_body
                                            and not isinstance(g, Const)) else None
            if hoist and factors is not None and all(f.ndim == 1 and not isinstance(f, Const) for f in factors):
                sources = []
                for f in factors:
                    if f in rows:
                        sources.append(("row", rows.index(f)))
                    elif f in ys_out[len(xs_adj):]:
                        sources.append(("ys", ys_out.index(f, len(xs_adj))))
                    else:
                        sources.append(("ys", len(ys_out)))
                        ys_out.append(f)
                hoisted[j] = sources
                continue
            kept_accs.append(acc)
            acc_out.append(acc if g is None else tail.bind("add", acc, g))
    for v, x in zip(acc_out, [body2.inputs[first + nc + nx + j] for j in inv_adj if j not in hoisted]):
        _name(v, subst.get(x, x))
    head = [index] if counted else []
    rev_body = optimize(Program(name, head + carry_bars + kept_accs + rows + invs, new_ops + tail.ops,
                                carry_out + acc_out + ys_out, body.loc))
    if not counted:  # rows the optimised adjoint no longer reads are not taped
        read = {v for o in rev_body.ops for v in o.inputs} | set(rev_body.outputs)
        kept = [i for i, r in enumerate(rows) if r in read]
        if len(kept) < len(rows):
            tape_values = [tape_values[i] for i in kept]
            tape_from = [("tape", n, None) for n in range(len(kept))]
            rev_body = Program(rev_body.name, carry_bars + kept_accs + [rows[i] for i in kept] + invs,
                               rev_body.ops, rev_body.outputs, rev_body.loc)
    return _Taped(body2, rev_body, tape_values, tape_from, inv_read, hoisted)


# ---------------------------------------------------------------------------
# While loops: the adjoint is the body's adjoint run over the recorded iterations, last first


class _WhilePlan:
    """How one while loop is differentiated. The forward loop also appends, per iteration,
    the values the body's adjoint reads to a tape (a list: its length is the trip count);
    the adjoint is an unwind op: the reverse sweep of the body (this pass applied to the
    body program) run for iterations n-1 .. 0, each reading its row of the tape, carrying
    the carries' adjoints and accumulating the invariants'. The condition only decides how
    many iterations run (piecewise constant): it contributes no adjoint."""

    def __init__(self, body: Program, rev_body: Program, carry_adj, inv_adj, tape_values, inv_read):
        self.body, self.rev_body = body, rev_body
        self.carry_adj, self.inv_adj, self.tape_values, self.inv_read = carry_adj, inv_adj, tape_values, inv_read
        self.count: Value | None = None
        self.tape: Value | None = None

    def emit(self, op: Op, inputs, builder: Builder, old: list, subst: dict) -> Value:
        """The forward while op that also records the tape; returns its handle."""
        p = op.params
        nc = p["n_carry"]
        aug = Program(p["body"].name, self.body.inputs, self.body.ops, self.body.outputs + self.tape_values,
                      self.body.loc)
        outs = emit_while(builder, p["cond"], aug, inputs[:nc], inputs[nc:], n_tape=len(self.tape_values))
        for k, v in enumerate(outs[:nc + 1]):
            if old[k] is not None:
                subst[old[k]] = v
                v.name = old[k].name
        self.count = outs[nc]
        self.count.name = self.count.name or "iterations"
        if self.tape_values:
            self.tape = outs[nc + 1]
            self.tape.name = "tape"
        return builder.ops[0].out

    def adjoint(self, op: Op, cots: dict, builder: Builder) -> list:
        nc = op.params["n_carry"]
        carry_init, invs = op.inputs[:nc], op.inputs[nc:]
        starts = []
        for i, k in enumerate(self.carry_adj):
            g = cots.get(k)
            want = self.rev_body.inputs[i].aval
            if g is None:
                g = builder.bind("zeros_like", carry_init[k])
            elif isinstance(g, Const) and (g.weak or g.dtype != want.dtype):
                g = Const(np.asarray(g.value, dtype=want.dtype))
            elif g.dtype != want.dtype:
                g = builder.bind("cast", g, dtype=want.dtype)
            if g.shape != want.shape:
                g = builder.bind("broadcast_to", g, shape=want.shape)
            starts.append(g)
        for j in self.inv_adj:
            zero = builder.bind("zeros_like", invs[j])
            _name(zero, invs[j])
            starts.append(zero)
        results = emit_unwind(builder, self.rev_body, self.count, starts, self.tape,
                              [invs[j] for j in self.inv_read], len(self.tape_values))
        contributions: list = [None] * len(op.inputs)
        for k, r in zip(self.carry_adj, results):
            contributions[k] = r
        for j, r in zip(self.inv_adj, results[len(self.carry_adj):]):
            contributions[nc + j] = r
        return contributions


def _needed_carries(body: Program, nc: int, wanted: set) -> set:
    """The carries whose adjoint can be nonzero: those read after the loop, and those an
    iteration feeds into a needed one (a carry only the condition reads needs none)."""
    needed, made = set(wanted), set(body.ops)
    while True:
        todo = [body.outputs[k] for k in needed]
        seen: set = set()
        while todo:
            v = todo.pop()
            if isinstance(v, Const) or v in seen:
                continue
            seen.add(v)
            if v.producer is not None and v.producer in made:
                todo.extend(v.producer.inputs)
        reads = {k for k in range(nc) if body.inputs[k] in seen}
        if reads <= needed:
            return needed
        needed |= reads


def _plan_while(op: Op, cot_mask: list, live) -> _WhilePlan:
    p = op.params
    body, nc = p["body"], p["n_carry"]
    ni = len(op.inputs) - nc
    floating = lambda v: v.dtype.kind == "f"  # noqa: E731
    needed = _needed_carries(body, nc, {k for k in range(nc) if cot_mask[k]})
    carry_adj = [k for k in range(nc) if floating(body.inputs[k]) and k in needed]
    inv_adj = [j for j in range(ni) if op.inputs[nc + j] in live and floating(body.inputs[nc + j])]
    t = _taped_adjoint(body, "while body adjoint", False, nc, 0, carry_adj, [], inv_adj, [])
    return _WhilePlan(t.body, t.rev_body, carry_adj, inv_adj, t.tape_values, t.inv_read)


def _distinct_outputs(program: Program) -> Program:
    """Each gradient is its own array, even where optimisation found two equal adjoints."""
    builder = Builder(sweep="reverse")
    builder.step = 0 if any(op.step is not None for op in program.ops) else None
    seen, outputs = set(), []
    owners = [None] + [program.inputs[i] for i in program.wrt]  # outputs: value, then gradients
    with builder:
        for v, owner in zip(program.outputs, owners):
            if v in seen and not isinstance(v, Const):
                v = builder.bind("copy", v)
                v.adjoint_of = owner
            seen.add(v)
            outputs.append(v)
    return program.with_ops(program.ops + builder.ops, outputs) if builder.ops else program


def _contributions(op: Op, g: Value, live) -> list:
    if not any(x in live for x in op.inputs):
        return []
    if not op.prim.derivative_known:
        raise CompileError(f"cannot differentiate {op.prim.name}: gradc has no derivative rule for it",
                           op.loc)
    inputs = precision.rule_inputs(op)
    try:
        return list(op.prim.vjp(precision.cotangent(g, op, inputs), op.out, *inputs, **op.params))
    except NotImplementedError as e:
        raise CompileError(f"cannot differentiate {op.prim.name}: {e}", op.loc) from None


def _name(c: Value, x: Value) -> None:
    """Mark values the reverse sweep just created as holding x̄ (for printing)."""
    if c.producer is not None and c.producer.sweep == "reverse" and c.adjoint_of is None:
        c.adjoint_of = x


def _finish(x: Value, g: Value | None, builder: Builder) -> Value:
    """The gradient returned for input x: its own array, with x's shape and dtype."""
    if g is None:
        return builder.bind("zeros_like", x)
    if g.dtype != x.dtype:
        g = builder.bind("cast", g, dtype=x.dtype)
    if (isinstance(g, Const) and not g.is_scalar) or (not isinstance(g, Const) and (
            g.producer is None or not is_fresh(g) or g.producer.sweep == "forward")):
        g = builder.bind("copy", g)
    if g.adjoint_of is None and g.producer is not None and g.producer.sweep == "reverse":
        g.adjoint_of = x
    return g
