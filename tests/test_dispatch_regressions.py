"""Regressions from the adversarial round on the call path: what a compiled function reads
from outside must be fingerprinted by its contents (or recompiled), argument kinds the cache
tells apart must pass the generated check, a source file edited after import is refused, and
scalar programs follow np.errstate."""
import array
import collections
import importlib
import sys
import time

import numpy as np
import pytest

import gradc
from gradc.errors import SourceUnavailable

UD = collections.UserDict({"t": 2.0})
DQ = collections.deque([2.0, 1.0])
AR = array.array("d", [2.0, 1.0])
DEEP = [2.0]
for _ in range(40):
    DEEP = [DEEP]


def reads_userdict(x):
    return np.sum(x * UD["t"])


def reads_deque(x):
    return np.sum(x * DQ[0])


def reads_array(x):
    return np.sum(x * AR[0])


def reads_deep(x):
    d = DEEP
    for _ in range(40):
        d = d[0]
    return np.sum(x * d[0])


@pytest.mark.parametrize("fn,change", [
    (reads_userdict, lambda: UD.__setitem__("t", 5.0)),
    (reads_deque, lambda: DQ.__setitem__(0, 5.0)),
    (reads_array, lambda: AR.__setitem__(0, 5.0)),
    (reads_deep, lambda: _innermost().__setitem__(0, 5.0)),
])
def test_contents_changed_in_place_recompile(fn, change):
    x = np.array([1.0, 2.0, 3.0])
    vg = gradc.value_and_grad(fn)
    vg(x)
    change()
    value, grad = vg(x)
    assert value == fn(x)
    assert np.array_equal(grad, np.full(3, 5.0))


def _innermost():
    d = DEEP
    for _ in range(40):
        d = d[0]
    return d


class Seconds(float):
    pass


def scaled(x, s, n):
    return np.sum(x * s) * n


def test_float_subclasses_and_longlong_pass_the_check():
    x = np.array([1.0, 2.0])
    assert gradc.value_and_grad(scaled, wrt=(0, 1))(x, Seconds(2.0), 3)[0] == scaled(x, 2.0, 3)
    assert gradc.value_and_grad(scaled)(x, 2.0, np.longlong(3))[0] == scaled(x, 2.0, 3)


def test_a_source_file_edited_after_import_is_refused(tmp_path):
    path = tmp_path / "edited_module.py"
    src = "import numpy as np\n\n\ndef f(x):\n    return np.sum(x ** 2)\n"
    path.write_text(src)
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("edited_module")
        path.write_text(src.replace("x ** 2", "x ** 3"))  # same names and lines, another constant
        future = time.time() + 5
        import os
        os.utime(path, (future, future))
        with pytest.raises(SourceUnavailable, match="changed since it was imported"):
            gradc.value_and_grad(module.f)(np.array([1.0, 2.0]))
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("edited_module", None)


def inverse_square(x):
    return 1.0 / (x * x)


def test_scalar_programs_follow_errstate():
    vg = gradc.value_and_grad(inverse_square)
    assert vg(2.0)[0] == 0.25
    with np.errstate(over="raise"):
        with pytest.raises(FloatingPointError):
            vg(1e200)
    value, grad = vg(1e200)  # default state: NumPy's value (it warns; the math code returns the same)
    assert value == 0.0
