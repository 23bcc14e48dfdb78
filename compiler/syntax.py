"""Python expression text with precedence, so emitted code has only the parentheses it needs.

Primitives describe their NumPy spelling with these helpers; the code generator and
the SSA printer both render through them, so a primitive's syntax is written once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Python's binding strengths (higher binds tighter), from the language reference.
COMPARE, ADD, MUL, UNARY, POW, ATOM = 5, 10, 11, 12, 13, 16


@dataclass(frozen=True)
class Expr:
    text: str
    prec: int = ATOM

    def __str__(self) -> str:
        return self.text


def paren(e: Expr, at_least: int) -> str:
    return e.text if e.prec >= at_least else f"({e.text})"


def infix(symbol: str, prec: int, a: Expr, b: Expr) -> Expr:
    # Left-associative, except ** which binds right-to-left.
    if symbol == "**":
        return Expr(f"{paren(a, prec + 1)} ** {paren(b, prec)}", prec)
    return Expr(f"{paren(a, prec)} {symbol} {paren(b, prec + 1)}", prec)


def prefix(symbol: str, a: Expr) -> Expr:
    return Expr(f"{symbol}{paren(a, UNARY)}", UNARY)


def call(fn: str, *args: Expr | str, **kwargs) -> Expr:
    parts = [str(a) for a in args]
    parts += [f"{k}={literal(v).text}" for k, v in kwargs.items()]
    return Expr(f"{fn}({', '.join(parts)})")


def method(obj: Expr, rest: str) -> Expr:
    """`obj.attr`, `obj.method(...)` or `obj[...]`."""
    return Expr(f"{paren(obj, ATOM)}{rest}")


def literal(value) -> Expr:
    """Source text for a static Python/NumPy value small enough to write inline."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, bool) or value is None:
        return Expr(repr(value))
    if isinstance(value, int):
        return Expr(repr(value), ATOM if value >= 0 else UNARY)
    if isinstance(value, float):
        if math.isnan(value):
            return Expr("np.nan")
        if math.isinf(value):
            return Expr("np.inf") if value > 0 else Expr("-np.inf", UNARY)
        return Expr(repr(value), ATOM if value >= 0 or math.copysign(1, value) > 0 else UNARY)
    if isinstance(value, np.generic):
        inner = literal(value.item())
        if value.dtype in (np.float64, np.int64, np.bool_):
            return inner
        return Expr(f"np.{value.dtype.name}({inner.text})")
    if isinstance(value, tuple):
        inner = ", ".join(literal(v).text for v in value)
        return Expr(f"({inner},)" if len(value) == 1 else f"({inner})")
    if isinstance(value, slice):
        return Expr(slice_text(value))
    if isinstance(value, np.dtype):
        return Expr(f"np.{value.name}")
    raise TypeError(f"no literal syntax for {type(value).__name__}")


def slice_text(s: slice) -> str:
    parts = ["" if s.start is None else literal(s.start).text,
             "" if s.stop is None else literal(s.stop).text]
    if s.step is not None:
        parts.append(literal(s.step).text)
    return ":".join(parts)


def index_text(index: tuple) -> str:
    """Subscript text for a static basic index (ints, slices, None, Ellipsis)."""
    parts = []
    for item in index:
        if item is None:
            parts.append("None")
        elif item is Ellipsis:
            parts.append("...")
        elif isinstance(item, slice):
            parts.append(slice_text(item))
        else:
            parts.append(literal(item).text)
    return ", ".join(parts) if parts else "()"
