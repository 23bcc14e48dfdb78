"""Errors: each unsupported construct is a CompileError subclass that points at the
user's own line (file, line number, the line itself, a caret under the construct)
and names the construct; no internal exception ever escapes."""
import inspect
import re
import types

import numpy as np
import pytest

import gradc
from gradc import errors
from gradc.errors import (DataDependentControlFlow, NameResolutionError, ShapeError,
                             SignatureError, SourceUnavailable, UnsupportedFunction,
                             UnsupportedSyntax)
from fixtures import bad as B
from fixtures import losses as L
from fixtures.numeric import assert_close, fd_grad

W3 = np.array([0.5, 0.3, 0.2])


def marker_line(fn):
    """(line number, stripped text) of the line marked `# ERR` in fn's source."""
    lines, start = inspect.getsourcelines(fn)
    hits = [i for i, text in enumerate(lines) if "# ERR" in text]
    assert len(hits) == 1, f"{fn.__name__} needs exactly one # ERR marker"
    return start + hits[0], lines[hits[0]].strip()


def caret_span(message, source_line):
    """The text of `source_line` the caret line under it underlines."""
    lines = message.splitlines()
    idx = [i for i, text in enumerate(lines) if text.strip() == source_line]
    assert idx, f"the user's line {source_line!r} is not in the message:\n{message}"
    i = idx[-1]
    assert i + 1 < len(lines), f"no caret line after the user's line:\n{message}"
    above, caret = lines[i], lines[i + 1]
    assert re.fullmatch(r" *\^+", caret), f"not a caret line: {caret!r}\n{message}"
    start, width = caret.index("^"), caret.count("^")
    assert start + width <= len(above), f"the caret runs past the line:\n{message}"
    return above[start:start + width]


def _w3():
    return (W3,)


# name: (args, expected class(es), message must name (each entry: str or tuple of alternatives),
#        the caret must underline text containing this, function whose line is expected)
CASES = {
    # data-dependent control flow: "not supported yet", and a later version will support it
    "while_loop": (_w3, DataDependentControlFlow, ["list.append", "loop body"],
                   "halves.append", None),
    "data_loop_bound": (_w3, DataDependentControlFlow, ["not supported yet", "later version"], "np.sum(w)", None),
    "data_loop_bound_arg": (lambda: (W3, np.array(2.0)), DataDependentControlFlow,
                            ["not supported yet", "later version"], "n", None),
    "data_while_in_helper": (_w3, DataDependentControlFlow, ["list.append"], "halves.append",
                             B.helper_with_while),
    "iterate_array": (_w3, DataDependentControlFlow, ["loop"], "w", None),
    "builtin_max_of_arrays": (_w3, UnsupportedFunction, ["max", "np.maximum"], "max(w, w * 2.0)", None),
    "inplace_alias_in_tuple": (_w3, UnsupportedSyntax, ["in-place", "'z'"], "z += 1.0", None),
    "reshape_order_k": (_w3, UnsupportedFunction, ["order"], "w.reshape(3, order=\"K\")", None),
    # syntax
    "uses_lambda": (_w3, UnsupportedFunction, ["lambda"], "lambda", None),
    "top_level_lambda": (_w3, UnsupportedSyntax, ["lambda"], "lambda", None),
    "list_comprehension": (_w3, DataDependentControlFlow, ["comprehension condition"], "x > 0", None),
    "generator_expression": (_w3, UnsupportedFunction, ["generator"], "for i in range(3)", None),
    "dict_comprehension": (_w3, UnsupportedSyntax, ["dict key"], "x", None),
    "item_assignment": (_w3, UnsupportedSyntax, ["assignment", "item"], "x[0]", None),
    "slice_assignment": (_w3, UnsupportedSyntax, ["assignment", "slice"], "x[1:]", None),
    "augmented_item_assignment": (_w3, UnsupportedSyntax, ["item"], "x[0]", None),
    "print_statement": (_w3, UnsupportedSyntax, ["print"], "print(w := w * 2.0)", None),
    "nested_def": (_w3, UnsupportedSyntax, ["nested function"], "def inner", None),
    "try_statement": (_w3, UnsupportedSyntax, ["try"], "try", None),
    "with_statement": (_w3, UnsupportedSyntax, ["with"], "with", None),
    "global_statement": (_w3, UnsupportedSyntax, ["global"], "global SCALE", None),
    "fstring": (_w3, UnsupportedSyntax, ["f-string"], 'f"{w}"', None),
    "array_and_or": (_w3, UnsupportedSyntax, ["and", "&"], "and", None),
    "shift_operator": (_w3, UnsupportedSyntax, [("<<", "LShift", "shift")], "w << 1", None),
    "array_index_array": (_w3, UnsupportedSyntax, ["index"], "idx", None),
    "chained_compare": (_w3, UnsupportedSyntax, ["chained", "&"], "0 < w < 1", None),
    "is_on_array": (_w3, UnsupportedSyntax, ["is"], "w is None", None),
    "not_array": (_w3, UnsupportedSyntax, [("~", "invert")], "~w", None),
    "complex_constant": (_w3, UnsupportedSyntax, ["complex"], "1j", None),
    "recursion": (_w3, UnsupportedSyntax, ["recursi", "recursive_helper"], "recursive_helper(",
                  B.recursive_helper),
    "recursive_self": (_w3, UnsupportedSyntax, ["recursi", "recursive_self"], "recursive_self(", None),
    # names and functions
    "unknown_name": (_w3, NameResolutionError, ["undefined_scale"], "undefined_scale", None),
    "unknown_numpy_attr": (_w3, (NameResolutionError, UnsupportedFunction), ["not_a_function"],
                           "np.not_a_function", None),
    "linalg_inv": (lambda: (np.eye(3) * 2.0,), UnsupportedFunction, ["linalg.qr"], "np.linalg.qr(A)", None),
    "unique": (_w3, UnsupportedFunction, ["unique"], "np.unique(w)", None),
    "interp": (_w3, UnsupportedFunction, ["interp"], "np.interp(w, [0.0, 1.0], [1.0, 2.0])", None),
    "array_method_unknown": (_w3, UnsupportedFunction, ["ptp"], "w.ptp", None),
    "math_call": (_w3, UnsupportedFunction, ["math.exp", "np.exp"], "math.exp(w)", None),
    "builtin_hex": (_w3, (UnsupportedFunction, NameResolutionError), ["hex"], "hex", None),
    "exp_two_args": (_w3, UnsupportedFunction, ["exp"], "np.exp(w, w)", None),
    "where_two_args": (_w3, UnsupportedFunction, ["where"], "np.where(w > 0, w)", None),
    "astype_complex": (_w3, UnsupportedFunction, ["complex"], "astype", None),
    "zeros_of_data": (_w3, UnsupportedFunction, ["zeros"], "np.zeros(w)", None),
    "dot_3d": (_w3, UnsupportedFunction, ["dot", "out"], "np.dot(", None),
    "call_a_number": (_w3, (UnsupportedFunction, UnsupportedSyntax), ["call"], "SCALE(2)", None),
    "string_arithmetic": (_w3, (UnsupportedFunction, UnsupportedSyntax, ShapeError), ["str"], '"a"', None),
    "none_operand": (_w3, (UnsupportedFunction, UnsupportedSyntax, ShapeError), ["None"], "None", None),
    "data_axis": (_w3, DataDependentControlFlow, ["axis"], "np.sum(w, axis=w)", None),
    "reshape_by_array": (_w3, DataDependentControlFlow, ["shape"], "w.reshape(w)", None),
    # signatures
    "vector_result": (_w3, SignatureError, ["scalar"], "w * 2.0", None),
    "tuple_result": (_w3, SignatureError, ["tuple"], "np.sum(w), np.sum(w ** 2)", None),
    "returns_nothing": (_w3, SignatureError, ["return"], "def returns_nothing", None),
    "helper_bad_call": (_w3, SignatureError, ["shape_helper"], "shape_helper(w)", None),
    "unpack_mismatch": (_w3, (SignatureError, ShapeError), ["unpack"], "a, b", None),
    # shapes
    "shape_mismatch_add": (lambda: (W3, np.ones(4)), ShapeError, ["(3,)", "(4,)"], "y + x", None),
    "shape_mismatch_matmul": (lambda: (np.ones((3, 4)), np.ones(3)), ShapeError, ["(3, 4)", "(3,)"],
                              "W @ x", None),
    "shape_mismatch_in_helper": (lambda: (np.ones((3, 4)), np.ones(3)), ShapeError, ["(3, 4)"], "a @ b",
                                 B.shape_helper),
    "matmul_scalar": (_w3, ShapeError, ["matmul"], "np.matmul(w, 2.0)", None),
    "index_out_of_range": (_w3, ShapeError, ["5"], "w[5]", None),
    "too_many_indices": (_w3, ShapeError, ["indices"], "w[0, 1]", None),
    "index_with_float": (_w3, (ShapeError, UnsupportedSyntax), ["1.5"], "w[1.5]", None),
    "bad_reshape": (_w3, ShapeError, ["reshape", "(4, 4)"], "w.reshape(4, 4)", None),
    "axis_out_of_range": (lambda: (np.ones((3, 4)),), ShapeError, ["axis"], "np.sum(W, axis=2)", None),
    "transpose_bad_axes": (_w3, ShapeError, ["axes"], "np.transpose(w, (1, 0))", None),
    "expand_dims_bad_axis": (_w3, ShapeError, ["axis"], "np.expand_dims(w, 5)", None),
    "broadcast_to_bad_shape": (_w3, ShapeError, ["(2, 2)"], "np.broadcast_to(w, (2, 2))", None),
}

# Marked functions tested separately below.
SEPARATE = {"simple", "clip_no_bounds", "outer_matrix"}


def _expect(name):
    make, cls, words, underlined, at = CASES[name]
    fn = getattr(B, name)
    return fn, make(), cls if isinstance(cls, tuple) else (cls,), words, underlined, at or fn


def _raise(fn, args, wrt=0):
    with pytest.raises(gradc.CompileError) as info:  # anything else escapes and fails the test
        gradc.grad(fn, wrt=wrt)(*args)
    return info.value


def test_every_marked_function_has_a_case():
    marked = {n for n, f in vars(B).items()
              if isinstance(f, types.FunctionType) and f.__module__ == B.__name__
              and "# ERR" in "".join(inspect.getsourcelines(f)[0])}
    helpers = {"helper_with_while", "recursive_helper", "shape_helper"}
    via_helper = {"data_while_in_helper", "recursion", "shape_mismatch_in_helper"}
    assert marked - helpers - SEPARATE == set(CASES) - via_helper


@pytest.mark.parametrize("name", list(CASES))
def test_error_class(name):
    fn, args, classes, *_ = _expect(name)
    err = _raise(fn, args)
    assert type(err).__name__ != "InternalError", f"internal error instead of {classes}:\n{err}"
    assert isinstance(err, classes), f"{type(err).__name__} instead of {classes}:\n{err}"


@pytest.mark.parametrize("name", list(CASES))
def test_error_points_at_the_users_line(name):
    fn, args, classes, words, underlined, at = _expect(name)
    err = _raise(fn, args)
    lineno, text = marker_line(at)
    assert err.loc is not None, f"no location:\n{err}"
    assert err.loc.lineno == lineno, f"line {err.loc.lineno}, expected {lineno}:\n{err}"
    assert err.lineno == lineno
    assert err.loc.filename == inspect.getsourcefile(at)
    assert err.loc.line.strip() == text
    message = str(err)
    assert f'File "{inspect.getsourcefile(at)}", line {lineno}' in message
    span = caret_span(message, text)
    assert underlined in span, f"the caret underlines {span!r}, expected it under {underlined!r}:\n{message}"


@pytest.mark.parametrize("name", list(CASES))
def test_error_message_names_the_construct(name):
    fn, args, classes, words, *_ = _expect(name)
    err = _raise(fn, args)
    first = str(err).splitlines()[0].lower()
    assert first.startswith("gradc: ")
    for word in words:
        options = word if isinstance(word, tuple) else (word,)
        assert any(o.lower() in first for o in options), f"message does not name {word!r}:\n{err}"


def test_error_in_helper_names_the_helper():
    err = _raise(B.data_while_in_helper, (W3,))
    assert ", in helper_with_while" in str(err)
    err = _raise(B.shape_mismatch_in_helper, (np.ones((3, 4)), np.ones(3)))
    assert ", in shape_helper" in str(err)


def test_errors_are_raised_by_compile_and_value_too():
    with pytest.raises(DataDependentControlFlow):
        gradc.compile(B.while_loop, wrt=0, args=(W3,))
    with pytest.raises(UnsupportedSyntax):
        gradc.compile(B.item_assignment, wrt=0).value(W3)
    with pytest.raises(UnsupportedFunction):
        gradc.value_and_grad(B.unique)(W3)


def test_error_classes_are_compile_errors():
    assert gradc.CompileError is errors.CompileError
    for cls in (UnsupportedSyntax, UnsupportedFunction, DataDependentControlFlow,
                NameResolutionError, ShapeError, SignatureError, SourceUnavailable):
        assert issubclass(cls, gradc.CompileError)
        assert issubclass(cls, Exception)


def test_unknown_numpy_function_message_is_readable():
    err = _raise(B.unknown_numpy_attr, (W3,))
    first = str(err).splitlines()[0]
    assert "<module" not in first and "site-packages" not in first, first
    assert "not_a_function" in first


def test_np_clip_without_bounds_is_supported_or_a_clear_error():
    # NumPy 2 accepts np.clip(w) (no bounds: returns w unchanged)
    try:
        g = gradc.grad(B.clip_no_bounds)(W3)
    except gradc.CompileError as err:
        assert type(err).__name__ != "InternalError", str(err)
        lineno, text = marker_line(B.clip_no_bounds)
        assert err.loc is not None and err.loc.lineno == lineno, str(err)
        assert "clip" in str(err).splitlines()[0]
    else:
        assert_close(g, np.ones(3), rtol=0)


def test_np_outer_of_matrices_matches_numpy_or_names_outer():
    # NumPy's outer flattens its arguments: outer(W, W) of a 2x2 W is 4x4
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    try:
        g = gradc.grad(B.outer_matrix)(W)
    except gradc.CompileError as err:
        assert type(err).__name__ != "InternalError", str(err)
        assert "outer" in str(err).splitlines()[0], f"the message does not say np.outer:\n{err}"
        assert err.loc.lineno == marker_line(B.outer_matrix)[0]
    else:
        assert_close(g, fd_grad(B.outer_matrix, (W,), 0))


# -- signatures: wrt and argument types ----------------------------------------------

def _def_line(fn):
    return marker_line(fn)  # B.simple marks its `def` line


@pytest.mark.parametrize("wrt,words", [
    ("z", ["'z'", "w, x"]),
    (2, ["out of range", "2 arguments"]),
    (-3, ["out of range"]),
    (("w", "nope"), ["'nope'"]),
    (("w", 0), ["twice"]),
    (1.5, ["1.5"]),
    (None, ["none"]),
])
def test_bad_wrt(wrt, words):
    with pytest.raises(SignatureError) as info:
        gradc.grad(B.simple, wrt=wrt)(W3, W3)
    err = info.value
    first = str(err).splitlines()[0].lower()
    for word in words:
        assert word.lower() in first, f"{word!r} not in:\n{err}"
    lineno, text = _def_line(B.simple)
    assert err.loc is not None and err.loc.lineno == lineno
    assert caret_span(str(err), text).startswith("def simple")


@pytest.mark.parametrize("arg,words", [
    (3, ["integer", "w=3"]),
    (True, ["bool"]),
    (np.arange(3), ["dtype", "int"]),
    (np.array([True, False, True]), ["dtype", "bool"]),
    ("abc", ["w='abc'"]),
])
def test_non_float_wrt_argument(arg, words):
    with pytest.raises(SignatureError) as info:
        gradc.grad(B.simple, wrt="w")(arg, W3)
    first = str(info.value).splitlines()[0]
    for word in words:
        assert word in first, f"{word!r} not in:\n{info.value}"
    assert info.value.loc.lineno == _def_line(B.simple)[0]


def test_wrong_number_of_arguments():
    with pytest.raises(SignatureError) as info:
        gradc.grad(B.simple)(W3)
    assert "simple" in str(info.value)
    with pytest.raises(SignatureError):
        gradc.grad(B.simple)(W3, W3, W3)
    with pytest.raises(SignatureError):
        gradc.grad(B.simple)(W3, y=W3)


def test_unsupported_argument_type():
    with pytest.raises(SignatureError) as info:
        gradc.grad(B.simple)(W3, {"a", "b"})  # dicts, lists and tuples are parameter trees; sets are not
    assert "set" in str(info.value)
    with pytest.raises(SignatureError):
        gradc.grad(B.simple)(W3.astype(np.complex128), W3)


def test_non_scalar_result_under_grad_points_at_return():
    err = _raise(B.vector_result, (W3,))
    assert isinstance(err, SignatureError)
    assert "f64[3]" in str(err)
    # the same function is fine where its result is a scalar (a 0-d argument)
    assert_close(gradc.grad(B.vector_result)(np.array(1.5)), 2.0, rtol=0)


# -- functions whose source gradc cannot read ----------------------------------------------

@pytest.mark.parametrize("fn,name", [(np.exp, "exp"), (len, "len"), (np.sum, "sum"),
                                     (print, "print")])
def test_source_unavailable_for_builtins_and_numpy(fn, name):
    with pytest.raises(SourceUnavailable) as info:
        gradc.grad(fn)(W3)
    assert name in str(info.value)


def test_source_unavailable_for_exec_defined_function():
    namespace = {"np": np}
    exec("def made_by_exec(w):\n    return np.sum(w * w)\n", namespace)
    with pytest.raises(SourceUnavailable) as info:
        gradc.grad(namespace["made_by_exec"])(W3)
    message = str(info.value)
    assert "made_by_exec" in message and "source" in message


def test_source_unavailable_for_callable_objects():
    import functools
    with pytest.raises(SourceUnavailable):
        gradc.grad(functools.partial(L.rss, X=np.ones((2, 3))))(W3, np.ones(2))


def test_lambda_passed_directly():
    with pytest.raises(UnsupportedSyntax) as info:
        gradc.grad(lambda w: np.sum(w * w))(W3)
    assert "lambda" in str(info.value).splitlines()[0]
