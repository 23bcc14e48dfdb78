"""Shared seed 003: a linear classifier, softmax, cross-entropy and an L2 penalty.

    J(W, b) = -log(yᵀ softmax(W x + b)) + λ ‖W‖²

The lecture derives, with p = softmax(W x + b) and
g = -(yᵀ / (yᵀ p)) (diag(p) - p pᵀ):   dJ/dW = gᵀ xᵀ + 2λW,   dJ/db = g.
This script compiles J, prints the generated gradient code and checks it against
that closed form.
"""
import numpy as np

import gradc
from gradc.nn import softmax


def cross_entropy_l2(W, b, x, y, lam):
    p = softmax(W @ x + b)
    return -np.log(y @ p) + lam * np.sum(W**2)


def lecture_gradient(W, b, x, y, lam):
    """The closed form from the lecture notes."""
    s = W @ x + b
    p = np.exp(s - s.max()) / np.sum(np.exp(s - s.max()))
    g = -(y / (y @ p)) @ (np.diag(p) - np.outer(p, p))
    return np.outer(g, x) + 2 * lam * W, g


def main():
    rng = np.random.default_rng(3)
    C, d, lam = 4, 5, 0.1
    W, b, x = rng.normal(size=(C, d)), rng.normal(size=C), rng.normal(size=d)
    y = np.eye(C)[2]
    compiled = gradc.compile(cross_entropy_l2, wrt=("W", "b"), args=(W, b, x, y, lam))
    print(compiled.source)
    J, (dW, db) = compiled.value_and_grad(W, b, x, y, lam)
    dW_ref, db_ref = lecture_gradient(W, b, x, y, lam)
    print(f"J = {J:.6f}")
    print(f"max |dJ/dW - (gᵀxᵀ + 2λW)| = {np.max(np.abs(dW - dW_ref)):.2e}")
    print(f"max |dJ/db - g|            = {np.max(np.abs(db - db_ref)):.2e}")


if __name__ == "__main__":
    main()
