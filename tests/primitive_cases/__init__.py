"""Registry-test cases of primitive families, one module each, beside tests/test_primitives.py.

A module here defines `cases(Case, I, K, Fixed, Same) -> {primitive name: [Case, ...]}` (the
operand specifications of test_primitives.py) and `NUMPY_REF = {name: numpy function}`; the
registry-wide tests (finite differences, SymPy, codegen vs evaluate, float32) pick them up.
"""
import importlib
import pkgutil


def modules():
    return [importlib.import_module(f"{__name__}.{m.name}")
            for m in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)]
