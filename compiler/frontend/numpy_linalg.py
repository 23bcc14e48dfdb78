"""Linear algebra: np.linalg (norm, inv, pinv, solve, det, slogdet, cholesky, eigh, eigvalsh,
eig and eigvals (real eigenvalues), svd, matrix_power, multi_dot), contractions (einsum, dot above 2-D, tensordot, inner, kron, cross)
and the matrix helpers trace, diag, diagonal, tril, triu, with the methods .dot, .trace and
.diagonal.

Contractions lower to one `einsum` op; diagonals and traces to an einsum with a repeated
index ('...ii->...i'); tril/triu to `where` with a constant mask; matrix norms other than
the Frobenius norm to reductions of `abs` or of the singular values. Factorizations with
several results return Python tuples (NumPy's own named tuples: `.eigenvalues`, `.U`, ...)
of single-output ops (compiler/primitives/decompositions.py).
"""
from __future__ import annotations

import numpy as np

from ..errors import SignatureError, UnsupportedFunction
from ..ir import Const, Value
from ..primitives.linalg import _LETTERS
from .numpy_table import _check_dtype_param, _get, _operand, array_operand, bind_params, signature, METHOD_SIGNATURES as _BASE_SIGS

try:  # NumPy >= 2: the named result tuples of np.linalg
    from numpy.linalg._linalg import EigResult, EighResult, SlogdetResult, SVDResult
except ImportError:  # pragma: no cover - NumPy 1.x returns plain tuples
    EigResult = EighResult = SlogdetResult = SVDResult = None


def _tuple(cls, *items):
    return cls(*items) if cls is not None else tuple(items)


def _int(lw, v, what, fname):
    v = lw.static(v, what)
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        lw.fail(f"{fname}(): {what} must be an integer, not {v!r}", SignatureError)
    return int(v)


def _axis(lw, v, ndim, fname, what="axis"):
    a = _int(lw, v, what, fname)
    if not -ndim <= a < ndim:
        lw.fail(f"{fname}(): {what} {a} is out of bounds for array of dimension {ndim}", SignatureError)
    return a % ndim


def _as_float(lw, x):
    """NumPy's linalg functions compute in floating point: integer arrays become float64
    (and lists of arrays or numbers an array, as np.asarray makes it)."""
    if not isinstance(x, Value):
        x = _operand(lw, x)
    if lw.dtype(x).kind not in "f":
        if lw.dtype(x).kind == "c":
            lw.fail("complex arrays are not supported", UnsupportedFunction)
        return lw.bind("cast", x, dtype=np.dtype(np.float64))
    return x


def _swap_last(ndim):
    axes = list(range(ndim))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return tuple(axes)


def _move_to_end(lw, x, axes):
    nd = lw.ndim(x)
    order = [i for i in range(nd) if i not in axes] + list(axes)
    return x if order == list(range(nd)) else lw.bind("transpose", x, axes=tuple(order))


def _need_2d(lw, x, fname):
    if lw.ndim(x) < 2:
        lw.fail(f"{fname}(): {lw.ndim(x)}-dimensional array given. Array must be at least "
                "two-dimensional", SignatureError)


# -- np.linalg -------------------------------------------------------------------------------


def _simple(fn, prim, fname):
    def lower(lw, args, kw):
        g = bind_params(lw, fn, fname, args, kw, ("a",))
        x = _as_float(lw, g["a"])
        _need_2d(lw, x, fname)
        _at_compile_time(lw, x, fname, fn)
        return lw.bind(prim, x)
    return lower


def _solve(lw, args, kw):
    g = bind_params(lw, np.linalg.solve, "np.linalg.solve", args, kw, ("a", "b"))
    a, b = _as_float(lw, g["a"]), g["b"]
    if isinstance(b, Value):
        b = _as_float(lw, b)
    _need_2d(lw, a, "np.linalg.solve")
    if isinstance(b, Const) or not isinstance(b, Value):
        _at_compile_time(lw, a, "np.linalg.solve", lambda m: np.linalg.solve(m, lw.value(b)))
    return lw.bind("solve", a, b)


def _slogdet(lw, args, kw):
    g = bind_params(lw, np.linalg.slogdet, "np.linalg.slogdet", args, kw, ("a",))
    x = _as_float(lw, g["a"])
    _need_2d(lw, x, "np.linalg.slogdet")
    return _tuple(SlogdetResult, lw.bind("slogdet_sign", x), lw.bind("logabsdet", x))


def _cholesky(lw, args, kw):
    g = bind_params(lw, np.linalg.cholesky, "np.linalg.cholesky", args, kw, ("a", "upper"))
    x = _as_float(lw, g["a"])
    _need_2d(lw, x, "np.linalg.cholesky")
    if lw.static(_get(g, "upper", False), "upper"):
        # the upper factor reads the upper triangle: U = cholesky(A^T)^T
        swap = _swap_last(lw.ndim(x))
        return lw.bind("transpose", lw.bind("cholesky", lw.bind("transpose", x, axes=swap)), axes=swap)
    return lw.bind("cholesky", x)


def _uplo(lw, g, fname):
    uplo = lw.static(_get(g, "UPLO", "L"), "UPLO")
    if uplo not in ("L", "U"):
        lw.fail(f"{fname}(): UPLO argument must be 'L' or 'U', not {uplo!r}", SignatureError)
    return uplo


def _eigh(lw, args, kw):
    g = bind_params(lw, np.linalg.eigh, "np.linalg.eigh", args, kw, ("a", "UPLO"))
    x = _as_float(lw, g["a"])
    _need_2d(lw, x, "np.linalg.eigh")
    uplo = _uplo(lw, g, "np.linalg.eigh")
    return _tuple(EighResult, lw.bind("eigh_values", x, UPLO=uplo), lw.bind("eigh_vectors", x, UPLO=uplo))


def _eigvalsh(lw, args, kw):
    g = bind_params(lw, np.linalg.eigvalsh, "np.linalg.eigvalsh", args, kw, ("a", "UPLO"))
    x = _as_float(lw, g["a"])
    _need_2d(lw, x, "np.linalg.eigvalsh")
    return lw.bind("eigh_values", x, UPLO=_uplo(lw, g, "np.linalg.eigvalsh"))


def _eig(lw, args, kw):
    """np.linalg.eig of a matrix whose eigenvalues are all real (the generated code raises
    LinAlgError where they are not: gradc's arrays are real)."""
    g = bind_params(lw, np.linalg.eig, "np.linalg.eig", args, kw, ("a",))
    x = _real_eig_operand(lw, g["a"], "np.linalg.eig")
    return _tuple(EigResult, lw.bind("eig_values", x), lw.bind("eig_vectors", x))


def _eigvals(lw, args, kw):
    g = bind_params(lw, np.linalg.eigvals, "np.linalg.eigvals", args, kw, ("a",))
    return lw.bind("eig_values", _real_eig_operand(lw, g["a"], "np.linalg.eigvals"))


def _real_eig_operand(lw, a, fname):
    x = _as_float(lw, a)
    _need_2d(lw, x, fname)
    if np.iscomplexobj(_at_compile_time(lw, x, fname, np.linalg.eigvals)):
        lw.fail(f"{fname}() of this compile-time matrix has complex eigenvalues; gradc's arrays are "
                "real, so it computes eig only where every eigenvalue is real", UnsupportedFunction)
    return x


def _at_compile_time(lw, x, fname, fn):
    """fn(x) for a compile-time x (the builder folds it), with NumPy's error (a singular or
    non-finite matrix) as a CompileError at the user's line; None for a traced x."""
    if not isinstance(x, Const):
        return None
    try:
        with np.errstate(all="ignore"):
            return fn(x.value)
    except (np.linalg.LinAlgError, ValueError) as e:
        lw.fail(f"{fname}(): NumPy raises {type(e).__name__} on this compile-time matrix: {e}", SignatureError)


def _pinv(lw, args, kw):
    g = bind_params(lw, np.linalg.pinv, "np.linalg.pinv", args, kw, ("a", "rcond", "rtol", "hermitian"))
    x = _as_float(lw, g["a"])
    _need_2d(lw, x, "np.linalg.pinv")
    if lw.static(_get(g, "hermitian", False), "hermitian"):
        lw.fail("np.linalg.pinv(): hermitian=True is not supported (it finds the cutoff from "
                "eigenvalues); use the default", UnsupportedFunction)
    cut = {}
    for name in ("rcond", "rtol"):
        v = lw.static(_get(g, name), name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            lw.fail(f"np.linalg.pinv(): {name} must be a number known at compile time, not {v!r}",
                    UnsupportedFunction)
        cut[name] = float(v)
    if len(cut) == 2:
        lw.fail("np.linalg.pinv(): `rtol` and `rcond` can't be both set.", SignatureError)
    _at_compile_time(lw, x, "np.linalg.pinv", lambda a: np.linalg.pinv(a, **cut))
    return lw.bind("pinv", x, **cut)


def _svd(lw, args, kw):
    g = bind_params(lw, np.linalg.svd, "np.linalg.svd", args, kw,
                    ("a", "full_matrices", "compute_uv"))
    x = _as_float(lw, g["a"])
    _need_2d(lw, x, "np.linalg.svd")
    if not lw.static(_get(g, "compute_uv", True), "compute_uv"):
        return lw.bind("svd_s", x)
    full = bool(lw.static(_get(g, "full_matrices", True), "full_matrices"))
    return _tuple(SVDResult, lw.bind("svd_u", x, full_matrices=full), lw.bind("svd_s", x),
                  lw.bind("svd_vh", x, full_matrices=full))


def _svdvals(lw, args, kw):
    g = bind_params(lw, np.linalg.svdvals, "np.linalg.svdvals", args, kw, ("x",))
    x = _as_float(lw, g["x"])
    _need_2d(lw, x, "np.linalg.svdvals")
    return lw.bind("svd_s", x)


def _matrix_power(lw, args, kw):
    g = bind_params(lw, np.linalg.matrix_power, "np.linalg.matrix_power", args, kw, ("a", "n"))
    a, n = g["a"], lw.static(g["n"], "n")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        lw.fail(f"np.linalg.matrix_power(): exponent must be an integer, not {n!r}", SignatureError)
    n = int(n)
    _need_2d(lw, a, "np.linalg.matrix_power")
    shape = tuple(lw.shape(a))
    if shape[-1] != shape[-2]:
        lw.fail(f"np.linalg.matrix_power(): last 2 dimensions of the array must be square, "
                f"not {shape[-2:]}", SignatureError)
    if n == 0:
        eye = np.empty(shape, dtype=lw.dtype(a))
        eye[...] = np.eye(shape[-1], dtype=lw.dtype(a))
        return Const(eye)
    if n < 0:
        a, n = lw.bind("inv", _as_float(lw, a)), -n
    if n == 1:
        return a
    if n == 2:
        return lw.bind("matmul", a, a)
    if n == 3:
        return lw.bind("matmul", lw.bind("matmul", a, a), a)
    z = result = None  # NumPy's order of products: bits of n from the least significant
    while n > 0:
        z = a if z is None else lw.bind("matmul", z, z)
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else lw.bind("matmul", result, z)
    return result


def _multi_dot(lw, args, kw):
    g = bind_params(lw, np.linalg.multi_dot, "np.linalg.multi_dot", args, kw, ("arrays",))
    arrays = g["arrays"]
    if isinstance(arrays, Value) or not isinstance(arrays, (list, tuple)) or len(arrays) < 2:
        lw.fail("np.linalg.multi_dot() needs a list or tuple of at least two arrays", SignatureError)
    for k, x in enumerate(arrays):
        nd = lw.ndim(x)
        if not (nd == 2 or nd == 1 and k in (0, len(arrays) - 1)):
            lw.fail(f"np.linalg.multi_dot(): array {k} has {nd} dimensions; the first and last may be "
                    "1-D, the others must be 2-D", SignatureError)
    if len(arrays) == 2:
        return dot(lw, arrays[0], arrays[1])
    # as NumPy computes it (its bits, and its rounding with mixed precisions): 1-D ends made a
    # row and a column, the cheapest order of matrix products, the ends' axes taken off again
    first, last = lw.ndim(arrays[0]), lw.ndim(arrays[-1])
    arrays = list(arrays)
    if first == 1:
        arrays[0] = lw.bind("reshape", arrays[0], shape=(1, lw.shape(arrays[0])[0]))
    if last == 1:
        arrays[-1] = lw.bind("reshape", arrays[-1], shape=(lw.shape(arrays[-1])[0], 1))
    dims = [lw.shape(x)[0] for x in arrays] + [lw.shape(arrays[-1])[1]]
    order = _chain_order(dims)

    def product(i, j):
        return arrays[i] if i == j else dot(lw, product(i, order[i][j]), product(order[i][j] + 1, j))

    out = product(0, len(arrays) - 1)
    if first == 1 and last == 1:
        return lw.bind("reshape", out, shape=())
    if first == 1 or last == 1:
        return lw.bind("reshape", out, shape=(int(np.prod(lw.shape(out))),))
    return out


def _chain_order(p):
    """NumPy's multi_dot order for matrices of shapes (p[0], p[1]), (p[1], p[2]), ...: with
    three, whichever of (AB)C and A(BC) costs fewer multiplications (ties: A(BC)); with more,
    the matrix-chain dynamic programme (first split of least cost)."""
    n = len(p) - 1
    split = [[0] * n for _ in range(n)]
    if n == 3:
        cost1 = p[0] * p[2] * (p[1] + p[3])  # (AB)C
        cost2 = p[1] * p[3] * (p[0] + p[2])  # A(BC)
        split[0][2] = 1 if cost1 < cost2 else 0
        split[0][1], split[1][2] = 0, 1
        return split
    cost = [[0.0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = float("inf")
            for k in range(i, j):
                q = cost[i][k] + cost[k + 1][j] + p[i] * p[k + 1] * p[j + 1]
                if q < cost[i][j]:
                    cost[i][j], split[i][j] = q, k
    return split


# -- norms -------------------------------------------------------------------------------------


def _norm(lw, args, kw):
    g = bind_params(lw, np.linalg.norm, "np.linalg.norm", args, kw, ("x", "ord", "axis", "keepdims"))
    x = _as_float(lw, g["x"])
    ord_ = lw.static(_get(g, "ord"), "ord")
    axis = lw.static(_get(g, "axis"), "axis")
    keepdims = bool(lw.static(_get(g, "keepdims", False), "keepdims"))
    nd = lw.ndim(x)
    if isinstance(ord_, str) and ord_ not in ("fro", "f", "nuc"):
        lw.fail(f"np.linalg.norm(): invalid norm order {ord_!r}", SignatureError)
    if not (ord_ is None or isinstance(ord_, str) or isinstance(ord_, (int, float, np.integer, np.floating))
            and not isinstance(ord_, bool)):
        lw.fail(f"np.linalg.norm(): ord must be None, a number, 'fro' or 'nuc', not {ord_!r}",
                SignatureError)
    if axis is None:
        if ord_ is None:
            return lw.bind("vector_norm", x, ord=2.0, axis=None, keepdims=keepdims)
        if nd not in (1, 2):
            lw.fail("np.linalg.norm(): improper number of dimensions to norm", SignatureError)
        axis = tuple(range(nd))
    elif not isinstance(axis, tuple):
        axis = (axis,)
    axes = tuple(_axis(lw, a, nd, "np.linalg.norm") for a in axis)
    if len(axes) == 1:
        return _vector_norm(lw, x, ord_, axes[0], keepdims)
    if len(axes) == 2:
        if axes[0] == axes[1]:
            lw.fail("np.linalg.norm(): duplicate axes given", SignatureError)
        return _matrix_norm(lw, x, ord_, axes, keepdims)
    lw.fail("np.linalg.norm(): improper number of dimensions to norm", SignatureError)


def _vector_norm(lw, x, ord_, axis, keepdims):
    if isinstance(ord_, str):
        lw.fail(f"np.linalg.norm(): invalid norm order {ord_!r} for vectors", SignatureError)
    p = 2.0 if ord_ is None else float(ord_)
    red = dict(axis=axis, keepdims=keepdims)
    if p == np.inf:
        return lw.bind("max", lw.bind("abs", x), **red)
    if p == -np.inf:
        return lw.bind("min", lw.bind("abs", x), **red)
    if p == 0:
        return lw.bind("sum", lw.bind("cast", lw.bind("not_equal", x, 0), dtype=lw.dtype(x)), **red)
    if p == 1:
        return lw.bind("sum", lw.bind("abs", x), **red)
    if p > 1:
        return lw.bind("vector_norm", x, ord=p, axis=(axis,), keepdims=keepdims)
    # 0 < p < 1 or p < 0: not norms; NumPy's formula (no derivative where an entry is 0)
    s = lw.bind("sum", lw.bind("pow", lw.bind("abs", x), p), **red)
    return lw.bind("pow", s, 1.0 / p)


def _matrix_norm(lw, x, ord_, axes, keepdims):
    row, col = axes
    nd = lw.ndim(x)
    if ord_ is None or ord_ in ("fro", "f"):
        return lw.bind("vector_norm", x, ord=2.0, axis=axes, keepdims=keepdims)
    if ord_ == "nuc" or ord_ in (2, -2):
        s = lw.bind("svd_s", _move_to_end(lw, x, (row, col)))
        red = "sum" if ord_ == "nuc" else "max" if ord_ == 2 else "min"
        ret = lw.bind(red, s, axis=-1, keepdims=False)
    elif ord_ in (1, -1, np.inf, -np.inf):
        red = "max" if ord_ in (1, np.inf) else "min"
        if ord_ in (1, -1):
            c = col - 1 if col > row else col
            ret = lw.bind(red, lw.bind("sum", lw.bind("abs", x), axis=row, keepdims=False), axis=c,
                          keepdims=False)
        else:
            r = row - 1 if row > col else row
            ret = lw.bind(red, lw.bind("sum", lw.bind("abs", x), axis=col, keepdims=False), axis=r,
                          keepdims=False)
    else:
        lw.fail(f"np.linalg.norm(): invalid norm order {ord_!r} for matrices", SignatureError)
    if keepdims:
        shape = list(lw.shape(x))
        shape[row] = shape[col] = 1
        ret = lw.bind("reshape", ret, shape=tuple(shape))
    return ret


# -- contractions ------------------------------------------------------------------------------


def _subscripts_from_sublists(lw, args):
    """np.einsum(op0, sublist0, op1, sublist1, ..., [sublistout]) -> (subscripts, operands)."""
    def letters(sub):
        if isinstance(sub, Value) or not isinstance(sub, (list, tuple)):
            lw.fail("np.einsum(): subscript lists must be lists of integers (and Ellipsis)", SignatureError)
        out = ""
        for s in sub:
            if s is Ellipsis:
                out += "..."
            elif isinstance(s, (int, np.integer)) and not isinstance(s, bool) and 0 <= s < 52:
                out += _LETTERS[int(s)]
            else:
                lw.fail(f"np.einsum(): subscript {s!r} is not an integer in [0, 52)", SignatureError)
        return out

    args = list(args)
    ops_, terms = args[0::2], args[1::2]
    out = None
    if len(args) % 2:  # a trailing output sublist
        out = ops_.pop()
        out = letters(out)
    if len(ops_) != len(terms):
        lw.fail("np.einsum(): operands and subscript lists must alternate", SignatureError)
    s = ",".join(letters(t) for t in terms)
    return (s if out is None else s + "->" + out), ops_


def _einsum(lw, args, kw):
    g = bind_params(lw, np.einsum, "np.einsum", args, kw, ("operands", "optimize"))
    operands = g.get("operands", ())
    if not operands:
        lw.fail("np.einsum() needs subscripts and operands", SignatureError)
    optimize = lw.static(_get(g, "optimize", False), "optimize")
    if not (isinstance(optimize, (bool, str)) or isinstance(optimize, (list, tuple))):
        lw.fail(f"np.einsum(): optimize={optimize!r} is not supported", SignatureError)
    first = lw.value(operands[0]) if lw.is_static(operands[0]) else operands[0]
    if isinstance(first, str):
        subscripts, ops_ = first, list(operands[1:])
    else:
        subscripts, ops_ = _subscripts_from_sublists(lw, operands)
    if not ops_:
        lw.fail("np.einsum(): no operands", SignatureError)
    for x in ops_:
        if not isinstance(x, (Value, np.ndarray, np.generic, int, float, list, tuple)) or isinstance(x, str):
            lw.fail(f"np.einsum(): unsupported operand {x!r}", SignatureError)
    return lw.bind("einsum", *ops_, subscripts=subscripts)


def _ein(lw, operands, terms, out):
    return lw.bind("einsum", *operands, subscripts=",".join(terms) + "->" + out)


def dot(lw, a, b):
    na, nb = lw.ndim(a), lw.ndim(b)
    if na == 0 or nb == 0:
        return lw.bind("mul", a, b)
    if na <= 2 and nb <= 2:
        return lw.bind("matmul", *_one_dtype(lw, a, b))
    # dot(a, b)[i, j, k, m] = sum(a[i, j, :] * b[k, :, m]): the last axis of a with the
    # second-to-last of b (its only axis when b is 1-D); not matmul's batching
    ta = _LETTERS[:na - 1] + "z"
    rest = _LETTERS[na - 1:na - 1 + nb - 1]
    tb = rest + "z" if nb == 1 else rest[:-1] + "z" + rest[-1]
    return _ein(lw, [a, b], [ta, tb], ta[:-1] + rest)


def _dot(lw, args, kw):
    g = bind_params(lw, np.dot, "np.dot", args, kw, ("a", "b"))
    return dot(lw, array_operand(lw, g["a"]), array_operand(lw, g["b"]))


def _tensordot(lw, args, kw):
    g = bind_params(lw, np.tensordot, "np.tensordot", args, kw, ("a", "b", "axes"))
    a, b = g["a"], g["b"]
    axes = lw.static(_get(g, "axes", 2), "axes")
    na, nb = lw.ndim(a), lw.ndim(b)
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        n = int(axes)
        if n < 0 or n > min(na, nb):
            lw.fail(f"np.tensordot(): axes={n} is out of range for {na}-d and {nb}-d arrays", SignatureError)
        ax_a, ax_b = list(range(na - n, na)), list(range(n))
    else:
        try:
            ax_a, ax_b = axes
        except (TypeError, ValueError):
            lw.fail(f"np.tensordot(): axes must be an int or a pair of axis sequences, not {axes!r}",
                    SignatureError)
        ax_a = [ax_a] if isinstance(ax_a, (int, np.integer)) else list(ax_a)
        ax_b = [ax_b] if isinstance(ax_b, (int, np.integer)) else list(ax_b)
        if len(ax_a) != len(ax_b):
            lw.fail("np.tensordot(): shape-mismatch for sum (axes lists of different lengths)", SignatureError)
        ax_a = [_axis(lw, x, na, "np.tensordot", "axes") for x in ax_a]
        ax_b = [_axis(lw, x, nb, "np.tensordot", "axes") for x in ax_b]
    sa, sb = lw.shape(a), lw.shape(b)
    for i, j in zip(ax_a, ax_b):
        if sa[i] != sb[j]:
            lw.fail(f"np.tensordot(): shape-mismatch for sum ({sa[i]} != {sb[j]})", SignatureError)
    return _contract(lw, a, b, ax_a, ax_b)


def _contract(lw, a, b, ax_a, ax_b):
    """sum over a's axes ax_a against b's ax_b, as np.tensordot computes it (so the bits are
    NumPy's): a's free axes then the summed ones, b's summed axes then its free ones, each
    made a matrix, one matrix product, the free axes' shape back."""
    a, b = _one_dtype(lw, a, b)
    sa, sb = lw.shape(a), lw.shape(b)
    free_a = [i for i in range(len(sa)) if i not in ax_a]
    free_b = [j for j in range(len(sb)) if j not in ax_b]
    n = int(np.prod([sa[i] for i in ax_a], dtype=np.int64))
    at = _transposed(lw, a, free_a + list(ax_a))
    bt = _transposed(lw, b, list(ax_b) + free_b)
    at = lw.bind("reshape", at, shape=(int(np.prod([sa[i] for i in free_a], dtype=np.int64)), n))
    bt = lw.bind("reshape", bt, shape=(n, int(np.prod([sb[j] for j in free_b], dtype=np.int64))))
    return lw.bind("reshape", lw.bind("matmul", at, bt),
                   shape=tuple(sa[i] for i in free_a) + tuple(sb[j] for j in free_b))


def _one_dtype(lw, a, b):
    """a and b cast to their common dtype first, as np.dot does before its product (a matmul
    of mixed dtypes casts inside its loop and sums in another order: other last bits)."""
    common = np.result_type(lw.dtype(a), lw.dtype(b))
    return tuple(x if lw.dtype(x) == common else lw.bind("cast", x, dtype=common) for x in (a, b))


def _transposed(lw, x, order):
    return x if order == sorted(order) else lw.bind("transpose", x, axes=tuple(order))


def _inner(lw, args, kw):
    g = bind_params(lw, np.inner, "np.inner", args, kw, ("a", "b"))
    a, b = array_operand(lw, g["a"]), array_operand(lw, g["b"])
    na, nb = lw.ndim(a), lw.ndim(b)
    if na == 0 or nb == 0:
        return lw.bind("mul", a, b)
    if na <= 2 and nb <= 2:  # NumPy's inner is a matrix product here (its bits; einsum's differ)
        return _contract(lw, a, b, [na - 1], [nb - 1])
    # above 2-D NumPy takes one dot product per output element: a matmul of (1, n) rows of a
    # by (n, 1) columns of b, a's leading axes broadcast against b's
    a, b = _one_dtype(lw, a, b)
    sa, sb = tuple(lw.shape(a)), tuple(lw.shape(b))
    n = sa[-1]
    rows = lw.bind("reshape", a, shape=sa[:-1] + (1,) * (nb - 1) + (1, n))
    cols = lw.bind("reshape", b, shape=sb[:-1] + (n, 1))
    return lw.bind("reshape", lw.bind("matmul", rows, cols), shape=sa[:-1] + sb[:-1])


def _kron(lw, args, kw):
    g = bind_params(lw, np.kron, "np.kron", args, kw, ("a", "b"))
    a, b = array_operand(lw, g["a"]), array_operand(lw, g["b"])
    na, nb = lw.ndim(a), lw.ndim(b)
    if na == 0 or nb == 0:
        return lw.bind("mul", a, b)
    nd = max(na, nb)
    if na < nd:
        a = lw.bind("reshape", a, shape=(1,) * (nd - na) + tuple(lw.shape(a)))
    if nb < nd:
        b = lw.bind("reshape", b, shape=(1,) * (nd - nb) + tuple(lw.shape(b)))
    ta, tb = _LETTERS[:nd], _LETTERS[26:26 + nd]
    k = _ein(lw, [a, b], [ta, tb], "".join(x + y for x, y in zip(ta, tb)))
    return lw.bind("reshape", k, shape=tuple(p * q for p, q in zip(lw.shape(a), lw.shape(b))))


def _cross(lw, args, kw):
    g = bind_params(lw, np.cross, "np.cross", args, kw, ("a", "b", "axisa", "axisb", "axisc", "axis"))
    a, b = g["a"], g["b"]
    axis = lw.static(_get(g, "axis"), "axis")
    axisa, axisb, axisc = (lw.static(_get(g, n, -1), n) for n in ("axisa", "axisb", "axisc"))
    if axis is not None:
        axisa = axisb = axisc = axis
    if lw.ndim(a) == 0 or lw.ndim(b) == 0:
        lw.fail("np.cross(): at least one array has zero dimension", SignatureError)
    a = _move_to_end(lw, a, (_axis(lw, axisa, lw.ndim(a), "np.cross", "axisa"),))
    b = _move_to_end(lw, b, (_axis(lw, axisb, lw.ndim(b), "np.cross", "axisb"),))
    da, db = lw.shape(a)[-1], lw.shape(b)[-1]
    if da not in (2, 3) or db not in (2, 3):
        lw.fail("np.cross(): incompatible dimensions for cross product (dimension must be 2 or 3)",
                SignatureError)

    def comp(x, d, i):
        return None if i >= d else lw.bind("getitem", x, index=(Ellipsis, i))

    def term(x, y):  # x*y, where None is 0
        return None if x is None or y is None else lw.bind("mul", x, y)

    def diff(p, q):
        if p is None and q is None:
            return None
        if q is None:
            return p
        return lw.bind("neg", q) if p is None else lw.bind("sub", p, q)

    a0, a1, a2 = (comp(a, da, i) for i in range(3))
    b0, b1, b2 = (comp(b, db, i) for i in range(3))
    z = diff(term(a0, b1), term(a1, b0))
    if da == 2 and db == 2:
        return z
    x = diff(term(a1, b2), term(a2, b1))
    y = diff(term(a2, b0), term(a0, b2))
    parts = [lw.bind("broadcast_to", p, shape=tuple(lw.shape(z))) if tuple(lw.shape(p)) != tuple(lw.shape(z))
             else p for p in (x, y, z)]
    c = lw.bind("concatenate", *(lw.bind("expand_dims", p, axis=-1 % (lw.ndim(p) + 1)) for p in parts),
                axis=lw.ndim(z))
    nd = lw.ndim(c)
    ac = _axis(lw, axisc, nd, "np.cross", "axisc")
    if ac != nd - 1:
        order = list(range(nd - 1))
        order.insert(ac, nd - 1)
        c = lw.bind("transpose", c, axes=tuple(order))
    return c


# -- diagonals, traces, triangles ------------------------------------------------------------------


def diagonal(lw, x, offset, axis1, axis2, fname, reduce=False):
    offset = _int(lw, offset, "offset", fname)
    nd = lw.ndim(x)
    if nd < 2:
        lw.fail(f"{fname}(): diag requires an array of at least two dimensions", SignatureError)
    a1 = _axis(lw, axis1, nd, fname, "axis1")
    a2 = _axis(lw, axis2, nd, fname, "axis2")
    if a1 == a2:
        lw.fail(f"{fname}(): axis1 and axis2 cannot be the same", SignatureError)
    x = _move_to_end(lw, x, (a1, a2))
    n1, n2 = lw.shape(x)[-2:]
    r0, c0 = max(-offset, 0), max(offset, 0)
    size = max(0, min(n1 - r0, n2 - c0))
    if (r0, c0, size) != (0, 0, n1) or n1 != n2:
        x = lw.bind("getitem", x, index=(Ellipsis, slice(r0, r0 + size), slice(c0, c0 + size)))
    return lw.bind("einsum", x, subscripts="...ii->..." if reduce else "...ii->...i")


def _diagonal(lw, args, kw):
    g = bind_params(lw, np.diagonal, "np.diagonal", args, kw, ("a", "offset", "axis1", "axis2"))
    return diagonal(lw, g["a"], _get(g, "offset", 0), _get(g, "axis1", 0), _get(g, "axis2", 1), "np.diagonal")


def _trace(lw, args, kw):
    g = bind_params(lw, np.trace, "np.trace", args, kw, ("a", "offset", "axis1", "axis2", "dtype"))
    _check_dtype_param(lw, "np.trace", g["a"], g)
    return diagonal(lw, g["a"], _get(g, "offset", 0), _get(g, "axis1", 0), _get(g, "axis2", 1),
                    "np.trace", reduce=True)


def _diag(lw, args, kw):
    g = bind_params(lw, np.diag, "np.diag", args, kw, ("v", "k"))
    v, k = g["v"], _int(lw, _get(g, "k", 0), "k", "np.diag")
    nd = lw.ndim(v)
    if nd == 2:
        return diagonal(lw, v, k, 0, 1, "np.diag")
    if nd != 1:
        lw.fail("np.diag(): input must be 1- or 2-d", SignatureError)
    n = lw.shape(v)[0]
    dtype = lw.dtype(v)
    d = lw.bind("where", Const(np.eye(n, dtype=bool)), lw.bind("expand_dims", v, axis=1),
                Const(np.zeros((), dtype=dtype)))
    if k == 0:
        return d
    m = n + abs(k)
    index = (slice(max(-k, 0), max(-k, 0) + n), slice(max(k, 0), max(k, 0) + n))
    return lw.bind("scatter", d, index=index, shape=(m, m))


def _triangle(fn, lower):
    fname = f"np.{fn.__name__}"

    def lower_fn(lw, args, kw):
        g = bind_params(lw, fn, fname, args, kw, ("m", "k"))
        x, k = g["m"], _int(lw, _get(g, "k", 0), "k", fname)
        if lw.ndim(x) == 0:
            lw.fail(f"{fname}(): the array must be at least 1-dimensional", SignatureError)
        shape = tuple(lw.shape(x))[-2:]
        mask = np.tri(*shape, k=k, dtype=bool) if lower else ~np.tri(*shape, k=k - 1, dtype=bool)
        return lw.bind("where", Const(mask), x, Const(np.zeros((), dtype=lw.dtype(x))))
    return lower_fn


# -- methods -----------------------------------------------------------------------------------

def _m_dot(other, /, out=None): ...
def _m_trace(offset=0, axis1=0, axis2=1, dtype=None, out=None): ...
def _m_diagonal(offset=0, axis1=0, axis2=1): ...


def _method_dot(lw, x, args, kw):
    g = bind_params(lw, None, ".dot", args, kw, ("other",), sig=signature(_BASE_SIGS.get("dot", _m_dot)))
    return dot(lw, x, array_operand(lw, g["other"]))


def _method_trace(lw, x, args, kw):
    g = bind_params(lw, None, ".trace", args, kw, ("offset", "axis1", "axis2", "dtype"),
                    sig=signature(_m_trace))
    _check_dtype_param(lw, ".trace", x, g)
    return diagonal(lw, x, _get(g, "offset", 0), _get(g, "axis1", 0), _get(g, "axis2", 1), ".trace",
                    reduce=True)


def _method_diagonal(lw, x, args, kw):
    g = bind_params(lw, None, ".diagonal", args, kw, ("offset", "axis1", "axis2"), sig=signature(_m_diagonal))
    return diagonal(lw, x, _get(g, "offset", 0), _get(g, "axis1", 0), _get(g, "axis2", 1), ".diagonal")


TABLE = {
    np.linalg.norm: _norm,
    np.linalg.inv: _simple(np.linalg.inv, "inv", "np.linalg.inv"),
    np.linalg.det: _simple(np.linalg.det, "det", "np.linalg.det"),
    np.linalg.solve: _solve, np.linalg.slogdet: _slogdet, np.linalg.cholesky: _cholesky,
    np.linalg.eigh: _eigh, np.linalg.eigvalsh: _eigvalsh, np.linalg.svd: _svd,
    np.linalg.eig: _eig, np.linalg.eigvals: _eigvals, np.linalg.pinv: _pinv,
    np.linalg.matrix_power: _matrix_power, np.linalg.multi_dot: _multi_dot,
    np.einsum: _einsum, np.dot: _dot, np.tensordot: _tensordot, np.inner: _inner, np.kron: _kron,
    np.cross: _cross, np.trace: _trace, np.diag: _diag, np.diagonal: _diagonal,
    np.tril: _triangle(np.tril, True), np.triu: _triangle(np.triu, False),
}
if hasattr(np.linalg, "svdvals"):
    TABLE[np.linalg.svdvals] = _svdvals

# np.diagonal (and np.diag of a matrix) return read-only views; matrix_power(a, 1) returns a itself
KIND = {np.diagonal: "readonly", np.diag: "view", np.linalg.matrix_power: "alias"}  # np.diag: _call_kind

METHOD_SIGNATURES = {"trace": _m_trace, "diagonal": _m_diagonal}
METHODS = {"dot": _method_dot, "trace": _method_trace, "diagonal": _method_diagonal}
METHOD_KIND = {"diagonal": "readonly"}
