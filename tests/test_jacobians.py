"""vjp for vector-valued functions, and Jacobians by forward, reverse and chosen mode."""
import numpy as np
import pytest

import gradc
from fixtures import second_order as S


def numeric_jacobian(f, x, eps=1e-6):
    out = np.asarray(f(x))
    J = np.zeros(out.shape + x.shape)
    for idx in np.ndindex(x.shape):
        e = np.zeros(x.shape)
        e[idx] = eps
        J[(Ellipsis,) + idx] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps)
    return J


X = np.array([0.1, 0.5, 0.9])
Y = np.array([1.0, 2.0, 3.0])


def test_vjp_of_a_vector_valued_function():
    value, pull = gradc.vjp(S.vector_field, X, Y, wrt=("x", "y"))
    np.testing.assert_allclose(value, S.vector_field(X, Y))
    ct = np.array([0.3, -1.0, 2.0])
    gx, gy = pull(ct)
    np.testing.assert_allclose(gx, ct @ numeric_jacobian(lambda x: S.vector_field(x, Y), X), rtol=1e-7)
    np.testing.assert_allclose(gy, ct @ numeric_jacobian(lambda y: S.vector_field(X, y), Y), rtol=1e-7)
    with pytest.raises(gradc.CompileError, match="shape"):
        pull(np.ones(2))


@pytest.mark.parametrize("fn, args", [(S.pairwise, (X,)), (S.wide_to_scalarish, (np.arange(12.0).reshape(4, 3) / 10,))])
def test_jacfwd_jacrev_and_finite_differences_agree(fn, args):
    Jf = gradc.jacfwd(fn)(*args)
    Jr = gradc.jacrev(fn)(*args)
    np.testing.assert_allclose(Jf, Jr, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(Jf, numeric_jacobian(fn, args[0]), rtol=1e-6, atol=1e-9)


def test_jacobian_picks_the_mode_by_sizes():
    wide = gradc.jacobian(S.wide_to_scalarish)  # 12 inputs -> 4 outputs: reverse
    wide(np.ones((4, 3)))
    assert wide.compiled.jacobian_mode == "reverse"
    square = gradc.jacobian(S.vector_field, wrt="x")  # 3 inputs -> 3 outputs: forward (ties go forward)
    square(X, Y)
    assert square.compiled.jacobian_mode == "forward"


def test_grad_of_a_vector_valued_function_suggests_jacobian():
    with pytest.raises(gradc.CompileError, match="jacobian"):
        gradc.grad(S.pairwise)(X)
    # the value and the generated source are still there to inspect
    c = gradc.compile(S.pairwise, args=(X,))
    np.testing.assert_allclose(c.value(X), S.pairwise(X))
    assert "def pairwise(x):" in c.source
