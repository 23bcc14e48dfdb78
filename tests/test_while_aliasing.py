"""A while loop on data is lowered once for every iteration, from the carried arrays' memory
before the loop. When an iteration ends with a carried array sharing memory with another name
(`b = a`, `b = a[::-1]`, `b = x`, `b = h`), NumPy's in-place updates in the next iteration
change both: gradc gave other values and gradients, or looped forever where NumPy's loop ends
(found by an adversarial round). Such loops are refused where the body updates in place;
loops whose carries stay their own keep working."""
import numpy as np
import pytest

import gradc

from fixtures.numeric import assert_close, fd_grad

V = np.array([1.0, 2.0, 3.0])


def alias_carry(x):
    a = x * 1.0
    b = x * 2.0
    s = 0.0
    while np.sum(a) < 6.0:
        a += 1.0
        s = s + np.sum(b)
        b = a
    return s


def view_carry(x):
    a = x * 1.0
    b = x * 2.0
    s = 0.0
    while np.sum(a) < 6.0:
        a += 1.0
        s = s + np.sum(b * V)
        b = a[::-1]
    return s


def item_write_carry(x):
    a = x * 1.0
    b = x * 2.0
    s = 0.0
    while np.sum(a) < 6.0:
        a[0] = a[0] + 1.0 + a[2]
        s = s + np.sum(b * V)
        b = a
    return s


def into_argument(x):
    b = x * 2.0
    s = 0.0
    while np.sum(b) < 8.0:
        b += 1.0
        s = s + np.sum(b)
        b = x
    return s


def into_local(x):
    h = x * 1.0
    b = x * 2.0
    while np.sum(b) < 8.0:
        b += 1.0
        b = h
    return np.sum(h * h)


@pytest.mark.parametrize("fn", [alias_carry, view_carry, item_write_carry, into_argument, into_local])
def test_a_carry_ending_an_iteration_shared_is_refused(fn):
    with pytest.raises(gradc.CompileError, match="ends an iteration sharing memory"):
        gradc.value_and_grad(fn)(np.array([0.3, -0.5, 1.2]))


def own_carry(x):
    a = x * 1.0
    s = 0.0
    while np.sum(a) < 6.0:
        a += 1.0
        s = s + np.sum(a * V)
    return s


def copied_carry(x):
    a = x * 1.0
    b = x * 2.0
    s = 0.0
    while np.sum(a) < 6.0:
        a += 1.0
        s = s + np.sum(b * V)
        b = a.copy()
    return s


def rebinding_carry(x):
    a = x * 1.0
    b = x * 2.0
    s = 0.0
    while np.sum(a) < 6.0:
        a = a + 1.0
        s = s + np.sum(b * V)
        b = a
    return s


@pytest.mark.parametrize("fn", [own_carry, copied_carry, rebinding_carry])
def test_carries_of_their_own_keep_working(fn):
    x = np.array([0.3, -0.5, 1.2])
    value, g = gradc.value_and_grad(fn)(x.copy())
    assert value == fn(x.copy())
    assert_close(g, fd_grad(fn, (x,), 0), rtol=1e-6)
