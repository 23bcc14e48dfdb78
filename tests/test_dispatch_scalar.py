"""Scalar programs as Python floats and `math` (compiler/codegen_scalar.py).

The math code must give NumPy's float64 answers (the documented convention for Python-float
arguments): wherever NumPy returns inf or nan (math raises, or a result is not finite) the
module's NumPy functions answer, bit for bit and with NumPy's warnings; elsewhere the values
agree to a few ulps (the C library's exp against NumPy's). Gradients are checked against
central finite differences."""
import math
import warnings

import numpy as np
import pytest

import gradc
from gradc import codegen_scalar

from fixtures.numeric import assert_close, fd_grad


def f_exp(x):
    return np.exp(x) * x + x


def f_log(x):
    return np.log(x) * x + x


def f_sqrt(x):
    return np.sqrt(x) * x + x


def f_sin(x):
    return np.sin(x) * x + x


def f_cos(x):
    return np.cos(x) * x + x


def f_tan(x):
    return np.tan(x) * x + x


def f_tanh(x):
    return np.tanh(x) * x + x


def f_sinh(x):
    return np.sinh(x) * x + x


def f_cosh(x):
    return np.cosh(x) * x + x


def f_arctan(x):
    return np.arctan(x) * x + x


def f_arcsin(x):
    return np.arcsin(x) * x + x


def f_arccos(x):
    return np.arccos(x) * x + x


def f_arcsinh(x):
    return np.arcsinh(x) * x + x


def f_arccosh(x):
    return np.arccosh(x) * x + x


def f_arctanh(x):
    return np.arctanh(x) * x + x


def f_log1p(x):
    return np.log1p(x) * x + x


def f_expm1(x):
    return np.expm1(x) * x + x


def f_log2(x):
    return np.log2(x) + x


def f_log10(x):
    return np.log10(x) + x


def f_recip(x):
    return 1.0 / x + x


def f_square(x):
    return x ** 2 + np.square(x) * 3.0


def f_sqrt_pow(x):
    return x ** 0.5 + x ** -1


def f_cube(x):
    return x ** 3 - 2.0 * x


def f_abs(x):
    return np.abs(x) * x


def f_sigmoid(x):
    return gradc.nn.sigmoid(x) * x


def f_seed002(x):
    return np.sqrt(x**2 + np.exp(x**2)) + np.cos(x**2 + np.exp(x**2))


def f_two(x, y):
    return x ** 2.5 + np.log(x) * y - x / y


FUNCTIONS = [f_exp, f_log, f_sqrt, f_sin, f_cos, f_tan, f_tanh, f_sinh, f_cosh, f_arctan, f_arcsin,
             f_arccos, f_arcsinh, f_arccosh, f_arctanh, f_log1p, f_expm1, f_log2, f_log10, f_recip,
             f_square, f_sqrt_pow, f_cube, f_sigmoid, f_seed002]

POINTS = [0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 1e-300, 5e-324, 30.0, 355.0, 710.0, -710.0, -745.5,
          1e154, 1e200, 1e308, -1e308, math.inf, -math.inf, math.nan, 0.9999999999999999, -0.9999999999999999]


def _numpy_version(c):
    """The module's NumPy functions (the answer wherever math raises or is not finite)."""
    spec = c.latest
    ns = spec.value_and_grad_fn.__globals__
    name = spec.ir.name
    return ns[f"{name}_value_and_grad_numpy"], ns[f"{name}_numpy"]


def _run(fn, *args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args)
    return out, sorted({(w.category.__name__, str(w.message)) for w in caught})


def _bits(a):
    return np.float64(a).tobytes()


def _ulps_close(a, b, ulps=4):
    a, b = float(a), float(b)
    return a == b or abs(a - b) <= ulps * 2.0**-52 * max(abs(a), abs(b)) or abs(a - b) < 1e-300


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_math_code_gives_numpys_answers_at_domain_boundaries(fn):
    c = gradc.compile(fn, wrt="x", args=(0.5,))
    assert "import math" in c.source, "expected scalar code"
    numpy_vg, numpy_value = _numpy_version(c)
    value_type = type(fn(0.5))  # NumPy's: np.float64 from a NumPy function, Python arithmetic a float
    for x in POINTS:
        (v, g), got_warnings = _run(c.value_and_grad, x)
        (nv, ng), want_warnings = _run(numpy_vg, x)
        assert type(v) is value_type and type(g) is float, (x, type(v), type(g))
        assert type(nv) is value_type and type(ng) is float
        if not (math.isfinite(nv) and math.isfinite(ng)):  # NumPy's answer, exactly
            assert (_bits(v), _bits(g)) == (_bits(nv), _bits(ng)), (fn.__name__, x, v, g, nv, ng)
            assert got_warnings == want_warnings, (fn.__name__, x)
        else:
            assert _ulps_close(v, nv) and _ulps_close(g, ng), (fn.__name__, x, v, g, nv, ng)
        value, value_warnings = _run(c.value, x)
        nvalue, nvalue_warnings = _run(numpy_value, x)
        assert type(value) is value_type
        if math.isfinite(nvalue):
            assert _ulps_close(value, nvalue)
        else:
            assert _bits(value) == _bits(nvalue) and value_warnings == nvalue_warnings


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_math_code_gradients_match_finite_differences(fn):
    vg = gradc.value_and_grad(fn, wrt="x")
    for x in (0.3, 0.7, 1.3):
        if fn in (f_arcsin, f_arccos, f_arctanh) and x > 1:
            continue
        if fn is f_arccosh:
            x += 1.0
        value, g = vg(x)
        with np.errstate(all="ignore"):
            assert_close(value, fn(x), rtol=1e-14, atol=1e-300)
            assert_close(g, fd_grad(fn, (x,), 0), rtol=1e-6)


def test_two_arguments_and_math_pow():
    c = gradc.compile(f_two, wrt=("x", "y"), args=(1.5, 2.5))
    assert "math.pow(x, 2.5)" in c.source  # a fractional power of a negative number is NumPy's nan
    numpy_vg, _ = _numpy_version(c)
    for x, y in [(1.5, 2.5), (-8.0, 1 / 3), (0.0, -1.0), (0.0, 0.5), (10.0, 400.0), (-2.0, 2.0), (2.0, 0.0)]:
        (v, (gx, gy)), w1 = _run(c.value_and_grad, x, y)
        (nv, (ngx, ngy)), w2 = _run(numpy_vg, x, y)
        if all(map(math.isfinite, (nv, ngx, ngy))):
            assert _ulps_close(v, nv) and _ulps_close(gx, ngx) and _ulps_close(gy, ngy), (x, y)
        else:  # never a complex number, never an exception: NumPy's nan / inf
            assert [_bits(a) for a in (v, gx, gy)] == [_bits(a) for a in (nv, ngx, ngy)], (x, y)
            assert w1 == w2
    g = gradc.grad(f_two, wrt=("x", "y"))(1.5, 2.5)
    assert_close(g[0], fd_grad(f_two, (1.5, 2.5), 0), rtol=1e-6)
    assert_close(g[1], fd_grad(f_two, (1.5, 2.5), 1), rtol=1e-6)


def test_numpys_error_settings_apply():
    vg = gradc.value_and_grad(f_log, wrt="x")
    vg(0.5)
    numpy_vg, _ = _numpy_version(vg.compiled)
    with np.errstate(divide="raise"):
        with pytest.raises(FloatingPointError):
            vg(0.0)  # math.log raises ValueError; NumPy's code raises as np.errstate says
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("error")
        v, g = vg(0.0)  # quietly NumPy's nan (log(0) * 0)
        nv, ng = numpy_vg(0.0)
    assert math.isnan(v) and (_bits(v), _bits(g)) == (_bits(nv), _bits(ng))


def test_formulas_and_sympy_expressions_get_math_code():
    formula = gradc.compile("sqrt(x**2 + exp(x**2)) + cos(x**2 + exp(x**2))", wrt="x", args=(0.5,))
    assert "math.exp(" in formula.source
    v, g = formula.value_and_grad(0.5)
    v2, g2 = gradc.value_and_grad(f_seed002)(0.5)
    assert _ulps_close(v, v2) and _ulps_close(g, g2)
    assert type(v) is np.float64 and type(g) is float
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        v, g = formula.value_and_grad(1e200)  # overflow: NumPy's nan/inf, not OverflowError
    assert not math.isfinite(v) or not math.isfinite(g)
    sp = pytest.importorskip("sympy")
    x, y = sp.symbols("x y")
    c = gradc.compile(sp.exp(x) * sp.sin(y) + x / y, wrt=(x, y), args=(0.5, 1.5))
    assert "math.sin(" in c.source
    v, (gx, gy) = c.value_and_grad(0.5, 1.5)
    assert_close(gx, math.exp(0.5) * math.sin(1.5) + 1 / 1.5, rtol=1e-14)
    assert_close(gy, math.exp(0.5) * math.cos(1.5) - 0.5 / 1.5**2, rtol=1e-14)
    assert type(gx) is float and type(gy) is float
    assert gradc.grad("x * y", wrt=("x", "y"))(2, 3) == (3.0, 2.0)  # ints are a formula's reals


def _arr(x):
    return np.sum(x * x)


def _mixed(x, w):
    return x * np.sum(w)


def _selects(x):
    return np.maximum(x, 0.0) * x


def test_programs_that_are_not_all_python_floats_stay_numpy():
    assert "import math" not in gradc.compile(f_exp, wrt="x", args=(np.float64(0.5),)).source
    assert "import math" not in gradc.compile(f_exp, wrt="x", args=(np.array(0.5),)).source
    assert "import math" not in gradc.compile(_arr, wrt="x", args=(np.ones(3),)).source
    assert "import math" not in gradc.compile(_mixed, wrt="x", args=(0.5, np.ones(3))).source
    assert "import math" not in gradc.compile(_selects, wrt="x", args=(0.5,)).source  # no math spelling
    assert "import math" not in gradc.compile(f_abs, wrt="x", args=(0.5,)).source  # np.sign: neither
    c = gradc.compile(f_exp, wrt="x", args=(0.5,))
    assert codegen_scalar.applies(c.latest.ir, c.latest.adjoint_ir, c.latest.entry)


def math_named(math, y):
    return np.exp(math) * y


def test_a_parameter_named_math_keeps_numpy_code():
    c = gradc.compile(math_named, wrt="math", args=(0.5, 2.0))
    assert "import math" not in c.source
    assert_close(c.grad(0.5, 2.0), 2.0 * np.exp(0.5), rtol=1e-14)


def keyword_and_static(x, n, *, lam=0.5):
    return x ** n * lam + np.exp(-lam * x)


def test_keywords_defaults_and_compile_time_ints_in_math_code():
    c = gradc.compile(keyword_and_static, wrt=("x", "lam"), args=(1.5, 3))
    assert "math.exp(" in c.source and "def keyword_and_static(x, n, *, lam=0.5):" in c.source
    for n in (2, 3):
        v, (gx, glam) = c.value_and_grad(1.5, n)
        v2, (gx2, glam2) = c.value_and_grad(1.5, n, lam=0.5)
        assert (v, gx, glam) == (v2, gx2, glam2)
        assert_close(gx, fd_grad(keyword_and_static, (1.5, n), 0), rtol=1e-6)
        assert_close(glam, fd_grad(lambda x, n, lam: keyword_and_static(x, n, lam=lam), (1.5, n, 0.5), 2),
                     rtol=1e-6)
        assert type(gx) is float and type(glam) is float
    with np.errstate(all="ignore"):
        v, (gx, glam) = c.value_and_grad(1e200, 3)  # x ** 3 overflows: NumPy's inf, not OverflowError
    assert v == math.inf


def test_the_fast_copy_tests_numpys_error_state_by_identity():
    """The fast path's copy of a scalar module's entry tests that NumPy's error state is the
    default one it saw (one identity test) instead of calling numpy_errors_default; any
    np.errstate or np.seterr makes it miss, and the module's own code answers as NumPy."""
    vg = gradc.value_and_grad(f_exp, wrt="x")
    value, g = vg(-1000.0)  # math.exp underflows to 0.0 silently, as NumPy's default does
    fast = vg.compiled._specs.hot[0].value_and_grad
    assert "numpy_errors_default" not in fast.__code__.co_names
    assert vg(-1000.0) == (value, g)
    with np.errstate(under="raise"):
        with pytest.raises(FloatingPointError):
            vg(-1000.0)  # NumPy raises on the underflow; the math code would not have
    old = np.seterr(under="raise")
    try:
        with pytest.raises(FloatingPointError):
            vg(-1000.0)
    finally:
        np.seterr(**old)
    assert vg(-1000.0) == (value, g)
    # compiled while a non-default state was in effect: the copy keeps the call
    with np.errstate(under="raise"):
        vg2 = gradc.value_and_grad(f_sin_under_errstate, wrt="x")
        vg2(0.5)
        fast2 = vg2.compiled._specs.hot[0].value_and_grad
        assert "numpy_errors_default" in fast2.__code__.co_names
    assert vg2(0.5)[1] == pytest.approx(np.sin(0.5) + 0.5 * np.cos(0.5) + 1, rel=1e-14)


def f_sin_under_errstate(x):
    return np.sin(x) * x + x


def test_a_folded_numpy_constant_keeps_a_formula_in_math_code():
    """`sqrt(2*pi)` folds to a float64 scalar; every value of a scalar program is float64, so
    math code writes it as the Python float it equals (it kept the module in NumPy code)."""
    c = gradc.compile("exp(-x**2/2)/sqrt(2*pi)", wrt="x", args=(0.7,))
    math_code = c.source.split("# The same functions in NumPy")[0]
    assert c.latest.scalar and "v4 / 2.5066282746310002" in math_code and "np.float64(2.5" not in math_code
    numpy_vg, _ = _numpy_version(c)
    for x in (0.7, -1.3, 0.0, 40.0):
        (v, g), (nv, ng) = c.value_and_grad(x), numpy_vg(x)
        assert _ulps_close(v, nv) and _ulps_close(g, ng), x
        assert type(g) is float
