"""Computational graphs of compiled programs, drawn with Graphviz.

`build_graph(spec, kind, values)` gives a `graphviz.Digraph`:

* "forward": one node per input, array constant and forward op value (v_k), edges
  along the data flow, inputs at the top and the function's value at the bottom;
* "adjoint": the reverse sweep, one node per statement of the generated code (v̄_k,
  temporaries a rule uses once are folded into their consumer's equation, as in the
  listing), drawn as the mirror image of the forward graph (v̄ of the value at the
  bottom, gradients at the top); forward values it reads appear as small grey
  reference nodes;
* "both": the forward graph and the adjoint graph side by side in two clusters, with
  dashed edges for the forward values the reverse sweep reads.

Node labels are `name = equation`, the aval (`f64[128,256]`) and, given values (a
trace table or a dict Value → array), the value, and in "both" a primal's adjoint.
Node ids are stable (`in0`, `c1`, `v3`, `v3_bar`, `t1`), so the DOT source is
deterministic and can be kept as a golden file.

With a checkpoint policy, forward nodes show what the checkpointed run does with their
value (KEPT_STYLE: bold outline stored, dashed recomputed) and their step (a label
line; in the forward graph also one cluster per step), and the graph label carries a
legend. Store-all graphs are unchanged.

`render_graph(graph, path)` writes a PNG, SVG or PDF chosen by the extension;
`mimebundle(graph, text)` is what Jupyter shows.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np

from .codegen import Naming, statements
from .errors import CompileError
from .ir import Const, Program, Value
from .printer import math_text
from .syntax import visible
from .trace import Checkpointing, checkpointing, folded_adjoints, format_scalar, step_label

KINDS = ("forward", "adjoint", "both")
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
MAX_EXPR = 40  # equations longer than this are clipped with an ellipsis
MAX_ELEMENTS = 4  # arrays up to this size show every entry


INSTALL_HINT = ("install Graphviz to render it: `apt-get install graphviz` (Debian/Ubuntu), "
                "`brew install graphviz` (macOS), or see https://graphviz.org/download/")

# Node styles: inputs blue, intermediates white, the value orange, constants dashed
# notes, adjoints red, reverse temporaries small pink ellipses, references grey.
STYLE = {
    "input": dict(shape="box", style="rounded,filled", fillcolor="#cfe2ff", color="#1c4e9c"),
    "op": dict(shape="box", style="rounded,filled", fillcolor="#ffffff", color="#555555"),
    "output": dict(shape="box", style="rounded,filled,bold", fillcolor="#ffd59e",
                   color="#b35900", penwidth="2"),
    "const": dict(shape="note", style="dashed", fontsize="9", color="#777777",
                  fontcolor="#555555"),
    "adjoint": dict(shape="box", style="filled", fillcolor="#ffe0e0", color="#b02020"),
    "gradient": dict(shape="box", style="filled,bold", fillcolor="#ffb3b3", color="#b02020",
                     penwidth="2"),
    "folded": dict(shape="box", style="filled,dashed", fillcolor="#fff0f0", color="#b02020"),
    "temporary": dict(shape="ellipse", style="filled", fillcolor="#fff4f4", color="#d08080",
                      fontsize="9"),
    "ref": dict(shape="box", style="rounded,dashed", color="#999999", fontcolor="#777777",
                fontsize="9"),
}
# Forward nodes of a checkpointed program: the outline says whether the run keeps the
# value (bold) or recomputes it (dashed); `legend` is how the graph label explains it.
KEPT_STYLE = {
    "stored": dict(style="solid", penwidth="2.5", legend="bold outline"),
    "recomputed": dict(style="dashed", penwidth="1.2", legend="dashed"),
    "transient": dict(style="dotted", penwidth="1.2", legend="dotted"),
}
LINE_STYLES = {"solid", "dashed", "dotted", "bold"}
STEP_CLUSTER = dict(color="#cccccc", style="rounded", fontsize="9", fontcolor="#777777",
                    labeljust="l")
FORWARD_EDGE = dict(color="#444444")
REVERSE_EDGE = dict(color="#b02020")
TANGENT_EDGE = dict(color="#2060b0")
CROSS_EDGE = dict(style="dashed", color="#8888aa", arrowsize="0.6", constraint="false")


class GraphvizNotFound(CompileError):
    """The Graphviz `dot` program is not installed, so a graph cannot be rendered."""


# ---------------------------------------------------------------------------
# Building the graph


def build_graph(spec, kind: str | None = "forward", values=None, derived: str | None = None):
    """The computational graph of `spec` (a Specialization) as a `graphviz.Digraph`.

    With `derived` (the name of a derived program, e.g. "jvp"), `spec.adjoint_ir` is that
    program and every kind draws it: "forward" its primal ops, "adjoint" (alias "tangent")
    its derivative sweeps (reverse and tangent ops), "both" (the default for derived
    programs) the whole program side by side."""
    import graphviz

    if kind is None:
        kind = "both" if derived else "forward"
    if derived and kind == "tangent":
        kind = "adjoint"
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}, not {kind!r}")
    from .regions import flat_view

    from .regions import inline_branches

    spec = flat_view(spec)  # loops are drawn unrolled
    from .regions import has_whiles

    if any(p is not None and has_whiles(p) for p in (getattr(spec, "ir", None), getattr(spec, "adjoint_ir", None))):
        from .errors import UnsupportedSyntax
        raise UnsupportedSyntax("graph: a while loop on data has no fixed number of iterations to draw; "
                                "use the trace table at given inputs (gradc trace) or the listing",
                                getattr(getattr(spec, "ir", None), "loc", None))
    program: Program = spec.ir if kind == "forward" and not derived else spec.adjoint_ir
    program = inline_branches(program)  # both branches of an if on data, and a select
    marks = checkpointing(spec, program) if not derived else None
    g = _Graph(program, _values(program, values), marks)
    what = {"forward": "primal" if derived else "forward", "adjoint": "derivative" if derived else "adjoint",
            "both": "primal and derivative" if derived else "forward and adjoint"}[kind]
    title = f"{visible(program.name)}{f' ({derived})' if derived else ''}: {what} graph"
    dot = graphviz.Digraph(
        name=program.name,
        graph_attr=dict(rankdir="TB", nodesep="0.25", ranksep="0.35", fontname="Helvetica",
                        fontsize="12", labelloc="t",
                        label=title if marks is None else f"{title}\\n{legend(marks)}"),
        node_attr=dict(fontname="Helvetica", fontsize="10", margin="0.12,0.04", height="0.3"),
        edge_attr=dict(arrowsize="0.7"),
    )
    if kind == "forward":
        g.forward(dot, clusters=True)
    elif kind == "adjoint":
        g.adjoint(dot, refs=True)
    else:
        sweeps = g.derivative_sweeps()
        anchor = dict(style="invis", label="", width="0", height="0")
        with dot.subgraph(name="cluster_forward") as sub:
            sub.attr(label="forward sweep", color="#aaaaaa", style="rounded", fontsize="11")
            sub.node("anchor_forward", **anchor)
            g.forward(sub, adjoints=True)
        with dot.subgraph(name="cluster_adjoint") as sub:
            sub.attr(label=" and ".join(f"{w} sweep" for w in sweeps) or "reverse sweep",
                     color="#d08080", style="rounded", fontsize="11")
            sub.node("anchor_adjoint", **anchor)
            g.adjoint(sub, refs=False)
        with dot.subgraph() as top:  # a flat edge orders its ends: forward sweep left, adjoint right
            top.attr(rank="min")
            top.edge("anchor_forward", "anchor_adjoint", style="invis", weight="100")
        for tail, head in g.cross:
            dot.edge(tail, head, **CROSS_EDGE)
        # Mirror image: each complete adjoint v̄_k level with its v_k (newrank lets a
        # rank constraint span the two clusters).
        dot.attr(newrank="true")
        for v, nid in g.final_ids().items():
            if v in g.ids:
                with dot.subgraph() as same:
                    same.attr(rank="same")
                    same.node(g.ids[v])
                    same.node(nid)
    return dot


def legend(marks: Checkpointing) -> str:
    """The graph label's second line: the policy, and each outline with its count."""
    counts = " · ".join(f"{KEPT_STYLE[k]['legend']}: {k} ({n})" for k, n in marks.counts().items())
    return f"{marks.summary.partition(';')[0]} · {counts}"


def _kept_style(attrs: dict, kept: str) -> dict:
    """`attrs` with its outline replaced by the one for `kept` (fill and shape stay)."""
    style = KEPT_STYLE[kept]
    words = [w for w in attrs.get("style", "").split(",") if w and w not in LINE_STYLES]
    if style["style"] != "solid":
        words.append(style["style"])
    return {**attrs, "style": ",".join(words), "penwidth": style["penwidth"]}


class _Graph:
    """Node ids, labels and edges of one program."""

    def __init__(self, program: Program, values, marks: Checkpointing | None = None):
        self.program = program
        self.values = values
        self.marks = marks
        consts = {c: c.name or f"c{i}" for i, c in enumerate(program.consts(), 1)}
        self.naming = Naming(program, "math", consts)
        self.nums = self.naming.numbers
        self.stmts = statements(program, self.naming)
        self.const_ids = {c: f"c{i}" for i, c in enumerate(consts, 1)}
        self.ids: dict[Value, str] = {}
        for i, v in enumerate(program.inputs):
            self.ids[v] = f"in{i}"
        for op in program.forward_ops():
            self.ids[op.out] = f"v{self.nums[op.out]}"
        self.ids.update(self.const_ids)
        # Derivative statements (reverse and tangent sweeps): ids v3_bar / v3_dot (v3_bar_2
        # for a later contribution), t1, t2, ...
        self.rev: list = []  # (statement, id)
        seen: dict[str, int] = {}
        temps = 0
        for s in self.stmts:
            if s.op.sweep == "forward":
                continue
            of, mark = _derivative_of(s.op.out)
            if of is not None and of in self.ids and of not in self.const_ids:
                base = f"{self.ids[of]}{mark}"
            else:
                temps += 1
                base = f"t{temps}"
            seen[base] = seen.get(base, 0) + 1
            nid = base if seen[base] == 1 else f"{base}_{seen[base]}"
            self.ids[s.op.out] = nid
            self.rev.append((s, nid))
        # The complete adjoint of each primal: its last contribution.
        self.final_adjoint: dict[Value, Value] = {}
        for op in program.reverse_ops():
            if op.out.adjoint_of is not None:
                self.final_adjoint[op.out.adjoint_of] = op.out
        self.stated = {id(s.op) for s in self.stmts}
        self.outputs = [v for v in program.outputs if not isinstance(v, Const)]
        self.cross: list[tuple[str, str]] = []
        # Adjoints the optimiser folded away (the seed v̄_m = 1, pass-throughs such as
        # v̄_8 = v̄_9): drawn as the trace table lists them, so both tell the lecture's story.
        self.folded: dict[Value, tuple[str, str, object]] = {}  # x -> (id, label, value)
        self.folded_edges: list[tuple[Value, Value]] = []  # (x, y): x̄ receives from ȳ
        if program.reverse_ops() and not any(op.sweep == "tangent" for op in program.ops):
            self._fold(values)

    def _fold(self, values) -> None:
        seed, events = folded_adjoints(self.program, self.naming, values if isinstance(values, dict) else None)
        if seed is None:
            return
        out = self.program.outputs[0]
        if out not in self.final_adjoint and out in self.ids:
            self.folded[out] = (f"{self.ids[out]}_bar", f"{self.naming.bar(out)} = 1  (seed)", seed)
        for x, y, eq, value, first in events:
            if x in self.ids and x not in self.final_adjoint and x not in self.folded and first:
                self.folded[x] = (f"{self.ids[x]}_bar",
                                  f"{self.naming.bar(x)} = {_clip(eq)}  (derived)", value)
            if x in self.folded or y in self.folded:
                self.folded_edges.append((x, y))

    def derivative_sweeps(self) -> list[str]:
        return [w for w in ("reverse", "tangent") if any(op.sweep == w for op in self.program.ops)]

    def final_ids(self) -> dict:
        """Node id of each primal's complete adjoint (folded ones included)."""
        out = {v: self.ids[a] for v, a in self.final_adjoint.items() if a in self.ids}
        out.update({v: nid for v, (nid, _, _) in self.folded.items()})
        return out

    # -- nodes ------------------------------------------------------------------

    def forward(self, dot, adjoints: bool = False, clusters: bool = False) -> None:
        program = self.program
        value_out = program.outputs[0]
        steps: dict = {}  # step -> its cluster (checkpointed forward graphs only)
        refs: list[Value] = []
        for i, v in enumerate(program.inputs):
            name = "v_0" if i == 0 else f"v_{-i}"
            lines = [f"{name} = {v.name}", str(v.aval)]
            self._value_lines(lines, v, adjoints)
            self._node(dot, steps if clusters else None, v, lines, "output" if v is value_out else "input")
        for c, nid in self.const_ids.items():
            lines = [f"{self.naming.const_names[c]} (constant)", str(c.aval)]
            if self.values is not None:
                lines.append(_fmt(c.value))
            dot.node(nid, _label(lines), **STYLE["const"])
        for s in self.stmts:
            if s.op.sweep != "forward":
                continue
            v = s.op.out
            lines = [f"{s.target} = {_clip(s.expr)}", str(v.aval)]
            self._value_lines(lines, v, adjoints)
            self._node(dot, steps if clusters else None, v, lines, "output" if v is value_out else "op")
            for u in self._reads(s.op):
                if u.producer is None or u.producer.sweep == "forward" or isinstance(u, Const):
                    dot.edge(self.ids[u], self.ids[v], **FORWARD_EDGE)
                    continue
                # A derived program's primal part can read a derivative (reverse-over-reverse
                # differentiates <∇f, v>): drawn here as a reference, there as itself.
                if not adjoints and u not in refs:
                    refs.append(u)
                    dot.node(self.ids[u], _label([self._name(u), str(u.aval)]), **STYLE["ref"])
                dot.edge(self.ids[u], self.ids[v], **CROSS_EDGE)
        for sub in steps.values():
            dot.subgraph(sub)

    def _node(self, dot, steps: dict | None, v: Value, lines: list[str], kind: str) -> None:
        """A forward value's node; checkpointed: outlined by KEPT_STYLE, with its step,
        and put in its step's cluster when `steps` (step -> cluster) is given."""
        if self.marks is None:
            dot.node(self.ids[v], _label(lines), **STYLE[kind])
            return
        import graphviz

        step, kept = self.marks.step[v], self.marks.kept[v]
        where = "prologue" if step == 0 else f"step {step_label(step)}"
        lines = lines + [f"{kept}, {where}"]
        if steps is not None:
            if step not in steps:
                steps[step] = graphviz.Digraph(name=f"cluster_{where.replace(' ', '')}",
                                               graph_attr=dict(label=where, **STEP_CLUSTER))
            dot = steps[step]
        dot.node(self.ids[v], _label(lines), **_kept_style(STYLE[kind], kept))

    def adjoint(self, dot, refs: bool) -> None:
        grads = set(self.outputs[1:])
        referenced: list[Value] = []
        stated = {st.op.out for st, _ in self.rev}  # values drawn as derivative statements
        for s, nid in self.rev:
            v = s.op.out
            kind = ("gradient" if v in grads else
                    "adjoint" if _derivative_of(v)[0] is not None else "temporary")
            lines = [f"{s.lhs} {'+=' if s.augmented else '='} {_clip(s.expr)}", str(v.aval)]
            if self.values is not None:
                x = self._get(v)
                if x is not None:
                    lines.append(f"= {_fmt(x)}")
            dot.node(nid, _label(lines), **STYLE[kind])
            for u in self._reads(s.op):
                uid = self.ids[u]
                if u in stated:
                    if u.producer.sweep == "reverse" and s.op.sweep == "reverse":
                        # Drawn against the data flow so v̄_k sits level with v_k: the reverse
                        # graph is the forward graph's mirror image.
                        dot.edge(nid, uid, dir="back", **REVERSE_EDGE)
                    else:  # a tangent sweep runs with the data flow (also over adjoints)
                        dot.edge(uid, nid, **TANGENT_EDGE)
                else:  # a forward value, input or constant: a dashed cross edge
                    if refs:
                        if u not in referenced:
                            referenced.append(u)
                        dot.edge(uid, nid, **CROSS_EDGE)
                    else:
                        self.cross.append((uid, nid))
        for v, (nid, label, value) in self.folded.items():
            lines = [label, str(v.aval)]
            if value is not None and self.values is not None:
                lines.append(f"= {_fmt(value)}")
            dot.node(nid, _label(lines), **STYLE["folded"])
        final = self.final_ids()
        first_id = {}
        for st, nid in self.rev:
            of = st.op.out.adjoint_of
            if of is not None:
                first_id.setdefault(of, nid)
        for x, y in self.folded_edges:
            head = self.folded[x][0] if x in self.folded else first_id.get(x)
            tail = final.get(y)
            if head is not None and tail is not None:
                dot.edge(head, tail, dir="back", **REVERSE_EDGE)
        for u in referenced:
            if isinstance(u, Const):
                lines = [f"{self.naming.const_names[u]} (constant)", str(u.aval)]
                dot.node(self.ids[u], _label(lines), **STYLE["const"])
            else:
                style = STYLE["ref"] if self.marks is None else _kept_style(STYLE["ref"], self.marks.kept[u])
                dot.node(self.ids[u], _label([self._name(u), str(u.aval)]), **style)

    # -- helpers ------------------------------------------------------------------

    def _name(self, v: Value) -> str:
        k = self.nums.get(v)
        return f"v_{k}" if k is not None else self.ids[v]

    def _reads(self, op) -> list[Value]:
        """The named values a statement reads: its operands, looking through inlined
        temporaries, each once, in order."""
        out: list[Value] = []

        def visit(v: Value) -> None:
            if isinstance(v, Const) and v.is_scalar:
                return
            p = v.producer
            if p is not None and p.sweep != "forward" and id(p) not in self.stated:
                for u in p.inputs:
                    visit(u)
                return
            if v in self.ids and v not in out:
                out.append(v)

        for u in op.inputs:
            visit(u)
        return out

    def _get(self, v: Value):
        if self.values is None:
            return None
        if isinstance(v, Const):
            return v.value
        return self.values.get(v)

    def _value_lines(self, lines: list[str], v: Value, adjoints: bool) -> None:
        if self.values is None:
            return
        x = self._get(v)
        if x is not None:
            lines.append(f"= {_fmt(x)}")
        if adjoints and v in self.final_adjoint:
            a = self._get(self.final_adjoint[v])
            if a is not None:
                lines.append(f"adjoint {_fmt(a)}")
        elif adjoints and v in self.folded and self.folded[v][2] is not None:
            lines.append(f"adjoint {_fmt(self.folded[v][2])}")  # the seed, a pass-through


def _derivative_of(v: Value) -> tuple[Value | None, str]:
    """(the value v is the adjoint or tangent of, its id suffix), or (None, "")."""
    if v.adjoint_of is not None:
        return v.adjoint_of, "_bar"
    if v.tangent_of is not None:
        return v.tangent_of, "_dot"
    return None, ""


def _values(program: Program, values) -> dict | None:
    """Values keyed by Value from a trace table (`.env`, or its `primal`/`adjoint`
    dicts keyed by v-index) or a dict Value → array."""
    if values is None:
        return None
    env = getattr(values, "env", None)
    if isinstance(env, dict):
        return env
    if isinstance(values, dict):
        return values
    primal, adjoint = getattr(values, "primal", None), getattr(values, "adjoint", None)
    if isinstance(primal, dict):
        nums = program.numbering()
        out = {v: primal[k] for v, k in nums.items() if k in primal}
        if isinstance(adjoint, dict):
            final: dict[Value, Value] = {}
            for op in program.reverse_ops():
                if op.out.adjoint_of is not None:
                    final[op.out.adjoint_of] = op.out
            for v, a in final.items():
                if nums.get(v) in adjoint:
                    out[a] = adjoint[nums[v]]
        return out
    raise TypeError(f"values must be a trace table or a dict of Value to array, "
                    f"not {type(values).__name__}")


_LONG_FLOAT = re.compile(r"(?<![\w.])(\d+\.\d{5,}(?:e[+-]?\d+)?)")
_SCATTER = re.compile(r"^scatter\((.+), s_\[(.*)\], (\(.*\))\)$")


def _clip(expr: str) -> str:
    """An equation for a node label: NumPy's prefix dropped, long floats to 4 significant
    digits (as the trace prints them), a scatter as the slice it fills, clipped."""
    expr = _LONG_FLOAT.sub(lambda m: format_scalar(float(m.group(1))), math_text(expr))
    scatter = _SCATTER.match(expr)
    if scatter:
        g, index, shape = scatter.groups()
        expr = f"{g} at [{index}] of zeros{shape}"
    return expr if len(expr) <= MAX_EXPR else expr[: MAX_EXPR - 1] + "…"


def _label(lines: list[str]) -> str:
    return "\\n".join(lines)


def _fmt(x) -> str:
    """Scalars to 4 significant digits; small arrays entry by entry, others by mean."""
    if np.ndim(x) == 0:
        return format_scalar(x)
    a = np.asarray(x)
    if a.size <= MAX_ELEMENTS:
        return "[" + ", ".join(format_scalar(e) for e in a.ravel()) + "]"
    if a.dtype.kind in "biuf":
        return f"mean {format_scalar(a.astype(np.float64).mean())}"
    return f"{a.dtype}{list(a.shape)}"


# ---------------------------------------------------------------------------
# Rendering


def render_graph(digraph, path) -> Path:
    """Write `digraph` to exactly `path` as PNG, SVG or PDF (by the extension).

    Without Graphviz's `dot` program, writes the DOT source to `path` with the
    suffix `.dot` and raises GraphvizNotFound saying how to install Graphviz."""
    import graphviz

    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot render a graph to {path.name!r}: the file name must end in "
                         f"{', '.join(FORMATS)}")
    if shutil.which("dot") is None:
        _missing_dot(digraph, path)
    try:
        data = digraph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        _missing_dot(digraph, path)
    path.write_bytes(data)
    return path


def _missing_dot(digraph, path: Path):
    dot_path = path.with_suffix(".dot")
    dot_path.write_text(digraph.source, encoding="utf-8")
    raise GraphvizNotFound(
        f"cannot render {path.name}: the Graphviz program `dot` was not found on PATH; "
        f"the graph's DOT source was written to {dot_path}",
        hint=INSTALL_HINT) from None


def mimebundle(digraph, text: str, sections=()) -> dict:
    """Jupyter's rich display: the graph as SVG; as HTML, the listing `text`, the graph and
    each (title, text) section folded under its title; `text` for plain frontends."""
    import html

    import graphviz

    bundle = {"text/plain": text}
    svg = None
    if shutil.which("dot") is not None:
        try:
            svg = digraph.pipe(format="svg", encoding="utf-8")
        except (graphviz.ExecutableNotFound, graphviz.CalledProcessError):
            svg = None
    if svg is not None:
        bundle["image/svg+xml"] = svg
    parts = [f"<pre>{html.escape(text)}</pre>"]
    if svg is not None:
        parts.append(svg[svg.index("<svg"):])  # inline, without the XML prologue
    for title, body in sections:
        parts.append(f"<details><summary>{html.escape(title)}</summary><pre>{html.escape(body)}</pre></details>")
    bundle["text/html"] = "<div>" + "".join(parts) + "</div>"
    return dict(sorted(bundle.items()))
