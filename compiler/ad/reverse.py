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
from . import masks
from ..passes.activity import active
from ..passes.simplify import rewrite


def reverse(program: Program, wrt: tuple[int, ...] | None = None, *, cotangent: bool = False) -> Program:
    """Return a program computing (output, d output / d inputs[i] for i in wrt).

    With cotangent=True the output may have any shape: the program takes one more
    input, the cotangent ȳ, and returns (output, ȳ pulled back to each wrt input)."""
    wrt = program.wrt if wrt is None else tuple(wrt)
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

    mask: dict[Value, object] = {}  # v -> where v̄ can be nonzero (masks.Mask); absent: anywhere
    with builder:
        for op in reversed(program.ops):
            g = adjoint.get(op.out)
            if g is None or not op.prim.differentiable or masks.is_zero(g):
                continue  # an adjoint that is identically zero contributes nothing
            builder.loc, builder.step = op.loc, op.step
            for x, c in zip(op.inputs, _contributions(op, g, live)):
                if c is None or x not in live or masks.is_zero(c):
                    continue
                c, m = masks.through(op.prim, mask.get(op.out), c, (g,))
                if c.shape != x.shape:
                    c = builder.bind("sum_to", c, shape=x.shape)
                m = masks.fit(m, x.shape)
                if x in adjoint:
                    c = builder.bind("add", adjoint[x], c)
                    m = masks.disj(mask.get(x), m)
                _name(c, x)
                adjoint[x] = c
                mask[x] = m

        builder.loc = None  # returning gradients belongs to no source line
        builder.step = 0 if any(op.step is not None for op in program.ops) else None  # the prologue's adjoint
        grads = [_finish(program.inputs[i], adjoint.get(program.inputs[i]), builder) for i in wrt]

    adj = Program(program.name, inputs, list(program.ops) + builder.ops, [out] + grads,
                  program.loc, wrt, program.static_args)
    return _distinct_outputs(optimize(adj))


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
    try:
        return list(op.prim.vjp(g, op.out, *op.inputs, **op.params))
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
            g.producer is None or not g.producer.prim.fresh or g.producer.sweep == "forward")):
        g = builder.bind("copy", g)
    if g.adjoint_of is None and g.producer is not None and g.producer.sweep == "reverse":
        g.adjoint_of = x
    return g
