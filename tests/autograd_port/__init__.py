"""HIPS autograd's NumPy test suite, ported case by case: the yardstick of gradc issue #12.

autograd's tests/test_systematic.py, test_numpy.py, test_linalg.py, test_binary_ops.py and
test_scalar_ops.py (MIT licence) call `combo_check` / `check_grads` on NumPy functions; the
port keeps their cases (functions, argument combinations, differentiated arguments) as data
in one module per file, and `runner.py` checks each gradient with gradc against NumPy and
finite differences. `python -m tests.autograd_port [-v]` prints the per-file table.
"""
import importlib
import json
from pathlib import Path

FILES = {  # autograd's test file -> the module here that ports it
    "test_systematic": "systematic",
    "test_numpy": "numpy_tests",
    "test_linalg": "linalg",
    "test_binary_ops": "binary_ops",
    "test_scalar_ops": "scalar_ops",
}
EXPECTED_JSON = Path(__file__).with_name("expected.json")
SUBSET_STRIDE = 2  # the default test run takes every 2nd case of each file (GRADC_AUTOGRAD_PORT=full: all)


def load_cases(files=None) -> dict:
    """{autograd file: [Case, ...]} in the order autograd's file runs them."""
    out = {}
    for file, mod in FILES.items():
        if files is None or file in files:
            out[file] = importlib.import_module(f"{__name__}.{mod}").CASES
    return out


def subset(cases: list) -> list:
    return [c for c in cases if c.index % SUBSET_STRIDE == 0]


def load_expected() -> dict:
    return json.loads(EXPECTED_JSON.read_text()) if EXPECTED_JSON.exists() else {}
