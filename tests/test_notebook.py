"""A compiled function in a real Jupyter run (nbconvert executes a notebook on a kernel):
it displays its listing, its graph and its generated source, with user text escaped."""
import shutil
import subprocess
import sys

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook check needs the test extra (nbconvert)")


def test_compiled_function_displays_in_a_notebook(tmp_path):
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[
        new_code_cell("import numpy as np\nimport gradc\n"
                      "def loss(w):\n    return np.sum(np.tanh(w) ** 2)  # <b>not bold</b>\n"
                      "c = gradc.compile(loss, wrt='w', args=(np.ones(3),))\nc"),
        new_code_cell("c.trace(np.ones(3))"),
    ])
    path = tmp_path / "demo.ipynb"
    path.write_text(nbformat.writes(nb))
    r = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                        str(path), "--output", "ran.ipynb"], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    ran = nbformat.read(tmp_path / "ran.ipynb", as_version=4)
    compiled, trace = (cell.outputs[0]["data"] for cell in ran.cells)
    html = compiled["text/html"]
    assert "v_1 = tanh(v_0)" in html and "def loss_value_and_grad(w):" in html
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html and "<b>not bold</b>" not in html
    if shutil.which("dot"):
        assert "<svg" in html and "<svg" in compiled["image/svg+xml"]
    assert compiled["text/plain"].startswith("loss(w: f64[3])")
    assert "<table" in trace["text/html"]
