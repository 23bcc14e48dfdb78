"""A loop region's iterations as checkpointing steps, without unrolling the loop.

A program `pre; for t in range(T): body; post` is a chain of T steps whose state is the
loop's carried values. Its adjoint program (ad/reverse.py with `stepwise`) holds the
forward loop, which stacks the body's tape, and a reversed loop over the body's adjoint.
From those two and the ops around them this plan builds, once whatever T is:

    prologue        `pre`: what every step reads
    forward         the body: carries at t -> carries at t + 1 (the body's tape dropped)
    adjoint         the body again (its tape, recomputed from the carries at t), then the
                    adjoint body: carried adjoints at t + 1 -> at t, invariants' adjoints
                    accumulated, a row of each stacked input's adjoint
    last adjoint    the body at T - 1, `post` and its reverse sweep, then the adjoint body
    stacks          the rows of the stacked inputs' adjoints, one array each
    finish          the reverse sweep of `pre`: the gradients

The step functions are the very ops of the stored-everything adjoint program's loops, so
under every schedule the numbers are bitwise those of running the loop with its tape —
except where that program sums an invariant's outer products after the loop as one
matrix product (Σ aₖ bₖᵀ = Aᵀ B): a checkpointed run adds them step by step (`stepwise`),
which rounds differently. Each step's values are keyed (the runtime Chain's keys) by the
step they belong to: ("carry", j, t), ("carry_bar", j, t), ...; "step" is the iteration.
"""
from __future__ import annotations

from gradc.runtime.checkpoint import STEP, Fixed

from ..ad.reverse import reverse
from ..ir import Aval, Builder, Const, Op, Program, Value
from ..primitives import registry
from ..primitives.indexing import Slot
from ..regions import LOOP, LOOP_RESULT, results_of, substitute
from .plan import Call, ChainPlan, step_program


def loop_of(program: Program) -> Op | None:
    """The one top-level loop whose iterations can be the steps, or None (unroll instead):
    a counted forward loop and nothing tagged as a step already (`gradc.checkpoint`)."""
    loops = [op for op in program.ops if op.prim is LOOP]
    if len(loops) != 1 or any(op.step is not None for op in program.ops):
        return None
    (op,) = loops
    p = op.params
    if p["reverse"] or p["length"] < 2:
        return None
    ys = {r for r in results_of(program)[op.out][p["n_carry"]:] if r is not None}
    if any(v in ys for v in program.outputs):
        return None
    return op


def plan(program: Program, loop: Op) -> ChainPlan | None:
    """The chain of `program` (optimised; `loop` its loop) with the loop's iterations as the
    steps, or None when the loop is not active (no adjoint to take step by step)."""
    plans: list = []
    adjoint = reverse(program, program.wrt, stepwise=plans)
    if len(plans) != 1:
        return None
    (lp,) = plans
    fwd = next((op for op in adjoint.ops if op.prim is LOOP and op.params["body"] is lp.aug), None)
    rev = next((op for op in adjoint.ops if op.prim is LOOP and op.params["body"] is lp.rev_body), None)
    if fwd is None or rev is None or adjoint.ops.index(fwd) > adjoint.ops.index(rev):
        return None
    return _Steps(adjoint, lp, fwd, rev).plan()


class _Steps:
    """The step functions of one loop and the keys of each step's calls."""

    def __init__(self, adjoint: Program, lp, fwd: Op, rev: Op):
        self.adjoint, self.lp, self.fwd, self.rev = adjoint, lp, fwd, rev
        p = fwd.params
        self.T, self.nc, self.nx = p["length"], p["n_carry"], p["n_xs"]
        self.body: Program = lp.aug  # the forward body with its tape as extra outputs
        self.n_outs = len(lp.body.outputs)  # the body's own outputs (carries, ys); the tape follows
        self.nr = rev.params["n_carry"]  # carried adjoints and invariant accumulators
        ops = adjoint.ops
        i, j = ops.index(fwd), ops.index(rev)
        self.pre = ops[:i]
        self.fwd_results = {o.out: o.params["index"] for o in ops[i + 1:j]
                            if o.prim is LOOP_RESULT and o.inputs[0] is fwd.out}
        self.mid = [o for o in ops[i + 1:j] if o.out not in self.fwd_results]
        self.rev_results = {o.out: o.params["index"] for o in ops[j + 1:]
                            if o.prim is LOOP_RESULT and o.inputs[0] is rev.out}
        self.fin = [o for o in ops[j + 1:] if o.out not in self.rev_results]
        self.const_init = any(isinstance(v, Const) for v in fwd.inputs[:self.nc])
        # stacked results (ys: `hs.append(h)`) read after the loop: each forward step also
        # returns its row, which the runtime keeps until the last step stacks them
        self.ys_read = sorted({k - self.nc for v, k in self.fwd_results.items() if self.nc <= k < self.n_outs
                               and any(v in o.inputs for o in self.mid)})
        self.heads = [Value(Aval((self.T - 1,) + tuple(lp.body.outputs[self.nc + j].shape),
                                 lp.body.outputs[self.nc + j].dtype), "rows") for j in self.ys_read]
        # the adjoints carried from step to step, named after what they are the adjoints of
        # (the reversed loop's body names them like the values themselves)
        self.bars = [Value(v.aval, f"{v.name}_bar" if isinstance(v.name, str) and v.name.isidentifier() else "")
                     for v in rev.params["body"].inputs[1:1 + self.nr]]

    def plan(self) -> ChainPlan:
        T, nc, nr = self.T, self.nc, self.nr
        body, rev_body = self.body, self.rev.params["body"]
        index, carries, init = body.inputs[0], list(body.inputs[1:1 + nc]), list(self.fwd.inputs[:nc])
        bars = self.bars

        forward_mid = self._forward(first=False)
        forward_first = self._forward(first=True) if self.const_init else forward_mid
        middle = self._adjoint(first=False)
        first = self._adjoint(first=True) if self.const_init else middle
        later = {v for fn in (middle, first) for v in fn.inputs}
        later |= {v for o in self.fin for v in o.inputs} | set(self.adjoint.outputs)
        last, made = self._last(later)

        slots = {index: (STEP,)}
        slots.update((v, ("carry", j)) for j, v in enumerate(carries))
        slots.update((v, ("bar", j)) for j, v in enumerate(bars))
        slots.update((v, ("ys", j)) for j, v in zip(self.ys_read, self.heads))  # (rows 0 .. T-2, stacked)
        templates: dict[int, list] = {}  # per function: its inputs' keys, the step left open

        def args(t: int, program: Program) -> tuple:
            template = templates.get(id(program))
            if template is None:
                template = templates[id(program)] = [slots.get(v, v.uid) for v in program.inputs]
            keys = []
            for k in template:
                if type(k) is not tuple:
                    keys.append(k)
                elif k[0] == "carry":
                    keys.append(init[k[1]].uid if t == 0 else ("carry", k[1], t))
                elif k[0] == "bar":
                    keys.append(("bar", k[1], t + 1))
                elif k[0] == "ys":
                    keys.append(k)
                else:
                    keys.append(STEP)
            return tuple(keys)

        forward = []
        for t in range(T - 1):
            fn = forward_first if t == 0 else forward_mid
            forward.append(Call(fn, args(t, fn), tuple(("carry", j, t + 1) for j in range(nc))
                                + tuple(("ys", j, t) for j in self.ys_read)))
        n_rows = len(rev_body.outputs) - nr
        reverse = []
        for t in range(T):
            fn = last if t == T - 1 else first if t == 0 else middle
            outs = tuple(("bar", j, t) for j in range(nr)) + tuple(("row", k, t) for k in range(n_rows))
            if fn is last:
                outs += tuple(v.uid for v in made)
            reverse.append(Call(fn, args(t, fn), outs))
        states = [()] + [tuple(("carry", j, t) for j in range(nc)) for t in range(1, T)] + [()]

        # the reversed loop's results: the carried adjoints after step 0, the rows stacked
        result_key = {v: ("bar", k, 0) if k < nr else ("rows", k - nr) for v, k in self.rev_results.items()}
        stacks = [(tuple(("row", k, t) for t in range(T)), ("rows", k)) for k in range(n_rows)
                  if ("rows", k) in result_key.values()]
        finish = step_program("finish", self.fin, [v for v in self.adjoint.outputs
                                                  if v in {op.out for op in self.fin}])
        finish_call = Call(finish, tuple(result_key.get(v, v.uid) for v in finish.inputs),
                           tuple(v.uid for v in finish.outputs)) if finish.ops else None
        outputs = tuple(Fixed(v.value) if isinstance(v, Const) else result_key.get(v, v.uid)
                        for v in self.adjoint.outputs)
        calls = forward + reverse + ([finish_call] if finish_call else [])
        read = {k for c in calls for k in c.args} | set(outputs)
        prologue = step_program("prologue", self.pre, [o.out for o in self.pre if o.out.uid in read])
        prologue_call = Call(prologue, tuple(v.uid for v in prologue.inputs),
                             tuple(v.uid for v in prologue.outputs)) if prologue.ops else None
        kept = [tuple(("ys", j, t) for j in self.ys_read) for t in range(T - 1)] if self.ys_read else []
        gathers = [(T - 1, tuple(("ys", j, t) for t in range(T - 1)), ("ys", j)) for j in self.ys_read]
        return ChainPlan(self.adjoint, tuple(v.uid for v in self.adjoint.inputs), prologue_call, forward,
                         reverse, finish_call, states, outputs, stacks, source=self, kept=kept,
                         gathers=gathers)

    def marks(self, program: Program, iterations: dict) -> tuple[dict, dict]:
        """(ChainPlan.marks) In the flat view the loop's iterations are tagged; iteration k
        is step k + 1, what comes before the loop the prologue (0) and what comes after it
        the last step (T). Stored: the inputs, prologue values a step reads, and values a
        later step reads (the carries at each boundary); the rest is recomputed."""
        loc = self.fwd.loc
        step_of: dict[Value, int] = {v: 0 for v in program.inputs}
        seen_loop = False
        for op in program.forward_ops():
            tag = iterations.get(op.step)
            if tag is not None and tag[0] == loc:
                seen_loop = True
                step_of[op.out] = tag[1] + 1
            else:
                step_of[op.out] = self.T if seen_loop else 0
        read_at: dict[Value, int] = {}  # the latest step reading each value
        after = False
        for op in program.ops:
            tag = iterations.get(op.step)
            if op.sweep == "forward":
                at = step_of[op.out]
            elif tag is not None and tag[0] == loc:
                at, after = tag[1] + 1, True
            else:
                at = 0 if after else self.T  # post's reverse sweep runs in the last step
            for v in op.inputs:
                if v in step_of:
                    read_at[v] = max(read_at.get(v, -1), at)
        for v in program.outputs:
            if v in step_of:
                read_at[v] = max(read_at.get(v, -1), self.T)
        kept = {}
        for v, k in step_of.items():
            later = read_at.get(v, -1) > k
            if k == 0:
                kept[v] = "stored" if v in program.inputs or read_at.get(v, -1) >= 1 else "transient"
            else:
                kept[v] = "stored" if later else "recomputed"
        return kept, step_of

    # -- the step functions ---------------------------------------------------------

    def _iteration(self, first: bool) -> tuple[list[Op], list[Value], dict]:
        """The forward body's ops for one iteration (its tape included), reading the rows of
        the stacked inputs at the index; at step 0, constant initial carries inlined. Returns
        the ops, the body's outputs, and the row read of each stacked input."""
        body, nc, nx = self.body, self.nc, self.nx
        index = body.inputs[0]
        subst: dict[Value, Value] = {}
        rows: list[Op] = []
        for b, xs in zip(body.inputs[1 + nc:1 + nc + nx], self.fwd.inputs[nc:nc + nx]):
            subst[b] = _row(xs, index, b)
            rows.append(subst[b].producer)
        subst.update(zip(body.inputs[1 + nc + nx:], self.fwd.inputs[nc + nx:]))
        if first:
            subst.update((b, v) for b, v in zip(body.inputs[1:1 + nc], self.fwd.inputs[:nc])
                         if isinstance(v, Const))
        ops, outs = substitute(body.ops, body.outputs, subst)
        read = {xs: subst[b] for b, xs in zip(body.inputs[1 + nc:1 + nc + nx], self.fwd.inputs[nc:nc + nx])}
        return rows + ops, [subst.get(v, v) for v in outs], read

    def _carries(self, first: bool) -> list[Value]:
        """The carries a step function takes (at step 0 the constant ones are inlined)."""
        return [b for b, v in zip(self.body.inputs[1:1 + self.nc], self.fwd.inputs[:self.nc])
                if not (first and isinstance(v, Const))]

    def _forward(self, first: bool) -> Program:
        ops, outs, _ = self._iteration(first)
        rows = [outs[self.nc + j] for j in self.ys_read]
        return step_program("step", ops, outs[:self.nc] + rows, [self.body.inputs[0]] + self._carries(first))

    def _adjoint(self, first: bool) -> Program:
        ops, outs, read = self._iteration(first)
        bars = dict(zip(self.rev.params["body"].inputs[1:1 + self.nr], self.bars))
        rev_ops, rev_outs = self._reversed(outs, read, first, bars, list(self.rev.inputs))
        bound = [self.body.inputs[0]] + self._carries(first) + self.bars
        return step_program("adjoint of a step", ops + rev_ops, rev_outs, bound)

    def _last(self, later: set) -> tuple[Program, list[Value]]:
        """The last step's adjoint: the body, then `post` and its reverse sweep (the loop's
        results are this iteration's outputs; what stacks the tape for the reversed loop
        is not needed), then the adjoint body. Also returns the values of `post` that
        other groups read (the loss, ȳ rows, gradients `post` contributes)."""
        ops, outs, read = self._iteration(first=False)
        subst = {v: outs[k] for v, k in self.fwd_results.items() if k < self.nc}
        stacking = Builder()  # the stacked results: the kept rows of steps 0 .. T-2, then this one's
        with stacking:
            for j, head in zip(self.ys_read, self.heads):
                whole = stacking.bind("concatenate", head, stacking.bind("expand_dims", outs[self.nc + j],
                                                                         axis=(0,)), axis=0)
                subst.update((v, whole) for v, k in self.fwd_results.items() if k == self.nc + j)
        ops = ops + stacking.ops
        dropped = {v for v, k in self.fwd_results.items() if k >= self.n_outs}  # the stacked tape
        mid = []
        for o in self.mid:
            if any(v in dropped for v in o.inputs):
                dropped.add(o.out)
            else:
                mid.append(o)
        mid_ops, _ = substitute(mid, [], subst)
        for o, n in zip(mid, mid_ops):
            subst[o.out] = n.out
        made = [v for v in self.fwd_results if v in subst and v in later]  # (the value: a final carry)
        made += [o.out for o in mid if o.out in later]
        operands = [subst.get(v, v) for v in self.rev.inputs]
        if any(v in dropped for v in operands[:self.nr]):
            raise AssertionError("the reversed loop starts from the stacked tape")
        rev_ops, rev_outs = self._reversed(outs, read, False, dict(zip(self.rev.params["body"].inputs[1:1 + self.nr],
                                                                 operands[:self.nr])), operands)
        fn = step_program("adjoint of the last step", ops + mid_ops + rev_ops, rev_outs + [subst[v] for v in made],
                          [self.body.inputs[0]] + self._carries(False) + self.heads)
        return fn, made

    def _reversed(self, outs: list[Value], read: dict, first: bool, subst: dict,
                  operands: list) -> tuple[list[Op], list[Value]]:
        """The adjoint body for one iteration: its tape rows are this iteration's values
        (`outs`, and `read`: the rows the forward body read)."""
        rev_body: Program = self.rev.params["body"]
        nr, n_x, tape_from = self.nr, self.rev.params["n_xs"], self.lp.tape_from
        index = self.body.inputs[0]
        subst = dict(subst)
        subst[rev_body.inputs[0]] = index
        ops: list[Op] = []
        rows = rev_body.inputs[1 + nr:1 + nr + len(tape_from)]
        for r, (kind, j, _), stacked in zip(rows, tape_from, operands[nr:nr + n_x]):
            if kind == "tape":
                subst[r] = outs[self.n_outs + j]
            elif kind == "shift":  # the carry at the start of the iteration: the state
                v = self.fwd.inputs[j]
                subst[r] = v if first and isinstance(v, Const) else self.body.inputs[1 + j]
            elif kind == "xs" and stacked in read:  # read by the forward body too
                subst[r] = read[stacked]
            else:  # a row of a stacked input, or of the stacked outputs' adjoints
                subst[r] = _row(stacked, index, r, "reverse")
                ops.append(subst[r].producer)
        subst.update(zip(rev_body.inputs[1 + nr + len(tape_from):], operands[nr + n_x:]))
        new_ops, new_outs = substitute(rev_body.ops, rev_body.outputs, subst)
        return ops + new_ops, [subst.get(v, v) for v in new_outs]


def _row(stacked: Value, index: Value, like: Value, sweep: str = "forward") -> Value:
    """stacked[index] as an op (a gather with the index as its one index array)."""
    out = Value(like.aval, like.name)
    out.pytype = like.pytype
    op = Op(registry.get("gather"), (stacked, index), {"index": (Slot(0),)}, out, None, sweep, None)
    out.producer = op
    return out
