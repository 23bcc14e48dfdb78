"""A formula's or SymPy expression's saved module is called like gradc's compiled object:
with the Python floats it was compiled for, giving the same numbers and types (Python-float
gradients), NumPy's inf and nan where math raises, and a check of its arguments. (It took
the program's inputs as NumPy floats before: a Python float gave ZeroDivisionError at 0.)"""
import math
import warnings

import numpy as np
import pytest

import gradc

from fixtures.modules import load_module


def _same(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    else:
        assert (math.isnan(a) and math.isnan(b)) or a == b, (a, b)


def _expressions():
    import sympy as sp

    x, y = sp.symbols("x y")
    return [("formula", "log(x) * y + sqrt(x)", ("x", "y")),
            ("sympy", sp.log(x) * y + sp.sqrt(x), (x, y)),
            ("one_wrt", "exp(x) * y - x / y", "x")]


@pytest.mark.parametrize("case", range(3), ids=["formula", "sympy", "one_wrt"])
def test_a_saved_formula_module_is_called_like_gradc(case, tmp_path):
    tag, expr, wrt = _expressions()[case]
    c = gradc.compile(expr, wrt=wrt, args=(0.5, 1.5))
    module = load_module(c.save(tmp_path / f"{tag}_grad.py"))
    text = (tmp_path / f"{tag}_grad.py").read_text()
    assert "def check_arguments(x, y):" in text
    for args in [(0.5, 1.5), (0.0, 1.5), (2.0, -3.0)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            want = c.value_and_grad(*args)
            got = module.f_value_and_grad(*args)
            value, want_value = module.f(*args), c.value(*args)
        _same(got, want)
        _same(value, want_value)
    with pytest.raises(ValueError, match="a Python float"):
        module.f_value_and_grad(np.float32(0.5), 1.5)


def test_a_formula_with_a_copy_is_math_code():
    """`d/dy (log(x) * y) = log(x)`: the gradient is a copy of a forward value, which for a
    Python float is the value itself (it kept the module in NumPy code before)."""
    c = gradc.compile("log(x) * y + sqrt(x)", wrt=("x", "y"), args=(0.5, 1.5))
    assert c.latest.scalar and "y_bar = v1" in c.source
    value, (gx, gy) = c.value_and_grad(0.5, 1.5)
    assert type(gx) is float and type(gy) is float
    assert gy == pytest.approx(math.log(0.5), rel=1e-15) and gx == pytest.approx(1.5 / 0.5 + 0.5 / math.sqrt(0.5))
