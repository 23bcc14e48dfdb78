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

Regions are clusters, so a graph's size does not grow with a trip count: a loop's body
is drawn once in a cluster labelled `for t in range(T)` (reversed: `t = T-1 … 0`), its
carried values at the top (the initial value's edge into each, a dashed "next t" edge
from the body's new value back to it), rows `X[t]` of its stacked inputs, its invariants
read from outside; its results (final carries, stacked rows) below it. A cond is two
clusters, `if v_k` and `else`, the predicate before them and each result joined after
them; a while loop a cluster "(trip count from data)" holding its condition and body,
its adjoint a loop over the recorded iterations. Values label only what lies outside
the regions (inside, a value per iteration). Region edges are drawn at the top level
(an edge inside a cluster would pull its ends into it). `unroll=True` draws the flat
program instead: loops written out, both branches of an if joined by a `where`.

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
from collections import ChainMap
from pathlib import Path

import numpy as np

from .codegen import Naming, statements
from .errors import CompileError
from .ir import Const, Program, Value
from .printer import math_text
from .regions import bodies
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
    # Regions: a loop's carried value (where the back edge lands), a row X[t] of a stacked
    # input, a branch result passed through unchanged.
    "carry": dict(shape="box", style="rounded,filled", fillcolor="#e4f2e4", color="#2a7a2a"),
    "row": dict(shape="box", style="rounded,filled", fillcolor="#eef0fb", color="#5a64a8", fontsize="9"),
    "pass": dict(shape="box", style="rounded,dotted", color="#888888", fontsize="9"),
}
# Region clusters by the sweep of their op: loops (for, while, a while's adjoint) and branches.
LOOP_CLUSTER = {
    "forward": dict(style="rounded,filled", fillcolor="#f6f6f6", color="#777777", fontsize="11", labeljust="l"),
    "reverse": dict(style="rounded,filled", fillcolor="#fdf3f3", color="#c06060", fontsize="11", labeljust="l"),
    "tangent": dict(style="rounded,filled", fillcolor="#f1f5fc", color="#5070b0", fontsize="11", labeljust="l"),
}
BRANCH_CLUSTER = {sweep: dict(style="rounded,dashed", color=LOOP_CLUSTER[sweep]["color"], fontsize="10",
                              labeljust="l") for sweep in LOOP_CLUSTER}
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
NEXT_EDGE = dict(style="dashed", color="#2a7a2a", fontcolor="#2a7a2a", fontsize="9", weight="0")
PREDICATE_EDGE = dict(style="dotted", color="#777777", fontcolor="#777777", fontsize="9")
COUNT_EDGE = dict(style="dotted")
MAX_LINE = 60  # a region's source line in its cluster label is clipped to this


class GraphvizNotFound(CompileError):
    """The Graphviz `dot` program is not installed, so a graph cannot be rendered."""


# ---------------------------------------------------------------------------
# Building the graph


def build_graph(spec, kind: str | None = "forward", values=None, derived: str | None = None,
                unroll: bool = False):
    """The computational graph of `spec` (a Specialization) as a `graphviz.Digraph`.

    With `derived` (the name of a derived program, e.g. "jvp"), `spec.adjoint_ir` is that
    program and every kind draws it: "forward" its primal ops, "adjoint" (alias "tangent")
    its derivative sweeps (reverse and tangent ops), "both" (the default for derived
    programs) the whole program side by side.

    Loops, branches and while loops are drawn as clusters (a loop's body once, so the graph
    of a 1000-step loop is as large as that of a 10-step one); `unroll=True` draws the
    loops written out iteration by iteration and both branches of an if joined by a
    `where`, as the flat displays see them (short loops only; a while loop is refused). A
    checkpointed specialisation's forward graphs are drawn unrolled: its steps are the
    iterations, each a cluster, every value outlined by whether the run stores it."""
    import graphviz

    if kind is None:
        kind = "both" if derived else "forward"
    if derived and kind == "tangent":
        kind = "adjoint"
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, KINDS))}, not {kind!r}")
    if not unroll and not derived and getattr(spec, "checkpointed", None) is not None and not _has_whiles(spec):
        unroll = True  # a checkpointed run's steps are loop iterations: draw each, outlined by what the run keeps
    if unroll:
        spec = _unrolled(spec)
    program: Program = spec.ir if kind == "forward" and not derived else spec.adjoint_ir
    if unroll:
        from .regions import inline_branches

        program = inline_branches(program)  # both branches of an if on data, and a select
    marks = checkpointing(spec, program) if not derived else None
    g = _Graph(program, _values(program, values), marks)
    g.level = kind != "both"  # (dot fails on rank constraints in clusters beside those across them)
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
    for tail, head, attrs in g.region_edges:  # at the top: an edge inside a cluster would pull its ends in
        dot.edge(tail, head, **attrs)
    return dot


def _has_whiles(spec) -> bool:
    from .regions import has_whiles

    return any(p is not None and has_whiles(p) for p in (getattr(spec, "ir", None), getattr(spec, "adjoint_ir", None)))


def _unrolled(spec):
    """`spec` as the flat displays see it: loops written out; a while loop is refused (its
    number of iterations is known only at run time)."""
    from .errors import UnsupportedSyntax
    from .regions import flat_view

    spec = flat_view(spec)
    if _has_whiles(spec):
        raise UnsupportedSyntax("graph: a while loop on data has no fixed number of iterations to unroll; "
                                "draw it without unroll (as a cluster)",
                                getattr(getattr(spec, "ir", None), "loc", None))
    return spec


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
        self.regions = any(_block(s) is not None for s in self.stmts)
        self.const_ids = {c: f"c{i}" for i, c in enumerate(consts, 1)}
        self.ids: dict[Value, str] = {}
        for i, v in enumerate(program.inputs):
            self.ids[v] = f"in{i}"
        for op in program.forward_ops():
            if op.out in self.nums:  # (a region op's handle has no number; its results have)
                self.ids[op.out] = f"v{self.nums[op.out]}"
        self.ids.update(self.const_ids)
        # Derivative statements (reverse and tangent sweeps): ids v3_bar / v3_dot (v3_bar_2
        # for a later contribution), t1, t2, ...; a region's results likewise, in order.
        self.rev: list = []  # (statement, id); a region statement: (statement, None)
        seen: dict[str, int] = {}
        temps = 0

        def derived_id(v: Value) -> str:
            nonlocal temps
            of, mark = _derivative_of(v)
            if of is not None and of in self.ids and of not in self.const_ids:
                base = f"{self.ids[of]}{mark}"
            else:
                temps += 1
                base = f"t{temps}"
            seen[base] = seen.get(base, 0) + 1
            return base if seen[base] == 1 else f"{base}_{seen[base]}"

        for s in self.stmts:
            if s.op.sweep == "forward":
                continue
            if _block(s) is not None:
                for v in s.results:
                    self.ids[v] = derived_id(v)
                self.rev.append((s, None))
                continue
            nid = derived_id(s.op.out)
            self.ids[s.op.out] = nid
            self.rev.append((s, nid))
        # The complete adjoint of each primal: its last contribution.
        self.final_adjoint: dict[Value, Value] = {}
        for op in program.reverse_ops():
            if op.out.adjoint_of is not None:
                self.final_adjoint[op.out.adjoint_of] = op.out
        self.stated: set[int] = set()  # ids of the ops drawn as nodes (in region bodies too)
        _collect_stated(self.stmts, self.stated)
        self.outputs = [v for v in program.outputs if not isinstance(v, Const)]
        self.cross: list[tuple[str, str]] = []
        # Regions: edges reaching into a cluster (drawn at the top level), the sweep of every
        # node (it styles an edge), node ids taken, each node's name (a row reads X[t]).
        self.region_edges: list[tuple[str, str, dict]] = []
        self.sweep_of = {nid: v.producer.sweep if v.producer is not None else "forward"
                         for v, nid in self.ids.items()}
        self.taken = set(self.ids.values())
        self.name_of = {self.ids[v]: self.naming.base(v) for v in program.inputs}
        self.name_of.update((nid, self.naming.const_names[c]) for c, nid in self.const_ids.items())
        for s in self.stmts:
            self.name_of.update((self.ids[v], n) for v, n in (s.results or {s.op.out: s.target}).items()
                                if v in self.ids)
        self.declared: list[str] = []  # region nodes, in the order drawn
        self.referenced: list[Value] = []  # forward values the adjoint graph draws as references
        self.refs = False
        self.level = True  # put a loop's carries and rows on one rank
        self.n_regions = 0
        # Adjoints the optimiser folded away (the seed v̄_m = 1, pass-throughs such as
        # v̄_8 = v̄_9): drawn as the trace table lists them, so both tell the lecture's story.
        self.folded: dict[Value, tuple[str, str, object]] = {}  # x -> (id, label, value)
        self.folded_edges: list[tuple[Value, Value]] = []  # (x, y): x̄ receives from ȳ
        # (Not through regions: the re-derivation stops at a region op and keeps nothing.)
        if program.reverse_ops() and not self.regions and not any(op.sweep == "tangent" for op in program.ops):
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
            if _block(s) is not None:
                self._region(dot, s, self.ids, adjoints)
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
        self.refs = refs
        referenced = self.referenced
        stated = {v for st, nid in self.rev for v in ((st.op.out,) if nid else st.results)}  # derivative nodes
        for s, nid in self.rev:
            if nid is None:
                self._region(dot, s, self.ids, False)
                continue
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
            for v in (st.op.out,) if nid else st.results:
                if v.adjoint_of is not None:
                    first_id.setdefault(v.adjoint_of, self.ids[v])
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

    # -- regions: a loop's body once in a cluster, a branch per cluster -----------

    def _region(self, dot, s, scope, adjoints: bool) -> None:
        """Draw region statement `s` (a loop, cond, while or unwind op) into `dot`: its
        body in a cluster, its results after it; `scope` names the values it reads."""
        self.n_regions += 1
        draw = {"loop": self._loop, "cond": self._cond, "while": self._while, "unwind": self._unwind}
        draw[s.op.prim.name](dot, s, scope, f"r{self.n_regions}", adjoints)

    def _loop(self, dot, s, scope, r: str, adjoints: bool) -> None:
        op, block, p = s.op, s.loop, s.op.params
        body, nc, nx, length, t = p["body"], p["n_carry"], p["n_xs"], p["length"], s.loop.index
        inner = ChainMap({}, scope)
        if p["reverse"]:
            head = f"for {t} in range({length - 1}, -1, -1)  ({t} = {length - 1} … 0)"
        else:
            head = f"for {t} in range({length})"
        with dot.subgraph(name=f"cluster_{r}") as sub:
            sub.attr(label=_label([head, *_where(op, ("for ",))]), **LOOP_CLUSTER[op.sweep])
            carries = self._carries(sub, op, block.inits, body.inputs[1:1 + nc], op.inputs[:nc], inner, scope, r)
            read = {u for o in body.ops for u in o.inputs} | set(body.outputs)
            for b, x in zip(body.inputs[1 + nc:1 + nc + nx], op.inputs[nc:nc + nx]):
                if b not in read:  # a row the body does not use (its reader was hoisted out)
                    continue
                row = f"{self._name_in(x, scope)}[{t}]"
                inner[b] = self._region_node(sub, f"{r}_row", [f"{row}  (row {t})", str(b.aval)], "row", op.sweep)
                self._link(x, inner[b], scope)
            self._level(sub, carries + [inner[b] for b in body.inputs[1 + nc:1 + nc + nx] if b in inner])
            inner.update(zip(body.inputs[1 + nc + nx:], op.inputs[nc + nx:]))  # invariants: read as they are
            index = body.inputs[0]
            if index in read:
                inner[index] = self._region_node(sub, f"{r}_index", [t, f"{index.aval}, the iteration"], "row",
                                                 op.sweep)
            self._body(sub, block.body, inner, r)
            for out, nid in zip(body.outputs[:nc], carries):
                self._next(out, nid, inner, f"next {t}")
        last = 0 if p["reverse"] else length - 1
        for v, name in block.results.items():
            k = v.producer.params["index"]
            if k >= nc:
                lines = [f"{name}[{t}] = {_clip(block.writes[k - nc][1])}", f"stack of {length} rows"]
                self._result(dot, r, v, name, lines, [(body.outputs[k], inner)], scope, op.sweep, adjoints)
            elif length == 0:  # no iteration: the initial value
                self._result(dot, r, v, name, [f"{name} = {_clip(block.inits[k][1])}", "(no iteration)"],
                             [(op.inputs[k], scope)], scope, op.sweep, adjoints)
            else:
                self._result(dot, r, v, name, [f"{name} = {_clip(block.carries[k][1])}", f"at {t} = {last}"],
                             [(body.outputs[k], inner)], scope, op.sweep, adjoints)

    def _cond(self, dot, s, scope, r: str, adjoints: bool) -> None:
        op, block = s.op, s.cond
        pred = self._tail(op.inputs[0], scope)
        results = list(block.results.items())
        tails: list[list[str | None]] = []  # per branch: the node each result comes from
        for j, (body, (stmts, assigns)) in enumerate(zip(op.params["branches"], block.branches)):
            inner = ChainMap({}, scope)
            inner.update(zip(body.inputs, op.inputs[1:]))
            first = len(self.declared)
            with dot.subgraph(name=f"cluster_{r}_{'if' if j == 0 else 'else'}") as sub:
                label = [f"if {block.test}", *_where(op, ("if ", "elif "))] if j == 0 else ["else"]
                sub.attr(label=_label(label), **BRANCH_CLUSTER[op.sweep])
                self._body(sub, stmts, inner, f"{r}{'ab'[j]}")
                ends = []
                for (v, _), (rname, expr) in zip(results, assigns):
                    out = body.outputs[v.producer.params["index"]]
                    if isinstance(inner.maps[0].get(out), str):  # made in this branch
                        ends.append(inner.maps[0][out])
                        continue
                    nid = self._region_node(sub, f"{r}_pass", [f"{rname} = {_clip(expr)}"], "pass", op.sweep)
                    self._link(out, nid, inner)
                    ends.append(nid)
                if len(self.declared) == first:
                    self._region_node(sub, f"{r}_empty", ["(nothing)"], "pass", op.sweep)
            tails.append(ends)
        for i, (v, name) in enumerate(results):  # joined after the branches, the predicate choosing
            a, b = (_clip(assigns[i][1]) for _, assigns in block.branches)
            self._result(dot, r, v, name, [_clip(f"{name} = {a} if {block.test} else {b}")],
                         [ends[i] for ends in tails], scope, op.sweep, adjoints)
            if pred is not None:
                self._edge(pred, self._tail(v, scope), **PREDICATE_EDGE)

    def _while(self, dot, s, scope, r: str, adjoints: bool) -> None:
        op, block, p = s.op, s.wloop, s.op.params
        cond, body, nc = p["cond"], p["body"], p["n_carry"]
        binner = ChainMap({}, scope)
        cinner = ChainMap({}, scope)
        with dot.subgraph(name=f"cluster_{r}") as sub:
            sub.attr(label=_label([f"while {block.test}", "(trip count from data)", *_where(op, ("while ",))]),
                     **LOOP_CLUSTER[op.sweep])
            carries = self._carries(sub, op, block.inits, body.inputs[:nc], op.inputs[:nc], binner, scope, r)
            self._level(sub, carries)
            for inner, prog in ((binner, body), (cinner, cond)):
                inner.update(zip(prog.inputs, carries + list(op.inputs[nc:])))
            with sub.subgraph(name=f"cluster_{r}_condition") as csub:
                csub.attr(label=_label(["condition, before each iteration"]), **BRANCH_CLUSTER[op.sweep])
                self._body(csub, block.cond, cinner, f"{r}c")
                test = cinner.maps[0].get(cond.outputs[0])
                if not isinstance(test, str):  # the condition is an invariant or a constant
                    test = self._region_node(csub, f"{r}_test", [f"test: {_clip(block.test)}"], "pass", op.sweep)
                    self._link(cond.outputs[0], test, cinner)
            self._body(sub, block.body, binner, r)
            for out, nid in zip(body.outputs[:nc], carries):
                self._next(out, nid, binner, "next iteration")
        for v, name in block.results.items():
            k = v.producer.params["index"]
            if k < nc:
                self._result(dot, r, v, name, [f"{name}  (after the loop)", f"once {_clip(block.test)} is false"],
                             [carries[k]], scope, op.sweep, adjoints)
            elif k == nc:
                self._result(dot, r, v, name, [f"{name} = number of iterations"], [test], scope, op.sweep,
                             adjoints, **COUNT_EDGE)
            else:
                self._result(dot, r, v, name, [f"{name} = a row per iteration  (tape)"],
                             [(o, binner) for o in body.outputs[nc:]], scope, op.sweep, adjoints, **COUNT_EDGE)

    def _unwind(self, dot, s, scope, r: str, adjoints: bool) -> None:
        """A while loop's adjoint: its recorded iterations, last first, reading tape rows."""
        op, block, p = s.op, s.wloop, s.op.params
        body, nc, nr, k = p["body"], p["n_carry"], p["n_rows"], s.wloop.index
        inner = ChainMap({}, scope)
        with dot.subgraph(name=f"cluster_{r}") as sub:
            head = f"for {k} in range({block.count} - 1, -1, -1)"
            sub.attr(label=_label([head, "(trip count from data)", *_where(op, ("while ",))]), **LOOP_CLUSTER[op.sweep])
            carries = self._carries(sub, op, block.inits, body.inputs[:nc], op.inputs[1:1 + nc], inner, scope, r)
            for b, row in zip(body.inputs[nc:nc + nr], block.rows):
                inner[b] = self._region_node(sub, f"{r}_row", [f"{row} = {block.tape}[{k}]  (tape row)",
                                                               str(b.aval)], "row", op.sweep)
                self._link(op.inputs[1 + nc], inner[b], scope)
            self._level(sub, carries + [inner[b] for b in body.inputs[nc:nc + nr]])
            inner.update(zip(body.inputs[nc + nr:], op.inputs[1 + nc + (1 if nr else 0):]))
            self._body(sub, block.body, inner, r)
            for out, nid in zip(body.outputs, carries):
                self._next(out, nid, inner, f"next {k}")
        count = self._tail(op.inputs[0], scope)
        for nid in carries[:1] if count is not None else ():  # how many iterations: into the first carry
            self._edge(count, nid, label=_label(["trip count"]), **PREDICATE_EDGE)
        for v, rname in block.results.items():
            self._result(dot, r, v, rname, [f"{rname}  (after the loop)"], [carries[v.producer.params["index"]]],
                         scope, op.sweep, adjoints)

    def _carries(self, sub, op, inits, inputs, operands, inner, scope, r: str) -> list[str]:
        """A node per carried value in the cluster (`name = initial value`), the initial
        value's edge into it; returns their ids."""
        ids = []
        for (name, init), b, x in zip(inits, inputs, operands):
            nid = self._region_node(sub, f"{r}_carry", [f"{name} = {_clip(init)}  (carried)", str(b.aval)],
                                    "carry", op.sweep)
            inner[b] = nid
            self._link(x, nid, scope)
            ids.append(nid)
        return ids

    def _level(self, cluster, ids: list[str]) -> None:
        """Put these nodes (a loop's carries and rows, where an iteration starts) on one rank."""
        if self.level and len(ids) > 1:
            with cluster.subgraph() as same:
                same.attr(rank="same")
                for nid in ids:
                    same.node(nid)

    def _next(self, out: Value, carry: str, scope, label: str) -> None:
        """The back edge from a body's new carried value to the carry it becomes."""
        tail = self._tail(out, scope)
        if tail is not None and tail != carry:
            self.region_edges.append((tail, carry, {**NEXT_EDGE, "label": _label([label])}))

    def _body(self, dot, stmts, scope, prefix: str) -> None:
        """A region body's statements as nodes in its cluster, bound in `scope`."""
        for st in stmts:
            if _block(st) is not None:
                self._region(dot, st, scope, False)
                continue
            v = st.op.out
            kind = ("op" if st.op.sweep == "forward" else
                    "adjoint" if _derivative_of(v)[0] is not None else "temporary")
            lines = [f"{st.lhs} {'+=' if st.augmented else '='} {_clip(st.expr)}", str(v.aval)]
            scope[v] = self._region_node(dot, f"{prefix}_{self._base_id(v)}", lines, kind, st.op.sweep, st.target)
            for u in self._reads(st.op, scope):
                self._link(u, scope[v], scope)

    def _result(self, dot, r: str, v: Value, name: str, lines: list[str], tails, scope, sweep: str,
                adjoints: bool, **attrs) -> None:
        """A region's result after its cluster, with edges from `tails` (node ids or (value,
        scope) pairs); at the top level under its program-wide id, with its value."""
        lines = lines + [str(v.aval)]
        nid = scope.get(v) if scope is self.ids else None
        if nid is None:
            kind = "op" if sweep == "forward" else "adjoint" if _derivative_of(v)[0] is not None else "temporary"
            nid = scope[v] = self._region_node(dot, f"{r}_{self._base_id(v)}", lines, kind, sweep, name)
        elif sweep == "forward":
            self._value_lines(lines, v, adjoints)
            kind = "output" if v is self.program.outputs[0] else "op"
            if self.marks is not None and v in self.marks.step:
                self._node(dot, None, v, lines, kind)
            else:
                dot.node(nid, _label(lines), **STYLE[kind])
        else:
            x = self._get(v)
            if x is not None:
                lines.append(f"= {_fmt(x)}")
            kind = ("gradient" if v in self.outputs[1:] else
                    "adjoint" if _derivative_of(v)[0] is not None else "temporary")
            dot.node(nid, _label(lines), **STYLE[kind])
        for item in tails:
            tail = item if isinstance(item, str) else self._tail(*item)
            if tail is not None:
                self._edge(tail, nid, **attrs)

    def _region_node(self, dot, base: str, lines: list[str], kind: str, sweep: str, name: str | None = None) -> str:
        nid, n = base, 1
        while nid in self.taken:
            n += 1
            nid = f"{base}_{n}"
        self.taken.add(nid)
        self.sweep_of[nid] = sweep
        self.name_of[nid] = name if name is not None else lines[0].split(" ")[0]
        self.declared.append(nid)
        dot.node(nid, _label(lines), **STYLE[kind])
        return nid

    def _base_id(self, v: Value) -> str:
        """`v3`, `v3_bar`, `in0_bar` or `t`: a body value's id within its region."""
        of, mark = _derivative_of(v)
        target = of if of is not None else v
        if target in self.ids and target not in self.const_ids:
            return f"{self.ids[target]}{mark}"
        k = self.nums.get(target)
        return f"v{k}{mark}" if k is not None and k > 0 else "t"

    def _resolve(self, u: Value, scope) -> tuple[Value, str | None]:
        """(the value u stands for, its node id): a body's input may name a value outside."""
        while True:
            if isinstance(u, Const) and u.is_scalar:
                return u, None
            x = scope[u]
            if isinstance(x, str):
                return u, x
            u = x

    def _tail(self, u: Value, scope) -> str | None:
        return self._resolve(u, scope)[1]

    def _name_in(self, u: Value, scope) -> str:
        u, nid = self._resolve(u, scope)
        return self.name_of[nid] if nid is not None else str(u.value)

    def _link(self, u: Value, head: str, scope, **attrs) -> None:
        """An edge from the node of `u` (as `scope` names it) to node `head`."""
        u, tail = self._resolve(u, scope)
        if tail is None:
            return
        if self.refs and self.ids.get(u) == tail and self.sweep_of[tail] == "forward" and u not in self.referenced:
            self.referenced.append(u)  # the adjoint graph draws the forward values it reads as references
        self._edge(tail, head, **attrs)

    def _edge(self, tail: str, head: str, **attrs) -> None:
        """An edge styled by the sweeps of its ends: forward data flow, the reverse sweep
        mirrored (drawn from head to tail, pointing back), a dashed forward value read by a
        derivative."""
        ts, hs = self.sweep_of.get(tail, "forward"), self.sweep_of.get(head, "forward")
        if ts == hs == "forward":
            style = FORWARD_EDGE
        elif ts == hs == "reverse":
            tail, head, style = head, tail, dict(dir="back", **REVERSE_EDGE)
        elif ts == "forward":
            style = CROSS_EDGE
        elif hs == "tangent":
            style = TANGENT_EDGE
        else:
            style = CROSS_EDGE
        self.region_edges.append((tail, head, {**style, **attrs}))

    # -- helpers ------------------------------------------------------------------

    def _name(self, v: Value) -> str:
        k = self.nums.get(v)
        return f"v_{k}" if k is not None else self.ids[v]

    def _reads(self, op, scope=None) -> list[Value]:
        """The named values a statement reads: its operands, looking through inlined
        temporaries, each once, in order (`scope`: the values a region body names)."""
        scope = self.ids if scope is None else scope
        out: list[Value] = []

        def visit(v: Value) -> None:
            if isinstance(v, Const) and v.is_scalar:
                return
            p = v.producer
            if p is not None and p.sweep != "forward" and id(p) not in self.stated:
                for u in p.inputs:
                    visit(u)
                return
            if v in scope and v not in out:
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
    if any(bodies(op) for op in program.ops):
        return _region_values(program, env if isinstance(env, dict) else values)
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


def _region_values(program: Program, values) -> dict:
    """Values for a program with regions, computed from its inputs' (a trace table's values
    are those of the flat program it traced, whose values and v-numbers are not these)."""
    if not isinstance(values, dict):
        raise TypeError(f"values for a program with loops or branches must be a trace table or a dict of "
                        f"Value to array, not {type(values).__name__}")
    if not all(v in values for v in program.inputs):
        return values
    from .interpret import evaluate

    return evaluate(program, *(values[v] for v in program.inputs))


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


def _label(lines: list[str]):
    """A DOT label of these lines, read literally: control characters shown as escapes,
    backslashes doubled (DOT would read `\\N`, `\\l`... as escapes), never an HTML label."""
    from graphviz import nohtml

    return nohtml("\\n".join(visible(line).replace("\\", "\\\\") for line in lines))


def _block(s):
    """The block of a region statement (a loop, cond, while or unwind op), else None."""
    return s.loop or s.cond or s.wloop


def _collect_stated(stmts, into: set) -> None:
    """ids of the ops these statements draw as nodes: theirs, their regions' bodies' and
    results' (a region's results are read from its loop_result ops)."""
    for s in stmts:
        into.add(id(s.op))
        block = _block(s)
        if block is None:
            continue
        into.update(id(v.producer) for v in block.results)
        if s.loop is not None:
            _collect_stated(block.body, into)
        elif s.cond is not None:
            for body, _ in block.branches:
                _collect_stated(body, into)
        else:
            _collect_stated(block.cond, into)
            _collect_stated(block.body, into)


def _where(op, keywords: tuple) -> list[str]:
    """The user's line a region comes from, for its cluster label (clipped): only a line
    that is the statement itself (a `break` on data becomes an if at its loop's line)."""
    loc = op.loc
    text = (getattr(loc, "line", "") or "").strip()
    if not text.startswith(keywords):
        return []
    line = f"line {loc.lineno}: {text}"
    return [line if len(line) <= MAX_LINE else line[:MAX_LINE - 1] + "…"]


def _fmt(x) -> str:
    """Scalars to 4 significant digits; small arrays entry by entry, others by mean; a
    while loop's tape by its rows."""
    if isinstance(x, list):
        return f"{len(x)} rows"
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
