"""`while` loops whose condition depends on data: one while region (compiler/regions.py).

Every case runs as plain Python (the value oracle) and its gradient is checked against
central differences at points away from where the trip count changes; jvp and Hessians
against differences of gradients; vmap per example; checkpointing; the refusals.
"""
import os
from pathlib import Path

import numpy as np
import pytest

import gradc
from gradc.errors import CompileError
from tests.fixtures.numeric import assert_close, fd_grad

GOLDEN = Path(__file__).parent / "golden"


def newton_sqrt(a):
    x = a
    while abs(x * x - a) > 1e-12:
        x = 0.5 * (x + a / x)
    return x


def newton_cbrt(a):
    x = np.ones_like(a)
    while np.max(np.abs(x ** 3 - a)) > 1e-10:
        x = x - (x ** 3 - a) / (3.0 * x ** 2)
    return np.sum(x * np.arange(1.0, 1.0 + a.size))


def fixed_point(x, c):
    y = x
    while np.max(np.abs(np.cos(c * y) - y)) > 1e-9:
        y = np.cos(c * y)
    return np.sum(y ** 2)


def counted(x):
    err = 1.0
    it = 0
    while err > 1e-3 and it < 50:
        x2 = 0.5 * x + np.sin(x) * 0.1
        err = np.sum(np.abs(x2 - x))
        x = x2
        it += 1
    return np.sum(x * x) + it


def breaks(x):
    s = x
    while True:
        s = s * 1.3 + 0.05
        if np.sum(s) > 10.0:
            break
    return np.sum(s ** 2)


def grows(x):
    steps = 0
    while x.sum() < 10 and steps < 20:
        x = x * 1.5
        steps += 1
    return np.sum(x ** 2)


def while_in_for(x):
    s = 0.0
    for i in range(3):
        y = x * (i + 1)
        while np.sum(y) < 20.0:
            y = y * 1.5 + 0.1
        s = s + np.sum(np.sin(y))
    return s


def for_in_while(x, w):
    while np.sum(x) < 30.0:
        for i in range(3):
            x = x * 1.1 + np.tanh(w * x)
    return np.sum(x ** 2)


def if_in_while(x):
    while np.max(x) < 10.0:
        if np.sum(x) > 5.0:
            x = x * 1.5
        else:
            x = x + 1.0
    return np.sum(np.log(x) * x)


def never_runs(x):
    y = x * 2.0
    while np.sum(y) > 100.0:
        y = y * 0.5
    return np.sum(np.sin(y))


def _points():
    return {
        "newton_cbrt": (newton_cbrt, (np.array([2.0, 5.0, 0.7]),)),
        "fixed_point": (fixed_point, (np.array([0.3, 0.8]), 0.9)),
        "counted": (counted, (np.array([0.7, -0.4, 1.2]),)),
        "breaks": (breaks, (np.array([0.3, 0.55]),)),
        "grows": (grows, (np.array([0.6, 0.9, 1.3]),)),
        "while_in_for": (while_in_for, (np.array([0.3, 0.7]),)),
        "for_in_while": (for_in_while, (np.array([0.3, 0.7]), np.array([0.5, -0.2]))),
        "if_in_while": (if_in_while, (np.array([0.35, 0.7]),)),
        "never_runs": (never_runs, (np.array([0.3, 0.7]),)),
    }


@pytest.mark.parametrize("name", sorted(_points()))
def test_value_and_gradient_match_python_and_differences(name):
    fn, args = _points()[name]
    value, grad = gradc.value_and_grad(fn)(*args)
    assert_close(value, fn(*[np.copy(a) for a in args]), rtol=1e-12, atol=1e-12, what=name)
    assert_close(grad, fd_grad(fn, args, 0), rtol=1e-5, atol=1e-6, what=name)
    compiled = gradc.compile(fn)
    compiled.value_and_grad(*args)
    assert "while" in compiled.source


def test_newton_sqrt_on_a_python_float():
    g = gradc.grad(newton_sqrt)
    for a in (2.5, 7.0, 100.0):
        assert gradc.compile(newton_sqrt)(a) == newton_sqrt(a)
        assert_close(g(a), 0.5 / np.sqrt(a), rtol=1e-9)
        assert isinstance(g(a), float)


def test_gradient_of_a_value_only_the_condition_reads_is_zero():
    def scaled(x, limit):
        while np.sum(x) < limit:
            x = x * 1.5
        return np.sum(x ** 2)

    x, limit = np.array([0.3, 0.4]), 5.0
    gx, glimit = gradc.grad(scaled, wrt=(0, 1))(x, limit)
    assert glimit == 0.0
    assert_close(gx, fd_grad(scaled, (x, limit), 0), rtol=1e-6)


def test_trip_count_follows_the_input():
    def count(x):
        n = 0
        while np.sum(x) < 50.0:
            x = x * 2.0
            n += 1
        return np.sum(x) + n

    f = gradc.compile(count)
    for x in (np.array([0.3, 0.4]), np.array([5.0, 7.0]), np.array([40.0, 30.0])):
        assert f(x) == count(x)
        assert_close(gradc.grad(count)(x), fd_grad(count, (x,), 0), rtol=1e-6)
    assert gradc.grad(count)(np.array([0.3, 0.4]))[0] == 2.0 ** 7
    assert gradc.grad(count)(np.array([5.0, 7.0]))[0] == 2.0 ** 3


def test_float32_stays_float32():
    def grow32(x):
        while np.sum(x) < np.float32(10):
            x = x * np.float32(1.5)
        return np.sum(x * x)

    x = np.array([0.3, 0.7], np.float32)
    value, grad = gradc.value_and_grad(grow32)(x)
    assert value.dtype == np.float32 and grad.dtype == np.float32
    assert value == grow32(x)
    assert_close(grad, fd_grad(grow32, (x.astype(np.float64),), 0), rtol=1e-4)


def _hessian_by_differences(fn, x, h=1e-5):
    g = gradc.grad(fn)
    return np.array([(g(x + h * e) - g(x - h * e)) / (2 * h) for e in np.eye(x.size)])


@pytest.mark.parametrize("fn, x", [(if_in_while, np.array([0.35, 0.7])),
                                   (newton_cbrt, np.array([2.0, 5.0, 0.7])),
                                   (for_in_while, np.array([0.3, 0.7]))])
def test_jvp_and_hessian_against_differences_of_gradients(fn, x):
    args = (x, np.array([0.5, -0.2])) if fn is for_in_while else (x,)
    f = (lambda x: fn(x, args[1])) if fn is for_in_while else fn
    if fn is for_in_while:
        def f(x):
            return for_in_while(x, np.array([0.5, -0.2]))
    H = gradc.compile(f).hessian(x)
    assert_close(H, _hessian_by_differences(f, x), rtol=1e-4, atol=1e-5)
    v = np.linspace(0.5, 1.5, x.size)
    value, derivative = gradc.jvp(f, (x,), (v,))
    assert_close(value, f(x.copy()), rtol=1e-12)
    assert_close(derivative, fd_grad(f, (x,), 0) @ v, rtol=1e-5, atol=1e-6)


def test_vmap_runs_each_example_its_own_iterations():
    xs = np.array([[0.3, 0.4], [5.0, 7.0], [0.9, 0.1]])
    grads = gradc.vmap(gradc.grad(grows))(xs)
    for x, g in zip(xs, grads):
        assert_close(g, gradc.grad(grows)(x), rtol=1e-12)
    values = gradc.vmap(grows)(xs)
    assert_close(values, [grows(x.copy()) for x in xs], rtol=1e-12)


def test_checkpointing_equals_storing_everything():
    x = np.array([0.3, 0.7])
    want = gradc.value_and_grad(while_in_for)(x)
    got = gradc.compile(while_in_for, checkpoint="segments").value_and_grad(x)
    assert_close(got[0], want[0], rtol=1e-12)
    assert_close(got[1], want[1], rtol=1e-12)


def test_listing_and_trace_show_the_loop():
    f = gradc.compile(grows)
    x = np.array([0.6, 0.9, 1.3])
    f.value_and_grad(x)
    listing = str(f.adjoint_ir)
    assert "while True:" in listing and "for k in range(" in listing
    assert "for k in range(iterations - 1, -1, -1):" in f.source and "del tape" not in f.source
    trace = str(f.trace(x))
    assert trace.count("1.5") >= 4  # the four iterations that ran at x, each x * 1.5
    assert "(trip count from data)" in f.graph().source  # a cluster (tests/test_render_regions.py)
    pytest.raises(CompileError, gradc.render.build_graph, f.latest, unroll=True)  # never written out


def test_reverse_over_reverse_is_refused_cleanly():
    with pytest.raises(CompileError, match="forward-over-reverse"):
        gradc.compile(if_in_while).hessian(np.array([0.35, 0.7]), mode="reverse-over-reverse")


def test_refusals():
    def changes_shape(x):
        y = x
        while np.sum(y) < 10.0:
            y = np.concatenate([y, y])
        return np.sum(y)

    def int_becomes_float(x):
        err = 1
        while err > 1e-3 * np.sum(x):
            err = np.sum(x) * 0.5
            x = x * 0.5
        return np.sum(x)

    def returns_inside(x):
        while np.sum(x) < 10.0:
            if np.max(x) > 3.0:
                return np.sum(x)
            x = x * 2.0
        return np.sum(x)

    def first_bound_inside(x):
        while np.sum(x) < 10.0:
            x = x * 2.0
            last = x
        return np.sum(last)

    def counter_meets_float32(x):
        it = 0
        while np.sum(x) < 10.0:
            x = x * 2.0
            it += 1
        return np.sum(x.astype(np.float32) * it)

    x = np.array([0.5, 0.7])
    for fn, what in [(changes_shape, "shape or dtype"), (int_becomes_float, "shape or dtype"),
                     (returns_inside, "return"), (first_bound_inside, "first bound"),
                     (counter_meets_float32, "Python int")]:
        with pytest.raises(CompileError, match=what) as info:
            gradc.grad(fn)(x)
        assert info.value.loc is not None and info.value.loc.lineno is not None, fn.__name__


def relaxation(u, f, h):
    """Jacobi iterations on -u'' = f until the update is small (a realistic while loop)."""
    change = np.inf
    sweeps = 0
    while change > 1e-6 and sweeps < 500:
        inner = 0.5 * (u[:-2] + u[2:] + h * h * f[1:-1])
        new = np.concatenate([u[:1], inner, u[-1:]])
        change = np.max(np.abs(new - u))
        u = new
        sweeps += 1
    return np.sum(u ** 2) * h


def test_golden_generated_source():
    n = 8
    u, f, h = np.zeros(n), np.linspace(0.0, 1.0, n), 1.0 / (n - 1)
    compiled = gradc.compile(relaxation, wrt="f", args=(u, f, h))
    value, grad = compiled.value_and_grad(u, f, h)
    assert_close(value, relaxation(u, f, h), rtol=1e-12)
    assert_close(grad, fd_grad(lambda f: relaxation(u, f, h), (f,), 0), rtol=1e-5, atol=1e-7)
    path = GOLDEN / "relaxation_while.py"
    if os.environ.get("GRADC_UPDATE_GOLDEN") == "1":
        path.write_text(compiled.source)
    assert compiled.source == path.read_text(), f"generated output changed: diff against {path}"


def nested_nonlinear(x):
    while np.sum(x) < 20.0:
        y = x
        while np.max(y) < 3.0:
            y = y * 1.2 + np.sin(y) ** 2
        x = x + np.sqrt(y)
    return np.sum(x ** 2)


def test_nested_while_gradient_and_its_hessian():
    """(more nestings, hvp and jvp: tests/test_while_nested.py)"""
    x = np.array([0.3, 0.7])
    value, grad = gradc.value_and_grad(nested_nonlinear)(x)
    assert value == nested_nonlinear(x.copy())
    assert_close(grad, fd_grad(nested_nonlinear, (x,), 0), rtol=1e-5, atol=1e-6)
    H = gradc.compile(nested_nonlinear).hessian(x)
    assert_close(H, _hessian_by_differences(nested_nonlinear, x), rtol=1e-5, atol=1e-6)


def counter_scales_a_float32_scalar(x):
    it = 0
    while x < 10.0:
        x = x * np.float32(1.5)
        it += 1
    return x * (it * 0.25)


def test_a_counter_times_a_python_float_stays_a_weak_python_float():
    """`it * 0.25` is a Python float in Python (weak under NEP 50): float32 stays float32, and
    the generated code holds NumPy values where the IR says so (it crashed with .astype)."""
    x = np.float32(3.0)
    value, grad = gradc.value_and_grad(counter_scales_a_float32_scalar)(x)
    expected = counter_scales_a_float32_scalar(x)
    assert type(value) is type(expected) is np.float32 and value == expected
    assert grad == np.float32(2.53125)
    xs = np.array([3.0, 4.0], dtype=np.float32)
    with pytest.raises(gradc.CompileError):  # an array of float32 meeting the int64 counter: refused
        gradc.value_and_grad(lambda_free_counter_array, wrt=0)(xs)


def lambda_free_counter_array(x):
    it = 0
    while np.sum(x) < 10.0:
        x = x * np.float32(1.5)
        it += 1
    return np.sum(x * it)


def slow_growth(x):
    y = x
    while np.sum(y) < 30.0:
        y = y * 1.01 + 0.01 * np.sin(y)
    return np.sum(y ** 2)


def test_a_long_while_loop_is_elided_in_the_trace_but_its_values_are_kept():
    """As a long for loop's: the first 2 and the last iteration shown, one row for the others
    (forward and reverse); value and gradient are the full loop's, and the hidden
    iterations' values stay in `primal`, stacked over them, by the body's v-index."""
    x = np.array([0.3, 0.7])
    c = gradc.compile(slow_growth)
    table = c.trace(x)
    text = str(table)
    n = 0
    y = x.copy()
    while np.sum(y) < 30.0:
        y = y * 1.01 + 0.01 * np.sin(y)
        n += 1
    assert n > 200  # (more than a trace table once listed)
    assert text.count(f"{n - 3} of {n} iterations (2–{n - 2}) of the loop at line") == 2, text
    assert len(text.splitlines()) < 60
    value, grad = c.value_and_grad(x)
    assert table.value == value and np.allclose(table.gradient, grad, rtol=1e-12, atol=0)
    assert_close(grad, fd_grad(slow_growth, (x,), 0), rtol=1e-5, atol=1e-6)
    carried = [r for r in table.forward if r.equation == f"after iteration {n - 2}"]
    assert len(carried) == 1
    stacked = [v for v in table.primal.values() if np.shape(v) == (n - 3, 2)]
    assert any(np.array_equal(v[-1], carried[0].value) for v in stacked)
    assert "⋮" in table.to_markdown() and "⋮" in table.to_html()


def test_the_trace_of_a_long_while_loop_is_not_a_copy_per_iteration():
    from gradc.regions import unroll_whiles

    def many(x):
        n = np.sum(x) * 0.0
        while n < 20000.0:
            x = x * 0.9999 + 0.0001
            n = n + 1.0
        return np.sum(x)

    c = gradc.compile(many)
    x = np.array([0.3, 0.7])
    c.value_and_grad(x)
    ir = c.ir if hasattr(c, "ir") else None
    flat = unroll_whiles(ir, [x])
    assert len(flat.ops) < 60
    from gradc.interpret import evaluate
    env = evaluate(flat, x)
    assert env[flat.outputs[0]] == many(x.copy())


def test_a_nested_while_loop_is_elided_at_each_level():
    x = np.array([0.3, 0.7])
    table = gradc.compile(nested_nonlinear).trace(x)
    value, grad = gradc.value_and_grad(nested_nonlinear)(x)
    assert table.value == value and np.allclose(table.gradient, grad, rtol=1e-12, atol=0)


def while_in_if(x):
    if np.sum(x) > 0.5:
        y = x
        while np.sum(y) < 20.0:
            y = y * 1.1
    else:
        y = x * 2.0
    return np.sum(y ** 2)


@pytest.mark.parametrize("x", [np.array([0.3, 0.7]), np.array([0.1, 0.2])])
def test_the_trace_of_a_while_loop_in_a_branch(x):
    """(the trace crashed with a raw ValueError: the branch taken is now written out first)"""
    table = gradc.compile(while_in_if).trace(x)
    value, grad = gradc.value_and_grad(while_in_if)(x)
    assert table.value == value == while_in_if(x.copy())
    assert np.allclose(table.gradient, grad, rtol=1e-12, atol=0)
