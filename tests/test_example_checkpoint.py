"""The deep tanh checkpointing example in quick mode: every policy runs, and its gradient is
bitwise the store-all one (the example's whole claim), in well under the default's minute."""
import re

import deep_tanh_checkpoint as example


def run(capsys, tmp_path, *argv):
    rows = example.main(["--quick", "--out", str(tmp_path), *argv])
    return rows, capsys.readouterr().out


def test_quick_run_reports_every_policy_with_identical_gradients(capsys, tmp_path):
    rows, out = run(capsys, tmp_path)
    names = ["store-all", "Segments(k=4)", "Revolve(snapshots=4)", "Revolve(snapshots=10)"]
    assert [r["name"] for r in rows] == names
    table = out.split("\n\n")[1]
    for name in names:
        line = next(line for line in table.splitlines() if line.startswith(name + " "))
        assert re.search(r"\d+(\.\d+)? (kB|MB|GB)", line), line  # a peak memory
        assert re.search(r"\d+\.\d+ m?s", line), line  # a wall time
        assert "reference" in line if name == "store-all" else "identical to store-all" in line
    assert "DIFFERS" not in out
    assert "under every policy: True" in out
    leanest = re.escape(min(rows[1:], key=lambda r: r["peak"])["name"])  # the headline's policy
    assert re.search(rf"^{leanest}: [\d.]+% of store-all's peak memory", out, re.M)
    assert re.search(rf"^{leanest}: 12 steps, slots \d+ .* \d+ untaped forward steps", out, re.M)
    assert re.search(r"^Revolve\(snapshots=4\) .* 18 \(1\.50 L\) +4 ", table, re.M)
    assert "def step_" in out  # the generated step functions are shown
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "deep_tanh_revolve_snapshots_10.svg", "deep_tanh_revolve_snapshots_4.svg", "deep_tanh_segments_k_4.svg"]
    peak = {r["name"]: r["peak"] for r in rows}
    assert peak["Revolve(snapshots=4)"] < peak["store-all"] / 2


def test_skip_store_all_estimates_it_and_compares_to_the_first_policy(capsys, tmp_path):
    rows, out = run(capsys, tmp_path, "--skip-store-all", "--policies", "store-all,revolve:3,segments:5")
    assert [r["name"] for r in rows] == ["Revolve(snapshots=3)", "Segments(k=5)"]
    assert re.search(r"^store-all \(estimate\) .* not run", out, re.M)
    assert "identical to Revolve(snapshots=3)" in out
