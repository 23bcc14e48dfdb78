"""User text never becomes code: every channel by which a user's text reaches a generated
module (formula text, function name, argument and symbol names, file name, source lines
quoted in `# line N:` comments, docstrings and the origin sentence, constant names) is
fuzzed with quotes, backslashes, line breaks of every kind, terminal escapes, `#`,
`\"\"\"` and `'''`. The generated module (`.source`, `.save(path)`, `gradc compile -o`) must
parse to the expected shape, keep one physical line per line, carry only real comments,
and run nothing of the user's text when loaded or imported.
"""
from __future__ import annotations

import ast
import builtins
import importlib.util
import io
import subprocess
import sys
import tokenize
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gradc
from gradc.errors import CompileError, SignatureError
from gradc.runtime import loader

ROOT = Path(__file__).resolve().parents[1]
# the subprocess imports the same gradc as this process
ENV = {"PYTHONPATH": f"{Path(gradc.__file__).resolve().parents[1]}:{ROOT}", "PATH": "/usr/bin:/bin"}
SETTINGS = dict(deadline=None, derandomize=True, database=None, max_examples=40,
                suppress_health_check=[HealthCheck.too_slow])

BREAKS = ['"""', "'''", '"', "'", "\\", "\\\"\"\"", "#", "\r", "\n", "\r\n", "\x0c", "\x0b", "\x1c", "\x1d",
          "\x1e", "\x85", "\u2028", "\u2029", "\x1b[2J", "\x1b]0;title\x07", "\x9b31m", "\x00", "\t",
          "\u202e", ")", ";", " "]
STATEMENTS = ["__import__('builtins').GRADC_PWNED = 1", '__import__("builtins").GRADC_PWNED = 1',
              "GRADC_PWNED = 1", "import builtins; builtins.GRADC_PWNED = 1"]

payloads = st.builds(lambda a, s, b: a + s + b,
                     st.lists(st.sampled_from(BREAKS), min_size=1, max_size=4).map("".join),
                     st.sampled_from(STATEMENTS),
                     st.lists(st.sampled_from(BREAKS), max_size=3).map("".join))


@pytest.fixture(autouse=True)
def no_payload_ran():
    if hasattr(builtins, "GRADC_PWNED"):
        del builtins.GRADC_PWNED
    yield
    assert not hasattr(builtins, "GRADC_PWNED"), "user text ran as code"


def assert_safe_module(source: str, *, expected_defs=()) -> ast.Module:
    """One physical line per line, only printable text, only comments where '#' starts a
    line's text, and the top level a generated module has: its docstring, imports of numpy
    (and os), functions and assignments of constants."""
    assert all(ch.isprintable() or ch == "\n" for ch in source), "raw control character in the module"
    assert source.endswith("\n") and source.splitlines() == source.split("\n")[:-1]
    tree = ast.parse(source)
    assert isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant) \
        and isinstance(tree.body[0].value.value, str)
    defs = set()
    for node in tree.body[1:]:
        if isinstance(node, ast.Import):
            assert [(a.name, a.asname) for a in node.names] in ([("numpy", "np")], [("os", None)], [("math", None)])
        elif isinstance(node, ast.FunctionDef):
            defs.add(node.name)
            assert not node.decorator_list
        elif isinstance(node, ast.Assign):
            assert len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        else:
            raise AssertionError(f"unexpected top-level statement: {ast.dump(node)[:200]}")
    for node in ast.walk(tree):
        assert not isinstance(node, (ast.Import, ast.ImportFrom)) or node in tree.body
        if isinstance(node, ast.Name):
            assert node.id not in ("__import__", "builtins", "exec", "eval", "open", "GRADC_PWNED")
        if isinstance(node, ast.Attribute):
            assert node.attr != "GRADC_PWNED"
    moved = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "__gradc_entry_points__":
            moved = ast.literal_eval(node.value)
    assert {moved.get(d, d) for d in expected_defs} <= defs
    lines = source.split("\n")
    comments = {tok.start[0] for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                if tok.type == tokenize.COMMENT}
    for i, line in enumerate(lines, 1):
        if line.lstrip().startswith("#"):
            assert i in comments, f"line {i} looks like a comment but is not one: {line!r}"
    for i in comments:
        assert lines[i - 1].lstrip().startswith("#"), f"line {i} carries a trailing comment"
    return tree


def run_module(source: str) -> dict:
    ns: dict = {"__name__": "gradc_injection_test"}
    exec(compile(source, "<generated>", "exec"), ns)  # the generated module, checked above
    return ns


def load_saved(path: Path):
    spec = importlib.util.spec_from_file_location("gradc_injection_saved", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- formula text ------------------------------------------------------------------


@settings(**SETTINGS)
@given(payloads)
def test_formula_text_never_becomes_code(payload):
    text = f"x * 2.0 #{payload}"
    try:
        c = gradc.compile(text, wrt="x", args=(1.5,))
    except CompileError as e:
        assert all(ch.isprintable() or ch == "\n" for ch in str(e)), "raw control character in the error"
        return
    assert_safe_module(c.source, expected_defs=("f", "f_value_and_grad"))
    ns = run_module(c.source)
    assert ns["f_value_and_grad"](1.5) == (3.0, 2.0)
    assert c.grad(1.5) == 2.0


def test_the_reported_formula_payload_is_inert(tmp_path):
    marker = tmp_path / "pwned"
    text = f'x#"""; import os; open({str(marker)!r}, "w"); """'
    c = gradc.compile(text, wrt="x", args=(0.5,))
    assert c.grad(0.5) == 1.0
    assert_safe_module(c.source, expected_defs=("f",))
    path = c.save(tmp_path / "formula_grad.py")
    assert_safe_module(path.read_text(), expected_defs=("f",))
    module = load_saved(path)
    assert module.f_value_and_grad(0.5) == (0.5, 1.0)
    assert not marker.exists()


def test_formula_in_saved_module_and_cli(tmp_path):
    marker = tmp_path / "pwned_cli"
    text = f"x * x #'''\\\"\"\"; open({str(marker)!r}, 'w'); '''\"\"\" \x1b[2J"
    c = gradc.compile(text.replace("\x1b[2J", ""), wrt="x", args=(0.5,))
    path = c.save(tmp_path / "saved.py")
    assert_safe_module(path.read_text(), expected_defs=("f",))
    load_saved(path)
    out = tmp_path / "cli_out.py"
    r = subprocess.run([sys.executable, "-m", "gradc", "compile", text.replace("\x1b[2J", ""), "--wrt", "x",
                        "--at", "x=0.5", "-o", str(out)], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120, env=ENV)
    assert r.returncode == 0, r.stderr
    assert_safe_module(out.read_text(), expected_defs=("f",))
    assert load_saved(out).f_value_and_grad(0.5) == (0.25, 1.0)
    assert not marker.exists()
    # control characters in a formula are refused, and the error does not echo them raw
    r = subprocess.run([sys.executable, "-m", "gradc", "compile", text, "--wrt", "x", "--at", "x=0.5",
                        "-o", str(tmp_path / "never.py")], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120, env=ENV)
    assert r.returncode != 0 and "\x1b" not in r.stderr + r.stdout
    assert not (tmp_path / "never.py").exists()


@settings(**SETTINGS)
@given(st.text(alphabet="".join(set("".join(BREAKS))) + "ab", max_size=8))
def test_compile_errors_echo_no_control_characters(junk):
    try:
        gradc.compile(f"x + {junk} + q.real", wrt="x", args=(1.0,))
    except CompileError as e:
        text = str(e)
        assert all(ch.isprintable() or ch == "\n" for ch in text)
        lines = text.split("\n")
        if len(lines) >= 2 and set(lines[-1].strip()) == {"^"}:
            assert len(lines[-1]) <= len(lines[-2]) + 1  # the caret stays under the shown line


# -- names: function, arguments, symbols, variables= ---------------------------------


def _square(x):
    return np.sum(x * x)


@settings(**SETTINGS)
@given(payloads)
def test_function_name_never_becomes_code(payload):
    fn = types.FunctionType(_square.__code__, _square.__globals__, name=payload)
    fn.__qualname__ = payload
    try:
        c = gradc.compile(fn, wrt="x", args=(np.array([1.0, 2.0]),))
    except CompileError as e:
        assert all(ch.isprintable() or ch == "\n" for ch in str(e))
        return
    tree = assert_safe_module(c.source)
    defs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert len(defs) == 3 and defs[0] == "check_arguments"  # the argument check, then the two entry points
    np.testing.assert_allclose(c.grad(np.array([1.0, 2.0])), [2.0, 4.0])
    run_module(c.source)


@settings(**SETTINGS)
@given(payloads)
def test_symbol_and_variable_names_never_become_code(payload):
    import sympy as sp

    x = sp.Symbol(payload)
    with pytest.raises(CompileError) as info:
        gradc.compile(x ** 2 + sp.Symbol("y"), wrt=payload, args=(1.0, 2.0))
    assert all(ch.isprintable() or ch == "\n" for ch in str(info.value))
    with pytest.raises(CompileError):
        gradc.compile("x * y", wrt="x", variables=["x", "y", payload], args=(1.0, 2.0, 3.0))


@pytest.mark.parametrize("name", ["lambda", "x y", "None", "__debug__", "x\x1b[2J"])
def test_odd_symbol_names(name):
    import sympy as sp

    x = sp.Symbol(name)
    try:
        c = gradc.compile(x ** 2 * sp.Symbol("y"), wrt=name, args=(1.5, 2.0))
    except SignatureError as e:  # refused as the user's mistake, never an internal error
        assert all(ch.isprintable() or ch == "\n" for ch in str(e))
        return
    assert_safe_module(c.source)
    assert c.grad(1.5, 2.0) == pytest.approx(6.0)


def test_symbols_equal_after_normalisation_are_refused():
    import sympy as sp

    with pytest.raises(SignatureError):
        gradc.compile(sp.Symbol("ℌ") * sp.Symbol("H"), wrt="H", args=(1.0, 2.0))


# -- file names, source lines, docstrings ----------------------------------------------

SOURCE = '''import numpy as np

SCALE = np.array([1.0, 2.0, 3.0])


def loss(x):
    """Docstring: \\"\\"\\"; __import__('builtins').GRADC_PWNED = 1; \\"\\"\\" \\u2028 {doc}"""
    y = x * SCALE  # {comment}
    s = "{string}"
    return np.sum(y * y)  # {comment}
'''

LINE_TEXT = ["\u2028__import__('builtins').GRADC_PWNED = 1", "\x0c\x0b\x1c\x1d\x1e\x85 GRADC_PWNED = 1",
             '"""; GRADC_PWNED = 1; """', "\\", "\x1b[2J\x1b]0;t\x07", "\u2029\u202e'''"]
FILE_NAMES = ['evil"""; GRADC_PWNED = 1; """.py', "evil\r__import__('builtins').GRADC_PWNED = 1.py",
              "evil\nGRADC_PWNED = 1 #.py", "evil\u2028x\x1b[2J.py", "evil\\'''.py"]


@pytest.mark.parametrize("k", range(len(FILE_NAMES)))
def test_file_names_and_source_lines_never_become_code(tmp_path, k):
    text = LINE_TEXT[k % len(LINE_TEXT)]
    body = SOURCE.format(doc=text.replace("\\", "\\\\").replace('"', '\\"'),
                         comment=text.replace("\n", " ").replace("\r", " "),
                         string=text.encode("unicode_escape").decode().replace('"', '\\"'))
    path = tmp_path / FILE_NAMES[k]
    path.write_text(body, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"gradc_evil_{k}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = np.array([0.5, -1.0, 2.0])
    c = gradc.compile(module.loss, wrt="x", args=(x,))
    want = 2 * x * np.array([1.0, 4.0, 9.0])
    np.testing.assert_allclose(c.grad(x), want)
    assert_safe_module(c.source, expected_defs=("loss", "loss_value_and_grad"))
    run_module(c.source)
    saved = c.save(tmp_path / "saved_module.py")
    assert_safe_module(saved.read_text(), expected_defs=("loss",))
    np.testing.assert_allclose(load_saved(saved).loss_value_and_grad(x)[1], want)
    checkpointed = gradc.compile(module.loss, wrt="x", args=(x,), checkpoint=gradc.Revolve(snapshots=2))
    assert_safe_module(checkpointed.source)
    np.testing.assert_allclose(checkpointed.grad(x), want)


def test_cli_with_an_evil_file_name(tmp_path):
    path = tmp_path / 'evil"""; GRADC_PWNED = 1; """.py'
    path.write_text(SOURCE.format(doc="\u2028", comment="\x0c\u2028 GRADC_PWNED = 1", string="s"),
                    encoding="utf-8")
    out = tmp_path / "out.py"
    r = subprocess.run([sys.executable, "-m", "gradc", "compile", f"{path}:loss", "--wrt", "x",
                        "--at", "x=1,2,3", "-o", str(out)], cwd=tmp_path, capture_output=True, text=True,
                       timeout=120, env=ENV)
    assert r.returncode == 0, r.stderr
    assert_safe_module(out.read_text(), expected_defs=("loss",))
    np.testing.assert_allclose(load_saved(out).loss_value_and_grad(np.array([1.0, 2.0, 3.0]))[1],
                               [2.0, 16.0, 54.0])


def test_errors_at_a_line_with_escapes_do_not_echo_them(tmp_path):
    path = tmp_path / "bad_\x1b[31m.py"
    path.write_text("import numpy as np\n\n\ndef bad(x):\n    return x.nonexistent_attr  # \x1b[2J\u2028\n",
                    encoding="utf-8")
    spec = importlib.util.spec_from_file_location("gradc_bad_escapes", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(CompileError) as info:
        gradc.compile(module.bad, wrt="x", args=(np.ones(2),))
    text = str(info.value)
    assert "\x1b" not in text and "\u2028" not in text
    assert all(ch.isprintable() or ch == "\n" for ch in text)


# -- the escaping functions themselves ---------------------------------------------------


@settings(**SETTINGS)
@given(st.text(max_size=30))
def test_comment_and_docstring_text_are_inert(text):
    from gradc.syntax import comment_text, docstring_text

    line = comment_text(text)
    assert "\n" not in line and line.splitlines() in ([line], [])
    source = f'"""{docstring_text(text)}"""\n# {line}\nVALUE = 1\n'
    tree = ast.parse(source)
    assert ast.get_docstring(tree, clean=False) == text
    assert len(tree.body) == 2 and source.count("\n") == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no invalid escape sequences either
        compile(source, "<test>", "exec")


def test_loader_file_names_show_no_control_characters():
    ns = loader.load('"""doc"""\nimport numpy as np\n\n\ndef f(x):\n    return x\n', "f\x1b[2J\u2028")
    assert ns["f"](2) == 2
    filename = ns["f"].__code__.co_filename
    assert filename.isprintable() and filename.startswith("<gradc:")
