"""Math strings → SSA program, safely.

A formula such as "sqrt(x**2 + exp(x**2)) + cos(x**2 + exp(x**2))" is parsed with
`ast.parse(mode="eval")` and checked against an explicit whitelist before anything
else happens: numbers, variable names, + - * / ** @, unary minus, comparisons, and
calls to the functions in FUNCTIONS. Nothing in the string is ever evaluated by
Python (no eval, no sympify); the checked tree is lowered by the same expression
walker as Python functions, whose only names are the whitelist and the variables.
"""
from __future__ import annotations

import ast
import inspect
import math
from dataclasses import dataclass

import numpy as np

from gradc.runtime import support

from ..errors import SourceLoc, UnsupportedFunction, UnsupportedSyntax

FUNCTIONS = {
    "exp": np.exp, "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "sqrt": np.sqrt,
    "square": np.square, "sin": np.sin, "cos": np.cos, "tan": np.tan, "tanh": np.tanh,
    "arctan": np.arctan, "atan": np.arctan, "abs": np.abs, "sign": np.sign,
    "maximum": np.maximum, "minimum": np.minimum, "logaddexp": np.logaddexp, "where": np.where,
    "sum": np.sum, "mean": np.mean,
    "sigmoid": support.sigmoid, "softplus": support.softplus, "relu": support.relu,
}
CONSTANTS = {"pi": math.pi, "e": math.e}
MAX_LENGTH = 10_000
MAX_CONSTANT_EXPONENT = 1_000

_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.MatMult, ast.USub, ast.UAdd,
              ast.Lt, ast.Gt, ast.LtE, ast.GtE, ast.Eq, ast.NotEq, ast.Load)
_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Call, ast.Name, ast.Constant)


@dataclass
class Formula:
    """A checked formula: the frontend's counterpart of a parsed Python function."""

    text: str
    tree: ast.Expression
    variables: list[str]
    name: str = "f"

    def loc(self, node) -> SourceLoc:
        col = getattr(node, "col_offset", 0)
        end = getattr(node, "end_col_offset", None)
        return SourceLoc("<formula>", 1, col, end, self.text, self.name)


def parse_formula(text: str, variables=None) -> Formula:
    """Check `text` against the whitelist; variables are `variables` if given, else the
    free names in alphabetical order."""
    if not isinstance(text, str):
        raise TypeError("a formula is a string")
    if len(text) > MAX_LENGTH or "\n" in text.strip():
        raise UnsupportedSyntax(f"a formula is one line of at most {MAX_LENGTH} characters",
                                SourceLoc("<formula>", 1, 0, None, text[:200]))
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        col = max((e.offset or 1) - 1, 0)
        raise UnsupportedSyntax(f"cannot parse the formula: {e.msg}",
                                SourceLoc("<formula>", 1, col, col + 1, text.strip())) from None
    formula = Formula(text.strip(), tree, [])
    free = _check(formula)
    if variables is None:
        formula.variables = sorted(free)
    else:
        formula.variables = [str(v) for v in variables]
        unknown = free - set(formula.variables)
        if unknown:
            raise UnsupportedSyntax(f"the formula uses {', '.join(sorted(unknown))}, which args= does "
                                    "not name", formula.loc(tree.body))
    return formula


def _check(formula: Formula) -> set[str]:
    """Reject everything outside the whitelist, pointing at the offending column."""
    free: set[str] = set()
    called = {id(node.func) for node in ast.walk(formula.tree) if isinstance(node, ast.Call)}
    for node in ast.walk(formula.tree):
        if isinstance(node, _OPERATORS):
            continue
        if not isinstance(node, _NODES):
            raise UnsupportedSyntax(f"'{type(node).__name__}' is not allowed in a formula (only numbers, "
                                    "variables, arithmetic, comparisons and whitelisted functions)",
                                    formula.loc(node))
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool)
                                               or not isinstance(node.value, (int, float))):
            raise UnsupportedSyntax(f"only numbers are allowed as constants, not {node.value!r}",
                                    formula.loc(node))
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                what = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
                raise UnsupportedFunction(f"unknown function {what!r} in a formula; known: "
                                          f"{', '.join(sorted(FUNCTIONS))}", formula.loc(node.func))
            if node.keywords:
                raise UnsupportedSyntax("keyword arguments are not allowed in a formula",
                                        formula.loc(node.keywords[0].value))
        if isinstance(node, ast.Name) and id(node) not in called:
            if node.id.startswith("_"):
                raise UnsupportedSyntax(f"name {node.id!r} is not allowed in a formula", formula.loc(node))
            if node.id in FUNCTIONS:
                raise UnsupportedSyntax(f"{node.id} is a function: call it, e.g. {node.id}(x)",
                                        formula.loc(node))
            if node.id not in CONSTANTS:
                free.add(node.id)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow) and _constant(node.left) \
                and _constant(node.right) and abs(_number(node.right)) > MAX_CONSTANT_EXPONENT:
            raise UnsupportedSyntax(f"exponent too large to fold at compile time (more than "
                                    f"{MAX_CONSTANT_EXPONENT})", formula.loc(node))
    return free


def _constant(node) -> bool:
    return isinstance(node, ast.Constant) or (
        isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant))


def _number(node) -> float:
    if isinstance(node, ast.UnaryOp):
        value = _number(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    return node.value


def lower_formula(formula: Formula, specs, wrt):
    """The formula's program for the given argument specs (python.ArgSpec)."""
    from ..ir import Builder, Const, Program, Value
    from ..passes.simplify import rewrite
    from .python import Lowering, bind_arguments

    builder = Builder(rewrite=rewrite)
    inputs, env = bind_arguments(specs)
    lw = Lowering(formula, builder, {**FUNCTIONS, **CONSTANTS})
    lw.env.update(env)
    with builder:
        result = lw.expr(formula.tree.body)
    if not isinstance(result, Value):
        result = Const(result)
    return Program(formula.name, inputs, builder.ops, [result], formula.loc(formula.tree.body), wrt,
                   {s.name: s.value for s in specs if s.kind == "static"}), {}


def signature(formula: Formula) -> inspect.Signature:
    return inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                              for n in formula.variables])
