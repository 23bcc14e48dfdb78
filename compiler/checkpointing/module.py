"""A StepPlan → one Python/NumPy module of step functions for the checkpointing runtime.

Each group of the plan becomes a function; groups whose code is the same (the
iterations of a loop, in the main) share one, so a 200-step loop gives a handful
of functions, not 400. Names inside a function are its own: arguments keep the
user's variable names where they have them, results are numbered v1, v2, ... from
the function's first line.
"""
from __future__ import annotations

import keyword
import re
import textwrap
from dataclasses import dataclass

from .plan import ChainPlan
from ..codegen import (INLINE_ARRAY_LIMIT, Naming, array_literal, const_names, constants,
                      entry_names, function_source, helper_source, helpers_used)
from ..syntax import docstring_text, key_text
from ..ir import Program, Value


@dataclass
class StepModule:
    source: str
    names: dict  # id(program) -> its function's name in the loaded module
    stack: str | None = None  # the function stacking rows (loop plans with stacked adjoints)
    functions: str = ""  # the step functions alone (a saved module writes its own header)


class StepNaming(Naming):
    """Local names: arguments by the user's variable names (made unique), then v1, v2, ...
    All of them come from the function's Namespace (codegen.Naming), which never hands
    out the module's names (np, helpers, constants)."""

    def __init__(self, program: Program, consts: dict):
        self.given: dict[Value, str] = {}  # filled as the base class claims the inputs
        super().__init__(program, "python", consts)

    def _claim_inputs(self, program: Program) -> None:
        for i, v in enumerate(program.inputs):
            if v.adjoint_of is not None and v.adjoint_of not in self.numbers and _hint(v.adjoint_of):
                name = self.space.name(("input", v), f"{_hint(v.adjoint_of)}_bar")
            elif v.adjoint_of is not None or v.tangent_of is not None:
                # Spelled after the value it is the adjoint (tangent) of, but two inputs can be
                # partial sums of one adjoint (x̄ accumulated by two later steps): every input
                # is a different value, so each gets its own name from the Namespace.
                name = self.base(v)
                if name in self.given.values():
                    name = self.space.name(("input", v), name)
            else:
                name = self.space.name(("input", v), _hint(v) or f"a{i}", f"a{i}")
            self.given[v] = name

    def base(self, v: Value) -> str:
        if v in self.given:
            return self.given[v]
        if v not in self.numbers and v.adjoint_of is None and v.tangent_of is None and _hint(v):
            return self._spell(("hint", _hint(v)), _hint(v))  # a view made in the reverse sweep, such as W.T
        return super().base(v)

    def _mark(self, v: Value, suffix: str, accent: str) -> str:
        if v in self.given:
            return self._spell((suffix, v), f"{self.given[v]}{suffix}")
        return super()._mark(v, suffix, accent)


SUFFIXES = {"getitem": "i", "transpose": "T", "reshape": "r", "expand_dims": "e", "broadcast_to": "b"}


def _hint(v: Value) -> str | None:
    """The user's name for v, or for the array v is a view of (`W[i]` → W_i)."""
    if _usable(v.name):
        return v.name
    op = v.producer
    if op is not None and op.prim.name in SUFFIXES and op.inputs and _usable(op.inputs[0].name):
        return f"{op.inputs[0].name}_{SUFFIXES[op.prim.name]}"
    return None


def _usable(name: str) -> bool:
    return bool(name) and name.isidentifier() and not keyword.iskeyword(name) \
        and not re.fullmatch(r"[vt]\d+|a\d+", name)


DOCS = {
    "prologue": "Values every step reads (computed once, kept for the whole run).",
    "forward": "One step forward: the values of the next state.",
    "reverse": "One step backward: recompute the step from its state, then its reverse sweep.",
    "finish": "The gradients, from the adjoints of the prologue's values.",
}


def step_module(plan: ChainPlan, name: str, origin: str, consts: dict | None = None,
                avoid=()) -> StepModule:
    """`consts`: the module's constant names (a saved module names them with its other
    functions'); `avoid`: module-level names the step functions must not take."""
    groups = plan.programs()
    consts = const_names(*groups) if consts is None else consts
    order: dict[str, tuple[str, list[int]]] = {}  # function text -> (kind, steps using it)
    texts: dict[int, str] = {}  # id(program) -> its text (a loop's steps share one program)

    def function(call, kind: str, step: int | None) -> str:
        program = call.program
        if id(program) not in texts:
            texts[id(program)] = function_source(program, "FNAME", DOCS[kind],
                                                 naming=StepNaming(program, consts))
        text = texts[id(program)]
        order.setdefault(text, (kind, []))[1].append(step)
        return text

    if plan.prologue is not None:
        function(plan.prologue, "prologue", None)
    for i, c in enumerate(plan.forward):
        function(c, "forward", i)
    for i in reversed(range(plan.steps)):
        function(plan.reverse[i], "reverse", i)
    if plan.finish is not None:
        function(plan.finish, "finish", None)
    wanted = {text: _function_name(kind, steps) for text, (kind, steps) in order.items()}
    if plan.stacks or plan.gathers:
        wanted[STACK] = "stack_rows"
    entries = entry_names(list(wanted.values()), groups, consts, extra=avoid)
    names = {text: entries[w] for text, w in wanted.items()}
    wrt = ", ".join(plan.adjoint.inputs[i].name for i in plan.adjoint.wrt)

    roles = ["the step functions to advance the state",
             "the adjoint functions to reverse steps under a checkpointing schedule"]
    if plan.prologue is not None:
        roles.insert(0, "`prologue` once")
    if plan.finish is not None:
        roles.append("`finish` for the gradients")
    how = ", ".join(roles[:-1]) + " and " + roles[-1]
    parts = [f'"""{docstring_text(name)} and its gradient with respect to {docstring_text(wrt)}, as '
             f"{plan.steps} checkpointing steps.\n\n{docstring_text(f'Generated by gradc from {origin}.')} "
             "Do not edit: regenerate instead.\n"
             + textwrap.fill(f"The gradc runtime (runtime/checkpoint.py) runs {how}.", 88)
             + '\n"""\nimport numpy as np']
    helpers = helpers_used(*groups)
    if helpers:
        parts.append("# Helpers.\n" + helper_source(helpers).rstrip())
    values = constants(*groups)
    if values:
        lines = ["# Constants captured from the module that defines the function."]
        for k, v in values.items():
            lines.append(f"{k} = {array_literal(v)}" if v.size <= INLINE_ARRAY_LIMIT
                         else f"# {k}: {v.dtype.name}{list(v.shape)}, bound by the gradc runtime")
        parts.append("\n".join(lines))
    functions = []
    for text, (kind, steps) in order.items():
        comment = f"# {'adjoint of ' if kind == 'reverse' else ''}{_ranges(steps)}\n" if kind in STEPPED else ""
        functions.append(comment + text.replace("def FNAME(", f"def {names[text]}(", 1).rstrip())
    if plan.stacks or plan.gathers:
        functions.append(f"def {names[STACK]}(*rows):\n"
                         '    """Rows the steps made, in step order, as one array."""\n'
                         "    return np.stack(rows)")
    ids = {i: names[t] for i, t in texts.items()}
    return StepModule("\n\n\n".join(parts + functions) + "\n", ids, names.get(STACK), "\n\n\n".join(functions))


STACK = "\0stack"  # the stacking function's entry in `names` (no function text is like it)
STEPPED = ("forward", "reverse")


def _function_name(kind: str, steps: list) -> str:
    """prologue, finish, step_<first step>, step_<first step>_adjoint."""
    if kind not in STEPPED:
        return kind
    return f"step_{min(steps)}" + ("_adjoint" if kind == "reverse" else "")


def _ranges(steps: list[int]) -> str:
    """[0, 1, 2, 5] → 'steps 0-2, 5'."""
    steps = sorted(set(steps))
    runs, start = [], steps[0]
    for a, b in zip(steps, steps[1:] + [None]):
        if b != a + 1:
            runs.append(f"{start}" if start == a else f"{start}-{a}")
            start = b
    return ("step " if len(steps) == 1 else "steps ") + ", ".join(runs)


# ---------------------------------------------------------------------------
# A checkpointed gradient as one standalone module (Compiled.save)


def saved_module(spec, *, origin: str, policy: str, npz: str) -> tuple[str, dict] | None:
    """The module `Compiled.save` writes for a checkpointed gradient: the value function, the
    step functions, the chain and the schedule as data, and a copy of the runtime's executor
    (`run_steps`), so it runs the same schedule with NumPy alone. Returns (source, large
    constants for the .npz), or None where it cannot (no user signature, a helper whose
    name is taken, a constant output it cannot write)."""
    import inspect

    import numpy as np

    from gradc.runtime import checkpoint as rt

    from ..codegen import function_source, module_names, result_text, scalar_literal
    from ..syntax import Namespace

    entry, checkpointed, forward = spec.entry, spec.checkpointed, spec.ir
    if entry is None:
        return None
    plan, chain_obj = checkpointed.plan, checkpointed.chain
    groups = plan.programs()
    name = forward.name
    names = const_names(forward, *groups, avoid=entry.param_names(), entry=entry)
    values = {n: np.asarray(c.value) for c, n in names.items()}
    big = {k: v for k, v in values.items() if v.size > INLINE_ARRAY_LIMIT}
    entries, renamed = module_names([name, f"{name}_value_and_grad"], (forward, *groups), names,
                                    extra=("os", "_consts") if big else ())
    if any(new != old for old, new in renamed.items()):
        return None  # a helper yields its name to an entry point: the step functions call it by its own
    fname, gname = entries[name], entries[f"{name}_value_and_grad"]
    space = Namespace({"np", "os", "_consts", *entries.values(), *names.values(), *renamed.values(),
                       *entry.param_names(), *(v.name for v in forward.inputs if isinstance(v.name, str))})
    checker, runner = space.name("checker", "check_arguments"), space.name("runner", "run_steps")
    chain_name, schedule_name = space.name("chain", "CHAIN"), space.name("schedule", "SCHEDULE")
    module = step_module(plan, name, origin, consts=names,
                         avoid={checker, runner, chain_name, schedule_name, fname, gname, "os", "_consts",
                                *entry.param_names()})

    # the chain as data, with the SSA ids renumbered 0, 1, 2, ... in order of appearance
    chain = rt.plain_chain(chain_obj)
    keys: dict = {}

    def key(k):
        return k if k == rt.STEP else keys.setdefault(k, len(keys))

    def call(step, planned):
        if step is None:
            return "None"
        _, args, outs = step
        fn_name = module.names[id(planned.program)] if planned is not None else module.stack
        return f"({fn_name}, {tuple(key(k) for k in args)!r}, {tuple(key(k) for k in outs)!r})"

    inputs = tuple(key(k) for k in chain["inputs"])
    outputs = []
    for o in chain["outputs"]:
        if rt.is_fixed(o):
            v = np.asarray(o[1])
            if v.ndim == 0:
                outputs.append(scalar_literal(o[1]).text if isinstance(o[1], np.generic)
                               else repr(o[1]))
            elif v.size <= INLINE_ARRAY_LIMIT:
                outputs.append(f'("fixed", {array_literal(v)})')
                continue
            elif not v.any():
                outputs.append(f'("fixed", np.zeros({v.shape!r}, dtype=np.{v.dtype.name}))')
                continue
            else:
                return None
            outputs[-1] = f'("fixed", {outputs[-1]})'
        else:
            outputs.append(repr(key(o)))
    lines = [f"{chain_name} = {{",
             f'    "inputs": {inputs!r},',
             f'    "prologue": {call(chain["prologue"], plan.prologue)},',
             '    "forward": [']
    lines += [f"        {call(step, c)}," for step, c in zip(chain["forward"], plan.forward)]
    lines += ["    ],", '    "reverse": [']
    lines += [f"        {call(step, c)}," for step, c in zip(chain["reverse"], plan.reverse)]
    lines += ["    ],", '    "stacks": [']
    lines += [f"        {call(step, None)}," for step in chain["stacks"]]
    lines += ["    ],", f'    "kept": {[tuple(key(k) for k in ks) for ks in chain["kept"]]!r},', '    "gathers": [']
    lines += [f"        ({i}, {call(step, None)})," for i, step in chain["gathers"]]
    lines += ["    ],", f'    "finish": {call(chain["finish"], plan.finish)},',
              f'    "states": {[tuple(key(k) for k in st) for st in chain["states"]]!r},',
              f'    "release": {[tuple(key(k) for k in r) for r in chain["release"]]!r},',
              f'    "outputs": [{", ".join(outputs)}],', "}"]
    actions = [repr(rt.plain_action(a)) for a in checkpointed.schedule.actions]
    schedule = _wrapped(f"{schedule_name} = [", actions, "]")

    wrt = ", ".join(entry.wrt_names)
    head = (f'"""{docstring_text(name)} and its gradient with respect to {docstring_text(wrt)}, '
            f"checkpointed: {docstring_text(policy)} over {plan.steps} steps.\n\n"
            f"{docstring_text(f'Generated by gradc from {origin}.')} Do not edit: regenerate instead.\n"
            + textwrap.fill(f"{gname} runs the step functions below under {schedule_name} (the "
                            f"schedule, as data) with {runner}, a copy of gradc's checkpointing "
                            "executor: it needs nothing but NumPy.", 88) + '\n"""')
    parts = [head + ("\nimport os\n\nimport numpy as np" if big else "\nimport numpy as np")]
    helpers = helpers_used(forward, *groups)
    if helpers:
        parts.append("# Helpers from gradc's runtime.support.\n" + helper_source(helpers).rstrip())
    if values:
        const_lines = ["# Constants captured from the module that defines the function."]
        for k, v in values.items():
            if v.size <= INLINE_ARRAY_LIMIT:
                const_lines.append(f"{k} = {array_literal(v)}")
        if big:
            const_lines.append(f"_consts = np.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "
                               f"{npz!r}))")
            const_lines += [f"{k} = _consts[{k!r}]" for k in big]
        parts.append("\n".join(const_lines))
    checking = entry.checking_function(checker, "this module", names)
    if checking is not None:
        parts.append(checking)
    parts.append(function_source(forward, fname, f"Value of {name}.", consts=names, entry=entry.for_value(),
                                 helpers=renamed, checker=checker if checking is not None else None).rstrip())
    parts.append(module.functions)
    executor = inspect.getsource(rt.run_steps).replace("def run_steps(", f"def {runner}(", 1)
    parts.append("# The checkpointing executor (gradc's runtime/checkpoint.py run_steps).\n" + executor.rstrip())
    parts.append("# Which function each step calls, and where its values live (by key).\n" + "\n".join(lines))
    parts.append(f"# The schedule: {docstring_text(policy)} over {plan.steps} steps.\n" + schedule)
    kinds = entry.kinds or [()] * len(entry.access)
    leaves = []
    for (param, path), kind in zip(entry.access, kinds):
        source = f"{param}{''.join(f'[{key_text(k)}]' for k in path)}"
        leaves.append(f"np.float64({source})" if kind[:1] == ("float",) else source)
    sig = ", ".join(entry.signature_parts(names))
    body = [f"def {gname}({sig}):",
            f'    """Value of {docstring_text(name)} and its gradient with respect to {docstring_text(wrt)}."""']
    if checking is not None:
        body.append(f"    {checker}({', '.join(entry.call_parts())})")
    leaf_tuple = f"({leaves[0]},)" if len(leaves) == 1 else f"({', '.join(leaves)})"
    call = f"    value, *grads = {runner}({chain_name}, {schedule_name}, {leaf_tuple})"
    if len(call) > 96:
        call = "\n".join([f"    value, *grads = {runner}({chain_name}, {schedule_name}, ("]
                         + [f"        {leaf}," for leaf in leaves] + ["    ))"])
    body.append(call)
    texts = [f"grads[{i}]" for i in range(_count_leaves(entry.grads))]
    value = result_text("value", entry.result, None) if entry.result is not None else "value"
    body.append(f"    return {value}, {entry.gradient_text(texts, split=True)}")
    parts.append("\n".join(body))
    return "\n\n\n".join(parts) + "\n", big


def _count_leaves(structure) -> int:
    from ..codegen import GradLeaf

    if isinstance(structure, GradLeaf):
        return 1
    items = structure.values() if isinstance(structure, dict) else structure
    return sum(_count_leaves(t) for t in items)


def _wrapped(head: str, items: list[str], tail: str, width: int = 96) -> str:
    """`head item, item, ... tail` on one line, or as many items a line as fit in `width`."""
    one = head + ", ".join(items) + tail
    if len(one) <= width:
        return one
    lines, line = [head], "    "
    for item in items:
        piece = item + ", "
        if len(line) + len(piece) > width and line.strip():
            lines.append(line.rstrip())
            line = "    "
        line += piece
    if line.strip():
        lines.append(line.rstrip())
    lines.append(tail)
    return "\n".join(lines)
