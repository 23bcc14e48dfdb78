"""Matrix functions and factorizations: inv, solve, det, slogdet, cholesky, eigh, svd.

Each operates on the last two axes and batches over the leading ones, as NumPy does.
The IR has single-output ops, so a factorization with several results is several
primitives, one per result (`eigh_values`, `eigh_vectors`; `svd_s`, `svd_u`, `svd_vh`;
`slogdet_sign`, `logabsdet`); derivative rules that need another result bind it, and
common-subexpression elimination keeps one op per (primitive, operand). Sharing one
factorization between the ops of one call is left to a later optimisation.

Derivative rules use only primitives that have derivative rules themselves (matmul,
solve, inv, einsum, where, ...), so second derivatives (forward over reverse) work.

Conventions where the derivative does not exist (docs: "Linear algebra"):
* `cholesky` and `eigh` read one triangle of their argument, as NumPy does (the lower one,
  or the upper for UPLO='U'); the gradient lives on that triangle (an off-diagonal entry
  stands for both of its symmetric positions, so it gets both contributions).
* eigenvectors / singular vectors: where two eigenvalues (singular values) are equal the
  derivative of the vectors is undefined; gradc's rule gives NaN there (never an
  arbitrary finite number). The eigenvalues and singular values themselves are fine.
* det: its derivative det(A)·A^{-T} is computed with A^{-1}; at an exactly singular A
  NumPy's inv raises LinAlgError (the cofactor matrix is not computed another way).
"""
from __future__ import annotations

import numpy as np

from ..errors import CompileError
from ..ir import Const
from ..syntax import call, method
from . import ops, registry


# --- helpers ----------------------------------------------------------------------------


def _square(avals, what):
    shape = avals[0].shape
    if len(shape) < 2:
        raise ValueError(f"{what}: {len(shape)}-dimensional array given; array must be at least "
                         "two-dimensional")
    if shape[-1] != shape[-2]:
        raise ValueError(f"{what}: last 2 dimensions of the array must be square, not {shape[-2:]}")
    return shape


def _float_dtype(avals, values, **params):
    dt = avals[0].dtype
    if dt == np.float16:  # LAPACK has no half precision: NumPy raises TypeError
        raise ValueError("array type float16 is unsupported in linalg (NumPy raises TypeError); "
                         "cast it first, e.g. x.astype(np.float32)")
    return dt if dt.kind == "f" else np.dtype(np.float64)


def mT(x):
    """Swap the last two axes (a batch of transposes)."""
    axes = list(range(x.ndim))
    axes[-2], axes[-1] = axes[-1], axes[-2]
    return ops.transpose(x, axes=tuple(axes))


def _col(v):
    return ops.expand_dims(v, axis=-1)


def _row(v):
    return ops.expand_dims(v, axis=-2)


def _diag_of(m):
    return ops.einsum(m, subscripts="...ii->...i")


def _trace(m):
    return ops.einsum(m, subscripts="...ii->...")


def _mask(n, kind, dtype=bool):
    i, j = np.indices((n, n))
    return Const({"lower": i >= j, "strict_lower": i > j, "upper": i <= j, "strict_upper": i < j,
                  "eye": i == j}[kind])


def _zero(x):
    return Const(np.zeros((), dtype=x.dtype))


def solve_vectors(a, r):
    """a^{-1} r where r is a vector or a stack of vectors (..., M) (NumPy 2's solve takes a
    stack of matrices unless b is 1-D)."""
    if r.ndim == 1:
        return ops.solve(a, r)
    return ops.getitem(ops.solve(a, _col(r)), index=(Ellipsis, 0))


def _matvec(a, v):
    if v.ndim == 1:
        return a @ v
    return ops.getitem(a @ _col(v), index=(Ellipsis, 0))


def _fold(s_bar, uplo):
    """The gradient with respect to A of a function of the symmetric matrix NumPy reads from
    A's lower (upper) triangle: entry (i, j) below the diagonal stands for (i, j) and (j, i)."""
    n = s_bar.shape[-1]
    both = s_bar + mT(s_bar)
    strict = _mask(n, "strict_lower" if uplo == "L" else "strict_upper")
    return ops.where(strict, both, ops.where(_mask(n, "eye"), s_bar, _zero(s_bar)))


def _unfold(a_dot, uplo):
    """The symmetric matrix NumPy reads from A's lower (upper) triangle, applied to a tangent."""
    n = a_dot.shape[-1]
    tri = ops.where(_mask(n, "lower" if uplo == "L" else "upper"), a_dot, _zero(a_dot))
    strict = ops.where(_mask(n, "strict_lower" if uplo == "L" else "strict_upper"), a_dot, _zero(a_dot))
    return tri + mT(strict)


def _gap_inverse(w):
    """F[i, j] = 1 / (w[j] - w[i]) off the diagonal, 0 on it; NaN where w[i] == w[j], i != j
    (the derivative of the vectors is undefined at degenerate values)."""
    n = w.shape[-1]
    diff = _row(w) - _col(w)
    eye = _mask(n, "eye")
    tie = ops.logical_and(ops.equal(diff, 0), ops.logical_not(eye))
    inv = 1.0 / ops.where(ops.equal(diff, 0), 1.0, diff)
    return ops.where(eye, 0.0, ops.where(tie, np.nan, inv))


def _define(name, impl, emit, vjp=None, jvp=None, shape_rule=None, dtype_rule=_float_dtype, **kw):
    return registry.define(name, impl=impl, emit=emit, family="linalg", vjp=vjp, jvp=jvp,
                           shape_rule=shape_rule, dtype_rule=dtype_rule, **kw)


# --- inv -------------------------------------------------------------------------------------

_define("inv", np.linalg.inv, lambda a, **_: call("np.linalg.inv", a),
        shape_rule=lambda avals: _square(avals, "inv"),
        vjp=lambda g, out, a: [-(mT(out) @ g @ mT(out))],
        jvp=lambda t, out, a: -(out @ t[0] @ out),
        doc="matrix inverse (batched); d(A^-1) = -A^-1 dA A^-1")


# --- solve -----------------------------------------------------------------------------------


def _solve_shape(avals):
    a, b = (x.shape for x in avals)
    _square(avals[:1], "solve")
    m = a[-1]
    if len(b) == 1:
        if b[0] != m:
            raise ValueError(f"solve: b has {b[0]} rows, a is {m}x{m}")
        return tuple(a[:-2]) + (m,)
    if len(b) < 2 or b[-2] != m:
        raise ValueError(f"solve: b of shape {b} does not match a of shape {a}")
    return tuple(np.broadcast_shapes(a[:-2], b[:-2])) + (m, b[-1])


def _solve_vjp(g, out, a, b):
    if b.ndim == 1:
        b_bar = solve_vectors(mT(a), g)
        return [-(_col(b_bar) * _row(out)), b_bar]
    b_bar = ops.solve(mT(a), g)
    return [-(b_bar @ mT(out)), b_bar]


def _solve_jvp(t, out, a, b):
    da, db = t
    if b.ndim == 1:
        rhs = -_matvec(da, out) if da is not None else None
        rhs = db if rhs is None else rhs if db is None else db + rhs
        return solve_vectors(a, rhs)
    rhs = -(da @ out) if da is not None else None
    rhs = db if rhs is None else rhs if db is None else db + rhs
    return ops.solve(a, rhs)


_define("solve", np.linalg.solve, lambda a, b, **_: call("np.linalg.solve", a, b), arity=2,
        shape_rule=_solve_shape, vjp=_solve_vjp, jvp=_solve_jvp,
        dtype_rule=lambda avals, values: np.result_type(_float_dtype(avals[:1], None),
                                                        _float_dtype(avals[1:], None)),
        doc="a^-1 b by LU (batched; b a vector when 1-D, else a stack of matrices, as NumPy 2)")


# --- det, slogdet ---------------------------------------------------------------------------


def _det_vjp(g, out, a):
    return [_col(_col(g * out)) * mT(ops.inv(a))]


_define("det", np.linalg.det, lambda a, **_: call("np.linalg.det", a),
        shape_rule=lambda avals: _square(avals, "det")[:-2],
        vjp=_det_vjp, jvp=lambda t, out, a: out * _trace(ops.solve(a, t[0])),
        doc="determinant (batched); d det = det * tr(A^-1 dA)")

_define("logabsdet", lambda a: np.linalg.slogdet(a)[1],
        lambda a, **_: method(call("np.linalg.slogdet", a), ".logabsdet"),
        shape_rule=lambda avals: _square(avals, "slogdet")[:-2],
        vjp=lambda g, out, a: [_col(_col(g)) * mT(ops.inv(a))],
        jvp=lambda t, out, a: _trace(ops.solve(a, t[0])),
        doc="log |det A| (the second result of np.linalg.slogdet); d = tr(A^-1 dA)")

_define("slogdet_sign", lambda a: np.linalg.slogdet(a)[0],
        lambda a, **_: method(call("np.linalg.slogdet", a), ".sign"),
        shape_rule=lambda avals: _square(avals, "slogdet")[:-2],
        # piecewise constant: an explicit zero rule (rather than differentiable=False, which
        # the registry tests treat as an elementwise predicate of any array)
        vjp=lambda g, out, a: [None], jvp=lambda t, out, a: None,
        doc="sign of det A (the first result of np.linalg.slogdet): piecewise constant, derivative 0")


# --- cholesky ---------------------------------------------------------------------------------


def _phi(x):
    """The lower triangle with the diagonal halved."""
    n = x.shape[-1]
    return ops.where(_mask(n, "strict_lower"), x, ops.where(_mask(n, "eye"), 0.5 * x, _zero(x)))


def _cholesky_vjp(g, out, a):
    # S_bar = L^-T Phi(L^T L_bar) L^-1 (Murray 2016), then folded onto the lower triangle
    lt = mT(out)
    p = _phi(lt @ g)
    x = ops.solve(lt, p)  # L^-T P
    s_bar = mT(ops.solve(lt, mT(x)))  # L^-T P L^-1
    return [_fold(s_bar, "L")]


def _cholesky_jvp(t, out, a):
    s_dot = _unfold(t[0], "L")
    m = ops.solve(out, s_dot)  # L^-1 dS
    inner = mT(ops.solve(out, mT(m)))  # L^-1 dS L^-T
    return out @ _phi(inner)


_define("cholesky", np.linalg.cholesky, lambda a, **_: call("np.linalg.cholesky", a),
        shape_rule=lambda avals: _square(avals, "cholesky"), vjp=_cholesky_vjp, jvp=_cholesky_jvp,
        doc="lower Cholesky factor (batched); reads A's lower triangle, as NumPy does")


# --- eigh -------------------------------------------------------------------------------------


def _uplo_params(values, params):
    uplo = params.get("UPLO", "L")
    if uplo not in ("L", "U"):
        raise ValueError(f"UPLO argument must be 'L' or 'U', not {uplo!r}")
    return {"UPLO": uplo}


def _uplo_arg(uplo):
    return [] if uplo == "L" else ["UPLO='U'"]  # validated: 'L' or 'U'


def _eigh_values_vjp(g, out, a, UPLO):
    v = ops.eigh_vectors(a, UPLO=UPLO)
    return [_fold((v * _row(g)) @ mT(v), UPLO)]


def _eigh_values_jvp(t, out, a, UPLO):
    v = ops.eigh_vectors(a, UPLO=UPLO)
    return ops.einsum(v, _unfold(t[0], UPLO), v, subscripts="...ji,...jk,...ki->...i")


def _eigh_vectors_vjp(g, out, a, UPLO):
    w = ops.eigh_values(a, UPLO=UPLO)
    return [_fold(out @ (_gap_inverse(w) * (mT(out) @ g)) @ mT(out), UPLO)]


def _eigh_vectors_jvp(t, out, a, UPLO):
    w = ops.eigh_values(a, UPLO=UPLO)
    return out @ (_gap_inverse(w) * (mT(out) @ _unfold(t[0], UPLO) @ out))


for _name, _impl, _emit, _shape, _vjp, _jvp in [
    ("eigh_values", lambda a, UPLO: np.linalg.eigvalsh(a, UPLO=UPLO),
     lambda a, UPLO: call("np.linalg.eigvalsh", a, *_uplo_arg(UPLO)),
     lambda avals, UPLO: _square(avals, "eigh")[:-1], _eigh_values_vjp, _eigh_values_jvp),
    ("eigh_vectors", lambda a, UPLO: np.linalg.eigh(a, UPLO=UPLO)[1],
     lambda a, UPLO: method(call("np.linalg.eigh", a, *_uplo_arg(UPLO)), ".eigenvectors"),
     lambda avals, UPLO: _square(avals, "eigh"), _eigh_vectors_vjp, _eigh_vectors_jvp),
]:
    _p = _define(_name, _impl, _emit, vjp=_vjp, jvp=_jvp, shape_rule=_shape, defaults={"UPLO": "L"},
                 doc="np.linalg.eigh's " + ("eigenvalues (ascending)" if _name == "eigh_values"
                                            else "eigenvectors (columns)"))
    _p.canonical_params = _uplo_params


# --- svd --------------------------------------------------------------------------------------


def _svd_shape(avals, what):
    shape = avals[0].shape
    if len(shape) < 2:
        raise ValueError(f"svd: {len(shape)}-dimensional array given; array must be at least "
                         "two-dimensional")
    return shape


def _thin(a):
    return ops.svd_u(a), ops.svd_s(a), ops.svd_vh(a)


def _svd_a_bar(a, s_bar=None, u_bar=None, vh_bar=None):
    """The cotangent of A from those of the thin factors (Townsend 2016, real case)."""
    u, s, vh = _thin(a)
    v = mT(vh)
    m, n = a.shape[-2:]
    d_bar = None
    if s_bar is not None:
        d_bar = ops.where(_mask(s.shape[-1], "eye"), _col(s_bar), 0.0)

    def add(x, y):
        return y if x is None else x + y

    if u_bar is not None or vh_bar is not None:
        f = _gap_inverse(s * s)
    extra = None
    if u_bar is not None:
        x = f * (mT(u) @ u_bar)
        d_bar = add(d_bar, (x + mT(x)) * _row(s))
        if m > n:
            extra = ((u_bar - u @ (mT(u) @ u_bar)) / _row(s)) @ vh
    if vh_bar is not None:
        v_bar = mT(vh_bar)
        y = f * (mT(v) @ v_bar)
        d_bar = add(d_bar, _col(s) * (y + mT(y)))
        if n > m:
            extra = add(extra, u @ mT((v_bar - v @ (mT(v) @ v_bar)) / _row(s)))
    a_bar = u @ d_bar @ vh
    return a_bar if extra is None else a_bar + extra


def _svd_tangents(a, da):
    u, s, vh = _thin(a)
    v = mT(vh)
    m, n = a.shape[-2:]
    ds = mT(u) @ da @ v
    return u, s, vh, v, m, n, ds


def _svd_s_jvp(t, out, a):
    u, s, vh, v, m, n, ds = _svd_tangents(a, t[0])
    return _diag_of(ds)


def _svd_u_jvp(t, out, a, full_matrices):
    _check_thin(a, full_matrices)
    u, s, vh, v, m, n, ds = _svd_tangents(a, t[0])
    f = _gap_inverse(s * s)
    dss = ds * _row(s)
    du = u @ (f * (dss + mT(dss)))
    if m > n:
        dav = t[0] @ v
        du = du + (dav - u @ (mT(u) @ dav)) / _row(s)
    return du


def _svd_vh_jvp(t, out, a, full_matrices):
    _check_thin(a, full_matrices)
    u, s, vh, v, m, n, ds = _svd_tangents(a, t[0])
    f = _gap_inverse(s * s)
    sds = _col(s) * ds
    dv = v @ (f * (sds + mT(sds)))
    if n > m:
        dahu = mT(t[0]) @ u
        dv = dv + (dahu - v @ (mT(v) @ dahu)) / _row(s)
    return mT(dv)


def _check_thin(a, full_matrices):
    m, n = a.shape[-2:]
    if full_matrices and m != n:
        raise NotImplementedError("the extra singular vectors of np.linalg.svd(full_matrices=True) "
                                  "of a non-square matrix are arbitrary: use full_matrices=False")


def _svd_uv_vjp(which):
    def vjp(g, out, a, full_matrices):
        _check_thin(a, full_matrices)
        return [_svd_a_bar(a, **{which: g})]
    return vjp


def _svd_uv_jvp(rule):
    def jvp(t, out, a, full_matrices):
        try:
            return rule(t, out, a, full_matrices)
        except NotImplementedError as e:
            raise CompileError(f"cannot differentiate svd: {e}") from None
    return jvp


def _full_params(values, params):
    return {"full_matrices": bool(params.get("full_matrices", False))}


_define("svd_s", lambda a: np.linalg.svd(a, compute_uv=False),
        lambda a, **_: call("np.linalg.svd", a, compute_uv=False),
        shape_rule=lambda avals: _svd_shape(avals, "svd")[:-2] + (min(avals[0].shape[-2:]),),
        vjp=lambda g, out, a: [_svd_a_bar(a, s_bar=g)], jvp=_svd_s_jvp,
        doc="singular values, descending (batched)")


def _u_shape(avals, full_matrices):
    shape = _svd_shape(avals, "svd")
    m, n = shape[-2:]
    return shape[:-2] + (m, m if full_matrices else min(m, n))


def _vh_shape(avals, full_matrices):
    shape = _svd_shape(avals, "svd")
    m, n = shape[-2:]
    return shape[:-2] + (n if full_matrices else min(m, n), n)


for _name, _field, _shape, _which, _rule in [("svd_u", ".U", _u_shape, "u_bar", _svd_u_jvp),
                                             ("svd_vh", ".Vh", _vh_shape, "vh_bar", _svd_vh_jvp)]:
    _p = _define(_name, (lambda k: lambda a, full_matrices: np.linalg.svd(a, full_matrices=full_matrices)[k])(
                     0 if _name == "svd_u" else 2),
                 (lambda f: lambda a, full_matrices: method(
                     call("np.linalg.svd", a, full_matrices=full_matrices), f))(_field),
                 vjp=_svd_uv_vjp(_which), jvp=_svd_uv_jvp(_rule), shape_rule=_shape,
                 defaults={"full_matrices": False},
                 doc=f"np.linalg.svd's {_field[1:]} (batched); derivative for the thin factors only")
    _p.canonical_params = _full_params


# --- pinv -------------------------------------------------------------------------------------


def _pinv_shape(avals, **params):
    shape = _svd_shape(avals, "pinv")
    return shape[:-2] + (shape[-1], shape[-2])


def _eye(n, like):
    return Const(np.eye(n, dtype=like.dtype))


def _pinv_vjp(g, out, a, **params):
    # A+ = out (n x m): A_bar = -A+^T G A+^T + (I - A A+) G^T A+ A+^T + A+^T A+ G^T (I - A+ A)
    p, pt, gt = out, mT(out), mT(g)
    m, n = a.shape[-2:]
    left, right = _eye(m, a) - a @ p, _eye(n, a) - p @ a
    return [-(pt @ g @ pt) + left @ gt @ (p @ pt) + (pt @ p) @ gt @ right]


def _pinv_jvp(t, out, a, **params):
    # d(A+) = -A+ dA A+ + A+ A+^T dA^T (I - A A+) + (I - A+ A) dA^T A+^T A+  (Golub & Pereyra 1973)
    da, p = t[0], out
    m, n = a.shape[-2:]
    dat = mT(da)
    return -(p @ da @ p) + (p @ mT(p)) @ dat @ (_eye(m, a) - a @ p) + (_eye(n, a) - p @ a) @ dat @ (mT(p) @ p)


def _pinv_impl(a, rcond=None, rtol=None):
    return np.linalg.pinv(a) if rcond is None and rtol is None else (
        np.linalg.pinv(a, rcond=rcond) if rtol is None else np.linalg.pinv(a, rtol=rtol))


def _pinv_emit(a, rcond=None, rtol=None):
    return call("np.linalg.pinv", a, **{k: float(v) for k, v in (("rcond", rcond), ("rtol", rtol))
                                        if v is not None})


_define("pinv", _pinv_impl, _pinv_emit, shape_rule=_pinv_shape, vjp=_pinv_vjp, jvp=_pinv_jvp,
        defaults={"rcond": None, "rtol": None},
        doc="Moore-Penrose pseudo-inverse (batched), by SVD with NumPy's cutoff; the derivative is "
            "that of the pseudo-inverse of fixed rank (it jumps where the rank changes)")


# --- eig (real eigenvalues only) -----------------------------------------------------------------
# NumPy's eig returns complex arrays where any eigenvalue is complex; gradc's IR has real
# dtypes fixed at compile time, so the generated code calls these helpers, which return eig's
# (real) results or raise where the eigenvalues of the matrix are not all real.

EIG_SOURCE = '''def eig_real(a):
    """np.linalg.eig(a) where every eigenvalue is real (gradc computes only that case)."""
    w, v = np.linalg.eig(a)
    if np.iscomplexobj(w):
        raise np.linalg.LinAlgError(
            "np.linalg.eig: this matrix has complex eigenvalues; gradc differentiates eig only "
            "where all eigenvalues are real (for a symmetric matrix use np.linalg.eigh)")
    return w, v
'''
_EIG_NS = {"np": np}
exec(compile(EIG_SOURCE, "<gradc eig_real>", "exec"), _EIG_NS)  # noqa: S102 - our own constant text
eig_real = _EIG_NS["eig_real"]


def _register_helper():
    from .helper_sources import SOURCES
    SOURCES["eig_real"] = EIG_SOURCE


_register_helper()


def _eig_w_v(a):
    return ops.eig_values(a), ops.eig_vectors(a)


def _eig_a_bar(a, w_bar=None, v_bar=None):
    """A_bar = V^-T (diag(w_bar) + F o V^T (V_bar - V diag(diag(V^T V_bar)))) V^T, F[i, j] = 1/(w_j - w_i)."""
    w, v = _eig_w_v(a)
    inner = None
    if w_bar is not None:
        inner = ops.where(_mask(w.shape[-1], "eye"), _col(w_bar), _zero(w_bar))
    if v_bar is not None:
        s = _diag_of(mT(v) @ v_bar)
        m = _gap_inverse(w) * (mT(v) @ (v_bar - v * _row(s)))
        inner = m if inner is None else inner + m
    return ops.solve(mT(v), inner @ mT(v))


def _eig_values_jvp(t, out, a):
    v = ops.eig_vectors(a)
    return _diag_of(ops.solve(v, t[0] @ v))


def _eig_vectors_jvp(t, out, a):
    w, v = _eig_w_v(a)
    dv = v @ (_gap_inverse(w) * ops.solve(v, t[0] @ v))
    return dv - v * _row(ops.einsum(v, dv, subscripts="...ji,...ji->...i"))  # keep unit columns


for _name, _k, _shape, _vjp, _jvp in [
        ("eig_values", 0, lambda avals: _square(avals, "eig")[:-1],
         lambda g, out, a: [_eig_a_bar(a, w_bar=g)], _eig_values_jvp),
        ("eig_vectors", 1, lambda avals: _square(avals, "eig"),
         lambda g, out, a: [_eig_a_bar(a, v_bar=g)], _eig_vectors_jvp)]:
    _define(_name, (lambda k: lambda a: eig_real(a)[k])(_k),
            (lambda k: lambda a, **_: method(call("eig_real", a), f"[{k}]"))(_k),
            vjp=_vjp, jvp=_jvp, shape_rule=_shape, helper="eig_real",
            doc="np.linalg.eig's " + ("eigenvalues" if _k == 0 else "eigenvectors (unit columns)")
                + " where all eigenvalues are real (a LinAlgError at run time otherwise); the "
                  "eigenvector derivative is NaN at repeated eigenvalues")
