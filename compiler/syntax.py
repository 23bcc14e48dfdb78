"""Python expression text with precedence, so emitted code has only the parentheses it needs.

Primitives describe their NumPy spelling with these helpers; the code generator and
the SSA printer both render through them, so a primitive's syntax is written once.
"""
from __future__ import annotations

import keyword
import math
import unicodedata
from dataclasses import dataclass

import numpy as np

# Python's binding strengths (higher binds tighter), from the language reference.
COMPARE, ADD, MUL, UNARY, POW, ATOM = 5, 10, 11, 12, 13, 16


@dataclass(frozen=True)
class Expr:
    text: str
    prec: int = ATOM

    def __str__(self) -> str:
        return self.text


def paren(e: Expr, at_least: int) -> str:
    return e.text if e.prec >= at_least else f"({e.text})"


def infix(symbol: str, prec: int, a: Expr, b: Expr) -> Expr:
    # Left-associative, except ** which binds right-to-left.
    if symbol == "**":
        return Expr(f"{paren(a, prec + 1)} ** {paren(b, prec)}", prec)
    return Expr(f"{paren(a, prec)} {symbol} {paren(b, prec + 1)}", prec)


def prefix(symbol: str, a: Expr) -> Expr:
    return Expr(f"{symbol}{paren(a, UNARY)}", UNARY)


def call(fn: str, *args: Expr | str, **kwargs) -> Expr:
    parts = [str(a) for a in args]
    parts += [f"{k}={literal(v).text}" for k, v in kwargs.items()]
    return Expr(f"{fn}({', '.join(parts)})")


def method(obj: Expr, rest: str) -> Expr:
    """`obj.attr`, `obj.method(...)` or `obj[...]`."""
    return Expr(f"{paren(obj, ATOM)}{rest}")


def float_text(value: float) -> Expr:
    """A float that reads back exactly: repr for finite values (shortest round-trip,
    -0.0 and subnormals included), np.inf / -np.inf / np.nan / -np.nan otherwise
    (NaN payloads other than NumPy's default are not kept)."""
    if math.isnan(value):
        return Expr("np.nan") if math.copysign(1, value) > 0 else Expr("-np.nan", UNARY)
    if math.isinf(value):
        return Expr("np.inf") if value > 0 else Expr("-np.inf", UNARY)
    return Expr(repr(value), ATOM if math.copysign(1, value) > 0 else UNARY)


def literal(value) -> Expr:
    """Source text for a static Python/NumPy value small enough to write inline."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, bool) or value is None:
        return Expr(repr(value))
    if isinstance(value, int):
        return Expr(repr(value), ATOM if value >= 0 else UNARY)
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, np.generic):
        inner = literal(value.item())
        if value.dtype in (np.float64, np.int64, np.bool_):
            return inner
        return Expr(f"np.{value.dtype.name}({inner.text})")
    if isinstance(value, tuple):
        inner = ", ".join(literal(v).text for v in value)
        return Expr(f"({inner},)" if len(value) == 1 else f"({inner})")
    if isinstance(value, slice):
        return Expr(slice_text(value))
    if isinstance(value, np.dtype):
        return Expr(f"np.{value.name}")
    raise TypeError(f"no literal syntax for {type(value).__name__}")


def slice_text(s: slice) -> str:
    parts = ["" if s.start is None else literal(s.start).text,
             "" if s.stop is None else literal(s.stop).text]
    if s.step is not None:
        parts.append(literal(s.step).text)
    return ":".join(parts)


def index_text(index: tuple) -> str:
    """Subscript text for a static basic index (ints, slices, None, Ellipsis)."""
    parts = []
    for item in index:
        if item is None:
            parts.append("None")
        elif item is Ellipsis:
            parts.append("...")
        elif isinstance(item, slice):
            parts.append(slice_text(item))
        else:
            parts.append(literal(item).text)
    return ", ".join(parts) if parts else "()"


# ---------------------------------------------------------------------------
# User text in generated source. Everything a user wrote (formulas, source lines,
# file and function names, SymPy symbols) reaches a generated module only through
# comment_text, docstring_text or Namespace (identifiers); nothing else pastes it.


def _escape(ch: str) -> str:
    short = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch)
    if short:
        return short
    o = ord(ch)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"


def visible(text: str) -> str:
    """`text` with every non-printable character (controls, ESC, line and paragraph
    separators, bidi and other format characters, surrogates) as a visible escape."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else _escape(ch) for ch in text)


def comment_text(text: str) -> str:
    """Text safe after `# `: one physical line for Python's tokenizer and for
    str.splitlines (linecache), nothing a terminal or editor would interpret."""
    return visible(str(text))


def docstring_text(text: str) -> str:
    """Text safe inside a triple-quoted docstring: backslashes and double quotes
    escaped (no `\"\"\"`, no escape sequences of the user's), no line breaks; the
    docstring's value is still exactly `text`."""
    text = str(text).replace("\\", "\\\\").replace('"', '\\"')
    return visible(text)


def is_identifier(name) -> bool:
    """A name generated code may bind: an identifier, not a keyword, not `__dunder`."""
    return (isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name)
            and not name.startswith("__"))


def normal(name: str) -> str:
    """The identifier Python binds for `name` (source identifiers are NFKC-normalised)."""
    return unicodedata.normalize("NFKC", name)


_OUTER = ("outer",)


class Namespace:
    """The names bound in one scope of a generated module.

    `name(key, preferred)` gives each key (a value, a constant, a helper...) one name for
    good: `preferred` when it is a usable identifier nobody else holds, else
    `preferred_2`, `preferred_3`, ... (or `fallback`, numbered, when `preferred` is not an
    identifier). Names in `outer` (what the scope reads from an enclosing one) are never
    handed out. Uniqueness is by construction, not by a list of reserved words."""

    def __init__(self, outer=()):
        self._owner: dict[str, object] = {normal(n): _OUTER for n in outer}
        self._names: dict[object, str] = {}

    def __contains__(self, name: str) -> bool:
        return normal(name) in self._owner

    def get(self, key) -> str | None:
        return self._names.get(key)

    def name(self, key, preferred: str, fallback: str = "v") -> str:
        got = self._names.get(key)
        if got is not None:
            return got
        base = normal(preferred) if is_identifier(preferred) else fallback
        if not is_identifier(base):
            base = "v"
        name, k = base, 2
        while name in self._owner:
            name, k = f"{base}_{k}", k + 1
        self._owner[name] = key
        self._names[key] = name
        return name

    def version(self, base: str, busy) -> str:
        """A further name for what `base` names, `base_2`, `base_3`, ...: the first that
        no other key holds and that is not in `busy` (names still live)."""
        key = ("versions of", base)
        k = 2
        while True:
            name = f"{base}_{k}"
            if self._owner.get(name, key) == key and name not in busy:
                self._owner[name] = key
                return name
            k += 1


def key_text(key) -> str:
    """A dict key (str or int) or a string default as a Python literal that reads back as
    exactly that value: `repr` escapes quotes, backslashes and every non-printable
    character (line breaks, controls, bidi and other format characters), so user text
    cannot end the literal or hide anything in it."""
    if isinstance(key, bool) or not isinstance(key, (str, int)):
        raise TypeError(f"no key literal for {type(key).__name__}")
    text = repr(str(key)) if isinstance(key, str) else repr(int(key))
    assert text.isprintable(), text
    return text
