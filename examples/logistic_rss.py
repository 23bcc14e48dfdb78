"""The lecture's worked example (shared seed 000): logistic regression with squared loss.

Dataset D = {((1, 1.5), 0), ((1.5, -1), 1)}, each x extended by x0 = 1; model
y(x) = sigmoid(w^T x); loss L(w) = sum over D of (c - y(x))^2, at w = (-1, 1.5, 0.5).
The lecture's trace gives L ≈ 0.71 and ∇L ≈ (0.13, 0.06, 0.54).

Run it with `make demo` (or `python examples/logistic_rss.py` inside the venv): it prints
the SSA program, the generated code, the numbers and the trace table, and writes the
forward, adjoint and combined graph images to out/.
"""
from pathlib import Path

import numpy as np

import gradc
from gradc.nn import sigmoid

X1, C1 = np.array([1.0, 1.0, 1.5]), 0.0  # x = (1, 1.5) extended by x0 = 1, class 0
X2, C2 = np.array([1.0, 1.5, -1.0]), 1.0  # x = (1.5, -1) extended by x0 = 1, class 1


def rss_loss(w):
    z1 = X1 @ w
    z2 = X2 @ w
    y1 = sigmoid(z1)
    y2 = sigmoid(z2)
    r1 = C1 - y1
    r2 = C2 - y2
    return r1**2 + r2**2


def main():
    w = np.array([-1.0, 1.5, 0.5])
    compiled = gradc.compile(rss_loss, wrt="w", args=(w,))

    print("== SSA program (forward) ==")
    print(compiled.ir)
    print()
    print("== SSA program (forward + adjoint) ==")
    print(compiled.adjoint_ir)
    print()
    print("== Generated source ==")
    print(compiled.source)
    loss, grad = compiled.value_and_grad(w)
    print("== Result at w = (-1, 1.5, 0.5) ==")
    print(f"L(w)  = {loss:.4f}      (lecture: 0.71)")
    print(f"∇L(w) = ({', '.join(f'{g:.4f}' for g in grad)})   (lecture: (0.13, 0.06, 0.54))")
    print()
    print("== Forward and reverse trace (the lecture's table) ==")
    trace = compiled.trace(w)
    print(trace)
    print()
    out = Path(__file__).resolve().parent.parent / "out"
    out.mkdir(exist_ok=True)
    print("== Computational graphs ==")
    for kind in ("forward", "adjoint", "both"):
        path = compiled.render(out / f"rss_loss_{kind}.png", kind=kind, values=trace, overwrite=True)
        print(f"{kind:>8}: {path}")


if __name__ == "__main__":
    main()
