"""Errors a user sees: each names the construct and points at the user's own line.

The format follows Python's SyntaxError so the caret reads the same way:

    gradc: unsupported construct 'while loop': data-dependent loops are not supported yet
      File "model.py", line 7, in loss
        while err > tol:
        ^^^^^^^^^^^^^^^^
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from .syntax import visible


@dataclass(frozen=True)
class SourceLoc:
    """Where an IR value came from in the user's source (1-based line, 0-based columns)."""

    filename: str
    lineno: int
    col: int = 0
    end_col: int | None = None
    line: str = ""
    function: str = ""

    def caret(self) -> str:
        """The line (control characters and escapes shown as visible escapes, so nothing
        reaches the terminal raw) and a caret under columns col..end_col of it."""
        text = self.line.rstrip("\r\n")
        stripped = text.lstrip()
        indent = len(text) - len(stripped)
        start = max(self.col - indent, 0)
        end = self.end_col - indent if self.end_col is not None else len(stripped)
        shown = [visible(ch) for ch in stripped]
        before = sum(_columns(s) for s in shown[:start])
        width = max(sum(_columns(s) for s in shown[start:end]), 1)
        return f"    {''.join(shown)}\n    {' ' * before}{'^' * width}"


def _columns(text: str) -> int:
    """Terminal columns: wide East Asian characters take two, combining marks none."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


def _message(text: str) -> str:
    """A message's own lines kept; every other control character shown escaped."""
    return "\n".join(visible(line) for line in str(text).split("\n"))


class CompileError(Exception):
    """Base class: the user's function is outside what gradc can differentiate."""

    kind = "error"

    def __init__(self, message: str, loc: SourceLoc | None = None, *, hint: str = ""):
        self.message = message
        self.loc = loc
        self.hint = hint
        super().__init__(self.format())

    @property
    def lineno(self) -> int | None:
        return self.loc.lineno if self.loc else None

    def format(self) -> str:
        lines = [f"gradc: {_message(self.message)}"]
        if self.loc is not None:
            where = f'  File "{visible(str(self.loc.filename))}", line {self.loc.lineno}'
            if self.loc.function:
                where += f", in {visible(str(self.loc.function))}"
            lines.append(where)
            if self.loc.line:
                lines.append(self.loc.caret())
        if self.hint:
            lines.append(f"hint: {_message(self.hint)}")
        return "\n".join(lines)


class UnsupportedSyntax(CompileError):
    """A Python construct outside the supported subset (see docs/supported-subset.md)."""


class UnsupportedFunction(CompileError):
    """A call to a function gradc has no rule for."""


class DataDependentControlFlow(CompileError):
    """A branch or loop bound that depends on runtime values."""


class NameResolutionError(CompileError):
    """A name that is neither an argument, a local, nor a module-level constant or function."""


class ShapeError(CompileError):
    """Operand shapes or dtypes that NumPy would reject, found at compile time."""


class SignatureError(CompileError):
    """A bad `wrt`, a non-scalar output under grad, or an argument gradc cannot differentiate."""


class SourceUnavailable(CompileError):
    """The function's source cannot be read (builtins, lambdas in a REPL, exec-defined code)."""


class CompileWarning(UserWarning):
    """A construct gradc compiles with a caveat the user should know (a dropped `print`)."""


class InternalError(CompileError):
    """gradc failed on code it should have handled or rejected: a bug to report."""

    @classmethod
    def wrap(cls, exc: BaseException, loc: SourceLoc | None) -> "InternalError":
        err = cls(f"internal error while compiling this line ({type(exc).__name__}: {exc})", loc,
                  hint="this is a gradc bug; please report it with the function that triggers it")
        err.internal = exc
        return err
