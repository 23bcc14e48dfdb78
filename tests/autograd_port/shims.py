"""Stand-ins for autograd's test helpers: they record cases instead of checking them.

autograd's `combo_check(fun, argnums)(*arg_lists, **kwarg_lists)` checks the gradient of
`fun` for every combination of the listed arguments; `check_grads(fun, argnum)(*args)`
checks one call. Here each becomes `Case`s: the call as source text (NumPy functions by
their NumPy spelling, autograd's lambdas and nested test functions as module-level
helpers in the port file), the arguments passed to it, and which of them are
differentiated. `runner.py` turns a case into a scalar loss `sum(out * cotangent)`
(autograd's VJP check with a fixed random covector), compiles it with gradc and compares
with central finite differences.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Case:
    file: str  # autograd's test file, e.g. "test_systematic"
    test: str  # the test function in it
    call: str  # source text of the call; a0, a1, ... are the passed arguments
    args: tuple  # the passed arguments (arrays, floats, containers of them)
    argnums: tuple  # positions in args that are differentiated
    helpers: tuple = ()  # names of helper functions of the port module the call uses
    module: str = ""  # the port module holding the helpers
    note: str = ""  # why a case is out of scope, when it is
    index: int = 0  # the case's number in its file
    zero_grad: bool = False  # autograd asserts the gradient is exactly zero (steps, at their jumps too)

    @property
    def label(self) -> str:
        return f"{self.file}::{self.test}#{self.index}"

    def complex_args(self) -> bool:
        return any(np.iscomplexobj(leaf) for a in self.args for _, leaf in leaves(a))


def leaves(tree, path=()):
    """(path, leaf) pairs of a nested list/tuple of arrays and numbers."""
    if isinstance(tree, (list, tuple)):
        for i, t in enumerate(tree):
            yield from leaves(t, path + (i,))
    else:
        yield path, tree


def is_passed(v) -> bool:
    """Arrays and floats travel as arguments of the loss; ints, strings, axes are literals."""
    if isinstance(v, (list, tuple)):
        return any(is_passed(x) for x in v)
    return isinstance(v, (np.ndarray, float, complex, np.generic)) and not isinstance(v, bool)


def literal(v) -> str:
    """Source text for a compile-time argument (what autograd's test writes literally)."""
    if v is Ellipsis:
        return "..."
    if isinstance(v, tuple):
        inner = ", ".join(literal(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, list):
        return "[" + ", ".join(literal(x) for x in v) + "]"
    if isinstance(v, float):
        if np.isnan(v):
            return "np.nan"
        if np.isinf(v):
            return "np.inf" if v > 0 else "-np.inf"
        return repr(v)
    if isinstance(v, (bool, int, str)) or v is None:
        return repr(v)
    raise TypeError(f"no literal for {v!r}")


@dataclass
class Port:
    """The cases of one autograd test file, with its random state (autograd seeds each file)."""

    file: str
    module: str
    seed: int = 0
    cases: list = field(default_factory=list)
    test: str = ""

    def __post_init__(self):
        self.rs = np.random.RandomState(self.seed)

    # random arrays as autograd's tests draw them
    def R(self, *shape):
        return self.rs.randn(*shape)

    def C(self, *shape):
        return self.rs.randn(*shape) + 1j * self.rs.randn(*shape)

    def rand(self, *shape):
        return self.rs.rand(*shape)

    def randn(self, *shape):
        return self.rs.randn(*shape) if shape else float(self.rs.randn())

    def in_test(self, name):
        self.test = name
        return self

    def add(self, fun: str, args, kwargs=None, argnums=(0,), helpers=(), note="", zero_grad=False):
        passed, texts = [], []
        for v in args:
            if is_passed(v):
                texts.append(f"a{len(passed)}")
                passed.append(v)
            else:
                texts.append(literal(v))
        slot = {i: j for j, i in enumerate(i for i, v in enumerate(args) if is_passed(v))}
        nums = tuple(slot[i] for i in argnums if i in slot)
        for k, v in (kwargs or {}).items():
            if is_passed(v) and not isinstance(v, float):
                texts.append(f"{k}=a{len(passed)}")
                passed.append(v)
            else:
                texts.append(f"{k}={literal(v)}")
        self.cases.append(Case(self.file, self.test, f"{fun}({', '.join(texts)})", tuple(passed), nums,
                               tuple(helpers), self.module, note, len(self.cases), zero_grad))

    def combo(self, fun: str, argnums, helpers=(), note=""):
        """autograd's combo_check(fun, argnums)(*arg_lists, **kwarg_lists)."""
        def check(*arg_lists, **kwarg_lists):
            keys = list(kwarg_lists)
            for args in itertools.product(*arg_lists):
                for kvals in itertools.product(*(kwarg_lists[k] for k in keys)):
                    self.add(fun, args, dict(zip(keys, kvals)), tuple(argnums), helpers, note)
        return check

    def check_grads(self, fun: str, argnum=0, helpers=(), note="", zero_grad=False):
        """autograd's check_grads(fun, argnum)(*args, **kwargs); with zero_grad, its
        `assert np.all(grad(fun, argnum)(*args) == 0)` instead."""
        nums = (argnum,) if isinstance(argnum, int) else tuple(argnum)

        def check(*args, **kwargs):
            self.add(fun, args, kwargs, nums, helpers, note, zero_grad)
        return check


def transform(lims, x):
    return x * (lims[1] - lims[0]) + lims[0]


# -- autograd's tests/numpy_utils.py ------------------------------------------------------


def stat_check(P: Port, fun: str, test_complex=True, **kwargs):
    x = 3.5
    A = P.randn()
    B = P.R(3)
    C = P.R(2, 3)
    D = P.R(1, 3)
    check = P.combo(fun, (0,))
    check([x, A])
    check([B, C, D], axis=[None, 0], keepdims=[True, False])
    check([C, D], axis=[None, 0, 1], keepdims=[True, False])
    if test_complex:
        c = P.randn() + 0.1j * P.randn()
        E = P.R(2, 3) + 0.1j * P.R(2, 3)
        check([x, c, A])
        check([B, C, D, E], axis=[None, 0], keepdims=[True, False])


def unary_ufunc_check(P: Port, fun: str, lims=None, test_complex=True, helpers=()):
    lims = lims or [-2, 2]
    scalar = transform(lims, 0.4)
    vector = transform(lims, P.rand(2))
    mat = transform(lims, P.rand(3, 2))
    mat2 = transform(lims, P.rand(1, 2))
    check = P.combo(fun, (0,), helpers=helpers)
    check([scalar, vector, mat, mat2])
    if test_complex:
        comp = transform(lims, 0.4) + 0.1j * transform(lims, 0.3)
        matc = transform(lims, P.rand(3, 2)) + 0.1j * P.rand(3, 2)
        check([comp, matc])


def binary_ufunc_check(P: Port, fun: str, lims_A=None, lims_B=None, test_complex=True, **kwargs):
    lims_A, lims_B = lims_A or [-2, 2], lims_B or [-2, 2]
    T_A = lambda x: transform(lims_A, x)  # noqa: E731
    T_B = lambda x: transform(lims_B, x)  # noqa: E731
    scalar = 0.6
    vector = P.rand(2)
    mat = P.rand(3, 2)
    mat2 = P.rand(1, 2)
    check = P.combo(fun, (0, 1))
    check([T_A(scalar), T_A(vector), T_A(mat), T_A(mat2)], [T_B(scalar), T_B(vector), T_B(mat), T_B(mat2)])
    if test_complex:
        comp = 0.6 + 0.3j
        matc = P.rand(3, 2) + 0.1j * P.rand(3, 2)
        check([T_A(scalar), T_A(comp), T_A(vector), T_A(matc), T_A(mat2)],
              [T_B(scalar), T_B(comp), T_B(vector), T_B(matc), T_B(mat2)])


def binary_ufunc_check_no_same_args(P: Port, fun: str, lims_A=None, lims_B=None, test_complex=True,
                                    **kwargs):
    lims_A, lims_B = lims_A or [-2, 2], lims_B or [-2, 2]
    T_A = lambda x: transform(lims_A, x)  # noqa: E731
    T_B = lambda x: transform(lims_B, x)  # noqa: E731
    scalar1, scalar2 = 0.6, 0.7
    vector1, vector2 = P.rand(2), P.rand(2)
    mat11, mat12 = P.rand(3, 2), P.rand(3, 2)
    mat21, mat22 = P.rand(1, 2), P.rand(1, 2)
    check = P.combo(fun, (0, 1))
    check([T_A(scalar1), T_A(vector1), T_A(mat11), T_A(mat21)],
          [T_B(scalar2), T_B(vector2), T_B(mat12), T_B(mat22)])
    if test_complex:
        comp1, comp2 = 0.6 + 0.3j, 0.1 + 0.2j
        matc1 = P.rand(3, 2) + 0.1j * P.rand(3, 2)
        matc2 = P.rand(3, 2) + 0.1j * P.rand(3, 2)
        check([T_A(scalar1), T_A(comp1), T_A(vector1), T_A(matc1), T_A(mat21)],
              [T_B(scalar2), T_B(comp2), T_B(vector2), T_B(matc2), T_B(mat22)])
