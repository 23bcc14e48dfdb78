"""Forward mode (jvp) and second derivatives (hvp, hessian) through the public API."""
import numpy as np
import pytest
import sympy as sp

import gradc
import sqrt_exp_cos
from fixtures import second_order as S

MODES = ["forward-over-reverse", "reverse-over-reverse"]
x_ = sp.Symbol("x")
SEED002 = sp.sqrt(x_**2 + sp.exp(x_**2)) + sp.cos(x_**2 + sp.exp(x_**2))


def mlp_args(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(4, 5)) / 2, rng.normal(size=(5, 3)) / 2, rng.normal(size=(6, 4)),
            np.eye(3)[rng.integers(0, 3, 6)])


def test_jvp_of_seed002_is_the_derivative():
    for x0 in (-0.8, 0.5, 1.4):
        value, slope = gradc.jvp(sqrt_exp_cos.f, (x0,), 1.0, wrt="x")
        assert value == pytest.approx(float(SEED002.subs(x_, x0)), rel=1e-13)
        assert slope == pytest.approx(float(sp.diff(SEED002, x_).subs(x_, x0)), rel=1e-12)


def test_jvp_matches_the_gradient_along_directions():
    args = mlp_args()
    rng = np.random.default_rng(1)
    u = (rng.normal(size=args[0].shape), rng.normal(size=args[1].shape))
    value, derivative = gradc.jvp(S.small_mlp, args, u, wrt=("W1", "W2"))
    g1, g2 = gradc.grad(S.small_mlp, wrt=("W1", "W2"))(*args)
    assert value == pytest.approx(S.small_mlp(*args), rel=1e-13)
    assert derivative == pytest.approx(np.sum(g1 * u[0]) + np.sum(g2 * u[1]), rel=1e-11)


def test_tangent_source_is_readable():
    c = gradc.compile(sqrt_exp_cos.f, wrt="x", args=(0.5,))
    c.jvp((0.5,), 1.0)
    source = c.latest.derived["jvp"][1]
    assert "# tangent sweep" in source and "x_dot" in source and "v3_dot = " in source


@pytest.mark.parametrize("mode", MODES)
def test_hessian_of_seed002_equals_sympys_second_derivative(mode):
    h = gradc.hessian(sqrt_exp_cos.f, wrt="x", mode=mode)
    for x0 in (-0.8, 0.5, 1.4):
        assert h(x0) == pytest.approx(float(sp.diff(SEED002, x_, 2).subs(x_, x0)), rel=1e-11)


@pytest.mark.parametrize("mode", MODES)
def test_hessian_of_a_quadratic_is_the_symmetric_part(mode):
    H = gradc.hessian(S.quadratic, wrt="x", mode=mode)(np.array([0.3, -1.2, 2.0]))
    np.testing.assert_allclose(H, (S.A + S.A.T) / 2, rtol=0, atol=1e-14)


@pytest.mark.parametrize("mode", MODES)
def test_mlp_hessian_is_symmetric_and_matches_differences_of_the_gradient(mode):
    W1, W2, X, Y = mlp_args()
    H = gradc.hessian(S.small_mlp, wrt="W1", mode=mode)(W1, W2, X, Y)
    n = W1.size
    flat = H.reshape(n, n)
    np.testing.assert_allclose(flat, flat.T, atol=1e-12)
    grad = gradc.grad(S.small_mlp, wrt="W1")
    eps = 1e-6
    for k in range(0, n, 3):
        e = np.zeros(n)
        e[k] = eps
        column = (grad(W1 + e.reshape(W1.shape), W2, X, Y) - grad(W1 - e.reshape(W1.shape), W2, X, Y)) / (2 * eps)
        np.testing.assert_allclose(flat[:, k], column.ravel(), rtol=1e-5, atol=1e-8)


def test_hvp_modes_agree_and_tuple_wrt():
    x, y = np.array([0.2, -0.5, 1.1]), np.array([0.7, 0.3, -0.4])
    u, v = np.array([1.0, 0.5, -0.3]), np.array([-0.2, 0.9, 0.4])
    a = gradc.hvp(S.two_args, wrt=("x", "y"))(x, y, (u, v))
    b = gradc.hvp(S.two_args, wrt=("x", "y"), mode="reverse-over-reverse")(x, y, (u, v))
    for p, q in zip(a, b):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)
    blocks = gradc.hessian(S.two_args, wrt=("x", "y"))(x, y)
    full = np.block([[blocks[0][0], blocks[0][1]], [blocks[1][0], blocks[1][1]]])
    np.testing.assert_allclose(full @ np.concatenate([u, v]), np.concatenate(a), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(full, full.T, atol=1e-13)


def test_newton_cg_example_converges_in_far_fewer_iterations_than_gradient_descent():
    import newton_cg

    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 6)) * np.linspace(0.3, 2.0, 6)
    y = (rng.random(300) < 0.5).astype(float)
    w_n, it_n, f_n = newton_cg.newton_cg(np.zeros(6), X, y, 1e-2)
    w_g, it_g, f_g = newton_cg.gradient_descent(np.zeros(6), X, y, 1e-2)
    assert it_n < 20 < it_g
    assert f_n == pytest.approx(f_g, rel=1e-9)


def test_derived_programs_are_inspectable_and_renderable(tmp_path):
    import logistic_rss

    w = np.array([-1.0, 1.5, 0.5])
    c = gradc.Compiled(logistic_rss.rss_loss, "w")  # not the shared cached one: nothing derived yet
    c.specialize(w)  # derived programs are built on demand
    program, source = c.derived("jvp")
    listing = str(program)
    assert "v̇_0 = w_dot" in listing and "-- tangent sweep --" in listing and "v̇_1 = X1 @ v̇_0" in listing
    assert "def rss_loss_jvp(w, w_dot):" in source
    program, source = c.derived("hvp-forward-over-reverse")
    assert "v6_bar_dot" in source
    path = c.render(tmp_path / "hvp.svg", kind="both", program="hvp-forward-over-reverse")
    assert "<svg" in path.read_text()
