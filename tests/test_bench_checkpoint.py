"""Smoke test of benchmarks/bench_checkpoint.py: a --quick run writes its table, markdown
and SVG plot, and every checkpointing policy's gradient matches store-all bitwise.
Timings are printed by the benchmark, never asserted here."""
import importlib.util
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_checkpoint.py"
SVG = "{http://www.w3.org/2000/svg}"


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_checkpoint", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_quick_run_writes_table_markdown_and_svg(tmp_path, capsys):
    bench = load_bench()
    assert bench.main(["--quick", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    names = ["hand NumPy", "store-all", "Segments(k=", *(f"Revolve({s})" for s in bench.QUICK_SNAPSHOTS)]
    for name in names:
        assert name in printed
    assert "MISMATCH" not in printed

    md = (tmp_path / "checkpoint_tradeoff.md").read_text()
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 3 + len(bench.QUICK_SNAPSHOTS)  # header, rule, hand, store-all, Segments
    assert md.count("bitwise") >= 1 + len(bench.QUICK_SNAPSHOTS)

    root = ET.parse(tmp_path / "checkpoint_tradeoff.svg").getroot()
    assert root.tag == f"{SVG}svg"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert any("peak memory" in t for t in texts) and any("wall time" in t for t in texts)
    assert len(list(root.iter(f"{SVG}polyline"))) == 2  # the Revolve series, once per panel


def test_hand_gradient_matches_store_all_on_a_tiny_chain():
    bench = load_bench()
    args = bench.make_args(5, 0.001)
    rows = bench.measure(args, (2,), repeats=1)
    assert all(r.ok for r in rows), [(r.name, r.check) for r in rows]
