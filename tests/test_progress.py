"""Progress bars: on a terminal for long work, never in logs, pipes or CI."""
import io
import sys

import numpy as np

import gradc
from gradc.runtime import progress as P


class Terminal(io.StringIO):
    def isatty(self):
        return True


def _quadratic(x):
    return np.sum(x ** 3)


def test_bar_on_a_terminal_for_long_work_only(monkeypatch):
    monkeypatch.delenv("GRADC_PROGRESS", raising=False)
    monkeypatch.setenv("GRADC_BATCH_BYTES", "1")  # one Hessian column at a time: 70 blocks
    tty = Terminal()
    monkeypatch.setattr(sys, "stderr", tty)
    x = np.linspace(-1, 1, 70)
    H = gradc.hessian(_quadratic, wrt="x")(x)
    np.testing.assert_allclose(H, np.diag(6 * x))
    assert "hessian of _quadratic" in tty.getvalue()  # 70 blocks of columns: a bar
    short = Terminal()
    monkeypatch.setattr(sys, "stderr", short)
    gradc.hessian(_quadratic, wrt="x")(x[:5])
    assert short.getvalue() == ""  # 5 blocks: no bar


def test_quiet_when_not_a_terminal_or_switched_off(monkeypatch):
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    items = list(range(100))
    assert P.progress(items, 100, "x") is items
    monkeypatch.setattr(sys, "stderr", Terminal())
    monkeypatch.setenv("GRADC_PROGRESS", "0")
    assert P.progress(items, 100, "x") is items
