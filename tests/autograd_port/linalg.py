"""autograd tests/test_linalg.py, case by case (HIPS/autograd, MIT licence).

autograd's `np.linalg._dot(np.linalg.T(x), x)` is NumPy's `np.swapaxes(x, -1, -2) @ x`;
`check_symmetric_matrix_grads` differentiates through its `symmetrize` helper.
"""
import numpy as np

from .shims import Port

P = Port("test_linalg", __name__, seed=1)
R, C = P.R, P.C
H = set()


def helper(fn):
    H.add(fn.__name__)
    return fn


def check(test, fun, *args, note="", **kwargs):
    """check_grads(fun)(*args) of autograd's test `test` (argnum 0, reverse mode)."""
    P.in_test(test).check_grads(fun, 0, helpers=(fun,) if fun in H else (), note=note)(*args, **kwargs)


def rand_psd(D):
    mat = R(D, D)
    return np.dot(mat, mat.T)


@helper
def symmetrize(A):
    L = np.tril(A)
    return (L + np.swapaxes(L, -1, -2)) / 2.0


mat = R(8, 8)
check("test_inv", "np.linalg.inv", np.dot(mat, mat) + 1.0 * np.eye(8))


@helper
def pinv_low_rank(x):
    return np.linalg.pinv(np.swapaxes(x, -1, -2) @ x)


for M in range(2, 8):
    check("test_pinv", "np.linalg.pinv", R(5, M))
    check("test_pinv", "np.linalg.pinv", R(2, 5, M))
for M in range(2, 8):
    check("test_pinv", "pinv_low_rank", R(5, M))
    check("test_pinv", "pinv_low_rank", R(2, 5, M))

check("test_inv_3d", "np.linalg.inv", R(4, 4, 4) + 5 * np.eye(4))
check("test_inv_3d", "np.linalg.inv", R(4, 4, 4, 4) + 5 * np.eye(4))


@helper
def solve_arg1(a, B):
    return np.linalg.solve(a, B)


@helper
def solve_arg2(b, A):
    return np.linalg.solve(A, b)


@helper
def solve_arg1_3d(A, B):
    return np.linalg.solve(A, B[..., None])[..., 0]


A, B = R(8, 8) + 10.0 * np.eye(8), R(8, 7)
check("test_solve_arg1", "solve_arg1", A, B)
A, B = R(8, 8) + 10.0 * np.eye(8), R(8)
check("test_solve_arg1_1d", "solve_arg1", A, B)
A, B = R(6, 6) + 1.0 * np.eye(6), R(6, 5)
check("test_solve_arg2", "solve_arg2", B, A)
A, B = R(5, 4, 4) + 5 * np.eye(4), R(5, 4)
check("test_solve_arg1_3d", "solve_arg1_3d", A, B)
A, B = R(5, 4, 4) + 5 * np.eye(4), R(5, 4, 6)
check("test_solve_arg1_3d_3d", "solve_arg1", A, B)
check("test_det", "np.linalg.det", R(6, 6))
check("test_det_3d", "np.linalg.det", R(3, 3, 3))


@helper
def slogdet_fun(x):
    _sign, logdet = np.linalg.slogdet(x)
    return logdet


@helper
def slogdet_3d(x):
    return np.sum(np.linalg.slogdet(x)[1])


mat = R(6, 6)
check("test_slogdet", "slogdet_fun", mat)
check("test_slogdet", "slogdet_fun", -mat)
check("test_slogdet_3d", "slogdet_3d", np.concatenate([(rand_psd(5) + 5 * np.eye(5))[None, ...] for _ in range(3)]))
check("test_vector_2norm", "np.linalg.norm", R(6))


@helper
def norm_list(x):
    return np.linalg.norm([x, x + 2])


@helper
def norm_tuple(x):
    return np.linalg.norm((x, x + 2))


check("test_norm_list_of_boxes", "norm_list", 0.0)
check("test_norm_list_of_boxes", "norm_tuple", 0.0)
check("test_vector_2norm_complex", "np.linalg.norm", R(6) + 1j * R(6))
check("test_frobenius_norm", "np.linalg.norm", R(6, 5))
check("test_frobenius_norm_complex", "np.linalg.norm", R(6, 5) + 1j * R(6, 5))
check("test_frobenius_norm_axis", "np.linalg.norm", R(6, 5, 4), axis=(0, 1))
check("test_frobenius_norm_axis_complex", "np.linalg.norm", R(6, 5, 4) + 1j * R(6, 5, 4), axis=(0, 1))
for ord in range(2, 5):
    check("test_vector_norm_ord", "np.linalg.norm", R(6), ord=ord)
for ord in range(2, 5):
    check("test_vector_norm_ord_complex", "np.linalg.norm", R(6) + 1j * R(6), ord=ord)
for axis in range(3):
    check("test_norm_axis", "np.linalg.norm", R(6, 5, 4), axis=axis)
for axis in range(3):
    check("test_norm_axis_complex", "np.linalg.norm", R(6, 5, 4) + 1j * R(6, 5, 4), axis=axis)
check("test_norm_nuclear", "np.linalg.norm", R(6, 5), ord="nuc")
check("test_norm_nuclear_complex", "np.linalg.norm", R(6, 5) + 1j * R(6, 5), ord="nuc")
check("test_norm_nuclear_axis", "np.linalg.norm", R(6, 5, 4), ord="nuc", axis=(0, 1))
check("test_norm_nuclear_axis_complex", "np.linalg.norm", R(6, 5, 4) + 1j * R(6, 5, 4), ord="nuc", axis=(0, 1))


@helper
def eigh_lower(x):
    w, v = np.linalg.eigh(x)
    return (w, v)


@helper
def eigh_upper(x):
    w, v = np.linalg.eigh(x, "U")
    return (w, v)


@helper
def eigh_lower_abs(x):
    w, v = np.linalg.eigh(x)
    return (w, np.abs(v))


@helper
def eigh_upper_abs(x):
    w, v = np.linalg.eigh(x, "U")
    return (w, np.abs(v))


@helper
def eig_real(x):
    w, v = np.linalg.eig(x)
    return (np.abs(w), np.abs(v))


@helper
def eig_abs_v(x):
    w, v = np.linalg.eig(x)
    return (w, np.abs(v))


check("test_eigvalh_lower", "eigh_lower", R(6, 6))
check("test_eigvalh_upper", "eigh_upper", R(6, 6))
for test, fun in [("test_eigvalh_lower_broadcasting", "eigh_lower"), ("test_eigvalh_upper_broadcasting", "eigh_upper")]:
    mat = R(2, 3, 6, 6) + 10 * np.eye(6)[None, None, ...]
    check(test, fun, np.einsum("...ij,...kj->...ik", mat, mat))
check("test_eigvalh_lower_complex", "eigh_lower_abs", R(6, 6) + 1j * R(6, 6))
check("test_eigvalh_upper_complex", "eigh_upper_abs", R(6, 6) + 1j * R(6, 6))
mat = R(8, 8)  # a real matrix whose eigenvalues are complex: out of scope (gradc refuses them at run time)
check("test_eig_real", "eig_real", mat,
      note="complex eigenvalues" if np.iscomplexobj(np.linalg.eigvals(mat)) else "")
check("test_eig_complex", "eig_abs_v", R(8, 8) + 1.0j * R(8, 8))
check("test_eig_batched", "eig_abs_v", R(5, 8, 8) + 1.0j * R(5, 8, 8))


@helper
def cholesky_sym(A):
    return np.linalg.cholesky(symmetrize(A))


@helper
def cholesky_reparameterization_trick(A, z0):
    z = np.dot(np.linalg.cholesky(symmetrize(A)), z0)
    return np.linalg.norm(z)


check("test_cholesky", "cholesky_sym", rand_psd(6))
check("test_cholesky_broadcast", "cholesky_sym", np.concatenate([rand_psd(6)[None, :, :] for i in range(3)], axis=0))
# autograd draws z0 inside the function from RandomState(0); it is an argument here
check("test_cholesky_reparameterization_trick", "cholesky_reparameterization_trick", rand_psd(6),
      np.random.RandomState(0).randn(6))


@helper
def svd_reduced(x):
    u, s, v = np.linalg.svd(x, full_matrices=False)
    return (u, s, v)


@helper
def svd_reduced_abs(x):
    u, s, v = np.linalg.svd(x, full_matrices=False)
    return (np.abs(u), s, np.abs(v))


@helper
def svd_only_s(x):
    s = np.linalg.svd(x, full_matrices=False, compute_uv=False)
    return s


for kind, shapes in [("wide", [(3, 5), (4, 3, 5)]), ("square", [(4, 4), (3, 4, 4)]), ("tall", [(5, 3), (4, 5, 3)])]:
    for shape in shapes:
        d = f"{len(shape)}d"
        check(f"test_svd_{kind}_{d}", "svd_reduced", R(*shape))
        check(f"test_svd_{kind}_{d}_complex", "svd_reduced_abs", R(*shape) + 1j * R(*shape))
for shape in [(5, 3), (4, 5, 3)]:
    d = f"{len(shape)}d"
    check(f"test_svd_only_s_{d}", "svd_only_s", R(*shape))
    check(f"test_svd_only_s_{d}_complex", "svd_only_s", R(*shape) + 1j * R(*shape))

CASES = P.cases
