"""Truncated Newton (Newton-CG) on L2-regularised logistic regression, with gradc's
Hessian-vector products, against plain gradient descent.

Newton-CG never forms the Hessian: conjugate gradients only needs products H·v, which
gradc computes forward-over-reverse (the tangent of the gradient along v, seed 004's
trick) for about the cost of two gradients. Both methods stop when ‖∇L‖ < 1e-8.
"""
import numpy as np

import gradc
from gradc.nn import softplus


def loss(w, X, y, lam):
    z = X @ w
    return np.mean(softplus(z) - y * z) + 0.5 * lam * np.sum(w * w)


value_and_grad = gradc.value_and_grad(loss, wrt="w")
hvp = gradc.hvp(loss, wrt="w")


def backtrack(w, step, f0, g, X, y, lam):
    """Largest t in 1, 1/2, 1/4, ... with sufficient decrease (Armijo)."""
    t = 1.0
    while loss(w + t * step, X, y, lam) > f0 + 1e-4 * t * (g @ step) and t > 1e-10:
        t /= 2
    return t


def conjugate_gradients(w, g, X, y, lam, tol, max_iter=50):
    """Solve H p = -g with products H·v only."""
    p, r = np.zeros_like(g), -g
    d, rr = r.copy(), r @ r
    for _ in range(max_iter):
        Hd = hvp(w, X, y, lam, d)
        alpha = rr / (d @ Hd)
        p += alpha * d
        r -= alpha * Hd
        rr_new = r @ r
        if np.sqrt(rr_new) < tol:
            break
        d = r + (rr_new / rr) * d
        rr = rr_new
    return p


def newton_cg(w, X, y, lam, tol=1e-8, max_iter=100):
    for k in range(max_iter):
        f, g = value_and_grad(w, X, y, lam)
        if np.linalg.norm(g) < tol:
            return w, k, f
        p = conjugate_gradients(w, g, X, y, lam, tol=min(0.5, np.sqrt(np.linalg.norm(g))) * np.linalg.norm(g))
        w = w + backtrack(w, p, f, g, X, y, lam) * p
    return w, max_iter, loss(w, X, y, lam)


def gradient_descent(w, X, y, lam, tol=1e-8, max_iter=20000):
    for k in range(max_iter):
        f, g = value_and_grad(w, X, y, lam)
        if np.linalg.norm(g) < tol:
            return w, k, f
        w = w + backtrack(w, -g, f, g, X, y, lam) * -g
    return w, max_iter, loss(w, X, y, lam)


def main():
    rng = np.random.default_rng(0)
    n, d, lam = 2000, 20, 1e-3
    X = rng.standard_normal((n, d)) * np.linspace(0.2, 3.0, d)  # badly scaled features
    w_true = rng.standard_normal(d)
    y = (rng.random(n) < 1 / (1 + np.exp(-X @ w_true))).astype(float)
    w0 = np.zeros(d)
    w_n, it_n, f_n = newton_cg(w0, X, y, lam)
    w_g, it_g, f_g = gradient_descent(w0, X, y, lam)
    print(f"Newton-CG:        {it_n:5d} iterations, loss {f_n:.10f}")
    print(f"gradient descent: {it_g:5d} iterations, loss {f_g:.10f}")
    print(f"max |w_newton - w_gd| = {np.max(np.abs(w_n - w_g)):.1e}")


if __name__ == "__main__":
    main()
