"""Every derivative API gives derivatives with respect to x of x's type, as grad does
(docs/supported-subset.md, "Types of derivatives"): x's dtype (float32 stays float32, as in
JAX), and where the result is 0-d, x's kind (a Python float's is a Python float, a NumPy
scalar's a NumPy scalar of its dtype, a 0-d array's a 0-d array). vjp's pullback, hvp,
hessian, jacfwd, jacrev and jacobian used to return float64 for float32 arguments."""
import numpy as np
import pytest

import gradc
from fixtures.numeric import fd_grad


def loss(w, x):
    return np.sum(np.tanh(w * x) ** 2)


def vec(w, x):
    return np.tanh(w * x) * 2.0


def kind_of(r):
    """('float',) / ('scalar', dtype) / ('array', shape, dtype) of a result."""
    if type(r) is float:
        return ("float",)
    if isinstance(r, np.generic):
        return ("scalar", r.dtype.name)
    assert type(r) is np.ndarray, type(r)
    return ("array", r.shape, r.dtype.name)


def expected_kind(x, shape):
    """The type of a derivative with respect to x of this shape."""
    if isinstance(x, np.generic):
        return ("scalar", x.dtype.name) if shape == () else ("array", shape, x.dtype.name)
    if isinstance(x, float):
        return ("float",) if shape == () else ("array", shape, "float64")
    return ("array", shape, x.dtype.name)


TOL = {"float16": 2e-2, "float32": 2e-5, "float64": 1e-9}


def arguments():
    cases = {}
    for dt in (np.float16, np.float32, np.float64):
        cases[f"array-{dt.__name__}"] = (np.array([0.3, -0.2, 0.5], dt), np.array([1.0, 2.0, 3.0], dt))
        cases[f"0d-{dt.__name__}"] = (np.array(0.3, dt), np.array(1.5, dt))
        cases[f"scalar-{dt.__name__}"] = (dt(0.3), dt(1.5))
    cases["python-float"] = (0.3, 1.5)
    return cases


CASES = arguments()


def as64(a):
    return float(a) if isinstance(a, float) and not isinstance(a, np.generic) else np.asarray(a, dtype=np.float64)


def dtype_of(x) -> str:
    return "float64" if isinstance(x, float) and not isinstance(x, np.generic) else x.dtype.name


def check(result, x, reference, what):
    assert kind_of(result) == expected_kind(x, np.shape(reference)), what
    tol = TOL[dtype_of(x)]
    np.testing.assert_allclose(np.asarray(result, dtype=np.float64), reference, rtol=tol, atol=tol, err_msg=what)


def references(w, x):
    """float64 references by central differences: the gradient and Hessian of loss (the latter
    from float64 gradients), the Jacobian of vec."""
    w64, x64 = as64(w), as64(x)
    shape = np.shape(w)
    g = fd_grad(loss, (w64, x64), 0)
    H = np.zeros(shape + shape)
    J = np.zeros(shape + shape)
    for idx in np.ndindex(shape):
        H[idx] = fd_grad(lambda w_: np.asarray(gradc.grad(loss)(w_, x64))[idx], (np.asarray(w64),), 0)
        J[idx] = fd_grad(lambda w_: np.asarray(vec(w_, x64))[idx], (np.asarray(w64),), 0)
    return g, H, J


@pytest.mark.parametrize("case", list(CASES))
def test_every_derivative_has_the_argument_type(case):
    w, x = CASES[case]
    g_ref, H_ref, J_ref = references(w, x)
    w64 = np.asarray(w, dtype=np.float64)
    check(gradc.grad(loss)(w, x), w, g_ref, "grad")
    check(gradc.hvp(loss)(w, x, w), w, np.tensordot(H_ref, w64, axes=w64.ndim), "hvp")  # direction: w
    check(gradc.hessian(loss)(w, x), w, H_ref, "hessian")
    check(gradc.jacobian(loss)(w, x), w, g_ref, "jacobian of a scalar")
    for api in (gradc.jacfwd, gradc.jacrev, gradc.jacobian):
        check(api(vec)(w, x), w, J_ref, api.__name__)
    value, pull = gradc.vjp(vec, w, x)
    ct = np.full(np.shape(value), 0.5, dtype=np.asarray(value).dtype)
    check(pull(ct), w, np.tensordot(ct.astype(np.float64), J_ref, axes=ct.ndim), "vjp")
    _, tangent = gradc.jvp(loss, (w, x), w)  # the output's tangent: the output's type
    assert kind_of(tangent) == kind_of(loss(w, x))
    np.testing.assert_allclose(float(tangent), float(np.sum(g_ref * w64)), rtol=TOL[dtype_of(w)],
                               atol=TOL[dtype_of(w)])


def test_attack_c_float32_second_order_is_float32():
    """The adversarial round's repro: grad and jvp gave float32, the others float64."""
    def loss32(w, x):
        return np.sum(np.tanh(w * x) ** 2)

    def vecfun(x, A):
        return np.tanh(A @ x) * x[0]

    rng = np.random.default_rng(2)
    x = rng.normal(size=3).astype(np.float32)
    A = rng.normal(size=(4, 3)).astype(np.float32)
    x64, A64 = x.astype(np.float64), A.astype(np.float64)
    _, pull = gradc.vjp(vecfun, x, A, wrt=0)
    results = {
        "vjp": (pull(np.ones(4, np.float32)), gradc.vjp(vecfun, x64, A64)[1](np.ones(4))),
        "hvp": (gradc.hvp(loss32)(x, x, x), gradc.hvp(loss32)(x64, x64, x64)),
        "hessian": (gradc.hessian(loss32)(x, x), gradc.hessian(loss32)(x64, x64)),
        "jacfwd": (gradc.jacfwd(vecfun)(x, A), gradc.jacfwd(vecfun)(x64, A64)),
        "jacrev": (gradc.jacrev(vecfun)(x, A), gradc.jacrev(vecfun)(x64, A64)),
    }
    for what, (r32, r64) in results.items():
        assert r32.dtype == np.float32, what
        assert r64.dtype == np.float64, what
        np.testing.assert_allclose(r32, r64, rtol=1e-5, atol=1e-5, err_msg=what)
    # the float64 references against finite differences
    J = np.stack([fd_grad(lambda x_: vecfun(x_, A64)[k], (x64,), 0) for k in range(4)])
    np.testing.assert_allclose(results["jacrev"][1], J, rtol=1e-6, atol=1e-8)


def test_jacobian_has_the_argument_dtype_in_both_modes():
    """A float32 argument with float64 data (a float64 result): the Jacobian is float32 whichever
    mode "auto" picks, as the pullback is (JAX's jacfwd would give the result's dtype)."""
    def f(w, A):
        return np.tanh(A @ w)

    w = np.array([0.1, 0.2, 0.3], np.float32)
    for A in (np.ones((2, 3)), np.ones((5, 3))):  # reverse, then forward
        jac = gradc.jacobian(f)
        J = jac(w, A)
        assert J.dtype == np.float32
        assert gradc.jacfwd(f)(w, A).dtype == gradc.jacrev(f)(w, A).dtype == np.float32
        np.testing.assert_allclose(J, gradc.jacobian(f)(w.astype(np.float64), A), rtol=1e-6)
    value, pull = gradc.vjp(f, w, np.ones((2, 3)))
    assert value.dtype == np.float64 and pull(np.ones(2)).dtype == np.float32


def test_hessian_blocks_of_a_tuple_wrt():
    """Block [i][j] differentiates the gradient for x_i (of x_i's type) along x_j: shape
    x_i.shape + x_j.shape, x_i's dtype, and x_i's kind where it is 0-d."""
    def f(a, b, w):
        return np.sum(np.sin(a * w) * b) + a * b * b

    a, b, w = 0.5, np.float32(0.3), np.array([0.1, 0.2, 0.3], np.float32)
    H = gradc.hessian(f, wrt=(0, 1, 2))(a, b, w)
    args = (a, b, w)
    for i in range(3):
        for j in range(3):
            assert kind_of(H[i][j]) == expected_kind(args[i], np.shape(args[i]) + np.shape(args[j])), (i, j)
    H64 = gradc.hessian(f, wrt=(0, 1, 2))(a, np.float64(b), w.astype(np.float64))
    for i in range(3):
        for j in range(3):
            np.testing.assert_allclose(np.asarray(H[i][j], dtype=np.float64), H64[i][j], rtol=1e-5, atol=1e-6)
    # the gradient for b along a, by differences of the float64 gradient
    gb = lambda a_: float(gradc.grad(f, wrt=1)(a_, np.float64(b), w.astype(np.float64)))  # noqa: E731
    np.testing.assert_allclose(H64[1][0], fd_grad(gb, (a,), 0), rtol=1e-6)
    hv = gradc.hvp(f, wrt=(0, 1, 2))(a, b, w, (1.0, np.float32(1.0), np.ones(3)))
    assert [kind_of(h) for h in hv] == [("float",), ("scalar", "float32"), ("array", (3,), "float32")]


def test_scalar_kinds_of_second_derivatives():
    """The attack round's notes: hessian w.r.t. np.float64 gave a Python float, w.r.t. a float32
    scalar a float64 0-d array; jacobian w.r.t. a Python float a 0-d array."""
    def f(x):
        return np.sin(x) * x

    assert type(gradc.hessian(f)(np.float64(0.7))) is np.float64
    assert type(gradc.hessian(f)(np.float32(0.7))) is np.float32
    assert type(gradc.hessian(f)(0.7)) is float
    h0 = gradc.hessian(f)(np.array(0.7, np.float32))
    assert type(h0) is np.ndarray and h0.shape == () and h0.dtype == np.float32
    assert type(gradc.jacobian(f)(0.7)) is float
    assert type(gradc.jacobian(f)(np.float32(0.7))) is np.float32
    exact = 2 * np.cos(0.7) - 0.7 * np.sin(0.7)
    np.testing.assert_allclose(gradc.hessian(f)(0.7), exact, rtol=1e-12)


def test_chunked_hessian_keeps_float32(monkeypatch):
    """A Hessian computed a block of columns at a time (GRADC_BATCH_BYTES) keeps the dtype."""
    monkeypatch.setenv("GRADC_BATCH_BYTES", "8")

    def f(w):
        return np.sum(np.tanh(w) ** 3)

    x = np.linspace(-1, 1, 7)
    H32 = gradc.hessian(f)(x.astype(np.float32))
    assert H32.dtype == np.float32
    H64 = gradc.hessian(f)(x)
    np.testing.assert_allclose(H32, H64, rtol=1e-5, atol=1e-6)
    H_fd = np.stack([fd_grad(lambda w: gradc.grad(f)(w)[k], (x,), 0) for k in range(7)])
    np.testing.assert_allclose(H64, H_fd, rtol=1e-6, atol=1e-8)


def test_checkpointed_vjp_keeps_the_argument_type():
    def f(a, b):
        for _ in range(3):
            a = np.sin(a) * b
        return a

    for arg in (0.4, np.float32(0.4), np.array(0.4, np.float32)):
        c = gradc.compile(f, checkpoint="segments")
        _, pull = c.vjp(arg, 1.5)
        g = pull(2.0)
        assert kind_of(g) == expected_kind(arg, ()), arg
        np.testing.assert_allclose(float(g), 2 * float(c.grad(arg, 1.5)), rtol=1e-6)


def test_cotangents_are_checked():
    _, pull = gradc.vjp(vec, np.array([0.3, 0.2], np.float32), np.array([1.0, 2.0], np.float32))
    with pytest.raises(gradc.CompileError, match="shape"):
        pull(np.ones(3))
    with pytest.raises(gradc.CompileError, match="real numbers"):
        pull(np.array(["a", "b"]))
    assert pull([1, 2]).dtype == np.float32  # integers are numbers: converted
