"""Compound neural-network primitives: one op each for speed and numerical stability.

Their NumPy implementations are `runtime.support`'s (re-exported as `gradc.nn`),
so user code calling them runs as plain NumPy, and generated code calls the same helpers.
"""
from __future__ import annotations

from ..lazy_sympy import sympy as sp  # loaded when a formula is first used

from gradc.runtime import support

from ..syntax import call
from . import ops, registry
from .reductions import axis_literal, define_reduction, expand_like


def _helper_call(name):
    return lambda a, **_: call(name, a)


for _name, _vjp, _sympy, _domain in [
    ("sigmoid", lambda g, out, x: [g * out * (1 - out)], lambda x: 1 / (1 + sp.exp(-x)), (-3.0, 3.0)),
    ("softplus", lambda g, out, x: [g * ops.sigmoid(x)], lambda x: sp.log(1 + sp.exp(x)), (-3.0, 3.0)),
    # relu'(0) = 0 (JAX's and PyTorch's convention); the cotangent is selected, not multiplied
    ("relu", lambda g, out, x: [ops.where(x > 0, g, 0.0)], lambda x: sp.Max(x, 0), (0.1, 2.0)),
]:
    registry.define(_name, impl=getattr(support, _name), emit=_helper_call(_name), family="nn",
                    vjp=_vjp, sympy=_sympy, domain=_domain, elementwise=True, helper=_name)


def _logsumexp_weights(out, x, axis, keepdims):
    """d logsumexp / dx = softmax(x) = exp(x - out), normalised so that it stays right where
    out is infinite: all entries -inf (the limit along x = (t, ..., t) is 1/n each) or some
    entries +inf (they share the derivative). There x - out is NaN exactly where x == out;
    those entries get exp(0) = 1. Where out is finite the normaliser is 1 up to rounding."""
    lse = expand_like(out, x, axis, keepdims)
    e = ops.exp(ops.where(ops.equal(x, lse), 0.0, x - lse))
    return e / ops.sum(e, axis=axis, keepdims=True)


define_reduction(
    "logsumexp", support.logsumexp, np_name="logsumexp", helper="logsumexp",
    jvp=lambda t, out, x, axis, keepdims: ops.sum(
        t[0] * _logsumexp_weights(out, x, axis, keepdims), axis=axis, keepdims=keepdims),
    vjp=lambda g, out, x, axis, keepdims: [
        expand_like(g, x, axis, keepdims) * _logsumexp_weights(out, x, axis, keepdims)],
)
registry.get("logsumexp").family = "nn"


def _softmax_like(name, vjp, jvp):
    def canonical(values, params):
        axis = params.get("axis", -1)
        ndim = values[0].ndim
        if not isinstance(axis, int) or not -ndim <= axis < max(ndim, 1):
            raise ValueError(f"{name}: axis must be a single int within {ndim} dimensions, not {axis!r}")
        return {"axis": axis % ndim if ndim else 0}

    prim = registry.define(
        name, impl=getattr(support, name), family="nn", helper=name, vjp=vjp, jvp=jvp,
        emit=lambda a, axis: call(name, a, axis=axis_literal((axis,))),
        shape_rule=lambda avals, axis: avals[0].shape,
    )
    prim.canonical_params = canonical
    return prim


_softmax_like("softmax", lambda g, out, x, axis: [
    out * (g - ops.sum(g * out, axis=axis, keepdims=True))],
    lambda t, out, x, axis: out * (t[0] - ops.sum(out * t[0], axis=axis, keepdims=True)))
_softmax_like("log_softmax", lambda g, out, x, axis: [
    g - ops.exp(out) * ops.sum(g, axis=axis, keepdims=True)],
    lambda t, out, x, axis: t[0] - ops.sum(ops.exp(out) * t[0], axis=axis, keepdims=True))
