"""Linear algebra: norms, solves, inverses, determinants, factorizations, quadratic forms."""
import numpy as np

from . import case


def _n(r, *shape):
    return r.normal(size=shape)


def _spd(r, n):
    A = r.normal(size=(n, n))
    return A @ A.T + n * np.eye(n)


def _wellcond(r, n):
    return r.normal(size=(n, n)) + 3 * np.eye(n)


def least_squares_norm(x, A, b):
    return np.linalg.norm(A @ x - b) ** 2


case(least_squares_norm, wrt="x", tags=("real_numpy",), args=lambda r: (_n(r, 3), _n(r, 5, 3), _n(r, 5)))


def frobenius_reg(W, X, Y, lam=0.1):
    return np.sum((X @ W - Y) ** 2) + lam * np.linalg.norm(W, "fro")


case(frobenius_reg, wrt="W", tags=("real_numpy",), args=lambda r: (_n(r, 3, 2), _n(r, 5, 3), _n(r, 5, 2)))


def inverse_loss(A, b):
    return np.sum(np.linalg.inv(A) @ b)


case(inverse_loss, wrt=("A", "b"), tags=("real_numpy",), args=lambda r: (_wellcond(r, 3), _n(r, 3)))


def solve_loss(A, b):
    x = np.linalg.solve(A, b)
    return x @ x


case(solve_loss, wrt=("A", "b"), tags=("real_numpy",), args=lambda r: (_wellcond(r, 3), _n(r, 3)))


def det_loss(A):
    return np.linalg.det(A) ** 2


case(det_loss, wrt="A", tags=("real_numpy",), args=lambda r: (_wellcond(r, 3),))


def slogdet_loss(A):
    sign, logdet = np.linalg.slogdet(A)
    return logdet


case(slogdet_loss, wrt="A", tags=("real_numpy",), args=lambda r: (_wellcond(r, 3),))


def cholesky_logdet(A):
    S = A @ A.T + 0.5 * np.eye(A.shape[0])
    L = np.linalg.cholesky(S)
    return 2 * np.sum(np.log(np.diag(L)))


case(cholesky_logdet, wrt="A", tags=("real_numpy",), args=lambda r: (_n(r, 3, 3),))


def gaussian_nll_slogdet(mu, S, x):
    r = x - mu
    sign, logdet = np.linalg.slogdet(S)
    n = len(x)
    return 0.5 * (logdet + r @ np.linalg.solve(S, r) + n * np.log(2 * np.pi))


case(gaussian_nll_slogdet, wrt=("mu", "S"), tags=("real_numpy",), args=lambda r: (_n(r, 3), _spd(r, 3), _n(r, 3)))


def ridge_closed_form(lam, X, y, Xv, yv):
    d = X.shape[1]
    w = np.linalg.solve(X.T @ X + lam * np.eye(d), X.T @ y)
    return np.mean((Xv @ w - yv) ** 2)


case(ridge_closed_form, wrt=("lam", "X"), tags=("real_numpy",),
     args=lambda r: (0.5, _n(r, 8, 3), _n(r, 8), _n(r, 4, 3), _n(r, 4)))


def quadratic_form(x, A):
    return x @ A @ x + 0.5 * x.dot(A.T.dot(x))


case(quadratic_form, wrt=("x", "A"), args=lambda r: (_n(r, 3), _n(r, 3, 3)))


def mahalanobis_inv(x, mu, S):
    d = x - mu
    return d @ np.linalg.inv(S) @ d


case(mahalanobis_inv, wrt=("x", "S"), tags=("real_numpy",), args=lambda r: (_n(r, 3), _n(r, 3), _spd(r, 3)))


def eigh_sum_top(A):
    evals, evecs = np.linalg.eigh(A + A.T)
    return evals[-1] + 0.5 * np.sum(evals ** 2)


case(eigh_sum_top, wrt="A", args=lambda r: (_n(r, 3, 3),))


def nuclear_norm(A):
    return np.sum(np.linalg.svd(A, compute_uv=False))


case(nuclear_norm, wrt="A", args=lambda r: (_n(r, 4, 3),))


def rowwise_norm(X):
    return np.sum(np.linalg.norm(X, axis=1)) + np.linalg.norm(X[0], ord=1)


case(rowwise_norm, wrt="X", tags=("real_numpy",), args=lambda r: (_n(r, 4, 3),))


def outer_kron(u, v):
    M = np.outer(u, v)
    K = np.kron(u, v)
    return np.sum(M ** 2) + np.sum(np.sin(K))


case(outer_kron, wrt=("u", "v"), args=lambda r: (_n(r, 3), _n(r, 2)))


def cross_product_loss(a, b):
    c = np.cross(a, b)
    return np.dot(c, c)


case(cross_product_loss, wrt=("a", "b"), args=lambda r: (_n(r, 3), _n(r, 3)))


def gp_marginal_likelihood(log_ell, X, y):
    ell = np.exp(log_ell)
    d2 = np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1)
    K = np.exp(-0.5 * d2 / ell ** 2) + 0.1 * np.eye(len(y))
    L = np.linalg.cholesky(K)
    alpha = np.linalg.solve(K, y)
    return 0.5 * y @ alpha + np.sum(np.log(np.diag(L)))


case(gp_marginal_likelihood, wrt="log_ell", tags=("real_numpy",), args=lambda r: (0.2, _n(r, 5, 2), _n(r, 5)))


def matrix_power_trace(A):
    return np.trace(np.linalg.matrix_power(A, 3))


case(matrix_power_trace, wrt="A", args=lambda r: (0.5 * _n(r, 3, 3),))


def procrustes_like(A, B):
    M = A.T @ B
    return np.linalg.norm(M, "fro") ** 2 - 2 * np.trace(M)


case(procrustes_like, wrt="A", tags=("real_numpy",), args=lambda r: (_n(r, 4, 3), _n(r, 4, 3)))


def logdet_via_slogdet_batch(As):
    sign, logdet = np.linalg.slogdet(As)
    return np.sum(logdet)


case(logdet_via_slogdet_batch, wrt="As", tags=("real_numpy",),
     args=lambda r: (np.stack([_wellcond(r, 3) for _ in range(2)]),))


def solve_matrix_rhs(A, B):
    X = np.linalg.solve(A, B)
    return np.sum(X ** 2)


case(solve_matrix_rhs, wrt=("A", "B"), tags=("real_numpy",), args=lambda r: (_wellcond(r, 3), _n(r, 3, 2)))


def inv_det_combo(A):
    return np.linalg.det(np.linalg.inv(A)) + np.trace(np.linalg.inv(A @ A.T))


case(inv_det_combo, wrt="A", tags=("real_numpy",), args=lambda r: (_wellcond(r, 3),))


def dot_matmul_shapes(W, v, M):
    return np.dot(W, v) @ np.matmul(M, v) + np.sum(np.dot(M, M))


case(dot_matmul_shapes, wrt=("W", "v", "M"), args=lambda r: (_n(r, 3, 3), _n(r, 3), _n(r, 3, 3)))


def vector_norm_ord_inf(x):
    return np.linalg.norm(x, ord=np.inf) + np.linalg.norm(x, 3)


case(vector_norm_ord_inf, wrt="x", args=lambda r: (np.array([0.3, -1.4, 0.8, 0.5]),))
