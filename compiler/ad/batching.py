"""The batching transformation (vmap): Program → Program.

`batch(program, in_axes, size)` is the program that runs `program` on `size` examples at
once: input i carries an extra axis of length `size` at `in_axes[i]` (None: the input is
shared by every example), and every output gets a leading axis of length `size`. Hessians
and Jacobians are a derivative program batched over basis directions (all columns at once);
per-example gradients are the gradient program batched over the examples.

Inside, a value is either shared (the original Value: ops that read only shared values are
kept as they are) or batched, with its batch axis first. Each primitive has a rule
(`batching_rules.RULES`, keyed by primitive name) that applies the op to operands of which
some are batched and returns the batched result. A loop region is batched by batching its
body. An op without a rule, or whose rule declines (it raises, or its result has the wrong
shape or dtype), becomes a loop region over the examples that applies the op to one example
at a time: slower, never a different number.
"""
from __future__ import annotations

import numpy as np

from ..errors import CompileError
from ..ir import Aval, Builder, Const, Op, Program, Value
from ..passes import optimize
from ..passes.simplify import rewrite
from ..primitives import ops
from ..regions import LOOP_RESULT, emit_loop, is_cond, is_fresh, is_loop, is_while, substitute
from .batching_rules import Declined, move_axis, rule_for

# What a rule that does not apply raises (a rule building an ill-shaped op raises ShapeError).
_DECLINED = (Declined, CompileError, ValueError, TypeError, IndexError)


def batch(program: Program, in_axes, size: int, *, name: str | None = None) -> Program:
    """`program` over `size` examples: input i has an extra axis at in_axes[i] (None: not
    batched); every output has the batch as its leading axis and is a fresh array."""
    return batch_with_report(program, in_axes, size, name=name)[0]


def batch_with_report(program: Program, in_axes, size: int, *, name: str | None = None,
                      use_rules: bool = True):
    """(the batched program, the names of the primitives that ran as a loop over the batch).
    use_rules=False runs every op that reads a batched value per example (tests compare)."""
    in_axes = tuple(in_axes)
    if len(in_axes) != len(program.inputs):
        raise ValueError(f"in_axes has {len(in_axes)} entries for {len(program.inputs)} inputs")
    builder = Builder(rewrite=rewrite)
    batcher = Batcher(int(size), builder, use_rules)
    inputs = []
    with builder:
        for v, axis in zip(program.inputs, in_axes):
            if axis is None:
                inputs.append(v)
                continue
            shape = list(v.shape)
            axis = int(axis) % (len(shape) + 1)
            shape.insert(axis, int(size))
            new = _like(v, Aval(tuple(shape), v.dtype))
            inputs.append(new)
            batcher.bind(v, move_axis(new, axis, 0))
        batcher.run(program.ops)
        builder.loc, builder.sweep, builder.step = None, "forward", None
        outputs = [batcher.output(v) for v in program.outputs]
    result = Program(name or program.name, inputs, builder.ops, outputs, program.loc,
                     program.wrt, program.static_args)
    return optimize(result), tuple(batcher.fallbacks)


def _like(v: Value, aval: Aval) -> Value:
    new = Value(aval, v.name)
    new.adjoint_of, new.tangent_of = v.adjoint_of, v.tangent_of
    return new


class Batcher:
    """Appends the batched ops of a program (or loop body) to a builder."""

    def __init__(self, size: int, builder: Builder, use_rules: bool = True):
        self.size = size
        self.builder = builder
        self.use_rules = use_rules
        self.env: dict[Value, Value] = {}  # original batched value -> its batched counterpart
        self.renamed: dict[Value, Value] = {}  # shared value -> the one now computing it (a loop's)
        self.fallbacks: list[str] = []  # primitives that ran as a loop over the batch

    def bind(self, v: Value, new: Value) -> None:
        self.env[v] = new

    def is_batched(self, v: Value) -> bool:
        return v in self.env

    def read(self, v: Value) -> Value:
        new = self.env.get(v)
        return new if new is not None else self.renamed.get(v, v)

    def run(self, program_ops) -> None:
        results: dict[Value, list[Op]] = {}  # loop handle -> its loop_result ops
        for op in program_ops:
            if op.prim is LOOP_RESULT:
                results.setdefault(op.inputs[0], []).append(op)
        done: dict[Value, list] = {}  # batched loop handle -> (value, batched) per result
        for op in program_ops:
            if op.prim is LOOP_RESULT and op.inputs[0] in done:
                new, batched = done[op.inputs[0]][op.params["index"]]
                if batched:
                    self.bind(op.out, new)
                else:
                    self.renamed[op.out] = new
                continue
            if not any(self.is_batched(v) for v in op.inputs):
                self._shared(op)
                continue
            self.builder.loc, self.builder.sweep, self.builder.step = op.loc, op.sweep, op.step
            if is_loop(op):
                done[op.out] = self._loop(op, results.get(op.out, []))
                continue
            if is_cond(op) or is_while(op):
                done[op.out] = self._cond(op, results.get(op.out, []))
                continue
            out = self._apply(op)
            self._copy_meta(op.out, out)
            self.bind(op.out, out)

    def _shared(self, op: Op) -> None:
        """An op no batched value reaches: as it is (reading a loop's new result if it must)."""
        if not any(v in self.renamed for v in op.inputs):
            self.builder.add_op(op)
            return
        ops_, _ = substitute([op], [], self.renamed)
        self.renamed[op.out] = ops_[0].out
        self.builder.add_op(ops_[0])

    def _apply(self, op: Op) -> Value:
        """The op on the batched operands by its rule, else as a loop over the batch."""
        rule = rule_for(op.prim) if self.use_rules else None
        if rule is not None:
            want = Aval((self.size,) + op.out.shape, op.out.dtype)
            mark = len(self.builder.ops)
            try:
                out = rule(self, op, [self.read(v) for v in op.inputs],
                           [self.is_batched(v) for v in op.inputs])
                if out.aval == want:
                    return out
            except _DECLINED:
                pass
            del self.builder.ops[mark:]  # what the rule built is not used
        self.fallbacks.append(op.prim.name)
        return self._per_example([op], [op.out])[0]

    def _per_example(self, group: list[Op], outs: list[Value]) -> list[Value]:
        """The ops of `group` in a loop region over the examples: the batched operands are
        read a row per iteration, the shared ones are loop invariants; `outs` are stacked."""
        reads: dict[Value, None] = {}
        made = {op.out for op in group}
        for op in group:
            for v in op.inputs:
                if not isinstance(v, Const) and v not in made:
                    reads.setdefault(v)
        rows = [v for v in reads if self.is_batched(v)]
        shared = [v for v in reads if not self.is_batched(v)]
        k = Value(Aval((), np.dtype(np.int64)), "k")
        row_inputs = [_like(v, v.aval) for v in rows]
        shared_inputs = [_like(v, v.aval) for v in shared]
        subst = dict(zip(rows, row_inputs))
        subst.update(zip(shared, shared_inputs))
        body_ops, body_outs = substitute(group, outs, subst)
        body = Program("per example", [k] + row_inputs + shared_inputs, body_ops, body_outs, group[0].loc)
        return emit_loop(self.builder, body, self.size, [], [self.env[v] for v in rows],
                         [self.read(v) for v in shared], index_name="k")

    def _cond(self, op: Op, result_ops: list[Op]) -> list:
        """A cond with batched operands runs per example (each example takes its own branch;
        running both and selecting could raise or warn in the branch an example does not take).
        So does a while loop (each example runs its own number of iterations; a tape of
        recorded iterations is then one list per example) and its adjoint, the unwind."""
        from ..regions import n_results

        self.fallbacks.append(op.prim.name)
        outs = self._per_example([op] + result_ops, [r.out for r in result_ops])
        done: list = [(None, False)] * n_results(op)
        for r, v in zip(result_ops, outs):
            self._copy_meta(r.out, v)
            done[r.params["index"]] = (v, True)
        return done

    def _loop(self, op: Op, result_ops: list[Op]) -> list:
        """A loop region with batched operands: the loop over its batched body, carrying a
        batched value wherever the initial value or an iteration makes one batched. Its
        stacked results come out as (batch, T, ...)."""
        p = op.params
        body, nc, nx = p["body"], p["n_carry"], p["n_xs"]
        flags = [self.is_batched(v) for v in op.inputs]
        carry = flags[:nc]
        mark = len(self.builder.ops)
        try:
            if not self.use_rules:
                raise Declined("rules are off")
            while True:  # each round makes one more carry batched, or settles: at most nc + 1 rounds
                new_body, out_batched = batch_body(body, [False] + carry + flags[nc:], carry, self.size)
                grown = [c or b for c, b in zip(carry, out_batched[:nc])]
                if grown == carry:
                    break
                carry = grown
            operands = [self.read(v) for v in op.inputs]
            init = [self.batched(v, f) if c else v for v, f, c in zip(operands[:nc], flags[:nc], carry)]
            xs = [move_axis(x, 0, 1) if f else x for x, f in zip(operands[nc:nc + nx], flags[nc:nc + nx])]
            results = emit_loop(self.builder, new_body, p["length"], init, xs, operands[nc + nx:],
                                reverse=p["reverse"], index_name=p["index_name"])
            return [(move_axis(r, 1, 0) if b and k >= nc else r, b)
                    for k, (r, b) in enumerate(zip(results, out_batched))]
        except _DECLINED:
            del self.builder.ops[mark:]
        self.fallbacks.append("loop")
        stacked = self._per_example([op] + result_ops, [r.out for r in result_ops])
        out: list = [(None, False)] * len(body.outputs)
        for r, s in zip(result_ops, stacked):
            out[r.params["index"]] = (s, True)
        return out

    def _copy_meta(self, old: Value, new: Value) -> None:
        """The batched value keeps the name, and the adjoint or tangent it stands for."""
        if isinstance(new, Const) or new.producer is None or new.producer.sweep != old.producer.sweep:
            return
        new.name = new.name or old.name
        if old.adjoint_of is not None and new.adjoint_of is None:
            new.adjoint_of = self.read(old.adjoint_of)
        if old.tangent_of is not None and new.tangent_of is None:
            new.tangent_of = self.read(old.tangent_of)

    def batched(self, v: Value, is_batched: bool) -> Value:
        """v with a leading batch axis (a shared value broadcast along it)."""
        return v if is_batched else ops.broadcast_to(v, shape=(self.size,) + v.shape)

    def output(self, v: Value) -> Value:
        """A program output, batch axis first, as a fresh array the caller may write to."""
        source = self.read(v)
        self.builder.sweep = source.producer.sweep if source.producer is not None else "forward"
        out = self.batched(source, self.is_batched(v))
        if isinstance(out, Const) or out.producer is None or not is_fresh(out):
            out = ops.copy(out)
        if out is not source and not isinstance(out, Const):  # named as the value it returns
            if out.adjoint_of is None:
                out.adjoint_of = v.adjoint_of
            if out.tangent_of is None:
                out.tangent_of = v.tangent_of
        return out


def batch_body(body: Program, in_batched: list[bool], force: list[bool], size: int):
    """A loop body over batched values (a batched input has the batch first); the carried
    outputs `force` marks come out batched. Returns (body, which outputs are batched)."""
    builder = Builder(rewrite=rewrite)
    batcher = Batcher(size, builder)
    inputs = []
    with builder:
        for v, b in zip(body.inputs, in_batched):
            if b:
                new = _like(v, Aval((size,) + v.shape, v.dtype))
                batcher.bind(v, new)
                inputs.append(new)
            else:
                inputs.append(v)
        batcher.run(body.ops)
        builder.loc, builder.sweep, builder.step = None, "forward", None
        outputs, flags = [], []
        for k, v in enumerate(body.outputs):
            b = batcher.is_batched(v) or (k < len(force) and force[k])
            # (an unbatched output may be a shared result of a batched inner loop: read it anew)
            outputs.append(batcher.batched(batcher.read(v), batcher.is_batched(v)) if b else batcher.read(v))
            flags.append(b)
    if batcher.fallbacks:
        raise Declined("a loop body op has no batching rule")  # the whole loop runs per example
    return Program(body.name, inputs, builder.ops, outputs, body.loc), flags
