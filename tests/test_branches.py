"""Data-dependent `if`/`elif`/`else`, conditional expressions and early `return`: cond regions.

Every case runs as plain Python (the value oracle) and its gradient is checked against
central differences at points that take each branch; loops whose iterations take
different branches, nested branches, and the refusals that must stay refusals.
"""
import math
import warnings

import numpy as np
import pytest

import gradc
from gradc.errors import CompileError
from tests.fixtures.numeric import assert_close, fd_grad


def sqrt_if_large(x, w):
    s = np.sum(w * x)
    if s > 0:
        y = np.sqrt(s) * w
    else:
        y = -s * w
    return np.sum(y ** 2)


def piecewise_elif(x):
    t = np.sum(x)
    if t < -1.0:
        r = -t - 0.5
    elif t < 1.0:
        r = 0.5 * t ** 2
    else:
        r = t - 0.5
    return r * np.mean(x ** 2)


def huber_scalar(r, delta):
    a = np.abs(r)
    return 0.5 * r ** 2 if a <= delta else delta * (a - 0.5 * delta)


def early_return(x, w):
    z = x @ w
    if np.max(z) > 2.0:
        return np.sum(np.log1p(np.exp(z)))
    z = z * 0.5
    return np.sum(z ** 2) + 1.0


def grad_clip(g, max_norm):
    norm = np.linalg.norm(g)
    if norm > max_norm:
        g = g * (max_norm / norm)
    return np.sum(g * np.arange(1.0, g.size + 1))


def scale_python_float(x):
    n = np.sqrt(np.sum(x ** 2))
    if n > 1.0:
        scale = 1.0 / n
    else:
        scale = 1.0
    return np.sum(scale * x ** 3)


def cholesky_only_when_pd(A, b):
    # the untaken branch would raise LinAlgError: only the taken branch may run
    if np.min(np.linalg.eigvalsh(A)) > 0:
        L = np.linalg.cholesky(A)
        r = np.sum(np.log(np.diag(L))) + b @ b
    else:
        r = np.sum(A ** 2) + np.sum(b)
    return r


def rnn_branch_per_step(h0, W, X):
    h = h0
    for t in range(X.shape[0]):
        a = W @ h + X[t]
        if np.sum(a) > 0:
            h = np.tanh(a)
        else:
            h = 0.5 * a
    return np.sum(h ** 2)


def nested(x, y):
    s = np.sum(x)
    if s > 0:
        if np.sum(y) > 0:
            r = s * np.sum(y ** 2)
        else:
            r = s - np.sum(y)
    else:
        r = np.exp(s) * np.sum(y)
    return r


def tuple_result(x):
    if np.sum(x) > 0:
        a, b = x * 2.0, np.sum(x)
    else:
        a, b = -x, np.prod(x)
    return np.sum(a) * b


def ternary_in_loop(x):
    total = 0.0
    for i in range(x.shape[0]):
        total = total + (x[i] ** 2 if x[i] > 0 else -x[i])
    return total


def max_two_losses(a, b):
    l1 = np.sum(a ** 2)
    l2 = np.sum(np.sin(b))
    return l1 if l1 > l2 else l2


def unchanged_in_one_branch(x, y):
    h = x * y
    if np.mean(h) > 0.1:
        h = np.tanh(h)
    return np.sum(h * x)


def return_in_both(x):
    if np.sum(x) > 0:
        return np.sum(x ** 2)
    else:
        return np.sum(np.exp(x))


CASES = [
    (sqrt_if_large, [np.array([1.0, 2.0, 3.0]), np.array([0.5, -0.2, 0.1])], (1,)),
    (sqrt_if_large, [np.array([1.0, 2.0, 3.0]), np.array([-0.5, 0.2, -0.1])], (0, 1)),
    (piecewise_elif, [np.array([-2.0, 0.3, -0.1])], (0,)),
    (piecewise_elif, [np.array([0.2, 0.3, -0.1])], (0,)),
    (piecewise_elif, [np.array([2.0, 0.3, -0.1])], (0,)),
    (huber_scalar, [0.3, 1.0], (0, 1)),
    (huber_scalar, [-2.5, 1.0], (0, 1)),
    (early_return, [np.array([[1.0, 2.0], [0.5, -1.0]]), np.array([1.5, 0.3])], (0, 1)),
    (early_return, [np.array([[0.1, 0.2], [0.5, -1.0]]), np.array([0.5, 0.3])], (0, 1)),
    (grad_clip, [np.array([3.0, -4.0, 1.0]), 1.0], (0, 1)),
    (grad_clip, [np.array([0.3, -0.4, 0.1]), 1.0], (0, 1)),
    (scale_python_float, [np.array([0.9, -0.8])], (0,)),
    (scale_python_float, [np.array([0.2, -0.3])], (0,)),
    (cholesky_only_when_pd, [np.array([[2.0, 0.3], [0.3, 1.0]]), np.array([0.5, -1.0])], (0, 1)),
    (cholesky_only_when_pd, [np.array([[1.0, 2.0], [2.0, 1.0]]), np.array([0.5, -1.0])], (0, 1)),
    (rnn_branch_per_step, [np.array([0.1, -0.2]), np.array([[0.5, -0.3], [0.2, 0.8]]),
                           np.array([[0.3, 0.1], [-1.0, -0.5], [0.4, 0.9], [-0.2, -0.6], [0.7, 0.1]])],
     (0, 1, 2)),
    (nested, [np.array([0.5, 0.2]), np.array([0.3, 0.4])], (0, 1)),
    (nested, [np.array([0.5, 0.2]), np.array([-0.3, -0.4])], (0, 1)),
    (nested, [np.array([-0.5, 0.2]), np.array([0.3, 0.4])], (0, 1)),
    (tuple_result, [np.array([0.5, 0.2])], (0,)),
    (tuple_result, [np.array([-0.5, 0.2])], (0,)),
    (ternary_in_loop, [np.array([0.5, -0.2, 1.5, -3.0])], (0,)),
    (max_two_losses, [np.array([0.5, 0.2]), np.array([1.0, 1.2])], (0, 1)),
    (max_two_losses, [np.array([1.5, 0.2]), np.array([1.0, 1.2])], (0, 1)),
    (unchanged_in_one_branch, [np.array([0.5, 0.9]), np.array([0.6, 0.3])], (0, 1)),
    (unchanged_in_one_branch, [np.array([0.1, 0.2]), np.array([0.1, 0.3])], (0, 1)),
    (return_in_both, [np.array([0.5, 0.2])], (0,)),
    (return_in_both, [np.array([-0.5, 0.2])], (0,)),
]


@pytest.mark.parametrize("fn,args,wrt", CASES, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_value_and_gradient(fn, args, wrt):
    value, grads = gradc.value_and_grad(fn, wrt=wrt)(*args)
    assert_close(value, fn(*args), rtol=1e-12, atol=1e-12, what="value")
    for g, i in zip(grads, wrt):
        assert_close(g, fd_grad(fn, args, i), what=f"d/d arg {i}")


@pytest.mark.parametrize("fn,args,wrt", CASES[:12], ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES[:12])])
def test_hessian_vector_products(fn, args, wrt):
    """Forward over reverse through the branches: the Hessian against differences of gradients."""
    i = wrt[0]
    if isinstance(args[i], float):
        return
    H = gradc.hessian(fn, wrt=i)(*args)
    g = gradc.grad(fn, wrt=i)
    x = args[i]
    eps = 1e-6
    cols = []
    for e in np.eye(x.size):
        hi, lo = list(args), list(args)
        hi[i], lo[i] = x + eps * e.reshape(x.shape), x - eps * e.reshape(x.shape)
        cols.append((np.asarray(g(*hi)) - np.asarray(g(*lo))).ravel() / (2 * eps))
    assert_close(np.asarray(H).reshape(x.size, x.size), np.array(cols).T, rtol=1e-4, atol=1e-5, what="hessian")


def test_branch_is_an_if_in_both_sweeps():
    c = gradc.compile(sqrt_if_large, wrt="w")
    c(np.array([1.0, 2.0, 3.0]), np.array([0.5, -0.2, 0.1]))
    src = c.source
    assert src.count("if v3:") == 3 and src.count("else:") == 3  # primal, forward and reverse sweeps
    listing = str(c.ir)
    assert "if v_3:" in listing and "else:" in listing


def test_untaken_branch_never_runs():
    A = np.array([[1.0, 2.0], [2.0, 1.0]])  # indefinite: cholesky would raise
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grads = gradc.value_and_grad(cholesky_only_when_pd, wrt=(0, 1))(A, np.array([0.5, -1.0]))
    assert value == cholesky_only_when_pd(A, np.array([0.5, -1.0]))


def test_branches_differ_per_iteration_in_a_loop_region():
    c = gradc.compile(rnn_branch_per_step, wrt=(1,))
    args = CASES[15][1]
    c(*args)
    assert c.source.count("for ") >= 2  # the loop stays a loop in both sweeps
    assert "if " in c.source


def bound_in_one_branch(x):
    if np.sum(x) > 0:
        y = x * 2
    return np.sum(y)


def shapes_differ(x):
    if np.sum(x) > 0:
        y = x
    else:
        y = np.sum(x)
    return np.sum(y)


def int_from_branch(x):
    if np.sum(x) > 0:
        k = 1
    else:
        k = 2
    return np.sum(x) * k


def int_used_as_an_index(x):
    if np.sum(x) > 0:
        k = 1
    else:
        k = 2
    return x[k] * 2.0  # a gather at run time (NumPy checks the index there)


def array_truth(x):
    if x > 0:
        return np.sum(x)
    return -np.sum(x)


def return_in_loop(x):
    for i in range(3):
        if x[i] > 0:
            return x[i] * 2.0
    return np.sum(x)


def append_in_branch(x):
    out = []
    if np.sum(x) > 0:
        out.append(x)
    return np.sum(x)


def mixed_float32(x):
    if np.sum(x) > 0:
        s = 0.1  # not exact in float32: NumPy would compute with 0.1 or a float32 by branch
    else:
        s = np.sum(x)
    return np.sum(s * x)


def mixed_meets_float16(x, h):
    if np.sum(x) > 0:
        s = 2.0
    else:
        s = np.sum(x)
    return np.sum(s * h) + np.sum(x)


@pytest.mark.parametrize("fn,args,needle", [
    (bound_in_one_branch, [np.ones(2)], "bound in one branch only"),
    (shapes_differ, [np.ones(2)], "different shapes or dtypes"),
    (array_truth, [np.ones(2)], "ambiguous"),
    (return_in_loop, [np.ones(3)], "return inside a loop"),
    (append_in_branch, [np.ones(2)], "append"),
    (mixed_float32, [np.ones(2, dtype=np.float32)], "Python float in one branch"),
    (mixed_meets_float16, [np.ones(2), np.ones(2, dtype=np.float16)], "Python float in one branch"),
])
def test_refusals_name_the_construct(fn, args, needle):
    with pytest.raises(CompileError) as e:
        gradc.value_and_grad(fn, wrt=0)(*args)
    assert needle in str(e.value)
    assert e.value.loc is not None


def test_mixed_python_float_with_float64_data_is_fine():
    x = np.array([0.5, -1.0])
    value, (g,) = gradc.value_and_grad(mixed_float32, wrt=(0,))(x)
    assert_close(value, mixed_float32(x), rtol=1e-14, atol=0)
    assert_close(g, fd_grad(mixed_float32, [x], 0))


def test_python_float_branches_stay_weak_with_float32():
    x = np.array([0.5, 0.25], dtype=np.float32)
    value, (g,) = gradc.value_and_grad(scale_python_float, wrt=(0,))(x)
    expected = scale_python_float(x)
    assert np.asarray(value).dtype == np.asarray(expected).dtype == np.float32
    assert g.dtype == np.float32
    assert math.isclose(float(value), float(expected), rel_tol=1e-6)


def test_former_refusals_now_compile_to_the_right_gradient():
    """Constructs the error fixtures used to refuse: an if and a conditional expression on
    data, `not` of a traced value, a compile-time break."""
    from fixtures import bad as B
    from tests.test_trust_frontend import if_traced, not_traced

    for fn in (B.data_if, B.data_ifexp, B.break_statement, B.and_of_losses, if_traced, not_traced):
        for w in (np.array([0.5, 0.3, 0.2]), np.array([-0.5, 0.3, -0.2]), np.array([-0.5, -0.3, -0.2])):
            value, (g,) = gradc.value_and_grad(fn, wrt=(0,))(w)
            assert_close(value, fn(w), rtol=1e-14, atol=0, what=fn.__name__)
            assert_close(g, fd_grad(fn, [w], 0), what=fn.__name__)


# -- break and continue (flags: frontend/branches.py without_jumps) ----------------------

def gd_early_stop(w0, X, y):
    w = w0
    for i in range(20):
        g = X.T @ (X @ w - y) / len(y)
        if np.linalg.norm(g) < 0.5:
            break
        w = w - 0.1 * g
    return np.sum((X @ w - y) ** 2)


def skip_negative(x):
    t = 0.0
    for i in range(x.shape[0]):
        if x[i] < 0:
            continue
        t = t + x[i] ** 2
    return t


def first_above(x, threshold):
    r = np.sum(x) * 0.0
    for i in range(x.shape[0]):
        if x[i] > threshold:
            r = x[i] * 3.0
            break
    else:
        r = np.sum(x ** 2)
    return r


def compile_time_break(x):
    t = 0.0
    for i in range(10):
        if i == 3:
            break
        t = t + x[i]
    return t


def static_while(x):
    i = 0
    t = 0.0
    while i < 4:
        t = t + x[i] * i
        i += 1
    return t


def break_then_continue(x):
    t = x[0] * 0.0
    for i in range(x.shape[0]):
        if x[i] > 2.0:
            break
        if x[i] < 0.0:
            continue
        t = t + np.sin(x[i])
    return t


def scan_rows_break(X, w):
    h = np.zeros(X.shape[1])
    for row in X:
        h = np.tanh(h + row * w)
        if np.sum(h) > 1.5:
            break
    return np.sum(h ** 2)


_rng = np.random.default_rng(0)
_X, _y = _rng.normal(size=(6, 3)), _rng.normal(size=6)
JUMPS = [
    (gd_early_stop, [np.zeros(3), _X, _y], (0, 1, 2)),
    (gd_early_stop, [np.zeros(3), _X * 0.1, _y * 0.1], (0, 1, 2)),  # stops in the first iteration
    (skip_negative, [np.array([1.0, -2.0, 3.0, 0.5])], (0,)),
    (first_above, [np.array([0.5, 2.0, 3.0]), 1.0], (0, 1)),
    (first_above, [np.array([0.5, 0.2, 3.0]), 1.0], (0, 1)),  # breaks in the last iteration
    (first_above, [np.array([0.5, 0.2, 0.3]), 1.0], (0, 1)),  # never breaks: the else clause
    (first_above, [np.array([1.5, 0.2, 0.3]), 1.0], (0, 1)),  # breaks in the first iteration
    (compile_time_break, [np.arange(10.0)], (0,)),
    (static_while, [np.arange(5.0)], (0,)),
    (break_then_continue, [np.array([0.5, -1.0, 1.5, 3.0, 0.7])], (0,)),
    (break_then_continue, [np.array([0.5, -1.0, 1.5, 1.0, 0.7])], (0,)),
    (scan_rows_break, [np.array([[0.3, 0.2], [0.9, 0.8], [0.5, 0.1], [1.0, 1.0]]), np.array([1.0, 0.5])], (0, 1)),
    (scan_rows_break, [np.array([[0.1, 0.2], [0.1, 0.1], [0.1, 0.1], [0.1, 0.1]]), np.array([1.0, 0.5])], (0, 1)),
]


@pytest.mark.parametrize("fn,args,wrt", JUMPS, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(JUMPS)])
def test_break_and_continue(fn, args, wrt):
    value, grads = gradc.value_and_grad(fn, wrt=wrt)(*args)
    assert_close(value, fn(*args), rtol=1e-12, atol=1e-12, what="value")
    for g, i in zip(grads, wrt):
        assert_close(g, fd_grad(fn, args, i), what=f"d/d arg {i}")


def forever(x):
    while True:
        x = x * 0.5
        if np.sum(x) < 1.0:
            break
    return np.sum(x)


def test_while_true_with_break_on_data_is_one_while_loop():
    x = np.array([1.0, 2.0, 0.5])
    value, grad = gradc.value_and_grad(forever, wrt=0)(x)
    assert value == forever(x.copy())
    assert_close(grad, fd_grad(forever, (x,), 0), rtol=1e-6)
    assert "while True:" in gradc.compile(forever).source


# -- regressions from the adversarial round (each was wrong or crashed once) -------------

def target_after_break(x):
    for i in range(10):
        if i == 3:
            break
    return np.sum(x) * i


def list_target_after_break(x, Ws):
    for W in Ws:
        if np.sum(W) > 1.0:
            break
    return np.sum(W @ x)


def while_compile_time_break(x):
    i = 0
    t = x * 0.0
    while i < 10:
        t = t + x * i
        if i == 4:
            break
        i += 1
    return np.sum(t ** 2)


def nested_breaks(x):
    t = 0.0
    for i in range(3):
        for j in range(3):
            if x[j] * i > 1.0:
                break
            t = t + x[j] * i
        if t > 2.0:
            break
    return t


def sqrt_used_in_one_branch(x):
    s = np.sum(x)
    r = np.sqrt(s)  # nan where s < 0, in the branch not taken
    if s > 0:
        return r
    return s ** 2


def and_of_tests(a, b):
    sa, sb = np.sum(a), np.sum(b)
    if sa > 0 and sb > 0:
        return sa * sb
    return sa + sb


def chained_test(x):
    s = np.sum(x)
    if 0 < s < 1:
        return s ** 2
    return np.sin(s)


def or_value(x):
    s = np.sum(x)
    return (s or 1.0) * 2.0


def local_named_like_the_checker(x):
    check_arguments = x * 2.0
    if np.sum(x) > 0:
        check_arguments = check_arguments + 1.0
    return np.sum(check_arguments * x)


_Ws = [np.array([[0.1, 0.2], [0.3, 0.1]]), np.array([[0.9, 0.5], [0.2, 0.1]]), np.array([[0.5, 0.5], [0.5, 0.5]])]
REGRESSIONS = [
    (target_after_break, [np.array([0.5, 0.7])], (0,)),
    (list_target_after_break, [np.array([0.5, 0.7]), _Ws], (0,)),
    (while_compile_time_break, [np.array([0.5, -0.7])], (0,)),
    (nested_breaks, [np.array([0.45, 0.7, 0.2])], (0,)),
    (nested_breaks, [np.array([0.2, 0.3, 0.1])], (0,)),
    (sqrt_used_in_one_branch, [np.array([-0.5, 0.2])], (0,)),
    (sqrt_used_in_one_branch, [np.array([0.5, 0.2])], (0,)),
    (and_of_tests, [np.array([1.0, 2.0]), np.array([0.5, 0.1])], (0, 1)),
    (and_of_tests, [np.array([1.0, 2.0]), np.array([-0.5, 0.1])], (0, 1)),
    (chained_test, [np.array([0.2, 0.3])], (0,)),
    (chained_test, [np.array([1.2, 0.3])], (0,)),
    (chained_test, [np.array([-1.2, 0.3])], (0,)),
    (or_value, [np.array([0.2, 0.5])], (0,)),
    (local_named_like_the_checker, [np.array([0.5, 0.7])], (0,)),
]


@pytest.mark.parametrize("fn,args,wrt", REGRESSIONS, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(REGRESSIONS)])
def test_adversarial_regressions(fn, args, wrt):
    value, grads = gradc.value_and_grad(fn, wrt=wrt)(*args)
    assert_close(value, fn(*args), rtol=1e-12, atol=1e-12, what="value")
    for g, i in zip(grads, wrt):
        assert_close(g, fd_grad(fn, args, i), what=f"d/d arg {i}")


def test_saved_module_with_a_branch_runs_alone(tmp_path):
    import importlib.util

    x = np.array([0.5, 0.7])
    c = gradc.compile(local_named_like_the_checker, args=(x,))
    path = c.save(tmp_path / "branch_module.py")
    spec = importlib.util.spec_from_file_location("branch_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    value, grad = module.local_named_like_the_checker_value_and_grad(x)
    assert value == local_named_like_the_checker(x)
    assert_close(grad, fd_grad(local_named_like_the_checker, [x], 0))


def test_python_ints_joined_from_data_are_int64_counters():
    """`k = 1 if ... else 2`, the loop variable after a break on data, a counter incremented
    after a break on data: Python ints decided by data are int64 values, as a while loop's
    counters (refused where they would meet a narrower array, or pick an element)."""
    for fn, x in ((index_after_data_break, np.array([0.5, 0.7])), (int_from_branch, np.array([0.5, -2.0])),
                  (int_from_branch, np.array([0.5, 2.0])), (counter_after_break, np.array([0.5, 1.0])),
                  (counter_after_break, np.array([2.0, 3.0])), (int_used_as_an_index, np.array([1.0, 2.0, 3.0])),
                  (int_used_as_an_index, np.array([-1.0, -2.5, 3.0]))):
        value, (g,) = gradc.value_and_grad(fn, wrt=(0,))(x)
        assert_close(value, fn(x), rtol=1e-12, atol=1e-12, what=fn.__name__)
        assert_close(g, fd_grad(fn, [x], 0), what=fn.__name__)


def counter_after_break(x):
    s = x
    i = 0
    while i < 100:
        s = s * 1.2 + 0.1
        if np.sum(s) > 20.0:
            break
        i += 1
    return np.sum(s ** 2) + i


def index_after_data_break(x):
    for i in range(10):
        if np.sum(x) * i > 3.0:
            break
    return np.sum(x) * i


@pytest.mark.parametrize("policy", ["segments", gradc.Revolve(2)], ids=["segments", "revolve"])
@pytest.mark.parametrize("fn,args,wrt", CASES[:6] + JUMPS[:4], ids=[c[0].__name__ + str(i) for i, c in enumerate(CASES[:6] + JUMPS[:4])])
def test_checkpointing_through_branches(fn, args, wrt, policy):
    v, g = gradc.value_and_grad(fn, wrt=wrt, checkpoint=policy)(*args)
    v2, g2 = gradc.value_and_grad(fn, wrt=wrt)(*args)
    assert v == v2
    for a, b in zip(g, g2):
        assert_close(a, b, rtol=1e-12, atol=1e-14)


def test_trace_follows_the_branch_taken_and_the_graph_draws_both(tmp_path):
    x = np.array([1.0, 2.0, 3.0])
    c = gradc.compile(sqrt_if_large, wrt="w")
    taken = str(c.trace(x, np.array([0.5, -0.2, 0.1])))
    other = str(c.trace(x, np.array([-0.5, 0.2, -0.1])))
    assert "sqrt(v" in taken and "sqrt(v" not in other
    assert "∇w" in taken and "∇w" in other
    dot = c.graph("forward").source if hasattr(c.graph("forward"), "source") else str(c.graph("forward"))
    assert "sqrt(v" in dot and "subgraph cluster_r1_if" in dot and "subgraph cluster_r1_else" in dot  # both
    c.render(tmp_path / "branches.svg")


def test_per_example_gradients_take_each_examples_branch():
    x = np.array([1.0, 2.0, 3.0])
    W = np.array([[0.5, -0.2, 0.1], [-0.5, 0.2, 0.1], [0.1, 0.1, 0.1]])
    per_example = gradc.vmap(gradc.grad(sqrt_if_large, wrt="w"), in_axes=(None, 0))(x, W)
    for w, g in zip(W, per_example):
        assert_close(g, fd_grad(sqrt_if_large, [x, w], 1))


def cholesky_of_constant(x):
    A = np.array([[1.0, 2.0], [2.0, 1.0]])
    return np.sum(np.linalg.cholesky(A) @ x)


def test_numpy_error_on_constants_is_a_compile_error_at_the_line():
    with pytest.raises(CompileError) as e:
        gradc.value_and_grad(cholesky_of_constant, wrt=0)(np.ones(2))
    assert "LinAlgError" in str(e.value) and e.value.loc is not None


def carried_only_through_branches(h0, X):
    h = h0
    for t in range(X.shape[0]):
        if np.sum(X[t]) > 0:
            if np.sum(h) > 0:
                h = np.tanh(h + X[t])
            else:
                tmp = h * 0.5  # bound and read inside the branch only
                h = tmp + X[t]
    return np.sum(X) * 2.0


def state_read_only_inside_the_loop(h0, X, Y):
    h, loss = h0, 0.0
    for t in range(X.shape[0]):
        h = np.tanh(h + X[t])
        if np.linalg.norm(h) > 1.0:
            h = h / np.linalg.norm(h)
        loss = loss + np.sum((h - Y[t]) ** 2)
    return loss


def test_names_read_in_the_next_iteration_survive_the_join():
    rng = np.random.default_rng(3)
    X, Y, h0 = rng.normal(size=(6, 3)), rng.normal(size=(6, 3)), rng.normal(size=3)
    for fn, args in ((state_read_only_inside_the_loop, [h0, X, Y]), (carried_only_through_branches, [h0, X])):
        value, (g,) = gradc.value_and_grad(fn, wrt=(0,))(*args)
        assert_close(value, fn(*args), rtol=1e-12, atol=1e-12)
        assert_close(g, fd_grad(fn, args, 0))


def test_rnn_clipped_example_against_differences():
    import rnn_clipped

    rng = np.random.default_rng(1)
    args = [rng.normal(size=(4, 4)), rng.normal(size=(4, 3)), rng.normal(size=(12, 3)),
            rng.normal(size=(12, 4)), rng.normal(size=4), 1.5]
    fn = rnn_clipped.rnn_clipped
    value, grads = gradc.value_and_grad(fn, wrt=(0, 1, 4))(*args)
    assert_close(value, fn(*args), rtol=1e-12, atol=1e-12)
    for g, i in zip(grads, (0, 1, 4)):
        assert_close(g, fd_grad(fn, args, i))


# -- with ordinary Python (frontend/constructs.py): the second adversarial round ---------

def walrus_in_ternary(w):
    t = w
    a = (t := w * 2.0) if np.sum(w) > 0 else w
    return np.sum(a) + np.sum(t)


def walrus_in_and(w):
    t = 0.0
    ok = (np.sum(w) > 0) and (t := np.sum(w ** 2)) > 1
    return t + np.sum(w)


def list_built_in_a_branch(w):
    if np.sum(w) > 0:
        xs = [w, 2.0 * w]
    else:
        xs = [w, -w]
    return np.sum(np.stack(xs) ** 2)


def test_walrus_and_new_lists_in_branches():
    for fn in (walrus_in_ternary, walrus_in_and, list_built_in_a_branch):
        for w in (np.array([0.7, -0.4, 1.3]), np.array([-0.7, -0.4, 0.3])):
            value, (g,) = gradc.value_and_grad(fn, wrt=(0,))(w)
            assert_close(value, fn(w), rtol=1e-12, atol=1e-12, what=fn.__name__)
            assert_close(g, fd_grad(fn, [w], 0), what=fn.__name__)


def iterator_consumed_in_a_branch(w):
    it = zip([w, 2.0 * w, 3.0 * w])
    if np.sum(w) > 0:
        for q in it:
            break
    r = 0.0
    for (a,) in it:
        r = r + np.sum(a)
    return r


def iterator_resumed_after_a_data_break(w):
    g = (w * k for k in range(1, 5))
    for a in g:
        if np.sum(a) > 1:
            break
    return sum(np.sum(b) for b in g) + np.sum(a)


def default_list_changed_in_a_branch(w):
    def count(acc=[]):
        acc.append(1)
        return len(acc)
    if np.sum(w) > 0:
        count()
    return np.sum(w) * count()


def walrus_in_a_comprehension_branch(w):
    t = w
    ys = [(t := x * 2.0) if x > 0 else x for x in w]
    return np.sum(np.stack(ys)) + np.sum(t)


@pytest.mark.parametrize("fn", [iterator_consumed_in_a_branch, iterator_resumed_after_a_data_break,
                                default_list_changed_in_a_branch, walrus_in_a_comprehension_branch])
def test_state_changed_under_a_data_branch_is_refused(fn):
    with pytest.raises(CompileError) as e:
        gradc.value_and_grad(fn, wrt=0)(np.array([0.5, 0.1, 0.2]))
    assert "on data" in str(e.value) and e.value.loc is not None
