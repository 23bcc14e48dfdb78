"""Shared seed 002: f(x) = √(x² + e^{x²}) + cos(x² + e^{x²}).

The lecture splits f into a = x², b = eᵃ, c = a + b, d = √c, e = cos c, f = d + e;
gradc finds the same six intermediates (x² + e^{x²} is computed once) and the
adjoint program follows the lecture's reverse sweep.
"""
import numpy as np

import gradc


def f(x):
    return np.sqrt(x**2 + np.exp(x**2)) + np.cos(x**2 + np.exp(x**2))


def main():
    compiled = gradc.compile(f, wrt="x", args=(0.5,))
    print(compiled.adjoint_ir)
    value, slope = compiled.value_and_grad(0.5)
    print(f"f(0.5) = {value:.6f}, f'(0.5) = {slope:.6f}")


if __name__ == "__main__":
    main()
