"""The tangent (forward-mode) pass: Program → Program.

For each `wrt` input x the tangent program takes a direction ẋ (an extra input of
x's shape) and computes, alongside every active value v, its directional
derivative v̇, in the forward order. Applied to an adjoint program it gives
forward-over-reverse second derivatives (Hessian-vector products, seed 004).

Rules, in order of preference: a primitive's own `jvp`; for linear primitives the
primitive applied to the tangent; for elementwise primitives the VJP rule read
forwards (for an elementwise map the local Jacobian is diagonal, so
`vjp(ẋ)[i]` is exactly the i-th operand's contribution to v̇).

A tangent selected by `where` (or maximum, minimum, clip, relu) is zero outside a
mask; like the reverse pass, this one carries the mask through the elementwise ops
that read it and masks their tangents, so `np.sqrt(np.where(c, u, 0))` has the
tangent 0 (not 0/0) where c is false (ad/masks.py).
"""
from __future__ import annotations

from ..errors import CompileError
from ..ir import Builder, Const, Op, Program, Value, bind
from ..passes import optimize
from ..passes.activity import varied
from ..passes.simplify import rewrite
from . import masks, precision
from ..ir import Aval
from ..regions import LOOP_RESULT, UNWIND, WHILE, emit_cond, emit_loop, emit_unwind, emit_while, is_cond, is_loop


def forward(program: Program, wrt: tuple[int, ...] | None = None) -> Program:
    """Program with inputs (inputs..., ẋ for x in wrt) and outputs (outputs..., their tangents)."""
    return _forward(program, wrt)[0]


# A while loop's tape (a list of rows per iteration, dtype object) has as tangent the tape of
# the tangent while loop: its rows, then the tangent rows of the rows in its *layout*, a tuple
# of (row, layout of that row's tangent) — None for an array row, a layout again for a row
# that is itself a tape (a while loop nested in another one's body, or stacked by a for loop
# around it: the rows of a stacked array of tapes have the layout of each tape). Layouts
# cross region boundaries as data: `_forward` takes those of object-dtype inputs in wrt and
# gives those of its object-dtype outputs.


def _forward(program: Program, wrt: tuple[int, ...] | None = None, in_layouts: dict | None = None):
    """(the tangent program, {output position: layout} for its tape outputs with a tangent)."""
    wrt = program.wrt if wrt is None else tuple(wrt)
    live = varied(program, wrt)
    tangent: dict[Value, Value] = {}
    layouts: dict[Value, tuple] = {}  # the tangent of a tape -> its layout
    dots = []
    for i in wrt:
        x = program.inputs[i]
        dot = Value(x.aval, f"{x.name}_dot")
        dot.tangent_of = x
        tangent[x] = dot
        dots.append(dot)
        if x.dtype == object:
            layouts[dot] = in_layouts[i]

    builder = Builder(rewrite=rewrite, sweep="tangent")
    support: dict[Value, object] = {}  # v -> where v̇ can be nonzero (masks.Mask); absent: anywhere
    loops: dict[Value, list] = {}  # loop handle -> tangent of each result (None: zero)
    with builder:
        for op in program.ops:
            if op.prim is LOOP_RESULT:
                t = loops.get(op.inputs[0], [None] * (op.params["index"] + 1))[op.params["index"]]
                if t is not None:
                    tangent[op.out] = t
                continue
            if op.out not in live or not op.prim.differentiable:
                continue
            tangents = [tangent.get(v) for v in op.inputs]
            if all(t is None for t in tangents):
                continue
            if is_cond(op):
                builder.loc = op.loc
                loops[op.out] = _cond_tangent(op, tangents, builder)
                continue
            if is_loop(op):
                builder.loc = op.loc
                loops[op.out] = _loop_tangent(op, tangents, builder, layouts)
                continue
            if op.prim is WHILE or op.prim is UNWIND:
                builder.loc = op.loc
                tangent_of_region = _while_tangent if op.prim is WHILE else _unwind_tangent
                loops[op.out] = tangent_of_region(op, tangents, builder, layouts)
                continue
            builder.loc = op.loc
            t = _tangent(op, tangents)
            if t is None or masks.is_zero(t):
                continue  # a tangent that is identically zero contributes nothing
            seeds = [(v, d) for v, d in zip(op.inputs, tangents) if d is not None]
            m = support.get(seeds[0][0])
            for v, _ in seeds[1:]:
                m = masks.disj(m, support.get(v))
            t, m = masks.through(op.prim, m, t, [d for _, d in seeds])
            if t.shape != op.out.shape:
                t = builder.bind("broadcast_to", t, shape=op.out.shape)
            if t.dtype != op.out.dtype:
                t = builder.bind("cast", t, dtype=op.out.dtype)
            if t.producer is not None and t.producer.sweep == "tangent" and t.tangent_of is None:
                t.tangent_of = op.out
            tangent[op.out] = t
            support[op.out] = m
        builder.loc = None
        outs = [_zero_or(tangent.get(v), v, builder) for v in program.outputs]
    out_layouts = {k: layouts[t] for k, t in enumerate(outs) if t in layouts}

    result = Program(program.name, list(program.inputs) + dots, list(program.ops) + builder.ops,
                     list(program.outputs) + outs, program.loc, program.wrt, program.static_args)
    return optimize(result), out_layouts


def _loop_tangent(op: Op, tangents: list, builder: Builder, layouts: dict) -> list:
    """The tangent of a loop is a loop over the body's tangent program (this pass applied
    to the body): it carries (carries, their tangents), reads (xs, their tangents) and
    (invariants, their tangents), and recomputes the primal values it needs. Tapes of while
    loops in the body stack with their tangents (a while loop's adjoint in the loop's
    adjoint reads them)."""
    p = op.params
    body, nc, nx = p["body"], p["n_carry"], p["n_xs"]
    ni = len(op.inputs) - nc - nx
    floating = lambda v: v.dtype.kind == "f"  # noqa: E731
    carries = [k for k in range(nc) if floating(body.inputs[1 + k])]
    xs = [j for j in range(nx) if tangents[nc + j] is not None]
    invs = [j for j in range(ni) if tangents[nc + nx + j] is not None]
    _tapes_have_no_tangent(op, op.inputs[:nc] + op.inputs[nc + nx:], tangents[:nc] + tangents[nc + nx:])
    wrt = [1 + k for k in carries] + [1 + nc + j for j in xs] + [1 + nc + nx + j for j in invs]
    tb, tb_layouts = _forward(body, tuple(wrt), {1 + nc + j: layouts[tangents[nc + j]] for j in xs
                                                 if op.inputs[nc + j].dtype == object})
    dots = dict(zip(wrt, tb.inputs[len(body.inputs):]))
    n_out = len(body.outputs)
    outs, out_dots = tb.outputs[:n_out], tb.outputs[n_out:]
    ys = range(nc, n_out)
    ys_dot = [k for k in ys if floating(body.outputs[k]) or k in tb_layouts]
    inputs = ([tb.inputs[0]] + tb.inputs[1:1 + nc] + [dots[1 + k] for k in carries]
              + tb.inputs[1 + nc:1 + nc + nx] + [dots[1 + nc + j] for j in xs]
              + tb.inputs[1 + nc + nx:len(body.inputs)] + [dots[1 + nc + nx + j] for j in invs])
    outputs = (outs[:nc] + [out_dots[k] for k in carries] + [outs[k] for k in ys]
               + [out_dots[k] for k in ys_dot])
    tbody = Program("loop body tangent", inputs, tb.ops, outputs, body.loc)
    init = op.inputs[:nc]
    start_dots = []
    for k in carries:
        t = tangents[k]
        if t is None:
            t = builder.bind("zeros_like", init[k])
        elif t.shape != init[k].shape or t.dtype != init[k].dtype:
            t = builder.bind("cast", builder.bind("broadcast_to", t, shape=init[k].shape), dtype=init[k].dtype)
        start_dots.append(t)
    results = emit_loop(builder, tbody, p["length"],
                        list(init) + start_dots,
                        list(op.inputs[nc:nc + nx]) + [tangents[nc + j] for j in xs],
                        list(op.inputs[nc + nx:]) + [tangents[nc + nx + j] for j in invs],
                        reverse=p["reverse"], index_name=p["index_name"])
    out: list = [None] * n_out
    n_c = len(carries)
    for i, k in enumerate(carries):
        out[k] = results[nc + i]
    for i, k in enumerate(ys_dot):
        out[k] = results[nc + n_c + len(ys) + i]
        if k in tb_layouts:  # a stacked tape: each row has the layout of one tape
            layouts[out[k]] = tb_layouts[k]
    return out


def _tapes_have_no_tangent(op: Op, operands, tangents) -> None:
    """Operands of `op` that are tapes carry their tangent only where the rules above read
    it (a tape row or a stacked tape): anywhere else it would be dropped, so refuse."""
    if any(t is not None and v.dtype == object for v, t in zip(operands, tangents)):
        raise CompileError(f"cannot differentiate a {op.prim.name} region reading another loop's "
                           "recorded iterations in forward mode: not supported", op.loc)


def _start_dots(init, tangents, builder) -> list:
    out = []
    for x, t in zip(init, tangents):
        if t is None:
            t = builder.bind("zeros_like", x)
        elif t.shape != x.shape or t.dtype != x.dtype:
            t = builder.bind("cast", builder.bind("broadcast_to", t, shape=x.shape), dtype=x.dtype)
        out.append(t)
    return out


def _while_tangent(op: Op, tangents: list, builder: Builder, layouts: dict) -> list:
    """The tangent of a while loop is a while loop on the same condition over the body's
    tangent program, carrying (carries, their tangents). A tape it records gets each
    floating row's tangent too (the tangent of an unwind reading it needs them), and the
    tangent of each row that is the tape of a while loop nested in the body."""
    p = op.params
    cond, body, nc, nt = p["cond"], p["body"], p["n_carry"], p["n_tape"]
    ni = len(op.inputs) - nc
    _tapes_have_no_tangent(op, op.inputs, tangents)
    floating = lambda v: v.dtype.kind == "f"  # noqa: E731
    carries = [k for k in range(nc) if floating(body.inputs[k])]
    invs = [j for j in range(ni) if tangents[nc + j] is not None and floating(body.inputs[nc + j])]
    wrt = carries + [nc + j for j in invs]
    tb, tb_layouts = _forward(body, tuple(wrt))
    dots = dict(zip(wrt, tb.inputs[len(body.inputs):]))
    n_out = len(body.outputs)
    outs, out_dots = tb.outputs[:n_out], tb.outputs[n_out:]
    tape_dot = [i for i in range(nt) if floating(body.outputs[nc + i]) or nc + i in tb_layouts]
    inputs = (tb.inputs[:nc] + [dots[k] for k in carries] + tb.inputs[nc:len(body.inputs)]
              + [dots[nc + j] for j in invs])
    outputs = outs[:nc] + [out_dots[k] for k in carries] + outs[nc:] + [out_dots[nc + i] for i in tape_dot]
    tbody = Program("while body tangent", inputs, tb.ops, outputs, body.loc)
    unused = lambda v: Value(Aval(v.shape, v.dtype), v.name)  # noqa: E731
    cinputs = (cond.inputs[:nc] + [unused(dots[k]) for k in carries] + cond.inputs[nc:]
               + [unused(dots[nc + j]) for j in invs])
    tcond = Program(cond.name, cinputs, cond.ops, cond.outputs, cond.loc)
    init = list(op.inputs[:nc])
    starts = _start_dots([init[k] for k in carries], [tangents[k] for k in carries], builder)
    inv_dots = _start_dots([op.inputs[nc + j] for j in invs], [tangents[nc + j] for j in invs], builder)
    results = emit_while(builder, tcond, tbody, init + starts, list(op.inputs[nc:]) + inv_dots,
                         n_tape=nt + len(tape_dot) if nt else 0)
    out: list = [None] * (nc + 1 + (1 if nt else 0))
    for i, k in enumerate(carries):
        out[k] = results[nc + i]
    if nt:
        out[nc + 1] = results[nc + len(carries) + 1]
        layouts[out[nc + 1]] = tuple((i, tb_layouts.get(nc + i)) for i in tape_dot)
    return out


def _unwind_tangent(op: Op, tangents: list, builder: Builder, layouts: dict) -> list:
    """The tangent of a while loop's adjoint: the same unwind over the body's tangent program,
    carrying (carries, tangents) and reading the tape's rows with their tangent rows (the tape
    of the tangent while loop, when the tape varies)."""
    p = op.params
    body, nc, nr = p["body"], p["n_carry"], p["n_rows"]
    off = 1 + nc + (1 if nr else 0)
    ni = len(op.inputs) - off
    floating = lambda v: v.dtype.kind == "f"  # noqa: E731
    tape = op.inputs[1 + nc] if nr else None
    tape_dot = tangents[1 + nc] if nr else None
    _tapes_have_no_tangent(op, op.inputs[:1 + nc] + op.inputs[off:], tangents[:1 + nc] + tangents[off:])
    layout = layouts[tape_dot] if tape_dot is not None else ()
    rows_dot = [i for i, _ in layout]
    carries = [k for k in range(nc) if floating(body.inputs[k])]
    invs = [j for j in range(ni) if tangents[off + j] is not None and floating(body.inputs[nc + nr + j])]
    wrt = carries + [nc + i for i in rows_dot] + [nc + nr + j for j in invs]
    tb, _ = _forward(body, tuple(wrt), {nc + i: sub for i, sub in layout if sub is not None})
    dots = dict(zip(wrt, tb.inputs[len(body.inputs):]))
    inputs = (tb.inputs[:nc] + [dots[k] for k in carries] + tb.inputs[nc:nc + nr]
              + [dots[nc + i] for i in rows_dot] + tb.inputs[nc + nr:len(body.inputs)]
              + [dots[nc + nr + j] for j in invs])
    outs, out_dots = tb.outputs[:nc], tb.outputs[nc:]
    tbody = Program("while body adjoint tangent", inputs, tb.ops,
                    outs + [out_dots[k] for k in carries], body.loc)
    init = list(op.inputs[1:1 + nc])
    starts = _start_dots([init[k] for k in carries], [tangents[1 + k] for k in carries], builder)
    inv_dots = _start_dots([op.inputs[off + j] for j in invs], [tangents[off + j] for j in invs], builder)
    results = emit_unwind(builder, tbody, op.inputs[0], init + starts, tape_dot if rows_dot else tape,
                          list(op.inputs[off:]) + inv_dots, nr + len(rows_dot))
    out: list = [None] * nc
    for i, k in enumerate(carries):
        out[k] = results[nc + i]
    return out


def _cond_tangent(op: Op, tangents: list, builder: Builder) -> list:
    """The tangent of a cond is a cond on the same predicate over the branches' tangent
    programs (this pass applied to each branch), which recompute the primal values they need."""
    operands = op.inputs[1:]
    branches = op.params["branches"]
    _tapes_have_no_tangent(op, operands, tangents[1:])
    wrt = [j for j, t in enumerate(tangents[1:]) if t is not None and operands[j].dtype.kind == "f"]
    outs = [k for k, v in enumerate(branches[0].outputs) if v.dtype.kind == "f"]
    if not wrt or not outs:
        return [None] * len(branches[0].outputs)
    bodies = []
    for body in branches:
        tb = forward(body, tuple(wrt))
        n = len(body.outputs)
        bodies.append(Program(body.name + " tangent", tb.inputs, tb.ops, [tb.outputs[n + k] for k in outs],
                              body.loc))
    dots = []
    for j in wrt:
        t, x = tangents[1 + j], operands[j]
        if t.shape != x.shape:
            t = builder.bind("broadcast_to", t, shape=x.shape)
        if t.dtype != x.dtype:
            t = builder.bind("cast", t, dtype=x.dtype)
        dots.append(t)
    results = emit_cond(builder, op.inputs[0], bodies, list(operands) + dots)
    out: list = [None] * len(branches[0].outputs)
    for k, r in zip(outs, results):
        r.tangent_of = None
        out[k] = r
    return out


def _tangent(op: Op, tangents: list) -> Value | None:
    prim = op.prim
    if not prim.derivative_known:
        raise CompileError(f"cannot differentiate {prim.name}: gradc has no derivative rule for it", op.loc)
    inputs = precision.rule_inputs(op)
    if prim.jvp is not None:
        return prim.jvp(tangents, op.out, *inputs, **op.params)
    if prim.linear:
        return bind(prim.name, tangents[0], **op.params)
    if prim.elementwise and prim.vjp is not None:
        total = None
        for i, t in enumerate(tangents):
            if t is None:
                continue
            contribution = prim.vjp(precision.cotangent(t, op, inputs), op.out, *inputs, **op.params)[i]
            if contribution is not None:
                total = contribution if total is None else total + contribution
        return total
    raise CompileError(f"cannot differentiate {prim.name} in forward mode: it has no tangent rule", op.loc)


def _zero_or(t: Value | None, v: Value, builder: Builder) -> Value:
    """An output's tangent; zero where it does not depend on the directions. A tape
    without one stands for itself: it has no layout, so no reader takes it for a tangent."""
    if t is not None or v.dtype == object:
        return v if t is None else t
    if isinstance(v, Const):
        return Const(0.0) if v.is_scalar else builder.bind("zeros_like", v)
    return builder.bind("zeros_like", v)
