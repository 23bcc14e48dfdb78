"""Value and gradient over Dask arrays: gradc's generated code against a hand-written Dask
gradient on the same cluster (goal: at most 1.1x), and against the NumPy path for data that fits
in memory. `python benchmarks/bench_dask.py [--rows N] [--repeat R]`."""
import argparse
import time

import numpy as np

import gradc


def loss(w, b, X, y, lam):
    z = X @ w + b
    return np.mean(np.logaddexp(0.0, z) - y * z) + lam * np.sum(w ** 2)


def by_hand(w, b, X, y, lam):
    """The logistic-regression value and gradient written directly with Dask."""
    import dask.array as da

    z = X @ w + b
    value = da.mean(da.logaddexp(0.0, z) - y * z) + lam * np.sum(w ** 2)
    r = (1.0 / (1.0 + da.exp(-z)) - y) / X.shape[0]
    return value, (X.T @ r + 2 * lam * w, da.sum(r))


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--features", type=int, default=16)
    p.add_argument("--chunk-rows", type=int, default=250_000)
    p.add_argument("--repeat", type=int, default=5)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    Xn = rng.normal(size=(a.rows, a.features))
    yn = (rng.random(a.rows) < 0.5).astype(float)
    w = rng.normal(size=a.features)
    vg = gradc.value_and_grad(loss, wrt=("w", "b"))
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, Client(cluster):
        X = da.from_array(Xn, chunks=(a.chunk_rows, a.features)).persist()
        y = da.from_array(yn, chunks=a.chunk_rows).persist()
        ours = dask.compute(*vg(w, 0.1, X, y, 1e-3))
        theirs = dask.compute(*by_hand(w, 0.1, X, y, 1e-3))
        np.testing.assert_allclose(ours[1][0], theirs[1][0], rtol=1e-10)
        t_gradc = best(lambda: dask.compute(*vg(w, 0.1, X, y, 1e-3)), a.repeat)
        t_hand = best(lambda: dask.compute(*by_hand(w, 0.1, X, y, 1e-3)), a.repeat)
    t_numpy = best(lambda: vg(w, 0.1, Xn, yn, 1e-3), a.repeat)
    print(f"{a.rows:,} rows x {a.features} float64, chunks of {a.chunk_rows:,} rows, 2 workers")
    print(f"gradc over Dask     {t_gradc * 1e3:8.1f} ms")
    print(f"hand-written Dask   {t_hand * 1e3:8.1f} ms   gradc / hand = {t_gradc / t_hand:.2f}x (goal <= 1.1x)")
    print(f"gradc over NumPy    {t_numpy * 1e3:8.1f} ms   Dask / NumPy = {t_gradc / t_numpy:.2f}x (in memory)")


if __name__ == "__main__":
    main()
