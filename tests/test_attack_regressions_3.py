"""Regressions from the third attack round: user primitives' SymPy derivatives, second
derivatives' argument checks, SymPy objects gradc cannot compile, the command line's
input files and `check`, masked derivative contributions under np.seterr, entry-point
names in generated modules, and CompileError tracebacks without gradc's own frames."""
import importlib.util
import traceback
import warnings
from pathlib import Path

import numpy as np
import pytest
import sympy

import gradc
from gradc.errors import CompileError, SignatureError

GRADC_DIRS = tuple(str(Path(p).resolve()) for p in (
    Path(gradc.__file__).parent, Path(gradc.runtime.__file__).parent))


def fd(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[idx] += eps
        minus[idx] -= eps
        g[idx] = (f(plus) - f(minus)) / (2 * eps)
    return g


def summed(p):
    def loss(x):
        return np.sum(p(x) * np.cos(x))
    return loss


def first(p):
    def loss(x):
        return p(x[0])
    return loss


def plain_sum(p):
    def loss(x):
        return np.sum(p(x))
    return loss


def run_main(capsys, *argv):
    from gradc.cli import main

    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


# -- 1. a constant SymPy derivative: the gradient has the argument's shape and dtype ----------


def test_constant_sympy_derivative_has_the_arguments_shape_and_dtype():
    @gradc.primitive(sympy=lambda x: 7 * x, name="r3_seven")
    def seven(x):
        return 7 * x

    x = np.array([0.5, -2.0, 1.5])
    g = gradc.grad(plain_sum(seven), wrt="x")(x)
    assert isinstance(g, np.ndarray) and g.dtype == np.float64 and g.shape == (3,)
    np.testing.assert_array_equal(g, [7.0, 7.0, 7.0])
    g = gradc.grad(first(seven), wrt="x")(x)
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, [7.0, 0.0, 0.0])
    g32 = gradc.grad(plain_sum(seven), wrt="x")(x.astype(np.float32))
    assert g32.dtype == np.float32 and g32.shape == (3,)


# -- 2. hvp / hessian: directions checked, vector-valued functions refused; the CLI's too ------


def hvp_target(x, W):
    return np.sum(np.tanh(W @ x) ** 2)


def vector_valued(x):
    return np.sin(x) * 2


@pytest.mark.parametrize("shape", [(2, 2), (3,), ()])
def test_hvp_checks_the_directions_shape(shape):
    x, W = np.array([1.0, 2.0]), np.array([[0.3, -0.2], [0.1, 0.4]])
    with pytest.raises(SignatureError, match="direction for x has shape"):
        gradc.hvp(hvp_target, wrt="x")(x, W, np.ones(shape))
    assert gradc.hvp(hvp_target, wrt="x")(x, W, np.ones(2)).shape == (2,)


def test_hvp_refuses_a_direction_that_is_not_numbers():
    x, W = np.array([1.0, 2.0]), np.eye(2)
    with pytest.raises(SignatureError, match="direction for x"):
        gradc.hvp(hvp_target, wrt="x")(x, W, np.array(["a", "b"]))


def test_hessian_and_hvp_of_a_vector_valued_function_say_so():
    x = np.array([1.0, 2.0])
    with pytest.raises(SignatureError, match="hessian needs a function with a scalar"):
        gradc.hessian(vector_valued, wrt="x")(x)
    with pytest.raises(SignatureError, match="hvp needs a function with a scalar"):
        gradc.hvp(vector_valued, wrt="x")(x, np.ones(2))


def test_cli_hessian_of_a_vector_function_and_a_negative_precision_are_usage_errors(capsys, tmp_path):
    f = tmp_path / "r3_cli21.py"
    f.write_text("import numpy as np\n\ndef v(x):\n    return np.sin(x) * 2\n\n"
                 "def f(x):\n    return np.sum(x ** 2)\n")
    rc, out, err = run_main(capsys, "hessian", f"{f}:v", "--wrt", "x", "--at", "x=1,2")
    assert rc == 2 and "scalar" in err and "Traceback" not in err, err
    rc, out, err = run_main(capsys, "grad", f"{f}:f", "--wrt", "x", "--at", "x=1,2", "--precision", "-5")
    assert rc == 2 and "--precision" in err, err


# -- 3. SymPy objects gradc cannot compile ------------------------------------------------------


def test_sympy_undefined_function_is_a_compile_error_naming_it():
    x = sympy.Symbol("x")
    with pytest.raises(CompileError, match="undefined function.*r3f"):
        gradc.grad(sympy.Function("r3f")(x), wrt=x)(0.3)
    with pytest.raises(CompileError, match="SymPy expressions"):
        gradc.grad(sympy.Function("r3g"), wrt=x)(0.3)


# -- 4. @primitive(sympy=...) with selections and steps: NumPy code, right derivatives ---------


def abs3(x):
    return np.abs(x) ** 3


def heavi(x):
    return x * np.heaviside(x, 0.5)


def floorx(x):
    return x * np.floor(x)


def relu2(x):
    return np.maximum(x, 0) ** 2


def minsq(x):
    return np.minimum(x, 1) * x


def pw(x):
    return np.where(x > 0, x ** 2, np.sin(x))


def pwrelu(x):
    return np.where(x > 0, x, 0.0)


FORMULAS = {
    "abs3": (lambda x: sympy.Abs(x) ** 3, abs3),
    "heavi": (lambda x: x * sympy.Heaviside(x), heavi),
    "floorx": (lambda x: x * sympy.floor(x), floorx),
    "relu2": (lambda x: sympy.Max(x, 0) ** 2, relu2),
    "minsq": (lambda x: sympy.Min(x, 1) * x, minsq),
    "pw": (lambda x: sympy.Piecewise((x ** 2, x > 0), (sympy.sin(x), True)), pw),
    "pwrelu": (lambda x: sympy.Piecewise((x, x > 0), (0, True)), pwrelu),
}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_sympy_primitive_derivatives_match_finite_differences(name):
    formula, impl = FORMULAS[name]
    prim = gradc.primitive(impl, sympy=formula, name=f"r3_{name}")
    loss = summed(prim)
    x = np.array([-1.3, 0.7, 2.1, -0.45, 1.6])
    c = gradc.compile(loss, wrt="x", args=(x,))
    grad_source = c.source[c.source.index(f"def r3_{name}_grad"):]
    grad_source = grad_source[:grad_source.index("\n\n")]
    assert "max(" not in grad_source.replace("np.maximum(", "") and " if " not in grad_source
    g = c.grad(x)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, fd(loss, x), rtol=1e-6, atol=1e-8)
    g32 = c.grad(x.astype(np.float32))
    assert g32.dtype == np.float32


def test_sympy_primitive_without_a_numpy_derivative_is_refused_clearly():
    with pytest.raises(SignatureError, match="polygamma.*NumPy"):
        @gradc.primitive(sympy=lambda x: sympy.loggamma(x), name="r3_loggamma")
        def lg(x):
            return x


def test_sympy_primitive_formula_may_not_be_a_string_or_use_other_symbols():
    with pytest.raises(SignatureError, match="SymPy expression"):
        @gradc.primitive(sympy=lambda x: "x**2", name="r3_string")
        def s(x):
            return x ** 2
    with pytest.raises(SignatureError, match="symbol"):
        @gradc.primitive(sympy=lambda x: x * sympy.Symbol("a"), name="r3_other")
        def t(x):
            return x


# -- 5. CLI: .npy/.npz files that are not numeric arrays are usage errors ---------------------


def test_cli_npy_and_npz_files_that_cannot_be_read_are_usage_errors(capsys, tmp_path):
    f = tmp_path / "r3_cli13.py"
    f.write_text("import numpy as np\n\ndef f(x):\n    return np.sum(x ** 2)\n")
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([1.0, None], dtype=object), allow_pickle=True)
    garbage = tmp_path / "garbage.npy"
    garbage.write_text("hello")
    objects_npz = tmp_path / "objects.npz"
    np.savez(objects_npz, x=np.array([1.0, None], dtype=object))
    garbage_npz = tmp_path / "garbage.npz"
    garbage_npz.write_text("not a zip")
    for at in (f"x={objects}", f"x={garbage}", str(objects_npz), str(garbage_npz)):
        rc, out, err = run_main(capsys, "grad", f"{f}:f", "--wrt", "x", "--at", at)
        assert rc == 2 and "cannot read" in err and "Traceback" not in err, (at, err)


# -- 6. masked contributions under np.seterr(all="raise"), and without warnings --------------


def sqrt_where(x):
    return np.sum(np.where(x > 0, np.sqrt(x), 0.0))


def test_masked_branch_derivative_runs_under_seterr_raise_and_warns_nothing():
    x = np.array([0.0, 1.0, 4.0])
    with np.errstate(all="raise"):
        assert sqrt_where(x) == 3.0  # the Python function runs cleanly
        value, g = gradc.value_and_grad(sqrt_where, wrt="x")(x)
    np.testing.assert_array_equal(g, [0.0, 0.5, 0.25])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="warn"):
            value, g = gradc.value_and_grad(sqrt_where, wrt="x")(x)
    np.testing.assert_array_equal(g, [0.0, 0.5, 0.25])
    source = gradc.compile(sqrt_where, wrt="x", args=(x,)).source
    assert 'with np.errstate(divide="ignore", invalid="ignore", over="ignore"):' in source


# -- 7. entry points keep their names; a primitive named like one yields ----------------------


def test_a_primitive_named_like_the_gradient_function_does_not_take_its_name(tmp_path):
    @gradc.primitive(sympy=lambda x: 7 * x, name="r3loss_value_and_grad")
    def prim(x):
        return 7 * x

    def make(p):
        def r3loss(x):
            return np.sum(p(x) * x)
        return r3loss

    loss = make(prim)
    x = np.array([0.5, -2.0, 1.5])
    c = gradc.compile(loss, wrt="x", args=(x,))
    path = c.save(tmp_path / "r3gen10.py")
    spec = importlib.util.spec_from_file_location("r3gen10", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    value, g = module.r3loss_value_and_grad(x)
    assert value == pytest.approx(7 * np.sum(x * x))
    np.testing.assert_allclose(g, 14 * x)
    assert "__gradc_entry_points__" not in path.read_text()
    v2, g2 = gradc.value_and_grad(loss, wrt="x")(x)
    np.testing.assert_allclose(g2, 14 * x)


# -- 8. gradc check differences the Python function itself -------------------------------------


def test_check_compares_with_the_python_function_not_gradcs_own_value(capsys, tmp_path, monkeypatch):
    f = tmp_path / "r3_chk24.py"
    f.write_text("import numpy as np\n\ndef f(x):\n    return np.sum(x ** 2)\n")
    rc, out, err = run_main(capsys, "check", f"{f}:f", "--wrt", "x", "--at", "x=0.6,-1.3")
    assert rc == 0 and "OK" in out, out + err
    # A compiled function that is consistent with itself but not with the Python function
    # (twice its value, twice its gradient) must not pass.
    real_value, real_vg = gradc.Compiled.value, gradc.Compiled.value_and_grad

    def value(self, *args, **kwargs):
        return 2 * real_value(self, *args, **kwargs)

    def value_and_grad(self, *args, **kwargs):
        v, g = real_vg(self, *args, **kwargs)
        return 2 * v, 2 * g

    monkeypatch.setattr(gradc.Compiled, "value", value)
    monkeypatch.setattr(gradc.Compiled, "value_and_grad", value_and_grad)
    rc, out, err = run_main(capsys, "check", f"{f}:f", "--wrt", "x", "--at", "x=0.6,-1.3")
    assert rc == 1 and "MISMATCH" in out and "differs from the Python function" in out, out + err


# -- 9. a CompileError's traceback ends in the user's code --------------------------------------


def while_loop(w):
    while np.sum(w) > 0:
        w = np.concatenate([w, w])  # refused: a carried value changing shape
    return np.sum(w)


def while_loop_too(w):
    while np.sum(w) > 0:
        w = np.concatenate([w, w, w])
    return np.sum(w)


def _gradc_frames(e):
    return [fr for fr in traceback.extract_tb(e.__traceback__)
            if str(Path(fr.filename).resolve()).startswith(GRADC_DIRS) or fr.filename.startswith("<gradc:")]


def test_compile_errors_leave_gradcs_frames_out_of_the_traceback(monkeypatch):
    monkeypatch.delenv("GRADC_TRACEBACK", raising=False)
    with pytest.raises(CompileError) as info:
        gradc.grad(while_loop, wrt="w")(np.ones(3))
    assert _gradc_frames(info.value) == []
    assert traceback.extract_tb(info.value.__traceback__)  # the user's frames stay
    c = gradc.compile(while_loop, wrt="w")
    with pytest.raises(CompileError) as info:
        c.value_and_grad(np.ones(3))
    assert _gradc_frames(info.value) == []
    monkeypatch.setenv("GRADC_TRACEBACK", "full")
    with pytest.raises(CompileError) as info:
        gradc.grad(while_loop_too, wrt="w")(np.ones(3))
    assert _gradc_frames(info.value) != []
