"""Graphs of programs with regions (issue #11): a loop's body drawn once in a cluster
labelled with its trip count, a conditional as two clusters, a while loop as a cluster
whose trip count comes from data; the adjoint's reversed loops likewise. The DOT source
is checked for clusters, labels and edges, its size for independence of the trip count,
the numbers in its labels against NumPy, and `dot` must lay every one out without an
error or a warning."""
import re
import shutil
import subprocess
import time

import numpy as np
import pytest

import gradc
from gradc import render
from gradc.errors import CompileError

import rnn_clipped
import rnn_loop
from tests import test_branches, test_while

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")


def rnn_args(T, H=3, D=2, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(H, H)) * 0.5, rng.normal(size=(H, D)) * 0.5, rng.normal(size=(T, D)),
            rng.normal(size=H))


def clipped_args(T, H=3, D=2, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(H, H)) / np.sqrt(H), rng.normal(size=(H, D)) / np.sqrt(D),
            rng.normal(size=(T, D)), 0.5 * rng.normal(size=(T, H)), rng.normal(size=H), 5.0)


def nested_loops(W, x):
    s = 0.0
    for i in range(3):
        y = x
        for j in range(4):
            y = np.sin(W @ y) + x
        s = s + np.sum(y * y)
    return s


# ---------------------------------------------------------------------------
# Reading DOT source


def parse(source: str):
    """(nodes, clusters, edges): node id -> (label, path of enclosing clusters); cluster
    name -> (label, path of enclosing clusters); edges as (tail, head, attribute text)."""
    nodes, clusters, edges, path = {}, {}, [], []
    for line in source.splitlines():
        text = line.strip()
        if m := re.match(r"subgraph (\w+) \{$", text):
            path.append(m.group(1))
            clusters[m.group(1)] = ("", tuple(path[:-1]))
        elif text == "{":
            path.append(None)  # a rank group, not a cluster
        elif text == "}":
            if path:
                path.pop()
        elif path and path[-1] and text.startswith(("label=", "color=")) and " label=" in f" {text}":
            clusters[path[-1]] = (_label(text), clusters[path[-1]][1])
        elif m := re.match(r"(\w+) -> (\w+)(?: \[(.*)\])?$", text):
            edges.append((m.group(1), m.group(2), m.group(3) or ""))
        elif m := re.match(r"(\w+) \[(label=.*)\]$", text):
            if "style=invis" not in m.group(2):
                nodes[m.group(1)] = (_label(m.group(2)), tuple(c for c in path if c))
    return nodes, clusters, edges


def _label(attrs: str) -> str:
    m = re.search(r'(?:^| )label=("(?:[^"\\]|\\.)*"|\S+)', attrs)
    text = m.group(1)
    return text[1:-1] if text.startswith('"') else text


def region_clusters(clusters):
    return {name: c for name, c in clusters.items() if name.startswith("cluster_r")}


def node_labelled(nodes, start: str) -> str:
    found = [nid for nid, (label, _) in nodes.items() if label.startswith(start)]
    assert len(found) == 1, (start, found)
    return found[0]


def dot_layout_is_clean(source: str, fmt: str = "png") -> bytes:
    r = subprocess.run(["dot", f"-T{fmt}"], input=source.encode(), capture_output=True)
    assert r.returncode == 0 and not r.stderr, r.stderr.decode()[-2000:]
    return r.stdout


# ---------------------------------------------------------------------------
# Loops


def test_forward_loop_is_one_cluster_with_carry_row_back_edge_and_result():
    c = gradc.compile(rnn_loop.rnn, wrt=("W", "U", "h0"), args=rnn_args(1000))
    nodes, clusters, edges = parse(c.graph("forward").source)
    loops = region_clusters(clusters)
    assert list(loops) == ["cluster_r1"]
    assert loops["cluster_r1"][0].startswith("for t in range(1000)\\nline ")
    assert "for t in range(X.shape[0]):" in loops["cluster_r1"][0]  # the user's line
    inside = {nid for nid, (_, where) in nodes.items() if "cluster_r1" in where}
    labels = {nodes[nid][0].split("\\n")[0] for nid in inside}
    assert labels == {"v_5 = v_-3  (carried)", "v_-2[t]  (row t)", "v_1 = v_0 @ v_5", "v_2 = v_-1 @ v_-2[t]",
                      "v_3 = v_1 + v_2", "v_4 = tanh(v_3)"}
    carry, row, v4 = (node_labelled(nodes, s) for s in ("v_5 = v_-3", "v_-2[t]", "v_4 = tanh"))
    final = node_labelled(nodes, "v_5 = v_4")
    assert nodes[final][0] == "v_5 = v_4\\nat t = 999\\nf64[3]" and nodes[final][1] == ()
    by_pair = {(a, b): attrs for a, b, attrs in edges}
    assert 'label="next t"' in by_pair[(v4, carry)] and "dashed" in by_pair[(v4, carry)]
    assert ("in3", carry) in by_pair and ("in2", row) in by_pair  # h0 enters as the carry, X by rows
    assert ("in0", node_labelled(nodes, "v_1 = ")) in by_pair  # an invariant enters the cluster
    assert (v4, final) in by_pair and (final, node_labelled(nodes, "v_6 = v_5 * v_5")) in by_pair


def test_graph_size_does_not_depend_on_the_trip_count():
    small = gradc.compile(rnn_loop.rnn, wrt=("W", "U", "h0"), args=rnn_args(10, H=64, D=32))
    large = gradc.compile(rnn_loop.rnn, wrt=("W", "U", "h0"), args=rnn_args(1000, H=64, D=32))
    large.graph("both")  # (Graphviz's import, once)
    for kind in ("forward", "adjoint", "both"):
        start = time.perf_counter()
        big = large.graph(kind).source
        assert time.perf_counter() - start < 0.5
        tiny = small.graph(kind).source
        assert len(parse(big)[0]) == len(parse(tiny)[0]) and len(parse(big)[2]) == len(parse(tiny)[2])
        assert re.sub(r"\d+", "N", big) == re.sub(r"\d+", "N", tiny)
    unrolled = [len(parse(render.build_graph(c.latest, "forward", unroll=True).source)[0])
                for c in (gradc.compile(rnn_loop.rnn, wrt="W", args=rnn_args(T)) for T in (3, 6))]
    assert unrolled[1] > unrolled[0] + 10  # written out, a graph grows with the loop


def test_adjoint_of_the_rnn_draws_the_forward_loop_and_the_reversed_loop():
    args = rnn_args(100)
    c = gradc.compile(rnn_loop.rnn, wrt=("W", "U", "h0"), args=args)
    nodes, clusters, edges = parse(c.graph("both").source)
    loops = region_clusters(clusters)
    assert [label.split("\\n")[0] for label, _ in loops.values()] == [
        "for t in range(100)", "for t in range(99, -1, -1)  (t = 99 … 0)"]
    assert [where for _, where in loops.values()] == [("cluster_forward",), ("cluster_adjoint",)]
    forward_rows = {nodes[n][0].split("\\n")[0] for n, (_, w) in nodes.items() if "cluster_r1" in w}
    assert "v_6[t] = v_4" not in forward_rows  # the tape's row write is the loop's stacked result
    stack = node_labelled(nodes, "v_6[t] = v_4")
    assert nodes[stack][0].split("\\n")[1:] == ["stack of 100 rows", "f64[100,3]"]
    reverse = {nid for nid, (_, w) in nodes.items() if "cluster_r2" in w}
    carry = node_labelled(nodes, "v̄_-3 = v̄_5  (carried)")
    row = node_labelled(nodes, "v_6[t]  (row t)")
    assert {carry, row} <= reverse
    bar3 = node_labelled(nodes, "v̄_3 = v̄_-3 * (1 - v_6[t] ** 2)")
    back = {(a, b): attrs for a, b, attrs in edges}
    assert "dir=back" in back[(bar3, carry)] and "dir=back" in back[(bar3, row)]  # the reverse sweep, mirrored
    assert (stack, row) in back and "dashed" in back[(stack, row)]  # the forward tape, read row by row
    h_bar = node_labelled(nodes, "h̄ = v̄_3 @ v_0")
    assert 'label="next t"' in back[(h_bar, carry)]
    grad = node_labelled(nodes, "v̄_-3 = h̄")
    assert nodes[grad][0].split("\\n")[1] == "at t = 0" and grad == "in3_bar"  # ∇h0, under its usual id


def test_values_label_what_is_outside_the_loops_and_agree_with_numpy():
    args = rnn_args(50)
    W, U, X, h0 = args
    c = gradc.compile(rnn_loop.rnn, wrt=("W", "U", "h0"), args=args)
    h = h0
    for t in range(X.shape[0]):
        h = np.tanh(W @ h + U @ X[t])
    value, (_, _, h0_bar) = c.value_and_grad(*args)
    for values in (c.trace(*args), dict(zip(c.latest.adjoint_ir.inputs, args))):
        nodes, _, _ = parse(c.graph("both", values=values).source)
        assert f"= {render._fmt(h)}" in nodes[node_labelled(nodes, "v_5 = v_4")][0]
        assert f"= {render._fmt(value)}" in nodes[node_labelled(nodes, "v_8 = sum(v_7)")][0]
        assert f"= {render._fmt(h0_bar)}" in nodes[node_labelled(nodes, "v̄_-3 = h̄")][0]
        assert not any("= " in label.split("\\n")[-1] for label, where in nodes.values()
                       if any(w.startswith("cluster_r") for w in where))  # no one value per iteration


def test_nested_loops_are_nested_clusters():
    c = gradc.compile(nested_loops, wrt=("W", "x"), args=(np.eye(3) * 0.5, np.ones(3)))
    nodes, clusters, _ = parse(c.graph("forward").source)
    loops = region_clusters(clusters)
    assert [label.split("\\n")[0] for label, _ in loops.values()] == ["for i in range(3)", "for j in range(4)"]
    assert loops["cluster_r2"][1] == ("cluster_r1",)
    assert nodes[node_labelled(nodes, "v_1 = v_0 @ ")][1] == ("cluster_r1", "cluster_r2")
    nodes, clusters, _ = parse(c.graph("adjoint").source)  # the reversed loops, nested likewise
    loops = region_clusters(clusters)
    assert [label.split("\\n")[0] for label, _ in loops.values()] == [
        "for i in range(2, -1, -1)  (i = 2 … 0)", "for j in range(3, -1, -1)  (j = 3 … 0)"]
    assert loops["cluster_r2"][1] == ("cluster_r1",)


# ---------------------------------------------------------------------------
# Branches


def test_a_cond_in_a_loop_is_two_clusters_with_the_predicate_outside_and_results_joined():
    fn = test_branches.rnn_branch_per_step
    args = (np.array([0.1, -0.2]), np.array([[0.5, -0.3], [0.2, 0.8]]), np.ones((7, 2)))
    c = gradc.compile(fn, wrt=(0, 1), args=args)
    nodes, clusters, edges = parse(c.graph("forward").source)
    regions = region_clusters(clusters)
    assert list(regions) == ["cluster_r1", "cluster_r2_if", "cluster_r2_else"]
    assert regions["cluster_r2_if"][1] == regions["cluster_r2_else"][1] == ("cluster_r1",)
    test = regions["cluster_r2_if"][0].split("\\n")
    assert re.fullmatch(r"if v_\d+", test[0]) and test[1].endswith("if np.sum(a) > 0:")
    assert regions["cluster_r2_else"][0] == "else"
    pred = node_labelled(nodes, f"{test[0][3:]} = ")
    assert nodes[pred][1] == ("cluster_r1",)  # outside both branches
    tanh = [n for n, (l, _) in nodes.items() if "tanh(" in l][0]
    half = [n for n, (l, _) in nodes.items() if "0.5 * " in l][0]
    assert nodes[tanh][1][-1] == "cluster_r2_if" and nodes[half][1][-1] == "cluster_r2_else"
    joined = [n for n, (l, _) in nodes.items() if f" if {test[0][3:]} else " in l]
    assert len(joined) == 1 and nodes[joined[0]][1] == ("cluster_r1",)
    into = {a for a, b, _ in edges if b == joined[0]}
    assert {tanh, half, pred} <= into
    assert any(b == joined[0] and "dotted" in attrs for a, b, attrs in edges if a == pred)
    source = c.graph("both").source
    assert "where(" not in source
    if shutil.which("dot"):
        dot_layout_is_clean(source, "svg")


def test_branch_passing_a_value_through_still_draws_its_cluster():
    c = gradc.compile(test_branches.unchanged_in_one_branch, wrt=(0, 1),
                      args=(np.array([0.5, 0.9]), np.array([0.6, 0.3])))
    nodes, clusters, _ = parse(c.graph("forward").source)
    regions = region_clusters(clusters)
    assert {"cluster_r1_if", "cluster_r1_else"} <= set(regions)
    for name in ("cluster_r1_if", "cluster_r1_else"):
        assert any(where and where[-1] == name for _, where in nodes.values()), name


def test_unroll_keeps_the_flat_drawing_with_a_where():
    c = gradc.compile(test_branches.sqrt_if_large, wrt="w",
                      args=(np.array([1.0, 2.0, 3.0]), np.array([0.5, -0.2, 0.1])))
    flat = render.build_graph(c.latest, "forward", unroll=True).source
    assert "where(" in flat and "subgraph cluster" not in flat
    assert "subgraph cluster_r1_if" in c.graph("forward").source


# ---------------------------------------------------------------------------
# While loops


def test_while_loop_on_data_is_drawn_with_its_condition_and_data_trip_count():
    fn, args = test_while._points()["counted"]
    c = gradc.compile(fn, args=args)
    nodes, clusters, edges = parse(c.graph("forward").source)
    regions = region_clusters(clusters)
    assert list(regions) == ["cluster_r1", "cluster_r1_condition", "cluster_r2_if", "cluster_r2_else"]
    head = regions["cluster_r1"][0].split("\\n")
    assert re.fullmatch(r"while v_\d+", head[0]) and head[1] == "(trip count from data)"
    assert head[2].endswith("while err > 1e-3 and it < 50:")
    assert regions["cluster_r2_if"][1] == ("cluster_r1", "cluster_r1_condition")  # `and`: a branch
    carries = [n for n, (l, _) in nodes.items() if "(carried)" in l]
    assert len(carries) == 3 and all(nodes[n][1] == ("cluster_r1",) for n in carries)
    assert sum('label="next iteration"' in attrs for _, _, attrs in edges) == 3
    # The adjoint: the recorded iterations, last first.
    env_args = dict(zip(c.latest.adjoint_ir.inputs, args))
    nodes, clusters, edges = parse(c.graph("adjoint", values=env_args).source)
    heads = [label.split("\\n")[:2] for label, _ in region_clusters(clusters).values()]
    assert [re.sub(r"v_\d+", "v_N", h[0]) for h in heads] == ["for k in range(v_N - 1, -1, -1)"]
    assert heads[0][1] == "(trip count from data)"
    row = node_labelled(nodes, "x = v_")
    assert "(tape row)" in nodes[row][0]


def test_while_trip_count_tape_and_final_values_agree_with_python():
    fn, args = test_while._points()["if_in_while"]
    x, steps = args[0].copy(), 0
    while np.max(x) < 10.0:
        x = x * 1.5 if np.sum(x) > 5.0 else x + 1.0
        steps += 1
    c = gradc.compile(fn, args=args)
    _, grad = c.value_and_grad(*args)
    for values in (c.trace(*args), dict(zip(c.latest.adjoint_ir.inputs, args))):
        nodes, _, _ = parse(c.graph("both", values=values).source)
        count = [n for n, (label, _) in nodes.items() if "= number of iterations" in label]
        assert len(count) == 1 and nodes[count[0]][0].endswith(f"= {steps}")
        tape = [n for n, (label, _) in nodes.items() if "(tape)" in label]
        assert len(tape) == 1 and nodes[tape[0]][0].endswith(f"= {steps} rows")
        final = [n for n, (label, w) in nodes.items() if "(after the loop)" in label and "cluster_forward" in w]
        assert len(final) == 1 and f"= {render._fmt(x)}" in nodes[final[0]][0].split("\\n")
        assert nodes["in0_bar"][0].endswith(f"= {render._fmt(grad)}")


def test_a_while_loop_is_refused_only_when_unrolled():
    fn, args = test_while._points()["if_in_while"]
    c = gradc.compile(fn, args=args)
    assert "(trip count from data)" in c.graph("both").source
    with pytest.raises(CompileError, match="while loop on data has no fixed number of iterations"):
        render.build_graph(c.latest, "both", unroll=True)


# ---------------------------------------------------------------------------
# Escaping and rendering


def test_labels_are_escaped_for_dot(tmp_path, monkeypatch):
    source = tmp_path / "odd_lines.py"
    source.write_text(
        "import numpy as np\n\n"
        "def loss(x):\n"
        "    for t in range(3):  # \\N \\G \\l \"q\" <b>x</b>\n"
        "        x = np.sin(x)\n"
        "    return np.sum(x)\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import odd_lines

    c = gradc.compile(odd_lines.loss, args=(np.ones(2),))
    dot = c.graph("forward").source
    assert r'# \\N \\G \\l \"q\" <b>x</b>' in dot  # backslashes doubled: no DOT escape sequences
    assert render._label(["<b>html</b>"]) == "<b>html</b>" and "<b>html</b>" not in render.build_graph(
        c.latest, "forward").source
    assert render._label(["a\x1b[31m"]) == "a\\\\x1b[31m"  # control characters shown, not sent
    if shutil.which("dot"):
        svg = dot_layout_is_clean(dot, "svg").decode()
        assert "\\N \\G \\l &quot;q&quot; &lt;b&gt;x&lt;/b&gt;" in svg


EXAMPLES = {"rnn_loop": (rnn_loop.rnn, rnn_args(1000, H=64, D=32), ("W", "U", "h0")),
            "rnn_clipped": (rnn_clipped.rnn_clipped, clipped_args(1000, H=64, D=32), ("W", "U", "h0"))}


@needs_dot
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_examples_render_to_png_with_the_forward_sweep_left(name, tmp_path):
    fn, args, wrt = EXAMPLES[name]
    c = gradc.compile(fn, wrt=wrt, args=args)
    for kind in ("forward", "adjoint", "both"):
        dot_layout_is_clean(c.graph(kind).source)
        out = c.render(tmp_path / f"{name}.{kind}.png", kind=kind, values=dict(zip(c.latest.adjoint_ir.inputs, args)))
        data = out.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    plain = subprocess.run(["dot", "-Tplain"], input=c.graph("both").source, capture_output=True, text=True,
                           check=True).stdout
    x = {f[1]: float(f[2]) for f in (line.split() for line in plain.splitlines()) if f[0] == "node"}
    assert x["anchor_forward"] < x["anchor_adjoint"]


@needs_dot
def test_dot_lays_out_every_while_and_branch_program_cleanly():
    items = [(fn, args, 0) for fn, args in test_while._points().values()]
    items += [(fn, args, wrt) for fn, args, wrt in test_branches.CASES[::3]]
    for fn, args, wrt in items:
        c = gradc.compile(fn, wrt=wrt, args=tuple(args))
        for kind in ("forward", "adjoint", "both"):
            dot_layout_is_clean(c.graph(kind).source, "plain")
        dot_layout_is_clean(c.graph("both", program="jvp").source, "plain")


def test_a_long_loops_adjoint_runs_by_blocks_drawn_as_nested_loops():
    """Past 128 iterations W̄ = Σ outer is summed a block of iterations at a time: the reversed
    loop is a loop over blocks holding the loop over a block's iterations."""
    c = gradc.compile(rnn_loop.rnn, wrt=("W", "U", "h0"), args=rnn_args(1000))
    nodes, clusters, edges = parse(c.graph("adjoint").source)
    labels = [label.split("\\n")[0] for label, _ in region_clusters(clusters).values()]
    assert labels == ["for block in range(19, -1, -1)  (block = 19 … 0)",
                      "for t in range(49, -1, -1)  (t = 49 … 0)"]  # (the adjoint graph: the reverse sweep)


def test_cli_draws_clusters_by_default_and_unrolls_on_request(tmp_path, capsys):
    from gradc.cli import main

    args = dict(zip(("W", "U", "X", "h0"), rnn_args(400)))
    np.savez(tmp_path / "at.npz", **args)
    target = f"{rnn_loop.__file__}:rnn"
    for flags, name in ((["--both"], "g.svg"), (["--adjoint", "--no-values"], "a.svg")):
        assert main(["graph", target, "--wrt", "W,U,h0", "--at", str(tmp_path / "at.npz"), "-o",
                     str(tmp_path / name), *flags]) == 0
        if shutil.which("dot"):
            svg = (tmp_path / name).read_text(encoding="utf-8")
            assert "(block = 7 … 0)" in svg and "(t = 49 … 0)" in svg  # 8 blocks of 50 iterations
    small = dict(args, X=args["X"][:3])
    np.savez(tmp_path / "small.npz", **small)
    assert main(["graph", target, "--wrt", "W", "--at", str(tmp_path / "small.npz"), "-o",
                 str(tmp_path / "u.svg"), "--unroll"]) == 0
    if shutil.which("dot"):
        text = (tmp_path / "u.svg").read_text(encoding="utf-8")
        assert "(row t)" not in text and text.count("tanh(") == 3
    assert "wrote" in capsys.readouterr().out
