"""Math strings → SSA program, safely.

A formula such as "sqrt(x**2 + exp(x**2)) + cos(x**2 + exp(x**2))" is parsed with
`ast.parse(mode="eval")` and checked against an explicit whitelist before anything
else happens: numbers, variable names, + - * / ** @, unary minus, comparisons, and
calls to the functions in FUNCTIONS. Nothing in the string is ever evaluated by
Python (no eval, no sympify); the checked tree is lowered by the same expression
walker as Python functions, whose only names are the whitelist and the variables.

Bounded work: a formula has at most MAX_LENGTH characters and MAX_DEPTH levels of
nesting, and every constant subexpression the lowering will fold is evaluated here
first at bounded cost (integers of at most MAX_FOLD_BITS bits, exponents of at most
MAX_CONSTANT_EXPONENT, finite real results only); anything else is a CompileError
with a caret, never a hang, an overflow or a Python exception.
"""
from __future__ import annotations

import ast
import inspect
import keyword
import math
import operator
from dataclasses import dataclass

import numpy as np

from gradc.runtime import support

from ..errors import CompileError, SignatureError, SourceLoc, UnsupportedFunction, UnsupportedSyntax

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
MAX_CONSTANT_EXPONENT = 1_000  # |exponent| of a power folded at compile time
MAX_DEPTH = 200  # nesting of the expression tree (a chain a + b + c + ... nests one level per operator)
MAX_FOLD_BITS = 10_000  # an integer folded at compile time has at most this many bits
MAX_INT = 2**63 - 1  # an integer constant that meets a variable becomes an int64

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
        col = _chars(self.text, getattr(node, "col_offset", 0))
        end = getattr(node, "end_col_offset", None)
        return SourceLoc("<formula>", 1, col, None if end is None else _chars(self.text, end),
                         self.text, self.name)


def _chars(text: str, byte_offset: int) -> int:
    """ast's columns count UTF-8 bytes; SourceLoc's count characters."""
    return len(text.encode("utf-8", "surrogatepass")[:byte_offset].decode("utf-8", "ignore"))


def parse_formula(text: str, variables=None) -> Formula:
    """Check `text` against the whitelist; variables are `variables` if given, else the
    free names in alphabetical order."""
    if not isinstance(text, str):
        raise TypeError("a formula is a string")
    if len(text) > MAX_LENGTH or "\n" in text.strip() or "\r" in text.strip():
        raise UnsupportedSyntax(f"a formula is one line of at most {MAX_LENGTH} characters",
                                SourceLoc("<formula>", 1, 0, None, text[:200]))
    stripped = text.strip()
    for col, ch in enumerate(stripped):
        if not ch.isprintable() and ch != "\t":
            raise UnsupportedSyntax(f"a formula cannot contain the control character {ch!r}",
                                    SourceLoc("<formula>", 1, col, col + 1, stripped))
    try:
        tree = ast.parse(stripped, mode="eval")
    except SyntaxError as e:
        col = max((e.offset or 1) - 1, 0)
        raise UnsupportedSyntax(f"cannot parse the formula: {e.msg}",
                                SourceLoc("<formula>", 1, col, col + 1, stripped)) from None
    except (RecursionError, MemoryError):
        raise UnsupportedSyntax(f"the formula is nested too deeply (at most {MAX_DEPTH} levels)",
                                SourceLoc("<formula>", 1, 0, None, stripped)) from None
    except ValueError as e:  # e.g. an integer literal with more digits than Python converts
        raise UnsupportedSyntax(f"cannot parse the formula: {e}",
                                SourceLoc("<formula>", 1, 0, None, stripped)) from None
    formula = Formula(stripped, tree, [])
    _check_depth(formula)
    free = _check(formula)
    if variables is None:
        formula.variables = sorted(free)
    else:
        formula.variables = [str(v) for v in variables]
        for v in formula.variables:
            if not v.isidentifier() or keyword.iskeyword(v):
                raise SignatureError(f"variables= names {v!r}, which is not a Python identifier",
                                     formula.loc(tree.body))
        unknown = free - set(formula.variables)
        if unknown:
            raise UnsupportedSyntax(f"the formula uses {', '.join(sorted(unknown))}, which args= does "
                                    "not name", formula.loc(tree.body))
    check_folding(formula)
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
    return free


def _check_depth(formula: Formula) -> None:
    """Refuse trees nested deeper than MAX_DEPTH (the lowering recurses on them)."""
    stack = [(formula.tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise UnsupportedSyntax(f"the formula is nested too deeply (at most {MAX_DEPTH} levels; "
                                    "split a long chain into parts)", formula.loc(node))
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


# Constant folding, simulated at bounded cost. The lowering folds constant
# subexpressions with Python's arithmetic (operators) and NumPy (functions); this
# pass computes the same numbers first, refusing what would be too large or not a
# finite real number, so the lowering never meets one.

_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
               ast.Div: operator.truediv, ast.Pow: operator.pow}
_COMPARE = {ast.Lt: operator.lt, ast.Gt: operator.gt, ast.LtE: operator.le, ast.GtE: operator.ge,
            ast.Eq: operator.eq, ast.NotEq: operator.ne}
_BUILTIN_FUNCTIONS = frozenset(FUNCTIONS)  # user primitives (registered later) are not run here


def check_folding(formula: Formula) -> None:
    """Evaluate every constant subexpression; refuse one that is too costly to fold, fails,
    or is not a finite real number (a CompileError pointing at it)."""
    values: dict[int, object] = {}  # id(node) → its constant value, or None (depends on a variable)
    order, stack = [], [formula.tree.body]
    while stack:  # children before parents, without recursion
        node = stack.pop()
        order.append(node)
        stack.extend(ast.iter_child_nodes(node))
    for node in reversed(order):
        values[id(node)] = _fold(formula, node, values)
    _leaves(formula, formula.tree.body, values[id(formula.tree.body)])


def _fold(formula: Formula, node, values):
    def fail(why: str):
        raise UnsupportedSyntax(f"cannot fold this constant at compile time: {why}", formula.loc(node))

    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, float) and not math.isfinite(value):
            fail(f"the number overflows to {value}")
        if isinstance(value, int) and value.bit_length() > MAX_FOLD_BITS:
            fail(f"an integer of more than {MAX_FOLD_BITS} bits")
        return value
    if isinstance(node, ast.Name):
        return CONSTANTS.get(node.id) if node.id not in formula.variables else None
    if not isinstance(node, (ast.UnaryOp, ast.BinOp, ast.Compare, ast.Call)):
        return None
    operands = [node.operand] if isinstance(node, ast.UnaryOp) else \
        [node.left, node.right] if isinstance(node, ast.BinOp) else \
        [node.left, *node.comparators] if isinstance(node, ast.Compare) else list(node.args)
    args = [values.get(id(a)) for a in operands]
    if any(a is None for a in args) or isinstance(node, ast.Call) and node.func.id not in _BUILTIN_FUNCTIONS:
        for a, value in zip(operands, args):  # constants that meet a variable (or a user's function)
            _leaves(formula, a, value)
        return None
    try:
        if isinstance(node, ast.UnaryOp):
            return -args[0] if isinstance(node.op, ast.USub) else args[0]
        if isinstance(node, ast.Compare):
            return all(_COMPARE[type(op)](a, b) for op, a, b in zip(node.ops, args, args[1:]))
        if isinstance(node, ast.BinOp):
            return _arith(node.op, *args, fail)
        return _call(node.func.id, args, fail)
    except CompileError:
        raise
    except (ArithmeticError, ValueError, TypeError) as e:
        fail(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)


def _arith(op, a, b, fail):
    if isinstance(op, ast.MatMult):
        fail("@ multiplies arrays, not numbers")
    if isinstance(op, ast.Div) and b == 0:
        fail("division by zero")
    ints = isinstance(a, int) and isinstance(b, int)
    if isinstance(op, ast.Pow):
        if abs(b) > MAX_CONSTANT_EXPONENT:
            fail(f"exponent too large to fold at compile time (more than {MAX_CONSTANT_EXPONENT})")
        if a == 0 and b < 0:
            fail("zero to a negative power")
        if ints and b > 0 and abs(a) > 1 and (abs(a).bit_length() - 1) * b > MAX_FOLD_BITS:
            fail(f"the result would have more than {MAX_FOLD_BITS} bits")
    if ints and isinstance(op, ast.Mult) and a.bit_length() + b.bit_length() > MAX_FOLD_BITS + 1:
        fail(f"the result would have more than {MAX_FOLD_BITS} bits")
    return _checked(_ARITHMETIC[type(op)](a, b), fail)


def _call(name: str, args, fail):
    try:
        xs = [float(a) for a in args]
    except OverflowError:
        fail(f"an argument of {name}() is too large for a float")
    with np.errstate(all="raise"):
        try:
            result = FUNCTIONS[name](*xs)
        except FloatingPointError as e:
            fail(f"{name}() of these constants is not a finite number ({e})")
    return _checked(np.asarray(result).item(), fail)


def _checked(value, fail):
    if isinstance(value, complex):
        fail("the result is not a real number")
    if isinstance(value, float) and not math.isfinite(value):
        fail(f"the result is {value}")
    if isinstance(value, int) and value.bit_length() > MAX_FOLD_BITS:
        fail(f"the result would have more than {MAX_FOLD_BITS} bits")
    return value


def _leaves(formula: Formula, node, value) -> None:
    """A folded constant that leaves the folded region (meets a variable or a user's
    function, or is the result) must be an ordinary number: an int64 or a finite float."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise UnsupportedSyntax(f"this integer constant is too large for int64 (more than {MAX_INT}); "
                                "write it as a float, e.g. 1e30", formula.loc(node))


def lower_formula(formula: Formula, specs, wrt):
    """The formula's program for the given argument specs (python.ArgSpec)."""
    from ..ir import Builder, Const, Program, Value
    from ..passes.simplify import rewrite
    from .python import Lowering, bind_arguments

    builder = Builder(rewrite=rewrite)
    inputs, env = bind_arguments(specs)
    lw = Lowering(formula, builder, {**FUNCTIONS, **CONSTANTS})
    lw.env.update(env)
    try:
        with builder:
            result = lw.expr(formula.tree.body)
    except (RecursionError, MemoryError, OverflowError, ZeroDivisionError, ValueError) as e:
        # check_folding and MAX_DEPTH keep these out; should one get through, it is still the user's formula
        node = getattr(lw, "node", None) or formula.tree.body
        raise UnsupportedSyntax(f"cannot compile the formula here: {type(e).__name__}: {e}",
                                formula.loc(node)) from None
    if not isinstance(result, Value):
        result = Const(result)
    return Program(formula.name, inputs, builder.ops, [result], formula.loc(formula.tree.body), wrt,
                   {s.name: s.value for s in specs if s.kind == "static"}), {}


def signature(formula: Formula) -> inspect.Signature:
    return inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                              for n in formula.variables])
