"""`import gradc` and compiling a Python function load neither SymPy nor Graphviz (they take
longer to import than the rest of gradc): they load when a feature that needs them is used.
Run in a fresh interpreter; the time is printed (with -s), never asserted."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import gradc
t1 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from logistic_rss import rss_loss
value, grad = gradc.value_and_grad(rss_loss, wrt="w")(np.array([-1.0, 1.5, 0.5]))
formula = gradc.grad("sqrt(x**2 + exp(x**2))", wrt="x")(0.5)
t2 = time.perf_counter()
heavy = ("sympy", "graphviz", "tqdm", "matplotlib", "scipy")
loaded = [m for m in heavy if m in sys.modules]
primitive = gradc.primitive  # the feature that needs SymPy brings it
out = {"loaded": loaded, "import_s": t1 - t0, "total_s": t2 - t0, "value": float(value),
       "grad": [float(g) for g in grad], "formula": formula, "sympy_after_primitive": "sympy" in sys.modules,
       "primitive": callable(primitive)}
print(json.dumps(out))
"""


def test_import_and_compile_load_neither_sympy_nor_graphviz():
    run = subprocess.run([sys.executable, "-c", PROBE, str(ROOT / "examples")], capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["loaded"] == [], f"imported at `import gradc` or compile time: {out['loaded']}"
    assert abs(out["value"] - 0.7071213812) < 1e-9  # the lecture's seed 000 numbers
    assert abs(out["grad"][0] - 0.1292979) < 1e-6
    assert out["primitive"] and out["sympy_after_primitive"]
    print(f"\nimport gradc: {out['import_s'] * 1e3:.0f} ms; with compiling and running seed 000 and a "
          f"formula: {out['total_s'] * 1e3:.0f} ms (bytecode caching as this interpreter has it)")


def test_sympy_formulas_of_primitives_still_work():
    # the primitive table names SymPy functions before SymPy is loaded (compiler/lazy_sympy.py)
    import sympy

    from gradc.primitives import registry
    x = sympy.Symbol("x")
    assert registry.get("exp").sympy(x) == sympy.exp(x)
    assert registry.get("arctan2").sympy(x, 2 * x) == sympy.atan2(x, 2 * x)
    assert registry.get("sigmoid").sympy(x) == 1 / (1 + sympy.exp(-x))
