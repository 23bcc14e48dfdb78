"""Regression tests for silently-wrong numbers found by attacking gradc: each compiled loss
gives what NumPy computes running the source (value, and the derivative by central finite
differences), or a CompileError at the user's line."""
import numpy as np
import pytest

import gradc
from gradc.errors import SignatureError


def _oracle(fn, args, wrt=0, eps=1e-6):
    """The real function on copies of the arguments, and central finite differences."""
    copy = lambda a: np.array(a, copy=True) if isinstance(a, np.ndarray) else a  # noqa: E731
    value = fn(*[copy(a) for a in args])
    x = np.asarray(args[wrt], dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        hi, lo = x.copy(), x.copy()
        hi[i] += eps
        lo[i] -= eps
        ah = [copy(a) for a in args]
        al = [copy(a) for a in args]
        ah[wrt], al[wrt] = hi, lo
        grad[i] = (fn(*ah) - fn(*al)) / (2 * eps)
    return value, grad


def _agrees(fn, args, wrt=0):
    value, grad = _oracle(fn, args, wrt)
    v, g = gradc.value_and_grad(fn, wrt=wrt)(*args)
    np.testing.assert_allclose(v, value, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(g, grad, rtol=1e-5, atol=1e-6)


def _refused(fn, args, match, wrt=0):
    with pytest.raises(gradc.CompileError, match=match):
        gradc.value_and_grad(fn, wrt=wrt)(*args)


# -- 1. & | ^ ~: logical on booleans, bitwise on integers, TypeError on floats ------------

def _flags_and(x, flags):
    return np.sum(x * (flags & 3))


def _flags_or(x, flags):
    return np.sum(x * (flags | 4))


def _flags_xor(x, flags):
    return np.sum(x * (flags ^ 5))


def _int_and_mask(x, m):
    return np.sum(x * (m & (x > 0)))


def _mask_and_int(x):
    return np.sum(((x > 0) & 2) * x) + np.sum(x * ((x > 0) & (x < 1)))


def _invert(x, flags):
    return np.sum(x * (~flags)) + np.sum(np.where(~(x > 0), x, 2 * x))


def test_bitwise_operators_on_integers_are_bitwise():
    x = np.array([0.5, -2.0, 1.5])
    flags = np.array([6, 5, 8])
    for fn, a in ((_flags_and, flags), (_flags_or, flags), (_flags_xor, flags),
                  (_int_and_mask, np.array([2, 1, 3])), (_invert, flags)):
        _agrees(fn, (x, a))
    _agrees(_mask_and_int, (np.array([1.5, 2.0, -0.5, 0.25]),))


def _or_float(x):
    return np.sum((x > 0) | (x < -1) * x)


def _and_float(x):
    return np.sum(x & x)


def _invert_float(x):
    return np.sum(~x)


def test_bitwise_operators_on_floats_are_refused():
    x = np.array([0.5, -2.0, 1.5])
    for fn in (_or_float, _and_float, _invert_float):
        with pytest.raises(TypeError):
            fn(x.copy())
        _refused(fn, (x,), "raises TypeError on floats")


# -- 2. compile-time NumPy calls are pure: no out=, no in-place functions, no files ---------

_C2 = np.array([3.0, 1.0, 2.0])


def _out_keyword(x):
    Z = np.ones(3)
    y = x * Z
    Z = np.multiply(Z, 2.0, out=Z)
    return np.sum(y * Z)


def _out_positional(x):
    Z = np.ones(3)
    y = x * Z
    _ = np.add(Z, 1.0, Z)
    return np.sum(y * Z)


def _copyto(x):
    Z = np.ones(3)
    y = x * Z
    _ = np.copyto(Z, 3.0)
    return np.sum(y * Z)


def _fill_diagonal(x):
    M = np.ones((3, 3))
    y = x @ M
    _ = np.fill_diagonal(M, 0.0)
    return np.sum(y) + np.sum(M)


def _put_method(x):
    Z = np.ones(3)
    y = x * Z
    _ = Z.put([0], 5.0)
    return np.sum(y * Z)


def _sort_method(x):
    Z = np.array([3.0, 1.0, 2.0])
    y = x * Z
    _ = Z.sort()
    return np.sum(y * Z)


def _byteswap_inplace(x):
    Z = np.ones(3)
    y = x * Z
    _ = Z.byteswap(inplace=True)
    return np.sum(y * Z)


def _clip_out(x):
    Z = np.array([3.0, -1.0, 0.5])
    y = x * Z
    _ = Z.clip(0.0, 1.0, Z)
    return np.sum(y * Z)


def _module_copyto(x):
    _ = np.copyto(_C2, 9.0)
    return np.sum(x * _C2)


def _load(x):
    W = np.load("/nonexistent/weights.npy")
    return np.sum(W * x)


def _savetxt(x):
    _ = np.savetxt("/tmp/gradc_attack_written_by_compile.txt", np.ones(2))
    return np.sum(x)


def _seterr(x):
    _ = np.seterr(all="ignore")
    return np.sum(x)


def test_compile_time_numpy_calls_that_write_or_do_io_are_refused():
    import os
    x = np.array([0.5, 1.5, 2.0])
    for fn in (_out_keyword, _out_positional, _clip_out):
        _refused(fn, (x,), "writes into its `out` argument in place")
    for fn in (_copyto, _fill_diagonal, _put_method, _sort_method, _byteswap_inplace, _module_copyto):
        _refused(fn, (x,), "in place")
    np.testing.assert_array_equal(_C2, [3.0, 1.0, 2.0])  # compiling did not change the module array
    path = "/tmp/gradc_attack_written_by_compile.txt"
    if os.path.exists(path):
        os.remove(path)
    _refused(_load, (x,), "reads or writes a file")
    _refused(_savetxt, (x,), "reads or writes a file")
    assert not os.path.exists(path)
    _refused(_seterr, (x,), "global state")


_SNAP = np.array([1.0, 2.0, 3.0])


def test_module_array_constant_is_a_snapshot():
    from gradc.frontend.python import Lowering, parse_function
    from gradc.ir import Builder

    def uses(x):
        return np.sum(x * _SNAP)

    lw = Lowering.for_function(parse_function(uses), Builder())
    c = lw.lookup("_SNAP", None)
    assert c.value is not _SNAP and not c.value.flags.writeable
    _SNAP[0] = 7.0
    try:
        np.testing.assert_array_equal(c.value, [1.0, 2.0, 3.0])
    finally:
        _SNAP[0] = 1.0


# -- 3./4. results that are the operand itself or a view of it: np.array(copy=None), einsum ---

def _array_copy_none(x):
    y = x * 1.0
    z = np.array(y, copy=None)
    y += 1.0
    return np.sum(z * x)


def _array_copy_none_ndmin(x):
    y = x * 1.0
    z = np.array(y, copy=None, ndmin=2)
    y += 1.0
    return np.sum(z * x)


def _array_copy_none_argument(x):
    y = np.array(x, copy=None)
    y[0] = 0.0
    return np.sum(y) + 10.0 * x[0]


def _scalar_type_alias(x):
    y = x * 1.0
    z = np.float64(y)
    y += 1.0
    return np.sum(z * x)


def _diff_zero(x):
    y = x * 1.0
    z = np.diff(y, 0)
    y += 1.0
    return np.sum(z * x)


def _einsum_transpose(x):
    y = x.reshape(2, 2) * 1.0
    z = np.einsum("ij->ji", y)
    y += 1.0
    return np.sum(z * x.reshape(2, 2))


def _einsum_diagonal(x):
    y = x.reshape(2, 2) * 1.0
    z = np.einsum("ii->i", y)
    y[0, 0] = 5.0
    return np.sum(z * x[:2])


def _einsum_identity(x):
    y = x.reshape(2, 2) * 1.0
    z = np.einsum(y, [0, 1], [1, 0])
    y += 1.0
    return np.sum(z * x.reshape(2, 2))


def _array_copies(x):  # NumPy copies here: the update is not seen through z
    y = x * 1.0
    z = np.array(y) + np.array(y, copy=True) + np.einsum("ij,jk->ik", y.reshape(2, 2), y.reshape(2, 2)).ravel()
    w = np.array(y, copy=None, dtype=np.float32)  # a cast: a copy
    w += 1.0
    y += 1.0
    return np.sum(z * x) + np.sum(y)


def test_results_that_alias_their_operand():
    x = np.array([0.3, -1.2, 2.0, 0.7])
    for fn in (_array_copy_none, _array_copy_none_ndmin, _array_copy_none_argument, _scalar_type_alias,
               _diff_zero, _einsum_transpose, _einsum_diagonal, _einsum_identity):
        with pytest.raises(gradc.CompileError, match="in-place|item or slice"):
            gradc.value_and_grad(fn, wrt=0)(x.copy())
    v, g = gradc.value_and_grad(_array_copies, wrt=0)(x.copy())
    value, grad = _oracle(_array_copies, (x.copy(),))
    np.testing.assert_allclose(v, value, rtol=1e-6)
    np.testing.assert_allclose(g, grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("subscripts, shapes", [
    ("ij->ji", [(2, 3)]), ("ii->i", [(3, 3)]), ("ij", [(2, 3)]), ("...", [(2, 3)]), ("ij->ij", [(2, 3)]),
    ("ijk->kji", [(2, 3, 4)]), ("ij->i", [(2, 3)]), ("ij,jk->ik", [(2, 3), (3, 4)]), ("i,i->i", [(3,), (3,)]),
    ("ii", [(3, 3)]), ("i->", [(3,)])])
def test_einsum_memory_kind_matches_numpy(subscripts, shapes):
    from gradc.frontend.python import _call_kind
    arrays = [np.arange(float(np.prod(s))).reshape(s) + 1 for s in shapes]
    out = np.einsum(subscripts, *arrays)
    expected = tuple(i + 1 for i, a in enumerate(arrays) if np.shares_memory(out, a))
    assert _call_kind(np.einsum, [subscripts, *arrays], {}, "fresh") == expected


# -- 5. += on read-only views: NumPy raises ValueError -----------------------------------

def _broadcast_inplace(x):
    y = np.broadcast_to(x[0] * 1.0, (3,))
    y += 1.0
    return np.sum(y * x)


def _diagonal_inplace(x):
    M = np.outer(x, x)
    d = np.diagonal(M)
    d += 1.0
    return np.sum(d)


def _diagonal_method_item(x):
    M = np.outer(x, x)
    d = M.diagonal()
    d[0] = 1.0
    return np.sum(d)


def _diag_inplace(x):
    M = np.outer(x, x)
    d = np.diag(M)
    d *= 2.0
    return np.sum(d)


def _diag_view_transposed(x):
    M = np.outer(x, x)
    d = np.broadcast_to(M, (2, 3, 3)).T
    d += 1.0
    return np.sum(d)


def _diag_of_vector_is_writable(x):
    D = np.diag(x * 1.0)
    D += 1.0
    return np.sum(D * D)


def test_in_place_update_of_read_only_views_is_refused():
    x = np.array([0.5, -1.5, 2.0])
    for fn in (_broadcast_inplace, _diagonal_inplace, _diagonal_method_item, _diag_inplace,
               _diag_view_transposed):
        with pytest.raises(ValueError, match="read-only"):
            fn(x.copy())
        _refused(fn, (x,), "read-only")
    _agrees(_diag_of_vector_is_writable, (x,))


# -- 6. containers not made inside the function are never changed in place -------------------

_HISTORY = [1.0]
_SEEN = {1}
_OTHER = {2}


def _module_list_alias(x):
    h = _HISTORY
    h += [2.0]
    return x[0] * len(h)


def _module_set_alias(x):
    s = _SEEN
    s |= _OTHER
    return x[0] * len(s)


def _helper_default(x, acc=[]):  # noqa: B006 -- the point: a default list persists across calls
    acc += [1.0]
    return x * len(acc)


def _default_list(x):
    return np.sum(_helper_default(x))


def _local_lists(x):
    a = [1.0]
    b = a
    a += [2.0]                  # b is the same list: it grows too
    c = _HISTORY[:]
    c += [3.0]                  # a copy: the module list does not change
    d = list(_HISTORY)
    d *= 2
    return x[0] * (len(b) + len(c) + len(d))


def test_containers_from_outside_are_not_changed_in_place():
    x = np.array([0.5, 1.5])
    for fn in (_module_list_alias, _module_set_alias, _default_list):
        _refused(fn, (x,), "changes it in place")
    assert _HISTORY == [1.0] and _SEEN == {1}
    _agrees(_local_lists, (x,))
    assert _HISTORY == [1.0]


# -- 7. Python's scoping: a name assigned in the function is local in all of it ---------------

y = np.array([10.0, 20.0])
K = 2.0


def _branch_local(x, mode="plain"):
    if mode == "scaled":
        y = x * 2.0  # noqa: F841 -- y is local in the whole function
    return np.sum(y * x)


def _read_before_assign(x):
    t = np.sum(x) * K  # noqa: F821
    K = 3.0  # noqa: N806
    return t * K


def _empty_loop(x):
    for y in range(0):  # noqa: B007
        pass
    return np.sum(x * y)


def _aug_global(x):
    K += 1.0  # noqa: F821
    return np.sum(x) * K


def _global_read_ok(x):
    z = y * x
    return np.sum(z) * K


def test_read_of_an_unbound_local_is_refused():
    x = np.array([0.5, 1.5])
    for fn in (_branch_local, _read_before_assign, _empty_loop, _aug_global):
        with pytest.raises(UnboundLocalError):
            fn(x.copy())
        _refused(fn, (x,), "read before it is assigned")
    _agrees(_global_read_ok, (x,))


# -- 8. ndarray subclasses: their own operators; refused as arguments and constants ------------

def _sum_product(x, y):
    return np.sum(x * y) * 2.0


with __import__("warnings").catch_warnings():
    __import__("warnings").simplefilter("ignore", PendingDeprecationWarning)
    _M8 = np.matrix([[1.0, 2.0], [3.0, 4.0]])
_MA8 = np.ma.array([1.0, 2.0], mask=[0, 1])
_IN_LIST8 = [np.ma.array([1.0, 2.0], mask=[0, 1])]


def _times_matrix(x):
    return np.sum(x * _M8)


def _times_masked(x):
    return np.sum(x * _MA8)


def _times_masked_in_list(x):
    return np.sum(x * _IN_LIST8[0])


class _MyArray(np.ndarray):
    pass


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_ndarray_subclasses_are_refused():
    y = np.array([[1.0], [2.0]])
    vg = gradc.value_and_grad(_sum_product, wrt=0)
    vg(np.array([[1.0, 2.0]]), y)  # a plain array of the same shape first: no cache hit after
    for bad in (np.matrix([[1.0, 2.0]]), np.ma.array([[1.0, 2.0]], mask=[[0, 1]]),
                np.array([[1.0, 2.0]]).view(_MyArray)):
        with pytest.raises(SignatureError, match=r"subclass of ndarray.*np.asarray\(x\)"):
            vg(bad, y)
    with pytest.raises(SignatureError, match="subclass of ndarray"):
        gradc.value_and_grad(_sum_product, wrt=0)({"a": np.matrix([[1.0, 2.0]])}["a"], y)
    x = np.array([0.5, 1.5])
    for fn in (_times_matrix, _times_masked, _times_masked_in_list):
        _refused(fn, (x,), "subclass of ndarray")


# -- siblings: every "fresh" entry of the NumPy tables really returns new memory ----------------

# Calls whose result NumPy makes share an operand for some arguments, and how gradc knows:
_FRESH_EXCEPTIONS = {
    np.split: "returns a list of views: its memory is unknown, so in-place updates are refused",
    np.array_split: "returns a list of views: its memory is unknown, so in-place updates are refused",
    np.nan_to_num: "copy=False (in place) is refused by the lowering",
}


def _trials(X):
    return [(X,), (X, 0), (X, -1), (X, X), (X, (3, 2)), (X, (6,)), (X, 1), (X, 0, 1), (X, 0, 0),
            ("ij->ji", X), ("ij", X), ("ii->i", X), ("...", X), (X, [0, 1], [1, 0]), (X, None, None, True)]


def test_fresh_table_entries_return_new_memory():
    import warnings

    from gradc.frontend import numpy_table
    from gradc.frontend.python import _call_kind, _impure_call
    arrays = [np.arange(1.0, 7.0).reshape(2, 3) / 7, np.arange(1.0, 10.0).reshape(3, 3) / 7,
              np.arange(1.0, 4.0) / 7, np.arange(1.0, 7.0).reshape(1, 2, 3) / 7]
    wrong = []
    for fn in list(numpy_table.TABLE):
        try:
            kind = numpy_table.KIND.get(fn, "fresh")
        except TypeError:
            continue
        if kind != "fresh" or fn in _FRESH_EXCEPTIONS:
            continue
        for X in arrays:
            for args in _trials(X):
                if _impure_call(fn, args, {}):
                    continue  # positional out: refused (test_compile_time_numpy_calls_...)
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        r = fn(*args)
                except Exception:  # noqa: BLE001 -- not a valid call
                    continue
                if isinstance(r, np.ndarray) and any(isinstance(a, np.ndarray) and np.shares_memory(r, a)
                                                     for a in args):
                    if _call_kind(fn, list(args), {}, kind) == "fresh":
                        wrong.append((getattr(fn, "__name__", fn), [np.shape(a) for a in args]))
    assert not wrong, f"NumPy returns shared memory, gradc's memory model says fresh: {wrong}"


def test_fresh_methods_return_new_memory():
    from gradc.frontend import numpy_table
    wrong = []
    for X in (np.arange(1.0, 7.0).reshape(2, 3) / 7, np.arange(1.0, 4.0) / 7):
        for name in numpy_table.METHODS:
            for args in [(), (0,), (-1,), ((3, 2),), ((6,),), (1,), (0, 1), (X.dtype,),
                         (X.dtype, "K", "unsafe", True, False)]:
                if numpy_table.method_kind(name, args, {}) != "fresh" or name in ("sort", "fill", "put",
                                                                                  "resize"):
                    continue
                try:
                    r = getattr(X, name)(*args)
                except Exception:  # noqa: BLE001
                    continue
                if isinstance(r, np.ndarray) and np.shares_memory(r, X):
                    wrong.append((name, args))
    assert not wrong, wrong


def _make_closure_before_binding():
    def inner(x):
        return np.sum(x * K)  # K: the enclosing function's, not yet bound when compiled
    try:
        return gradc.value_and_grad(inner, wrt=0)(np.array([0.5, 1.5]))
    finally:
        K = 3.0  # noqa: F841,N806


def test_read_of_an_empty_closure_cell_is_refused():
    with pytest.raises(gradc.CompileError, match="free variable 'K'"):
        _make_closure_before_binding()


def test_read_only_results_are_modelled_read_only():
    import warnings

    from gradc.frontend import numpy_table
    from gradc.frontend.python import _call_kind, _impure_call
    arrays = [np.arange(1.0, 7.0).reshape(2, 3) / 7, np.arange(1.0, 10.0).reshape(3, 3) / 7,
              np.arange(1.0, 4.0) / 7]
    wrong = []
    for fn in list(numpy_table.TABLE):
        try:
            kind = numpy_table.KIND.get(fn, "fresh")
        except TypeError:
            continue
        for X in arrays:
            for args in _trials(X) + [(X, (2, 3)), (X, (3, 3))]:
                if _impure_call(fn, args, {}):
                    continue
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        r = fn(*args)
                except Exception:  # noqa: BLE001 -- not a valid call
                    continue
                if isinstance(r, np.ndarray) and not r.flags.writeable \
                        and _call_kind(fn, list(args), {}, kind) != "readonly":
                    wrong.append((getattr(fn, "__name__", fn), [np.shape(a) for a in args]))
    for name in numpy_table.METHODS:
        for X in arrays:
            for args in [(), (0,), (0, 1)]:
                try:
                    r = getattr(X, name)(*args)
                except Exception:  # noqa: BLE001
                    continue
                if isinstance(r, np.ndarray) and not r.flags.writeable \
                        and numpy_table.method_kind(name, args, {}) != "readonly":
                    wrong.append((name, args))
    assert not wrong, f"NumPy returns a read-only array, gradc's memory model does not say so: {wrong}"


_SCALE = 2.0


def _row_total(row):
    return np.sum(row) * _SCALE


def _apply_along_axis_user(x):
    W = np.apply_along_axis(_row_total, 1, np.ones((3, 2)))
    return np.sum(x * W)


def _vectorize_user(x):
    W = np.vectorize(_row_total)(np.ones(3))
    return np.sum(x * W)


def _apply_along_axis_numpy(x):
    W = np.apply_along_axis(np.sum, 1, np.ones((3, 2)))
    return np.sum(x * W)


def test_numpy_calling_user_functions_at_compile_time_is_refused():
    """The user's function would run once, while compiling (its reads of _SCALE frozen)."""
    x = np.array([0.5, 1.5, 2.0])
    for fn in (_apply_along_axis_user, _vectorize_user):
        _refused(fn, (x,), "calls a Python function at compile time")
    _agrees(_apply_along_axis_numpy, (x,))
