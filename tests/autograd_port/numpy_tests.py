"""autograd tests/test_numpy.py, case by case (HIPS/autograd, MIT licence).

Each nested `fun` of autograd's tests is a module-level function here (gradc inlines it);
the closure constants it reads are extra, undifferentiated arguments.
"""
import numpy as np

from .shims import Port

P = Port("test_numpy", __name__, seed=1)
R = P.R
H = {}  # helper name -> function, for the calls below


def helper(fn):
    H[fn.__name__] = fn
    return fn


def check(test, fun, *args, argnum=0, note="", **kwargs):
    """check_grads(fun, argnum)(*args, **kwargs) of autograd's test `test`."""
    helpers = (fun,) if fun in H else ()
    P.in_test(test).check_grads(fun, argnum, helpers=helpers, note=note)(*args, **kwargs)


@helper
def dot(x, y):
    return np.dot(x, y)


@helper
def outer(x, y):
    return np.outer(x, y)


mat1, mat2, vect1, vect2, vect3 = R(10, 11), R(10, 11), R(10), R(11), R(11)
for a, b in [(mat1, vect2), (mat1, mat2.T), (vect1, mat1), (vect2, vect3)]:
    check("test_dot", "dot", a, b)
mat1, vect1, float1 = R(10, 11), R(10), P.randn()
for a, b in [(mat1, float1), (float1, mat1), (vect1, float1), (float1, vect1)]:
    check("test_dot_with_floats", "dot", a, b)
vect2, vect3 = R(11), R(11)
for a, b in [(vect2, vect3), (vect2.T, vect3), (vect2.T, vect3.T)]:
    check("test_outer", "outer", a, b)

# reductions
check("test_max", "np.max", R(10, 11))
check("test_max_axis", "np.max", R(3, 4, 5), axis=1)
check("test_max_axis_keepdims", "np.max", R(3, 4, 5), axis=1, keepdims=True)
check("test_min", "np.min", R(10, 11))
check("test_min_axis", "np.min", R(3, 4, 5), axis=1)
check("test_min_axis_keepdims", "np.min", R(3, 4, 5), axis=1, keepdims=True)
check("test_sum_1", "np.sum", R(10, 11))
check("test_sum_2", "np.sum", R(10, 11), axis=0)
check("test_sum_3", "np.sum", R(10, 11), axis=0, keepdims=True)
check("test_sum_with_axis_tuple", "np.sum", R(10, 11, 7), axis=(1, 2))


@helper
def exp_reduction_sum(a, base):
    return np.sum(np.exp(a) * base)


@helper
def exp_reduction_prod(a, base):
    return np.prod(np.exp(a) * base)


@helper
def exp_reduction_max(a, base):
    return np.max(np.exp(a) * base)


@helper
def exp_reduction_min(a, base):
    return np.min(np.exp(a) * base)


base = np.abs(R(5)) + 0.5
for r in ["sum", "prod", "max", "min"]:
    check("test_plain_numpy_reductions_on_box", f"exp_reduction_{r}", 0.7, base)

check("test_flipud", "np.flipud", R(10, 11))
check("test_fliplr", "np.fliplr", R(10, 11))
check("test_rot90", "np.rot90", R(10, 11))
check("test_cumsum_axis0", "np.cumsum", R(10, 11), axis=0)
check("test_cumsum_axis1", "np.cumsum", R(10, 11), axis=1)
check("test_cumsum_1d", "np.cumsum", R(10))
check("test_cumsum_no_axis", "np.cumsum", R(10, 11))


@helper
def non_numpy_sum(x, y):
    return sum([x, y])


check("test_non_numpy_sum", "non_numpy_sum", R(10, 11), R(10, 11))
check("test_mean_1", "np.mean", R(10, 11))
check("test_mean_2", "np.mean", R(10, 11), axis=0)
check("test_mean_3", "np.mean", R(10, 11), axis=0, keepdims=True)


@helper
def mean_list(x):
    return np.mean([x, x + 2])


@helper
def mean_tuple(x):
    return np.mean((x, x + 2))


@helper
def std_list(x):
    return np.std([x, x + 2])


@helper
def std_tuple(x):
    return np.std((x, x + 2))


@helper
def var_list(x):
    return np.var([x, x + 2])


@helper
def var_tuple(x):
    return np.var((x, x + 2))


for stat in ["mean", "std", "var"]:
    for kind in ["list", "tuple"]:
        check(f"test_{stat}_list_of_boxes", f"{stat}_{kind}", 0.0)


@helper
def index_ints(x):
    return x[3, 0, 1]


@helper
def index_slice(x):
    return x[::-1, 2:4, :]


@helper
def index_lists(x):
    return x[[0, 1, 2], :, :]


@helper
def index_mixed(x):
    return x[3, 2:, [1, 3]]


@helper
def vector_slice(x):
    return x[2:4]


@helper
def index_slice_fanout(x):
    y = x[::-1, 2:4, :]
    z = x[::-1, 3:5, :]
    return y + z


@helper
def index_multiple_slices(x):
    y = x[2:6]
    z = y[1:3]
    return z


@helper
def reshape_method(x):
    return x.reshape((5 * 4, 6))


@helper
def reshape_call(x):
    return np.reshape(x, (5 * 4, 6))


@helper
def reshape_method_nolist(x):
    return x.reshape(5 * 4, 6)


@helper
def ravel_method(x):
    return x.ravel()


@helper
def flatten_method(x):
    return x.flatten()


for test, fun, shape in [("test_index_ints", "index_ints", (5, 6, 4)), ("test_index_slice", "index_slice", (5, 6, 4)),
                         ("test_index_lists", "index_lists", (5, 6, 4)), ("test_index_mixed", "index_mixed", (5, 6, 4)),
                         ("test_vector_slice", "vector_slice", (5,)),
                         ("test_index_slice_fanout", "index_slice_fanout", (5, 6, 4)),
                         ("test_index_multiple_slices", "index_multiple_slices", (7,)),
                         ("test_reshape_method", "reshape_method", (5, 6, 4)),
                         ("test_reshape_call", "reshape_call", (5, 6, 4)),
                         ("test_reshape_method_nolist", "reshape_method_nolist", (5, 6, 4)),
                         ("test_ravel_method", "ravel_method", (5, 6, 4)), ("test_ravel_call", "np.ravel", (5, 6, 4)),
                         ("test_flatten_method", "flatten_method", (5, 6, 4))]:
    check(test, fun, R(*shape))

check("test_simple_append_list", "np.append", [1.0, 2.0, 3.0], 4.0, argnum=(0, 1))
check("test_simple_append_arr", "np.append", np.array([1.0, 2.0, 3.0]), 4.0, argnum=(0, 1))
check("test_simple_append_list_2D", "np.append", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [[7.0, 8.0, 9.0]],
      argnum=(0, 1), axis=0)


@helper
def simple_concatenate(x, A):
    return np.concatenate((A, x))


@helper
def concatenate_axis_0(x, B):
    return np.concatenate((B, x, B))


@helper
def concatenate_axis_1(x, B):
    return np.concatenate((B, x, B), axis=1)


@helper
def concatenate_axis_1_unnamed(x, B):
    return np.concatenate((B, x, B), 1)


A, B = R(5, 6, 4), R(4, 6, 4)
check("test_simple_concatenate", "simple_concatenate", B, A)
for test in ["concatenate_axis_0", "concatenate_axis_1", "concatenate_axis_1_unnamed"]:
    A, B = R(5, 6, 4), R(5, 6, 4)
    check(f"test_{test}", test, A, B)

# test_trace, test_trace2, test_trace_extradims (autograd draws the offset at random)
mat = R(10, 11)
check("test_trace", "np.trace", mat, offset=int(P.rs.randint(-9, 11)))
mat = R(11, 10)
check("test_trace2", "np.trace", mat, offset=int(P.rs.randint(-9, 11)))
mat = R(5, 6, 4, 3)
check("test_trace_extradims", "np.trace", mat, offset=int(P.rs.randint(-5, 6)))
check("test_diag", "np.diag", R(10, 10))


@helper
def transpose_T(x):
    return x.T


check("test_transpose", "transpose_T", R(8, 8))
check("test_roll", "np.roll", R(4, 5), 2, axis=1)
check("test_roll_no_axis", "np.roll", R(4, 5), 2, axis=1)
check("test_triu", "np.triu", R(5, 5), k=2)
check("test_tril", "np.tril", R(5, 5), k=2)
check("test_clip", "np.clip", R(5, 5), a_min=0.1, a_max=1.1)
check("test_prod_1", "np.prod", R(2, 3) ** 2 / 10.0 + 0.1)
check("test_prod_2", "np.prod", R(2, 3) ** 2 + 0.1, axis=0)
check("test_prod_3", "np.prod", R(2, 3) ** 2 + 0.1, axis=0, keepdims=True)
check("test_prod_4", "np.prod", R(7) ** 2 + 0.1)


@helper
def array_1d(x):
    return np.array([x, x * 1.0, x + 2.5])


@helper
def array_2d(x):
    return np.array([[x, x * 1.0, x + 2.5], [x**2, x, x / 2.0]])


@helper
def array_1d_fanout(x):
    A = np.array([x, x * 1.0, x + 2.5])
    return A + A


@helper
def array_2d_fanout(x):
    A = np.array([[x, x * 1.0, x + 2.5], [x**2, x, x / 2.0]])
    return A + A


@helper
def array_from_scalar(x):
    return np.array(x)


@helper
def scalar_array_box_attributes(x):
    assert x.shape == ()
    assert x.ndim == 0
    assert x.size == 1
    assert x.dtype == np.float64
    return x**2


@helper
def array_from_arrays(x):
    return np.array([x, x])


@helper
def array_from_arrays_2(x):
    return np.array([[2 * x, x + 1], [x, x]])


@helper
def len_fun(x):
    assert len(x) == 3
    return x


for test in ["1d_array", "2d_array", "1d_array_fanout", "2d_array_fanout"]:
    fun = "array_" + test.replace("_array", "")
    check(f"test_{test}", fun, 3.0)
check("test_array_from_scalar", "array_from_scalar", 3.0)
# autograd boxes the Python float 3.0 as a 0-d array; a NumPy scalar has the attributes too
check("test_scalar_array_box_attributes", "scalar_array_box_attributes", np.float64(3.0))
check("test_array_from_arrays", "array_from_arrays", R(3, 2))
check("test_array_from_arrays_2", "array_from_arrays_2", R(3, 2))
check("test_len", "len_fun", R(3, 2))


@helper
def r_basic(x):
    b = np.r_[x]
    return b


@helper
def r_double(x):
    b = np.r_[x, x]
    return b


@helper
def no_relation(x, c):
    return c


@helper
def r_no_relation(x, c):
    b = np.r_[c]
    return b


@helper
def r_node_and_const(x, c):
    b = np.r_[x, c]
    return b


@helper
def r_mixed(x, c):
    b = np.r_[x, c, x]
    return b


@helper
def r_slicing(x, c):
    b = np.r_[x, c, 1:10]
    return b


@helper
def c_(x, c):
    b = np.c_[x, c, x]
    return b


check("test_r_basic", "r_basic", R(3, 2))  # autograd draws an unused c = npr.randn(3, 2) first
check("test_r_double", "r_double", R(3, 2))
for test in ["no_relation", "r_no_relation", "r_node_and_const", "r_mixed"]:
    c = R(3, 2)
    check(f"test_{test}", test, R(3, 2), c)
c = R(10)
check("test_r_slicing", "r_slicing", R(10), c)
for test in ["test_c_", "test_c_mixed"]:
    c = R(3, 2)
    check(test, "c_", R(3, 2), c)

# test_var_ddof, test_std_ddof
for stat in ["var", "std"]:
    B, C, D = R(3), R(3, 4), R(1, 3)
    P.in_test(f"test_{stat}_ddof").combo(f"np.{stat}", (0,))([B, C, D], axis=[None], keepdims=[True, False], ddof=[0, 1])
    P.combo(f"np.{stat}", (0,))([C, D], axis=[None, 1], keepdims=[True, False], ddof=[2])


@helper
def where_fun(x, y, C):
    b = np.where(C, x, y)
    return b


C = R(4, 5) > 0
check("test_where", "where_fun", R(4, 5), R(4, 5), C)


@helper
def squeeze_method(x):
    return x.squeeze()


check("test_squeeze_func", "np.squeeze", R(5, 1, 4))
check("test_squeeze_method", "squeeze_method", R(5, 1, 4))
check("test_repeat", "np.repeat", R(5, 3, 4), 2, axis=1)
check("test_repeat_axis1_rep1", "np.repeat", R(5, 3, 4), 1, axis=1)
check("test_repeat_axis0", "np.repeat", R(5, 3), 2, axis=0)
check("test_repeat_1d_axis0", "np.repeat", R(5), 2, axis=0)
check("test_repeat_axis0_rep1", "np.repeat", R(5, 1), 1, axis=0)
check("test_expand_dims", "np.expand_dims", R(5, 1, 4), 2)


@helper
def tensordot_kwargs_by_position(x):
    return np.tensordot(x * np.ones((2, 2)), x * np.ones((2, 2)), 2)


check("test_tensordot_kwargs_by_position", "tensordot_kwargs_by_position", 1.0)


@helper
def multi_index(x):
    return np.sum(x[[0, 0]])


@helper
def multi_index2(x):
    return np.sum(x[[0, 1, 0]])


@helper
def index_dot_slices(x):
    return np.dot(x[:2], x[2:])


check("test_multi_index", "multi_index", R(3))
check("test_multi_index2", "multi_index2", R(3))
check("test_index_dot_slices", "index_dot_slices", R(4))


@helper
def cast_to_int(W, inds):
    # glue W and inds together
    glued_together = np.concatenate((W, inds), axis=1)  # noqa: F841 - as in autograd's test

    # separate W and inds back out
    new_W = W[:, :-1]
    new_inds = np.int64(W[:, -1])

    assert new_inds.dtype == np.int64
    return new_W[new_inds].sum()


check("test_cast_to_int", "cast_to_int", R(5, 10), np.ones(5)[:, None])
# np.make_diagonal is autograd's own function, not NumPy's
check("test_make_diagonal", "np.make_diagonal", R(4), note="autograd-only function (np.make_diagonal)")
check("test_make_diagonal", "np.make_diagonal", R(3, 4), note="autograd-only function (np.make_diagonal)")
check("test_diagonal", "np.diagonal", R(4, 4), axis1=-1, axis2=-2)
check("test_diagonal", "np.diagonal", R(3, 4, 4), axis1=-1, axis2=-2)


@helper
def nan_to_num_sin(x, y):
    return np.sum(np.sin(np.nan_to_num(x + y)))


check("test_nan_to_num", "nan_to_num_sin", R(4), np.array([0.0, np.nan, np.inf, -np.inf]))


@helper
def max_equal_values(x):
    return np.max(np.array([x, x]))


@helper
def max_equal_values_2d(x):
    return np.max(np.array([[x, x], [x, 0.5]]), axis=1)


@helper
def min_3_way_equality(x):
    return np.min(np.array([[x, x, x], [x, 0.5, 0.5], [0.5, 0.5, 0.5], [x, x, 0.5]]), axis=0)


@helper
def maximum_equal_values(x):
    return np.maximum(x, x)


@helper
def maximum_equal_values_2d(x):
    return np.maximum(np.array([x, x, 0.5]), np.array([[x, 0.5, x], [x, x, 0.5]]))


check("test_max_equal_values", "max_equal_values", 1.0)
for x in [1.0, -1.0]:
    check("test_max_equal_values_2d", "max_equal_values_2d", x)
for x in [1.0, -1.0]:
    check("test_min_3_way_equality", "min_3_way_equality", x)
check("test_maximum_equal_values", "maximum_equal_values", 1.0)
for x in [1.0, -1.0, 2.0]:
    check("test_maximum_equal_values_2d", "maximum_equal_values_2d", x)


@helper
def linspace_fun(x, y, num):
    return np.linspace(x, y, num)


for num in [0, 1, 5]:
    for a, b in [(1.2, 3.4), (1.2, -3.4), (1.2, 1.2)]:
        check("test_linspace", "linspace_fun", a, b, num)


@helper
def astype_fun(x):
    return np.sum(np.sin(x.astype("float64")))


check("test_astype", "astype_fun", np.arange(3, dtype="float32"))

# test_gradient
check("test_gradient", "np.gradient", R(10))
check("test_gradient", "np.gradient", R(10, 10))
check("test_gradient", "np.gradient", R(10, 10, 10))
for a in [None, 0, 1, -1, (0, 1), (0, -1)]:
    check("test_gradient", "np.gradient", R(10, 10, 10), axis=a)

CASES = P.cases
