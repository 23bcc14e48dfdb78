"""Index arrays made at compile time (`iu = np.triu_indices(n, 1); K[iu] = 0`) are new arrays:
nothing else holds them, so writing into K through them is accepted (it was refused as
'memory shared with iu'). Arrays a compile-time call may share with its inputs (a view of a
module's array, np.asarray of one) keep being tracked, and results that share memory with
each other (np.diag_indices gives one array twice) share one buffer."""
import numpy as np
import pytest

import gradc

from fixtures.numeric import assert_close, fd_grad

C = np.arange(9.0).reshape(3, 3)


def upper_zeroed(w):
    K = np.outer(w, w) + 1.0
    iu = np.triu_indices(3, 1)
    K[iu] = 0.0
    return np.sum(K ** 2)


def jittered_diagonal(w):
    K = np.outer(w, w) + 1.0
    d = np.diag_indices(3)
    K[d] += 0.5
    return np.sum(np.log(K ** 2))


def through_nonzero(w):
    K = w * 1.0
    idx = np.nonzero(np.array([1, 0, 1]))
    K[idx] = 2.0 * K[idx]
    return np.sum(K ** 2)


@pytest.mark.parametrize("fn", [upper_zeroed, jittered_diagonal, through_nonzero])
def test_writes_through_compile_time_index_arrays(fn):
    w = np.array([0.3, -0.5, 1.2])
    value, g = gradc.value_and_grad(fn)(w)
    assert value == fn(w)
    assert_close(g, fd_grad(fn, (w,), 0), rtol=1e-6)


def static_view_then_base(w):
    a = np.arange(4.0)
    b = a[1:]
    a += 1.0  # NumPy: b sees it
    return np.sum(w * b[:3])


def module_view(w):
    v = C.reshape(9)
    v[0] = 5.0  # NumPy: changes C for every later call
    return np.sum(w * v[:3])


def same_array_twice(w):
    i, j = np.diag_indices(3)
    i[0] = 2  # j is the same array: NumPy changes it too
    K = np.outer(w, w)
    return np.sum(K[i, j])


@pytest.mark.parametrize("fn", [static_view_then_base, module_view, same_array_twice])
def test_shared_compile_time_arrays_are_still_refused(fn):
    with pytest.raises(gradc.CompileError, match="in-place update|assignment to an item"):
        gradc.value_and_grad(fn)(np.array([0.3, -0.5, 1.2]))


def np_copy_then_write(w):
    y = np.copy(w)
    y[0] = 5.0
    return np.sum(y * w)


def copy_of_a_scalar(w):
    return np.copy(np.sum(w)) * 2.0


def asanyarray_alias(w):
    y = np.asanyarray(w * 2.0)
    return np.sum(y ** 2)


@pytest.mark.parametrize("fn", [np_copy_then_write, copy_of_a_scalar, asanyarray_alias])
def test_np_copy_and_asanyarray(fn):
    """np.copy(y) (a new array: writing into it leaves y alone) and np.asanyarray (np.asarray
    for plain arrays) were refused on traced values, unlike y.copy() and np.asarray."""
    w = np.array([0.3, -0.5, 1.2])
    value, g = gradc.value_and_grad(fn)(w.copy())
    want = fn(w.copy())
    assert value == want and type(value) is type(want)
    assert_close(g, fd_grad(fn, (w,), 0), rtol=1e-6)


def asanyarray_then_write(w):
    y = w * 1.0
    z = np.asanyarray(y)
    z += 1.0  # NumPy: y is z
    return np.sum(y * w)


def test_an_asanyarray_alias_is_tracked():
    with pytest.raises(gradc.CompileError, match="memory shared with 'y'"):
        gradc.value_and_grad(asanyarray_then_write)(np.ones(3))
