"""Batched second derivatives and per-example gradients (the batching pass, `gradc.vmap`).

1. `gradc.hessian` of the 50-parameter logistic regression (n = 1000): the Hessian-vector-
   product program batched over all 50 basis directions, against the loop of one
   Hessian-vector product per column it replaced, and `jax.hessian` (jitted) if importable.
2. Per-example gradients of the 784-256-256-10 MLP for a batch of 128,
   `gradc.vmap(gradc.grad(loss), in_axes=(None, ..., 0, 0))`, against gradc's gradient of the
   batch loss, a Python loop of per-example gradients, and `jax.vmap(jax.grad(...))` (jitted).

Every result is checked against its looped version before timing.

    .venv/bin/python benchmarks/bench_hessian_vmap.py [--quick] [--threads N]
"""
from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

import blas_threads  # noqa: F401  (before NumPy: --threads reaches the BLAS)

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import gradc  # noqa: E402
from gradc.nn import log_softmax  # noqa: E402
from workloads import logreg_loss, mlp_loss, mlp_make  # noqa: E402


def mlp_example_loss(W1, b1, W2, b2, W3, b3, x, y):
    """mlp_loss for one example (x: (784,), y: one-hot (10,))."""
    h1 = np.tanh(x @ W1 + b1)
    h2 = np.maximum(h1 @ W2 + b2, 0.0)
    return -np.sum(y * log_softmax(h2 @ W3 + b3, axis=-1))


def best(fn, repeats: int, min_time: float) -> float:
    number, _ = timeit.Timer(fn).autorange()
    number = max(1, int(number * min_time / 0.2))
    return min(timeit.repeat(fn, number=number, repeat=repeats)) / number


def jax_or_none():
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        return jax, jnp
    except Exception:  # noqa: BLE001 - JAX is optional
        return None


def logreg_case(rng, n=1000, d=50):
    X = rng.standard_normal((n, d))
    w_true = rng.standard_normal(d) / np.sqrt(d)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(X @ w_true)))).astype(np.float64)
    return 0.1 * rng.standard_normal(d), X, y


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repeats")
    parser.add_argument("--threads", type=int, help="BLAS threads (set before NumPy loads)")
    opts = parser.parse_args(argv)
    repeats, min_time = (3, 0.05) if opts.quick else (7, 0.2)
    rng = np.random.default_rng(0)
    jx = jax_or_none()
    rows = []

    # 1. Hessian of logistic regression
    w, X, y = logreg_case(rng)
    hess = gradc.hessian(logreg_loss, wrt="w")
    c = hess.compiled
    eye = np.eye(w.size)

    def looped():
        return np.stack([c.hvp(w, X, y, e) for e in eye], axis=1)

    H = hess(w, X, y)
    np.testing.assert_allclose(H, looped(), rtol=1e-12, atol=1e-14)
    t_batched = best(lambda: hess(w, X, y), repeats, min_time)
    t_looped = best(looped, repeats, min_time)
    rows.append(("hessian logreg n=1000 d=50", "gradc.hessian (batched)", t_batched))
    rows.append(("", "one hvp per column (before)", t_looped))
    if jx is not None:
        jax, jnp = jx

        def jloss(w, X, y):
            z = X @ w
            return jnp.mean(jax.nn.softplus(z) - y * z)

        jh = jax.jit(jax.hessian(jloss))
        Xj, yj, wj = jnp.asarray(X), jnp.asarray(y), jnp.asarray(w)
        np.testing.assert_allclose(np.asarray(jh(wj, Xj, yj)), H, rtol=1e-10, atol=1e-13)
        t_jax = best(lambda: jh(wj, Xj, yj).block_until_ready(), repeats, min_time)
        rows.append(("", "jax.jit(jax.hessian)", t_jax))

    # 2. Per-example gradients of the MLP
    *params, Xb, Yb = mlp_make(rng)
    wrt = ("W1", "b1", "W2", "b2", "W3", "b3")
    per_example = gradc.vmap(gradc.grad(mlp_example_loss, wrt=wrt), in_axes=(None,) * 6 + (0, 0))
    one = gradc.grad(mlp_example_loss, wrt=wrt)
    batch_grad = gradc.grad(mlp_loss, wrt=wrt)
    grads = per_example(*params, Xb, Yb)
    for k in (0, 57, 127):
        for g, ref in zip(grads, one(*params, Xb[k], Yb[k])):
            np.testing.assert_allclose(g[k], ref, rtol=1e-10, atol=1e-13)
    mean = [g.mean(axis=0) for g in grads]  # the batch loss is the mean of the examples' losses
    for g, ref in zip(mean, batch_grad(*params, Xb, Yb)):
        np.testing.assert_allclose(g, ref, rtol=1e-8, atol=1e-12)
    t_vmap = best(lambda: per_example(*params, Xb, Yb), repeats, min_time)
    t_batch = best(lambda: batch_grad(*params, Xb, Yb), repeats, min_time)
    t_loop = best(lambda: [one(*params, Xb[k], Yb[k]) for k in range(len(Xb))], max(1, repeats // 2), min_time)
    rows.append(("per-example grads MLP b=128", "gradc.vmap(gradc.grad)", t_vmap))
    rows.append(("", "gradc.grad of the batch loss", t_batch))
    rows.append(("", "gradc.grad per example, looped", t_loop))
    if jx is not None:
        jax, jnp = jx

        def jloss1(W1, b1, W2, b2, W3, b3, x, y):
            h1 = jnp.tanh(x @ W1 + b1)
            h2 = jnp.maximum(h1 @ W2 + b2, 0.0)
            return -jnp.sum(y * jax.nn.log_softmax(h2 @ W3 + b3, axis=-1))

        jpe = jax.jit(jax.vmap(jax.grad(jloss1, argnums=tuple(range(6))), in_axes=(None,) * 6 + (0, 0)))
        jargs = [jnp.asarray(a) for a in (*params, Xb, Yb)]
        jgrads = jpe(*jargs)
        for g, ref in zip(grads, jgrads):
            np.testing.assert_allclose(g, np.asarray(ref), rtol=1e-9, atol=1e-12)
        t_jvmap = best(lambda: jax.block_until_ready(jpe(*jargs)), repeats, min_time)
        rows.append(("", "jax.jit(jax.vmap(jax.grad))", t_jvmap))

    print(f"{'workload':<30} {'implementation':<34} {'ms':>9}")
    for workload, impl, t in rows:
        print(f"{workload:<30} {impl:<34} {t * 1e3:>9.3f}")
    print(f"\nhessian: batched / looped = {t_batched / t_looped:.2f}"
          + (f", batched / jax = {t_batched / t_jax:.2f}" if jx is not None else ""))
    print(f"per-example: vmap / batch gradient = {t_vmap / t_batch:.2f}, vmap / loop = {t_vmap / t_loop:.2f}"
          + (f", vmap / jax = {t_vmap / t_jvmap:.2f}" if jx is not None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
