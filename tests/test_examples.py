"""The lecture example as `make demo` runs it: twice in a row (its pictures are its own
output, replaced on each run), exiting 0 with the lecture's numbers."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_logistic_rss_example_runs_twice():
    for _ in range(2):
        r = subprocess.run([sys.executable, "examples/logistic_rss.py"], cwd=ROOT, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    assert "v̄_9 = 1" in r.stdout and "0.1293" in r.stdout
    for kind in ("forward", "adjoint", "both"):
        assert (ROOT / "out" / f"rss_loss_{kind}.png").stat().st_size > 1000
