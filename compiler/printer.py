"""The SSA listing in the lecture notes' notation: inputs v_0, v_-1, ..., ops v_1..v_m,
adjoints v̄_k. Rendered through the same statements as the generated code, so the
listing and the source always agree line for line."""
from __future__ import annotations

import re
import unicodedata

from .codegen import Naming, output_text, statements
from .ir import Program
from .syntax import visible

_NP = re.compile(r"\bnp\.")


def math_text(expr: str) -> str:
    """Generated-code text in the listing's notation (NumPy's `np.` prefix dropped)."""
    return _NP.sub("", expr)


def listing(program: Program) -> str:
    naming = Naming(program, "math", {c: c.name or f"c{i}" for i, c in enumerate(program.consts(), 1)})
    stmts = statements(program, naming)
    rows: list[tuple[str, str]] = []
    args = ", ".join(f"{v.name}: {v.aval}" for v in program.inputs)
    header = f"{visible(program.name)}({visible(args)})"  # user text: no raw control characters
    for v in program.inputs:
        rows.append((naming.base(v), v.name))
    for c, name in naming.const_names.items():
        rows.append((name, f"constant {c.aval}"))
    last_sweep = "forward"
    for s in stmts:
        if s.op.sweep != last_sweep:
            rows.append(("", s.op.sweep))
            last_sweep = s.op.sweep
        if s.loop is not None or s.cond is not None or s.wloop is not None:
            rows += _block_rows([s], "")
            continue
        op = "+=" if s.augmented else "="
        rows.append((s.lhs, f"{op} {math_text(s.expr)}", str(s.op.out.aval)))
    width = max((display_width(r[0]) for r in rows if len(r) > 1), default=0)
    exprw = max((display_width(r[1]) for r in rows if len(r) == 3), default=0)
    lines = [header]
    for r in rows:
        if not r[0]:
            lines.append(f"  -- {r[1]} sweep --")
        elif len(r) == 1:
            lines.append(f"  {r[0]}")
        elif len(r) == 3:
            lines.append(f"  {pad(r[0], width)} {pad(r[1], exprw)}   # {r[2]}")
        else:
            lines.append(f"  {pad(r[0], width)} = {r[1]}")
    lines.append(f"  return {math_text(output_text(program, naming, stmts, grouped=False))}")
    return "\n".join(lines)


def _loop_rows(s, indent: str) -> list[tuple]:
    """A loop op in the listing: carries and stacks, `for i in range(T):`, the body once."""
    block, rows = s.loop, []
    inits = [(n, e) for n, e in block.inits if n != e]
    if inits:
        rows.append((indent + ", ".join(n for n, _ in inits),
                     f"= {', '.join(math_text(e) for _, e in inits)}", "carried"))
    for name, shape, dtype in block.stacks:
        rows.append((indent + name, f"= stack of {shape[0]} rows", _aval_text(shape, dtype)))
    rows.append((f"{indent}for {block.index} in {block.header}:",))
    inner = indent + "    "
    rows += _block_rows(block.body, inner)
    for name, expr in block.writes:
        rows.append((f"{inner}{name}[{block.index}]", f"= {math_text(expr)}", "row"))
    changed = [(n, e) for n, e in block.carries if n != e]
    if changed:  # all at once, as the generated code rebinds them
        rows.append((inner + ", ".join(n for n, _ in changed),
                     f"= {', '.join(math_text(e) for _, e in changed)}", "next iteration"))
    return rows


def _while_rows(s, indent: str) -> list[tuple]:
    """A while op in the listing: carries, `while test:` with the condition's and the body's
    statements once; an unwind op: `for k in range(n - 1, -1, -1):` reading tape row k."""
    block, rows, inner = s.wloop, [], indent + "    "
    inits = [(n, e) for n, e in block.inits if n != e]
    if inits:
        rows.append((indent + ", ".join(n for n, _ in inits),
                     f"= {', '.join(math_text(e) for _, e in inits)}", "carried"))
    if block.index is None:
        if block.tape is not None:
            rows.append((indent + block.tape, "= []", "tape: a row per iteration"))
        rows.append((f"{indent}while {'True' if block.cond else math_text(block.test)}:",))
        if block.cond:
            rows += _block_rows(block.cond, inner)
            rows.append((f"{inner}if not {math_text(block.test)}: break",))
        rows += _block_rows(block.body, inner)
        if block.tape is not None:
            rows.append((f"{inner}{block.tape}.append({', '.join(math_text(e) for e in block.appends)})",))
    else:
        rows.append((f"{indent}for {block.index} in range({block.count} - 1, -1, -1):",))
        if block.rows:
            rows.append((inner + ", ".join(block.rows), f"= {block.tape}[{block.index}]", "tape row"))
        rows += _block_rows(block.body, inner)
    changed = [(n, e) for n, e in block.carries if n != e]
    if changed:
        rows.append((inner + ", ".join(n for n, _ in changed),
                     f"= {', '.join(math_text(e) for _, e in changed)}", "next iteration"))
    return rows


def _cond_rows(s, indent: str) -> list[tuple]:
    """A cond op in the listing: `if v3:`, each branch once, its results bound."""
    rows = [(f"{indent}if {math_text(s.cond.test)}:",)]
    inner = indent + "    "
    for j, (stmts, assigns) in enumerate(s.cond.branches):
        if j:
            rows.append((f"{indent}else:",))
        rows += _block_rows(stmts, inner)
        changed = [(n, e) for n, e in assigns if n != e]
        if changed:
            rows.append((inner + ", ".join(n for n, _ in changed),
                         f"= {', '.join(math_text(e) for _, e in changed)}", "result"))
    return rows


def _block_rows(stmts, indent: str) -> list[tuple]:
    rows = []
    for st in stmts:
        if st.loop is not None:
            rows += _loop_rows(st, indent)
        elif st.cond is not None:
            rows += _cond_rows(st, indent)
        elif st.wloop is not None:
            rows += _while_rows(st, indent)
        else:
            rows.append((indent + st.lhs, f"{'+=' if st.augmented else '='} {math_text(st.expr)}",
                         str(st.op.out.aval)))
    return rows


def _aval_text(shape, dtype) -> str:
    from .ir import Aval
    return str(Aval(tuple(shape), dtype))


def display_width(text: str) -> int:
    """Columns on screen: combining marks (the bar of v̄) take none."""
    return sum(not unicodedata.combining(ch) for ch in text)


def pad(text: str, width: int) -> str:
    return text + " " * (width - display_width(text))
