"""Python-float arguments left as Python floats (codegen.weak_floats): where every read of
one is +, -, *, / with a float64 NumPy value, NumPy computes the same float64 number of the
same type whether it is a Python float (NEP 50: weak) or np.float64 of it, so the generated
code skips the conversion. Everywhere else it converts, so Python's float semantics
(ZeroDivisionError, OverflowError, complex powers) never replace NumPy's. A float subclass
is always converted (its operators could be anything)."""
import warnings

import numpy as np
import pytest

import gradc

from fixtures.numeric import assert_close, fd_grad


def residual(w, X, c):
    return np.sum((c - 1.0 / (1.0 + np.exp(-(X @ w)))) ** 2)


def scaled(w, c, d):
    return np.sum(w * c) / d + np.sum(w / c)


def python_arithmetic(w, c):
    return np.sum(w) * (c * c) + c


def alone(w, c):
    return np.sum(w) + np.exp(c)


def divides(w, c):
    return np.sum(c / (w @ w))


def ratio(w, c, d):
    return np.sum(w) * (c / d)


def in_float32(w, c):
    return np.sum(w * c)


def tree_scale(p):
    return np.sum(p["w"] * p["k"])


class Seconds(float):
    """A float subclass with its own (wrong) subtraction: gradc must never call it."""

    def __sub__(self, other):
        return 42.0

    def __rsub__(self, other):
        return 42.0


def _bits(a):
    return type(a), np.asarray(a).dtype, np.asarray(a).tobytes()


def _numpy(fn, *args):
    """The function as NumPy computes it with its Python floats as float64 (the documented meaning)."""
    return fn(*[np.float64(a) if isinstance(a, float) else a for a in args])


W = np.array([0.3, -1.2, 0.7])
X = np.array([[1.0, 0.5, -2.0], [0.1, 0.2, 0.3]])


@pytest.mark.parametrize("fn,args,weak", [
    (residual, (W, X, 0.25), {"c"}),
    (scaled, (W, 0.5, 3.0), {"c", "d"}),  # d divides np.sum(...), a NumPy float64
    (python_arithmetic, (W, 1.5), set()),  # c * c is Python arithmetic: converted
    (alone, (W, 0.5), set()),  # np.exp(c): converted
    (divides, (W, 2.0), {"c"}),
])
def test_weak_where_numpy_gives_the_same_numbers(fn, args, weak):
    c = gradc.compile(fn, wrt=0, args=args)
    src = c.source.split(f"def {fn.__name__}_value_and_grad(")[0]  # the value function
    names = fn.__code__.co_varnames[:fn.__code__.co_argcount]
    for name, a in zip(names, args):
        if isinstance(a, float):
            converted = f"    {name} = np.float64({name})\n"
            assert (converted not in src) == (name in weak), (name, src)
    value, grad = c.value_and_grad(*args)
    assert _bits(value) == _bits(_numpy(fn, *args))
    assert_close(grad, fd_grad(fn, args, 0), rtol=1e-6)
    assert _bits(c.value(*args)) == _bits(value)


def test_a_float32_program_casts_the_weak_float():
    w32 = W.astype(np.float32)
    c = gradc.compile(in_float32, wrt=0, args=(w32, 0.1))
    value, grad = c.value_and_grad(w32, 0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        want = in_float32(w32, 0.1)  # NEP 50: float32
    assert _bits(value) == _bits(want) and grad.dtype == np.float32


def test_division_by_zero_is_numpys_inf():
    c = gradc.compile(divides, wrt=0, args=(W, 2.0))
    zero = np.zeros(3)
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        value = c.value(zero, 2.0)  # 2.0 / 0.0 between a Python float and np.float64: inf, not an error
    assert value == np.inf and type(value) is np.float64
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError):
        c.value(zero, 2.0)
    c = gradc.compile(ratio, wrt=0, args=(W, 1.0, 2.0))  # c / d: two Python floats, converted
    assert "np.float64(c)" in c.source and "np.float64(d)" in c.source
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        value, grad = c.value_and_grad(W, 1.0, 0.0)  # NumPy's inf, never ZeroDivisionError
    assert value == -np.inf and np.all(np.isinf(grad))


def test_a_float_subclass_is_converted():
    c = gradc.compile(residual, wrt=0, args=(W, X, 0.25))
    value, grad = c.value_and_grad(W, X, Seconds(0.25))  # the general path (not `type(c) is float`)
    want, want_grad = c.value_and_grad(W, X, 0.25)
    assert _bits(value) == _bits(want) and np.array_equal(grad, want_grad)
    vg = gradc.value_and_grad(residual)
    vg(W, X, 0.25)
    assert _bits(vg(W, X, Seconds(0.25))[0]) == _bits(want)


class Real(float):
    """A float subclass: NumPy computes with its instances as strong float64 values."""


def test_a_float_subclass_is_a_strong_float64_as_in_numpy():
    w32 = W.astype(np.float32)
    value, grad = gradc.value_and_grad(in_float32)(w32, Real(0.1))
    want = in_float32(w32, Real(0.1))  # float64: a float subclass is not weak to NumPy
    assert want.dtype == np.float64 and _bits(value) == _bits(want) and grad.dtype == np.float32
    c = gradc.compile(in_float32, wrt=0, args=(w32, 0.1))
    assert "type(c) is not float" in c.source  # a saved module refuses what it was not made for
    with pytest.raises(ValueError, match="a Python float"):
        c.latest.value_fn(w32, Real(0.1))


class Count(int):
    """An int subclass: a strong int64 to NumPy, a compile-time int to gradc."""


def test_an_int_subclass_is_refused_with_its_name():
    with pytest.raises(gradc.errors.SignatureError, match=r"argument c is an instance of Count, a subclass of int"):
        gradc.value_and_grad(in_float32)(W.astype(np.float32), Count(3))
    with pytest.raises(gradc.errors.SignatureError, match=r"argument p\['k'\] is an instance of Count"):
        gradc.grad(tree_scale)({"w": W, "k": Count(2)})
