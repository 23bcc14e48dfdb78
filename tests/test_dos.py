"""Formulas cannot make gradc hang, recurse out, overflow or crash: every hostile input
is a CompileError with a caret, quickly. Each test runs under a SIGALRM watchdog, so a
hang fails the test instead of blocking CI. Code generation is linear in the program.
"""
from __future__ import annotations

import signal
import time

import numpy as np
import pytest

import gradc
from gradc.errors import CompileError

LIMIT_S = 10


@pytest.fixture(autouse=True)
def watchdog():
    def expire(signum, frame):
        raise TimeoutError(f"took more than {LIMIT_S} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.alarm(LIMIT_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


HOSTILE = {
    "deep_parentheses": "(" * 1000 + "x" + ")" * 1000,
    "deep_parentheses_199": "(" * 199 + "x" + ")" * 199 + " + 9**999",
    "long_unary_chain": "-" * 9000 + "x",
    "too_long_unary_chain": "-" * 100000 + "x",
    "long_sum": "+".join(["x"] * 3000),
    "deep_calls": "exp(" * 150 + "-" * 60 + "x" + ")" * 150,
    "huge_power_plus_x": "9**999 + x",
    "float_overflow": "9.0**999 + x",
    "huge_product": "(2**1000) * (2**1000) * x",
    "int_too_big_for_int64": "2**63 * x",
    "division_by_zero": "1/0 + x",
    "zero_to_negative_power": "0**-1 * x",
    "nested_huge_power": "((9**999)**999)**99 + x",
    "tower": "2**2**2**2**2**2 * x",
    "computed_exponent": "2**(3**40) + x",
    "overflowing_literal": "1e999 * x",
    "overflow_by_product": "1e308 * 10 + x",
    "exp_overflow": "exp(1000) + x",
    "log_of_zero": "log(0) * x",
    "sqrt_of_negative": "sqrt(-1) + x",
    "complex_power": "(-8)**0.5 + x",
    "matmul_of_numbers": "(2 @ 3) + x",
    "many_digits": "x + " + "9" * 5000,
    "null_byte": "x + \x00",
    "only_constants_huge": "9**999",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_formula_is_a_quick_compile_error(name):
    text = HOSTILE[name]
    start = time.perf_counter()
    with pytest.raises(CompileError) as info:
        gradc.compile(text, wrt=0, args=(0.5,)).grad(0.5)
    assert time.perf_counter() - start < LIMIT_S
    err = info.value
    assert type(err).__name__ != "InternalError", str(err)
    assert err.loc is not None and err.loc.filename == "<formula>"
    assert "^" in str(err)  # a caret under the formula
    assert all(ch.isprintable() or ch == "\n" for ch in str(err))


@pytest.mark.parametrize("text, x, value, grad", [
    ("9**999 / 9**998 * x", 0.5, 4.5, 9.0),
    ("2**62 * x", 1.0, 2.0 ** 62, 2.0 ** 62),
    ("2**-1 + x", 0.5, 1.0, 1.0),
    ("x**2000", 1.0, 1.0, 2000.0),  # a variable's power is not folded: no cap
    ("(" * 150 + "x" + ")" * 150 + " * 3", 0.5, 1.5, 3.0),
    ("+".join(["x"] * 150), 0.5, 75.0, 150.0),
    ("where(1 < 2, x, 0) * maximum(2, 3)", 0.5, 1.5, 3.0),
    ("-x**2 + pi*e", 1.0, -1.0 + np.pi * np.e, -2.0),
])
def test_reasonable_formulas_still_compile(text, x, value, grad):
    c = gradc.compile(text, wrt=0, args=(x,))
    v, g = c.value_and_grad(x)
    assert v == pytest.approx(value) and g == pytest.approx(grad)


def test_the_caret_points_at_the_constant():
    with pytest.raises(CompileError) as info:
        gradc.compile("x + sin(1/0)", wrt="x", args=(0.5,))
    assert (info.value.loc.col, info.value.loc.end_col) == (8, 11)
    with pytest.raises(CompileError) as info:
        gradc.compile("é + 1e999", wrt=0, args=(0.5,))  # columns in characters, not UTF-8 bytes
    assert (info.value.loc.col, info.value.loc.end_col) == (4, 9)


def test_codegen_is_linear_in_the_program():
    """The statement pass must not rescan every live name for every statement."""
    from gradc import codegen
    from gradc.ir import Aval, Builder, Program, Value

    def chain(n):
        x = Value(Aval((), np.dtype(np.float64)), "x")
        b = Builder()
        with b:
            h = x
            for _ in range(n):
                h = b.bind("tanh", h)
        program = Program("f", [x], b.ops, [h])
        naming = codegen.Naming(program, "python")
        start = time.perf_counter()
        codegen.statements(program, naming)
        return time.perf_counter() - start

    chain(500)
    small = min(chain(2000) for _ in range(3))
    large = min(chain(16000) for _ in range(3))
    # 8x the ops: linear is 8x, quadratic 64x; the slack absorbs a loaded machine's noise
    assert large < 8 * small * 5, (small, large)
