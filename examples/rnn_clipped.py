"""A recurrent network with a branch on data in every step, and an early stop.

The hidden state is rescaled whenever its norm exceeds `max_norm` (an `if` on data: a
branch region, `if v6:` in the forward loop and again in the adjoint loop, on the
predicate the forward loop recorded), and the sequence stops being read once the state
saturates (a `break` on data: a flag the loop carries). The loop stays one loop in both
sweeps, so the module has the same number of lines for T = 10 and T = 10,000.
"""
import numpy as np

import gradc


def rnn_clipped(W, U, X, Y, h0, max_norm):
    h, loss = h0, 0.0
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + U @ X[t])
        n = np.linalg.norm(h)
        if n > max_norm:
            h = h * (max_norm / n)
        loss = loss + np.sum((h - Y[t]) ** 2)
        if np.min(np.abs(h)) > 0.99:
            break
    return loss / X.shape[0]


def main(T=1000, H=64, D=32):
    rng = np.random.default_rng(0)
    args = (rng.normal(size=(H, H)) / np.sqrt(H), rng.normal(size=(H, D)) / np.sqrt(D),
            rng.normal(size=(T, D)), 0.5 * rng.normal(size=(T, H)), rng.normal(size=H), 5.0)
    compiled = gradc.compile(rnn_clipped, wrt=("W", "U", "h0"), args=args)
    print(compiled.source)
    value, (W_bar, U_bar, h0_bar) = compiled.value_and_grad(*args)
    print(f"loss {value:.6f}, |W_bar| {np.linalg.norm(W_bar):.6f}")


if __name__ == "__main__":
    main()
