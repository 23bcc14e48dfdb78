"""Inspecting a checkpointed gradient: which forward values the run stores and which it
recomputes, in the trace table, the graph and the gradc command (run in-process here,
to stay fast; test_cli.py runs the command as a subprocess)."""
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import gradc
from gradc.cli import main, parse_policy
from gradc.runtime.checkpoint import Revolve, Segments

import logistic_rss

X, A, N = np.ones(3), np.linspace(0.5, 1.5, 6), 6
CHAIN = """import numpy as np

def loss(x, n):
    h = x
    for i in range(n):
        h = np.sin(h) + 0.5 * h
    return np.sum(h * h)
"""


def chain(x, a, n):
    h = x
    for i in range(n):
        h = np.sin(h * a[i]) + h
    return np.sum(h * h)


def scaled(x, a, n):
    b = (a * 2.0 + 1.0) * 0.5  # a*2 and a*2+1: computed once, read by nothing later
    h = x
    for i in range(n):
        h = np.sin(h * b[i]) + h
    return np.sum(h * h)


@pytest.fixture(scope="module")
def compiled():
    return gradc.compile(chain, wrt=("x", "a"), args=(X, A, N), checkpoint=gradc.Revolve(snapshots=3))


@pytest.fixture(scope="module")
def table(compiled):
    return compiled.trace(X, A, N)


# -- trace ------------------------------------------------------------------------


def test_trace_marks_what_the_plan_stores(compiled, table):
    """The loop's iterations are the steps: the run stores the inputs and the carried h at
    each boundary between steps, and recomputes everything else inside the steps."""
    from gradc.regions import flat_view

    view = flat_view(compiled.latest)
    kept, step = compiled.latest.checkpointed.plan.marks(view.adjoint_ir, view.iterations)
    values = list(view.adjoint_ir.inputs) + [op.out for op in view.adjoint_ir.forward_ops()]
    assert len(values) == 28
    by_index = {-i: v for i, v in enumerate(view.adjoint_ir.inputs)}
    by_index.update((j, v) for j, v in enumerate(values[2:], 1))  # v_1, v_2, ...: the forward ops
    rows = [r for r in table.forward if r.kind in ("input", "op")]  # (iterations 2-4 elided)
    assert len(rows) == 28 - 3 * 4
    assert [r.kept for r in rows] == [kept[by_index[r.index]] for r in rows]
    assert [r.step for r in rows] == [step[by_index[r.index]] for r in rows]
    stored = sorted((j for j, v in by_index.items() if kept[v] == "stored"), key=abs)
    assert stored == [0, -1, 4, 8, 12, 16, 20]  # x, a, and h after steps 0-4
    assert [step[by_index[j]] for j in stored] == [0, 0, 1, 2, 3, 4, 5]
    assert list(kept.values()).count("recomputed") == 21
    assert all(r.kept is None and r.step is None for r in table.reverse)


def test_trace_text_and_markdown_carry_the_legend(table):
    text = table.to_text()
    lines = text.splitlines()
    assert lines[1] == "checkpointed: 6 steps, Revolve(snapshots=3); stored: 7 values, recomputed: 21"
    assert lines[2].split() == ["step", "kept"]
    assert lines[3].split()[:3] == ["pre", "stored", "v_0"]
    assert any(line.split()[:3] == ["1", "recomputed", "v_7"] for line in lines)
    md = table.to_markdown()
    assert md.startswith("*checkpointed: 6 steps")
    assert "| step | kept | Forward primal trace |" in md
    assert "| 1 | stored | `v_8 = v_7 + v_4` |" in md
    html = table.to_html()
    assert "<th>kept</th>" in html and '<td title="kept for the backward pass' in html


def test_values_needed_only_before_the_first_step_are_transient():
    c = gradc.compile(scaled, wrt=("x", "a"), args=(X, A[:4], 4), checkpoint=gradc.Segments(2))
    t = c.trace(X, A[:4], 4)
    transient = [r.name for r in t.forward if r.kept == "transient"]
    assert transient and all(r.step == 0 for r in t.forward if r.kept == "transient")
    assert "transient: " in t.to_text().splitlines()[1]


def test_store_all_trace_has_no_marks():
    t = gradc.compile(logistic_rss.rss_loss, wrt="w", args=(np.array([-1.0, 1.5, 0.5]),)).trace(
        np.array([-1.0, 1.5, 0.5]))
    assert t.checkpointing is None and all(r.kept is None for r in t.forward)
    assert "checkpointed" not in t.to_text() + t.to_markdown() + t.to_html()


# -- graph ------------------------------------------------------------------------


def test_graph_outlines_stored_and_recomputed_nodes(compiled, table):
    dot = compiled.graph("forward", values=table).source
    assert "bold outline: stored (7) · dashed: recomputed (21)" in dot
    assert dot.count("recomputed, step") == 21 and dot.count("stored, ") == 7
    assert dot.count("penwidth=2.5") == 7
    assert 'style="rounded,filled,dashed"' in dot
    assert "subgraph cluster_prologue " in dot and "subgraph cluster_step5 " in dot
    assert "cluster_step6" not in dot  # clusters are named as the schedule numbers steps
    both = compiled.graph("both").source
    assert "dashed: recomputed (21)" in both and "recomputed, step 0" in both
    assert "penwidth=2.5" in compiled.graph("adjoint").source  # stored values the reverse sweep reads


def test_store_all_graph_has_no_checkpoint_styling():
    c = gradc.compile(chain, wrt=("x", "a"), args=(X, A, N))
    for kind in ("forward", "adjoint", "both"):
        dot = c.graph(kind).source
        assert "checkpointed" not in dot and "cluster_step" not in dot and "penwidth=2.5" not in dot


# -- command line ------------------------------------------------------------------


@pytest.fixture
def target(tmp_path):
    (tmp_path / "ckpt_chain.py").write_text(CHAIN)
    return [f"{tmp_path / 'ckpt_chain.py'}:loss", "--wrt", "x", "--at", "x=1,1,1", "n=6"]


@pytest.mark.parametrize("text, kind, number", [
    ("none", None, None), ("segments", Segments, None), ("segments:4", Segments, 4),
    ("revolve:3", Revolve, 3), ("Revolve:2", Revolve, 2)])
def test_parse_policy(text, kind, number):
    policy = parse_policy(text)
    assert policy is None if kind is None else isinstance(policy, kind)
    if number is not None:
        assert getattr(policy, "k", None) == number or getattr(policy, "snapshots", None) == number


def test_show_prints_the_schedule_summary(target, capsys):
    assert main(["show", *target, "--checkpoint", "revolve:3", "--ir"]) == 0
    out = capsys.readouterr().out
    assert "checkpointed: 6 steps, Revolve(snapshots=3); stored: 6 values, recomputed: 15" in out
    assert "schedule Revolve(snapshots=3): 6 steps, slots 3" in out and "restore x_" not in out
    assert main(["show", *target, "--checkpoint", "segments:2", "--schedule"]) == 0
    assert "restore x_" in capsys.readouterr().out


def test_grad_trace_and_check_take_a_policy(target, capsys):
    assert main(["grad", *target, "--checkpoint", "revolve:3"]) == 0
    assert main(["check", *target, "--checkpoint", "segments"]) == 0
    assert main(["trace", *target, "--checkpoint", "revolve:2", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert "OK: worst relative error" in out and "| step | kept |" in out


@pytest.mark.parametrize("bad", ["revolve", "revolve:0", "segments:x", "none:2", "bisect"])
def test_bad_policy_is_a_usage_error(target, capsys, bad):
    with pytest.raises(SystemExit) as e:
        main(["grad", *target, "--checkpoint", bad])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "argument --checkpoint: expected none, segments, segments:K or revolve:S" in err
    assert "Traceback" not in err


def test_graph_schedule_writes_an_svg(target, tmp_path, capsys):
    out = tmp_path / "schedule.svg"
    assert main(["graph", *target, "--checkpoint", "revolve:3", "--schedule", "-o", str(out)]) == 0
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg") and "Revolve(snapshots=3)" in ET.tostring(root, encoding="unicode")


@pytest.mark.parametrize("args, message", [
    (["--schedule", "-o", "s.svg"], "graph --schedule needs a checkpoint policy"),
    (["--checkpoint", "none", "--schedule", "-o", "s.svg"], "needs a checkpoint policy"),
    (["--checkpoint", "revolve:3", "--schedule", "-o", "s.png"], "schedules are drawn as SVG: use -o s.svg"),
])
def test_graph_schedule_usage_errors(target, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["graph", *target, *args]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("s.*"))


def test_show_schedule_without_a_policy_is_a_usage_error(target, capsys):
    assert main(["show", *target, "--schedule"]) == 2
    assert "--schedule needs a checkpoint policy" in capsys.readouterr().err
