"""Modules generated for the array API standard (`c.save(path, backend="array-api")`).

The functions take their namespace from their array arguments (`xp = array_namespace(...)`,
array-api-compat), so one module runs on NumPy, CuPy, PyTorch and JAX arrays. Each primitive
needs a spelling in the standard (`SPELLINGS`, a table); a program using one without (np.linalg
extras, gathers, sorting, user primitives, float16, ...) is refused at save time with a
CompileError naming it at the user's line, never written with a NumPy call inside. As a last
guard the written functions are scanned: any `np.` in them refuses the save.

Differences from the NumPy module, all deliberate: no in-place `+=` (a JAX array cannot be
updated, a PyTorch one may be aliased), constants are converted to the arguments' namespace and
device at the start of each function, and masked derivative contributions are not wrapped in
np.errstate (the values are the same; only NumPy's warnings differ). Loop regions write their
per-iteration stacks by item assignment, which JAX arrays do not support.
"""
from __future__ import annotations

import inspect
import math
import re

import numpy as np

from .. import codegen
from ..errors import CompileError, UnsupportedFunction
from ..ir import Const
from ..syntax import Expr, call, comment_text, docstring_text, key_text, literal
from . import Flavour, scatter


def _rename(new):
    return lambda op, *xs: call(f"xp.{new}", *xs)


def _reduce(name):
    def spell(op, a):
        from ..primitives.reductions import reduce_call

        if op.inputs[0].dtype != op.out.dtype:  # NumPy's sum of bools is an int, a mean of ints a float
            a = call("xp.astype", a, f"xp.{op.out.dtype.name}")
        return reduce_call(f"xp.{name}", a, op.params["axis"], op.params["keepdims"])
    return spell


def _sum_to(op, a):
    from ..primitives.reductions import reduce_call

    shape, lead, stretched = op.params["shape"], op.params["lead"], op.params["stretched"]
    if lead and stretched:
        return call("xp.reshape", reduce_call("xp.sum", a, lead + stretched, False), literal(shape).text)
    if stretched:
        return reduce_call("xp.sum", a, stretched, True)
    if lead:
        return reduce_call("xp.sum", a, None if not shape else lead, False)
    return a


def _cast(op, a):
    dtype = f"xp.{np.dtype(op.params['dtype']).name}"
    return call("xp.asarray", a, f"dtype={dtype}") if op.params.get("scalar") else call("xp.astype", a, dtype)


def _getitem(op, a):
    """A basic index; one naming fewer axes than the array has ends with `...` (the standard
    does not fill in the trailing axes as NumPy does)."""
    from ..syntax import ATOM, index_text, method, paren  # noqa: F401

    index = op.params["index"]
    if not isinstance(index, tuple):
        index = (index,)
    named = sum(1 for i in index if i is not None and i is not Ellipsis)
    if Ellipsis not in index and named < op.inputs[0].ndim:
        index = index + (Ellipsis,)
    index = _in_bounds(index, op.inputs[0].shape)
    text = index_text(index)
    if "np." in text:  # an index array: not a basic index
        raise _refusal(op)
    return method(a, f"[{text}]")


def _in_bounds(index, shape) -> tuple:
    """Slices whose start or stop lies outside the axis (x[7:2] of 6 elements: NumPy clips,
    the standard leaves it unspecified) as the same elements named within it."""
    out, axis = [], 0
    for item in index:
        if item is Ellipsis:
            axis += len(shape) - sum(1 for i in index if i is not None and i is not Ellipsis)
        elif item is not None:
            n = shape[axis]
            outside = isinstance(item, slice) and any(e is not None and not -n <= e <= n
                                                      for e in (item.start, item.stop))
            if outside:
                r = range(*item.indices(n))
                stop = r[-1] + r.step if len(r) else 0
                item = slice(r[0] if len(r) else 0, None if stop < 0 else stop, None if r.step == 1 else r.step)
            axis += 1
        out.append(item)
    return tuple(out)


def _same(op, *xs):
    """Operators, indexing and helper calls: NumPy's spelling is the standard's."""
    expr = op.prim.emit(*xs, **op.params)
    if "np." in expr.text:
        raise _refusal(op)
    return expr


SAME_NAME = """exp log log1p expm1 sqrt square sin cos tan tanh abs sign sinh cosh floor ceil trunc
    isnan isinf isfinite signbit log2 log10 logaddexp maximum minimum hypot where
    logical_and logical_or logical_not logical_xor bitwise_and bitwise_or bitwise_xor""".split()
RENAMED = {"arctan": "atan", "arcsin": "asin", "arccos": "acos", "arcsinh": "asinh", "arccosh": "acosh",
           "arctanh": "atanh", "arctan2": "atan2", "invert": "bitwise_invert", "rint": "round"}
OPERATORS = """add sub mul div pow neg greater less greater_equal less_equal equal not_equal matmul
    floor_divide mod sigmoid softplus relu logsumexp softmax log_softmax""".split()

# primitive name -> spell(op, *operand Exprs) -> Expr, in the array API standard (2023.12 and later)
SPELLINGS = {
    **{n: _rename(n) for n in SAME_NAME},
    **{n: _rename(new) for n, new in RENAMED.items()},
    **{n: _same for n in OPERATORS},
    "cast": _cast,
    "getitem": _getitem,
    "clip": lambda op, a: call("xp.clip", a, _python_number(op.params["lo"]), _python_number(op.params["hi"])),
    "zeros_like": lambda op, a: call("xp.zeros_like", a),
    "copy": lambda op, a: call("xp.asarray", a, "copy=True"),
    **{n: _reduce(n) for n in ("sum", "mean", "max", "min", "prod")},
    "sum_to": _sum_to,
    "outer": lambda op, a, b: Expr(f"{call('xp.reshape', a, '(-1, 1)')} * {call('xp.reshape', b, '(1, -1)')}",
                                   codegen_mul_prec()),
    "transpose": lambda op, a: call("xp.permute_dims", a, literal(op.params["axes"]).text),
    "reshape": lambda op, a: call("xp.reshape", a, literal(op.params["shape"]).text),
    "expand_dims": lambda op, a: call("xp.reshape", a, literal(op.out.shape).text),
    "broadcast_to": lambda op, a: call("xp.broadcast_to", a, literal(op.params["shape"]).text),
    "concatenate": lambda op, *xs: call("xp.concat", f"[{', '.join(str(x) for x in xs)}]",
                                        axis=op.params["axis"]),
    "cumsum": lambda op, a: call("xp.cumulative_sum", a, axis=op.params["axis"]),  # 2023.12
    "cumprod": lambda op, a: call("xp.cumulative_prod", a, axis=op.params["axis"]),  # 2024.12 (np.prod's adjoint)
    "vector_norm": lambda op, a: _vector_norm(op, a),
    "scatter": lambda op, a: scatter.spell(op, a, **SCATTER),
}


SCATTER = dict(  # the adjoint of basic indexing, without item assignment (JAX arrays have none)
    reshape=lambda a, shape: f"xp.reshape({a}, {shape})",
    flip=lambda a, axis: f"xp.flip({a}, axis={axis})",
    zeros=lambda shape, dtype: f"xp.zeros({shape}, dtype=xp.{dtype}, device=_device)",
    concat=lambda parts, axis: f"xp.concat([{parts}], axis={axis})",
    copy=lambda a: f"xp.asarray({a}, copy=True)")


def _vector_norm(op, a):
    """np.linalg.norm: xp.linalg.vector_norm (the linalg extension), |x| over no axes."""
    axis, kw = op.params["axis"], {"keepdims": True} if op.params["keepdims"] else {}
    if not axis:
        return call("xp.abs", a)
    return call("xp.linalg.vector_norm", a, axis=tuple(axis), ord=float(op.params["ord"]), **kw)
HELPERS = ("sigmoid", "softplus", "relu", "logsumexp", "softmax", "log_softmax")
# NumPy promotes bool and int operands to the float result (np.exp(k), k / 2, np.maximum(b, 0.5));
# the standard computes in its operands' dtype, so they are cast to the result's dtype first.
AS_RESULT = (set(SAME_NAME) | set(RENAMED) | {"add", "sub", "mul", "div", "pow", "neg", "matmul", "floor_divide",
             "mod", "clip", *HELPERS}) - {"where", "isnan", "isinf", "isfinite", "signbit", "logical_and",
                                         "logical_or", "logical_not", "logical_xor"}
COMPARISONS = {"greater", "less", "greater_equal", "less_equal", "equal", "not_equal"}
# Spelled as Python operators: a Python scalar operand is allowed there (of the array's kind).
SCALAR_OPERANDS = {"add", "sub", "mul", "div", "pow", "neg", "matmul", "floor_divide", "mod", *COMPARISONS}


def codegen_mul_prec():
    from ..syntax import MUL

    return MUL


def _refusal(op) -> CompileError:
    return UnsupportedFunction(
        f"backend='array-api': {op.prim.name!r} has no spelling in the array API standard that gradc "
        "knows; save with the default backend (NumPy) for this function", op.loc)


def _targets(op) -> list:
    """The dtype NumPy computes each operand in, where the standard would not promote to it
    (None: the operand as it is)."""
    name, n = op.prim.name, len(op.inputs)
    if name in AS_RESULT:
        return [op.out.dtype] * n
    if name in COMPARISONS:  # y > 0.5 with int y: NumPy compares in float64
        return [np.result_type(*(v.value if isinstance(v, Const) and v.weak else v.dtype for v in op.inputs))] * n
    if name == "where":
        return [np.dtype(bool), op.out.dtype, op.out.dtype]
    return [None] * n


def _array_scalar(const, dtype) -> Expr:
    """A constant scalar as a 0-d array of the arguments' namespace and device: function
    arguments of the standard (xp.where, xp.maximum, xp.broadcast_to, ...) take arrays."""
    value = const.value.item() if isinstance(const.value, np.generic) else const.value
    return Expr(f"xp.asarray({_python_number(value)}, dtype=xp.{np.dtype(dtype).name}, device=_device)")


class ArrayAPI(Flavour):
    def emit(self, op, operands) -> Expr:
        spell = SPELLINGS.get(op.prim.name)
        if spell is None or op.prim.family == "user":
            raise _refusal(op)
        targets = _targets(op)
        if any(getattr(d, "name", None) == "float16" for d in [op.out.dtype, *targets]):
            raise UnsupportedFunction(  # np.tanh(bool_array) is float16 in NumPy
                f"backend='array-api': {op.prim.name!r} computes in float16, which the array API "
                "standard does not have; cast to float32 or float64 first, or save with the default "
                "backend (NumPy)", op.loc)
        operands = list(operands)
        for i, (v, target) in enumerate(zip(op.inputs, targets)):
            if isinstance(v, Const) and v.is_scalar:
                if op.prim.name not in SCALAR_OPERANDS:  # a Python scalar takes the array's dtype
                    weak = v.weak and op.out.dtype.kind == v.dtype.kind
                    operands[i] = _array_scalar(v, target or (op.out.dtype if weak else v.dtype))
            elif target is not None and v.dtype.kind != target.kind:
                operands[i] = call("xp.astype", operands[i], f"xp.{target.name}")
        expr = spell(op, *operands)
        found = NUMPY_CALL.search(expr.text)
        if found:  # a NumPy spelling inside (an index array, a NumPy constant): refused at its line
            raise _refusal(op)
        return expr

    def scalar(self, const) -> Expr:
        value = const.value
        if isinstance(value, np.generic):  # a NumPy scalar keeps its dtype (NEP 50 strong)
            item = value.item()
            text = _python_number(item)
            return Expr(f"xp.asarray({text}, dtype=xp.{value.dtype.name}, device=_device)")
        return Expr(_python_number(value)) if isinstance(value, float) and not math.isfinite(value) \
            else literal(value)

    def empty(self, shape, dtype) -> str:
        return f"xp.empty({shape!r}, dtype=xp.{np.dtype(dtype).name}, device=_device)"

    def wrap(self, leaf, text: str) -> str:
        if leaf.as_float:
            return f"float({text})"
        if leaf.kind is not None and leaf.kind[0] == "array0":  # not a NumPy scalar from a reduction
            return f"xp.asarray({text})"
        return text

    def row(self, array: str, index: str) -> str:
        return f"{array}[{index}, ...]"  # the standard indexes every axis (or says `...`)


def _python_number(x) -> str:
    if isinstance(x, float) and not math.isfinite(x):
        return f"float({str(x)!r})"
    return literal(x).text


FLAVOUR = ArrayAPI(inplace=False)
NUMPY_CALL = re.compile(r"(?<![\w.])np\.[\w.]*")
RESERVED = ("xp", "_device", "_namespace", "array_namespace", "device", "np", "os", "_consts")

NAMESPACE = '''def _namespace(*args):
    """The array namespace and device of the array arguments (Python floats have none: with
    no array argument, NumPy's, through array-api-compat)."""
    arrays = [a for a in args if not isinstance(a, (bool, int, float))]
    if not arrays:
        import array_api_compat.numpy as xp

        return xp, "cpu"
    return array_namespace(*arrays), device(arrays[0])'''


def module_source(forward, adjoint, *, origin: str, grouped: bool, entry=None, external_consts: str,
                  loc=None) -> tuple:
    """(module text, large constants by name) for the array API standard; a CompileError
    when something in the programs has no spelling there (at the op's line, else at `loc`,
    the function's)."""
    name = forward.name
    params = entry.param_names() if entry is not None else [v.name for v in forward.inputs]
    clash = [p for p in params if p in RESERVED or p in HELPERS or p.startswith("_c_")]
    if clash:
        raise CompileError(f"backend='array-api': the parameter name {clash[0]!r} is one the generated "
                           "module uses itself; rename it", loc)
    names = codegen.const_names(forward, adjoint, avoid=params, entry=entry)
    consts = {n: np.asarray(c.value) for c, n in names.items()}
    big = {f"_c_{k}": v for k, v in consts.items() if v.size > codegen.INLINE_ARRAY_LIMIT}
    wrt_names = ", ".join(entry.wrt_names if entry is not None else (adjoint.inputs[i].name for i in adjoint.wrt))
    token = codegen.FLAVOUR.set(FLAVOUR)
    try:
        checker = "check_arguments" if entry is not None else None
        value_fn = _function(forward, name, f"Value of {name}.", False, names,
                             entry.for_value() if entry is not None else None, checker)
        grad_fn = _function(adjoint, f"{name}_value_and_grad",
                            f"Value of {name} and its gradient with respect to {wrt_names}.",
                            grouped, names, entry, checker)
    finally:
        codegen.FLAVOUR.reset(token)
    for text in (value_fn, grad_fn):
        # not comments, docstrings, nor the signature: the loss's defaults are NumPy values
        code = "\n".join(line for line in text.splitlines()[1:]
                         if not line.strip().startswith(("#", '"""')))
        found = NUMPY_CALL.search(code)
        if found:  # the last guard: nothing NumPy-only inside a function
            raise CompileError("backend='array-api': the generated code would call NumPy directly "
                               f"({found.group(0)}); save with the default backend", loc)
    helpers = [h for h in codegen.helpers_used(forward, adjoint) if h in HELPERS]  # scatter: inline
    header = [codegen._docstring(
        docstring_text(f"{name} and its gradient with respect to {wrt_names}, for the array API standard."),
        docstring_text(f"Generated by gradc from {origin}.") + " Runs on NumPy, CuPy, PyTorch and JAX "
        "arrays (array-api-compat). Do not edit: regenerate instead.")]
    imports = ["import os", ""] if big else []
    imports += ["import numpy as np", "from array_api_compat import array_namespace, device"]
    parts = ["\n".join(header + imports)]
    parts.append(NAMESPACE)
    if helpers:
        from gradc.runtime import array_api_support

        parts.append("# Helpers from gradc's runtime.array_api_support.\n" + "\n\n".join(
            inspect.getsource(getattr(array_api_support, h)).rstrip() + "\n" for h in helpers).rstrip())
    if consts:
        lines = ["# Constants captured from the module that defines the function (NumPy arrays, "
                 "converted to the arguments' namespace and device by each function)."]
        for k, v in consts.items():
            if v.size <= codegen.INLINE_ARRAY_LIMIT:
                lines.append(f"_c_{k} = {codegen.array_literal(v)}")
        if big:
            lines.append(f"_consts = np.load(os.path.join(os.path.dirname(os.path.abspath(__file__)), "
                         f"{external_consts!r}))")
            lines += [f"{k} = _consts[{k!r}]" for k in big]
        parts.append("\n".join(lines))
    if entry is not None:
        parts.append(_checker(entry, names))
    parts += [value_fn.rstrip(), grad_fn.rstrip()]
    return "\n\n\n".join(parts) + "\n", big


def _default_names(names: dict) -> dict:
    """Const → its module-level name here (`_c_<name>`): the signature names large default arrays."""
    return {c: f"_c_{n}" for c, n in names.items()}


def _checker(entry, names) -> str:
    """The arguments the module was generated for: containers and compile-time values as in the
    NumPy module, arrays by shape and dtype in their own namespace."""
    lines = entry.structure_lines("this module") + entry.check_lines("this module")
    for (param, path), kind in zip(entry.access, entry.kinds):
        where = f"{param}{''.join(f'[{key_text(k)}]' for k in path)}"
        if kind[0] == "float":
            test = f"type({where}) is not float and tuple(getattr({where}, 'shape', (0,))) != ()"
            want = "a Python float (or a 0-d array)"
        else:
            array = kind[0] in ("array", "dask")  # a Dask specialisation's module takes any array
            shape = tuple(int(n) for n in kind[1]) if array else ()
            dtype = kind[2] if array else kind[1]
            test = (f"not hasattr({where}, 'shape') or tuple({where}.shape) != {shape!r} "
                    f"or {where}.dtype != array_namespace({where}).{dtype}")
            want = f"an array of shape {shape!r} and dtype {dtype}"
        message = key_text(f"this module was generated for {where}: {want}")
        lines += [f"    if {test}:", f"        raise ValueError({message})"]
    head = f"def check_arguments({entry.signature_text(_default_names(names))}):"
    doc = '    """The arguments this module was generated for (it is specialised to them)."""'
    return "\n".join([head, doc] + (lines or ["    pass"]))


def _function(program, fname, doc, grouped, names, entry, checker) -> str:
    """One function: namespace and device from the array arguments, floats and constants
    converted into them, then codegen's statements under the array-API flavour."""
    local = {c: n for c, n in names.items()}
    naming = codegen.Naming(program, "python", local, entry, {}, reserved=RESERVED + (checker or "",))
    stmts = codegen.statements(program, naming)
    used = {c for op in program.ops for c in op.inputs if c in names}
    for op in program.ops:  # constants read inside loop and branch bodies
        for body in list(op.params.get("branches", ())) + ([op.params["body"]] if "body" in op.params else []):
            from ..regions import all_ops

            used |= {c for o in all_ops(body) for c in o.inputs if c in names}
    if entry is not None:
        head = f"def {fname}({entry.signature_text(_default_names(names))}):"
        sources = [(v, f"{param}{''.join(f'[{key_text(k)}]' for k in path)}", kind)
                   for v, (param, path), kind in zip(program.inputs, entry.access, entry.kinds)]
    else:
        head = f"def {fname}({', '.join(naming.base(v) for v in program.inputs)}):"
        sources = [(v, naming.base(v), ("float",) if getattr(v, "pytype", None) is float else ("array",))
                   for v in program.inputs]
    lines = [head, f'    """{docstring_text(doc)}"""']
    if entry is not None and checker:
        lines.append(f"    {checker}({', '.join(entry.call_parts())})")
    lines.append(f"    xp, _device = _namespace({', '.join(s for _, s, _ in sources)})")
    for v, source, kind in sources:
        target = naming.base(v)
        if kind[0] == "float":  # a Python float (or a 0-d array standing for one)
            lines.append(f"    {target} = xp.asarray({source}, dtype=xp.float64, device=_device)")
        elif kind[0] == "scalar":
            lines.append(f"    {target} = xp.asarray({source}, dtype=xp.{kind[1]}, device=_device)")
        elif source != target:
            lines.append(f"    {target} = {source}")
    for c in sorted(used, key=lambda c: names[c]):
        lines.append(f"    {names[c]} = xp.asarray(_c_{names[c]}, device=_device)")
    last = None
    for st in stmts:
        loc = st.op.loc
        if loc is not None and loc.line and (st.op.sweep, loc.lineno) != last:
            prefix = "adjoint of " if st.op.sweep == "reverse" else ""
            lines.append(f"    # {prefix}line {loc.lineno}: {comment_text(loc.line.strip())}")
            last = (st.op.sweep, loc.lineno)
        lines += codegen._block_lines([st], "    ")
    returned = codegen.output_text(program, naming, stmts, grouped, entry) if program.outputs else "()"
    lines.append(f"    return {returned}")
    return "\n".join(lines) + "\n"
