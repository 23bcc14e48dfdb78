"""gradc: a gradient compiler for Python/NumPy loss functions.

    import gradc
    dloss = gradc.grad(loss, wrt="w")        # JAX-style argnums semantics
    c = gradc.compile(loss, wrt="w", args=(w, X, y))
    print(c.ir); print(c.source)             # the SSA listing and the generated code
"""
from . import nn
from .api import (Compiled, compile, grad, hessian, hvp, jacfwd, jacobian, jacrev, jvp, value_and_grad,
                  vjp, vmap)
from .errors import CompileError
from .frontend.marks import checkpoint
from gradc.runtime.checkpoint import Revolve, Segments
from .primitives import registry as _registry

_registry.all()  # load every primitive family now: a broken rule fails at import, not mid-compile


def __getattr__(name):
    # `gradc.primitive` brings SymPy (its derivative formulas): loaded when first named
    if name == "primitive":
        from .primitives.user import primitive

        globals()["primitive"] = primitive
        return primitive
    raise AttributeError(f"module 'gradc' has no attribute {name!r}")

__version__ = "0.1.0"
__all__ = ["grad", "value_and_grad", "compile", "Compiled", "CompileError", "nn", "primitive",
           "jvp", "vjp", "jacfwd", "jacrev", "jacobian", "hvp", "hessian", "vmap", "checkpoint",
           "Segments", "Revolve"]
