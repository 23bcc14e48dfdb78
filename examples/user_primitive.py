"""Teaching gradc new elementwise functions with `@gradc.primitive`.

Swish is given as a SymPy formula: gradc differentiates it with SymPy and emits
the derivative as NumPy. GELU (tanh approximation) comes with a hand-written VJP.
Both are then used in a small two-layer model, and the gradients are checked
against central differences.
"""
import numpy as np
import sympy

import gradc


@gradc.primitive(sympy=lambda x: x / (1 + sympy.exp(-x)))
def swish(x):
    """x · sigmoid(x)."""
    return x / (1 + np.exp(-x))


def gelu_vjp(g, x, out):
    """d/dx of the tanh-approximated GELU, times the incoming adjoint g."""
    k = np.sqrt(2 / np.pi)
    u = k * (x + 0.044715 * x**3)
    t = np.tanh(u)
    return g * (0.5 * (1 + t) + 0.5 * x * (1 - t**2) * k * (1 + 3 * 0.044715 * x**2))


@gradc.primitive(vjp=gelu_vjp)
def gelu(x):
    """0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))."""
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def model_loss(W1, W2, X, y):
    h = gelu(X @ W1)
    z = swish(h @ W2)
    return np.mean((z - y) ** 2)


def main():
    rng = np.random.default_rng(0)
    W1, W2 = rng.normal(size=(4, 8)) / 2, rng.normal(size=8) / 3
    X, y = rng.normal(size=(16, 4)), rng.normal(size=16)
    compiled = gradc.compile(model_loss, wrt=("W1", "W2"), args=(W1, W2, X, y))
    print(compiled.adjoint_ir)
    print()
    source = compiled.source  # the helpers: gelu, gelu_vjp, swish, swish_grad (derived by SymPy)
    print(source[source.index("# Helpers"):source.index("def model_loss(")].rstrip())
    loss, (g1, g2) = compiled.value_and_grad(W1, W2, X, y)
    eps, worst = 1e-6, 0.0
    for W, g, i in ((W1, g1, 0), (W2, g2, 1)):
        for idx in np.ndindex(W.shape):
            plus, minus = W.copy(), W.copy()
            plus[idx] += eps
            minus[idx] -= eps
            args_p = [plus, W2, X, y] if i == 0 else [W1, plus, X, y]
            args_m = [minus, W2, X, y] if i == 0 else [W1, minus, X, y]
            numeric = (model_loss(*args_p) - model_loss(*args_m)) / (2 * eps)
            worst = max(worst, abs(numeric - g[idx]) / max(abs(numeric), 1e-8))
    print(f"loss = {loss:.6f}; worst relative error against central differences: {worst:.1e}")


if __name__ == "__main__":
    main()
