"""`for ... else` (and `while ... else`) with a break on data, binding a name both in the loop
(before each break) and in the `else` clause, the name not bound before the loop.

Python reads the name after the loop only on paths that bound it, so the flag form of the
loop (frontend/branches.py `without_jumps`) lowers it from a stand-in joined as zeros on
the paths that never read it (`bound_on_every_exit`). Each case runs as plain Python (the
value oracle, dtype included) at points where the loop breaks in different iterations or
never, and its gradient is checked against central differences; a name Python may leave
unbound stays refused, at its line.
"""
import numpy as np
import pytest

import gradc
from tests.fixtures.numeric import assert_close, fd_grad
from tests.fixtures.refusals import refuses


def both_bind(x):
    y = x
    for i in range(5):
        y = y * 1.3 + 0.1
        if np.sum(y) > 4.0:
            r = y * 2.0
            break
    else:
        r = y - 1.0
    return np.sum(r ** 2)


def two_breaks(x):
    y = x
    for i in range(8):
        y = y * 1.2
        if np.sum(y) > 4.0:
            r = np.sin(y) * 3.0
            break
        elif np.max(y) > 1.5:
            r = -y
            break
    else:
        r = y - 1.0
    return np.sum(r ** 2)


def tuple_and_numbers(x):
    y = x
    for i in range(6):
        y = y * 1.3
        if np.sum(y) > 4.0:
            r, s = (y * 2.0, y[0]), 0.5
            break
    else:
        r, s = (y - 1.0, y[1] * 2.0), 1.5
    return np.sum(r[0] ** 2) * s + r[1]


def long_region(x):
    """`i` is not used as a number: the loop stays one loop region (300 iterations)."""
    y = x
    for i in range(300):
        y = y * 1.01 + 0.01
        if np.sum(y) > 4.0:
            r = y * 2.0
            break
    else:
        r = y - 1.0
    return np.sum(r ** 2)


def in_outer_loop(x):
    total = 0.0
    for j in range(3):
        y = x * (j + 1)
        for i in range(5):
            y = y * 1.3
            if np.sum(y) > 4.0:
                r = y * 2.0
                break
        else:
            r = y - 1.0
        total = total + np.sum(r ** 2)
    return total


def while_static_test(x):
    """A while loop whose test is known at compile time: the first iteration is unrolled,
    the rest is a while region (its break flag is on data)."""
    y = x
    it = 0
    while it < 6:
        y = y * 1.3 + 0.1
        it += 1
        if np.sum(y) > 4.0:
            r = np.tanh(y)
            break
    else:
        r = y - 1.0
    return np.sum(r ** 2)


def weak_float32(x):
    """A Python float on every path: it stays weak, float32 stays float32 (NEP 50)."""
    y = x.astype(np.float32)
    acc = 0.0
    for i in range(6):
        y = y * np.float32(1.3)
        acc = acc + 0.25
        if np.sum(y) > 4.0:
            s = acc
            break
    else:
        s = 0.5
    return np.sum(y * s)


def flag(x):
    y = x
    for i in range(6):
        y = y * 1.3
        if np.sum(y) > 4.0:
            found = True
            break
    else:
        found = False
    return np.sum(y) * (2.0 if found else 1.0)


CASES = [both_bind, two_breaks, tuple_and_numbers, long_region, in_outer_loop, while_static_test,
         weak_float32, flag]
POINTS = [np.array([0.3, 0.7]), np.array([0.01, 0.02]), np.array([1.2, 1.6]), np.array([0.9, 0.3])]


@pytest.mark.parametrize("fn", CASES, ids=lambda f: f.__name__)
def test_values_dtypes_and_gradients(fn):
    for x in POINTS:
        value, grad = gradc.value_and_grad(fn)(x)
        expected = fn(x.copy())
        assert type(value) is type(expected) and value == expected, (fn.__name__, x, value, expected)
        if value.dtype == np.float64:
            assert_close(grad, fd_grad(fn, (x,), 0), rtol=1e-5, atol=1e-6, what=f"{fn.__name__} at {x}")


def test_the_loop_stays_one_loop():
    compiled = gradc.compile(long_region)
    compiled.value_and_grad(np.array([0.3, 0.7]))
    assert "for i in range(300):" in compiled.source and compiled.source.count("* 1.01") < 10  # not 300 copies


def test_hessian():
    x = np.array([0.3, 0.7])
    g = gradc.grad(two_breaks)
    h = 1e-5
    expected = np.array([(g(x + h * e) - g(x - h * e)) / (2 * h) for e in np.eye(2)])
    assert_close(gradc.hessian(two_breaks)(x), expected, rtol=1e-5, atol=1e-6)


# -- Python may leave the name unbound: refused at the line that binds it on one path only


def else_only(x):
    y = x
    for i in range(6):  # ERR
        y = y * 1.3
        if np.sum(y) > 4.0:
            break
    else:
        r = y - 1.0
    return np.sum(r ** 2)


def one_break_binds_nothing(x):
    y = x
    for i in range(6):
        y = y * 1.3
        if np.sum(y) > 4.0:  # ERR
            r = y
            break
        if np.max(y) > 1.9:
            break
    else:
        r = y - 1.0
    return np.sum(r ** 2)


def read_in_the_loop(x):
    y = x
    for i in range(6):
        y = y * 1.3
        if np.sum(y) > 4.0:  # ERR
            r = y
            break
        y = y + r
    else:
        r = y - 1.0
    return np.sum(r ** 2)


def while_on_data(x):
    y = x
    while np.sum(y) < 10.0:  # ERR
        y = y * 1.3 + 0.1
        if np.max(y) > 3.0:
            r = y * 2.0
            break
    else:
        r = y - 1.0
    return np.sum(r ** 2)


@pytest.mark.parametrize("fn, words", [
    (else_only, ["some ways out of a loop"]),
    (one_break_binds_nothing, ["some ways out of a loop"]),
    (read_in_the_loop, ["some ways out of a loop"]),
    (while_on_data, ["first bound inside a while loop on data"]),
], ids=lambda a: getattr(a, "__name__", ""))
def test_refusals(fn, words):
    refuses(fn, np.array([0.3, 0.7]), words=words)


def test_a_python_float_first_bound_in_a_loop_region_stays_weak():
    """(a loop region carried such a name from a NumPy zero: float64 where NumPy gives float32)"""
    def late_weak(x, lam):
        y = x.astype(np.float32)
        for i in range(3):
            y = y * np.float32(1.1)
            s = lam * 2.0
        return np.sum(y * s)

    x = np.array([0.3, 0.7])
    value, expected = gradc.compile(late_weak)(x, 0.3), late_weak(x, 0.3)
    assert type(value) is type(expected) is np.float32 and value == expected
