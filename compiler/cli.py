"""The gradc command line: compile, inspect and check gradients from the shell.

    gradc grad    examples/logistic_rss.py:rss_loss --wrt w --at w=-1,1.5,0.5
    gradc show    examples/logistic_rss.py:rss_loss --wrt w --at w=-1,1.5,0.5 --source
    gradc compile examples/logistic_rss.py:rss_loss --wrt w --at w=-1,1.5,0.5 -o rss_grad.py
    gradc trace   examples/logistic_rss.py:rss_loss --wrt w --at w=-1,1.5,0.5
    gradc graph   examples/logistic_rss.py:rss_loss --wrt w --at w=-1,1.5,0.5 -o graph.png --both
    gradc check   examples/logistic_rss.py:rss_loss --wrt w --at w=-1,1.5,0.5
    gradc grad    "sqrt(x**2 + exp(x**2)) + cos(x**2 + exp(x**2))" --wrt x --at x=0.5
    gradc show    examples/logistic_rss.py:rss_loss --wrt w --at w=-1,1.5,0.5 --checkpoint revolve:3 --schedule

(`gradc COMMAND --help` shows an example that needs no file: a formula.)
    gradc hessian examples/logistic_rss.py:rss_loss --wrt w --at w=-1,1.5,0.5
    gradc hvp     examples/logistic_rss.py:rss_loss --wrt w --at w=-1,1.5,0.5 --direction w=1,0,0

User mistakes print a message (with a caret under the offending code) and exit 2.
"""
from __future__ import annotations

import argparse
import copy
import importlib.util
import inspect
import io
import keyword
import math
import os
import re
import sys
import tokenize
from pathlib import Path

import numpy as np

from gradc.runtime.checkpoint import Revolve, Segments

from .api import OverwriteRefused, check_output
from .api import compile as compile_fn
from .errors import CompileError
from .tracebacks import full_tracebacks


class UsageError(Exception):
    """A mistake on the command line (not in the user's function)."""


# -- reading the command line -----------------------------------------------------


def load_function(target: str):
    """`path/to/file.py:function` → the function object (importing the user's module)."""
    path, _, name = target.rpartition(":")
    if not path or not name:
        raise UsageError(f"expected FILE.py:FUNCTION, got {target!r}")
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"no such file: {path}")
    sys.path.insert(0, str(file.resolve().parent))
    spec = importlib.util.spec_from_file_location(file.stem, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[file.stem] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # the user's module itself failed to import: say so, briefly
        raise UsageError(f"importing {path} failed: {type(e).__name__}: {e}") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise UsageError(f"{path} defines no function {name!r}")
    return fn


def _npy_problem(e: Exception) -> str:
    """Why np.load refused a file, in a sentence (object arrays need pickles, never loaded)."""
    text = str(e)
    if "pickle" in text or "Object arrays" in text:
        return "it is not an .npy/.npz file of numeric arrays (object arrays and pickles are never loaded)"
    return f"it is not a valid .npy/.npz file ({type(e).__name__}: {text.splitlines()[0] if text else ''})"


def load_npz(item: str) -> dict:
    """`--at args.npz`: its arrays by name (numeric arrays only: pickles are never loaded)."""
    try:
        with np.load(item, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise UsageError(f"cannot read {item}: not an .npz file of named arrays")
            return {k: data[k] for k in data.files}
    except UsageError:
        raise
    except OSError as e:
        raise UsageError(f"cannot read {item}: {e.strerror or e}") from None
    except Exception as e:  # noqa: BLE001 - not an .npz file, or one holding objects (pickles)
        raise UsageError(f"cannot read {item}: {_npy_problem(e)}") from None


def parse_value(text: str):
    """`0.5` → float, `3` → int, `1,2,3` → vector, `1,2;3,4` → matrix, `x.npy` → array."""
    if text.endswith(".npy"):
        try:
            value = np.load(text, allow_pickle=False)
        except OSError as e:
            raise UsageError(f"cannot read {text}: {e.strerror or e}") from None
        except Exception as e:  # noqa: BLE001 - not an .npy file, or one holding objects (pickles)
            raise UsageError(f"cannot read {text}: {_npy_problem(e)}") from None
        if not isinstance(value, np.ndarray):
            raise UsageError(f"cannot read {text}: not an .npy file of one array")
        return value
    try:
        if ";" in text:
            return np.array([[float(v) for v in row.split(",")] for row in text.split(";")])
        if "," in text:
            return np.array([float(v) for v in text.split(",") if v.strip()])
        if text.lstrip("+-").isdigit():
            return int(text)
        return float(text)
    except ValueError:
        raise UsageError(f"cannot read {text!r} as a number or list of numbers") from None


# --checkpoint NAME[:N]: NAME -> (the policy for N, whether N is "none", "optional" or "required")
CHECKPOINT_POLICIES = {
    "none": (lambda n: None, "none"),
    "segments": (lambda n: Segments(n), "optional"),
    "revolve": (lambda n: Revolve(snapshots=n), "required"),
}
CHECKPOINT_FORMS = "none, segments, segments:K or revolve:S (K, S positive integers)"


def parse_policy(text: str):
    """`none`, `segments`, `segments:K`, `revolve:S` → the checkpoint= policy object
    (argparse turns the error into a usage message and exit status 2)."""
    m = re.fullmatch(r"([a-z]+)(?::(\d+))?", text.strip().lower())
    name, digits = m.groups() if m else (None, None)
    make, number = CHECKPOINT_POLICIES.get(name, (None, "none"))
    n = int(digits) if digits else None
    allowed = {"none": n is None, "optional": n != 0, "required": bool(n)}
    if make is None or not allowed[number]:
        raise argparse.ArgumentTypeError(f"expected {CHECKPOINT_FORMS}, got {text!r}")
    return make(n)


def parse_wrt(text: str) -> tuple:
    return tuple(int(w) if w.lstrip("-").isdigit() else w for w in text.split(","))


def parse_at(items, compiled) -> dict:
    """Argument values by name; integer literals given for `wrt` arguments become floats."""
    names = compiled.arg_names
    params = compiled.signature.parameters
    values: dict[str, object] = {}
    for item in items or []:
        if item.endswith(".npz"):
            values.update(load_npz(item))
            continue
        name, eq, text = item.partition("=")
        name = name.strip()
        if not eq:
            raise UsageError(f"--at expects NAME=VALUE, got {item!r}")
        if name not in names:
            raise UsageError(f"--at {name}: {compiled.name} has no argument of that name "
                             f"(it takes {', '.join(names)})")
        values[name] = parse_value(text.strip())
    missing = [n for n in names if n not in values and params[n].default is inspect.Parameter.empty]
    if missing:
        raise UsageError(f"no value for argument(s) {', '.join(missing)}: pass --at NAME=VALUE")
    wrt_names = {names[i] for i in compiled.wrt}
    return {n: (float(v) if n in wrt_names and isinstance(v, int) else v) for n, v in values.items()}


def load_target(target: str):
    """FILE.py:FUNCTION → the function; anything else is a math formula (a string)."""
    path, colon, _ = target.rpartition(":")
    if colon and path.endswith(".py"):
        return load_function(target)
    if target.endswith(".py") or (colon and Path(path).suffix):
        raise UsageError(f"expected FILE.py:FUNCTION, got {target!r}")
    return target


def compiled_from(args, eager: bool = True):
    wrt = parse_wrt(args.wrt)
    compiled = compile_fn(load_target(args.target), wrt=wrt if len(wrt) > 1 else wrt[0],
                          checkpoint=getattr(args, "checkpoint", None))
    kwargs = parse_at(args.at, compiled)
    if eager:
        compiled.specialize(**kwargs)
    return compiled, kwargs, wrt


# -- output helpers ---------------------------------------------------------------

_COLOURS = {"comment": "\033[2;3m", "string": "\033[32m", "number": "\033[36m",
            "keyword": "\033[1;35m", "def": "\033[1;34m"}
_RESET = "\033[0m"


def highlight(source: str) -> str:
    """ANSI colours for Python source: comments, strings, numbers, keywords, defined names."""
    out, pos_line, pos_col = [], 1, 0
    lines = source.splitlines(keepends=True)
    previous = None
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return source
    for tok in tokens:
        (srow, scol), (erow, ecol) = tok.start, tok.end
        out.append(_slice(lines, (pos_line, pos_col), (srow, scol)))
        text = tok.string
        kind = None
        if tok.type == tokenize.COMMENT:
            kind = "comment"
        elif tok.type == tokenize.STRING:
            kind = "string"
        elif tok.type == tokenize.NUMBER:
            kind = "number"
        elif tok.type == tokenize.NAME and keyword.iskeyword(text):
            kind = "keyword"
        elif tok.type == tokenize.NAME and previous == "def":
            kind = "def"
        out.append(f"{_COLOURS[kind]}{text}{_RESET}" if kind and text else text)
        previous = text if tok.type == tokenize.NAME else None
        pos_line, pos_col = erow, ecol
    out.append(_slice(lines, (pos_line, pos_col), (len(lines) + 1, 0)))
    return "".join(out)


def _slice(lines, start, end) -> str:
    (sl, sc), (el, ec) = start, end
    if sl == el:
        return lines[sl - 1][sc:ec] if sl - 1 < len(lines) else ""
    parts = [lines[sl - 1][sc:]] if sl - 1 < len(lines) else []
    parts += lines[sl:el - 1]
    if el - 1 < len(lines):
        parts.append(lines[el - 1][:ec])
    return "".join(parts)


def _print_source(text: str) -> None:
    print(highlight(text) if sys.stdout.isatty() else text)


def _fmt(x, precision: int) -> str:
    return np.array2string(np.asarray(x), precision=precision, suppress_small=True)


# -- subcommands ------------------------------------------------------------------


def cmd_grad(args) -> int:
    compiled, kwargs, wrt = compiled_from(args, eager=False)
    value, grads = compiled.value_and_grad(**kwargs)
    grads = grads if len(wrt) > 1 else (grads,)
    print(f"value: {_fmt(value, args.precision)}")
    for w, g in zip(wrt, grads):
        print(f"d/d{w}: {_fmt(g, args.precision)}")
    return 0


def cmd_show(args) -> int:
    _need_policy(args, "--schedule")
    compiled, _, _ = compiled_from(args)
    chosen = [k for k in ("ir", "adjoint_ir", "source", "schedule") if getattr(args, k)] or ["ir", "source"]
    for k in chosen:
        if k == "source":
            _print_source(compiled.source)
        elif k != "schedule":
            print(compiled.ir if k == "ir" else compiled.adjoint_ir)
            print()
    if compiled.schedule is not None:
        print(_schedule_text(compiled, full="schedule" in chosen))
    return 0


def _schedule_text(compiled, full: bool) -> str:
    """What checkpointing does: the stored/recomputed counts, then the schedule, in full
    (every action) or as its first line and the number of actions of each kind."""
    from .regions import flat_view
    from .trace import checkpointing

    spec = flat_view(compiled.latest)  # a loop's iterations are the steps: count their values
    marks = checkpointing(spec, spec.adjoint_ir)
    schedule = compiled.schedule
    if full:
        return f"{marks.summary}\n{schedule.listing()}"
    counts = ", ".join(f"{k} {n}" for k, n in schedule.counts().items())
    return (f"{marks.summary}\nschedule {str(schedule).splitlines()[0]}\n"
            f"  actions: {counts} (--schedule lists them)")


def _need_policy(args, flag: str) -> None:
    """Schedules exist only with a checkpoint policy: say so before compiling anything."""
    if getattr(args, "schedule", False) and getattr(args, "checkpoint", None) is None:
        raise UsageError(f"{flag} needs a checkpoint policy: add --checkpoint segments or "
                         "--checkpoint revolve:S")


def _input_files(args) -> tuple:
    """The user's files this command reads (never written over, even with --force)."""
    path, colon, _ = args.target.rpartition(":")
    files = [path] if colon and path.endswith(".py") else []
    for item in getattr(args, "at", None) or []:  # --at x=data.npy, --at args.npz
        text = item.partition("=")[2] or item
        if text.endswith((".npy", ".npz")):
            files.append(text.strip())
    return tuple(f for f in files if Path(f).is_file())


def _check_output(args, path, compiled=None) -> None:
    """-o PATH: refuse the input file always, an existing file without --force."""
    protected = _input_files(args) + (compiled.source_files() if compiled is not None else ())
    try:
        check_output(path, overwrite=args.force, protected=protected)
    except OverwriteRefused as e:
        raise UsageError(_refusal(e)) from None


def _refusal(e: OverwriteRefused) -> str:
    if e.reason == "source":
        return f"refusing to write over {e.path}: it is the input file (not even with --force)"
    return f"{e.path} already exists; pass --force to replace it"


def cmd_compile(args) -> int:
    _check_output(args, args.output)
    compiled, _, _ = compiled_from(args)
    _check_output(args, args.output, compiled)
    try:
        path = compiled.save(args.output, overwrite=args.force)
    except OverwriteRefused as e:  # the .npz of large constants beside it
        raise UsageError(_refusal(e)) from None
    except OSError as e:
        raise UsageError(f"cannot write {args.output}: {e.strerror or e}") from None
    print(f"wrote {path}" + (f" (and {path.stem}_consts.npz)" if path.with_name(f"{path.stem}_consts.npz").exists()
                             else ""))
    return 0


def cmd_trace(args) -> int:
    compiled, kwargs, _ = compiled_from(args, eager=False)
    table = compiled.trace(**kwargs)
    print({"text": str, "markdown": lambda t: t.to_markdown(), "html": lambda t: t.to_html()}[args.format](table))
    return 0


def cmd_graph(args) -> int:
    if args.schedule:
        return _write_schedule(args)
    _check_output(args, args.output)
    compiled, kwargs, _ = compiled_from(args)
    kind = "both" if args.both else "adjoint" if args.adjoint else "forward"
    try:
        if args.unroll:  # loops written out: the trace table's values label the flat program
            from .render import build_graph, render_graph

            values = compiled.trace(**kwargs) if args.values else None
            graph = build_graph(compiled.latest, kind, values, unroll=True)
            for out in (Path(args.output), Path(args.output).with_suffix(".dot")):  # (.dot: without Graphviz)
                check_output(out, overwrite=args.force, protected=compiled.source_files())
            path = render_graph(graph, args.output)
        else:
            values = _graph_values(compiled, kwargs) if args.values else None
            path = compiled.render(args.output, kind=kind, values=values, overwrite=args.force)
    except OverwriteRefused as e:
        raise UsageError(_refusal(e)) from None
    print(f"wrote {path}")
    return 0


def _graph_values(compiled, kwargs):
    """The values that label the graph's nodes: a trace table; for a program with loops or
    branches (drawn as clusters, values outside them only) its inputs' values, from which
    the graph runs the program once: no trace of every iteration, no limit on a while loop's."""
    from .regions import bodies

    spec = compiled.latest
    program = spec.adjoint_ir if spec.adjoint_ir is not None else spec.ir
    if not any(bodies(op) for op in program.ops):
        return compiled.trace(**kwargs)
    inputs = compiled._inputs(spec, compiled._arguments((), kwargs))  # (bound as `trace` binds them)
    return dict(zip(program.inputs, inputs))


def _write_schedule(args) -> int:
    """`graph --schedule`: the checkpointing timeline instead of the computational graph."""
    _need_policy(args, "graph --schedule")
    path = Path(args.output)
    if path.suffix.lower() != ".svg":
        raise UsageError(f"schedules are drawn as SVG: use -o {path.with_suffix('.svg')}")
    _check_output(args, path)
    compiled, _, _ = compiled_from(args)
    _check_output(args, path, compiled)
    compiled.schedule.render(path)
    print(f"wrote {path}")
    return 0


def cmd_check(args) -> int:
    """Finite differences against the compiled gradient. NaN or infinity anywhere (an
    argument, the value, a gradient entry, a difference quotient) is a MISMATCH too.
    For a Python function the differences are of the function itself, run by Python on
    copies of the arguments (an independent oracle), and gradc's value is compared with
    its value; a formula is differenced through its compiled value."""
    compiled, kwargs, wrt = compiled_from(args, eager=False)
    names = compiled.arg_names
    problems = [f"argument {name} is not finite: {where}" for name in names if name in kwargs
                for where in [_non_finite(kwargs[name], name)] if where]
    value, grads = compiled.value_and_grad(**kwargs)
    grads = grads if len(wrt) > 1 else (grads,)
    where = _non_finite(value, "value")
    if where:
        problems.append(f"the value is not finite at this point: {where}")
    python_fn = getattr(compiled.frontend, "fn", None) if compiled.python else None
    if python_fn is not None:
        def value_at(point):
            return python_fn(**copy.deepcopy(point))
        try:
            expected = value_at(kwargs)
        except Exception as e:  # noqa: BLE001 - the user's own function failed where gradc did not
            problems.append(f"the Python function raised {type(e).__name__} at this point ({e}); "
                            f"gradc computed the value {value}")
            python_fn = None
        else:
            difference = _value_difference(value, expected)
            if difference is not None and not difference <= args.tolerance:
                problems.append(f"gradc's value {_fmt(value, 17)} differs from the Python function's "
                                f"{_fmt(expected, 17)} (relative difference {difference:.2e})")
            elif difference is not None:
                print(f"value: relative difference to the Python function {difference:.2e}")
    if python_fn is None:
        def value_at(point):
            return compiled.value(**point)
    worst = 0.0
    for w, g in zip(wrt, grads):
        name = w if isinstance(w, str) else names[w]
        where = _non_finite(g, f"d/d{name}")
        if where:
            problems.append(f"the gradient is not finite: {where}")
            continue
        err, bad = _check_one(value_at, kwargs, name, np.asarray(g, dtype=np.float64), args.eps)
        problems += bad
        if not bad:
            print(f"d/d{name}: worst relative error {err:.2e}")
            worst = max(worst, err)
    for p in problems:
        print(f"MISMATCH: {p}")
    ok = not problems and worst <= args.tolerance
    verdict = (f"{len(problems)} finding(s) (above)" if problems
               else f"worst relative error {worst:.2e}")
    print(f"{'OK' if ok else 'MISMATCH'}: {verdict} (tolerance {args.tolerance:g})")
    return 0 if ok else 1


def _value_difference(value, expected) -> float | None:
    """The relative difference of gradc's value and the Python function's (0 when both are
    the same NaN or infinity; inf when their shapes differ or one is not a number)."""
    try:
        a = np.asarray(value, dtype=np.float64)
        b = np.asarray(expected, dtype=np.float64)
    except (TypeError, ValueError):
        return math.inf
    if a.shape != b.shape:
        return math.inf
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    if np.all(same):
        return 0.0
    if not (np.all(np.isfinite(a[~same])) and np.all(np.isfinite(b[~same]))):
        return math.inf
    scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-8)
    return float(np.max(np.abs(a - b) / scale))


def _non_finite(x, label: str) -> str:
    """'' if every entry of x is finite (or x is not numeric), else where the first is not."""
    try:
        a = np.asarray(x)
    except Exception:  # noqa: BLE001 - not an array: nothing numeric to check
        return ""
    if a.dtype.kind not in "fc" or np.isfinite(a).all():
        return ""
    bad = np.argwhere(~np.isfinite(a))
    idx = tuple(int(i) for i in bad[0])
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    at = f"{label}[{', '.join(map(str, idx))}]" if idx else label
    return f"{at} = {a[idx]}{more}"


def _check_one(value_at, kwargs, name, g, eps) -> tuple[float, list]:
    """Central differences: every entry for small arguments, random directions for large ones.
    Returns the worst relative error and what was not finite."""
    x0 = np.asarray(kwargs[name], dtype=np.float64)
    rng = np.random.default_rng(0)
    if x0.size <= 64:
        directions = [(f"{name}[{', '.join(map(str, np.unravel_index(i, x0.shape)))}]" if x0.ndim else name,
                       np.eye(x0.size)[i].reshape(x0.shape)) for i in range(x0.size)]
    else:
        directions = [(f"random direction {k} in {name}", rng.standard_normal(x0.shape)) for k in range(8)]
    worst, problems = 0.0, []
    for label, d in directions:
        def f(t):
            moved = dict(kwargs)
            moved[name] = (x0 + t * d) if x0.ndim else float(x0 + t * d)
            return float(value_at(moved))
        try:
            ahead, behind = f(eps), f(-eps)
        except Exception as e:  # noqa: BLE001 - the user's function failed a step away
            problems.append(f"d/d{name}: the function raised {type(e).__name__} ({e}) a step of {eps:g} "
                            f"along {label}")
            continue
        numeric = (ahead - behind) / (2 * eps)
        if not math.isfinite(numeric):
            problems.append(f"d/d{name}: the finite difference along {label} is not finite "
                            f"(f(+eps) = {ahead}, f(-eps) = {behind}, eps = {eps:g})")
            continue
        exact = float(np.sum(g * d))
        worst = max(worst, abs(numeric - exact) / max(abs(numeric), abs(exact), 1e-8))
    return worst, problems


def digits(text: str) -> int:
    """--precision: a whole number of digits, 0 to 100."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of digits, got {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected a number of digits from 0 to 100, got {text!r}")
    return value


def positive_number(text: str) -> float:
    """--eps: a positive finite number (argparse makes the error a usage message, exit 2)."""
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def non_negative_number(text: str) -> float:
    """--tolerance: a finite number >= 0."""
    value = _number(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def cmd_jacobian(args) -> int:
    compiled, kwargs, wrt = compiled_from(args, eager=False)
    J = compiled.jacobian(*_positional(compiled, kwargs), mode=args.mode)
    print(f"mode: {compiled.jacobian_mode}")
    for w, block in zip(wrt, J if len(wrt) > 1 else (J,)):
        print(f"d out/d{w}:\n{_fmt(block, args.precision)}")
    return 0


def cmd_hessian(args) -> int:
    compiled, kwargs, wrt = compiled_from(args, eager=False)
    H = compiled.hessian(*_positional(compiled, kwargs))
    blocks = H if len(wrt) > 1 else ((H,),)
    for i, wi in enumerate(wrt):
        for j, wj in enumerate(wrt):
            print(f"d²/d{wi} d{wj}:\n{_fmt(blocks[i][j], args.precision)}")
    return 0


def cmd_hvp(args) -> int:
    compiled, kwargs, wrt = compiled_from(args, eager=False)
    directions = []
    for w in wrt:
        name = w if isinstance(w, str) else compiled.arg_names[w]
        given = dict(item.partition("=")[::2] for item in args.direction or [])
        if name not in given:
            raise UsageError(f"no direction for {name}: pass --direction {name}=VALUE")
        directions.append(np.asarray(parse_value(given[name]), dtype=np.float64))
    out = compiled.hvp(*_positional(compiled, kwargs), tuple(directions) if len(wrt) > 1 else directions[0],
                       mode=args.mode)
    for w, hv in zip(wrt, out if len(wrt) > 1 else (out,)):
        print(f"(H v)_{w}: {_fmt(hv, args.precision)}")
    return 0


def _positional(compiled, kwargs) -> list:
    params = compiled.signature.parameters
    return [kwargs[n] if n in kwargs else params[n].default for n in compiled.arg_names]


# -- the parser -------------------------------------------------------------------

# Help examples work wherever gradc is installed: a formula (the lecture's seed 002) needs no file.
EXAMPLE = "'sqrt(x**2 + exp(x**2)) + cos(x**2 + exp(x**2))' --wrt x --at x=0.5"
CHECKPOINTING = ("grad", "show", "trace", "graph", "check")  # the commands taking --checkpoint


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradc", description="A gradient compiler for Python/NumPy loss functions.",
        epilog=(f"example: gradc grad {EXAMPLE}\n"
                "a Python loss is FILE.py:FUNC, e.g. gradc grad model.py:loss --wrt w --at w=1,2,3\n"
                "run `gradc COMMAND --help` for each command."),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help, example, run):
        p = sub.add_parser(name, help=help, description=help, epilog=f"example:\n  gradc {name} {example}",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("target", help="the loss function, as FILE.py:FUNCTION, or a formula such as "
                                      "'sin(x) * exp(y)'")
        p.add_argument("--wrt", default="0", help="argument name(s) or position(s), comma-separated (default 0)")
        p.add_argument("--at", nargs="*", metavar="NAME=VALUE",
                       help="argument values: 0.5, 3 (an int: a compile-time constant), 1,2,3 (vector), "
                            "'1,2;3,4' (matrix), x.npy, or an .npz file of named arrays")
        if name in CHECKPOINTING:
            p.add_argument("--checkpoint", type=parse_policy, metavar="POLICY",
                           help="trade recomputation for memory: none (default: store everything), "
                                "segments, segments:K or revolve:S (S stored states)")
        p.set_defaults(run=run)
        return p

    g = command("grad", "print the value and the gradient", EXAMPLE, cmd_grad)
    g.add_argument("--precision", type=digits, default=6, help="digits to print (default 6)")

    s = command("show", "print the SSA listing and/or the generated source", f"{EXAMPLE} --source", cmd_show)
    s.add_argument("--ir", action="store_true", help="the forward SSA listing")
    s.add_argument("--adjoint-ir", action="store_true", help="the listing with the reverse sweep")
    s.add_argument("--source", action="store_true", help="the generated Python module")
    s.add_argument("--schedule", action="store_true",
                   help="every action of the checkpointing schedule (needs --checkpoint)")

    c = command("compile", "write the standalone gradient module (imports only NumPy)",
                f"{EXAMPLE} -o f_grad.py", cmd_compile)
    c.add_argument("-o", "--output", required=True, help="the .py file to write")
    c.add_argument("--force", action="store_true",
                   help="replace OUTPUT (and its _consts.npz) if it exists (never the input file)")

    t = command("trace", "print the forward and reverse trace table", EXAMPLE, cmd_trace)
    t.add_argument("--format", choices=("text", "markdown", "html"), default="text")

    gr = command("graph", "draw the computational graph (PNG, SVG or PDF, by extension)",
                 f"{EXAMPLE} -o graph.png --both", cmd_graph)
    gr.add_argument("-o", "--output", required=True, help="image file: .png, .svg or .pdf")
    gr.add_argument("--force", action="store_true", help="replace OUTPUT if it exists (never the input file)")
    which = gr.add_mutually_exclusive_group()
    which.add_argument("--adjoint", action="store_true", help="the adjoint (reverse sweep) graph")
    which.add_argument("--both", action="store_true", help="forward and adjoint graphs side by side")
    which.add_argument("--schedule", action="store_true",
                       help="the checkpointing schedule's timeline, as SVG (needs --checkpoint)")
    gr.add_argument("--no-values", dest="values", action="store_false",
                    help="leave the trace values out of the node labels")
    gr.add_argument("--unroll", action="store_true",
                    help="draw loops written out iteration by iteration (short loops; default: a loop's "
                         "body once, in a cluster)")

    j = command("jacobian", "print the Jacobian (forward or reverse mode, chosen by sizes)",
                EXAMPLE, cmd_jacobian)
    j.add_argument("--mode", choices=("auto", "forward", "reverse"), default="auto")
    j.add_argument("--precision", type=digits, default=6)
    h = command("hessian", "print the Hessian with respect to wrt (from Hessian-vector products)",
                EXAMPLE, cmd_hessian)
    h.add_argument("--precision", type=digits, default=6)
    hv = command("hvp", "print the Hessian-vector product H v (forward-over-reverse by default)",
                 f"{EXAMPLE} --direction x=1", cmd_hvp)
    hv.add_argument("--direction", nargs="*", metavar="NAME=VALUE", help="v, one per wrt argument")
    hv.add_argument("--mode", choices=("forward-over-reverse", "reverse-over-reverse"),
                    default="forward-over-reverse")
    hv.add_argument("--precision", type=digits, default=6)

    ch = command("check", "compare the compiled gradient with central finite differences "
                 "(exit status 1 on disagreement)", EXAMPLE, cmd_check)
    ch.add_argument("--eps", type=positive_number, default=1e-6,
                    help="finite-difference step, a positive number (default 1e-6)")
    ch.add_argument("--tolerance", type=non_negative_number, default=1e-5,
                    help="largest relative error accepted, a number >= 0 (default 1e-5)")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except CompileError as e:
        print(e.format(), file=sys.stderr)
        return 2
    except UsageError as e:
        print(f"gradc: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `gradc trace ... | head` closed the pipe: not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # (Python docs' recipe)
        return 0
    except Exception as e:  # noqa: BLE001 - a bug in gradc: one line, the traceback on request
        if full_tracebacks():
            raise
        print(f"gradc: internal error ({type(e).__name__}: {e}); this is a gradc bug, please report it "
              "(GRADC_TRACEBACK=full shows the traceback)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
