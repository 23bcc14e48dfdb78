"""The call path of a compiled function: from `vg(*args)` to the generated code in well under
a microsecond, when the arguments are of a kind seen before.

A specialisation is compiled for arguments of given kinds: an array's shape and dtype, a
Python float, a NumPy scalar's type, a compile-time value (an int, a string). For each,
`hot_entry` writes once one expression that tests exactly those kinds (one `type(a) is ...`
per argument, an array's shape and dtype) and that the function's code, defaults and
everything it read from outside its arguments (its `Guard`, unrolled into identity tests:
a global is one dict lookup, a module attribute another, a function's code and defaults
three attribute reads) are unchanged. The checks the generated module makes at the top of
each entry function (`check_arguments`) are what this test proves, so the fast path runs the
module's entry functions compiled again from the module's text with the test in place of
that call (`_fused`: one frame from the call to the generated code, the module's lines in
tracebacks; MISS when the test fails); a saved module keeps its checks. Any other call
(keywords, defaults left out, parameter trees, a new shape, a changed global) takes the
general path in `gradc.api`, which binds the arguments as Python does and compiles if needed.
"""
from __future__ import annotations

import ast
import builtins
import inspect
import linecache
import types
from collections import OrderedDict

import numpy as np

HOT = 4  # specialisations tried by the fast path, most recently used first


def _miss(*args):
    return MISS


class SpecCache(OrderedDict):
    """Argument signature → Specialization, least recently used first; `.hot` is the fast
    path's view of it (a tuple, replaced whole, so threads read it without a lock), and
    `first_value`, `first_value_and_grad`, `first_grad` its first entry's functions (MISS
    for every call when there is none: one attribute read for `gradc.api`'s entry points).
    Removing an entry in any way (eviction, `clear()`) drops the hot view, so it is rebuilt
    from what is left."""

    _hot: tuple = ()
    first_value = first_value_and_grad = first_grad = staticmethod(_miss)

    @property
    def hot(self) -> tuple:
        return self._hot

    @hot.setter
    def hot(self, entries: tuple) -> None:
        first = entries[0] if entries else None
        self.first_value = first.value if first else _miss
        self.first_value_and_grad = first.value_and_grad if first else _miss
        self.first_grad = first.grad if first else _miss
        self._hot = entries

    def __delitem__(self, key):
        self.hot = ()
        super().__delitem__(key)

    def pop(self, key, *default):
        self.hot = ()
        return super().pop(key, *default)

    def popitem(self, last=True):
        self.hot = ()
        return super().popitem(last)

    def clear(self):
        self.hot = ()
        super().clear()

    def promote(self, key) -> None:
        """`key` was just used: most recently used, and first in the hot view."""
        self.move_to_end(key)
        entry = self[key].hot
        if entry and (not self.hot or self.hot[0] is not entry):
            self.hot = (entry, *(h for h in self.hot if h is not entry))[:HOT]


class Hot:
    """A specialisation as the fast path calls it: `value(*args)`, `value_and_grad(*args)`,
    `grad(*args)`, each MISS for arguments of other kinds (`match(*args)` says which)."""

    __slots__ = ("match", "value", "value_and_grad", "grad", "key")

    def __init__(self, match, value, value_and_grad, grad, key):
        self.match, self.value, self.value_and_grad, self.grad, self.key = match, value, value_and_grad, grad, key


MAX_TESTS = 256  # a bigger parameter tree takes the general path (a matcher that long is no shortcut)


def _argument_test(expr: str, a, bind: dict) -> str | None:
    """The test that `expr` (an argument, or a leaf of one) has the kind `a` has, as
    `api._arg_key` / `api._tree_key` see it (or stricter), or None when the fast path does
    not handle this kind. Constants are bound by number in `bind`, never written as text."""
    t = type(a)
    k = len(bind)
    if t is np.ndarray:
        bind[f"s{k}"], bind[f"d{k}"] = tuple(a.shape), np.dtype(a.dtype.str)
        # a dtype equal to this one but another object (metadata, byte order) takes the general path
        return f"type({expr}) is ndarray and {expr}.shape == s{k} and {expr}.dtype is d{k}"
    if t is float:
        return f"type({expr}) is float"
    if isinstance(a, np.generic):
        if a.dtype.kind not in "fiub":
            return None
        bind[f"t{k}"] = t  # a NumPy scalar type is its dtype
        return f"type({expr}) is t{k}"
    if a is None:
        return f"{expr} is None"
    if t in (bool, int, str):
        bind[f"t{k}"], bind[f"v{k}"] = t, a
        return f"type({expr}) is t{k} and {expr} == v{k}"
    if t is dict:  # a parameter tree: its type, keys in order and their types (1 == True == 1.0), each value
        bind[f"keys{k}"], bind[f"keytypes{k}"] = tuple(a), tuple(map(type, a))
        tests = [f"type({expr}) is dict and tuple({expr}) == keys{k} and tuple(map(type, {expr})) == keytypes{k}"]
        for key, value in a.items():
            j = len(bind)
            bind[f"key{j}"] = key
            tests.append(_argument_test(f"{expr}[key{j}]", value, bind))
        return None if None in tests or len(tests) > MAX_TESTS else " and ".join(tests)
    if t in (list, tuple):
        bind[f"t{k}"] = t
        tests = [f"type({expr}) is t{k} and len({expr}) == {len(a)}"]
        tests += [_argument_test(f"{expr}[{i}]", value, bind) for i, value in enumerate(a)]
        return None if None in tests or len(tests) > MAX_TESTS else " and ".join(tests)
    return None


def _test(args, state, guard, bind: dict, names=None, joiner: str = "\n            and ") -> str | None:
    """The matcher's one expression over the arguments (named `names`, default a0, a1, ...;
    constants bound in `bind`), or None."""
    names = names or [f"a{k}" for k in range(len(args))]
    tests = []
    for name, a in zip(names, args):
        test = _argument_test(name, a, bind)
        if test is None:
            return None
        tests.append(test)
    reads = _guard_tests(guard, bind)
    if state is not None and not (reads and any(obj is state[0] for _, obj, _ in guard.checks)):
        bind["fn"], bind["code"], bind["defaults"], bind["kwdefaults"] = state
        tests.append("fn.__code__ is code and fn.__defaults__ is defaults and fn.__kwdefaults__ is kwdefaults")
    tests += reads
    return joiner.join(tests) or "True"


def matcher(args, state=None, guard=None):
    """`match(a0, a1, ...) -> bool`: these arguments are of the kinds `args` are, and the
    function (`state`: (function, code, defaults, kwdefaults)) and `guard` are unchanged.
    None when some argument is of a kind only the general path handles."""
    bind = {"ndarray": np.ndarray}
    test = _test(args, state, guard, bind)
    if test is None:
        return None
    params = ", ".join(f"a{k}" for k in range(len(args)))
    exec(compile(f"def match({params}):\n    return ({test})\n", "<gradc:dispatch>", "exec"), bind)
    return bind["match"]


MISS = object()  # what a hot entry's functions return for arguments they were not made for
TEST_BUILTINS = frozenset({"type", "tuple", "map"})  # the builtins the tests read (`_argument_test`)


def hot_entry(args, state, guard, value, value_and_grad, key) -> "Hot | None":
    """The fast path's functions for one specialisation: each tests the arguments (as
    `matcher`) and runs `value` or `value_and_grad` on them, or returns MISS. Where these are
    a generated module's entry functions, the test takes the place of their argument check
    (`_fused`: one frame from the call to the generated code); otherwise it calls them."""
    fused = _fused_entry(args, state, guard, value, value_and_grad)
    if fused is not None:
        return Hot(*fused, key)
    bind = {"ndarray": np.ndarray, "MISS": MISS, "value_fn": value, "value_and_grad_fn": value_and_grad}
    test = _test(args, state, guard, bind)
    if test is None:
        return None
    params = ", ".join(f"a{k}" for k in range(len(args)))
    source = "\n".join(
        f"def {name}({params}):\n    if ({test}):\n        return {call}\n    return MISS\n"
        for name, call in [("match", "True"), ("value", f"value_fn({params})"),
                           ("value_and_grad", f"value_and_grad_fn({params})"),
                           ("grad", f"value_and_grad_fn({params})[1]")])
    exec(compile(source, "<gradc:dispatch>", "exec"), bind)  # names and numbers only: no user text
    return Hot(bind["match"], bind["value"], bind["value_and_grad"], bind["grad"], key)


def _fused_entry(args, state, guard, value, value_and_grad):
    """(match, value, value_and_grad, grad) with `value` and `value_and_grad` rewritten by
    `_fused`, or None when either cannot be."""
    params = _parameters(value, len(args))
    if params is None or params != _parameters(value_and_grad, len(args)):
        return None
    bind = {"ndarray": np.ndarray, "MISS": MISS}
    test = _test(args, state, guard, bind, names=params, joiner=" and ")
    if test is None:
        return None
    value_fn, vg_fn = _fused(value, test, bind), _fused(value_and_grad, test, bind)
    grad_fn = _fused(value_and_grad, test, bind, gradient_only=True)
    if value_fn is None or vg_fn is None or grad_fn is None:
        return None
    ps = ", ".join(params)
    exec(compile(f"def match({ps}):\n    return ({test})\n", "<gradc:dispatch>", "exec"), bind)  # no user text
    return bind["match"], value_fn, vg_fn, grad_fn


def _parameters(fn, n: int) -> list | None:
    """The names of `fn`'s n parameters when they are n plain positional ones, else None."""
    code = getattr(fn, "__code__", None)
    if (not isinstance(fn, types.FunctionType) or code.co_argcount != n or code.co_kwonlyargcount
            or code.co_posonlyargcount or code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)):
        return None
    return list(code.co_varnames[:n])


class _GradientOnly(ast.NodeTransformer):
    """`return value, grads` → `return grads` in an entry function (not in functions inside
    it): what `grad(...)` returns, without a frame around value_and_grad. A return of another
    form (the NumPy twin's call in a scalar module) gets `[1]`; the test's `return MISS` stays."""

    def visit_FunctionDef(self, node):
        return node if getattr(self, "_inside", False) else self._entry(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        return node

    def _entry(self, node):
        self._inside = True
        node.body = [self.visit(stmt) for stmt in node.body]
        return node

    def visit_Return(self, node):
        v = node.value
        if isinstance(v, ast.Name) and v.id == "MISS":
            return node
        if isinstance(v, ast.Tuple) and len(v.elts) == 2:
            node.value = v.elts[1]
        else:
            node.value = ast.copy_location(ast.Subscript(v, ast.Constant(1), ast.Load()), v)
        return node


def _fused(fn, test: str, bind: dict, gradient_only: bool = False):
    """`fn`, a generated module's entry function whose first statement after its docstring is
    the module's argument check, compiled again from the module's text with that statement
    replaced by `if not (test): return MISS` (on the same line: the file name and line
    numbers are the module's, so tracebacks show its lines). Its globals are the module's
    plus `bind`. None when `fn` is not such a function or a bound name is taken there.
    A statement right after the check that the test makes needless goes too (`_proven`).
    `gradient_only`: the copy returns what `grad(...)` returns (`_GradientOnly`)."""
    code = fn.__code__
    checker = code.co_names[0] if code.co_names else ""
    if fn.__closure__ or not code.co_filename.startswith("<gradc:") or not checker.startswith("check_arguments"):
        return None
    if (_names(code) & (set(bind) | TEST_BUILTINS) or set(fn.__globals__) & (set(bind) | TEST_BUILTINS)
            or set(dir(builtins)) & set(bind)):
        return None  # (a name the test reads is taken there)
    start = code.co_firstlineno - 1  # the module's text from the function's def on
    lines = linecache.getlines(code.co_filename)[start:]
    try:
        tree = ast.parse("".join(lines))
    except SyntaxError:
        return None
    node = tree.body[0] if tree.body else None
    if not (isinstance(node, ast.FunctionDef) and node.name == code.co_name and not node.decorator_list
            and len(node.body) >= 3 and ast.get_docstring(node) is not None and _is_call_of(node.body[1], checker)):
        return None
    text = lines[:node.end_lineno]
    first, last = node.body[1].lineno - 1, node.body[1].end_lineno - 1  # (in `text`)
    for stmt in node.body[2:]:
        proof = _proven(stmt, bind)
        if proof is None:
            break
        test += proof
        last = stmt.end_lineno - 1
    if _names(code) & set(bind) or set(fn.__globals__) & set(bind):
        return None  # (a name the proofs bound is taken)
    indent = text[first][:len(text[first]) - len(text[first].lstrip())]
    text[first] = f"{indent}if not ({test}): return MISS\n"
    for j in range(first + 1, last + 1):
        text[j] = "\n"
    namespace = dict(fn.__globals__)
    namespace.update(bind)
    tree = ast.parse("\n" * start + "".join(text))  # (line numbers: the module's)
    if gradient_only:
        tree.body[0] = ast.fix_missing_locations(_GradientOnly().visit(tree.body[0]))
    exec(compile(tree, code.co_filename, "exec"), namespace)
    fused = namespace[code.co_name]
    # the defaults are the very objects fn has (an array default written inline is another array)
    fused.__defaults__, fused.__kwdefaults__ = fn.__defaults__, fn.__kwdefaults__
    same = fused.__code__.co_varnames == code.co_varnames
    return fused if same else None  # (the module's text is the code's: its file name has its digest)


def _proven(stmt, bind: dict) -> str | None:
    """For a statement right after an entry function's argument check: what to add to the
    fast path's test so that the statement can go, or None when it must stay. A scalar
    module's `if not numpy_errors_default(): return <its NumPy twin>(...)` goes when NumPy's
    error state is its default now: the test gains an identity test that the state is still
    that one (np.errstate and np.seterr set a new object, which misses)."""
    if not (isinstance(stmt, ast.If) and not stmt.orelse and len(stmt.body) == 1
            and isinstance(stmt.body[0], ast.Return) and ast.unparse(stmt.test) == "not numpy_errors_default()"):
        return None
    from gradc.runtime.support import numpy_errstate_when_default

    now = numpy_errstate_when_default()
    if now is None:
        return None
    get, state = _bound(bind, "errstate_get", now[0]), _bound(bind, "errstate", now[1])
    return f" and {get}() is {state}"


def _names(code) -> set:
    """Every name a code object and the code objects inside it read or bind."""
    names = set(code.co_names) | set(code.co_varnames) | set(code.co_cellvars) | set(code.co_freevars)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _names(c)
    return names


def _is_call_of(stmt, name: str) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Name) and stmt.value.func.id == name)


def _guard_tests(guard, bind) -> list[str]:
    """Guard.valid() unrolled: for each read, its slot still holds the same object and the
    object still holds what it held, tested in the matcher's one expression rather than a
    loop over tuples and calls. A global's slot is read as the dict lookup it is; the
    function's own slot always holds the function; a function's or module's checker is
    written out as the identity tests it makes (`_object_tests`), other checkers are called."""
    from .frontend import captured

    if guard is None or not guard.checks:
        return []
    tests = []
    for check in guard.checks:
        if not (isinstance(check, tuple) and len(check) == 3 and callable(getattr(check[0], "current", None))):
            bind["valid"] = guard.valid  # a guard of another make: ask it
            return ["valid()"]
        slot, obj, checker = check
        name = _bound(bind, "obj", obj)
        if type(slot) is captured.GlobalSlot and type(getattr(slot, "globs", None)) is dict:
            bind["MISSING"] = captured.MISSING
            tests.append(f"{_bound(bind, 'globals', slot.globs)}.get({_bound(bind, 'name', slot.name)}, MISSING)"
                         f" is {name}")
        elif not (type(slot) is captured.FunctionSelf and getattr(slot, "fn", None) is obj):
            tests.append(f"{_bound(bind, 'current', slot.current)}() is {name}")
        tests += _object_tests(name, obj, checker, bind)
    return tests


def _object_tests(name: str, obj, checker, bind) -> list[str]:
    """Tests that `obj` (bound as `name`) still holds what `checker` saw: none when identity
    is enough, the identity tests a function's or module's checker makes, else a call."""
    from .frontend import captured

    if checker is None:
        return []
    if type(checker) is captured.FunctionCheck:
        tests = [f"{name}.__code__ is {_bound(bind, 'code', checker.code)}",
                 f"{name}.__defaults__ is {_bound(bind, 'defaults', checker.defaults)}",
                 f"{name}.__kwdefaults__ is {_bound(bind, 'kwdefaults', checker.kwdefaults)}"]
        for part, check in ((checker.defaults, checker.defaults_check), (checker.kwdefaults, checker.kwdefaults_check)):
            tests += _object_tests(_bound(bind, "obj", part), part, check, bind)
        return tests
    if type(checker) is captured.ModuleCheck and isinstance(obj, types.ModuleType):
        bind["MISSING"] = captured.MISSING
        names = _bound(bind, "names", obj.__dict__)  # (a module's __dict__ is never replaced)
        tests = []
        for attr, value, check in checker.reads:
            v = _bound(bind, "obj", value)
            tests.append(f"{names}.get({_bound(bind, 'name', attr)}, MISSING) is {v}")
            tests += _object_tests(v, value, check, bind)
        return tests
    return [f"{_bound(bind, 'check', checker)}({name})"]


def _bound(bind: dict, prefix: str, value) -> str:
    """A new name in the matcher's namespace for `value` (never its text)."""
    k = len(bind)
    while f"{prefix}{k}" in bind:
        k += 1
    bind[f"{prefix}{k}"] = value
    return f"{prefix}{k}"


def _skip_check(*args, **kwargs) -> None:
    """Stands in for a generated module's `check_arguments` in the copies the fast path
    calls: the arguments were matched before the call."""


def unchecked(fn):
    """A copy of a generated entry function (same code object) whose call to the module's
    argument check does nothing: its first global name, when it is that check."""
    names = fn.__code__.co_names
    checker = fn.__globals__.get(names[0]) if names else None
    if not (isinstance(checker, types.FunctionType) and names[0].startswith("check_arguments")
            and (checker.__doc__ or "").startswith("The arguments this module was generated for")):
        return fn
    namespace = dict(fn.__globals__)
    namespace[names[0]] = _skip_check
    copy = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    copy.__doc__, copy.__qualname__ = fn.__doc__, fn.__qualname__
    return copy
