"""Computational-graph rendering: golden DOT source for the seed-000 example, real
rendering to PNG/SVG/PDF with Graphviz's `dot`, the error when `dot` is missing, and a
3-layer MLP that must render legibly. Regenerate the golden files with
GRADC_UPDATE_GOLDEN=1."""
import os
import re
import shutil
import subprocess
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import gradc
from gradc import render
from gradc.errors import CompileError
from gradc.interpret import evaluate
from gradc.nn import log_softmax, relu

import logistic_rss

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("GRADC_UPDATE_GOLDEN") == "1"
W0 = np.array([-1.0, 1.5, 0.5])


def mlp_loss(W1, b1, W2, b2, W3, b3, X, Y):
    """A 3-layer MLP classifier: tanh, relu, log-softmax and the mean cross-entropy."""
    h1 = np.tanh(X @ W1 + b1)
    h2 = relu(h1 @ W2 + b2)
    logp = log_softmax(h2 @ W3 + b3, axis=1)
    return -np.sum(Y * logp) / 32.0


@pytest.fixture(scope="module")
def seed000():
    return gradc.compile(logistic_rss.rss_loss, wrt="w", args=(W0,))


@pytest.fixture(scope="module")
def mlp():
    rng = np.random.default_rng(0)
    args = (rng.normal(size=(64, 128)) * 0.1, np.zeros(128), rng.normal(size=(128, 256)) * 0.1,
            np.zeros(256), rng.normal(size=(256, 10)) * 0.1, np.zeros(10),
            rng.normal(size=(32, 64)), np.eye(10)[rng.integers(0, 10, 32)])
    return gradc.compile(mlp_loss, wrt=(0, 1, 2, 3, 4, 5), args=args), args


def _nodes(source: str) -> dict[str, str]:
    """Node id -> its attribute text, from DOT source."""
    return {m.group(1): m.group(2)
            for m in re.finditer(r"^\s*(\w+) \[(label=.*?)\]$", source, re.M | re.S)
            if "style=invis" not in m.group(2)}  # layout anchors are not part of the program


def _label(attrs: str) -> str:
    return re.search(r'label="((?:[^"\\]|\\.)*)"', attrs).group(1)


def _style(attrs: str) -> str:
    return re.sub(r'label="(?:[^"\\]|\\.)*"\s*', "", attrs)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# ---------------------------------------------------------------------------
# DOT source


@pytest.mark.parametrize("kind", ["forward", "adjoint", "both"])
def test_dot_source_matches_golden(seed000, kind):
    source = seed000.graph(kind).source
    path = GOLDEN / f"logistic_rss.{kind}.dot"
    if UPDATE:
        path.write_text(source, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with GRADC_UPDATE_GOLDEN=1"
    assert source == path.read_text(encoding="utf-8"), f"graph changed: diff against {path}"


def test_dot_source_is_deterministic(seed000):
    again = gradc.compile(logistic_rss.rss_loss, wrt="w", args=(W0,))
    for kind in ("forward", "adjoint", "both"):
        assert again.graph(kind).source == seed000.graph(kind).source


def test_forward_graph_nodes_and_edges(seed000):
    source = seed000.graph("forward").source
    nodes = _nodes(source)
    assert set(nodes) == {"in0", "c1", "c2"} | {f"v{k}" for k in range(1, 10)}
    assert _label(nodes["in0"]).startswith("v_0 = w")
    assert "f64[3]" in _label(nodes["in0"])
    assert "sigmoid(v_1)" in _label(nodes["v3"])
    assert "X1 @ v_0" in _label(nodes["v1"])
    for edge in ["in0 -> v1", "c1 -> v1", "v1 -> v3", "v7 -> v9", "v8 -> v9"]:
        assert edge in source
    assert "_bar" not in source


def test_both_has_clusters_and_dashed_cross_edges(seed000):
    source = seed000.graph("both").source
    assert "subgraph cluster_forward" in source and "subgraph cluster_adjoint" in source
    cross = re.findall(r"^\s*(\w+) -> (\w+) \[(.*)\]$", source, re.M)
    dashed = {(a, b) for a, b, attrs in cross if "style=dashed" in attrs}
    # The reverse sweep reads v_6, v_5, v_4, v_3 and the constants X1, X2.
    assert {("v6", "v6_bar"), ("v5", "v5_bar"), ("v4", "v2_bar"), ("v3", "v1_bar"),
            ("c2", "in0_bar"), ("c1", "in0_bar_2")} <= dashed
    assert all(not a.endswith(("bar", "_2")) for a, _ in dashed)
    # Reverse data flow: v̄_4 = -v̄_6 reads v̄_6 (drawn mirrored, against the data flow).
    assert ("v4_bar", "v6_bar") in {(a, b) for a, b, attrs in cross if "dir=back" in attrs}


def test_node_styles_differ_by_role(seed000):
    nodes = _nodes(seed000.graph("both").source)
    styles = {role: _style(nodes[nid]) for role, nid in
              [("input", "in0"), ("intermediate", "v3"), ("output", "v9"), ("constant", "c1"),
               ("adjoint", "v3_bar"), ("gradient", "in0_bar_2")]}
    assert len(set(styles.values())) == len(styles), styles
    assert _style(nodes["v3"]) == _style(nodes["v5"])  # intermediates all alike
    assert "dashed" in styles["constant"]


def test_values_and_adjoints_in_labels(seed000):
    spec = seed000.latest
    env = evaluate(spec.adjoint_ir, W0)
    nodes = _nodes(seed000.graph("both", values=env).source)
    value, grad = seed000.value_and_grad(W0)
    assert f"= {value:.4g}" in _label(nodes["v9"])
    assert "= [-1, 1.5, 0.5]" in _label(nodes["in0"])
    assert "adjoint [" + ", ".join(f"{g:.4g}" for g in grad) + "]" in _label(nodes["in0"])
    assert f"= {1 / (1 + np.exp(-1.25)):.4g}" in _label(nodes["v3"])  # sigmoid(X1 @ w)
    assert "= " in _label(nodes["v3_bar"])

    class Table:  # a trace table exposes its values as `env`
        pass

    table = Table()
    table.env = env
    assert seed000.graph("both", values=table).source == seed000.graph("both", values=env).source


def test_bad_kind_and_extension(seed000, tmp_path):
    with pytest.raises(ValueError, match="forward"):
        seed000.graph("sideways")
    with pytest.raises(ValueError, match=r"\.png, \.svg, \.pdf"):
        seed000.render(tmp_path / "g.jpg")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------
# Rendering with dot


def test_render_png(seed000, tmp_path):
    out = seed000.render(tmp_path / "g.png", kind="both")
    assert out == tmp_path / "g.png"
    data = out.read_bytes()
    assert len(data) > 1024
    width, height = _png_size(data)
    assert width > 100 and height > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.png"]


def test_render_svg_and_pdf(seed000, tmp_path):
    svg = seed000.render(str(tmp_path / "g.svg"), kind="adjoint")
    text = svg.read_text(encoding="utf-8")
    assert "<svg" in text
    root = ET.fromstring(text)
    assert root.tag.endswith("svg")
    assert "v̄_1" in text
    pdf = seed000.render(tmp_path / "g.PDF")
    assert pdf.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.PDF", "g.svg"]


def test_missing_dot_writes_source_and_raises(seed000, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    target = tmp_path / "out" / "graph.png"
    target.parent.mkdir()
    with pytest.raises(render.GraphvizNotFound) as info:
        seed000.render(target, kind="both")
    assert isinstance(info.value, CompileError)
    dot_file = target.with_suffix(".dot")
    assert dot_file.exists() and not target.exists()
    assert dot_file.read_text(encoding="utf-8") == seed000.graph("both").source
    message = str(info.value)
    assert str(dot_file) in message
    assert "apt-get install graphviz" in message and "brew install graphviz" in message
    assert "https://graphviz.org/download/" in message


def test_missing_dot_inside_graphviz(seed000, tmp_path, monkeypatch):
    """dot found by shutil.which but failing to start: graphviz.ExecutableNotFound."""
    import graphviz

    def pipe(*args, **kwargs):
        raise graphviz.ExecutableNotFound(("dot",))

    graph = seed000.graph()
    monkeypatch.setattr(graph, "pipe", pipe)
    with pytest.raises(render.GraphvizNotFound):
        render.render_graph(graph, tmp_path / "g.svg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.dot"]


def test_mimebundle(seed000, monkeypatch, tmp_path):
    bundle = seed000._repr_mimebundle_()
    assert bundle["text/plain"] == str(seed000.ir)
    assert "<svg" in bundle["image/svg+xml"]
    assert "<svg" in bundle["text/html"] and "def rss_loss_value_and_grad(w):" in bundle["text/html"]
    monkeypatch.setenv("PATH", str(tmp_path))  # no Graphviz: the listing and source, no picture
    bundle = seed000._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"} and "<svg" not in bundle["text/html"]
    assert bundle["text/plain"] == str(seed000.ir)


# ---------------------------------------------------------------------------
# A real model


def test_mlp_renders_legibly(mlp, tmp_path):
    compiled, args = mlp
    for kind in ("forward", "both"):
        source = compiled.graph(kind).source
        nodes = _nodes(source)
        assert len(nodes) > 10
        for nid, attrs in nodes.items():
            assert re.search(r"f64\[[0-9,]*\]", _label(attrs)), (nid, _label(attrs))
    labels = " ".join(_label(a) for a in _nodes(compiled.graph("forward").source).values())
    for shape in ("f64[64,128]", "f64[32,128]", "f64[128,256]", "f64[32,10]", "f64[]"):
        assert shape in labels
    assert "tanh" in labels and "relu" in labels and "log_softmax" in labels
    env = evaluate(compiled.latest.adjoint_ir, *args)
    out = compiled.render(tmp_path / "mlp.png", kind="both", values=env)
    width, height = _png_size(out.read_bytes())
    assert 300 < width < 6000 and 300 < height < 6000, (width, height)
    assert out.stat().st_size > 10_000


# ---------------------------------------------------------------------------
# Graph content: every (program, kind) pair draws exactly its program's statements


DERIVED_PROGRAMS = [None, "jvp", "vjp", "hvp-forward-over-reverse", "hvp-reverse-over-reverse"]


def _first_lines(source: str) -> dict[str, str]:
    """node id -> the first line of its label."""
    return {nid: _label(attrs).split("\\n")[0] for nid, attrs in _nodes(source).items()}


@pytest.mark.parametrize("program", DERIVED_PROGRAMS, ids=lambda p: p or "gradient")
@pytest.mark.parametrize("kind", ["forward", "adjoint", "both"])
def test_graph_draws_the_statements_of_its_program(seed000, program, kind):
    from gradc.codegen import Naming, statements

    source = seed000.graph(kind, program=program).source
    if program is None:
        drawn = seed000.ir if kind == "forward" else seed000.adjoint_ir
    else:
        drawn = seed000.derived(program).program
    consts = {c: c.name or f"c{i}" for i, c in enumerate(drawn.consts(), 1)}
    stmts = statements(drawn, Naming(drawn, "math", consts))
    sweeps = {"forward": {"forward"}, "adjoint": {"reverse", "tangent"},
              "both": {"forward", "reverse", "tangent"}}[kind]
    want = [f"{s.lhs} {'+=' if s.augmented else '='} {render._clip(s.expr)}"
            for s in stmts if s.op.sweep in sweeps]
    assert want, "the selected sweeps of this program are empty"
    labels = list(_first_lines(source).values())
    for text in want:
        assert text in labels, f"{text!r} is not drawn"
    equations = [t for t in labels if " = " in t or " += " in t]
    folded = [t for t in equations if t.endswith(("(seed)", "(derived)"))]
    inputs = [t for t in equations if t.split(" = ")[0].startswith("v_") and
              t.split(" = ")[1] in {v.name for v in drawn.inputs}]
    assert len(equations) - len(folded) - len(inputs) == len(want)
    declared = set(_nodes(source)) | {"anchor_forward", "anchor_adjoint"}
    for tail, head in re.findall(r"^\s*(\w+) -> (\w+)", source, flags=re.M):
        assert tail in declared and head in declared


def test_adjoint_graph_tells_the_lectures_story(seed000):
    """Seed 000: the seed v̄_9 = 1 and the pass-through adjoints v̄_8, v̄_7 are drawn, as the
    trace table lists them, with v̄_6 and v̄_5 receiving from them."""
    source = seed000.graph("adjoint").source
    labels = _first_lines(source)
    assert labels["v9_bar"] == "v̄_9 = 1  (seed)"
    assert labels["v8_bar"] == "v̄_8 = v̄_9  (derived)" and labels["v7_bar"] == "v̄_7 = v̄_9  (derived)"
    for tail, head in [("v8_bar", "v9_bar"), ("v7_bar", "v9_bar"), ("v6_bar", "v8_bar"),
                       ("v5_bar", "v7_bar")]:
        assert re.search(rf"^\s*{tail} -> {head} ", source, flags=re.M)
    table = str(seed000.trace(W0))
    for row in ("v̄_9 = 1", "v̄_8 = v̄_9", "v̄_7 = v̄_9"):
        assert row in table.replace("  (seed)", "").replace("  (derived)", "")


def test_derived_programs_build_on_demand_and_print_as_listings():
    c = gradc.compile(logistic_rss.rss_loss, wrt="w", args=(W0,))
    d = c.derived("jvp")
    assert str(d) == str(d.program) and str(d).startswith("rss_loss(")
    program, source = d
    assert "def rss_loss_jvp(" in source
    with pytest.raises(gradc.CompileError, match="unknown derived program"):
        c.derived("hessian")


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot to lay out the graph")
@pytest.mark.parametrize("checkpoint", [None, gradc.Revolve(2)], ids=["store-all", "revolve"])
def test_both_puts_the_forward_sweep_left_of_the_adjoint(checkpoint):
    rng = np.random.default_rng(0)
    args = (rng.normal(size=(2, 3)), rng.normal(size=(4, 3, 3)), rng.normal(size=(2, 3)))
    c = gradc.compile(deep_tanh, wrt="W", args=args, checkpoint=checkpoint)
    unrolled = render.build_graph(c.latest, "both", unroll=True)
    for graph in (c.graph("both"), unrolled):  # (the loop as a cluster, and written out)
        plain = subprocess.run(["dot", "-Tplain"], input=graph.source, capture_output=True,
                               text=True, check=True).stdout
        x = {f[1]: float(f[2]) for f in (line.split() for line in plain.splitlines()) if f[0] == "node"}
        forward = [x[k] for k in x if re.fullmatch(r"(in|v)\d+", k)]
        adjoint = [x[k] for k in x if "_bar" in k]
        assert np.mean(forward) < np.mean(adjoint)
    labels = " ".join(_label(a) for a in _nodes(unrolled.source).values())
    assert "0.3333 *" in labels and "0.333333" not in labels  # numbers as the trace prints them
    assert "scatter" not in labels and "of zeros(4, 3, 3)" in labels


def deep_tanh(x, W, T):
    h = x
    for i in range(4):
        h = np.tanh(h @ W[i])
    return np.mean((h - T) ** 2)
