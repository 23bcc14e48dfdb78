"""The gradc command line.

    gradc grad examples/logistic_rss.py:rss_loss --wrt w --at w=-1,1.5,0.5
    gradc show examples/logistic_rss.py:rss_loss --wrt w --at w=-1,1.5,0.5 --source
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import numpy as np

from .api import compile as compile_fn
from .errors import CompileError


class UsageError(Exception):
    pass


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
    if fn is None:
        raise UsageError(f"{path} defines no function {name!r}")
    return fn


def parse_value(text: str):
    """`0.5` → float, `3` → int, `1,2,3` → 1-D array, `1,2;3,4` → 2-D array, `x.npy` → array."""
    if text.endswith(".npy"):
        return np.load(text)
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


def parse_at(items, fn, wrt) -> list:
    import inspect
    names = list(inspect.signature(fn).parameters)
    values: dict[str, object] = {}
    for item in items or []:
        if item.endswith(".npz"):
            with np.load(item) as data:
                values.update({k: data[k] for k in data.files})
            continue
        name, eq, text = item.partition("=")
        if not eq:
            raise UsageError(f"--at expects NAME=VALUE, got {item!r}")
        values[name.strip()] = parse_value(text.strip())
    missing = [n for n in names if n not in values]
    if missing:
        raise UsageError(f"no value for argument(s) {', '.join(missing)}: pass --at NAME=VALUE")
    wrt_names = {w if isinstance(w, str) else names[w] for w in wrt}
    return [float(values[n]) if n in wrt_names and isinstance(values[n], int) else values[n] for n in names]


def _wrt(args) -> tuple:
    return tuple(int(w) if w.lstrip("-").isdigit() else w for w in args.wrt.split(","))


def cmd_grad(args) -> int:
    fn = load_function(args.target)
    wrt = _wrt(args)
    values = parse_at(args.at, fn, wrt)
    compiled = compile_fn(fn, wrt=wrt if len(wrt) > 1 else wrt[0])
    value, grads = compiled.value_and_grad(*values)
    grads = grads if len(wrt) > 1 else (grads,)
    np.set_printoptions(precision=args.precision, suppress=True)
    print(f"value: {value:.{args.precision}g}")
    for w, g in zip(wrt, grads):
        print(f"d/d{w}: {np.array2string(np.asarray(g), precision=args.precision)}")
    return 0


def cmd_show(args) -> int:
    fn = load_function(args.target)
    wrt = _wrt(args)
    values = parse_at(args.at, fn, wrt)
    compiled = compile_fn(fn, wrt=wrt if len(wrt) > 1 else wrt[0], args=values)
    chosen = [k for k in ("ir", "adjoint_ir", "source") if getattr(args, k)] or ["ir", "source"]
    for k in chosen:
        print(str(getattr(compiled, k)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradc", description="A gradient compiler for Python/NumPy.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("target", help="FILE.py:FUNCTION")
        p.add_argument("--wrt", default="0", help="argument name(s) or position(s), comma-separated")
        p.add_argument("--at", nargs="*", metavar="NAME=VALUE",
                       help="argument values: 0.5, 1,2,3 (vector), 1,2;3,4 (matrix), x.npy, or a .npz")

    g = sub.add_parser("grad", help="print the value and gradient",
                       epilog="example: gradc grad examples/logistic_rss.py:rss_loss --wrt w --at w=-1,1.5,0.5")
    common(g)
    g.add_argument("--precision", type=int, default=6)
    g.set_defaults(run=cmd_grad)
    s = sub.add_parser("show", help="print the SSA listing and/or the generated source",
                       epilog="example: gradc show examples/logistic_rss.py:rss_loss --wrt w --at w=-1,1.5,0.5 --source")
    common(s)
    s.add_argument("--ir", action="store_true", help="the forward SSA listing")
    s.add_argument("--adjoint-ir", action="store_true", help="forward and reverse sweep listing")
    s.add_argument("--source", action="store_true", help="the generated Python module")
    s.set_defaults(run=cmd_show)
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


if __name__ == "__main__":
    sys.exit(main())
