"""Linear algebra through the frontend: np.linalg, einsum and friends, as users write them.

Each function's gradient (VJP) and directional derivative (JVP) against central finite
differences of the NumPy function itself, at several sizes and batched where NumPy batches;
values against NumPy; Hessian-vector products (both modes) against differences of gradients;
ill-conditioned but valid inputs against closed forms; realistic losses; the conventions at
points without a derivative; refusals of parameters gradc does not implement.
"""
from __future__ import annotations

import inspect

import mpmath
import numpy as np
import pytest

import gradc
from fixtures.numeric import fd_grad
from gradc.errors import CompileError
from gradc.frontend import numpy_linalg

# np.cross of 2-vectors (used by the finite differences of l_cross) is deprecated in NumPy 2
pytestmark = pytest.mark.filterwarnings("ignore:Arrays of 2-dimensional vectors:DeprecationWarning")

RNG = np.random.default_rng(20251202)
MODES = ["forward-over-reverse", "reverse-over-reverse"]


def _n(*shape, rng=RNG):
    return rng.standard_normal(shape)


def wellcond(*shape):
    n = shape[-1]
    return _n(*shape) / np.sqrt(n) + 2.5 * np.eye(n)


def spd(*shape):
    n = shape[-1]
    a = _n(*shape)
    return a @ np.swapaxes(a, -1, -2) / n + np.eye(n)


def sym_distinct(n, batch=()):
    out = np.empty(batch + (n, n))
    for idx in np.ndindex(*batch):
        q, _ = np.linalg.qr(_n(n, n))
        w = np.arange(n) * 0.7 - 1.0 + RNG.uniform(-0.1, 0.1, n)
        out[idx] = (q * w) @ q.T
    return out


def distinct_sv(m, n, batch=()):
    k = min(m, n)
    out = np.empty(batch + (m, n))
    for idx in np.ndindex(*batch):
        u, _ = np.linalg.qr(_n(m, m))
        v, _ = np.linalg.qr(_n(n, n))
        s = 0.8 + np.arange(k)[::-1] * 0.6
        out[idx] = (u[:, :k] * s) @ v[:, :k].T
    return out




def check(fn, args, wrt, rtol=1e-6, atol=1e-7, eps=1e-6, jvp=True):
    """Value against NumPy; gradient and JVP against central differences."""
    wrt = wrt if isinstance(wrt, tuple) else (wrt,)
    value, grads = gradc.value_and_grad(fn, wrt=wrt)(*args)
    np.testing.assert_allclose(value, fn(*args), rtol=1e-10, atol=1e-12)
    for g, i in zip(grads, wrt):
        assert np.shape(g) == np.shape(args[i])
        np.testing.assert_allclose(g, fd_grad(fn, args, i, eps), rtol=rtol, atol=atol,
                                   err_msg=f"{fn.__name__}: gradient w.r.t. argument {i}")
    if jvp:
        rng = np.random.default_rng(7)
        dirs = tuple(rng.standard_normal(np.shape(args[i])) for i in wrt)
        v2, d = gradc.jvp(fn, args, dirs, wrt=wrt)
        np.testing.assert_allclose(v2, value, rtol=1e-12, atol=1e-12)
        expected = sum(float(np.sum(g * u)) for g, u in zip(grads, dirs))
        np.testing.assert_allclose(d, expected, rtol=1e-8, atol=1e-9, err_msg=f"{fn.__name__}: JVP")
        ap, am = list(args), list(args)
        for i, u in zip(wrt, dirs):
            ap[i], am[i] = args[i] + eps * u, args[i] - eps * u
        np.testing.assert_allclose(d, (fn(*ap) - fn(*am)) / (2 * eps), rtol=rtol * 10, atol=atol * 10,
                                   err_msg=f"{fn.__name__}: JVP vs differences")
    return grads


def check_hvp(fn, args, wrt, rtol=1e-5, atol=1e-6, eps=1e-5):
    """H v (both modes) against central differences of the gradient along v."""
    x = args[wrt]
    v = np.random.default_rng(11).standard_normal(np.shape(x))
    grad = gradc.grad(fn, wrt=wrt)
    ap, am = list(args), list(args)
    ap[wrt], am[wrt] = x + eps * v, x - eps * v
    expected = (grad(*ap) - grad(*am)) / (2 * eps)
    for mode in MODES:
        hv = gradc.hvp(fn, wrt=wrt, mode=mode)(*args, v)
        np.testing.assert_allclose(hv, expected, rtol=rtol, atol=atol, err_msg=f"{fn.__name__} {mode}")


# ---------------------------------------------------------------------------------------------
# Losses (module level: gradc reads their source). `c` is a fixed cotangent.


def l_inv(A, c):
    return np.sum(np.linalg.inv(A) * c)


def l_solve(A, b, c):
    return np.sum(np.linalg.solve(A, b) * c)


def l_det(A, c):
    return np.sum(np.linalg.det(A) * c)


def l_slogdet(A, c):
    sign, logabsdet = np.linalg.slogdet(A)
    return np.sum(sign * logabsdet * c)


def l_cholesky(A, c):
    return np.sum(np.linalg.cholesky(A) * c)


def l_cholesky_upper(A, c):
    return np.sum(np.linalg.cholesky(A, upper=True) * c)


def l_eigh(A, c, d):
    w, V = np.linalg.eigh(A)
    return np.sum(w * c) + np.sum(V ** 2 * d)  # V ** 2: independent of each column's sign


def l_eigh_upper(A, c, d):
    res = np.linalg.eigh(A, UPLO="U")
    return np.sum(res.eigenvalues * c) + np.sum(res.eigenvectors ** 2 * d)


def l_eigvalsh(A, c):
    return np.sum(np.linalg.eigvalsh(A) * c)


def l_svd_values(A, c):
    return np.sum(np.linalg.svd(A, compute_uv=False) * c)


def l_svd(A, c, d, e):
    U, s, Vh = np.linalg.svd(A, full_matrices=False)
    return np.sum(s * c) + np.sum(U ** 2 * d) + np.sum(Vh ** 2 * e)


def l_svd_projector(A, c):
    U, s, Vh = np.linalg.svd(A, full_matrices=False)
    return np.sum((U @ Vh) * c)  # the polar factor: sign-free


def l_norm_vec(x):
    return np.linalg.norm(x)


def l_norm_axis(X, c):
    return np.sum(np.linalg.norm(X, axis=1) * c) + np.sum(np.linalg.norm(X, axis=0, keepdims=True))


def l_norm_ords(x):
    return (np.linalg.norm(x, 1) + 2 * np.linalg.norm(x, np.inf) + 3 * np.linalg.norm(x, -np.inf)
            + np.linalg.norm(x, 3) + np.linalg.norm(x, 1.5) + np.linalg.norm(x, 0) + np.linalg.norm(x, 2))


def l_norm_matrix(A):
    return (np.linalg.norm(A) + np.linalg.norm(A, "fro") + np.linalg.norm(A, "nuc")
            + np.linalg.norm(A, 2) + np.linalg.norm(A, -2) + np.linalg.norm(A, 1)
            + np.linalg.norm(A, -1) + np.linalg.norm(A, np.inf) + np.linalg.norm(A, -np.inf))


def l_norm_matrix_axes(T, c):
    return np.sum(np.linalg.norm(T, "fro", axis=(2, 0), keepdims=True) * c) + \
        np.sum(np.linalg.norm(T, 1, axis=(0, 2))) + np.sum(np.linalg.norm(T, "nuc", axis=(1, 2)))


def l_norm_3d(T):
    return np.linalg.norm(T) + np.sum(np.linalg.norm(T, axis=-1))


def l_trace(A, c):
    return np.trace(A) + np.sum(np.trace(A, 1) * c[0]) + np.trace(A, -1) * c[1]


def l_trace_batched(T, c):
    return np.sum(np.trace(T, axis1=1, axis2=2) * c) + np.sum(np.trace(T, offset=1, axis1=0, axis2=2))


def l_diag(A, v):
    return np.sum(np.diag(A) ** 2) + np.sum(np.diag(A, 1)) + np.sum(np.diag(v) @ A) + \
        np.sum(np.diag(v, -2) * np.arange(25.0).reshape(5, 5))


def l_diagonal(T, c):
    return np.sum(np.diagonal(T, 0, 1, 2) * c) + np.sum(T.diagonal(offset=-1) ** 2)


def l_tri(A):
    return np.sum(np.triu(A) ** 2) + np.sum(np.tril(A, k=-1) * A) + np.sum(np.triu(A, 2)) + \
        np.sum(np.tril(A, 1) ** 3)


def l_tri_batched(T, c):
    return np.sum(np.tril(T) * c) + np.sum(np.triu(T, -1) ** 2)


def l_kron(a, B, c):
    return np.sum(np.kron(a, B) * c) + np.sum(np.kron(B, B) ** 2)


def l_einsum_many(A, B, x):
    return (np.einsum("ij,jk->ik", A, B).sum() + np.einsum("ii", A @ A.T) + np.sum(np.einsum("ii->i", A) ** 2)
            + np.einsum("i,ij,j", x, A, x) + np.sum(np.einsum("...ij->...ji", B) ** 2)
            + np.einsum(A, [0, 1], B, [1, 2], [0, 2]).sum() + np.sum(np.einsum("ij,ik", A, A) ** 2))


def l_einsum_batch(Q, K, V):
    s = np.einsum("bqd,bkd->bqk", Q, K) / np.sqrt(Q.shape[-1])
    p = np.exp(s - s.max(axis=-1, keepdims=True))
    p = p / p.sum(axis=-1, keepdims=True)
    return np.sum(np.einsum("bqk,bkd->bqd", p, V) ** 2)


def l_einsum_ellipsis(T, M):
    return np.sum(np.einsum("...ij,jk->...ik", T, M) ** 2) + np.sum(np.einsum("...ii->...i", T @ T))


def l_tensordot(T, M, c):
    return np.sum(np.tensordot(T, M, axes=([1, 2], [0, 1])) * c) + np.sum(np.tensordot(M, M, 2)) + \
        np.sum(np.tensordot(T, M, axes=(2, 1)) ** 2)


def l_inner(x, A, c):
    return np.inner(x, x) + np.sum(np.inner(A, x) * c) + np.sum(np.inner(A, A) ** 2)


def l_cross(a, b, c):
    return np.sum(np.cross(a, b) * c) + np.sum(np.cross(a[0], b) ** 2) + np.sum(np.cross(a[:, :2], b[:, :2]))


def l_cross_axis(a, b):
    return np.sum(np.cross(a, b, axisa=0, axisb=0) ** 2) + np.sum(np.cross(a, b, axis=0) ** 3)


def l_dot_nd(T, v, M, U):
    return np.sum(np.dot(T, v) ** 2) + np.sum(np.dot(T, M) ** 2) + np.sum(T.dot(M)) + \
        np.sum(np.dot(U, T) ** 2)


def l_matmul_vec_batch(T, v, w):
    return np.sum((T @ v) ** 2) + np.sum((w @ T) ** 3)


def l_matrix_power(A):
    return (np.trace(np.linalg.matrix_power(A, 0)) + np.sum(np.linalg.matrix_power(A, 1))
            + np.sum(np.linalg.matrix_power(A, 2)) + np.sum(np.linalg.matrix_power(A, 3))
            + np.sum(np.linalg.matrix_power(A, 5)) + np.sum(np.linalg.matrix_power(A, 6))
            + np.sum(np.linalg.matrix_power(A, -2)))


def l_multi_dot(x, A, B, y):
    return np.linalg.multi_dot([x, A, B, y])


def l_methods(A):
    return A.T.dot(A).trace() + np.sum(A.diagonal() ** 2) + A.trace(offset=1)


# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 2), (4, 4), (7, 7), (3, 5, 5)])
def test_inv(shape):
    check(l_inv, (wellcond(*shape), _n(*shape)), 0)


@pytest.mark.parametrize("a,b", [((3, 3), (3,)), ((6, 6), (6, 2)), ((2, 4, 4), (4,)), ((2, 4, 4), (2, 4, 3)),
                                 ((4, 4), (3, 4, 2)), ((1, 3, 3), (2, 3, 1))])
def test_solve(a, b):
    A, B = wellcond(*a), _n(*b)
    out = np.linalg.solve(A, B)
    check(l_solve, (A, B, _n(*out.shape)), (0, 1))


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (6, 6), (2, 4, 4)])
def test_det(shape):
    check(l_det, (wellcond(*shape), _n(*shape[:-2])), 0)


@pytest.mark.parametrize("shape", [(3, 3), (8, 8), (2, 3, 3)])
def test_slogdet(shape):
    A = wellcond(*shape)
    A[..., 0, :] *= -1  # a negative determinant: sign -1
    check(l_slogdet, (A, _n(*shape[:-2])), 0)
    sign, logabsdet = np.linalg.slogdet(A)
    assert np.all(sign == -1)


@pytest.mark.parametrize("shape", [(1, 1), (3, 3), (6, 6), (2, 4, 4)])
def test_cholesky(shape):
    S = spd(*shape)
    check(l_cholesky, (S, _n(*shape)), 0, rtol=1e-5)
    check(l_cholesky_upper, (S, _n(*shape)), 0, rtol=1e-5)


def test_cholesky_reads_one_triangle_like_numpy():
    S = spd(4, 4)
    A = S + np.triu(_n(4, 4), 1)  # garbage above the diagonal: NumPy never reads it
    c = _n(4, 4)
    g = check(l_cholesky, (A, c), 0, rtol=1e-5)[0]
    assert np.all(np.triu(g, 1) == 0)
    gu = check(l_cholesky_upper, (S + np.tril(_n(4, 4), -1), c), 0, rtol=1e-5)[0]
    assert np.all(np.tril(gu, -1) == 0)


@pytest.mark.parametrize("n,batch", [(2, ()), (4, ()), (6, ()), (3, (2,))])
def test_eigh(n, batch):
    A = sym_distinct(n, batch)
    w = np.linalg.eigvalsh(A)
    check(l_eigh, (A, _n(*w.shape), _n(*A.shape)), 0, rtol=1e-5, atol=1e-6)
    check(l_eigh_upper, (A, _n(*w.shape), _n(*A.shape)), 0, rtol=1e-5, atol=1e-6)
    check(l_eigvalsh, (A + np.triu(_n(*A.shape), 1), _n(*w.shape)), 0, rtol=1e-5)


@pytest.mark.parametrize("m,n,batch", [(3, 3, ()), (5, 3, ()), (2, 4, ()), (3, 2, (2,))])
def test_svd(m, n, batch):
    A = distinct_sv(m, n, batch)
    k = min(m, n)
    check(l_svd_values, (A, _n(*batch, k)), 0, rtol=1e-5)
    check(l_svd, (A, _n(*batch, k), _n(*batch, m, k), _n(*batch, k, n)), 0, rtol=1e-5, atol=1e-6)
    check(l_svd_projector, (A, _n(m, n)), 0, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n", [1, 5, 40])
def test_vector_norms(n):
    x = _n(n)
    check(l_norm_vec, (x,), 0)
    check(l_norm_ords, (x,), 0, rtol=1e-5)


def test_norm_axes_and_matrix_norms():
    check(l_norm_axis, (_n(4, 3), _n(4)), 0)
    check(l_norm_matrix, (distinct_sv(4, 3) + 0.01 * _n(4, 3),), 0, rtol=1e-5)
    check(l_norm_matrix_axes, (_n(3, 4, 5), _n(1, 4, 1)), 0, rtol=1e-5)
    check(l_norm_3d, (_n(2, 3, 4),), 0)


def test_trace_diag_diagonal_tri():
    check(l_trace, (_n(4, 4), _n(2)), 0)
    check(l_trace_batched, (_n(3, 4, 3), _n(3)), 0)
    check(l_diag, (_n(3, 5), _n(3)), (0, 1))
    check(l_diagonal, (_n(2, 3, 4), _n(2, 3)), 0)
    check(l_tri, (_n(4, 5),), 0)
    check(l_tri_batched, (_n(2, 3, 4), _n(2, 3, 4)), 0)


def test_contractions():
    check(l_kron, (_n(3), _n(2, 2), _n(2, 6)), (0, 1))
    check(l_einsum_many, (_n(3, 3), _n(3, 4), _n(3)), (0, 1, 2))
    check(l_einsum_batch, (_n(2, 3, 4), _n(2, 5, 4), _n(2, 5, 4)), (0, 1, 2))
    check(l_einsum_ellipsis, (_n(2, 3, 3), _n(3, 3)), (0, 1))
    check(l_tensordot, (_n(2, 3, 4), _n(3, 4), _n(2)), (0, 1))
    check(l_inner, (_n(4), _n(3, 4), _n(3)), (0, 1))
    check(l_cross, (_n(4, 3), _n(4, 3), _n(4, 3)), (0, 1))
    check(l_cross_axis, (_n(3, 4), _n(3, 4)), (0, 1))
    check(l_dot_nd, (_n(2, 3, 4), _n(4), _n(4, 5), _n(2, 3)), (0, 1, 2, 3))
    check(l_matmul_vec_batch, (_n(2, 3, 4), _n(4), _n(3)), (0, 1, 2))
    check(l_multi_dot, (_n(3), _n(3, 4), _n(4, 2), _n(2)), (0, 1, 2, 3))
    check(l_methods, (_n(3, 3),), 0)


def test_matrix_power():
    check(l_matrix_power, (wellcond(3, 3) / 2.5,), 0, rtol=1e-5)


def test_values_and_shapes_are_numpys():
    """Values equal NumPy's, including dtypes (float32 stays float32)."""
    A = wellcond(3, 3).astype(np.float32)
    for fn, args in [(l_inv, (A, np.ones((3, 3), np.float32))), (l_det, (A, np.float32(1.0))),
                     (l_norm_vec, (np.arange(4, dtype=np.float32),))]:
        value, g = gradc.value_and_grad(fn, wrt=0)(*args)
        assert np.asarray(value).dtype == np.float32 and g.dtype == np.float32
        np.testing.assert_allclose(value, fn(*args), rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# Ill-conditioned but valid: against the closed forms (differences lose too many digits)


def l_logdet(A):
    return np.linalg.slogdet(A)[1]


def l_solve_sq(A, b):
    x = np.linalg.solve(A, b)
    return 0.5 * (x @ x)


def l_chol_logdet(S):
    return 2 * np.sum(np.log(np.diag(np.linalg.cholesky(S))))


def _hilbert(n):
    i = np.arange(n)
    return 1.0 / (i[:, None] + i[None, :] + 1)


def _exact_inverse(a):
    """A^-1 to 40 digits (mpmath), of the float64 matrix as given."""
    with mpmath.workdps(40):
        inv = mpmath.matrix(a.tolist()) ** -1
        return np.array([[float(inv[i, j]) for j in range(a.shape[1])] for i in range(a.shape[0])])


def _close(got, want, cond, digits_lost_allowed=10.0):
    """Backward-stable accuracy: relative error (in the norm) within a small multiple of cond * eps."""
    err = np.linalg.norm(got - want) / np.linalg.norm(want)
    assert err <= digits_lost_allowed * cond * np.finfo(float).eps, f"relative error {err:.2e}, cond {cond:.1e}"


@pytest.mark.parametrize("n", [5, 7, 9])
def test_ill_conditioned_closed_forms(n):
    """Hilbert matrices (condition numbers 1e5 .. 1e11; SPD): the gradients of log det (via
    slogdet and via cholesky) and of a solve are as accurate as a backward-stable method
    allows, against 40-digit references."""
    H = _hilbert(n)
    cond = np.linalg.cond(H)
    assert cond > 1e5
    Hinv = _exact_inverse(H)
    _close(gradc.grad(l_logdet)(H), Hinv.T, cond)
    # cholesky reads the lower triangle: d logdet = tr(S^-1 dS), folded onto it
    expected = np.tril(2 * Hinv, -1) + np.diag(np.diag(Hinv))
    _close(gradc.grad(l_chol_logdet)(H), expected, cond)
    b = np.linspace(-1, 1, n)
    gA, gb = gradc.grad(l_solve_sq, wrt=(0, 1))(H, b)
    with mpmath.workdps(40):  # x = H^-1 b, lam = H^-T x; gradients lam and -lam x^T
        hm = mpmath.matrix(H.tolist())
        xm = mpmath.lu_solve(hm, mpmath.matrix(b.tolist()))
        lm = mpmath.lu_solve(hm.T, xm)
        x, lam = np.array([float(v) for v in xm]), np.array([float(v) for v in lm])
    _close(gb, lam, cond)
    _close(gA, -np.outer(lam, x), cond)


def test_nearly_singular_det_gradient_is_the_cofactor_matrix():
    A = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0 + 1e-9]])
    g = gradc.grad(l_det, wrt=0)(A, 1.0)
    cof = np.array([[np.linalg.det(np.delete(np.delete(A, i, 0), j, 1)) * (-1) ** (i + j)
                     for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(g, cof, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Second derivatives: forward over reverse and reverse over reverse


def test_hvp_logdet_matches_closed_form():
    A = wellcond(4, 4)
    V = _n(4, 4)
    Ai = np.linalg.inv(A)
    expected = -(Ai @ V @ Ai).T  # d(A^-T)[V] = -A^-T V^T A^-T
    for mode in MODES:
        np.testing.assert_allclose(gradc.hvp(l_logdet, mode=mode)(A, V), expected, rtol=1e-10, atol=1e-12)


def l_norm_hvp(x):
    return np.linalg.norm(x) ** 3 + np.linalg.norm(x, 3)


def l_eig_hvp(A):
    w, V = np.linalg.eigh(A)
    return np.sum(w ** 3) + np.sum(V[:, 0] ** 4)


def l_svd_hvp(A):
    return np.sum(np.linalg.svd(A, compute_uv=False) ** 3) + np.linalg.norm(A, "nuc")


@pytest.mark.parametrize("fn,make", [
    (l_solve_sq, lambda: (wellcond(4, 4), _n(4))),
    (l_logdet, lambda: (wellcond(3, 3),)),
    (l_chol_logdet, lambda: (spd(4, 4),)),
    (l_norm_hvp, lambda: (_n(5),)),
    (l_eig_hvp, lambda: (sym_distinct(4),)),
    (l_svd_hvp, lambda: (distinct_sv(4, 3),)),
    (l_einsum_batch, lambda: (_n(2, 3, 4), _n(2, 5, 4), _n(2, 5, 4))),
    (l_kron, lambda: (_n(3), _n(2, 2), _n(2, 6))),
    (l_cross, lambda: (_n(4, 3), _n(4, 3), _n(4, 3))),
    (l_matrix_power, lambda: (wellcond(3, 3) / 2.5,)),
    (l_tri, lambda: (_n(4, 5),)),
    (l_det, lambda: (wellcond(2, 3, 3), _n(2))),
    (l_inv, lambda: (wellcond(3, 3), _n(3, 3))),
    (l_cholesky, lambda: (spd(3, 3), _n(3, 3))),
    (l_eigh, lambda: (sym_distinct(3), _n(3), _n(3, 3))),
    (l_svd, lambda: (distinct_sv(4, 3), _n(3), _n(4, 3), _n(3, 3))),
    (l_svd, lambda: (distinct_sv(2, 4), _n(2), _n(2, 2), _n(2, 4))),
    (l_solve, lambda: (wellcond(2, 3, 3), _n(3), _n(2, 3))),
    (l_norm_matrix_axes, lambda: (_n(3, 4, 5), _n(1, 4, 1))),
    (l_dot_nd, lambda: (_n(2, 3, 4), _n(4), _n(4, 5), _n(2, 3))),
    (l_diag, lambda: (_n(3, 5), _n(3))),
])
def test_hvp(fn, make):
    args = make()
    check_hvp(fn, args, 0, rtol=2e-5, atol=2e-6)
    if fn is l_solve_sq:
        check_hvp(fn, args, 1)


# ---------------------------------------------------------------------------------------------
# Realistic losses


def gaussian_nll(mu, S, X):
    n, d = X.shape
    R = X - mu
    sign, logdet = np.linalg.slogdet(S)
    quad = np.sum(R * np.linalg.solve(S, R.T).T)
    return 0.5 * (n * logdet + quad + n * d * np.log(2 * np.pi))


def ridge(lam, X, y, Xv, yv):
    d = X.shape[1]
    w = np.linalg.solve(X.T @ X + lam * np.eye(d), X.T @ y)
    return np.mean((Xv @ w - yv) ** 2)


def info_nce(Z1, Z2, tau=0.2):
    Z1 = Z1 / np.linalg.norm(Z1, axis=1, keepdims=True)
    Z2 = Z2 / np.linalg.norm(Z2, axis=1, keepdims=True)
    sim = Z1 @ Z2.T / tau
    sim = sim - sim.max(axis=1, keepdims=True)
    logp = sim - np.log(np.sum(np.exp(sim), axis=1, keepdims=True))
    return -np.mean(np.diag(logp))


def attention(X, Wq, Wk, Wv):
    Q = np.einsum("btd,de->bte", X, Wq)
    K = np.einsum("btd,de->bte", X, Wk)
    V = np.einsum("btd,de->bte", X, Wv)
    s = np.einsum("bqe,bke->bqk", Q, K) / np.sqrt(Q.shape[-1])
    s = s - s.max(axis=-1, keepdims=True)
    p = np.exp(s)
    p = p / p.sum(axis=-1, keepdims=True)
    out = np.einsum("bqk,bke->bqe", p, V)
    return np.sum(out ** 2) / out.size


def frobenius_regularised(W, X, Y, lam=0.1):
    return np.mean((X @ W - Y) ** 2) + lam * np.linalg.norm(W, "fro") ** 2 + lam * np.linalg.norm(W)


def test_gaussian_nll():
    d = 4
    args = (_n(d), spd(d, d), _n(20, d))
    check(gaussian_nll, args, (0, 1), rtol=1e-5)
    check_hvp(gaussian_nll, args, 0)
    check_hvp(gaussian_nll, args, 1)


def test_ridge_regression():
    args = (0.7, _n(12, 4), _n(12), _n(5, 4), _n(5))
    check(ridge, args, (0, 1), rtol=1e-5)
    g = gradc.grad(ridge, wrt=0)(*args)
    assert isinstance(g, float)
    check_hvp(ridge, args, 1)


def test_info_nce():
    args = (_n(6, 5), _n(6, 5))
    check(info_nce, args, (0, 1), rtol=1e-5)
    check_hvp(info_nce, args, 0)


def test_attention():
    args = (_n(2, 5, 4), _n(4, 3) / 2, _n(4, 3) / 2, _n(4, 3) / 2)
    check(attention, args, (0, 1, 2, 3), rtol=1e-5)
    check_hvp(attention, args, 1)


def test_frobenius_regulariser():
    args = (_n(3, 2), _n(8, 3), _n(8, 2))
    check(frobenius_regularised, args, 0)
    check_hvp(frobenius_regularised, args, 0)


# ---------------------------------------------------------------------------------------------
# Conventions at points without a derivative


def test_norm_gradient_at_zero_is_zero():
    """The 2-norm (and p-norms) at x = 0: gradc returns the subgradient 0."""
    g = gradc.grad(l_norm_vec)(np.zeros(4))
    assert np.array_equal(g, np.zeros(4))
    g = gradc.grad(l_norm_axis)(np.zeros((4, 3)), np.ones(4))
    assert np.array_equal(g, np.zeros((4, 3)))
    X = _n(4, 3)
    X[1] = 0.0  # one zero row among others: only that row's gradient is 0
    g = gradc.grad(l_norm_axis)(X, np.ones(4))
    assert np.all(np.isfinite(g))
    v, d = gradc.jvp(l_norm_vec, (np.zeros(3),), np.ones(3))
    assert v == 0.0 and d == 0.0


def l_eigvec_first(A, c):
    w, V = np.linalg.eigh(A)
    return np.sum(V * c)


def test_eigh_degenerate_eigenvalues():
    """Eigenvalue gradients stay finite; eigenvector gradients are NaN (undefined)."""
    A = np.diag([1.0, 1.0, 3.0])
    gw = gradc.grad(l_eigvalsh)(A, np.array([1.0, 2.0, 3.0]))
    assert np.all(np.isfinite(gw))
    gv = gradc.grad(l_eigvec_first)(A, np.ones((3, 3)))
    assert np.any(np.isnan(gv))
    # nearly degenerate (gap 1e-9) but valid: eigenvalue gradients are V diag(c) V^T, folded
    q, _ = np.linalg.qr(_n(3, 3))
    B = (q * np.array([1.0, 1.0 + 1e-9, 3.0])) @ q.T
    c = np.array([1.0, 2.0, 3.0])
    w, V = np.linalg.eigh(B)
    full = (V * c) @ V.T
    expected = np.tril(full + full.T, -1) + np.diag(np.diag(full))
    np.testing.assert_allclose(gradc.grad(l_eigvalsh)(B, c), expected, rtol=1e-6, atol=1e-6)


def test_svd_values_at_repeated_and_zero_singular_values():
    A = np.diag([2.0, 2.0, 0.0])
    g = gradc.grad(l_svd_values)(A, np.array([1.0, 1.0, 1.0]))
    assert np.all(np.isfinite(g))


def test_det_of_a_singular_matrix_raises_numpys_error():
    A = np.array([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(np.linalg.LinAlgError):
        gradc.grad(l_det)(A, 1.0)


# ---------------------------------------------------------------------------------------------
# np.linalg.pinv and np.linalg.eig (real eigenvalues): random well-conditioned matrices


def l_pinv(A, c):
    return np.sum(np.linalg.pinv(A) * c)


def l_pinv_gram(X, c):
    """The pseudo-inverse of a rank-deficient Gram matrix (rank min(n, m) < m when n < m)."""
    return np.sum(np.linalg.pinv(np.swapaxes(X, -1, -2) @ X) * c)


def l_pinv_rcond(A, c):
    return np.sum(np.linalg.pinv(A, rcond=1e-8) * c) + np.sum(np.linalg.pinv(A, rtol=1e-9) * c)


def l_eig(A, c, d):
    w, V = np.linalg.eig(A)
    return np.sum(w * c) + np.sum(V ** 2 * d)  # V ** 2: independent of each column's sign


def l_eig_result(A, c, d):
    res = np.linalg.eig(A)
    return np.sum(res.eigenvalues * c) + np.sum(res.eigenvectors * d) * 0.0 + np.sum(np.linalg.eigvals(A) ** 2)


def l_eigvals(A, c):
    return np.sum(np.linalg.eigvals(A) * c)


def l_eig_hvp_loss(A):
    w, V = np.linalg.eig(A)
    return np.sum(w ** 3) + np.sum(V[0] ** 2)


def real_eig(n, batch=()):
    """Q diag(w) Q^-1 with Q well conditioned and real, distinct eigenvalues (not symmetric)."""
    out = np.empty(batch + (n, n))
    for idx in np.ndindex(*batch):
        q = _n(n, n) / np.sqrt(n) + 2.0 * np.eye(n)
        w = np.arange(n) * 0.8 - 1.2 + RNG.uniform(-0.1, 0.1, n)
        out[idx] = (q * w) @ np.linalg.inv(q)
    return out


@pytest.mark.parametrize("shape", [(3, 3), (5, 2), (2, 5), (4, 6), (2, 4, 3), (3, 3, 5)])
def test_pinv(shape):
    A = _n(*shape)
    check(l_pinv, (A, _n(*shape[:-2], shape[-1], shape[-2])), 0, rtol=1e-5, atol=1e-6)
    check(l_pinv_rcond, (A, _n(*shape[:-2], shape[-1], shape[-2])), 0, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 6)])
def test_pinv_of_a_rank_deficient_gram_matrix(shape):
    """X^T X has rank min(n, m): constant under perturbations of X, so the derivative of the
    fixed-rank pseudo-inverse is the derivative of the function."""
    X = _n(*shape)
    m = shape[-1]
    check(l_pinv_gram, (X, _n(*shape[:-2], m, m)), 0, rtol=1e-5, atol=1e-6)
    check_hvp(l_pinv_gram, (X, _n(*shape[:-2], m, m)), 0, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n,batch", [(1, ()), (2, ()), (4, ()), (6, ()), (3, (2,))])
def test_eig_with_real_eigenvalues(n, batch):
    A = real_eig(n, batch)
    assert not np.iscomplexobj(np.linalg.eigvals(A))
    check(l_eig, (A, _n(*batch, n), _n(*A.shape)), 0, rtol=1e-5, atol=1e-6)
    check(l_eig_result, (A, _n(*batch, n), _n(*A.shape)), 0, rtol=1e-5, atol=1e-6)


def test_eig_hessian_vector_product():
    check_hvp(l_eig_hvp_loss, (real_eig(4),), 0, rtol=1e-4, atol=1e-5)


def test_eig_values_and_vectors_are_numpys():
    A = real_eig(5)
    c = gradc.compile(l_eig, wrt=0, args=(A, _n(5), _n(5, 5)))
    w, V = np.linalg.eig(A)
    assert c.value(A, np.ones(5), np.zeros((5, 5))) == np.sum(w)
    assert "eig_real" in c.source and "np.linalg.eig(a)" in c.source


def test_eig_of_a_matrix_with_complex_eigenvalues_raises_at_run_time():
    """gradc's arrays are real: where NumPy's eig would return complex numbers, the compiled code
    raises LinAlgError (value and gradient alike), never a real part silently."""
    rotation = np.array([[0.0, -1.0], [1.0, 0.0]])
    for fn in (gradc.compile(l_eig, wrt=0, args=(np.eye(2), _n(2), _n(2, 2))).value, gradc.grad(l_eig)):
        with pytest.raises(np.linalg.LinAlgError, match="complex eigenvalues"):
            fn(rotation, _n(2), _n(2, 2))


def test_eig_degenerate_eigenvalues_give_nan_vector_gradients():
    A = np.diag([1.0, 1.0, 2.0])
    g = gradc.grad(l_eig)(A, np.zeros(3), np.ones((3, 3)))
    assert np.any(np.isnan(g))
    g = gradc.grad(l_eigvals)(A, np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(g, np.diag([1.0, 2.0, 3.0]))  # the values' gradient is fine


def l_norm_of_list(x):
    return np.linalg.norm([x, x + 2]) + np.linalg.norm((x, 2 * x, 1.0), ord=1)


def test_norm_of_a_list_of_traced_values():
    check(l_norm_of_list, (0.3,), 0, jvp=False)
    check(l_norm_of_list, (-1.7,), 0, jvp=False)


# ---------------------------------------------------------------------------------------------
# Refusals


def r_svd_hermitian(A):
    return np.sum(np.linalg.svd(A, hermitian=True)[1])


def r_einsum_out(A):
    return np.einsum("ij->", A, out=None, dtype=np.float32)


def r_trace_out(A):
    return np.trace(A, out=A)


def r_svd_full(A):
    U, s, Vh = np.linalg.svd(A)
    return np.sum(U ** 2)


def r_norm_bad(A):
    return np.linalg.norm(A, "max")


def r_norm_3d_ord(T):
    return np.linalg.norm(T, 2)


def r_einsum_bad(A, B):
    return np.sum(np.einsum("ij,kl->ik", A, B) + np.einsum("ij,jk->ik", A, B))


def r_cross_bad(a, b):
    return np.sum(np.cross(a, b))


def r_power_float(A):
    return np.sum(np.linalg.matrix_power(A, 2.0))


def r_pinv_hermitian(A):
    return np.sum(np.linalg.pinv(A, hermitian=True))


def r_pinv_traced_rcond(A, r):
    return np.sum(np.linalg.pinv(A, rcond=r))


@pytest.mark.parametrize("fn,args,match", [
    (r_svd_hermitian, (np.eye(3),), "hermitian"),
    (r_pinv_hermitian, (np.eye(3),), "hermitian"),
    (r_pinv_traced_rcond, (np.eye(3), 1e-3), "rcond"),
    (r_einsum_out, (np.eye(3),), "dtype"),
    (r_trace_out, (np.eye(3),), "out"),
    (r_svd_full, (np.ones((4, 3)) + np.eye(4, 3),), "full_matrices"),
    (r_norm_bad, (np.eye(3),), "norm order"),
    (r_norm_3d_ord, (np.ones((2, 2, 2)),), "dimensions"),
    (r_einsum_bad, (np.ones((2, 3)), np.ones((4, 4))), "einsum"),
    (r_cross_bad, (np.ones(4), np.ones(4)), "dimension"),
    (r_power_float, (np.eye(2),), "integer"),
])
def test_refusals(fn, args, match):
    with pytest.raises(CompileError, match=match):
        gradc.grad(fn)(*args)


# ---------------------------------------------------------------------------------------------
# Every parameter of every function this family lowers: a non-default value gives NumPy's result
# exactly, or a CompileError (never a silently ignored parameter). Like test_trust_frontend's
# enumeration, which covers np.* entries; this one covers np.linalg.* and the tuple results.


LINALG_CANDIDATES = {
    "ord": ["None", "1", "2", "-2", "np.inf", "-np.inf", "'fro'", "'f'", "'nuc'", "0", "3", "-1", "0.5", "'x'"],
    "axis": ["0", "-1", "(0, 1)", "(1, 0)", "None", "(0, 0)", "5"], "keepdims": ["True"],
    "UPLO": ["'U'", "'X'"], "upper": ["True"], "full_matrices": ["False", "True"],
    "compute_uv": ["False"], "hermitian": ["True"], "n": ["0", "1", "3", "-1", "-3", "2.0"],
    "offset": ["1", "-1", "7"], "axis1": ["1", "-1"], "axis2": ["0", "1"], "k": ["1", "-2"],
    "axes": ["1", "0", "([1], [0])", "([0, 1], [1, 0])"], "axisa": ["0"], "axisb": ["0"], "axisc": ["0"],
    "out": ["OUT"], "optimize": ["True", "'greedy'"], "dtype": ["np.float32", "np.float64"],
    "rcond": ["1e-3", "None", "0.9"], "rtol": ["1e-3", "0.9"],
}
LINALG_BASE = {
    "solve": ["Y, V", "Y, Y23.T"], "tensordot": ["Y, Y"], "inner": ["X, Y23"], "kron": ["V, X"],
    "cross": ["Y, Y"], "einsum": ["'ij,jk->ik', X, Y"], "dot": ["X, Y", "T, V"], "multi_dot": ["[V, Y, Y]"],
    "diag": ["V", "X"], "matrix_power": ["Y, 2"], "cholesky": ["S"], "eigh": ["S"], "eigvalsh": ["S"],
    "eig": ["S"], "eigvals": ["S"], "pinv": ["X", "Y", "T"],
}
RESULTS = {"slogdet": 2, "eigh": 2, "svd": 3, "eig": 2}


def _linalg_cases():
    for fn in numpy_linalg.TABLE:
        name = fn.__name__
        module = "np.linalg" if fn is getattr(np.linalg, name, None) else "np"
        sig = inspect.signature(fn)
        for base in LINALG_BASE.get(name, ["X"] if name != "det" else ["Y"]):
            picks = [f"[{k}]" for k in range(RESULTS[name])] if name in RESULTS else [""]
            for pname, p in sig.parameters.items():
                if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or (p.default is p.empty and p.kind is not p.KEYWORD_ONLY):
                    continue
                for value in LINALG_CANDIDATES.get(pname, []):
                    for pick in picks:
                        yield f"{module}.{name}({base}, {pname}={value}){pick}"
            for pick in picks:
                yield f"{module}.{name}({base}){pick}"


def _combinations():
    for ord_ in LINALG_CANDIDATES["ord"]:
        for axis in ["0", "1", "(0, 1)", "(1, 0)", "(0, 2)", "(2, 1)", "-1", "None"]:
            for base in ("X", "T"):
                yield f"np.linalg.norm({base}, ord={ord_}, axis={axis}, keepdims=True)"
    for n in LINALG_CANDIDATES["n"]:
        yield f"np.linalg.matrix_power(Y, {n})"
        yield f"np.linalg.matrix_power(T[:, :3, :3], {n})"
    for offset in ("0", "1", "-1", "3"):
        for a1, a2 in (("0", "1"), ("1", "0"), ("0", "2"), ("-1", "1")):
            yield f"np.trace(T, {offset}, {a1}, {a2})"
            yield f"np.diagonal(T, {offset}, {a1}, {a2})"
    for spec in ("'ij,jk'", "'ii'", "'ii->i'", "'ij->'", "'...j,j'", "'ij,ij->'", "'ij,ji'", "'i,i->i'"):
        yield f"np.einsum({spec}, Y, Y)" if "," in spec else f"np.einsum({spec}, Y)"
    yield "np.einsum(Y, [0, 1], Y, [1, 2])"
    yield "np.einsum(Y, [0, 0])"
    yield "np.einsum(T, [..., 0], [...])"
    yield "np.einsum(T, [0, ...], V[:2], [0])"
    for k in ("0", "1", "-1", "5"):
        yield f"np.tril(T, {k})"
        yield f"np.triu(V, {k})"
        yield f"np.diag(V, {k})"
        yield f"np.diag(X, {k})"


LINALG_CASES = sorted(set(_linalg_cases()) | set(_combinations()))


@pytest.fixture(scope="module")
def linalg_generated(tmp_path_factory):
    import importlib.util
    import sys
    path = tmp_path_factory.mktemp("linalg") / "linalg_generated_calls.py"
    lines = ["import numpy as np", ""]
    for k, expr in enumerate(LINALG_CASES):
        lines += [f"def case_{k}(X, Y, Y23, V, S, T):", f"    return {expr}", ""]
    path.write_text("\n".join(lines))
    spec = importlib.util.spec_from_file_location("linalg_generated_calls", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["linalg_generated_calls"] = mod
    spec.loader.exec_module(mod)
    mod.OUT = np.zeros((2, 3))
    return mod


def test_linalg_enumeration_covers_the_table():
    names = {c.split("(")[0] for c in LINALG_CASES}
    assert {"np.linalg.norm", "np.linalg.svd", "np.einsum", "np.trace", "np.linalg.eigh"} <= names
    assert len(LINALG_CASES) > 300


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("k", range(len(LINALG_CASES)), ids=LINALG_CASES)
def test_every_linalg_parameter_is_implemented_exactly_or_refused(linalg_generated, k):
    fn = getattr(linalg_generated, f"case_{k}")
    a = np.array([[2.0, -1.0, 0.5], [0.3, 1.5, -0.7]])
    y = np.array([[2.0, 0.3, -0.4], [0.1, -1.7, 0.6], [0.5, 0.2, 2.2]])
    s = y @ y.T + np.eye(3)
    args = (a, y, np.linspace(0.2, 1, 6).reshape(2, 3), np.array([0.2, -0.5, 0.9]), s,
            np.arange(24.0).reshape(2, 3, 4) / 10)
    linalg_generated.OUT = np.zeros((2, 3))
    try:
        expected = fn(*args)
        numpy_error = None
    except Exception as e:  # NumPy refuses: gradc must refuse too
        numpy_error = e
    linalg_generated.OUT = np.zeros((2, 3))
    try:
        got = gradc.compile(fn, wrt=0).value(*args)
    except gradc.CompileError as err:
        assert type(err).__name__ != "InternalError", str(err)
        return
    except np.linalg.LinAlgError:  # data-dependent (a singular matrix): NumPy's own error, at run time
        assert isinstance(numpy_error, np.linalg.LinAlgError)
        return
    assert numpy_error is None, f"NumPy raises {numpy_error!r}, gradc computed {got!r}"
    expected, got = np.asarray(expected), np.asarray(got)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype, f"{got.dtype} != {expected.dtype}"
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def _f16_det(x):
    return np.linalg.det(x)


def _f16_norm2(x):
    return np.linalg.norm(x, 2)


def _f16_eigh(x):
    return np.sum(np.linalg.eigh(x)[0])


def _f16_fro(x):
    return np.linalg.norm(x)


@pytest.mark.parametrize("fn", [_f16_det, _f16_norm2, _f16_eigh])
def test_float16_linear_algebra_is_refused_as_numpy_raises(fn):
    """LAPACK has no half precision: NumPy raises TypeError, gradc refuses at compile time
    (the generated code raised NumPy's TypeError at run time)."""
    x = (np.eye(3) + 0.1).astype(np.float16)
    with pytest.raises(TypeError):
        fn(x)
    with pytest.raises(gradc.CompileError, match="float16 is unsupported in linalg"):
        gradc.value_and_grad(fn)(x)


def test_float16_norms_numpy_computes_still_work():
    x = (np.eye(3) + 0.1).astype(np.float16)
    value, g = gradc.value_and_grad(_f16_fro)(x)
    assert value == _f16_fro(x) and g.dtype == np.float16
