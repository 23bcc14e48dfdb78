"""The trace table: the lecture's forward primal and reverse adjoint trace, with numbers.

Seed 000 (logistic regression, squared loss, w = (-1, 1.5, 0.5)) is checked row by row
against values computed here independently, against the lecture's 2-decimal numbers
as printed, and against golden files (regenerate with GRADC_UPDATE_GOLDEN=1)."""
import os
import re
from pathlib import Path

import numpy as np
import pytest

import gradc
from gradc.trace import TraceTable, format_value

import logistic_rss
import sqrt_exp_cos

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("GRADC_UPDATE_GOLDEN") == "1"
W = np.array([-1.0, 1.5, 0.5])
BAR = "v\u0304_"


@pytest.fixture(scope="module")
def table() -> TraceTable:
    compiled = gradc.compile(logistic_rss.rss_loss, wrt="w", args=(W,))
    return compiled.trace(W)


def _reference():
    """The lecture's intermediates and adjoints, computed by hand with NumPy."""
    X1, X2 = logistic_rss.X1, logistic_rss.X2
    v = {0: W, 1: X1 @ W, 2: X2 @ W}
    v[3] = 1 / (1 + np.exp(-v[1]))
    v[4] = 1 / (1 + np.exp(-v[2]))
    v[5] = 0.0 - v[3]
    v[6] = 1.0 - v[4]
    v[7] = v[5] ** 2
    v[8] = v[6] ** 2
    v[9] = v[7] + v[8]
    a = {9: 1.0, 8: 1.0, 7: 1.0}
    a[6] = a[8] * 2 * v[6]
    a[5] = a[7] * 2 * v[5]
    a[4] = -a[6]
    a[3] = -a[5]
    a[2] = a[4] * v[4] * (1 - v[4])
    a[1] = a[3] * v[3] * (1 - v[3])
    a[0] = a[2] * X2 + a[1] * X1
    return v, a


def test_rows_match_independent_values(table):
    v, a = _reference()
    for k, val in v.items():
        row = table.row(f"v_{k}", "forward")
        assert row.index == k
        np.testing.assert_allclose(row.value, val, rtol=0, atol=1e-12)
        np.testing.assert_allclose(table.primal[k], val, rtol=0, atol=1e-12)
    for k, val in a.items():
        row = table.row(f"{BAR}{k}", "reverse")  # the last (complete) row of the adjoint
        assert row.index == k
        np.testing.assert_allclose(row.value, val, rtol=0, atol=1e-12)
        np.testing.assert_allclose(table.adjoint[k], val, rtol=0, atol=1e-12)
    np.testing.assert_allclose(table.value, v[9], rtol=0, atol=1e-12)
    np.testing.assert_allclose(table.gradient, a[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(table.row("∇w").value, a[0], rtol=0, atol=1e-12)


def _printed(text: str, name: str):
    """The number(s) printed on the last line for `name` in the table's text."""
    lines = [ln for ln in text.splitlines() if ln.strip().startswith(name + " ")]
    assert lines, f"no row {name} in\n{text}"
    value = lines[-1].rsplit("= ", 1)[1]
    array = re.search(r"\[([^\]]*)\]\s*$", value)
    if array:
        return [float(x) for x in array.group(1).split(",")]
    return float(value)


LECTURE_FORWARD = {1: 1.25, 2: 0.75, 3: 0.78, 4: 0.68, 5: -0.78, 6: 0.32, 7: 0.61, 8: 0.1, 9: 0.71}
LECTURE_REVERSE = {9: 1, 8: 1, 7: 1, 6: 0.64, 5: -1.55, 4: -0.64, 3: 1.55, 2: -0.14, 1: 0.27}


def test_printed_table_matches_lecture(table):
    text = str(table)
    assert "forward primal trace" in text and "reverse adjoint trace" in text
    for k, expected in LECTURE_FORWARD.items():
        assert _printed(text, f"v_{k}") == pytest.approx(expected, abs=0.01), k
    for k, expected in LECTURE_REVERSE.items():
        assert _printed(text, f"{BAR}{k}") == pytest.approx(expected, abs=0.01), k
    assert _printed(text, "∇w") == pytest.approx([0.13, 0.06, 0.54], abs=0.01)
    assert _printed(text, "v_0") == [-1, 1.5, 0.5]


def test_reverse_rows_follow_the_reverse_sweep(table):
    rev = [(r.name, r.op, r.equation, r.kind) for r in table.reverse]
    names = [r[0] for r in rev]
    # Seed first, the folded adjoints of the add next, the gradient last.
    assert rev[0] == (f"{BAR}9", "=", "1", "seed")
    assert set(names[1:3]) == {f"{BAR}7", f"{BAR}8"}
    assert all(r[2] == f"{BAR}9" and r[3] == "derived" for r in rev[1:3])
    # Each adjoint after the adjoints it is computed from.
    order = [int(n[len(BAR):]) for n in names if n.startswith(BAR)]
    assert order == sorted(order, reverse=True)
    # The listing's own equations, and v̄_0 accumulated over its two uses.
    assert (f"{BAR}1", "=", f"{BAR}3 * v_3 * (1 - v_3)", "adjoint") in rev
    assert (f"{BAR}0", "=", f"{BAR}2 * X2", "adjoint") in rev
    assert (f"{BAR}0", "+=", f"{BAR}1 * X1", "adjoint") in rev
    assert names[-1] == "∇w"
    first = next(r for r in table.reverse if r.name == f"{BAR}0")
    np.testing.assert_allclose(first.value, _reference()[1][2] * logistic_rss.X2, atol=1e-12)


def test_forward_rows_are_the_listing(table):
    fwd = [(r.name, r.equation) for r in table.forward]
    assert fwd[0] == ("v_0", "w")
    assert ("v_1", "X1 @ v_0") in fwd and ("v_3", "sigmoid(v_1)") in fwd
    assert ("v_9", "v_7 + v_8") in fwd
    assert [r.index for r in table.forward if r.kind == "op"] == list(range(1, 10))


def test_columns_align_by_display_width(table):
    from gradc.printer import display_width as _width

    lines = [ln for ln in str(table).splitlines() if ln.startswith("  ")]
    starts = {_width(ln[: ln.index(" = ", 3)]) if " = " in ln[3:] else None for ln in lines}
    values = {_width(ln[: ln.rindex("   = ")]) for ln in lines}
    assert len(values) == 1, str(table)
    assert len(starts - {None}) >= 1


@pytest.mark.parametrize("suffix, render", [("txt", lambda t: str(t) + "\n"),
                                            ("md", lambda t: t.to_markdown() + "\n")])
def test_golden(table, suffix, render):
    text = render(table)
    path = GOLDEN / f"logistic_rss.trace.{suffix}"
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with GRADC_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"trace output changed: diff against {path}"


def test_markdown_and_html(table):
    md = table.to_markdown().splitlines()
    assert md[0].startswith("| Forward primal trace")
    assert re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", md[1])
    assert all(ln.count("|") - ln.count("\\|") == 5 for ln in md)
    assert len(md) == 2 + max(len(table.forward), len(table.reverse))
    page = table.to_html()
    assert page.startswith("<table") and page.rstrip().endswith("</table>")
    assert table._repr_html_() == page
    assert page.count("<tr>") == page.count("</tr>") == len(md) - 1
    assert "v̄_3 * v_3 * (1 - v_3)" in page


def test_html_escapes():
    def f(x):
        return np.sum(np.where(x < 0.5, x, 2 * x))

    x = np.array([0.2, 0.9])
    page = gradc.compile(f, wrt="x", args=(x,)).trace(x).to_html()
    body = re.sub(r"</?(table|caption|thead|tbody|tr|th|td|code)[^>]*>", "", page)
    assert "<" not in body and ">" not in body
    assert "&lt;" in page


def test_precision_option(table):
    assert "= 0.78\n" in table.to_text(precision=2)
    assert "0.7773" in str(table)
    table2 = TraceTable(table.name, table.forward, table.reverse, table.value, precision=8)
    assert f"= {_reference()[0][3]:.8g}\n" in str(table2)


def test_format_value():
    assert format_value(np.float64(0.12345678)) == "0.1235"
    assert format_value(2.0) == "2"
    assert format_value(np.int64(3)) == "3"
    assert format_value(np.array([0.1293, 0.0593926, 0.5])) == "f64[3] [0.1293, 0.05939, 0.5]"
    big = format_value(np.arange(1280.0).reshape(128, 10))
    assert big.startswith("f64[128,10] mean=639.5 min=0 max=1279"), big
    assert format_value(np.ones((2, 2), np.float32)) == "f32[2,2] [1, 1, 1, 1]"
    assert format_value(np.array([True, False])).startswith("bool[2]")


def _mlp(W1, b1, W2, X, Y):
    H = np.tanh(X @ W1 + b1)
    P = H @ W2
    return np.mean((P - Y) ** 2) + 0.01 * np.sum(W1**2)


def test_arrays_are_summarised():
    rng = np.random.default_rng(0)
    args = (rng.normal(size=(20, 10)), rng.normal(size=10), rng.normal(size=(10, 10)),
            rng.normal(size=(128, 20)), rng.normal(size=(128, 10)))
    compiled = gradc.compile(_mlp, wrt=("W1", "b1", "W2"), args=args)
    t = compiled.trace(*args)
    text = str(t)
    assert max(len(ln) for ln in text.splitlines()) <= 160, text
    assert len(text) < 8000
    assert "f64[128,10] mean=" in text
    grads = compiled.grad(*args)
    assert isinstance(t.gradient, tuple) and len(t.gradient) == 3
    for g, h in zip(t.gradient, grads):
        np.testing.assert_allclose(g, h, rtol=1e-12, atol=1e-12)
    for md_line in t.to_markdown().splitlines():
        assert len(md_line) <= 400


def test_derived_rows_are_honest():
    """Every adjoint re-derived here equals the one the compiled program computes or,
    for a plain alias `v̄_k = v̄_j`, the adjoint it names."""
    x = 0.5
    compiled = gradc.compile(sqrt_exp_cos.f, wrt="x", args=(x,))
    t = compiled.trace(x)
    out = max(t.primal)
    assert t.reverse[0].kind == "seed" and t.reverse[0].index == out and t.reverse[0].value == 1
    for r in t.reverse:
        if r.kind == "derived" and re.fullmatch(BAR + r"-?\d+", r.equation):
            assert r.value == t.adjoint[int(r.equation[len(BAR):])]
    np.testing.assert_allclose(t.gradient, compiled.grad(x), rtol=1e-12)
    # Every active value has an adjoint row.
    assert set(t.adjoint) == set(range(0, out + 1))
    assert {r.index for r in t.reverse if r.index is not None} == set(range(0, out + 1))


def test_a_long_loop_is_elided_in_the_trace_but_its_values_are_kept():
    import rnn_loop

    rng = np.random.default_rng(0)
    args = (rng.normal(size=(3, 3)), rng.normal(size=(3, 2)), rng.normal(size=(50, 2)), rng.normal(size=3))
    c = gradc.compile(rnn_loop.rnn, wrt=("W", "U", "h0"), args=args)
    table = c.trace(*args)
    text = str(table)
    assert text.count("47 of 50 iterations (2–48) of the loop at line") == 2  # forward and reverse
    assert len(text.splitlines()) < 80
    value, (W_bar, U_bar, h0_bar) = c.value_and_grad(*args)
    assert table.value == value and np.allclose(table.gradient[0], W_bar, rtol=1e-12, atol=1e-14)
    assert len(table.primal) > 200  # every value is still there, by v-index
    short = gradc.compile(rnn_loop.rnn, wrt="W", args=(args[0], args[1], args[2][:5], args[3]))
    assert "⋮" not in str(short.trace(args[0], args[1], args[2][:5], args[3]))  # 5 iterations: all shown
    assert "⋮" in table.to_markdown() and "⋮" in table.to_html()
