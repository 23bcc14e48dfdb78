"""@gradc.primitive against the mistakes users make (adversarial round F): a sympy= formula
that is not the implementation, an implementation that is not elementwise, a vjp= rule of the
wrong shape or one that writes into its arguments; and two refusals that were wrong (an
attribute named like a global, vmap of a function of integer arrays)."""
import numpy
import numpy as np
import pytest
import sympy

import gradc
from fixtures.numeric import fd_grad
from gradc.errors import CompileError, SignatureError
from gradc.primitives import registry

T = 100  # a module constant named like the attribute x.T
SCALE = 2.0


def refused(match, fn, name, **kw):
    with pytest.raises(SignatureError, match=match):
        gradc.primitive(fn, name=name, **kw)
    assert not any(n in registry for n in (name, f"{name}_grad", f"{name}_vjp"))  # nothing left behind


# -- 1. a sympy= formula must be the implementation's function ---------------------------------


def softplus_typo(x):
    return np.log1p(np.exp(x))


def test_a_formula_that_is_not_the_implementation_is_refused_at_a_point():
    refused(r"@primitive s1_typo: the sympy= formula and the implementation disagree at x = -1\.8: "
            r"the implementation gives 0\.1529", softplus_typo, "s1_typo",
            sympy=lambda x: sympy.log(1 + sympy.exp(2 * x)))


def softplus(x):
    return np.log1p(np.exp(x))


def loss_softplus(w):
    return np.sum(softplus(w) * w)


def test_the_same_function_written_otherwise_is_accepted():
    gradc.primitive(softplus, sympy=lambda x: sympy.log(1 + sympy.exp(x)), name="s1_softplus")
    w = np.array([-1.3, 0.2, 1.7, 0.0])
    np.testing.assert_allclose(gradc.grad(loss_softplus)(w), fd_grad(loss_softplus, (w,), 0), rtol=1e-7)


def root(x):
    return np.sqrt(x)


def loss_root(w):
    return np.sum(root(w))


def test_nan_on_both_sides_is_agreement():
    # domain (-2, 2): NumPy's sqrt is nan below 0 and SymPy's complex, which NumPy cannot be
    gradc.primitive(root, sympy=lambda x: sympy.sqrt(x), name="s1_root")
    w = np.array([0.5, 1.5, 4.0])
    np.testing.assert_allclose(gradc.grad(loss_root)(w), 0.5 / np.sqrt(w), rtol=1e-14)


def guarded_log(x):
    return np.where(x > 0, np.log(np.abs(x)), 0.0)


def test_a_value_where_the_formula_is_complex_is_a_disagreement():
    refused(r"disagree at x = -1\.8: the implementation gives 0\.0, the formula a complex number",
            guarded_log, "s1_log", sympy=lambda x: sympy.log(x))


def shifted(x):
    return x + 1e-7


def test_the_tolerance_is_relative_1e_9():
    refused("disagree", shifted, "s1_shifted", sympy=lambda x: x)


@pytest.mark.parametrize("domain", [(1.0, 1.0), (0.0, np.inf), (2.0, -2.0), "ab"])
def test_domain_is_a_finite_interval(domain):
    refused("domain is a pair of finite numbers", softplus_typo, "s1_domain",
            sympy=lambda x: sympy.log(1 + sympy.exp(x)), domain=domain)


# -- 2. the implementation must be elementwise -------------------------------------------------


def normalize(x):
    return x / np.sum(x)


def normalize_vjp(g, x, out):
    s = np.sum(x)
    return g / s - np.sum(g * x) / s ** 2


def cumulative(x):
    return np.cumsum(x, axis=-1)


def positional(x):
    return x * np.arange(x.size).reshape(x.shape)


def total(x):
    return np.sum(x)


def clip_in_place(x):
    x[x < 0] = 0.0
    return x


def any_vjp(g, x, out):
    return g * 1.0


@pytest.mark.parametrize("fn, vjp, match", [
    (normalize, normalize_vjp, "not elementwise"),
    (cumulative, any_vjp, "not elementwise"),
    (positional, any_vjp, "not elementwise"),
    (total, any_vjp, r"returns shape \(\) for an argument of shape \(10,\)"),
    (clip_in_place, any_vjp, "changes its argument in place"),
])
def test_an_implementation_that_is_not_elementwise_is_refused(fn, vjp, match):
    refused(match, fn, f"s2_{fn.__name__}", vjp=vjp)


def test_normalize_with_a_formula_is_refused_too():
    refused("not elementwise", normalize, "s2_normalize_f", sympy=lambda x: x)


def gelu_of(x):
    import user_primitive as U
    return U.gelu(x)


def test_forward_mode_of_a_vjp_primitive_matches_finite_differences():
    x = np.array([-1.2, 0.3, 2.0])
    eps = 1e-6
    fd = np.stack([(gelu_of(x + eps * e) - gelu_of(x - eps * e)) / (2 * eps) for e in np.eye(3)], axis=1)
    np.testing.assert_allclose(gradc.jacfwd(gelu_of)(x), fd, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(gradc.jacrev(gelu_of)(x), fd, rtol=1e-6, atol=1e-9)


# -- 3. a vjp= rule returns a floating-point array of x's shape --------------------------------


def sine(x):
    return np.sin(x)


def summed_vjp(g, x, out):
    return np.sum(g * np.cos(x))  # reduces to a scalar


def mask_vjp(g, x, out):
    return (x > 0).astype(np.int64)  # an integer array


def flat_vjp(g, x, out):
    return (g * np.cos(x)).ravel()  # right for 1-D arguments only


@pytest.mark.parametrize("vjp, match", [
    (summed_vjp, r"s3_summed_vjp returned an array of shape \(\) and dtype float64; .* x's shape \(10,\)"),
    (mask_vjp, r"returned an array of shape \(10,\) and dtype int64"),
    (flat_vjp, r"returned an array of shape \(10,\) .* x's shape \(2, 5\)"),
])
def test_a_vjp_rule_of_the_wrong_shape_or_dtype_is_refused(vjp, match):
    refused(match, sine, f"s3_{vjp.__name__.removesuffix('_vjp')}", vjp=vjp)


def sine3(x):
    return np.sin(x)


def late_vjp(g, x, out):
    if x.ndim == 3 and x.size > 1:  # wrong only where registration (and gradc's dtype probe) does not look
        return np.sum(g * np.cos(x))
    return g * np.cos(x)


def loss_sine3(w):
    return np.sum(sine3(w) * 2.0)


def test_a_rule_of_the_wrong_shape_at_run_time_fails_clearly():
    gradc.primitive(sine3, vjp=late_vjp, name="s3_sine3")
    w = np.linspace(-1.0, 1.0, 8)
    np.testing.assert_allclose(gradc.grad(loss_sine3)(w), 2 * np.cos(w), rtol=1e-14)
    message = r"^s3_sine3_vjp returned an array of shape \(\) .* x's shape \(2, 2, 2\)"
    with pytest.raises(ValueError, match=message) as e:
        gradc.grad(loss_sine3)(w.reshape(2, 2, 2))
    assert not isinstance(e.value, CompileError)  # raised by the generated code, as it runs


# -- 4. the rule's arguments: g a new array of out's shape, x and out read-only ---------------


def relu_copy(x):
    return np.maximum(x, 0.0)


def relu_copy_vjp(g, x, out):
    gx = g.copy()  # PyTorch style: g taken for an array of x's shape
    gx[x <= 0] = 0.0
    return gx


def loss_relu_sum(w):
    return np.sum(relu_copy(w))


def loss_relu_scalar(v):
    return relu_copy(v) * 3.0


def test_g_is_an_array_of_outs_shape_when_a_sum_gives_a_float():
    gradc.primitive(relu_copy, vjp=relu_copy_vjp, name="s4_relu_copy")
    w = np.array([0.5, -1.0, 2.0])
    g = gradc.grad(loss_relu_sum)(w)
    np.testing.assert_array_equal(g, [1.0, 0.0, 1.0])
    assert g.dtype == np.float64 and g.shape == (3,)
    assert gradc.grad(loss_relu_sum)(w.astype(np.float32)).dtype == np.float32
    assert gradc.grad(loss_relu_scalar)(0.7) == 3.0 and gradc.grad(loss_relu_scalar)(-0.7) == 0.0


def relu_inplace(x):
    return np.maximum(x, 0.0)


def relu_inplace_vjp(g, x, out):
    g[x <= 0] = 0.0  # writes into g: its own array
    return g


def loss_shared(w):
    y = relu_inplace(w) + w  # the add hands the same cotangent to both operands
    return np.sum(y * y)


def loss_shared_twice(w):
    return np.sum(relu_inplace(w) * relu_inplace(w * 2.0)) + np.sum(relu_inplace(w))


def test_a_rule_writing_into_g_corrupts_no_other_cotangent():
    gradc.primitive(relu_inplace, vjp=relu_inplace_vjp, name="s4_relu_inplace")
    for loss in (loss_shared, loss_shared_twice):
        for w in (np.array([0.5, -1.0, 2.0, -0.3]), np.array([0.5, -1.0, 2.0, -0.3], dtype=np.float32)):
            w0 = w.copy()
            value, g = gradc.value_and_grad(loss)(w)
            np.testing.assert_allclose(g, fd_grad(loss, (w.astype(np.float64),), 0), rtol=1e-5, atol=1e-6)
            assert g.dtype == w.dtype
            np.testing.assert_array_equal(w, w0)


def zero_x_vjp(g, x, out):
    x *= 0.0
    return g


def zero_out_vjp(g, x, out):
    np.multiply(out, 0.0, out=out)
    return g


@pytest.mark.parametrize("vjp", [zero_x_vjp, zero_out_vjp])
def test_a_rule_writing_into_x_or_out_is_refused(vjp):
    refused(r"wrote into x or out, which are values of the program \(read-only here\)", relu_copy,
            f"s4_{vjp.__name__}", vjp=vjp)


def relu_late(x):
    return np.maximum(x, 0.0)


def late_write_vjp(g, x, out):
    if x.ndim == 3 and x.size > 1:
        x[x <= 0] = 0.0  # only where registration (and gradc's probe of the dtype) does not look
    return g * (x > 0)


def loss_relu_late(w):
    return np.sum(relu_late(w) * w)


def test_a_rule_writing_into_x_at_run_time_fails_and_leaves_the_callers_array():
    gradc.primitive(relu_late, vjp=late_write_vjp, name="s4_relu_late")
    w = np.array([0.5, -1.0, 2.0, -0.3, 1.0, -2.0, 0.1, 0.2]).reshape(2, 2, 2)
    w0 = w.copy()
    with pytest.raises(ValueError, match="^s4_relu_late_vjp: the rule wrote into x or out") as e:
        gradc.grad(loss_relu_late)(w)
    assert not isinstance(e.value, CompileError)  # raised by the generated code, as it runs
    np.testing.assert_array_equal(w, w0)


def identity(x):
    return x


def flat_view(x):
    return x.reshape(x.shape)


@pytest.mark.parametrize("fn", [identity, flat_view])
def test_an_implementation_returning_its_argument_is_refused(fn):
    # `y = identity(w); y += 1` would change w in NumPy; gradc takes the result for a new value
    refused("returns its argument or a view of it", fn, f"s4_{fn.__name__}", vjp=any_vjp)


def cube(x):
    return x ** 3


def documented_vjp(g, x, out):
    """A rule with a docstring
       over several lines, and a string that must keep its text."""
    text = """a
  b"""
    return (g * 3.0
            * x ** 2) * (len(text) / 5)


def loss_cube(w):
    return np.sum(cube(w))


def test_the_rule_is_copied_into_the_wrapper_with_its_strings_unchanged(tmp_path):
    gradc.primitive(cube, vjp=documented_vjp, name="s4_cube")
    w = np.array([0.5, -1.0, 2.0])
    c = gradc.compile(loss_cube, args=(w,))
    np.testing.assert_allclose(c.grad(w), 3 * w ** 2, rtol=1e-14)
    assert 'text = """a\n  b"""' in c.source and "    def rule(g, x, out):" in c.source


# -- 5. the globals a function reads: from its bytecode ----------------------------------------


def square(x):
    return x * x


def attribute_vjp(g, x, out):
    return 2.0 * g * x.T.T  # the attribute .T, not the global T


def square2(x):
    return x * x


def type_name_vjp(g, x, out):
    return 2.0 * g * x if type(g).__name__ == "ndarray" else 0.0 * g  # __name__: an attribute


def loss_squares(w):
    return np.sum(square(w) + 3.0 * square2(w))


def test_attributes_named_like_globals_are_not_globals():
    gradc.primitive(square, vjp=attribute_vjp, name="s5_square")
    gradc.primitive(square2, vjp=type_name_vjp, name="s5_square2")
    w = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(gradc.grad(loss_squares)(w), 8.0 * w, rtol=1e-14)


def global_vjp(g, x, out):
    return g * SCALE


def lambda_global_vjp(g, x, out):
    f = lambda v: v * SCALE  # noqa: E731
    return f(g)


def comprehension_global_vjp(g, x, out):
    return g * np.array([SCALE for _ in range(1)])[0]


def numpy_vjp(g, x, out):
    return g * numpy.ones_like(x)


@pytest.mark.parametrize("vjp, match", [
    (global_vjp, "uses SCALE"), (lambda_global_vjp, "uses SCALE"), (comprehension_global_vjp, "uses SCALE"),
    (numpy_vjp, "uses numpy; .* write np."),
])
def test_a_global_read_anywhere_in_the_rule_is_refused(vjp, match):
    refused(match, square, f"s5_{vjp.__name__}", vjp=vjp)


def make_closure():
    k = 3.0

    def closure_vjp(g, x, out):
        return g * k
    return closure_vjp


def test_a_closure_variable_is_refused():
    refused("uses k", square, "s5_closure", vjp=make_closure())


# -- 6. vmap of a function of integer arrays ---------------------------------------------------


def int_only(k):
    return np.sum(k * 2)


def ints_then_float(k, x):
    return np.sum(k * x)


def test_vmap_of_a_function_of_integer_arrays():
    k = np.arange(12).reshape(4, 3)
    out = gradc.vmap(int_only)(k)
    np.testing.assert_array_equal(out, [int_only(r) for r in k])
    assert out.dtype == np.asarray(int_only(k[0])).dtype
    x = np.linspace(0.0, 1.0, 12).reshape(4, 3)
    np.testing.assert_allclose(gradc.vmap(ints_then_float)(k, x), [ints_then_float(a, b) for a, b in zip(k, x)])


def test_grad_of_a_function_of_integer_arrays_is_still_refused():
    with pytest.raises(CompileError, match="cannot differentiate with respect to k"):
        gradc.grad(int_only)(np.arange(3))


def _rt_tanh_vjp(g, x, out):
    return g * (1 - out ** 2)


@gradc.primitive(vjp=_rt_tanh_vjp)
def rt_tanh(x):
    return np.tanh(x)


def returns_a_primitive(x):
    return rt_tanh(x)


@pytest.mark.parametrize("x", [0.7, np.float64(0.7), np.array(0.7)], ids=["float", "float64", "0-d"])
def test_a_primitives_result_has_the_type_its_function_gives(x):
    """A user primitive's function returns what it returns (np.tanh of a 0-d value: a NumPy
    scalar); the result was made a 0-d array."""
    value, _ = gradc.value_and_grad(returns_a_primitive)(x)
    want = returns_a_primitive(x)
    assert type(value) is type(want) and value == want
