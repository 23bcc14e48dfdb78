"""`Z[0], Z[1] = Z[1], Z[0]`: NumPy evaluates the right side to views of Z, then writes Z[0]
(which the view of row 0 then shows) before Z[1]: both rows end up the old Z[1]. gradc
compiled it as a true swap, a silently different number (found by an adversarial round).
A write in a tuple assignment is now checked against the values still to be assigned, and
refused where they share its memory; copies, scalars and fancy indexes swap as in NumPy."""
import numpy as np
import pytest

import gradc

from fixtures.numeric import assert_close, fd_grad

K = np.arange(9.0).reshape(3, 3)


def rows(W):
    Z = W * 1.0
    Z[0], Z[1] = Z[1], Z[0]
    return np.sum(Z * K)


def halves(x):
    y = x * 1.0
    y[:3], y[3:] = y[3:], y[:3]
    return np.sum(y * np.arange(6.0))


def columns(W):
    Z = W * 1.0
    Z[:, 0], Z[:, 2] = Z[:, 2], Z[:, 0]
    return np.sum(Z * K)


def rotation(W):
    Z = W * 1.0
    Z[0], Z[1], Z[2] = Z[1], Z[2], Z[0]
    return np.sum(Z * K)


def pivot_loop(W):
    M = W * 1.0
    for i in range(2):
        M[i], M[i + 1] = M[i + 1], M[i]
    return np.sum(M * K)


def one_side_computed(W):
    Z = W * 1.0
    Z[0], Z[1] = Z[1] * 1.0, Z[0]
    return np.sum(Z * K)


def starred(W):
    Z = W * 1.0
    Z[0], *rest = Z[1], Z[0], Z[2]
    return np.sum(Z * K) + np.sum(rest[0])


def bound_to_a_name(W):
    Z = W * 1.0
    Z[0], w = Z[1], Z[0]
    return np.sum(w * np.arange(3.0)) + np.sum(Z)


@pytest.mark.parametrize("fn", [rows, halves, columns, rotation, pivot_loop, one_side_computed, starred,
                                bound_to_a_name])
def test_a_write_before_a_pending_view_is_refused(fn):
    a = np.linspace(-1.0, 1.0, 6) if fn is halves else np.arange(9.0).reshape(3, 3) / 10 - 0.3
    with pytest.raises(gradc.CompileError, match="the same tuple assignment has still to assign"):
        gradc.value_and_grad(fn)(a)


def copied(W):
    Z = W * 1.0
    Z[0], Z[1] = Z[1].copy(), Z[0].copy()
    return np.sum(Z * K)


def elements(x):
    y = x * 1.0
    y[0], y[1] = y[1], y[0]
    return np.sum(y * np.arange(6.0))


def fancy(W):
    Z = W * 1.0
    Z[[0, 1]] = Z[[1, 0]]
    return np.sum(Z * K)


def name_then_write(W):
    Z = W * 1.0
    w, Z[0] = Z[1] * 2.0, Z[2]
    return np.sum(w) + np.sum(Z * K)


@pytest.mark.parametrize("fn", [copied, elements, fancy, name_then_write])
def test_swaps_numpy_does_as_swaps_are_numpys(fn):
    a = np.linspace(-1.0, 1.0, 6) if fn is elements else np.arange(9.0).reshape(3, 3) / 10 - 0.3
    value, g = gradc.value_and_grad(fn)(a.copy())
    assert value == fn(a.copy())
    assert_close(g, fd_grad(fn, (a,), 0), rtol=1e-6)
