"""Structured control flow in the IR: the loop region (a scan with carried values) and
the conditional region (two branch bodies, one run).

A `loop` op runs its body program `length` times (last to first with reverse=True).
Its operands are, in order, the initial carried values, the stacked per-iteration
inputs `xs` (each of shape (length, ...)) and the loop invariants. The body is an
ordinary closed Program with inputs

    (k, carries..., xs[k]..., invariants...)

where k is the iteration number (int64, 0..length-1), and outputs

    (new carries..., ys...)

The loop's results are the final carries followed by the ys stacked along a new
leading axis ((length, ...), preallocated by the generated code). An op has one
result Value, so the loop op's own result is a handle (aval of dtype object) and
each result is read by a `loop_result` op (parameter `index`) that directly follows it.

A `cond` op (operands: the 0-d boolean predicate, then the values the branches read)
runs params["branches"][0] when the predicate is true and [1] otherwise. Both branches
are closed Programs with one input per operand after the predicate and outputs of the
same avals; the results are read by `loop_result` ops exactly as a loop's.

These operations are not primitives of the registry (they have no NumPy
spelling of their own): codegen and the printer write them as a `for` statement,
the reverse pass derives the adjoint of the body with itself (ad/reverse.py), and
`unroll` turns any program with loops into a flat one (the fallback for the
displays, forward mode and checkpointing that work on flat programs).
"""
from __future__ import annotations

import contextvars

import numpy as np

from .ir import Aval, Builder, Const, Op, Program, Value
from .primitives import Primitive

HANDLE = Aval((), np.dtype(object))


def _no_emit(*args, **params):
    raise TypeError("loop ops are written by codegen as for statements")


def _run_loop(*args, body, length, n_carry, n_xs, reverse=False, index_name="i"):
    from .interpret import evaluate

    carries = list(args[:n_carry])
    xs = args[n_carry:n_carry + n_xs]
    invariants = args[n_carry + n_xs:]
    ys_avals = [v.aval for v in body.outputs[n_carry:]]
    ys = [np.empty((length,) + a.shape, dtype=a.dtype) for a in ys_avals]
    for k in (range(length - 1, -1, -1) if reverse else range(length)):
        env = evaluate(body, np.int64(k), *carries, *(x[k] for x in xs), *invariants)
        outs = [v.value if isinstance(v, Const) else env[v] for v in body.outputs]
        carries = outs[:n_carry]
        for stack, y in zip(ys, outs[n_carry:]):
            stack[k] = y
    return tuple(carries) + tuple(ys)


LOOP = Primitive(name="loop", impl=_run_loop, emit=_no_emit, family="control", arity=None,
                 shape_rule=lambda avals, **p: (), dtype_rule=lambda avals, values, **p: HANDLE.dtype,
                 foldable=False, shareable=False, fresh=False,
                 doc="a counted loop region (scan): see compiler/regions.py")


def _run_cond(pred, *args, branches):
    from .interpret import evaluate

    body = branches[0] if bool(pred) else branches[1]
    env = evaluate(body, *args)
    return tuple(v.value if isinstance(v, Const) else env[v] for v in body.outputs)


COND = Primitive(name="cond", impl=_run_cond, emit=_no_emit, family="control", arity=None,
                 shape_rule=lambda avals, **p: (), dtype_rule=lambda avals, values, **p: HANDLE.dtype,
                 foldable=False, shareable=False, fresh=False,
                 doc="a conditional region (if/else on a traced predicate): see compiler/regions.py")
def _run_while(*args, cond, body, n_carry, n_tape=0):
    from .interpret import evaluate

    carries, invariants = list(args[:n_carry]), args[n_carry:]
    tape, count = [], 0

    def read(env, v):
        return v.value if isinstance(v, Const) else env[v]

    while True:
        env = evaluate(cond, *carries, *invariants)
        if not bool(read(env, cond.outputs[0])):
            break
        env = evaluate(body, *carries, *invariants)
        outs = [read(env, v) for v in body.outputs]
        carries = outs[:n_carry]
        if n_tape:
            tape.append(tuple(outs[n_carry:]))
        count += 1
    return tuple(carries) + (np.int64(count),) + ((tape,) if n_tape else ())


WHILE = Primitive(name="while", impl=_run_while, emit=_no_emit, family="control", arity=None,
                  shape_rule=lambda avals, **p: (), dtype_rule=lambda avals, values, **p: HANDLE.dtype,
                  foldable=False, shareable=False, fresh=False,
                  doc="a while loop region (condition on data): see compiler/regions.py")


def _run_unwind(count, *args, body, n_carry, n_rows):
    from .interpret import evaluate

    carries = list(args[:n_carry])
    tape = args[n_carry] if n_rows else None
    invariants = args[n_carry + (1 if n_rows else 0):]
    for k in range(int(count) - 1, -1, -1):
        env = evaluate(body, *carries, *(tape[k] if n_rows else ()), *invariants)
        carries = [v.value if isinstance(v, Const) else env[v] for v in body.outputs]
    return tuple(carries)


UNWIND = Primitive(name="unwind", impl=_run_unwind, emit=_no_emit, family="control", arity=None,
                   shape_rule=lambda avals, **p: (), dtype_rule=lambda avals, values, **p: HANDLE.dtype,
                   foldable=False, shareable=False, fresh=False,
                   doc="a while loop's adjoint: its recorded iterations, last first (compiler/regions.py)")
LOOP_RESULT = Primitive(name="loop_result", impl=lambda handle, index, shape, dtype: handle[index],
                        emit=_no_emit, family="control", arity=1, foldable=False, fresh=False,
                        shape_rule=lambda avals, index, shape, dtype: shape,
                        dtype_rule=lambda avals, values, index, shape, dtype: np.dtype(dtype),
                        doc="result `index` of a loop or cond op")


def is_fresh(v: Value) -> bool:
    """v's array was allocated by the op that made it (+= on it modifies nothing else).
    A loop's stacked result is; a carried result is when the body makes it with a
    fresh op and the loop runs at least once."""
    op = v.producer
    if op.prim is not LOOP_RESULT:
        return op.prim.fresh
    loop = op.inputs[0].producer
    if loop.prim in (COND, WHILE, UNWIND):  # may run no iteration: an operand comes back
        return False
    p, k = loop.params, op.params["index"]
    if k >= p["n_carry"]:
        return True
    outs = p["body"].outputs
    out = outs[k]  # made fresh each iteration and carried nowhere else (no second reference;
    # a stacked result's row is copied into its stack)
    return (p["length"] > 0 and out.producer is not None and sum(o is out for o in outs[:p["n_carry"]]) == 1
            and is_fresh(out))


def is_loop(op: Op) -> bool:
    return op.prim is LOOP


def is_cond(op: Op) -> bool:
    return op.prim is COND


def is_while(op: Op) -> bool:
    """A while region or its adjoint (both run a number of iterations known at run time)."""
    return op.prim is WHILE or op.prim is UNWIND


def bodies(op: Op) -> tuple:
    """The region bodies of a loop or cond op (empty for any other op)."""
    if op.prim is LOOP:
        return (op.params["body"],)
    if op.prim is COND:
        return tuple(op.params["branches"])
    if op.prim is WHILE:
        return (op.params["cond"], op.params["body"])
    if op.prim is UNWIND:
        return (op.params["body"],)
    return ()


def n_results(op: Op) -> int:
    """How many loop_result values a region op has."""
    if op.prim is WHILE:
        return op.params["n_carry"] + 1 + (1 if op.params["n_tape"] else 0)
    if op.prim is UNWIND:
        return op.params["n_carry"]
    return len(bodies(op)[-1].outputs) if op.prim is not COND else len(op.params["branches"][0].outputs)


def result_avals(body: Program, n_carry: int, length: int) -> list[Aval]:
    out = [v.aval for v in body.outputs[:n_carry]]
    out += [Aval((length,) + v.shape, v.dtype) for v in body.outputs[n_carry:]]
    return out


def emit_loop(builder: Builder, body: Program, length: int, carries, xs, invariants, *,
              reverse: bool = False, index_name: str = "i") -> list[Value]:
    """Append a loop op and its loop_result ops to `builder`; returns the results."""
    params = dict(body=body, length=int(length), n_carry=len(carries), n_xs=len(xs),
                  reverse=reverse, index_name=index_name)
    handle = Value(HANDLE)
    op = Op(LOOP, tuple(carries) + tuple(xs) + tuple(invariants), params, handle, builder.loc,
            builder.sweep, builder.step)
    handle.producer = op
    builder.add_op(op)
    results = []
    for k, aval in enumerate(result_avals(body, len(carries), length)):
        out = Value(aval)
        r = Op(LOOP_RESULT, (handle,), dict(index=k, shape=aval.shape, dtype=aval.dtype), out,
               builder.loc, builder.sweep, builder.step)
        out.producer = r
        builder.add_op(r)
        results.append(out)
    return results


def _emit_region(builder: Builder, prim, operands, params, avals) -> list[Value]:
    handle = Value(HANDLE)
    op = Op(prim, tuple(operands), params, handle, builder.loc, builder.sweep, builder.step)
    handle.producer = op
    builder.add_op(op)
    results = []
    for k, aval in enumerate(avals):
        out = Value(aval)
        r = Op(LOOP_RESULT, (handle,), dict(index=k, shape=aval.shape, dtype=aval.dtype), out,
               builder.loc, builder.sweep, builder.step)
        out.producer = r
        builder.add_op(r)
        results.append(out)
    return results


COUNT = Aval((), np.dtype(np.int64))


def emit_while(builder: Builder, cond: Program, body: Program, carries, invariants,
               n_tape: int = 0) -> list[Value]:
    """Append a while op and its results: the final carries, the trip count (int64) and,
    with n_tape, the tape (a list of the body's last n_tape outputs per iteration)."""
    nc = len(carries)
    avals = [v.aval for v in body.outputs[:nc]] + [COUNT] + ([HANDLE] if n_tape else [])
    return _emit_region(builder, WHILE, list(carries) + list(invariants),
                        dict(cond=cond, body=body, n_carry=nc, n_tape=int(n_tape)), avals)


def emit_unwind(builder: Builder, body: Program, count: Value, carries, tape, invariants,
                n_rows: int) -> list[Value]:
    """Append an unwind op (iterations count-1 .. 0 of `body`, reading row k of `tape`)."""
    operands = [count] + list(carries) + ([tape] if n_rows else []) + list(invariants)
    return _emit_region(builder, UNWIND, operands, dict(body=body, n_carry=len(carries), n_rows=int(n_rows)),
                        [v.aval for v in body.outputs])


def emit_cond(builder: Builder, pred: Value, branches, operands) -> list[Value]:
    """Append a cond op and its result ops to `builder`; returns the results."""
    handle = Value(HANDLE)
    op = Op(COND, (pred,) + tuple(operands), dict(branches=tuple(branches)), handle, builder.loc,
            builder.sweep, builder.step)
    handle.producer = op
    builder.add_op(op)
    results = []
    for k, v in enumerate(branches[0].outputs):
        out = Value(v.aval)
        r = Op(LOOP_RESULT, (handle,), dict(index=k, shape=v.shape, dtype=v.dtype), out,
               builder.loc, builder.sweep, builder.step)
        out.producer = r
        builder.add_op(r)
        results.append(out)
    return results


def all_ops(program: Program):
    """Every op of the program, region bodies included (a body's ops before its op)."""
    for op in program.ops:
        for body in bodies(op):
            yield from all_ops(body)
        yield op


def has_loops(program: Program) -> bool:
    """Whether any loop op is left to unroll (at the top level or inside a branch)."""
    return any(is_loop(op) or ((is_cond(op) or is_while(op)) and any(has_loops(b) for b in bodies(op)))
               for op in program.ops)


def results_of(program: Program) -> dict[Value, list]:
    """loop handle -> [loop_result Value or None per result index]."""
    out: dict[Value, list] = {}
    for op in program.ops:
        if bodies(op):
            out[op.out] = [None] * n_results(op)
        elif op.prim is LOOP_RESULT:
            out[op.inputs[0]][op.params["index"]] = op.out
    return out


def verify_loop(op: Op, verify) -> None:
    """The loop's operands, body and results agree (called by ir.verify)."""
    from .ir import VerifyError

    p = op.params
    body, nc, nx, length = p["body"], p["n_carry"], p["n_xs"], p["length"]
    verify(body)
    if len(body.inputs) != 1 + len(op.inputs):
        raise VerifyError(f"loop body takes {len(body.inputs)} inputs, the loop has {len(op.inputs)} operands")
    if body.inputs[0].aval != Aval((), np.dtype(np.int64)):
        raise VerifyError("loop body's first input must be the int64 iteration number")
    for k, (v, b) in enumerate(zip(op.inputs, body.inputs[1:])):
        want = b.aval if not nc <= k < nc + nx else Aval((length,) + b.shape, b.dtype)
        if v.aval != want:
            raise VerifyError(f"loop operand {k} has aval {v.aval}, the body expects {want}")
    if len(body.outputs) < nc:
        raise VerifyError("loop body returns fewer values than it carries")
    for k in range(nc):
        if body.outputs[k].aval != body.inputs[1 + k].aval:
            raise VerifyError(f"loop carry {k} changes aval: {body.inputs[1 + k].aval} -> "
                              f"{body.outputs[k].aval}")


def verify_while(op: Op, verify) -> None:
    """A while's condition and body take (carries, invariants); the body keeps the carries'
    avals; an unwind's body takes (carries, tape rows, invariants) and keeps the carries'."""
    from .ir import VerifyError

    p = op.params
    nc = p["n_carry"]
    for body in bodies(op):
        verify(body)
    if op.prim is WHILE:
        cond, body = p["cond"], p["body"]
        operands = [v.aval for v in op.inputs]
        for prog in (cond, body):
            if [b.aval for b in prog.inputs] != operands:
                raise VerifyError(f"while {prog.name} inputs do not match the operands")
        if len(cond.outputs) != 1 or cond.outputs[0].aval != Aval((), np.dtype(bool)):
            raise VerifyError("while condition must return one bool[]")
        if len(body.outputs) != nc + p["n_tape"]:
            raise VerifyError("while body returns a wrong number of values")
    else:
        body = p["body"]
        if op.inputs[0].aval != COUNT:
            raise VerifyError("unwind count must be int64[]")
        carries = op.inputs[1:1 + nc]
        invs = op.inputs[1 + nc + (1 if p["n_rows"] else 0):]
        ins = [b.aval for b in body.inputs]
        if ins[:nc] != [v.aval for v in carries] or ins[nc + p["n_rows"]:] != [v.aval for v in invs]:
            raise VerifyError("unwind body inputs do not match its operands")
        if len(body.outputs) != nc:
            raise VerifyError("unwind body returns a wrong number of values")
    for k in range(nc):
        if body.outputs[k].aval != body.inputs[k].aval:
            raise VerifyError(f"while carry {k} changes aval: {body.inputs[k].aval} -> {body.outputs[k].aval}")


def verify_cond(op: Op, verify) -> None:
    """The predicate is a 0-d bool; both branches take the operands and agree on results."""
    from .ir import VerifyError

    pred, operands = op.inputs[0], op.inputs[1:]
    if pred.aval != Aval((), np.dtype(bool)):
        raise VerifyError(f"cond predicate has aval {pred.aval}, expected bool[]")
    branches = op.params["branches"]
    if len(branches) != 2:
        raise VerifyError("a cond has two branches")
    for body in branches:
        verify(body)
        if [b.aval for b in body.inputs] != [v.aval for v in operands]:
            raise VerifyError("cond branch inputs do not match its operands")
    if [v.aval for v in branches[0].outputs] != [v.aval for v in branches[1].outputs]:
        raise VerifyError("cond branches return different avals")


# ---------------------------------------------------------------------------
# Unrolling: Program → Program without loop ops


def unroll(program: Program, steps: bool = False) -> Program:
    """The same computation with every loop written out iteration by iteration; with
    `steps`, each iteration of a top-level loop tagged (Op.step) as a checkpointing step."""
    if not has_loops(program):
        return program
    builder = Builder()
    subst: dict[Value, Value] = {}
    handles: dict[Value, list] = {}
    with builder:
        for op in program.ops:
            inputs = tuple(subst.get(v, v) for v in op.inputs)
            builder.loc, builder.sweep, builder.step = op.loc, op.sweep, op.step
            if is_loop(op):
                handles[op.out] = _unroll_loop(op, inputs, builder, steps)
            elif is_cond(op):  # stays a cond (its branch is decided at run time), bodies flat
                branches = tuple(unroll(b) for b in op.params["branches"])
                subst[op.out] = _copy_op(op, inputs, builder, dict(branches=branches))
            elif is_while(op):  # stays a while (its trip count is decided at run time), bodies flat
                params = dict(op.params)
                for key in ("cond", "body"):
                    if key in params:
                        params[key] = unroll(params[key])
                subst[op.out] = _copy_op(op, inputs, builder, params)
            elif op.prim is LOOP_RESULT and op.inputs[0].producer.prim is LOOP:
                subst[op.out] = handles[op.inputs[0]][op.params["index"]]
            else:
                subst[op.out] = _copy_op(op, inputs, builder)
    outputs = [subst.get(v, v) for v in program.outputs]
    for op in builder.ops:
        if op.out.adjoint_of in subst:
            op.out.adjoint_of = subst[op.out.adjoint_of]
        if op.out.tangent_of in subst:
            op.out.tangent_of = subst[op.out.tangent_of]
    return program.with_ops(builder.ops, outputs)


def _copy_op(op: Op, inputs, builder: Builder, params=None, step=None) -> Value:
    out = Value(op.out.aval, op.out.name)
    out.adjoint_of, out.tangent_of, out.pytype = op.out.adjoint_of, op.out.tangent_of, op.out.pytype
    new = Op(op.prim, tuple(inputs), op.params if params is None else params, out, op.loc, op.sweep,
             op.step if step is None else step)
    out.producer = new
    builder.add_op(new)
    return out


def _unroll_loop(op: Op, inputs, builder: Builder, steps: bool = False) -> list[Value]:
    p = op.params
    body, nc, nx, length = unroll(p["body"]), p["n_carry"], p["n_xs"], p["length"]
    carries = list(inputs[:nc])
    xs, invariants = inputs[nc:nc + nx], inputs[nc + nx:]
    ys: list[list] = [[None] * length for _ in body.outputs[nc:]]
    tags = _ITERATIONS.get()  # the displays: each iteration's ops tagged (Op.step) with its number
    outer_step = builder.step
    for k in (range(length - 1, -1, -1) if p["reverse"] else range(length)):
        tag = op.step  # inside a `gradc.checkpoint` call: that call is the step
        if steps and tag is None:
            tag = ("iteration", op.out.uid, k)
        elif tags is not None:
            tag = _TAG_BASE + len(tags)
            tags[tag] = (op.loc, k, length)
            builder.step = tag
        env: dict[Value, Value] = {body.inputs[0]: Const(np.int64(k))}
        env.update(zip(body.inputs[1:1 + nc], carries))
        for b, x in zip(body.inputs[1 + nc:1 + nc + nx], xs):
            env[b] = builder.bind("getitem", x, index=(k,))
        env.update(zip(body.inputs[1 + nc + nx:], invariants))
        for inner in body.ops:
            env[inner.out] = _copy_op(inner, [env.get(v, v) for v in inner.inputs], builder, step=tag)
        outs = [env.get(v, v) for v in body.outputs]
        carries = outs[:nc]
        for stack, y in zip(ys, outs[nc:]):
            stack[k] = y
    builder.step = outer_step
    results = list(carries)
    for v, stack in zip(body.outputs[nc:], ys):
        if length == 0:
            results.append(Const(np.zeros((0,) + v.shape, dtype=v.dtype)))
        else:
            rows = [builder.bind("expand_dims", y, axis=(0,)) for y in stack]
            results.append(rows[0] if length == 1 else builder.bind("concatenate", *rows, axis=0))
    return results


def split_invariant(ops, inputs, stays=is_loop) -> tuple[list, list]:
    """Loop-invariant code motion for a body being built: (ops that read only values from
    outside the body, which can run once before it; the others). `stays(op)`: ops kept in
    the body whatever they read (regions)."""
    varying, hoisted, kept = set(inputs), [], []
    for op in ops:
        if stays(op) or any(v in varying for v in op.inputs):
            varying.add(op.out)
            kept.append(op)
        else:
            hoisted.append(op)
    return hoisted, kept


def substitute(ops, outputs, subst: dict):
    """Clone `ops` reading subst[v] for v (and the clones' results for later ops)."""
    subst = dict(subst)
    new_ops = []
    for op in ops:
        inputs = tuple(subst.get(v, v) for v in op.inputs)
        if inputs == op.inputs:
            new_ops.append(op)
            continue
        out = Value(op.out.aval, op.out.name)
        out.adjoint_of, out.tangent_of, out.pytype = op.out.adjoint_of, op.out.tangent_of, op.out.pytype
        new = Op(op.prim, inputs, op.params, out, op.loc, op.sweep, op.step)
        out.producer = new
        subst[op.out] = out
        new_ops.append(new)
    return new_ops, [subst.get(v, v) for v in outputs]


def free_values(ops, outputs, bound) -> list[Value]:
    """Values the ops (and outputs) read that neither they nor `bound` define, in first-use order."""
    defined = set(bound) | {op.out for op in ops}
    free: dict[Value, None] = {}
    for v in [v for op in ops for v in op.inputs] + list(outputs):
        if not isinstance(v, Const) and v not in defined:
            free.setdefault(v)
    return list(free)


def close_body(name: str, inputs, ops, outputs, loc=None) -> tuple[Program, list[Value]]:
    """A closed body Program: values read from outside become further inputs (invariants).
    Returns the program and the outside values, in the order of those inputs."""
    free = free_values(ops, outputs, inputs)
    fresh = []
    for v in free:
        b = Value(v.aval, v.name)
        b.pytype = v.pytype
        fresh.append(b)
    ops, outputs = substitute(ops, outputs, dict(zip(free, fresh)))
    return Program(name, list(inputs) + fresh, list(ops), list(outputs), loc), free


def close_while(cond_inputs, cond_ops, cond_outputs, body_inputs, body_ops, body_outputs, loc=None):
    """The closed condition and body of a while region, both over (carries..., invariants...):
    the values either reads from outside become the invariants. Returns (cond, body, invariants)."""
    free = free_values(cond_ops, cond_outputs, cond_inputs)
    free += [v for v in free_values(body_ops, body_outputs, body_inputs) if v not in free]
    programs = []
    for name, inputs, ops, outputs in (("while condition", cond_inputs, cond_ops, cond_outputs),
                                       ("while body", body_inputs, body_ops, body_outputs)):
        fresh = []
        for v in free:
            b = Value(v.aval, v.name)
            b.pytype = v.pytype
            fresh.append(b)
        new_ops, new_outputs = substitute(ops, outputs, dict(zip(free, fresh)))
        programs.append(Program(name, list(inputs) + fresh, list(new_ops), list(new_outputs), loc))
    return programs[0], programs[1], free


# Set by flat_view while it unrolls: the display tags each iteration's ops (Op.step, which the
# reverse pass copies to the adjoint ops it derives) so a trace can elide long loops.
_ITERATIONS: "contextvars.ContextVar[dict | None]" = contextvars.ContextVar("gradc_iterations", default=None)
_TAG_BASE = 1 << 40  # above any checkpointing step number


def flat_view(spec):
    """`spec` with loop-free programs, for the displays that draw one row or node per value
    (trace tables, graphs): the forward program unrolled and, for a compiled gradient, its
    adjoint derived from that (as if the loops had been unrolled by the frontend)."""
    from types import SimpleNamespace

    ir, adjoint = getattr(spec, "ir", None), getattr(spec, "adjoint_ir", None)
    if not any(p is not None and has_loops(p) for p in (ir, adjoint)):
        return spec
    cached = getattr(spec, "_flat_view", None)
    if cached is not None and cached[0] is ir and cached[1] is adjoint:
        return cached[2]  # the same Values every time: a trace's values label the graph
    from .ad.reverse import reverse
    from .passes import optimize

    iterations: dict = {}  # Op.step tag -> (the loop's source location, iteration, trip count)
    token = _ITERATIONS.set(iterations)
    try:
        flat_ir = optimize(unroll(ir)) if ir is not None else None
        if adjoint is not None and getattr(spec, "value_and_grad_fn", None) is not None and flat_ir is not None:
            flat_adjoint = reverse(flat_ir, ir.wrt)
        else:
            flat_adjoint = unroll(adjoint) if adjoint is not None else None
    finally:
        _ITERATIONS.reset(token)
    view = SimpleNamespace(ir=flat_ir, adjoint_ir=flat_adjoint, checkpointed=getattr(spec, "checkpointed", None),
                           iterations=iterations)
    try:
        spec._flat_view = (ir, adjoint, view)
    except AttributeError:
        pass
    return view


# ---------------------------------------------------------------------------
# Branches for the displays: trace tables follow the branch taken, graphs draw both


def inline_branches(program: Program, inputs=None) -> Program:
    """`program` without cond ops, for the displays that draw one row or node per value.

    With `inputs` (values for the program's inputs) each cond is replaced by the ops of the
    branch its predicate takes at those inputs (a trace table shows what ran); without, by
    the ops of both branches and one `where(pred, a, b)` per result (a graph shows both).
    A branch's adjoint recomputes forward values of its branch: those are the same ops, and
    are drawn (traced) once."""
    if not any(is_cond(op) for op in all_ops(program)):
        return program
    from .interpret import evaluate

    env = dict(zip(program.inputs, inputs)) if inputs is not None else None
    builder = Builder()
    made: dict = {}  # (id(op), ids of its operands) -> the value already made for it
    kept: set = set()

    def read(v):
        return v.value if isinstance(v, Const) else env[v]

    def emit(op, inputs) -> Value:
        key = (id(op), tuple(id(v) for v in inputs))
        if key in made:
            return made[key]
        if all(a is b for a, b in zip(inputs, op.inputs)) and op not in kept:
            kept.add(op)  # outside any branch: the same op (a trace's values label the graph)
            builder.add_op(op)
            out = op.out
        else:
            out = _copy_op(op, inputs, builder)
        made[key] = out
        if env is not None:
            env[out] = op.prim.evaluate(*(read(v) for v in inputs), **op.params)
        return out

    def walk(ops, subst: dict, handles: dict):
        for op in ops:
            inputs = [subst.get(v, v) for v in op.inputs]
            builder.loc, builder.sweep, builder.step = op.loc, op.sweep, op.step
            if is_cond(op):
                pred, operands = inputs[0], inputs[1:]
                taken = None if env is None else (0 if bool(read(pred)) else 1)
                outs = []
                for k, body in enumerate(op.params["branches"]):
                    if taken is not None and k != taken:
                        continue
                    inner = dict(zip(body.inputs, operands))
                    walk(body.ops, inner, {})
                    outs.append([inner.get(v, v) for v in body.outputs])
                if taken is not None:
                    handles[op.out] = outs[0]
                else:
                    builder.loc, builder.sweep, builder.step = op.loc, op.sweep, op.step
                    handles[op.out] = [a if a is b else builder.bind("where", pred, a, b)
                                       for a, b in zip(*outs)]
            elif op.prim is LOOP_RESULT and is_cond(op.inputs[0].producer):
                subst[op.out] = handles[op.inputs[0]][op.params["index"]]
            else:
                subst[op.out] = emit(op, inputs)
        for op_ in builder.ops:  # adjoint and tangent names follow the values they now belong to
            if op_.out.adjoint_of in subst:
                op_.out.adjoint_of = subst[op_.out.adjoint_of]
            if op_.out.tangent_of in subst:
                op_.out.tangent_of = subst[op_.out.tangent_of]

    subst: dict = {}
    with builder:
        walk(program.ops, subst, {})
    return program.with_ops(builder.ops, [subst.get(v, v) for v in program.outputs])


# ---------------------------------------------------------------------------
# While loops for the trace table: the iterations that ran at given inputs

SHOWN_ITERATIONS = (2, 1)  # a long loop's trace shows its first 2 and its last 1 iterations


def has_whiles(program: Program) -> bool:
    return any(op.prim is WHILE or op.prim is UNWIND for op in all_ops(program))


def _run_while_recording(p: dict, carries: list, invariants: list, first: int, last: int):
    """Run a while op's iterations on these operand values (the interpreter): (trip count n,
    the carries at the start of iteration n - last, each body value of iterations first ..
    n - last - 1 stacked over them)."""
    from collections import deque

    from .interpret import evaluate

    def read(env, v):
        return v.value if isinstance(v, Const) else env[v]

    cond, body, nc = p["cond"], p["body"], p["n_carry"]
    stacks: dict = {o.out: [] for o in body.ops if o.out.dtype != object}
    starts = deque([carries], maxlen=last + 1)  # the carries at the start of the last iterations
    n = 0
    while bool(read(evaluate(cond, *carries, *invariants), cond.outputs[0])):
        env = evaluate(body, *carries, *invariants)
        if n >= first:
            for v, values in stacks.items():
                values.append(env[v])
        carries = [read(env, v) for v in body.outputs[:nc]]
        starts.append(carries)
        n += 1
    hidden = max(0, n - first - last)
    values = {v: np.stack(vs[:hidden]) for v, vs in stacks.items() if hidden}
    return n, starts[0], values


def unroll_whiles(program: Program, inputs, iterations: dict | None = None, hidden: dict | None = None) -> Program:
    """`program` (loop-free at its top level) with each while op replaced by the iterations
    it runs at `inputs`: the program the trace table of those inputs shows. Valid only at
    inputs taking the same trip counts (a display, never compiled).

    A loop of more than SHOWN_ITERATIONS + 2 iterations is written out for the iterations
    the table shows only: the others are one counted loop region over the body (so a
    100 000-iteration loop is not 100 000 copies). Each copied iteration's ops are tagged
    (Op.step) with `iterations[tag] = (loc, k, trip count)`, as flat_view tags a for
    loop's; the loop of hidden iterations (and the ops its adjoint derives) with
    `hidden[tag] = (loc, first hidden, last hidden, trip count, {body value: its values in
    the hidden iterations, stacked})`."""
    from .errors import UnsupportedSyntax
    from .interpret import evaluate

    env = dict(zip(program.inputs, inputs))
    iterations = {} if iterations is None else iterations
    hidden_loops = {} if hidden is None else hidden
    builder = Builder()
    first, last = SHOWN_ITERATIONS

    def read(v):
        return v.value if isinstance(v, Const) else env[v]

    def copy(op, ins) -> Value:
        out = _copy_op(op, ins, builder)
        env[out] = op.prim.evaluate(*(read(v) for v in ins), **op.params)
        return out

    def tag(info, into) -> int:
        t = _TAG_BASE + (1 << 39) + len(iterations) + len(hidden_loops)  # (apart from flat_view's)
        into[t] = info
        return t

    def hidden(op, carries, invs, start, stop, n, ran) -> list:
        """Iterations start .. stop-1 as one loop region (`ran`: what they gave, run already)."""
        p = op.params
        body, nc = p["body"], p["n_carry"]
        index = Value(Aval((), np.dtype(np.int64)), "k")
        loop_body = Program(body.name, [index] + list(body.inputs), list(body.ops), list(body.outputs[:nc]),
                            body.loc)
        builder.loc, builder.sweep = op.loc, op.sweep
        builder.step = tag((op.loc, start, stop - 1, n, ran[2]), hidden_loops)
        results = emit_loop(builder, loop_body, stop - start, carries, [], invs, index_name="k")
        loop = builder.ops[-len(results) - 1]
        env[loop.out] = tuple(ran[1])
        for r in builder.ops[-len(results):]:
            env[r.out] = env[loop.out][r.params["index"]]
        return results

    def walk(ops, subst: dict, step=None) -> None:
        handles: dict = {}
        for op in ops:
            ins = [subst.get(v, v) for v in op.inputs]
            builder.loc, builder.sweep, builder.step = op.loc, op.sweep, op.step if step is None else step
            if op.prim is WHILE:
                p = op.params
                nc = p["n_carry"]
                carries, invs = ins[:nc], ins[nc:]
                # run it once here: its trip count, and the values of the iterations not shown
                ran = _run_while_recording(p, [read(v) for v in carries], [read(v) for v in invs], first, last)
                n = ran[0]
                shown = range(n) if n <= first + last + 2 else [*range(first), None, *range(n - last, n)]
                for k in shown:
                    if k is None:
                        carries = hidden(op, carries, invs, first, n - last, n, ran)
                        continue
                    inner = dict(zip(p["body"].inputs, carries + invs))
                    walk(p["body"].ops, inner, tag((op.loc, k, n), iterations))
                    carries = [inner.get(v, v) for v in p["body"].outputs[:nc]]
                handles[op.out] = carries + [Const(np.int64(n))]
            elif is_cond(op) and any(has_whiles(b) for b in op.params["branches"]):
                # a while loop in a branch: the branch taken at these inputs, written out here
                body = op.params["branches"][0 if bool(read(ins[0])) else 1]
                inner = dict(zip(body.inputs, ins[1:]))
                walk(body.ops, inner, step)
                handles[op.out] = [inner.get(v, v) for v in body.outputs]
            elif op.prim is UNWIND:
                raise UnsupportedSyntax("trace: a while loop's adjoint is traced from the forward program "
                                        "(give the trace the function, not its adjoint program)", op.loc)
            elif op.prim is LOOP_RESULT and op.inputs[0] in handles:
                subst[op.out] = handles[op.inputs[0]][op.params["index"]]
            else:
                subst[op.out] = copy(op, ins)

    subst: dict = {}
    with builder:
        walk(program.ops, subst)
    return program.with_ops(builder.ops, [subst.get(v, v) for v in program.outputs])


def while_view(spec, inputs):
    """`spec` with its while loops written out as the iterations they run at `inputs` (the
    trace table's view; the adjoint derived from that), or spec if it has none. Its
    `iterations` extends spec's (flat_view's) with the tags of unroll_whiles, and `hidden`
    tags the loops of iterations it does not write out."""
    from types import SimpleNamespace

    ir, adjoint = getattr(spec, "ir", None), getattr(spec, "adjoint_ir", None)
    if not any(p is not None and has_whiles(p) for p in (ir, adjoint)):
        return spec
    from .ad.reverse import reverse
    from .errors import UnsupportedSyntax
    from .passes import optimize

    if ir is None or adjoint is None or has_loops(ir):
        raise UnsupportedSyntax("trace: a while loop on data is traced for a compiled gradient only",
                                getattr(ir or adjoint, "loc", None))
    iterations, hidden = dict(getattr(spec, "iterations", None) or {}), {}
    flat = optimize(unroll_whiles(ir, list(inputs)[:len(ir.inputs)], iterations, hidden))
    flat = Program(flat.name, flat.inputs, flat.ops, flat.outputs, flat.loc, ir.wrt, ir.static_args)
    return SimpleNamespace(ir=flat, adjoint_ir=reverse(flat, ir.wrt), checkpointed=getattr(spec, "checkpointed", None),
                           iterations=iterations, hidden=hidden)
