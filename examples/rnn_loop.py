"""A recurrent network whose time loop stays a loop.

`h = tanh(W @ h + U @ X[t])` over T steps compiles to a `for t in range(T):` loop in
both sweeps: the forward loop stacks what the adjoint needs (one row per step), the
adjoint loop runs the steps backwards, and the weight gradients, sums over the steps
of outer products, are one matrix product each after it. The generated module has
the same number of lines for T = 10 and T = 10,000.
"""
import numpy as np

import gradc


def rnn(W, U, X, h0):
    h = h0
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + U @ X[t])
    return np.sum(h * h)


def main(T=1000, H=64, D=32):
    rng = np.random.default_rng(0)
    args = (rng.normal(size=(H, H)) / np.sqrt(H), rng.normal(size=(H, D)) / np.sqrt(D),
            rng.normal(size=(T, D)), rng.normal(size=H))
    compiled = gradc.compile(rnn, wrt=("W", "U", "h0"), args=args)
    print(compiled.source)
    value, (W_bar, U_bar, h0_bar) = compiled.value_and_grad(*args)
    print(f"loss {value:.6f}, |W_bar| {np.linalg.norm(W_bar):.6f}")


if __name__ == "__main__":
    main()
