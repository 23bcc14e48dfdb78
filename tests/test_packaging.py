"""The installed package: `import gradc`, with the runtime inside it, and nothing generic
at the top level of site-packages (the repository's folders are compiler/ and runtime/)."""
import os
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "-q", "-w", str(out), str(ROOT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    (path,) = out.glob("gradc-*.whl")
    return path


def test_wheel_installs_only_gradc(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"gradc"}
    assert "gradc/runtime/support.py" in names and "gradc/runtime/checkpoint.py" in names


def test_installed_package_imports_and_runs_outside_the_repo(wheel, tmp_path):
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                        str(target), str(wheel)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # A user's own compiler.py / runtime.py next to their loss must not matter.
    work = tmp_path / "work"
    work.mkdir()
    (work / "compiler.py").write_text("raise SystemExit('user compiler.py imported')\n")
    (work / "runtime.py").write_text("raise SystemExit('user runtime.py imported')\n")
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = ("import gradc, gradc.runtime, numpy as np\n"
            "print(gradc.__file__.startswith(%r))\n"
            "print(gradc.grad('x**2 + y', wrt='x')(3.0, 1.0))\n" % str(target))
    r = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "6.0"]
    r = subprocess.run([sys.executable, "-m", "gradc", "--help"], cwd=work, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # Every command's --help example runs as printed, with no repository around.
    commands = ["grad", "show", "compile", "trace", "graph", "check", "jacobian", "hessian", "hvp"]
    for command in commands:
        r = subprocess.run([sys.executable, "-m", "gradc", command, "--help"], cwd=work, env=env,
                           capture_output=True, text=True)
        example = r.stdout.split("example:", 1)[1].strip().splitlines()[0]
        argv = shlex.split(example)
        assert argv[:2] == ["gradc", command]
        run = subprocess.run([sys.executable, "-m", "gradc", *argv[1:]], cwd=work, env=env,
                             capture_output=True, text=True)
        assert run.returncode == 0, (example, run.stderr)
