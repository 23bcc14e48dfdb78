"""What `@gradc.primitive` checks at registration, on sample points of the primitive's
`domain`: each mistake below would otherwise give derivatives that are silently wrong.

- the implementation is elementwise (forward mode reads a VJP rule as a diagonal Jacobian,
  vmap applies the function per example): its result has its argument's shape, out[i]
  depends on x[i] alone, it leaves its argument as it was and returns a new array;
- a `sympy=` formula gives the implementation's values (the gradient comes from the formula,
  the value from the implementation);
- a `vjp=` rule returns a floating-point array of x's shape, for an array cotangent and for
  the scalar one a sum gives.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from ..errors import SignatureError

# Where in the domain the samples lie: inside it, and off its middle (0 of a symmetric
# domain, where kinks and jumps usually are)
FRACTIONS = (0.05, 0.13, 0.27, 0.38, 0.46, 0.59, 0.66, 0.74, 0.87, 0.95)
SHUFFLE = (3, 7, 0, 9, 5, 1, 8, 2, 6, 4)  # the 2-D sample: the 1-D one shuffled, as (2, 5)
FORMULA_RTOL = 1e-9


def samples(name: str, domain, loc) -> np.ndarray:
    try:
        lo, hi = (float(d) for d in domain)
    except (TypeError, ValueError):
        lo = hi = math.nan
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise SignatureError(f"@primitive {name}: domain is a pair of finite numbers lo < hi (where gradc "
                             f"samples the primitive to check it), not {domain!r}", loc)
    return np.array([lo + (hi - lo) * f for f in FRACTIONS])


def _run(name: str, what: str, fn, x, *args, loc):
    """fn(*args) with NumPy's floating-point warnings off; an exception is the user's mistake."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args)
    except Exception as e:  # noqa: BLE001 - the user's function failed on a sample
        raise SignatureError(f"@primitive {name}: {what} raised {type(e).__name__} ({e}) on a sample x of "
                             f"shape {x.shape} from its domain, {np.array2string(x, precision=3)}", loc) from None


def check_elementwise(name: str, fn, x: np.ndarray, loc) -> np.ndarray:
    """fn's values at the sample x, once fn passed."""
    arg = x.copy()
    y = _run(name, "the implementation", fn, x, arg, loc=loc)
    if not np.array_equal(arg, x, equal_nan=True):
        raise SignatureError(f"@primitive {name}: the implementation changes its argument in place; "
                             "return a new array (the argument is the caller's array or a value of the "
                             "program)", loc)
    if isinstance(y, np.ndarray) and np.shares_memory(y, arg):
        raise SignatureError(f"@primitive {name}: the implementation returns its argument or a view of it; "
                             "return a new array (x.copy()): gradc takes a primitive's result for a new "
                             "value, which the program may change in place", loc)
    y = np.asarray(y)
    square = x[list(SHUFFLE)].reshape(2, 5)
    moved = square.copy()
    moved[0, 0] = square[1, 4]
    for sample in (square, moved):
        out = np.asarray(_run(name, "the implementation", fn, sample, sample.copy(), loc=loc))
        for arr, arg in ((y, x), (out, sample)):
            if arr.shape != arg.shape:
                raise SignatureError(f"@primitive {name}: the implementation returns shape {arr.shape} for "
                                     f"an argument of shape {arg.shape}; a primitive is elementwise, its "
                                     "result has its argument's shape", loc)
        expected = y[list(SHUFFLE)].reshape(2, 5)
        if sample is moved:
            expected[0, 0] = expected[1, 4]
        if not np.allclose(out, expected, rtol=1e-12, atol=1e-14, equal_nan=True):
            raise SignatureError(f"@primitive {name}: the implementation is not elementwise (out[i] must "
                                 "depend on x[i] alone, as np.sin or np.maximum(x, 0); x / np.sum(x), "
                                 "cumulative or position-dependent functions are not): its derivatives "
                                 "would be wrong; write it with gradc's NumPy operations instead of as a "
                                 "primitive", loc)
    return y


def check_formula(name: str, expr, symbol, x: np.ndarray, y: np.ndarray, domain, loc) -> None:
    """The SymPy expression `expr` in `symbol` equals the implementation's values y at x."""
    for point, value in zip(x.tolist(), y.tolist()):
        exact, complex_ = _sympy_value(expr, symbol, point)
        if not _agree(float(value), exact):
            got = "a complex number" if complex_ else repr(exact)
            raise SignatureError(
                f"@primitive {name}: the sympy= formula and the implementation disagree at x = {point!r}: "
                f"the implementation gives {float(value)!r}, the formula {got}. gradc would take the value "
                "from the implementation and the derivative from the formula; make them the same function "
                f"(gradc compares them at points inside domain={tuple(domain)!r})", loc)


def _sympy_value(expr, symbol, point: float) -> tuple[float, bool]:
    """expr at the float `point` (exactly, to 30 digits): a float, nan where it is not a
    number, and whether it is complex (NumPy's real functions give nan there)."""
    import sympy as sp

    try:
        value = complex(expr.subs(symbol, sp.Float(point, 30)).evalf(30))
    except (TypeError, ValueError, ArithmeticError):
        return math.nan, False
    if abs(value.imag) > 1e-20 * max(abs(value.real), 1.0):  # (not a rounding residue of evalf)
        return math.nan, True
    return value.real, False


def _agree(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= FORMULA_RTOL * max(abs(a), abs(b)) + 1e-12


def check_vjp(name: str, rule, fn, x: np.ndarray, loc) -> None:
    """The wrapped vjp rule (user_sources.vjp_wrapper) on the 1-D and 2-D samples, with an
    array cotangent and with the Python float a sum gives: it returns x's shape, or says why."""
    for sample in (x, x[list(SHUFFLE)].reshape(2, 5)):
        out = np.asarray(_run(name, "the implementation", fn, sample, sample.copy(), loc=loc))
        for g in (np.linspace(0.5, 1.5, sample.size).reshape(sample.shape), 1.0):
            _run(name, f"its vjp= rule, called with g = {'an array' if np.ndim(g) else '1.0'},", rule,
                 sample, g, sample.copy(), out, loc=loc)
