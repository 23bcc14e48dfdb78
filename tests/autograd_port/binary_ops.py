"""autograd tests/test_binary_ops.py, case by case (HIPS/autograd, MIT licence).

Every test runs over the 16 pairs of (scalar, vector, matrix, row) arguments; autograd's
`check_grads(fun)` differentiates the first argument, `grad(fun, argnum=1)` the second.
"""
import itertools

import numpy as np

from .shims import Port

P = Port("test_binary_ops", __name__, seed=0)
P.rs = np.random.RandomState(0)  # autograd: rs = npr.RandomState(0), drawn once at import


def _arg_pairs():
    scalar = 2.0
    vector = P.rs.randn(4)
    mat = P.rs.randn(3, 4)
    mat2 = P.rs.randn(1, 4)
    allargs = [scalar, vector, mat, mat2]
    return list(itertools.product(allargs, allargs))


PAIRS = _arg_pairs()


def mul(x, y):
    return x * y


def add(x, y):
    return x + y


def sub(x, y):
    return x - y


def div(x, y):
    return x / y


def mod(x, y):
    return x % y


def pow_(x, y):
    return x**y


def lt(x, y):
    return np.sum(x < y) + 0.0


def le(x, y):
    return np.sum(x <= y) + 0.0


def gt(x, y):
    return np.sum(x > y) + 0.0


def ge(x, y):
    return np.sum(x >= y) + 0.0


def eq(x, y):
    return np.sum(x == y) + 0.0


def ne(x, y):
    return np.sum(x != y) + 0.0


def gap_from_zero(x):
    return np.sqrt(x**2 + 0.5)


for name, fun in [("mul", "mul"), ("add", "add"), ("sub", "sub")]:
    for a, b in PAIRS:
        P.in_test(f"test_{name}").check_grads(fun, 0, helpers=(fun,))(a, b)
for a, b in PAIRS:
    P.in_test("test_div").check_grads("div", 0, helpers=("div",))(gap_from_zero(a), gap_from_zero(b))
for a, b in PAIRS:
    if a is not b:  # gradient undefined at x == y
        P.in_test("test_mod").check_grads("mod", 0, helpers=("mod",))(gap_from_zero(a), gap_from_zero(b))
for a, b in PAIRS:
    P.in_test("test_pow").check_grads("pow_", 0, helpers=("pow_",))(np.abs(a) + 1.1, b)
for a, b in PAIRS:
    P.in_test("test_arctan2").check_grads("np.arctan2", 0)(a, b)
for a, b in PAIRS:
    P.in_test("test_hypot").check_grads("np.hypot", 0)(a, b)
# test_comparison_grads asserts grad(fun) and grad(fun, argnum=1) are exactly zero (also where
# x is y, on the jump); test_comparison_values that the value is NumPy's (checked for every case)
for a, b in PAIRS:
    for fun in ["lt", "le", "gt", "ge", "eq", "ne"]:
        P.in_test("test_comparison_grads").check_grads(fun, (0, 1), helpers=(fun,), zero_grad=True)(a, b)

CASES = P.cases
