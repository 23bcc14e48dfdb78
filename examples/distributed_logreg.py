"""Full-batch gradient descent for logistic regression over data larger than a worker's memory.

The data (rows x 16 float32 features and labels) is written to disk in blocks (.npy stacks) by
this script, then read lazily as Dask arrays: gradc's value_and_grad of an ordinary NumPy loss
returns lazy Dask arrays, and one dask.compute per iteration runs the forward and reverse
sweeps together on the cluster, as tree reductions over the row blocks. The parameters stay
NumPy arrays on the client.

    python examples/distributed_logreg.py                    # 2 local workers, modest size
    python examples/distributed_logreg.py --rows 100_000_000 --memory-limit 2GiB  # 6.4 GB of data
    python examples/distributed_logreg.py --scheduler tcp://host:8786 --data /shared/logreg

With --scheduler the script connects to an existing dask.distributed cluster instead of starting
a LocalCluster; --data must then be a directory every worker can read (a shared disk).
"""
import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np

import gradc


def loss(w, b, X, y, lam):
    """Mean logistic loss (labels 0/1) with an L2 penalty."""
    z = X @ w + b
    return np.mean(np.logaddexp(0.0, z) - y * z) + lam * np.sum(w ** 2)


def write_data(path: Path, rows: int, features: int, chunk_rows: int, seed: int = 0):
    """X (rows, features) float32 and y (rows,) float32, written block by block as .npy stacks."""
    import dask.array as da

    if (path / "X" / "info").exists() and np.load(path / "X" / "0.npy", mmap_mode="r").shape[1] == features \
            and sum(c for c in _rows_on_disk(path)) == rows:
        return
    path.mkdir(parents=True, exist_ok=True)
    rng = da.random.default_rng(seed)
    X = rng.standard_normal((rows, features), chunks=(chunk_rows, features), dtype=np.float32)
    w_true = np.linspace(-1.0, 1.0, features).astype(np.float32)
    noise = rng.logistic(size=rows, chunks=chunk_rows).astype(np.float32)
    y = ((X @ w_true + noise) > 0).astype(np.float32)
    da.to_npy_stack(path / "X", X, axis=0)
    da.to_npy_stack(path / "y", y, axis=0)


def _rows_on_disk(path: Path):
    import pickle

    with open(path / "X" / "info", "rb") as f:
        return pickle.load(f)["chunks"][0]


def peak_memory_mib() -> float:
    """This process's peak resident memory (on a worker: the worker's)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def descend(X, y, iterations: int, lr: float, lam: float, progress: bool = True):
    """Gradient descent from w = 0; (losses, w, b). One dask.compute per step: value and gradient
    in one graph."""
    import dask
    from tqdm import tqdm

    vg = gradc.value_and_grad(loss, wrt=("w", "b"))
    w, b, losses = np.zeros(X.shape[1], dtype=np.float32), 0.0, []
    with tqdm(total=iterations, desc="gradient descent", disable=not progress) as pbar:
        for _ in range(iterations):
            value, (gw, gb) = dask.compute(*vg(w, b, X, y, lam))
            losses.append(float(value))
            w, b = w - lr * gw, b - lr * float(gb)
            pbar.update(1)
            pbar.set_postfix(loss=f"{losses[-1]:.6f}")
    return losses, w, b


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--features", type=int, default=16)
    parser.add_argument("--chunk-rows", type=int, default=1_000_000)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--lam", type=float, default=1e-4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="1GiB", help="per worker (LocalCluster only)")
    parser.add_argument("--scheduler", default=None, help="address of an existing cluster's scheduler")
    parser.add_argument("--data", default="out/distributed_logreg")
    args = parser.parse_args(argv)

    import dask.array as da
    from distributed import Client, LocalCluster

    path = Path(args.data)
    t0 = time.perf_counter()
    if args.scheduler:
        client = Client(args.scheduler)
        cluster = None
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, memory_limit=args.memory_limit,
                               dashboard_address=None)
        client = Client(cluster)
    with client:
        write_data(path, args.rows, args.features, args.chunk_rows)
        X, y = da.from_npy_stack(path / "X"), da.from_npy_stack(path / "y")
        size = (X.nbytes + y.nbytes) / 2**30
        print(f"data: {X.shape[0]:,} rows x {X.shape[1]} float32 features ({size:.2f} GiB) in "
              f"{X.numblocks[0]} blocks; {len(client.scheduler_info()['workers'])} workers, memory limit "
              f"{args.memory_limit if cluster else 'set by the cluster'} each (written in "
              f"{time.perf_counter() - t0:.1f} s)")
        t1 = time.perf_counter()
        losses, w, b = descend(X, y, args.iterations, args.lr, args.lam, progress=os.isatty(2))
        elapsed = time.perf_counter() - t1
        for k, value in enumerate(losses):
            print(f"iteration {k:3d}: loss {value:.6f}")
        peaks = client.run(peak_memory_mib)
        print(f"{args.iterations} iterations in {elapsed:.1f} s ({elapsed / args.iterations:.2f} s each)")
        for worker, mib in sorted(peaks.items()):
            print(f"peak memory of worker {worker}: {mib:.0f} MiB")
    if cluster is not None:
        cluster.close()
    return losses, w, b


if __name__ == "__main__":
    main()
