"""Scalar programs as Python floats and the `math` module: a formula of Python floats runs
several times faster than on NumPy's 0-d values (a NumPy call on one number costs more
than the arithmetic).

A program qualifies when every input is a Python float (Python-float arguments, a formula's
variables), every value is a float64 number, and every operation is one whose `math` /
Python-operator spelling computes NumPy's float64 result (`MATH`, `OPERATORS`). The module
then defines the entry functions twice: first as math code, then, named `<f>_numpy`, as the
NumPy code gradc writes for any program. The two differ where NumPy returns inf or nan (with a
RuntimeWarning) and `math` raises (`math.log(0)`, `math.sqrt(-1)`, `1.0 / 0.0`, an overflow):
the math functions catch those exceptions, and look at their results, and whenever something
was raised or a result is not finite, they return what the NumPy functions return instead.
So the values are NumPy's (the documented float64 convention), its warnings and
`np.errstate` settings included; only the last bit of a transcendental function may differ
(the C library's `math.exp` against NumPy's own, both within an ulp).
"""
from __future__ import annotations

import dataclasses
import inspect

import numpy as np

from . import codegen
from .ir import Const, Program
from .syntax import ADD, MUL, Expr, call, comment_text, docstring_text, infix, prefix

# NumPy elementwise primitive → the math function with the same float64 meaning, which
# raises ValueError or OverflowError exactly where NumPy returns nan or ±inf.
MATH = {"exp": "math.exp", "log": "math.log", "sqrt": "math.sqrt", "sin": "math.sin", "cos": "math.cos",
        "tan": "math.tan", "tanh": "math.tanh", "sinh": "math.sinh", "cosh": "math.cosh",
        "arctan": "math.atan", "arcsin": "math.asin", "arccos": "math.acos", "arcsinh": "math.asinh",
        "arccosh": "math.acosh", "arctanh": "math.atanh", "log1p": "math.log1p", "expm1": "math.expm1",
        "log2": "math.log2", "log10": "math.log10", "hypot": "math.hypot"}
# Python's float operators are IEEE double arithmetic, as NumPy's float64 (`/` raises
# ZeroDivisionError where NumPy gives inf or nan: caught like the math functions' errors).
OPERATORS = {"add", "sub", "mul", "div", "neg"}
OTHERS = {"pow", "square", "abs", "sigmoid", "copy"}  # written below


def _integral(c) -> bool:
    return isinstance(c, Const) and type(c.value) in (int, float) and float(c.value).is_integer()


def emit(op, operands) -> Expr:
    """The op's value as Python-float source."""
    name = op.prim.name
    operands = [_python_number(v, x) for v, x in zip(op.inputs, operands)]
    if name in MATH:
        return call(MATH[name], *operands)
    if name == "pow":
        # x ** 2 on a float is real for any x (OverflowError when it would be inf); a
        # fractional or computed exponent goes through math.pow, which raises ValueError
        # where Python's ** would return a complex number and NumPy a nan
        if _integral(op.inputs[1]):
            return op.prim.emit(*operands, **op.params)
        return call("math.pow", *operands)
    if name == "square":
        return infix("*", MUL, operands[0], operands[0])
    if name == "abs":
        return call("abs", operands[0])
    if name == "copy":  # a Python float is immutable: its copy is itself
        return operands[0]
    if name == "sigmoid":  # the runtime helper's formula, 1 / (1 + e^-x)
        return infix("/", MUL, Expr("1.0"), infix("+", ADD, Expr("1.0"), call("math.exp", prefix("-", operands[0]))))
    return op.prim.emit(*operands, **op.params)  # OPERATORS


def applies(forward: Program, adjoint: Program | None, entry: "codegen.Entry | None") -> bool:
    """Whether the program is scalar code: Python-float inputs, float64 numbers throughout,
    operations with a math spelling, and no name the math code would shadow."""
    if adjoint is None:
        return False
    programs = (forward, adjoint)
    inputs = forward.inputs
    if not inputs or any(v.pytype is not float or v.aval.shape != () or v.dtype != np.float64 for v in inputs):
        return False
    if entry is not None and (any(path for _, path in entry.access) or entry.structure
                              or any(kind != ("float",) for kind in entry.kinds)
                              or "math" in entry.param_names() or entry.default_arrays()):
        return False  # (a large default array is a module constant: the NumPy module has them)
    if any(v.name == "math" for v in inputs):
        return False
    if entry is None and not (len(adjoint.wrt) >= 1 and _flat_entry(forward, adjoint, True).usable(*programs)):
        return False  # a formula's variable named like np or a helper
    for p in programs:
        for op in p.ops:
            if op.prim.name not in MATH and op.prim.name not in OPERATORS and op.prim.name not in OTHERS:
                return False
            if op.out.aval.shape != () or op.out.dtype != np.float64:
                return False
            for v in op.inputs:
                if isinstance(v, Const) and type(v.value) not in (int, float, np.float64):
                    return False  # another NumPy scalar constant is strong: NumPy's code keeps it
        for v in p.outputs:
            if isinstance(v, Const) and type(v.value) not in (int, float, np.float64):
                return False
    return True


def _python_number(v, text: Expr) -> Expr:
    """An operand as math code writes it: a float64 constant (`sqrt(2*pi)` folded by NumPy) as
    the Python float it equals. Every value here is a float64 number, which a float64 scalar
    and a Python float meet alike."""
    if isinstance(v, Const) and type(v.value) is np.float64:
        return codegen.scalar_literal(float(v.value))
    return text


def module_source(forward: Program, adjoint: Program, *, origin: str, grouped: bool,
                  entry: "codegen.Entry | None" = None, result: str | None = None) -> str:
    """The module: its check, the math functions, then the same functions in NumPy."""
    name = forward.name
    wrt_names = ", ".join(entry.wrt_names if entry is not None else
                          (adjoint.inputs[i].name for i in adjoint.wrt))
    names = codegen.const_names(forward, adjoint, avoid=entry.param_names() if entry is not None else ())
    wanted = [name, f"{name}_value_and_grad", f"{name}_numpy", f"{name}_value_and_grad_numpy"]
    entries, renamed = codegen.module_names(wanted, (forward, adjoint), names,
                                            extra=("math", "numpy_errors_default"))
    fname, gname, fnp, gnp = (entries[w] for w in wanted)
    checker = checking = None
    if entry is not None:
        taken = ({"np", "math", *entries.values(), *names.values(), *renamed.values(),
                  *entry.param_names()} | {v.name for p in (forward, adjoint) for v in p.inputs})
        checker = "check_arguments"
        while checker in taken:
            checker += "_"
        checking = entry.checking_function(checker, "this module", names)
        checker = checker if checking is not None else None
    parts = [codegen._docstring(
        docstring_text(f"{name} and its gradient with respect to {wrt_names}."),
        docstring_text(f"Generated by gradc from {origin}.") + " Do not edit: regenerate instead.",
        "Python floats and the math module. Where math raises (ArithmeticError, ValueError) or a\n"
        "result is not finite, or an np.errstate is in effect, the NumPy functions at the end\n"
        "answer: NumPy's inf or nan, with its warnings.")
        + "\nimport math\n\nimport numpy as np"]
    helpers = codegen.helpers_used(forward, adjoint)
    parts.append("# Helpers from gradc's runtime.support.\n"
                 + codegen.helper_source(["numpy_errors_default", *helpers], renamed).rstrip())
    if checking is not None:
        parts.append(checking)
    numpy_entry = entry if entry is not None else _flat_entry(forward, adjoint, grouped)
    value_entry = entry.for_value() if entry is not None else None
    if result is None and entry is not None:
        result = entry.result
    parts.append(_math_function(forward, fname, f"Value of {name}.", fnp, names, value_entry, checker, grouped,
                                result))
    parts.append(_math_function(adjoint, gname, f"Value of {name} and its gradient with respect to {wrt_names}.",
                                gnp, names, _float_grads(entry), checker, grouped, result))
    parts.append("# The same functions in NumPy: the answer wherever the math code raises or is not finite.\n"
                 + codegen.function_source(forward, fnp, f"Value of {name}, in NumPy.", consts=names,
                                           entry=numpy_entry.for_value(), helpers=renamed,
                                           checker=checker, result=result).rstrip())
    parts.append(codegen.function_source(adjoint, gnp, f"Value of {name} and its gradient, in NumPy.",
                                         grouped=grouped, consts=names, entry=numpy_entry, helpers=renamed,
                                         checker=checker, result=result).rstrip())
    if codegen.entry_points_text(entries):
        parts.append(codegen.entry_points_text(entries))
    return "\n\n\n".join(parts) + "\n"


def _flat_entry(forward: Program, adjoint: Program, grouped: bool) -> "codegen.Entry":
    """For a program whose functions take its inputs (a formula's variables): the NumPy
    functions take them as Python floats too, and give Python-float gradients, as the math
    functions do."""
    names = [v.name for v in forward.inputs]
    leaves = [codegen.GradLeaf(k, as_float=True) for k in range(len(adjoint.wrt))]
    return codegen.Entry(params=tuple((inspect.Parameter.POSITIONAL_OR_KEYWORD, n, codegen.NO_DEFAULT)
                                      for n in names),
                         access=tuple((n, ()) for n in names),
                         grads=tuple(leaves) if grouped else leaves[0],
                         wrt_names=tuple(adjoint.inputs[i].name for i in adjoint.wrt),
                         kinds=(("float",),) * len(names))


def _float_grads(entry):
    """The Entry with gradients written as they are (math code's are Python floats already)."""
    if entry is None or entry.grads is None:
        return entry

    def plain(t):
        if isinstance(t, codegen.GradLeaf):
            return dataclasses.replace(t, as_float=False)
        return type(t)(plain(x) for x in t)
    return dataclasses.replace(entry, grads=plain(entry.grads))


def _math_function(program: Program, fname: str, doc: str, fallback: str, consts, entry, checker,
                   grouped: bool, result: str | None = None) -> str:
    """`def fname(...)`: the statements on Python floats inside `try`; NumPy's `fallback`
    answers where they raise or give a value that is not finite."""
    naming = codegen.Naming(program, "python", consts, entry)
    naming.space.name(("module", "math"), "math")  # never a local's name
    stmts = codegen.statements(program, naming, emit=emit)
    if entry is not None:
        params, args = entry.signature_parts(consts), entry.call_parts()
    else:
        params = args = [naming.base(v) for v in program.inputs]
    lines = [f"def {fname}({', '.join(params)}):", f'    """{docstring_text(doc)}"""']
    if checker is not None:
        lines.append(f"    {checker}({', '.join(entry.call_parts())})")
    numpy_call = f"{fallback}({', '.join(args)})"
    lines += ["    if not numpy_errors_default():", f"        return {numpy_call}"]
    body = []
    last_sweep, last_line = "forward", None
    for s in stmts:
        sweep, loc = s.op.sweep, s.op.loc
        if sweep != last_sweep:
            body.append(f"        # {sweep} sweep")
        if loc is not None and loc.line and (sweep, loc.lineno) != (last_sweep, last_line):
            prefix_ = "adjoint of " if sweep == "reverse" else ""
            body.append(f"        # {prefix_}line {loc.lineno}: {comment_text(loc.line.strip())}")
        last_sweep, last_line = sweep, loc.lineno if loc is not None else None
        body.append(f"        {s.lhs} {'+=' if s.augmented else '='} {s.expr}")
        if s.frees:
            body.append(f"        del {', '.join(s.frees)}")
    if stmts:  # (a function returning its argument computes nothing that could raise)
        lines += ["    try:", *body,
                  "    except (ArithmeticError, ValueError):",
                  f"        return {numpy_call}"]
    first, *grads = _output_texts(program, naming, stmts)
    lines.append(f"    if not math.isfinite({' + '.join([first, *grads])}):")
    lines.append(f"        return {numpy_call}")
    # the Python type NumPy gives the value (a Python float, a 0-d array); by default, the type
    # NumPy's code returns
    value = {"float": first if _float_text(program.outputs[0]) else f"float({first})",
             "array": f"np.asarray({first})"}.get(result, f"np.float64({first})")
    if not grads:
        lines.append(f"    return {value}")
    elif entry is not None:
        lines.append(f"    return {value}, {entry.gradient_text(grads)}")
    elif grouped:
        lines.append(f"    return {value}, ({', '.join(grads)}{',' if len(grads) == 1 else ''})")
    else:
        lines.append(f"    return {value}, {', '.join(grads)}")
    return "\n".join(lines)


def _float_text(v) -> bool:
    """Whether the math code spells v as a Python float (any value it computes is one)."""
    return not isinstance(v, Const) or type(v.value) is float


def _output_texts(program: Program, naming, stmts) -> list[str]:
    final = {s.op.out: s.target for s in stmts}

    def text(v):
        if isinstance(v, Const):
            return _python_number(v, codegen.scalar_literal(v.value)).text
        return final.get(v) or naming.base(v)
    return [text(v) for v in program.outputs]
