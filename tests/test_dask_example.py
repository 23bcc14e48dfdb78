"""examples/distributed_logreg.py, small: data written to disk in blocks, gradient descent on a
2-worker LocalCluster, every loss and the final parameters equal to NumPy's on the same data."""
import numpy as np
import pytest

pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import distributed_logreg as example  # noqa: E402
import gradc  # noqa: E402


def test_distributed_logreg_matches_numpy(tmp_path):
    import dask.array as da

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster):
        example.write_data(tmp_path, rows=6000, features=16, chunk_rows=1000)
        X, y = da.from_npy_stack(tmp_path / "X"), da.from_npy_stack(tmp_path / "y")
        assert X.numblocks[0] == 6 and X.dtype == np.float32
        losses, w, b = example.descend(X, y, iterations=4, lr=1.0, lam=1e-3, progress=False)
    Xn = np.concatenate([np.load(tmp_path / "X" / f"{i}.npy") for i in range(6)])
    yn = np.concatenate([np.load(tmp_path / "y" / f"{i}.npy") for i in range(6)])
    vg = gradc.value_and_grad(example.loss, wrt=("w", "b"))
    wn, bn = np.zeros(16, dtype=np.float32), 0.0
    for k in range(4):
        value, (gw, gb) = vg(wn, bn, Xn, yn, 1e-3)
        assert losses[k] == pytest.approx(float(value), rel=1e-5)  # float32 sums in another order
        wn, bn = wn - 1.0 * gw, bn - 1.0 * float(gb)
    np.testing.assert_allclose(w, wn, rtol=1e-4, atol=1e-5)
    assert b == pytest.approx(bn, rel=1e-4, abs=1e-5)
    assert losses[-1] < losses[0]
