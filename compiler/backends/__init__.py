"""Other array libraries than NumPy: the generated code is ordinary array code, so it runs on
them unchanged or with another spelling. gradc builds no scheduler of its own.

- `dask`: Dask arrays as arguments. The NumPy module is generated without in-place updates
  (they would mix a NumPy gradient with a lazy array) and its NumPy calls dispatch to Dask;
  results are lazy Dask arrays, one graph for value and gradient.
- `array_api`: a module written for the array API standard (`xp = array_namespace(...)`),
  for CuPy, PyTorch, JAX and NumPy; `Compiled.save(path, backend="array-api")`.
"""
from dataclasses import dataclass

import numpy as np

from ..syntax import Expr


@dataclass(frozen=True)
class Flavour:
    """How codegen spells what differs between array libraries (codegen.FLAVOUR): the default
    methods give NumPy's spelling, so a backend overrides only what differs."""

    inplace: bool = True  # `x_bar += c` where codegen proves it safe

    def emit(self, op, operands) -> Expr:
        return op.prim.emit(*operands, **op.params)

    def scalar(self, const) -> Expr:
        from ..codegen import scalar_literal

        return scalar_literal(const.value)

    def empty(self, shape, dtype) -> str:
        kind = "" if dtype == np.float64 else f", dtype=np.{dtype.name}"
        return f"np.empty({shape!r}{kind})"

    def row(self, array: str, index: str) -> str:
        """Row `index` of a loop's stacked input or output."""
        return f"{array}[{index}]"

    def wrap(self, leaf, text: str) -> str:
        if leaf.as_float:
            return f"float({text})"
        if leaf.kind is not None and leaf.kind[0] == "scalar":
            return f"np.{leaf.kind[1]}({text})"
        if leaf.kind is not None and leaf.kind[0] == "array0":
            return f"np.asarray({text}, dtype=np.{leaf.kind[1]})"
        return text


BACKENDS = ("numpy", "array-api")  # what Compiled.save(path, backend=...) writes
