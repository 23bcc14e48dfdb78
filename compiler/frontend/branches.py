"""`if`/`elif`/`else`, conditional expressions and early `return` on traced values.

An `if` whose test depends on the arguments becomes one cond region (compiler/regions.py):
each branch is lowered on its own (from the same bindings), and the names a branch
rebinds that are read after the `if` become the region's results, one per array leaf.
Only the branch the predicate selects runs, so an untaken branch may divide by zero or
factor a matrix that is not positive definite, exactly as in Python.

A branch that returns takes the rest of the function with it: `if c: return a` followed
by `return b` lowers as `if c: return a else: return b` (the rest is lowered in both
branches). A `return` under a data-dependent test inside a loop body is refused.

What cannot be joined is refused at the `if`, never guessed: a name bound in one branch
only and read later, different shapes or dtypes, different compile-time values, a list
changed in place in a branch. Python numbers (weak under NEP 50) stay weak after the `if`
when they are Python numbers in both branches; a Python float in one branch and a NumPy
float64 in the other is float64 afterwards, and refused where that would decide a dtype
(meeting float32 or float16 arrays).
"""
from __future__ import annotations

import ast
from types import SimpleNamespace

import numpy as np

from ..errors import DataDependentControlFlow, ShapeError, SignatureError, UnsupportedSyntax
from ..ir import Builder, Const, Program, Value
from ..passes import optimize
from ..passes.simplify import rewrite
from .. import regions

_MISSING = object()
LOOP_BARRIER = None  # on the tails stack: the statements after this point repeat (a loop body)


def has_return(node) -> bool:
    """Whether a `return` in node returns from the function being lowered (not a nested def)."""
    todo = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, ast.Return):
            return True
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)) and n is not node:
            continue
        todo.extend(ast.iter_child_nodes(n))
    return False


def exposed_reads(stmts) -> set:
    """Names the statements may read before binding them (upward-exposed uses), for a
    statement run again by a loop. Conservative: anything in a nested scope or loop counts."""
    exposed: set = set()

    def loads(node):
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}

    def stores(node):
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}

    def block(body, bound: set) -> set:
        """Walk body with `bound` definitely bound; returns the names definitely bound after it."""
        bound = set(bound)
        for st in body:
            if isinstance(st, ast.If):
                exposed.update(loads(st.test) - bound)
                bound |= block(st.body, bound) & block(st.orelse, bound)
            elif isinstance(st, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                value = st.value
                if value is not None:
                    exposed.update(loads(value) - bound)
                targets = st.targets if isinstance(st, ast.Assign) else [st.target]
                for t in targets:
                    exposed.update(loads(t) - bound)  # x[i] = v reads x; x += v reads x
                    if isinstance(st, ast.AugAssign):
                        exposed.update(stores(t) - bound)
                    bound |= stores(t)
            else:
                exposed.update(loads(st) - bound)
                bound |= stores(st) if not isinstance(st, (ast.For, ast.While, ast.With, ast.Try)) else set()
        return bound

    block(stmts, set())
    return exposed


def _is_weak(x) -> bool:
    if isinstance(x, Const):
        return x.weak
    if isinstance(x, Value):
        return x.pytype is not None
    return isinstance(x, (int, float)) and not isinstance(x, (bool, np.generic))


def _as_value(x) -> Value:
    """A leaf as a region output: a compile-time number or array as a strong constant
    (the generated code then holds a NumPy value in either branch, as the IR says)."""
    if isinstance(x, Const):
        return Const(np.asarray(x.value)) if x.weak else x
    if isinstance(x, Value):
        return x
    return Const(np.asarray(x))


def _same_static(x, y) -> bool:
    if isinstance(x, Value) and not isinstance(x, Const) or isinstance(y, Value) and not isinstance(y, Const):
        return False
    a = x.value if isinstance(x, Const) else x
    b = y.value if isinstance(y, Const) else y
    if type(a) is not type(b) or _is_weak(x) != _is_weak(y):
        return False
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


class Branches:
    """Lowering of data-dependent conditionals (mixed into frontend.python.Lowering)."""

    def predicate(self, c: Value, node, what: str = "") -> Value:
        """Python's truth value of a traced value as a 0-d bool (nonzero is true, nan too)."""
        if c.ndim:
            if c.aval.size != 1:
                instead = ("use & and | (np.logical_and / np.logical_or) for elementwise logic"
                           if what else "use np.any(...) or np.all(...)")
                self.fail(f"{what or 'the truth value'} of an array with {c.aval.size} elements is "
                          f"ambiguous (NumPy raises ValueError): {instead}, or np.where to select "
                          "elementwise", UnsupportedSyntax, node)
            c = self.bind("reshape", c, shape=())
        if c.dtype != np.bool_:
            c = self.bind("not_equal", c, 0)
        return c

    # -- statements and expressions ----------------------------------------

    def lower_if(self, s: ast.If, c: Value) -> None:
        pred = self.predicate(c, s.test)
        if has_return(s):
            tail = self._continuation(s)
            states = self._run_branches([lambda: self.block(s.body + tail), lambda: self.block(s.orelse + tail)])
            for st in states:
                if not st.returned:
                    self.node = self.src.tree
                    self.fail(f"{self.src.name} does not return a value on every path", SignatureError)
            value, memory = self._join_values(s, pred, states, [st.value for st in states],
                                              [st.return_buffers for st in states], "the returned value")
            self.return_memory = memory
            from .python import _Return
            raise _Return(value)
        later = self.loads_after(s)
        states = self._run_branches([lambda: self.block(s.body), lambda: self.block(s.orelse)])
        for st in states:
            if st.returned:  # cannot happen: has_return(s) is False
                raise AssertionError("a branch without return returned")
        self._join_names(s, pred, states, later)

    def lower_ifexp(self, node: ast.IfExp, c: Value):
        what = getattr(node, "gradc_what", "")  # set where `and`/`or` were rewritten as this
        pred = self.predicate(c, node.test, what)

        def run(branch):
            def go():
                value = self.expr(branch)
                return value, self._buffers(self._memory(branch), value)
            return go

        later = self.loads_after(self.node)  # names a walrus in a branch binds, read later
        states = self._run_branches([run(node.body), run(node.orelse)])
        value, memory = self._join_values(node, pred, states, [st.value[0] for st in states],
                                          [st.value[1] for st in states],
                                          f"the result of {what}" if what else "the conditional expression",
                                          later)
        self._set_memory(node, memory)
        return value

    # -- lowering each branch from the same bindings -----------------------

    def _continuation(self, s) -> list:
        """The statements that run after `s` (to the end of the function), for a branch
        that returns: refused inside a loop body, where they repeat."""
        tail = []
        for rest in reversed(self.tails):
            if rest is LOOP_BARRIER:
                self.fail("unsupported construct 'return inside a loop under an if on data': the "
                          "iterations after it would depend on the data; compute the result with "
                          "np.where, or return after the loop", DataDependentControlFlow, s)
            tail += rest
        return tail

    def _run_branches(self, runs) -> list:
        saved = self._save_state()
        states = []
        try:
            for run in runs:
                self._restore_state(saved)
                saved = self._save_state()
                states.append(self._run_branch(run, saved[3]))
        finally:
            self._restore_state(saved)
        return states

    def _run_branch(self, run, pre_env: dict):
        from .constructs import Break, Continue
        from .python import _Return

        outer = self.b
        builder = Builder(rewrite=rewrite, max_ops=outer.max_ops)
        builder.loc, builder.sweep, builder.step = outer.loc, outer.sweep, outer.step
        builder.step_count = outer.step_count
        builder.region = getattr(outer, "region", None)
        builder.branch = object()  # containers and iterators made outside it stay as they are
        builder.branch_owner = self  # whose bindings the branches are lowered from
        builder.enclosing = outer  # (a loop region's rows are read from outside all of them)
        tails, self.tails = self.tails, []
        self.b = builder
        st = SimpleNamespace(builder=builder, returned=False, value=None, return_buffers=None)
        try:
            with builder:
                try:
                    st.value = run()
                except _Return as r:
                    st.returned, st.value = True, r.value
                    st.return_buffers = self._buffers(self.return_memory, r.value)
                except (Break, Continue):  # a jump the flags could not rewrite (inside with/try)
                    self.fail("unsupported construct 'break or continue under an if on data inside a "
                              "with or try block': move it out of the block", DataDependentControlFlow)
        finally:
            self.b, self.tails = outer, tails
        outer.step_count = builder.step_count
        st.env = dict(self.env)
        st.changed = [n for n, v in self.env.items() if pre_env.get(n, _MISSING) is not v]
        st.removed = [n for n in pre_env if n not in self.env]
        # what each rebound name's array may share; None: an immutable scalar (`s = s * 2`)
        st.buffers = {n: None if n in self.prov and self.prov[n] is None else
                      self._buffers(self.prov.get(n), self.env[n]) for n in st.changed}
        return st

    # -- joining the branches ----------------------------------------------

    def _join_names(self, s, pred, states, later, extra=None):
        """Join the names the branches rebound (those read later) and, with `extra` =
        (label, value in the true branch, value in the false branch), one more value (a
        conditional expression's) in the same cond; returns that joined value."""
        names = list(dict.fromkeys(states[0].changed + states[1].changed + states[0].removed
                                   + states[1].removed))
        joined = []  # (name, value in the true branch, in the false branch, is a name)
        for n in names:
            a, b = (st.env.get(n, _MISSING) for st in states)
            if n not in later:  # nothing reads it after the if: it needs no value there
                self.env.pop(n, None)
                self.prov.pop(n, None)
                continue
            if (a is _MISSING or b is _MISSING) and getattr(s, "gradc_jump", False):
                self.fail(f"unsupported construct 'a name bound on some ways out of a loop with a break "
                          f"on data only': {n!r} is read after this loop, but not bound before it, nor "
                          "before every break (in the same iteration) and in the loop's else clause, or "
                          "read in the loop before it is bound (Python raises UnboundLocalError on some "
                          "paths); bind it before the loop", DataDependentControlFlow, s)
            if a is _MISSING or b is _MISSING:
                self.fail(f"unsupported construct 'a name bound in one branch only': {n!r} is "
                          f"{'deleted' if n in states[0].removed + states[1].removed else 'bound'} in "
                          "one branch of this if on data and read after it; bind it in both branches "
                          "(or before the if)", DataDependentControlFlow, s)
            if a is b:
                self.env[n] = a
                continue
            joined.append((n, a, b, True))
        if extra is not None:
            joined.append((*extra, False))
        if not joined:
            return None
        values, memories = self._join(s, pred, states, joined)
        for (n, _, _, is_name), v, mem in zip(joined, values, memories):
            if is_name:
                self.env[n] = v
                self.prov[n] = mem
                self._remember(v, mem)
        return values[-1] if extra is not None else None

    def _join_values(self, node, pred, states, values, buffers, what, later=frozenset()):
        value = self._join_names(node, pred, states, later, extra=(what, values[0], values[1]))
        self._note_mixed_type(value, values, buffers)
        memory = (buffers[0] or frozenset()) | (buffers[1] or frozenset())
        self._remember(value, memory)
        return value, memory

    def _note_mixed_type(self, value, branch_values, branch_buffers) -> None:
        """A joined 0-d value that is of another Python type in each branch (a NumPy scalar in
        one, a 0-d array or a Python float in the other) has no one type to return as NumPy's:
        marked, it is returned as the branch computes it (python.result_type)."""
        if not isinstance(value, Value) or isinstance(value, Const) or value.ndim \
                or any(value is v for v in branch_values):
            return
        types = {"float" if _is_weak(v) else "array" if m else "scalar"
                 for v, m in zip(branch_values, branch_buffers)}
        if len(types) > 1:
            self.mixed_types.add(value)

    def _join(self, node, pred, states, items):
        """Emit the cond whose results are the joined leaves of `items` [(name or label, a, b,
        is a name)]; returns the joined values and, per item, the buffers it may share."""
        from .python import _flatten, _unflatten

        outs = ([], [])
        plans = []  # per item: (tree, [("static", x) | ("result", index, pytype)])
        for name, a, b, quote in items:
            label = repr(name) if quote else name
            if a is UNBOUND:  # a name bound on the paths that read it (for ... else)
                a = stand_in_for(b, states[0].builder, self.python_ints, self.mixed_floats)
            elif b is UNBOUND:
                b = stand_in_for(a, states[1].builder, self.python_ints, self.mixed_floats)
            la, lb = [], []
            ta, tb = _flatten(a, la, joined=True), _flatten(b, lb, joined=True)
            if ta is None or ta != tb:
                self.fail(f"unsupported construct 'an if on data giving {label} different kinds of "
                          "values': the branches must give it arrays or numbers of the same shapes, in "
                          "the same tuple/list structure", DataDependentControlFlow, node)
            slots = []
            for x, y in zip(la, lb):
                if x is y or _same_static(x, y):
                    slots.append(("static", x))
                    continue
                vx, vy = self._as_output(x, y, label, node), self._as_output(y, x, label, node)
                if vx.aval != vy.aval:
                    self.fail(f"unsupported construct 'an if on data giving {label} different shapes or "
                              f"dtypes': {vx.aval} in one branch, {vy.aval} in the other; make them agree "
                              "(np.broadcast_to, .astype)", ShapeError, node)
                weak = (_is_weak(x), _is_weak(y))
                python_int = any(weak) and vx.dtype.kind != "f"
                if python_int and (vx.dtype != np.int64 or vx.ndim):
                    self.fail(f"unsupported construct 'an if on data giving {label} a Python int': its "
                              "value would decide shapes or indices at run time; compute it with NumPy "
                              "(np.where(c, a, b))", DataDependentControlFlow, node)
                pytype = float if all(weak) and vx.dtype == np.float64 and vx.ndim == 0 else None
                mixed = any(weak) and pytype is None and not python_int
                slots.append(("result", len(outs[0]), pytype, mixed, python_int))
                outs[0].append(vx)
                outs[1].append(vy)
            plans.append((ta, slots))
        results = self._emit_cond(node, pred, states, outs) if outs[0] else []
        values, memories = [], []
        for (name, a, b, quote), (tree, slots) in zip(items, plans):
            leaves = []
            for slot in slots:
                if slot[0] == "static":
                    leaves.append(slot[1])
                    continue
                v = results[slot[1]]
                v.pytype = slot[2]
                if isinstance(name, str) and value_name(name).isidentifier():
                    v.name = value_name(name)
                if slot[3]:
                    self.mixed_floats.add(v)
                if slot[4]:  # a Python int in Python, an int64 here: as a while loop's counter
                    self.python_ints.add(v)
                leaves.append(v)
            value, _ = _unflatten(tree, leaves, 0)
            values.append(value)
            if not quote:
                memories.append(None)
                continue
            before = (None if name in self.prov and self.prov[name] is None else
                      self._buffers(self.prov.get(name), self.env.get(name)))  # unchanged in a branch
            parts = [st.buffers[name] if name in st.buffers else before for st in states]
            self._note_mixed_type(value, (a, b), parts)
            if all(p is None for p in parts):
                memories.append(None)  # a scalar in both branches: still immutable
            else:
                memories.append(frozenset().union(*(p for p in parts if p is not None)))
        return values, memories

    def _as_output(self, x, other, label, node) -> Value:
        """Leaf x as a branch output. A Python number in one branch meeting a NumPy float of
        another dtype in the other is given that dtype when that changes no value (the
        constant is exact in it); the joined value is then marked `mixed` (check_mixed)."""
        v = _as_value(x)
        o = _as_value(other)
        if not (_is_weak(x) and not _is_weak(other) and o.dtype.kind == "f" and v.dtype != o.dtype
                and v.shape == o.shape == ()):
            return v
        if self.is_static(x):
            number = self.value(x)
            exact = np.asarray(number, dtype=o.dtype)
            if exact.astype(np.float64) == np.float64(number):
                return Const(exact)
        self.fail(f"unsupported construct 'an if on data giving {label} a Python float in one branch "
                  f"and a NumPy {o.dtype} in the other': NumPy's result would keep the Python float's "
                  f"precision in one case only; write np.{o.dtype}(...) in the branch with the Python "
                  "float", DataDependentControlFlow, node)

    def _emit_cond(self, node, pred, states, outs) -> list[Value]:
        free = []
        for st, o in zip(states, outs):
            for v in regions.free_values(st.builder.ops, o, ()):
                if v not in free:
                    free.append(v)
        loc = self.src.loc(node)
        branches = []
        for st, o, label in zip(states, outs, ("if branch", "else branch")):
            inputs = []
            for v in free:
                b = Value(v.aval, v.name)
                b.pytype = v.pytype
                inputs.append(b)
            ops, outputs = regions.substitute(st.builder.ops, o, dict(zip(free, inputs)))
            branches.append(optimize(Program(label, inputs, ops, outputs, loc)))
        self.b.loc = loc
        return regions.emit_cond(self.b, pred, branches, free)

    def loads_after(self, s) -> set:
        """Names read anywhere outside statement s (after it, or in a later iteration), and,
        inside a loop, the names s itself reads before it binds them (its next run reads
        the value this one leaves)."""
        out: set = exposed_reads([s]) if self.loop_depth else set()
        todo = [self.src.tree]
        while todo:
            n = todo.pop()
            if n is s:
                continue
            if id(n) in self.rewritten:  # a loop lowered as other statements: read those
                todo.extend(self.rewritten[id(n)])
                continue
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
                out.add(n.id)
            todo.extend(ast.iter_child_nodes(n))
        return out

    def check_mixed(self, prim: str, args) -> None:
        """A value that is a Python float in one branch and a NumPy float in the other meets
        a float array of lower precision: NumPy's result dtype would depend on the branch."""
        mixed = [a for a in args if isinstance(a, Value) and a in self.mixed_floats]
        if not mixed:
            return
        for a in args:
            dt = self.dtype(a)
            if dt.kind == "f" and any(dt.itemsize < m.dtype.itemsize for m in mixed):
                self.fail(f"{prim}: this value is a Python float in one branch of an if on data and a "
                          f"NumPy float64 in the other, and meets a {dt} array: NumPy's result dtype "
                          "would depend on the branch taken; write np.float64(...) (or np.float32) in "
                          "both branches", DataDependentControlFlow)


# ---------------------------------------------------------------------------
# break and continue: flags, so a loop whose break depends on data stays one loop

def flags_of(loop) -> tuple[str, str]:
    """The break flag and the skip flag of one loop: not identifiers (no user name can
    clash), and per loop (an inner loop's break leaves the outer loop's flags alone)."""
    where = f"{loop.lineno}:{loop.col_offset}"
    return f"<break {where}>", f"<skip {where}>"


def value_name(name: str) -> str:
    """The name a value bound to `name` is printed with (the flags get readable ones)."""
    if name.startswith("<break "):
        return "broken"
    if name.startswith("<skip "):
        return "skipping"
    if name.startswith("<item "):
        return "item"
    return name


def jumps_in(body) -> bool:
    """Whether `break`/`continue` of this loop occur in body (not those of nested loops)."""
    todo = list(body)
    while todo:
        n = todo.pop()
        if isinstance(n, (ast.Break, ast.Continue)):
            return True
        if isinstance(n, (ast.For, ast.While, ast.AsyncFor, ast.FunctionDef, ast.AsyncFunctionDef,
                          ast.Lambda, ast.ClassDef)):
            continue
        todo.extend(ast.iter_child_nodes(n))
    return False


def without_jumps(loop):
    """`loop` (a for or while statement whose body breaks or continues) as statements that
    do the same with two flags: `break` sets both, `continue` the second; each iteration
    starts with `skip = broken` and the statements after one that may jump run under
    `if skip: pass else: ...`. With a break decided by data the flags are traced booleans
    and the skipped iterations are branches that change nothing; decided at compile time,
    they are Python bools and the statements vanish. A for loop's target is assigned only
    in iterations that run (after a break it keeps the value it broke with, as in Python),
    and the `else:` clause runs unless the loop broke. Returns (statements, break flag)."""
    broken, skip = flags_of(loop)

    def name(id_, ctx=ast.Load):
        return ast.Name(id=id_, ctx=ctx())

    def assign(target, value):
        return ast.Assign(targets=[name(target, ast.Store) if isinstance(target, str) else target],
                          value=value)

    def unless_skipped(stmts):
        return jump(ast.If(test=name(skip), body=[ast.Pass()], orelse=stmts))

    def jump(node):
        node.gradc_jump = True  # a join of this if is one of a break or continue (its refusals say so)
        return node

    def guard(stmts):
        out = []
        for k, s in enumerate(stmts):
            if isinstance(s, ast.Break):
                out += [assign(broken, ast.Constant(True)), assign(skip, ast.Constant(True))]
                return out  # statements after a break never run
            if isinstance(s, ast.Continue):
                out.append(assign(skip, ast.Constant(True)))
                return out
            jumps = jumps_in([s])
            if isinstance(s, ast.If) and jumps:
                body, orelse = guard(s.body), guard(s.orelse)
                if body is None or orelse is None:
                    return None
                s = jump(ast.copy_location(ast.If(test=s.test, body=body or [ast.Pass()], orelse=orelse), s))
            elif jumps:
                return None  # a jump inside with/try/match: not rewritten
            out.append(s)
            if jumps and k + 1 < len(stmts):
                rest = guard(stmts[k + 1:])
                if rest is None:
                    return None
                out.append(unless_skipped(rest))
                return out
        return out

    body = guard(loop.body)
    if body is None:
        return None
    if isinstance(loop, ast.For):
        item = f"<item {loop.lineno}:{loop.col_offset}>"
        body = [assign(skip, name(broken)), unless_skipped([assign(loop.target, name(item))] + body)]
        new = ast.For(target=name(item, ast.Store), iter=loop.iter, body=body, orelse=[], type_comment=None)
        new.break_flag = broken  # an unrolled loop stops once it is a compile-time True
    else:
        body = [assign(skip, name(broken)), unless_skipped(body)]
        new = ast.While(test=loop.test, body=body, orelse=[])
        new.break_flag = broken  # stmt_While stops once it is a compile-time True
    stmts = [assign(broken, ast.Constant(np.False_)), new]  # NumPy's bool: a loop region can carry it
    if loop.orelse:
        stmts.append(jump(ast.If(test=name(broken), body=[ast.Pass()], orelse=loop.orelse)))
    for s in stmts:
        for n in ast.walk(s):
            if not hasattr(n, "lineno") or n.lineno is None:
                ast.copy_location(n, loop)
    return stmts, (broken, skip) + ((item,) if isinstance(loop, ast.For) else ())


# ---------------------------------------------------------------------------
# Names a loop with `else` binds on every way out of it


class _Unbound:
    """The stand-in of a name not yet bound that a loop with `else` binds on every way out
    of it (bound_on_every_exit). In the flag form each if on data that breaks binds it in
    one branch only; joined with a value, the stand-in takes that value's kind (zeros the
    paths that hold it never read); read itself, it is Python's UnboundLocalError."""

    def __repr__(self) -> str:
        return "<unbound>"


UNBOUND = _Unbound()


def bound_on_every_exit(loop) -> set:
    """Names a `for`/`while` loop with `else` binds however it ends: before each of its
    `break`s (in the same iteration) and in the `else` clause, that neither the loop nor the
    `else` reads before binding them (and none deletes). Python reads them after the loop
    only on those paths, so a stand-in may hold them on the others."""
    if not loop.orelse:
        return set()
    at_breaks: list = []

    def targets(t) -> set:
        if isinstance(t, ast.Name):
            return {t.id}
        if isinstance(t, (ast.Tuple, ast.List)):
            return set().union(*(targets(e) for e in t.elts))
        if isinstance(t, ast.Starred):
            return targets(t.value)
        return set()  # x[i] = v, x.a = v bind no name

    def walk(stmts, bound: set):
        """The names bound after stmts on every path that falls through; None when a
        `break` of this loop hides where the walk cannot follow it."""
        bound = set(bound)
        for st in stmts:
            if isinstance(st, ast.Break):
                at_breaks.append(bound)
                return bound
            if isinstance(st, ast.Continue):
                return bound
            if isinstance(st, ast.If):
                a, b = walk(st.body, bound), walk(st.orelse, bound)
                if a is None or b is None:
                    return None
                bound |= a & b
            elif jumps_in([st]) or _breaks_in_inner_else(st):
                return None  # a break inside with/try/match, or in a nested loop's else
            elif isinstance(st, ast.Assign):
                bound |= set().union(*(targets(t) for t in st.targets))
            elif isinstance(st, ast.AnnAssign) and st.value is not None:
                bound |= targets(st.target)
        return bound

    if walk(loop.body, set()) is None or not at_breaks:
        return set()
    orelse = walk(loop.orelse, set())
    if orelse is None:
        return set()
    names = set.intersection(*at_breaks) & orelse
    header = loop.test if isinstance(loop, ast.While) else loop.iter
    excluded = exposed_reads(loop.body) | exposed_reads(loop.orelse) | _loads(header)
    if isinstance(loop, ast.For):
        excluded |= targets(loop.target)
    for node in ast.walk(ast.Module(body=loop.body + loop.orelse, type_ignores=[])):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Del):
            excluded.add(node.id)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            excluded |= set(node.names)
    return names - excluded


def _loads(node) -> set:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _breaks_in_inner_else(node) -> bool:
    """Whether a loop nested in node has a `break` in its `else` clause (it ends the outer loop)."""
    for n in ast.walk(node):
        if isinstance(n, (ast.For, ast.While)) and n.orelse and jumps_in(n.orelse):
            return True
    return False


def stand_in_for(value, builder, python_ints=(), mixed_floats=()):
    """What a name `UNBOUND` on one path holds there, joined with `value` from another:
    compile-time leaves as they are, zeros for traced ones (a broadcast scalar: no memory),
    weak as `value` is (a Python float or int, or a value that is a Python float on some
    paths), so that the join keeps the kind of number `value` has on the paths that read it."""
    if isinstance(value, (tuple, list)) and not hasattr(value, "_fields"):
        return type(value)(stand_in_for(e, builder, python_ints, mixed_floats) for e in value)
    if not isinstance(value, Value) or isinstance(value, Const):
        return value
    if value.ndim == 0:
        if value.pytype in (float, int) or value in mixed_floats:
            return Const((value.pytype or float)(0))
        if value in python_ints:
            return Const(0)
        return Const(np.zeros((), value.dtype))
    with builder:
        return builder.bind("broadcast_to", Const(np.zeros((), value.dtype)), shape=value.shape)
