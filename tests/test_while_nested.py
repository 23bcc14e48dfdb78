"""Second derivatives through while loops on data nested in other regions.

The reverse sweep of a while loop nested in another while loop (or in a counted `for`
region) reads a tape stored in the outer loop's tape; forward-over-reverse must carry that
tape's tangent too (ad/forward.py, layouts). Every Hessian, hvp and jvp here is checked
against central differences of the compiled gradient (itself checked against differences
of the function), at points away from where a trip count changes.
"""
import numpy as np
import pytest

import gradc
from gradc.regions import has_loops
from tests.fixtures.numeric import assert_close, fd_grad

W = np.array([1.1, 0.9])


def nested_whiles(x):
    while np.sum(x) < 20.0:
        y = x
        while np.max(y) < 3.0:
            y = y * 1.2 + np.sin(y) ** 2
        x = x + np.sqrt(y)
    return np.sum(x ** 2)


def while_in_for_region(x, w):
    s = 0.0
    for i in range(4):  # `i` unused as a number: one loop region, the while loop in its body
        y = x * w
        while np.sum(y) < 20.0:
            y = y * 1.5 + np.sin(y)
        s = s + np.sum(np.sin(y))
        x = x + 0.1 * np.tanh(y)
    return s + np.sum(x ** 2)


def three_deep(x):
    while np.sum(x) < 12.0:
        y = x
        while np.sum(y) < 6.0:
            z = y
            while np.max(z) < 2.0:
                z = z * 1.3 + 0.1 * np.cos(z)
            y = y + 0.5 * np.tanh(z) + 0.2 * y ** 2
        x = x + np.log1p(y)
    return np.sum(np.sin(x) * x)


def while_in_for_in_while(x, w):
    while np.sum(x) < 15.0:
        for i in range(3):
            y = x * w
            while np.sum(y) < 4.0:
                y = y * 1.4 + 0.3 * np.exp(-y)
            x = x + 0.3 * np.sqrt(y)
    return np.sum(x ** 3) / 100.0


def inner_reads_outer(x, w):
    """The inner tape holds several rows (the carry and a product with an invariant), and the
    inner loop reads the outer carry and an argument."""
    t = x * 0.0
    while np.sum(t) < 4.0:
        y = x + t
        while np.sum(y * w) < 8.0:
            y = y * w + np.tanh(y * x)
        t = t + 0.2 * np.sin(y) ** 2 + 0.1
    return np.sum(t * x) + np.sum(w * t ** 2)


def branch_in_nested(x):
    while np.sum(x) < 10.0:
        y = x
        while np.max(y) < 2.5:
            if np.sum(y) > 2.0:
                y = y * 1.3
            else:
                y = y + np.exp(y) * 0.2
        x = x + y * 0.5
    return np.sum(x * np.log(x))


def newton_in_fixed_point(a):
    """A fixed-point iteration whose every step solves x³ = a·(1 + s) by Newton's method."""
    s = np.zeros_like(a)
    change = 1.0
    while change > 1e-10:
        x = np.ones_like(a)
        while np.max(np.abs(x ** 3 - a * (1.0 + s))) > 1e-12:
            x = x - (x ** 3 - a * (1.0 + s)) / (3.0 * x ** 2)
        new = 0.5 * np.sin(x)
        change = np.max(np.abs(new - s))
        s = new
    return np.sum(s * a) + np.sum(x)


CASES = {
    "nested_whiles": (nested_whiles, (np.array([0.3, 0.7]),)),
    "while_in_for_region": (while_in_for_region, (np.array([0.3, 0.7]), W)),
    "three_deep": (three_deep, (np.array([0.3, 0.5]),)),
    "while_in_for_in_while": (while_in_for_in_while, (np.array([0.3, 0.7]), W)),
    "inner_reads_outer": (inner_reads_outer, (np.array([0.6, 0.8]), W)),
    "branch_in_nested": (branch_in_nested, (np.array([0.4, 0.9]),)),
    "newton_in_fixed_point": (newton_in_fixed_point, (np.array([2.0, 5.0, 0.7]),)),
}


def _hessian_by_differences(grad, args, h=1e-5):
    x = args[0]
    rows = []
    for e in np.eye(x.size):
        step = (h * e).reshape(x.shape)
        rows.append((grad(x + step, *args[1:]) - grad(x - step, *args[1:])) / (2 * h))
    return np.array(rows)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_hessian_hvp_and_jvp_against_differences(name):
    fn, args = CASES[name]
    value, grad = gradc.value_and_grad(fn)(*args)
    assert_close(value, fn(*[np.copy(a) for a in args]), rtol=1e-12, atol=1e-12, what=name)
    assert_close(grad, fd_grad(fn, args, 0), rtol=1e-5, atol=1e-6, what=name)
    H = gradc.hessian(fn)(*args)
    expected = _hessian_by_differences(gradc.grad(fn), args)
    assert_close(H, expected, rtol=1e-5, atol=1e-6, what=f"{name} Hessian")
    v = np.linspace(0.5, -1.5, args[0].size)
    assert_close(gradc.hvp(fn)(*args, v), expected @ v, rtol=1e-5, atol=1e-6, what=f"{name} hvp")
    _, derivative = gradc.jvp(fn, args, (v,))
    assert_close(derivative, grad @ v, rtol=1e-9, atol=1e-9, what=f"{name} jvp")


def test_hessian_with_respect_to_two_arguments():
    fn, (x, w) = CASES["inner_reads_outer"]
    blocks = gradc.hessian(fn, wrt=(0, 1))(x, w)
    g = gradc.grad(fn, wrt=(0, 1))
    h = 1e-5
    for j, arg in enumerate((x, w)):  # column block j: differences of both gradients along arg j
        cols = []
        for e in np.eye(arg.size):
            plus = [x, w]
            minus = [x, w]
            plus[j], minus[j] = arg + h * e, arg - h * e
            cols.append([(a - b) / (2 * h) for a, b in zip(g(*plus), g(*minus))])
        for i in range(2):
            assert_close(blocks[i][j], np.array([c[i] for c in cols]).T, rtol=1e-5, atol=1e-6,
                         what=f"block {i}{j}")


@pytest.mark.parametrize("name", ["while_in_for_region", "while_in_for_in_while"])
def test_nested_loops_stay_loops_in_the_hvp_program(name, monkeypatch):
    """The hvp program keeps the for region (no fallback to unrolling it) and is right."""
    monkeypatch.setenv("GRADC_DEBUG_LOOPS", "1")
    fn, args = CASES[name]
    compiled = gradc.compile(fn, args=args)
    v = np.ones(2)
    hvp = compiled.hvp(*args, v)
    assert_close(hvp, _hessian_by_differences(gradc.grad(fn), args) @ v, rtol=1e-5, atol=1e-6)
    derived = compiled.derived("hvp-forward-over-reverse")
    assert has_loops(derived.program if hasattr(derived, "program") else derived[0])


def test_reverse_over_reverse_through_a_nested_while_is_refused():
    fn, args = CASES["nested_whiles"]
    with pytest.raises(gradc.CompileError, match="forward-over-reverse"):
        gradc.hessian(fn, mode="reverse-over-reverse")(*args)
