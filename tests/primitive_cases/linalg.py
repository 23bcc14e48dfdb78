"""Registry-test cases for the linear-algebra primitives: einsum and vector_norm
(primitives/linalg.py), inv, solve, det, logabsdet, slogdet_sign, cholesky, eigh_values,
eigh_vectors, svd_s, svd_u, svd_vh, pinv, eig_values, eig_vectors (primitives/decompositions.py).

Matrix functions need matrices where they are smooth: well-conditioned, positive definite,
or with well-separated eigenvalues / singular values. Those inputs are `In` specifications
with their own samplers (subclasses of test_primitives.In, so the registry tests treat them
as ordinary differentiable inputs).
"""
import numpy as np


def _orthogonal(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def wellcond(rng, shape):
    """A batch of random matrices shifted away from singularity (condition number ~ 3)."""
    n = shape[-1]
    return rng.standard_normal(shape) / np.sqrt(n) + 2.5 * np.eye(n)


def spd(rng, shape):
    n = shape[-1]
    a = rng.standard_normal(shape)
    return a @ np.swapaxes(a, -1, -2) / n + np.eye(n)


def sym_distinct(rng, shape):
    """Symmetric, eigenvalues spread at least 0.5 apart (eigenvectors differentiable)."""
    n = shape[-1]
    out = np.empty(shape)
    for idx in np.ndindex(*shape[:-2]):
        q = _orthogonal(rng, n)
        w = np.arange(n) * 0.7 - 1.0 + rng.uniform(-0.1, 0.1, n)
        out[idx] = (q * w) @ q.T
    return out


def distinct_sv(rng, shape):
    """Singular values spread at least 0.5 apart and >= 0.8."""
    m, n = shape[-2:]
    k = min(m, n)
    out = np.empty(shape)
    for idx in np.ndindex(*shape[:-2]):
        u = _orthogonal(rng, m)[:, :k]
        v = _orthogonal(rng, n)[:, :k]
        s = 0.8 + np.arange(k)[::-1] * 0.6 + rng.uniform(-0.05, 0.05, k)
        out[idx] = (u * s) @ v.T
    return out


def real_eig(rng, shape):
    """Non-symmetric, with real eigenvalues spread at least 0.5 apart: Q diag(w) Q^-1, Q well
    conditioned (eigenvectors differentiable, eig's results real)."""
    n = shape[-1]
    out = np.empty(shape)
    for idx in np.ndindex(*shape[:-2]):
        q = rng.standard_normal((n, n)) / np.sqrt(n) + 2.0 * np.eye(n)
        w = np.arange(n) * 0.8 - 1.2 + rng.uniform(-0.1, 0.1, n)
        out[idx] = (q * w) @ np.linalg.inv(q)
    return out


def _vector_norm_ref(x, ord=2.0, axis=None, keepdims=False):
    x = np.asarray(x, dtype=np.float64)
    if isinstance(axis, int):
        axis = (axis,)
    return np.sum(np.abs(x) ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


NUMPY_REF = {
    "einsum": lambda *xs, subscripts: np.einsum(subscripts, *xs),
    "vector_norm": _vector_norm_ref,
    "inv": np.linalg.inv,
    "solve": lambda a, b: (np.linalg.inv(a) @ b[..., None])[..., 0] if np.ndim(b) == 1
    else np.linalg.inv(a) @ b,
    "det": np.linalg.det,
    "logabsdet": lambda a: np.log(np.abs(np.linalg.det(a))),
    "slogdet_sign": lambda a: np.sign(np.linalg.det(a)),
    "cholesky": np.linalg.cholesky,
    "eigh_values": lambda a, UPLO="L": np.linalg.eigh(a, UPLO=UPLO)[0],
    "eigh_vectors": lambda a, UPLO="L": np.linalg.eigh(a, UPLO=UPLO)[1],
    "svd_s": lambda a: np.linalg.svd(a)[1],
    "svd_u": lambda a, full_matrices=False: np.linalg.svd(a, full_matrices=full_matrices)[0],
    "svd_vh": lambda a, full_matrices=False: np.linalg.svd(a, full_matrices=full_matrices)[2],
    # the Moore-Penrose conditions' solution through the normal equations (full rank)
    "pinv": lambda a, rcond=None, rtol=None: np.linalg.solve(np.swapaxes(a, -1, -2) @ a, np.swapaxes(a, -1, -2))
    if a.shape[-2] >= a.shape[-1] else np.swapaxes(np.linalg.solve(
        a @ np.swapaxes(a, -1, -2), a), -1, -2),
    "eig_values": lambda a: np.linalg.eig(a)[0],
    "eig_vectors": lambda a: np.linalg.eig(a)[1],
}


def cases(Case, I, K, Fixed, Same):
    In = type(I(1))

    def sampled(fn):
        class Spec(In):
            def sample(self, rng, domain):
                return fn(rng, self.shape).astype(self.dtype)
        Spec.__name__ = fn.__name__
        return lambda *shape: Spec(tuple(shape), "normal")

    W, P, S, D = sampled(wellcond), sampled(spd), sampled(sym_distinct), sampled(distinct_sv)
    E = sampled(real_eig)
    N = lambda *shape: I(*shape, s="normal")  # noqa: E731
    loose = dict(rtol=1e-5, atol=1e-6)
    out = {}
    out["einsum"] = [Case(ops, {"subscripts": s}) for s, ops in [
        ("ij,jk->ik", [N(2, 3), N(3, 4)]),
        ("ij,jk", [N(2, 3), N(3, 4)]),                       # implicit output
        ("ii->", [N(3, 3)]),                                  # trace
        ("ii->i", [N(3, 3)]),                                 # diagonal
        ("ii", [N(4, 4)]),                                    # implicit trace
        ("iji->j", [N(2, 3, 2)]),                             # repeated index around another
        ("ij->", [N(2, 3)]),                                  # sum of everything
        ("ij->j", [N(2, 3)]),                                 # a label only one operand has
        ("ij->ji", [N(2, 3)]),                                # transpose
        ("i,i->", [N(4), N(4)]),
        ("i,j->ij", [N(3), N(2)]),
        ("i,ij,j->", [N(3), N(3, 4), N(4)]),                  # bilinear form, three operands
        ("bqd,bkd->bqk", [N(2, 3, 4), N(2, 5, 4)]),           # attention scores
        ("...ij,...jk->...ik", [N(2, 3, 4), N(4, 2)]),        # ellipsis, different batch ranks
        ("...ij,...jk", [N(2, 1, 2, 3), N(3, 3, 2)]),         # ellipsis broadcasting 1 against 3
        ("ij,ij->ij", [N(1, 3), N(2, 3)]),                    # explicit labels broadcasting
        ("i...->...", [N(2, 3)]),
        ("...ii->...i", [N(2, 3, 3)]),
        ("ij,jk,kl->il", [N(2, 3), N(3, 3), N(3, 2)]),
        ("ij,jk->ik", [N(3, 3), Same(0)]),                    # A @ A: both contributions
        ("ij,jk->ik", [N(2, 3), K(np.arange(12.0).reshape(3, 4) / 10)]),
        ("i,i->i", [N(3), K(np.array([0.5, -1.0, 2.0]))]),
    ]]
    out["vector_norm"] = [Case([N(*shape)], params) for shape, params in [
        ((5,), {}), ((3, 4), {"axis": 1}), ((3, 4), {"axis": 0, "keepdims": True}),
        ((3, 4), {"axis": (0, 1)}), ((2, 3, 4), {"axis": (0, 2), "keepdims": True}),
        ((2, 3, 4), {}), ((2, 3, 4), {"axis": -1}), ((5,), {"ord": 3.0, "axis": 0}),
        ((3, 4), {"ord": 1.5, "axis": 1, "keepdims": True}), ((), {}),
    ]] + [Case([I(4, s="awayzero")], {"ord": 1.0, "axis": 0})]
    out["inv"] = [Case([W(3, 3)]), Case([W(5, 5)], **loose), Case([W(2, 4, 4)]), Case([W(1, 1)])]
    out["solve"] = [Case(ops) for ops in [
        [W(3, 3), N(3)], [W(4, 4), N(4, 2)], [W(2, 3, 3), N(3)], [W(2, 3, 3), N(2, 3, 1)],
        [W(2, 3, 3), N(3, 2)], [W(3, 3), N(2, 3, 2)], [W(1, 3, 3), N(2, 3, 2)],
    ]] + [Case([W(3, 3), K(np.array([1.0, -2.0, 0.5]))]), Case([K(np.eye(3) * 2.0), N(3)])]
    out["det"] = [Case([W(3, 3)]), Case([W(4, 4)], **loose), Case([W(2, 3, 3)]), Case([N(2, 2)])]
    out["logabsdet"] = [Case([W(3, 3)]), Case([W(5, 5)]), Case([W(2, 3, 3)]), Case([N(2, 2)]),
                        Case([P(4, 4)])]
    out["slogdet_sign"] = [Case([W(3, 3)]), Case([N(2, 3, 3)])]
    out["cholesky"] = [Case([P(3, 3)]), Case([P(5, 5)], **loose), Case([P(2, 3, 3)]), Case([P(1, 1)])]
    for name in ("eigh_values", "eigh_vectors"):
        out[name] = [Case([S(3, 3)]), Case([S(4, 4)], {"UPLO": "U"}, **loose), Case([S(2, 3, 3)]),
                     Case([S(1, 1)])]
        # a non-symmetric argument: only one triangle is read
        out[name].append(Case([N(3, 3)], {"UPLO": "L"}, **loose) if name == "eigh_values" else
                         Case([S(2, 2)], {"UPLO": "L"}))
    out["svd_s"] = [Case([D(3, 3)]), Case([D(4, 2)]), Case([D(2, 5)]), Case([D(2, 3, 3)], **loose)]
    for name in ("svd_u", "svd_vh"):
        out[name] = [Case([D(3, 3)], **loose), Case([D(4, 2)], **loose), Case([D(2, 4)], **loose),
                     Case([D(2, 3, 2)], **loose), Case([D(3, 3)], {"full_matrices": True}, **loose)]
    out["pinv"] = [Case([D(4, 2)]), Case([D(2, 5)], **loose), Case([W(3, 3)]), Case([D(2, 3, 2)], **loose),
                   Case([D(3, 2)], {"rcond": 1e-10}), Case([D(2, 3)], {"rtol": 1e-8})]
    for name in ("eig_values", "eig_vectors"):
        out[name] = [Case([E(3, 3)], **loose), Case([E(4, 4)], **loose), Case([E(2, 3, 3)], **loose),
                     Case([E(1, 1)])]
    return out
