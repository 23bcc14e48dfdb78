"""autograd tests/test_systematic.py, case by case (HIPS/autograd, MIT licence).

`np.X` in autograd's test is NumPy's `np.X` here; its lambdas are the helpers below.
"""
import numpy as np

from .shims import Port, binary_ufunc_check, binary_ufunc_check_no_same_args, stat_check, unary_ufunc_check

P = Port("test_systematic", __name__, seed=0)
R, C = P.R, P.C


def degrees_50(x):
    return np.degrees(x) / 50.0


def rad2deg_50(x):
    return np.rad2deg(x) / 50.0


# Array statistics functions (test_max is defined twice in autograd's file; pytest runs the second)
for name in ["max", "mean", "min", "sum", "prod", "var", "std"]:
    stat_check(P.in_test(f"test_{name}"), f"np.{name}")

# Unary ufunc tests
# (test_sin is defined twice in autograd's file; pytest runs it once)
UNARY = [("sin", None, True), ("abs", [0.1, 4.0], True), ("absolute", [0.1, 4.0], True),
         ("arccosh", [1.1, 4.0], True), ("arcsinh", [-0.9, 0.9], True), ("arctanh", [-0.9, 0.9], True),
         ("ceil", [-1.5, 1.5], False), ("cos", None, True), ("cosh", None, True), ("deg2rad", None, False),
         ("degrees", None, False), ("exp", None, True), ("exp2", None, True), ("expm1", None, True),
         ("fabs", None, False), ("floor", [-1.5, 1.5], False), ("log", [0.2, 2.0], True),
         ("log10", [0.2, 2.0], True), ("log1p", [0.2, 2.0], True), ("log2", [0.2, 2.0], True),
         ("rad2deg", None, False), ("radians", None, False), ("sign", None, False),
         ("sinh", None, True), ("sqrt", [1.0, 3.0], True), ("square", None, False),
         ("tan", [-1.1, 1.1], True), ("tanh", None, True), ("real", None, True),
         ("real_if_close", None, True), ("imag", None, True), ("conj", None, True),
         ("conjugate", None, True), ("angle", None, True)]
for name, lims, cplx in UNARY:
    fun = {"degrees": "degrees_50", "rad2deg": "rad2deg_50"}.get(name, f"np.{name}")
    helpers = (fun,) if "_50" in fun else ()
    test = {"real_if_close": "test_real_ic", "conj": "test_conj"}.get(name, f"test_{name}")
    unary_ufunc_check(P.in_test(test), fun, lims=lims, test_complex=cplx, helpers=helpers)

# Binary ufunc tests
P.in_test("test_add")
binary_ufunc_check(P, "np.add")
P.in_test("test_logaddexp")
binary_ufunc_check(P, "np.logaddexp", test_complex=False)
P.in_test("test_logaddexp2")
binary_ufunc_check(P, "np.logaddexp2", test_complex=False)
P.in_test("test_remainder")
binary_ufunc_check_no_same_args(P, "np.remainder", lims_A=[-0.9, 0.9], lims_B=[0.7, 1.9], test_complex=False)
P.in_test("test_true_divide")
binary_ufunc_check(P, "np.true_divide", lims_B=[0.8, 1.2], test_complex=False)
P.in_test("test_mod")
binary_ufunc_check_no_same_args(P, "np.mod", lims_B=[0.8, 2.1], test_complex=False)
P.in_test("test_true_divide_neg")
binary_ufunc_check(P, "np.true_divide", lims_B=[-0.3, -2.0], test_complex=False)
P.in_test("test_mod_neg")
binary_ufunc_check_no_same_args(P, "np.mod", lims_B=[-0.3, -2.0], test_complex=False)
P.in_test("test_op_mul")
binary_ufunc_check(P, "operator.mul")
P.in_test("test_op_add")
binary_ufunc_check(P, "operator.add")
P.in_test("test_op_sub")
binary_ufunc_check(P, "operator.sub")
P.in_test("test_op_mod")
binary_ufunc_check_no_same_args(P, "operator.mod", lims_B=[0.3, 2.0], test_complex=False)
P.in_test("test_op_mod_neg")
binary_ufunc_check_no_same_args(P, "operator.mod", lims_B=[-0.3, -2.0], test_complex=False)

# Misc tests
P.in_test("test_transpose").combo("np.transpose", [0])(
    [R(2, 3, 4)], axes=[None, [0, 1, 2], [0, 2, 1], [2, 0, 1], [2, 1, 0], [1, 0, 2], [1, 2, 0]])
P.in_test("test_moveaxis").combo("np.moveaxis", [0])([R(2, 3, 4)], source=[0, 1, 2], destination=[0, 1, 2])
P.in_test("test_repeat").combo("np.repeat", [0])([R(2, 3, 4), R(3, 1)], repeats=[0, 1, 2], axis=[None, 0, 1])
P.in_test("test_diff")
P.combo("np.diff", [0])([R(5, 5), R(5, 5, 5)], n=[1, 2], axis=[0, 1])
P.combo("np.diff", [0])([R(1), R(1, 1)], axis=[0])
P.combo("np.diff", [0])([R(1, 1), R(3, 1)], axis=[1])
P.in_test("test_gradient")
P.combo("np.gradient", [0])([R(5, 5), R(5, 5, 5)], axis=[None, 0, 1, -1])
P.combo("np.gradient", [0])([R(5, 5, 5)], axis=[(0, 1), (0, -1)])
P.in_test("test_tile")
P.combo("np.tile", [0])([R(2, 1, 3, 1)], reps=[(1, 4, 1, 2)])
P.combo("np.tile", [0])([R(1, 2)], reps=[(1, 2), (2, 3), (3, 2, 1)])
P.combo("np.tile", [0])([R(1)], reps=[(2,), 2])
P.in_test("test_kron").combo("np.kron", [0, 1])(
    [R(5, 5), R(4, 4), R(5), R(5, 1), R(1, 5), R(), C(5, 5)],
    [R(3, 3), R(2, 2), R(3), R(1, 3), R(3, 1), R(), C(3, 3)])
P.in_test("test_inner").combo("np.inner", [0, 1])([1.5, R(3), R(2, 3)], [0.3, R(3), R(4, 3)])
P.in_test("test_dot").combo("np.dot", [0, 1])(
    [1.5, R(3), R(2, 3), R(2, 2, 3), C(3), C(2, 3)], [0.3, R(3), R(3, 4), R(2, 3, 4), C(3)])
P.in_test("test_outer").combo("np.outer", [0, 1])([R(3), C(3)], [R(3), C(3)])
P.in_test("test_matmul").combo("np.matmul", [0, 1])(
    [R(3), R(2, 3), R(2, 2, 3), C(3), C(2, 3)], [R(3), R(3, 4), R(2, 3, 4), C(3), C(3, 4)])
P.in_test("test_matmul_broadcast").combo("np.matmul", [0, 1])([R(1, 2, 2)], [R(3, 2, 1)])
P.in_test("test_tensordot_1").combo("np.tensordot", [0, 1])(
    [R(1, 3), R(2, 3, 2), C(1, 3)], [R(3), R(3, 1), R(3, 4, 2), C(3)], axes=[[(1,), (0,)]])
P.in_test("test_tensordot_2").combo("np.tensordot", [0, 1])(
    [R(3), R(3, 1), R(3, 4, 2)], [R(1, 3), R(2, 3, 2)], axes=[[(0,), (1,)]])
P.in_test("test_tensordot_3").combo("np.tensordot", [0, 1])(
    [R(2, 3), R(2, 3, 4)], [R(1, 2, 3), R(2, 2, 3, 4)], axes=[[(0, 1), (1, 2)], [(1, 0), (2, 1)]])
P.in_test("test_tensordot_4").combo("np.tensordot", [0, 1])([R(2, 2), R(4, 2, 2)], [R(2, 2), R(2, 2, 4)], axes=[1, 2])
P.in_test("test_tensordot_5").combo("np.tensordot", [0, 1])([R(4)], [R()], axes=[0])
P.in_test("test_tensordot_6").combo("np.tensordot", [0, 1])([R(2, 6)], [R(6, 3)], axes=[[[-1], [0]]])
P.in_test("test_tensordot_7").combo("np.tensordot", [0, 1])([R(2, 6)], [R(6, 3)], axes=[[-1, 0]])
P.in_test("test_tensordot_8").combo("np.tensordot", [0, 1])([R(2)], [R(2, 2)], axes=[[0, 1]])
for name in ["maximum", "fmax", "minimum", "fmin"]:
    P.in_test(f"test_{name}").combo(f"np.{name}", [0, 1])([R(1), R(1, 4), R(3, 4)], [R(1), R(1, 4), R(3, 4)])
P.in_test("test_sort").combo("np.sort", [0])([R(1), R(7)])
P.in_test("test_partition").combo("np.partition", [0])([R(7), R(14)], kth=[0, 3, 6])
P.in_test("test_atleast_1d").combo("np.atleast_1d", [0])([1.2, R(1), R(7), R(1, 4), R(2, 4), R(2, 4, 5)])
P.in_test("test_atleast_2d").combo("np.atleast_2d", [0])([1.2, R(1), R(7), R(1, 4), R(2, 4), R(2, 4, 5)])
P.in_test("test_atleast_3d").combo("np.atleast_3d", [0])(
    [1.2, R(1), R(7), R(1, 4), R(2, 4), R(2, 4, 5), R(2, 4, 3, 5)])
P.in_test("test_einsum_transpose").combo("np.einsum", [1])(["ij->ji"], [R(1, 1), R(4, 4), R(3, 4)])
P.in_test("test_einsum_matmult").combo("np.einsum", [1, 2])(["ij,jk->ik"], [R(2, 3), C(2, 3)], [R(3, 4), C(3, 4)])
P.in_test("test_einsum_matmult_broadcast").combo("np.einsum", [1, 2])(
    ["...ij,...jk->...ik"], [R(2, 3), R(2, 2, 3)], [R(3, 4), R(2, 3, 4)])
P.in_test("test_einsum_matmult_broadcast_leadzero").combo("np.einsum", [1, 2])(
    ["...ij,...jk->...ik"], [R(0, 2, 3)], [R(0, 3, 4)])
P.in_test("test_einsum_covsum").combo("np.einsum", [1, 2])(["ijk,lji->lki"], [R(3, 4, 4)], [R(4, 4, 3)])
P.in_test("test_einsum_ellipses").combo("np.einsum", [1, 2])(
    ["...jk,...lj->...lk", "...,...->..."], [R(4, 4), R(3, 4, 4)], [R(4, 4), R(3, 4, 4)])
P.in_test("test_einsum_ellipses_tail").combo("np.einsum", [1, 2])(
    ["jk...,lj...->lk..."], [R(3, 2), R(3, 2, 4)], [R(2, 3), R(2, 3, 4)])
P.in_test("test_einsum_ellipses_center").combo("np.einsum", [1, 2])(
    ["j...k,lj...->lk..."], [R(2, 2), R(2, 2, 2)], [R(2, 2), R(2, 2, 2)])
P.in_test("test_einsum_three_args").combo("np.einsum", [1, 2])(
    ["ijk,lji,lli->lki"], [R(3, 4, 4)], [R(4, 4, 3)], [R(4, 4, 3)])
P.in_test("test_einsum2_transpose").combo("np.einsum", [0])([R(1, 1), R(4, 4), R(3, 4)], [(0, 1)], [(1, 0)])
P.in_test("test_einsum2_matmult").combo("np.einsum", [0, 2])([R(2, 3)], [(0, 1)], [R(3, 4)], [(1, 2)], [(0, 2)])
P.in_test("test_einsum2_matmult_broadcast").combo("np.einsum", [0, 2])(
    [R(2, 3), R(2, 2, 3)], [(Ellipsis, 0, 1)], [R(3, 4), R(2, 3, 4)], [(Ellipsis, 1, 2)], [(Ellipsis, 0, 2)])
P.in_test("test_einsum2_covsum").combo("np.einsum", [0, 2])(
    [R(3, 4, 4)], [(0, 1, 2)], [R(4, 4, 3)], [(3, 1, 0)], [(3, 2, 0)])
P.in_test("test_einsum2_three_args").combo("np.einsum", [0, 2])(
    [R(3, 4, 4)], [(0, 1, 2)], [R(4, 4, 3)], [(3, 1, 0)], [R(4, 4, 3)], [(3, 3, 0)], [(3, 2, 0)])
P.in_test("test_einsum_naked_sum").combo("np.einsum", [1, 2])(["k,nk->"], [R(5)], [R(10, 5)])
P.in_test("test_einsum_naked_sum2").combo("np.einsum", [1])(["abcd->bd"], [R(3, 2, 3, 2)])
P.in_test("test_einsum_naked_sum_ellipsis").combo("np.einsum", [1, 2])(["...k,...nk->..."], [R(3, 5)], [R(3, 10, 5)])
P.in_test("test_einsum_no_output_indices").combo("np.einsum", [1, 2])(["ij,k"], [R(3, 4)], [R(3)])
P.in_test("test_trace").combo("np.trace", [0])([R(5, 5), R(4, 5), R(5, 4), R(3, 4, 5)], offset=[-1, 0, 1])
P.in_test("test_diag").combo("np.diag", [0])([R(5, 5)], k=[-1, 0, 1])
P.in_test("test_diag_flat").combo("np.diag", [0])([R(5)], k=[-1, 0, 1])
P.in_test("test_tril").combo("np.tril", [0])([R(5, 5)], k=[-1, 0, 1])
P.in_test("test_triu").combo("np.triu", [0])([R(5, 5)], k=[-1, 0, 1])
P.in_test("test_tril_3d").combo("np.tril", [0])([R(5, 5, 4)], k=[-1, 0, 1])
P.in_test("test_triu_3d").combo("np.triu", [0])([R(5, 5, 4)], k=[-1, 0, 1])
P.in_test("test_swapaxes").combo("np.swapaxes", [0])([R(3, 4, 5)], axis1=[0, 1, 2], axis2=[0, 1, 2])
P.in_test("test_rollaxis").combo("np.rollaxis", [0])([R(2, 3, 4)], axis=[0, 1, 2], start=[0, 1, 2])
P.in_test("test_cross").combo("np.cross", [0, 1])(
    [R(3, 3)], [R(3, 3)], axisa=[-1, 0, 1], axisb=[-1, 0, 1], axisc=[-1, 0, 1], axis=[None, -1, 0, 1])
P.in_test("test_vsplit_2d").combo("np.vsplit", [0])([R(4, 8)], [4, [1, 2]])
P.in_test("test_vsplit_3d").combo("np.vsplit", [0])([R(4, 4, 4)], [2, [1, 2]])
P.in_test("test_hsplit_2d").combo("np.hsplit", [0])([R(4, 8)], [4, [1, 2]])
P.in_test("test_hsplit_3d").combo("np.hsplit", [0])([R(4, 4, 4)], [2, [1, 2]])
P.in_test("test_dsplit_3d").combo("np.dsplit", [0])([R(4, 4, 4)], [2, [1, 2]])
P.in_test("test_split_1d").combo("np.split", [0])([R(1), R(7)], [1], axis=[0])
P.in_test("test_split_2d").combo("np.split", [0])([R(4, 8)], [4, [1, 2]], axis=[0, 1])
P.in_test("test_split_3d").combo("np.split", [0])([R(4, 4, 4)], [2, [1, 2]], axis=[0, 1, 2])
P.in_test("test_array_split_1d").combo("np.array_split", [0])([R(1), R(7)], [1, 3], axis=[0])
P.in_test("test_array_split_2d").combo("np.array_split", [0])([R(7, 7)], [4, [3, 5]], axis=[0, 1])
P.in_test("test_array_split_3d").combo("np.array_split", [0])([R(7, 7, 7)], [4, [3, 5]], axis=[0, 1, 2])
P.in_test("test_concatenate_1ist").combo("np.concatenate", [0])([(R(1), R(3))], axis=[0])
P.in_test("test_concatenate_tuple").combo("np.concatenate", [0])([[R(1), R(3)]], axis=[0])
P.in_test("test_concatenate_2d").combo("np.concatenate", [0])([(R(2, 2), R(2, 2))], axis=[0, 1])
P.in_test("test_concatenate_3d").combo("np.concatenate", [0])([(R(2, 2, 2), R(2, 2, 2))], axis=[0, 1, 2])
P.in_test("test_vstack_1d").combo("np.vstack", [0])([R(2), (R(2), R(2))])
P.in_test("test_vstack_2d").combo("np.vstack", [0])([R(2, 3), (R(2, 4), R(1, 4))])
P.in_test("test_vstack_3d").combo("np.vstack", [0])([R(2, 3, 4), (R(2, 3, 4), R(5, 3, 4))])
P.in_test("test_hstack_1d").combo("np.hstack", [0])([R(2), (R(2), R(2))])
P.in_test("test_hstack_2d").combo("np.hstack", [0])([R(3, 2), (R(3, 4), R(3, 5))])
P.in_test("test_hstack_3d").combo("np.hstack", [0])([R(2, 3, 4), (R(2, 1, 4), R(2, 5, 4))])
P.in_test("test_stack_1d").combo("np.stack", [0])([(R(2),), (R(2), R(2))], axis=[0, 1])
P.in_test("test_row_stack_1d").combo("np.row_stack", [0])([R(2), (R(2), R(2))])
P.in_test("test_row_stack_2d").combo("np.row_stack", [0])([R(2, 3), (R(2, 4), R(1, 4))])
P.in_test("test_column_stack_1d").combo("np.column_stack", [0])([R(2), (R(2), R(2))])
P.in_test("test_column_stack_2d").combo("np.column_stack", [0])([R(2, 2), (R(2, 2), R(2, 2))])
P.in_test("test_select").combo("np.select", [1])(
    [[R(3, 4, 5) > 0, R(3, 4, 5) > 0, R(3, 4, 5) > 0]], [[R(3, 4, 5), R(3, 4, 5), R(3, 4, 5)]], default=[0.0, 1.1])
P.in_test("test_pad").combo("np.pad", [0])(
    [R(2, 2)], [0, 3, (3,), (3, 2), ((3, 2),), ((1, 2), (3, 4)), ((0, 0), (0, 0))], ["constant"])

CASES = P.cases
