"""The forward primal trace and reverse adjoint trace of the lecture notes, with numbers.

`build_trace(spec, inputs)` evaluates the adjoint program (forward sweep, then reverse
sweep) with the reference interpreter and lays out one row per SSA value: the inputs
v_0, v_-1, ..., the named array constants, v_1..v_m with the equation the SSA listing
writes for them; then the adjoints in the order the reverse sweep computes them, with
the equation of the adjoint listing (`v̄_0 += ...` where a value has several uses).

Adjoints the optimiser folded away (the seed v̄_m = 1 of the output, or v̄_7 = v̄_9 for
an add) have no statement in the adjoint program. They are re-derived here with the
primitives' own derivative rules, without simplification, and evaluated numerically,
so these rows carry real numbers too; they are marked `derived`.

With a checkpoint policy, each forward row also says which step it belongs to and
whether the checkpointed run keeps it (`stored`) or reruns it from the nearest stored
state (`recomputed`); see `Checkpointing`. Store-all output is unchanged.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np

from .codegen import Naming, statements
from .interpret import evaluate
from .ir import Builder, Const, Program, Value, aval_of
from .printer import display_width, math_text, pad
from .regions import SHOWN_ITERATIONS  # a loop of more than 5 iterations shows its first 2 and its last 1
from .syntax import Expr, literal

MAX_EQUATION = 90  # characters of an equation shown before it is cut with "…"
MAX_ELEMENTS = 6  # arrays up to this size are shown element by element

# What a checkpointed run does with a forward value (the trace's "kept" column, the
# graph's node outline), with its meaning (the HTML table's tooltip).
KEPT = {
    "stored": "kept for the backward pass (params and boundary states)",
    "recomputed": "rerun from the nearest stored state when the backward pass needs it",
    "transient": "computed once before the first step, never needed again",
}


@dataclass
class Checkpointing:
    """Which forward values of a checkpointed program are stored and which recomputed.

    `kept` maps each input and forward op value to a KEPT key; `step` maps it to its
    Op.step (0: the prologue, k: the schedule's step k-1, x_{k-1} -> x_k)."""

    kept: dict
    step: dict
    steps: int
    policy: str  # the schedule's name, e.g. "Revolve(snapshots=3)"

    def counts(self) -> dict[str, int]:
        """The number of values of each kind that occurs, in KEPT order."""
        found = list(self.kept.values())
        return {k: found.count(k) for k in KEPT if k in found}

    @property
    def summary(self) -> str:
        """One line: the policy and the counts (the tables' and graphs' legend)."""
        counts = [f"{k}: {n}" + (" values" if i == 0 else "")
                  for i, (k, n) in enumerate(self.counts().items())]
        steps = f"{self.steps} step" + "s" * (self.steps != 1)
        return f"checkpointed: {steps}, {self.policy}; " + ", ".join(counts)


def checkpointing(spec, program: Program) -> Checkpointing | None:
    """The marks for `program`'s forward values, or None when `spec` stores everything
    (or is not a checkpointed specialisation at all, like a derived program's)."""
    run = getattr(spec, "checkpointed", None)
    if run is None:
        return None
    kept, step = run.plan.marks(program, getattr(spec, "iterations", None) or {})
    return Checkpointing(kept, step, run.plan.steps, run.schedule.name)


def step_label(step: int | None) -> str:
    """Op.step as the schedule numbers steps: "pre" for the prologue, k-1 for step k."""
    return "" if step is None else "pre" if step == 0 else str(step - 1)


@dataclass
class TraceRow:
    """One line of the trace.

    sweep: "forward" or "reverse"; name: `v_3`, `X1`, `v̄_1`, `t_1` or `∇w`;
    op: "=" or "+="; equation: the right-hand side as the listing writes it;
    value: the number or array the row's name holds after the statement;
    index: the v-index of the value (for adjoints: of the value it is the adjoint of),
    None for constants and temporaries; kind: "input", "constant", "op", "adjoint",
    "temporary", "seed", "derived" or "gradient"."""

    sweep: str
    name: str
    equation: str
    value: object
    index: int | None = None
    op: str = "="
    kind: str = "op"
    line: int | None = None  # source line the statement comes from
    step: int | None = None  # checkpointed forward rows: Op.step (see step_label)
    kept: str | None = None  # checkpointed forward rows: a KEPT key
    iteration: tuple | None = field(default=None, repr=False, compare=False)  # (loop loc, k, trip count)

    def value_text(self, precision: int = 4) -> str:
        return "" if self.kind == "elided" else format_value(self.value, precision)


@dataclass
class TraceTable:
    """The forward and reverse trace of one program at one point.

    `forward` and `reverse` are lists of TraceRow (`rows` is both); `primal` and
    `adjoint` map v-indices to values (the adjoint being the complete one); `value` is
    the function's value and `gradient` its gradient (a tuple when there are several
    wrt arguments, as `grad` returns)."""

    name: str
    forward: list[TraceRow]
    reverse: list[TraceRow]
    value: object
    gradients: list = field(default_factory=list)
    primal: dict = field(default_factory=dict)
    adjoint: dict = field(default_factory=dict)
    precision: int = 4
    env: dict = field(default_factory=dict, repr=False)  # every Value of the adjoint program → its value
    checkpointing: Checkpointing | None = None  # the stored/recomputed marks, with a policy

    @property
    def rows(self) -> list[TraceRow]:
        return self.forward + self.reverse

    @property
    def gradient(self):
        return self.gradients[0] if len(self.gradients) == 1 else tuple(self.gradients)

    def row(self, name: str, sweep: str | None = None) -> TraceRow:
        """The last row called `name` (the complete value of an accumulated adjoint)."""
        found = [r for r in self.rows if r.name == name and (sweep is None or r.sweep == sweep)]
        if not found:
            raise KeyError(name)
        return found[-1]

    # -- rendering ------------------------------------------------------------

    def _cells(self, rows, precision):
        return [(r.name, f"{r.op} {r.equation}" + (f"  ({r.kind})" if r.kind in ("seed", "derived") else ""),
                 "= " + r.value_text(precision)) if r.kind != "elided" else (r.name, r.equation, None)
                for r in rows]

    def __str__(self) -> str:
        return self.to_text()

    def to_text(self, precision: int | None = None) -> str:
        """Aligned plain text: the forward trace, then the reverse trace."""
        p = self.precision if precision is None else precision
        fwd, rev = self._cells(self.forward, p), self._cells(self.reverse, p)
        cells = [c for c in fwd + rev if c[2] is not None]
        w0 = max((display_width(c[0]) for c in cells), default=0)
        w1 = max((display_width(c[1]) for c in cells), default=0)

        def line(c, mark=""):
            if c[2] is None:  # elided iterations: one unaligned line
                return f"  {mark}{pad(c[0], w0)} {c[1]}"
            return f"  {mark}{pad(c[0], w0)} {pad(c[1], w1)}   {c[2]}"

        if self.checkpointing is None:
            out = [f"forward primal trace of {self.name}"] + [line(c) for c in fwd]
            out += ["", "reverse adjoint trace"] + [line(c) for c in rev]
            return "\n".join(out)
        marks = [self._mark(r) for r in self.forward]
        w = [max(display_width(m[i]) for m in marks + [("step", "kept")]) for i in (0, 1)]

        def mark(m):
            return f"{pad(m[0], w[0])}  {pad(m[1], w[1])}  "

        out = [f"forward primal trace of {self.name}", self.checkpointing.summary,
               "  " + mark(("step", "kept")).rstrip()]
        out += [line(c, mark(m)) for c, m in zip(fwd, marks)]
        out += ["", "reverse adjoint trace"] + [line(c) for c in rev]
        return "\n".join(out)

    @staticmethod
    def _mark(r: TraceRow) -> tuple[str, str]:
        """(step, kept) cells of a forward row; blank for constants."""
        return step_label(r.step), r.kept or ""

    def __repr__(self) -> str:
        return str(self)

    def _pairs(self):
        n = max(len(self.forward), len(self.reverse))
        for i in range(n):
            f = self.forward[i] if i < len(self.forward) else None
            r = self.reverse[i] if i < len(self.reverse) else None
            yield f, r

    def _side(self, r: TraceRow | None):
        if r is None:
            return "", ""
        if r.kind == "elided":
            return f"{r.name} {r.equation}", ""
        eq = f"{r.name} {r.op} {r.equation}"
        if r.kind in ("seed", "derived"):
            eq += f" ({r.kind})"
        return eq, r.value_text(self.precision)

    def to_markdown(self) -> str:
        def cell(text):
            return f"`{text}`".replace("|", "\\|") if text else ""

        marked = self.checkpointing is not None
        lines = [f"*{self.checkpointing.summary}*", ""] if marked else []
        lines += ["| " + "step | kept | " * marked + "Forward primal trace | value | Reverse adjoint trace | value |",
                  "|" + "---|---|" * marked + "---|---:|---|---:|"]
        for f, r in self._pairs():
            (fe, fv), (re_, rv) = self._side(f), self._side(r)
            marks = "".join(f"{m} | " for m in (self._mark(f) if f else ("", ""))) if marked else ""
            lines.append(f"| {marks}{cell(fe)} | {cell(fv)} | {cell(re_)} | {cell(rv)} |")
        return "\n".join(lines)

    def to_html(self) -> str:
        esc = html.escape
        marked = self.checkpointing is not None
        legend = f"<br>{esc(self.checkpointing.summary)}" if marked else ""
        out = ['<table class="gradc-trace">',
               f"<caption>{esc(self.name)}: forward and reverse trace{legend}</caption>",
               "<thead><tr>" + "<th>step</th><th>kept</th>" * marked + "<th>Forward primal trace</th><th>value</th>"
               "<th>Reverse adjoint trace</th><th>value</th></tr></thead>", "<tbody>"]
        for f, r in self._pairs():
            (fe, fv), (re_, rv) = self._side(f), self._side(r)
            step, kept = self._mark(f) if f else ("", "")
            marks = f'<td>{step}</td><td title="{esc(KEPT.get(kept, ""))}">{kept}</td>' if marked else ""
            out.append(f"<tr>{marks}<td><code>{esc(fe)}</code></td><td>{esc(fv)}</td>"
                       f"<td><code>{esc(re_)}</code></td><td>{esc(rv)}</td></tr>")
        out += ["</tbody>", "</table>"]
        return "\n".join(out)

    def _repr_html_(self) -> str:
        return self.to_html()


# ---------------------------------------------------------------------------
# Formatting values


def format_value(x, precision: int = 4) -> str:
    """Scalars to `precision` significant digits; arrays as dtype/shape and a summary."""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if np.ndim(x) == 0:
        return format_scalar(x, precision)
    a = np.asarray(x)
    head = str(aval_of(a))
    if a.size <= MAX_ELEMENTS:
        return f"{head} [{', '.join(format_scalar(v, precision) for v in a.ravel())}]"
    if a.dtype.kind in "biuf":
        f = a.astype(np.float64)
        return (f"{head} mean={format_scalar(f.mean(), precision)} min={format_scalar(f.min(), precision)} "
                f"max={format_scalar(f.max(), precision)}")
    return head


def format_scalar(v, precision: int = 4) -> str:
    """A number to `precision` significant digits (ints and bools as themselves)."""
    v = np.asarray(v)[()]
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        text = f"{float(v):.{precision}g}"
        return "0" if text == "-0" else text
    return str(v)


def _clip(text: str) -> str:
    text = math_text(text)
    return text if len(text) <= MAX_EQUATION else text[: MAX_EQUATION - 1] + "…"


# ---------------------------------------------------------------------------
# Building the table


def build_trace(spec, inputs, precision: int = 4) -> TraceTable:
    """The trace of `spec.adjoint_ir` at `inputs` (values for its inputs, in order)."""
    from .regions import flat_view

    from .regions import inline_branches

    from .regions import while_view

    flat = flat_view(spec)  # loops are traced iteration by iteration (long ones elided below)
    spec = while_view(flat, inputs)  # while loops: the iterations that ran at `inputs`
    iterations = getattr(spec, "iterations", None) or getattr(flat, "iterations", None) or {}
    hidden = getattr(spec, "hidden", None) or {}  # a long while loop's iterations not written out
    program: Program = inline_branches(spec.adjoint_ir, inputs)  # the branches taken at `inputs`
    env = evaluate(program, *inputs)
    consts = {c: c.name or f"c{i}" for i, c in enumerate(program.consts(), 1)}
    naming = Naming(program, "math", consts)
    nums = naming.numbers
    stmts = statements(program, naming)

    marks = checkpointing(spec, program)

    def marked(row: TraceRow, v: Value) -> TraceRow:
        if marks is not None:
            row.step, row.kept = marks.step[v], marks.kept[v]
        return row

    forward: list[TraceRow] = []
    for i, v in enumerate(program.inputs):
        forward.append(marked(TraceRow("forward", naming.base(v), v.name, env[v], -i, kind="input"), v))
    for c, name in consts.items():
        forward.append(TraceRow("forward", name, f"constant {c.aval}", c.value, kind="constant"))

    reverse: list[TraceRow] = []
    target_of: dict[Value, str] = {v: naming.base(v) for v in program.inputs}
    for s in stmts:
        v = s.op.out
        if s.loop is not None:  # the hidden iterations of a while loop (unroll_whiles)
            rows = forward if s.op.sweep == "forward" else reverse
            rows += _hidden_rows(s, hidden.get(s.op.step), env, nums, target_of)
            continue
        target_of[v] = s.target
        line = s.op.loc.lineno if s.op.loc is not None else None
        if s.op.sweep == "forward":
            row = marked(TraceRow("forward", s.target, _clip(s.expr), env[v], nums.get(v), line=line), v)
            row.iteration = iterations.get(s.op.step)
            forward.append(row)
            continue
        of = v.adjoint_of
        reverse.append(TraceRow("reverse", s.lhs, _clip(s.expr), env[v],
                                nums.get(of) if of is not None else None,
                                "+=" if s.augmented else "=",
                                "adjoint" if of is not None else "temporary", line,
                                iteration=iterations.get(s.op.step)))

    primal = {k: env[v] for v, k in nums.items() if v in env}
    for op in program.forward_ops():  # a hidden iteration's values: stacked, by the body's v-index
        if op.prim.name == "loop":
            ran = hidden[op.step][4] if op.step in hidden else {}
            if not any(v in nums for v in ran):  # (a body the reverse pass rebuilt: run it again)
                ran = _body_values(op, env)
            primal.update((nums[v], stack) for v, stack in ran.items() if v in nums)
    adjoint: dict[int, object] = {}
    for op in program.reverse_ops():
        of = op.out.adjoint_of
        if of is not None and of in nums:
            adjoint[nums[of]] = env[op.out]

    _add_derived(program, env, nums, naming, reverse, adjoint, iterations)

    gradients = []
    for out, i in zip(program.outputs[1:], program.wrt):
        x = program.inputs[i]
        g = out.value if isinstance(out, Const) else env[out]
        text = target_of.get(out) or (literal(out.value).text if isinstance(out, Const) else "?")
        reverse.append(TraceRow("reverse", f"∇{x.name}", _clip(text), g, nums.get(x), kind="gradient"))
        gradients.append(g)

    out = program.outputs[0]
    value = out.value if isinstance(out, Const) else env[out]
    return TraceTable(program.name, elide(forward), elide(reverse), value, gradients, primal, adjoint,
                      precision, env, checkpointing=marks)


def _hidden_rows(s, info, env, nums, target_of) -> list[TraceRow]:
    """The rows of a loop of iterations the trace does not write out (a long while loop's,
    unroll_whiles): one elision row, then the values it carries out of them."""
    loc, a, b, n = info[:4] if info is not None else (s.op.loc, 0, s.op.params["length"] - 1, None)
    where = f" of the loop at line {loc.lineno}" if loc is not None and loc.lineno else ""
    of = f" of {n}" if n is not None else ""
    sweep = s.op.sweep if s.op.sweep == "forward" else "reverse"
    rows = [TraceRow(sweep, "⋮", f"{b - a + 1}{of} iterations ({a}–{b}){where}, run as one loop", None,
                     kind="elided")]
    nc = s.op.params["n_carry"]
    last = b if sweep == "forward" else a
    for k, (r, name) in enumerate(s.loop.results.items()):
        target_of[r] = name
        if sweep == "forward" and r.producer.params["index"] >= nc:
            continue  # a stacked tape: no row
        of = r.adjoint_of
        index = nums.get(r) if sweep == "forward" else nums.get(of) if of is not None else None
        kind = "op" if sweep == "forward" else "adjoint" if of is not None else "temporary"
        rows.append(TraceRow(sweep, name, f"after iteration {last}", env[r], index, kind=kind,
                             line=loc.lineno if loc is not None else None))
    return rows


def _body_values(op, env) -> dict:
    """Every value a loop op's body computes, stacked over its iterations (rerun here)."""
    p = op.params
    body, nc, nx = p["body"], p["n_carry"], p["n_xs"]

    def read(v, e):
        return v.value if isinstance(v, Const) else e[v]

    carries = [read(v, env) for v in op.inputs[:nc]]
    xs = [read(v, env) for v in op.inputs[nc:nc + nx]]
    invariants = [read(v, env) for v in op.inputs[nc + nx:]]
    stacks: dict = {o.out: [] for o in body.ops if o.out.dtype != object}
    for k in (range(p["length"] - 1, -1, -1) if p["reverse"] else range(p["length"])):
        e = evaluate(body, np.int64(k), *carries, *(x[k] for x in xs), *invariants)
        for v, values in stacks.items():
            values.append(e[v])
        carries = [read(v, e) for v in body.outputs[:nc]]
    return {v: np.stack(values) for v, values in stacks.items() if values}



def elide(rows: list[TraceRow]) -> list[TraceRow]:
    """The rows with the middle iterations of long loops replaced by one row saying how
    many iterations and rows are not shown (`c.trace(...)` of a 1000-step RNN stays short);
    primal/adjoint (by v-index) and env still hold every value."""
    first, last = SHOWN_ITERATIONS
    out: list[TraceRow] = []
    hidden: list[TraceRow] = []

    def flush():
        if not hidden:
            return
        loc, _, n = hidden[0].iteration
        ks = sorted({r.iteration[1] for r in hidden})
        where = f" of the loop at line {loc.lineno}" if loc is not None and loc.lineno else ""
        span = f"{ks[0]}" if len(ks) == 1 else f"{ks[0]}–{ks[-1]}"
        out.append(TraceRow(hidden[0].sweep, "⋮", f"{len(ks)} of {n} iterations ({span}){where}, "
                            f"{len(hidden)} rows", None, kind="elided"))
        hidden.clear()

    for r in rows:
        it = r.iteration
        if it is not None and it[2] > first + last + 2 and first <= it[1] < it[2] - last:
            if hidden and hidden[0].iteration[0] is not it[0]:
                flush()
            hidden.append(r)
            continue
        flush()
        out.append(r)
    flush()
    return out


def folded_adjoints(program: Program, naming, env: dict | None = None):
    """The adjoints the optimiser folded away (a constant, or the same value as another
    adjoint), re-derived with the derivative rules, unsimplified: `(seed, events)`, where
    `seed` is the output's v̄ = 1 (None when nothing is active) and each event
    `(x, y, equation, value, first)` is one contribution to x̄ from the op making y (value:
    its evaluation at `env`, or None without env). The trace table and the adjoint graph
    both show these, so they tell the same story as the lecture."""
    from .passes.activity import active

    nums = naming.numbers
    fwd_ops = program.forward_ops()
    out = program.outputs[0]
    if isinstance(out, Const) or out not in nums:
        return None, []
    live = active(program.with_ops(fwd_ops, [out]), program.wrt)
    if out not in live:
        return None, []
    seed = Value(out.aval)
    walk_env = dict(env or {})
    walk_env[seed] = np.ones(out.shape, out.dtype) if out.shape else out.dtype.type(1)
    bar = naming.bar
    walk: dict[Value, Value] = {out: seed}
    events = []  # (x, y, equation, accumulated, first)

    def text(v: Value, g: Value, name: str) -> Expr:
        if v is g:
            return Expr(name)
        if isinstance(v, Const):
            if v.is_scalar:
                return literal(v.value)
            return Expr(naming.const_names.get(v, "const"))
        if v.producer is None or v.producer.sweep == "forward":
            return Expr(naming.base(v))
        op = v.producer
        return op.prim.emit(*(text(i, g, name) for i in op.inputs), **op.params)

    # A region op (the loop of a long while loop's hidden iterations) has no rule to replay:
    # what flows back through it, and from there on, is incomplete here and is not shown.
    incomplete: set = set()
    try:
        with Builder(sweep="reverse") as builder:
            for op in reversed(fwd_ops):
                if op.out in incomplete or op.prim.name in ("loop", "loop_result", "cond", "while", "unwind"):
                    incomplete.update(op.inputs)
                    if op.prim.name in ("loop", "loop_result", "cond", "while", "unwind"):
                        continue
                g = walk.get(op.out)
                if g is None or not op.prim.differentiable or not any(x in live for x in op.inputs):
                    continue
                contributions = list(zip(op.inputs, op.prim.vjp(g, op.out, *op.inputs, **op.params)))
                for x, c in reversed(contributions):  # v̄_8 before v̄_7, as the lecture lists them
                    if c is None or x not in live:
                        continue
                    if c.shape != x.shape:
                        c = builder.bind("sum_to", c, shape=x.shape)
                    first = x not in walk
                    acc = c if first else builder.bind("add", walk[x], c)
                    walk[x] = acc
                    events.append((x, op.out, text(c, g, bar(op.out)).text, acc, first))
        if env is not None:
            for op in builder.ops:
                walk_env[op.out] = op.prim.evaluate(
                    *(v.value if isinstance(v, Const) else walk_env[v] for v in op.inputs), **op.params)
    except Exception:  # a rule this view cannot replay: show only what the program computed
        events = []

    def value(acc):
        if isinstance(acc, Const):
            return acc.value
        return walk_env.get(acc) if env is not None else None

    return walk_env[seed], [(x, y, eq, value(acc), first) for x, y, eq, acc, first in events
                            if x not in incomplete]


def _add_derived(program, env, nums, naming, reverse, adjoint, iterations=None) -> None:
    """Rows for the folded adjoints (see folded_adjoints): the seed, then each derived one."""
    seed, events = folded_adjoints(program, naming, env)
    if seed is None:
        return
    present = set(adjoint)
    bar = naming.bar
    out = program.outputs[0]

    def insert_after(index: int | None, row: TraceRow) -> None:
        at = 0
        for i, r in enumerate(reverse):
            if r.sweep == "reverse" and r.index == index and r.kind != "temporary":
                at = i + 1
        while at < len(reverse) and reverse[at].kind in ("derived", "seed"):
            at += 1
        reverse.insert(at, row)

    k_out = nums[out]
    reverse.insert(0, TraceRow("reverse", bar(out), "1", seed, k_out, kind="seed"))
    adjoint.setdefault(k_out, seed)
    for x, y, eq, value, first in events:
        k = nums.get(x)
        if k is None or k in present or value is None:
            continue
        step = x.producer.step if x.producer is not None else None
        insert_after(nums.get(y), TraceRow("reverse", bar(x), _clip(eq), value, k,
                                           "=" if first else "+=", "derived",
                                           iteration=(iterations or {}).get(step)))
        adjoint[k] = value
