"""Regressions found by the source fuzzer (tests/test_fuzz_source.py): each program once gave
a wrong number or an internal error. gradc must give NumPy's value and the true gradient,
or refuse with a CompileError."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import gradc
from gradc.errors import InternalError


def _agrees_or_refuses(fn, args, wrt=0, checkpoint=None):
    """gradc's value and gradient equal NumPy's (on copies of args) and central
    differences, or compiling raises a CompileError (never an internal error)."""
    try:
        compiled = gradc.compile(fn, wrt=wrt, args=args, checkpoint=checkpoint)
        value, grad = compiled.value_and_grad(*args)
    except gradc.CompileError as e:
        assert not isinstance(e, InternalError), e
        return "refused"
    expected = fn(*[np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args])
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    slots = wrt if isinstance(wrt, tuple) else (wrt,)
    grads = grad if isinstance(wrt, tuple) else (grad,)
    for i, g in zip(slots, grads):
        x = np.asarray(args[i], dtype=np.float64)
        fd = np.zeros(x.shape)
        for k in np.ndindex(x.shape):
            def at(h):
                moved = np.array(x, copy=True)
                moved[k] += h
                a = list(args)
                a[i] = moved if isinstance(args[i], np.ndarray) else float(moved)
                return fn(*a)
            fd[k] = (at(1e-6) - at(-1e-6)) / 2e-6
        np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7)
    return "ok"


# -- A: 0-d ndarrays are mutable; NumPy scalars are not ------------------------------

def inplace_after_reshape_of_scalar(x):
    v = np.sum(x).reshape((1,))  # a NumPy scalar's reshape: a new 1-d array
    y = v
    v *= 3.0
    return np.sum(y)


def inplace_after_where_of_scalars(s):
    v = np.where(s > 0.0, s, 0.0)  # a 0-d ndarray
    y = v
    v *= 3.0
    return y * 1.0


def inplace_on_view_of_0d(x):
    v1 = np.asarray(np.tanh(x))  # np.tanh gives a scalar; np.asarray makes a 0-d ndarray
    view2 = v1[...]
    y3 = view2
    y3 += y3
    return np.sum(v1)


def inplace_after_expand_dims_of_scalar(x):
    v = np.expand_dims(np.sum(x), 0)
    t = (v, 1.0)
    v += 1.0
    return np.sum(t[0])


def inplace_after_logsumexp_axis(x):
    v = gradc.nn.logsumexp(x, axis=-1)  # np.squeeze(..., axis): a 0-d ndarray
    y = v
    v *= 2.0
    return y + 0.0


def scalar_rebinds(x):
    s = np.sum(x)  # a NumPy scalar: `s += 1` rebinds s, y keeps the old value
    y = s
    s += 1.0
    t = np.tanh(np.asarray(s))  # a ufunc of a 0-d ndarray is a scalar again
    u = t
    t *= 2.0
    return y * s + u


@pytest.mark.parametrize("fn, args", [
    (inplace_after_reshape_of_scalar, (np.array([0.1, 0.2]),)),
    (inplace_after_where_of_scalars, (0.5,)),
    (inplace_on_view_of_0d, (np.array(0.3),)),
    (inplace_after_expand_dims_of_scalar, (np.array([0.1, 0.2]),)),
    (inplace_after_logsumexp_axis, (np.array([0.1, 0.2, -0.3]),)),
])
def test_in_place_update_of_a_0d_array_is_seen_or_refused(fn, args):
    _agrees_or_refuses(fn, args)


def test_in_place_update_of_a_numpy_scalar_rebinds():
    assert _agrees_or_refuses(scalar_rebinds, (np.array([0.1, 0.2]),)) == "ok"


@pytest.mark.parametrize("make, is_array", [
    (lambda a, s, x: np.where(s > 0, s, 0.0), True),
    (lambda a, s, x: np.asarray(s), True),
    (lambda a, s, x: np.array(s), True),
    (lambda a, s, x: s[...], True),
    (lambda a, s, x: a[...], True),
    (lambda a, s, x: a.copy(), True),
    (lambda a, s, x: a.astype(np.float64), True),
    (lambda a, s, x: a.reshape(()), True),
    (lambda a, s, x: gradc.nn.logsumexp(x, axis=-1), True),
    (lambda a, s, x: np.tanh(a), False),
    (lambda a, s, x: a * 2.0, False),
    (lambda a, s, x: np.sum(x), False),
    (lambda a, s, x: x[0], False),
    (lambda a, s, x: a[()], False),
    (lambda a, s, x: s.copy(), False),
    (lambda a, s, x: s.reshape(()), False),
    (lambda a, s, x: np.squeeze(s), False),
    (lambda a, s, x: gradc.nn.logsumexp(x), False),
    (lambda a, s, x: np.dot(x, x), False),
])
def test_the_0d_model_is_numpys(make, is_array):
    """The cases the memory model (frontend/python.py, _fresh) distinguishes, against NumPy."""
    got = make(np.array(0.5), np.float64(0.5), np.array([0.1, 0.2, 0.3]))
    assert isinstance(got, np.ndarray) == is_array and np.ndim(got) == 0


MODULE_0D = np.array(0.5)


def module_0d_array_updated(x):
    c = MODULE_0D  # a module-level 0-d array: `+=` would change it for every later call
    c += 1.0
    return np.sum(x) * c


def module_0d_array_view_updated(x):
    c = MODULE_0D[...]
    c += 1.0
    return np.sum(x) * MODULE_0D


@pytest.mark.parametrize("fn", [module_0d_array_updated, module_0d_array_view_updated])
def test_in_place_update_of_a_module_level_0d_array_is_refused(fn):
    with pytest.raises(gradc.CompileError, match="module-level array"):
        gradc.compile(fn, wrt=0, args=(np.array([0.1, 0.2]),))
    assert MODULE_0D == 0.5


# -- B: a cotangent that is identically zero contributes nothing -----------------------

def where_times_zero(w):
    return np.sum(np.where(w > 0.0, np.sqrt(w), 0.0) * 0.0)


def where_minus_itself(w):
    v = np.where(w > 0.0, np.sqrt(w), 0.0)
    return np.sum(v - v)


def where_times_zero_plus(w):
    return np.sum(np.where(w > 0.0, np.sqrt(w), 1.0) * 0.0 + w)


@pytest.mark.parametrize("fn", [where_times_zero, where_minus_itself, where_times_zero_plus])
def test_zero_cotangent_through_where_is_not_nan(fn):
    w = np.array([0.7, -0.4])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        value, grad = gradc.value_and_grad(fn)(w)
        expected = fn(w)
    assert value == expected
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, np.ones(2) if fn is where_times_zero_plus else np.zeros(2))


# -- C: checkpointing a loss with no steps -------------------------------------------

def constant_loss(x):
    return np.sin(1.5)


def view_loss(x):
    return x[0]


POLICIES = [gradc.Segments(1), "segments", gradc.Revolve(2)]


@pytest.mark.parametrize("policy", POLICIES, ids=str)
@pytest.mark.parametrize("fn", [constant_loss, view_loss])
def test_checkpoint_policy_with_no_steps(fn, policy):
    x = np.array([0.3, 0.2])
    plain = gradc.compile(fn, wrt=0, args=(x,)).value_and_grad(x)
    value, grad = gradc.compile(fn, wrt=0, args=(x,), checkpoint=policy).value_and_grad(x)
    assert value == plain[0]
    np.testing.assert_array_equal(grad, plain[1])


# -- D: two adjoint arguments of one step function never share a name ------------------

def loop_reads_a_shared_value(x, s):
    h = x
    for i in range(3):
        h = h + np.sin(s)
    return np.sum(np.sin(h))


@pytest.mark.parametrize("policy", POLICIES, ids=str)
def test_step_function_arguments_are_distinct(policy):
    args = (np.array([0.3, -0.2]), 1.3)
    plain = gradc.compile(loop_reads_a_shared_value, wrt=(0, 1), args=args).value_and_grad(*args)
    compiled = gradc.compile(loop_reads_a_shared_value, wrt=(0, 1), args=args, checkpoint=policy)
    value, (gx, gs) = compiled.value_and_grad(*args)
    assert value == plain[0]
    np.testing.assert_array_equal(gx, plain[1][0])
    assert gs == plain[1][1]
    assert _agrees_or_refuses(loop_reads_a_shared_value, args, wrt=(0, 1), checkpoint=policy) == "ok"


# -- control flow on data (the source fuzzer's if/while/break generators) --------------


def break_then_row_of_the_carry(x):
    h = 3.0 * x
    for i in range(len(x)):
        h = np.tanh(h) + 0.1
        if np.sum(h) > 0.5:
            break
        h = h + np.sin(h[i])  # a row of the carried value, under the break's flag (a branch)
    return np.sum(h * h) * 0.25


def carry_folded_from_a_numpy_function(x, y):
    h = gradc.nn.relu(0.5)  # NumPy's scalar (np.float64), not a Python float
    for _ in range(len(x)):
        if np.mean(y) > -0.4:
            h = h * 0.5 - 0.25
        else:
            h = np.sin(h) + 0.5
    v = h.flatten()  # an array method: a Python float has none
    return np.sum(h) + np.sum(v * v) + np.sum(x * h)


def numpy_function_of_python_floats_times_float32(x):
    c = gradc.nn.relu(0.5)  # np.float64: promotes the float32 array (NEP 50)
    return np.sum(c * x)


@pytest.mark.parametrize("x", [np.array([[0.2, -0.1], [0.3, 0.05]]), np.array([[-0.4, 0.1], [0.2, 0.3]])])
def test_a_row_of_a_value_made_in_an_enclosing_branch_is_not_a_stacked_input(x):
    """The rows X[i] a loop reads from outside: a value made in an `if` on data inside the loop
    (the flags of a break) is inside it (it crashed as an undefined loop operand)."""
    assert _agrees_or_refuses(break_then_row_of_the_carry, (x,)) == "ok"


def test_a_numpy_function_of_python_numbers_is_a_numpy_scalar():
    x, y = np.array([0.3, 0.4, 0.5]), np.full((2, 3), 0.1)
    assert _agrees_or_refuses(carry_folded_from_a_numpy_function, (x, y)) == "ok"
    x32 = np.ones(3, dtype=np.float32) / 3
    value = gradc.compile(numpy_function_of_python_floats_times_float32, args=(x32,)).value(x32)
    want = numpy_function_of_python_floats_times_float32(x32)
    assert type(value) is type(want) and value == want  # float64, 0.5000000149..., not float32 0.5


_K0 = np.array([0.029, -0.054, 0.013, -0.019])
_K1 = np.array([[0.076, -0.511, -0.474], [0.897, 0.784, 0.688], [0.995, -0.586, -0.098], [0.968, -0.901, 0.613]])


def _first_rows(p, q, scale=0.5):
    v5 = p[:] @ _K1
    return q


@gradc.checkpoint
def _mixed(p, q, scale=2.0):
    v7, v8 = np.where((-0.75 < scale) & (q <= p), q[:], np.exp(np.tanh(q))), p
    v9 = np.tanh(np.dot(v7, v7))
    return np.add(np.tanh(q * v8), p.sum())


def masked_after_a_branch(x, y, s):
    v1 = np.where((np.sin(s) < y) | (s >= x), np.multiply(y, x), s * 1.0).sum(axis=0, keepdims=True)
    h2 = np.transpose(y, (0,))
    for i3 in range(3):
        h2 = h2 + 0.5 * np.sin(v1)
        h2 = np.tanh(h2) + 0.1
        if np.sum(h2) > 0.5:
            break
    v4 = np.dot(np.sin(y), _K0)
    r6 = _first_rows(p=h2, q=h2)
    r10 = _mixed(q=r6, p=v4, scale=s)
    return np.sum(np.sin(h2)) + np.sum(np.sin(r10)) + np.sum(np.sin(r6)) + np.mean(np.tanh(x))


@pytest.mark.parametrize("checkpoint", [None, gradc.Segments(2)], ids=["stored", "segments"])
def test_a_masked_contribution_after_an_if_block_opens_its_own_errstate(checkpoint):
    """A masked derivative contribution (computed under np.errstate) right after an if or loop
    block: the `with` line was left out, as if the one before the block were still open
    (an IndentationError in the generated module; fuzz example 109)."""
    args = (np.array([1.28976242, -1.30918651, 0.11107928, 1.30554721]),
            np.array([-1.2899415, -1.06515764, 0.34833557, 1.00642356]), -1.18079)
    assert _agrees_or_refuses(masked_after_a_branch, args, wrt=(0, 2), checkpoint=checkpoint) == "ok"


def rows_of_a_while_result(x):
    r1 = x.reshape((1, 1)) / (1.0 + np.tanh(x) ** 2)
    k2 = 0
    while np.sum(r1 * r1) > 2.0 and k2 < 6:
        r1 = np.sin(r1) * 0.7
        k2 += 1
    row3, = r1
    row3 *= -1.5  # a view: NumPy changes r1
    return np.sum(r1) + np.sum(row3) + np.sum(x)


def test_unpacked_rows_of_a_value_of_unknown_memory_are_views():
    """`row, = r` where r's memory is only known through its value (a while loop's result):
    the row was taken for a new array, so `row *= -1.5` left r alone (a different value from
    NumPy's; fuzz seed 83, examples 1994-1996). It is refused now, as any update of memory
    gradc cannot trace."""
    x = np.array([0.563581])
    assert _agrees_or_refuses(rows_of_a_while_result, (x,)) == "refused"
