"""The gradc command, run as users run it: in a subprocess, checking output and exit codes."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradc.cli import highlight, parse_value

ROOT = Path(__file__).resolve().parent.parent
SEED = ["examples/logistic_rss.py:rss_loss", "--wrt", "w", "--at", "w=-1,1.5,0.5"]


def gradc(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "gradc", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_grad_prints_value_and_gradient():
    r = gradc("grad", *SEED)
    assert r.returncode == 0, r.stderr
    assert "value: 0.707121" in r.stdout
    numbers = [float(x) for x in re.findall(r"-?\d+\.\d+", r.stdout.split("d/dw:")[1])]
    np.testing.assert_allclose(numbers, [0.129298, 0.059393, 0.543474], atol=1e-6)


def test_grad_reads_npy_and_npz(tmp_path):
    np.save(tmp_path / "w.npy", np.array([-1.0, 1.5, 0.5]))
    r = gradc("grad", "examples/logistic_rss.py:rss_loss", "--wrt", "w", "--at", f"w={tmp_path / 'w.npy'}")
    assert r.returncode == 0, r.stderr
    assert "0.543474" in r.stdout
    np.savez(tmp_path / "args.npz", w=np.array([-1.0, 1.5, 0.5]))
    r = gradc("grad", "examples/logistic_rss.py:rss_loss", "--wrt", "w", "--at", str(tmp_path / "args.npz"))
    assert r.returncode == 0, r.stderr
    assert "0.543474" in r.stdout


def test_show_prints_listing_and_source():
    r = gradc("show", *SEED, "--adjoint-ir")
    assert r.returncode == 0, r.stderr
    assert "v̄_1 = v̄_3 * v_3 * (1 - v_3)" in r.stdout
    r = gradc("show", *SEED, "--source")
    assert "def rss_loss_value_and_grad(w):" in r.stdout
    assert "\x1b[" not in r.stdout  # no colours when stdout is not a terminal


def test_highlight_only_adds_colour():
    source = 'def f(x):\n    """doc"""\n    # note\n    return x ** 2 + 1.5\n'
    coloured = highlight(source)
    assert coloured != source
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == source


def test_compile_writes_a_standalone_module(tmp_path):
    out = tmp_path / "rss_grad.py"
    r = gradc("compile", *SEED, "-o", str(out))
    assert r.returncode == 0, r.stderr
    check = subprocess.run(
        [sys.executable, "-c", "import sys, numpy as np, rss_grad; "
         "v, g = rss_grad.rss_loss_value_and_grad(np.array([-1.0, 1.5, 0.5])); "
         "assert 'gradc' not in sys.modules; print(round(float(v), 6), np.round(g, 6).tolist())"],
        cwd=tmp_path, capture_output=True, text=True, env={"PATH": os.environ.get("PATH", "")})
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == "0.707121 [0.129298, 0.059393, 0.543474]"


def test_check_passes_for_a_correct_gradient():
    r = gradc("check", *SEED)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK: worst relative error" in r.stdout


def test_check_fails_when_the_tolerance_cannot_be_met():
    r = gradc("check", *SEED, "--eps", "0.5", "--tolerance", "1e-12")
    assert r.returncode == 1
    assert "MISMATCH" in r.stdout


def test_trace_formats():
    r = gradc("trace", *SEED)
    assert r.returncode == 0, r.stderr
    assert "1.25" in r.stdout and "0.7071" in r.stdout
    r = gradc("trace", *SEED, "--format", "markdown")
    assert r.returncode == 0, r.stderr
    assert "|" in r.stdout and "---" in r.stdout
    r = gradc("trace", *SEED, "--format", "html")
    assert r.returncode == 0, r.stderr
    assert "<table" in r.stdout


@pytest.mark.parametrize("flag", [[], ["--adjoint"], ["--both"]])
def test_graph_writes_an_image(tmp_path, flag):
    out = tmp_path / "g.svg"
    r = gradc("graph", *SEED, "-o", str(out), *flag)
    assert r.returncode == 0, r.stderr
    assert out.read_text().lstrip().startswith(("<?xml", "<svg", "<!DOCTYPE"))
    assert "<svg" in out.read_text()


def test_user_errors_exit_2_with_a_caret_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy as np\n\ndef loss(w):\n    while np.sum(w) > 0:\n        w = np.concatenate([w, w])\n"
                   "    return np.sum(w)\n")
    r = gradc("grad", f"{bad}:loss", "--wrt", "w", "--at", "w=1,2")
    assert r.returncode == 2
    assert "while loop" in r.stderr and "line 4" in r.stderr and "^^^" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args, message", [
    (["grad", "examples/logistic_rss.py"], "FILE.py:FUNCTION"),
    (["grad", "nope.py:f"], "no such file"),
    (["grad", "examples/logistic_rss.py:nothing"], "no function"),
    (["grad", *SEED[:4], "q=1"], "no argument of that name"),
    (["grad", "examples/logistic_rss.py:rss_loss", "--wrt", "w"], "no value for argument"),
    (["grad", *SEED[:4], "w=a,b"], "cannot read"),
    (["grad", *SEED[:2], "v", *SEED[3:]], "names no argument"),
])
def test_command_line_mistakes_exit_2(args, message):
    r = gradc(*args)
    assert r.returncode == 2, r.stdout
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_every_subcommand_has_help_with_an_example():
    for command in ("grad", "show", "compile", "trace", "graph", "check", "hessian", "hvp", "jacobian"):
        r = gradc(command, "--help")
        assert r.returncode == 0
        assert "example:" in r.stdout and f"gradc {command} " in r.stdout


def test_parse_value():
    assert parse_value("0.5") == 0.5 and parse_value("3") == 3
    np.testing.assert_array_equal(parse_value("1,2;3,4"), [[1.0, 2.0], [3.0, 4.0]])


def test_hessian_and_hvp_commands():
    import logistic_rss

    import gradc as api

    H = api.hessian(logistic_rss.rss_loss, wrt="w")(np.array([-1.0, 1.5, 0.5]))
    number = r"-?\d+\.\d+(?:e-?\d+)?"
    r = gradc("hessian", *SEED)
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose([float(x) for x in re.findall(number, r.stdout.split(":", 1)[1])],
                               H.ravel(), atol=1e-6)
    r = gradc("hvp", *SEED, "--direction", "w=1,0,0")
    assert r.returncode == 0, r.stderr
    np.testing.assert_allclose([float(x) for x in re.findall(number, r.stdout.split(":", 1)[1])],
                               H[:, 0], atol=1e-6)


def test_jacobian_command_on_a_formula():
    r = gradc("jacobian", "sin(x) * y", "--wrt", "x,y", "--at", "x=0.5", "y=2")
    assert r.returncode == 0, r.stderr
    assert "mode: reverse" in r.stdout  # 2 inputs, 1 output
    assert "1.755165" in r.stdout and "0.479426" in r.stdout  # 2 cos(0.5), sin(0.5)


# -- trust: check never passes NaN/infinity, outputs never overwritten silently -------------
# (in-process, for speed: gradc.cli.main returns the exit status; argparse exits with 2)


def run_main(capsys, *argv):
    from gradc.cli import main

    try:
        rc = main(list(argv))
    except SystemExit as e:
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def user_file(tmp_path):
    def write(stem, body):
        path = tmp_path / f"{stem}.py"
        path.write_text("import numpy as np\n\n\n" + body)
        return path
    return write


def test_check_reports_a_nan_gradient(capsys, user_file):
    f = user_file("trust_nan_grad", "def loss(x):\n    return np.sum(np.sqrt(x ** 2))\n")
    rc, out, _ = run_main(capsys, "check", f"{f}:loss", "--at", "x=0.0,1.0")
    assert rc == 1, out
    assert "MISMATCH: the gradient is not finite: d/dx[0] = nan" in out
    assert "OK" not in out


def test_check_reports_nan_arguments_and_values(capsys, user_file):
    f = user_file("trust_nan_at", "def loss(x):\n    return np.sum(x ** 2)\n")
    rc, out, _ = run_main(capsys, "check", f"{f}:loss", "--at", "x=nan,1.0")
    assert rc == 1 and "argument x is not finite: x[0] = nan" in out, out
    rc, out, _ = run_main(capsys, "check", "log(x)", "--at", "x=-1.0")
    assert rc == 1 and "the value is not finite" in out and "finite difference along x" in out, out
    rc, out, _ = run_main(capsys, "check", "x**2", "--at", "x=1e200")
    assert rc == 1 and "not finite" in out, out


@pytest.mark.parametrize("flag, value", [("--eps", "nan"), ("--eps", "0"), ("--eps", "-1e-6"),
                                         ("--eps", "inf"), ("--tolerance", "nan"),
                                         ("--tolerance", "inf"), ("--tolerance", "-1")])
def test_check_refuses_bad_eps_and_tolerance(capsys, flag, value):
    rc, out, err = run_main(capsys, "check", *SEED, f"{flag}={value}")
    assert rc == 2, (out, err)
    assert f"argument {flag}:" in err and "finite" in err
    assert "OK" not in out


def test_compile_never_overwrites_the_input_file(capsys, user_file, tmp_path):
    f = user_file("trust_self_overwrite", "def loss(x):\n    return np.sum(x ** 2)\n")
    before = f.read_text()
    for extra in ([], ["--force"]):
        rc, out, err = run_main(capsys, "compile", f"{f}:loss", "--at", "x=1,2", "-o", str(f), *extra)
        assert rc == 2 and "refusing to write over" in err, (out, err)
        assert f.read_text() == before
    link = tmp_path / "alias.py"
    link.symlink_to(f)
    rc, out, err = run_main(capsys, "compile", f"{f}:loss", "--at", "x=1,2", "-o", str(link), "--force")
    assert rc == 2 and f.read_text() == before, err


def test_compile_and_graph_refuse_existing_outputs_without_force(capsys, user_file, tmp_path):
    f = user_file("trust_existing_out", "def loss(x):\n    return np.sum(x ** 2)\n")
    out_py = tmp_path / "out.py"
    out_py.write_text("# mine\n")
    rc, out, err = run_main(capsys, "compile", f"{f}:loss", "--at", "x=1,2", "-o", str(out_py))
    assert rc == 2 and "already exists; pass --force" in err, (out, err)
    assert out_py.read_text() == "# mine\n"
    rc, out, err = run_main(capsys, "compile", f"{f}:loss", "--at", "x=1,2", "-o", str(out_py), "--force")
    assert rc == 0, err
    assert "def loss_value_and_grad" in out_py.read_text()
    image = tmp_path / "g.svg"
    image.write_text("mine")
    rc, out, err = run_main(capsys, "graph", f"{f}:loss", "--at", "x=1,2", "-o", str(image))
    assert rc == 2 and "already exists; pass --force" in err, (out, err)
    assert image.read_text() == "mine"
