"""np.tensordot and np.inner give NumPy's bits: they are lowered as NumPy computes them (a
matrix product of the operands made matrices; above 2-D, inner's one dot product per
element), not as an einsum, whose sums round differently in the last bit."""
import numpy as np
import pytest

import gradc

from fixtures.numeric import assert_close, fd_grad


def td1(a, b):
    return np.sum(np.tensordot(a, b, axes=1) ** 2)


def td2(a, b):
    return np.sum(np.tensordot(a, b, axes=2) ** 2)


def td0(a, b):
    return np.sum(np.tensordot(a, b, axes=0) ** 2)


def td_pairs(a, b):
    return np.sum(np.tensordot(a, b, axes=([0, 2], [1, 0])) ** 2)


def inner(a, b):
    return np.sum(np.inner(a, b) ** 2)


CASES = [(td1, (7,), (7,)), (td1, (3, 5), (5,)), (td1, (3, 5), (5, 4)), (td1, (2, 3, 5), (5, 4, 2)),
         (td2, (3, 4, 5), (4, 5, 2)), (td0, (3,), (4,)), (td_pairs, (3, 4, 5), (5, 3, 2)),
         (inner, (6,), (6,)), (inner, (3, 6), (6,)), (inner, (6,), (4, 6)), (inner, (3, 6), (4, 6)),
         (inner, (2, 3, 6), (4, 6)), (inner, (2, 6), (3, 4, 6)), (inner, (5, 2, 6), (3, 4, 6)),
         (inner, (6,), (3, 4, 6))]


@pytest.mark.parametrize("fn,sa,sb", CASES, ids=[f"{f.__name__}-{a}-{b}" for f, a, b in CASES])
def test_contractions_are_numpys_bits_with_right_gradients(fn, sa, sb):
    rng = np.random.default_rng(len(sa) * 10 + len(sb))
    for _ in range(4):
        a, b = rng.standard_normal(sa) * 3.0, rng.standard_normal(sb) * 3.0
        value, (ga, gb) = gradc.value_and_grad(fn, wrt=(0, 1))(a, b)
        assert value == fn(a, b)  # bit for bit
        assert_close(ga, fd_grad(fn, (a, b), 0), rtol=1e-6)
        assert_close(gb, fd_grad(fn, (a, b), 1), rtol=1e-6)


def dot_plain(a, b):
    return np.sum(np.dot(a, b) ** 2)


MIXED = [(inner, (300,), (40, 300), np.float64, np.float32), (inner, (5, 30), (7, 30), np.float32, np.float16),
         (inner, (2, 3, 30), (4, 30), np.float64, np.int32), (td1, (30, 40), (40, 7), np.float16, np.float32),
         (td2, (3, 4, 5), (4, 5, 2), np.float32, np.float64), (dot_plain, (20, 30), (30,), np.float64, np.float32),
         (dot_plain, (30,), (30, 6), np.float32, np.float16)]


@pytest.mark.parametrize("fn,sa,sb,da,db", MIXED, ids=[f"{f.__name__}-{np.dtype(x).name}-{np.dtype(y).name}"
                                                        for f, _, _, x, y in MIXED])
def test_mixed_dtypes_are_cast_first_as_numpy_does(fn, sa, sb, da, db):
    """np.dot (and tensordot, inner) cast both operands to their common dtype before the
    product; a matmul of mixed dtypes sums in another order."""
    rng = np.random.default_rng(3)
    a = (rng.standard_normal(sa) * 3).astype(da)
    b = (rng.standard_normal(sb) * 3).astype(db)
    got = gradc.compile(fn, wrt=0).value(a, b)
    want = fn(a, b)
    assert got.dtype == want.dtype and got == want


def multi3(a, b, c):
    return np.sum(np.linalg.multi_dot([a, b, c]) ** 2)


def multi4(a, b, c, d):
    return np.sum(np.linalg.multi_dot([a, b, c, d]) ** 2)


def multi5(a, b, c, d, e):
    return np.sum(np.linalg.multi_dot([a, b, c, d, e]) ** 2)


MULTI = [(multi3, [(5,), (5, 7), (7, 3)]), (multi3, [(4, 5), (5, 6), (6,)]), (multi3, [(8,), (8, 9), (9,)]),
         (multi3, [(10, 2), (2, 30), (30, 4)]), (multi4, [(3, 40), (40, 2), (2, 50), (50, 4)]),
         (multi4, [(6,), (6, 7), (7, 8), (8,)]), (multi5, [(2, 9), (9, 30), (30, 4), (4, 20), (20,)])]


@pytest.mark.parametrize("low", [np.float64, np.float16, np.float32])
@pytest.mark.parametrize("fn,shapes", MULTI, ids=[f"{f.__name__}-{i}" for i, (f, _) in enumerate(MULTI)])
def test_multi_dot_multiplies_in_numpys_order(fn, shapes, low):
    """np.linalg.multi_dot picks the cheapest order of products (A(Bw) rather than (AB)w): the
    same order gives NumPy's bits, and with a float16 or float32 first matrix NumPy's rounding
    (it was left to right: 2.6e-4 relative off with float16 A and float64 w)."""
    rng = np.random.default_rng(len(shapes))
    xs = [rng.standard_normal(s) * 2 for s in shapes]
    xs[0] = xs[0].astype(low)
    value, g = gradc.value_and_grad(fn, wrt=len(xs) - 1)(*xs)
    want = fn(*xs)
    assert value == want and np.asarray(value).dtype == np.asarray(want).dtype
    assert_close(g, fd_grad(fn, xs, len(xs) - 1), rtol=1e-5)
