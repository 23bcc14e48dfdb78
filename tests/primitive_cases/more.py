"""Registry-test cases for the primitives of the "more NumPy" family: more ufuncs (elementwise.py),
products, scans, sorting, partitioning and argmax (reductions.py)."""
import numpy as np

UNARY_SHAPES = [(), (4,), (2, 3)]


def _sort_unapply_ref(g, x, axis):
    out = np.empty_like(np.asarray(g))
    np.put_along_axis(out, np.argsort(x, axis=axis), np.asarray(g), axis=axis)
    return out


def _partition_unapply_ref(g, x, kth, axis):
    out = np.empty_like(np.asarray(g))
    np.put_along_axis(out, np.argpartition(x, kth, axis=axis), np.asarray(g), axis=axis)
    return out


NUMPY_REF = {
    "log2": np.log2, "log10": np.log10, "exp2": lambda x: 2.0 ** x, "sinh": np.sinh, "cosh": np.cosh,
    "arcsin": np.arcsin, "arccos": np.arccos, "arcsinh": np.arcsinh, "arccosh": np.arccosh,
    "arctanh": np.arctanh, "cbrt": lambda x: np.sign(x) * np.abs(x) ** (1 / 3),
    "sinc": lambda x: np.where(x == 0, 1.0, np.sin(np.pi * x) / (np.pi * np.where(x == 0, 1.0, x))),
    "floor": np.floor, "ceil": np.ceil, "trunc": np.trunc, "rint": np.rint,
    "round": lambda x, decimals=0: np.round(x, decimals),
    "round_float": lambda x, ndigits: round(float(x), ndigits),  # Python's own, not np.round
    "isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite, "signbit": np.signbit,
    "heaviside": np.heaviside, "logical_xor": np.logical_xor, "floor_divide": np.floor_divide,
    "arctan2": np.arctan2, "hypot": lambda x, y: np.sqrt(np.square(x) + np.square(y)),
    "logaddexp2": lambda x, y: np.log2(2.0 ** x + 2.0 ** y), "mod": lambda x, y: x - np.floor(x / y) * y,
    "prod": lambda x, axis=None, keepdims=False: np.prod(x, axis=axis, keepdims=keepdims),
    "cumsum": lambda x, axis: np.cumsum(x, axis=axis), "cumprod": lambda x, axis: np.cumprod(x, axis=axis),
    "sort": lambda x, axis: np.sort(x, axis=axis),
    "sort_apply": lambda h, x, axis: np.take_along_axis(np.asarray(h), np.argsort(x, axis=axis), axis=axis),
    "sort_unapply": _sort_unapply_ref,
    "partition": lambda x, kth, axis: np.partition(x, kth, axis=axis),
    "partition_apply": lambda h, x, kth, axis: np.take_along_axis(np.asarray(h), np.argpartition(x, kth, axis=axis),
                                                                  axis=axis),
    "partition_unapply": _partition_unapply_ref,
    "argmax": lambda x, axis=None, keepdims=False: np.argmax(x, axis=axis, keepdims=keepdims),
    "argmin": lambda x, axis=None, keepdims=False: np.argmin(x, axis=axis, keepdims=keepdims),
}


def cases(Case, I, K, Fixed, Same):
    out = {}
    for name in ["log2", "log10", "exp2", "sinh", "cosh", "arcsin", "arccos", "arcsinh", "arccosh",
                 "arctanh", "sinc"]:
        out[name] = [Case([I(*s)]) for s in UNARY_SHAPES]
    out["cbrt"] = [Case([I(*s, s="awayzero")]) for s in UNARY_SHAPES]
    for name in ["floor", "ceil", "trunc", "rint", "isnan", "isinf", "isfinite", "signbit"]:
        out[name] = [Case([I(3, 4, s="odd")]), Case([I(s="odd")])]
    out["isnan"].append(Case([Fixed(np.array([np.nan, 1.0, -np.inf]))]))
    out["isinf"].append(Case([Fixed(np.array([np.nan, 1.0, -np.inf]))]))
    out["round"] = [Case([I(3, 4, s="odd")]), Case([I(5, s="odd")], {"decimals": 0}),
                    Case([Fixed(np.array([0.5, 1.5, 2.5, -0.5, 1.234]))], {"decimals": 1})]
    # one Python float; 761074.295067845 and 409440.561150255 are where np.round's last digit differs
    out["round_float"] = [Case([I(s="odd")], {"ndigits": 1}), Case([I(s="odd")], {"ndigits": -1}),
                          Case([Fixed(np.float64(761074.295067845))], {"ndigits": 8}),
                          Case([Fixed(np.float64(409440.561150255))], {"ndigits": 8})]
    for name in ["heaviside", "logical_xor"]:
        out[name] = [Case([I(3, 4, s="odd"), I(4, s="even")]), Case([I(2, 3, s="odd"), K(0.5)])]
    out["floor_divide"] = [Case([I(3, 4, s="odd"), K(0.7)]), Case([I(2, 3, s="odd"), K(np.array([0.3, -1.1, 2.0]))])]
    binary = [((3,), (3,)), ((2, 3), (3,)), ((3, 1), (4,)), ((), (2, 3)), ((2, 3), ())]
    for name in ["arctan2", "hypot", "logaddexp2"]:
        out[name] = [Case([I(*a, s="normal"), I(*b, s="normal")]) for a, b in binary] + [
            Case([I(2, 3, s="awayzero"), Same(0)]), Case([I(2, 3, s="awayzero"), K(-1.5)]),
            Case([K(0.5), I(4, s="awayzero")])]
    out["mod"] = [Case([I(*a), I(*b)]) for a, b in binary] + [
        Case([I(2, 3, s="odd"), K(1.0)]), Case([I(4, s="odd"), K(-2.0)]),
        Case([K(np.array([0.35, 1.7, -2.2])), I(3)])]
    out["prod"] = [Case([I(*shape, s="normal")], {"axis": axis, "keepdims": keep}) for shape, axis, keep in [
        ((3, 4), None, False), ((3, 4), 0, False), ((3, 4), 1, True), ((2, 3, 4), (0, 2), False),
        ((2, 3, 4), (0, 2), True), ((), None, False), ((4,), 0, True), ((2, 3), (), False),
        ((3, 1), 1, False), ((2, 3, 4), (-1, 1), False)]]
    for name in ["cumsum", "cumprod"]:
        out[name] = [Case([I(*shape, s="normal")], {"axis": axis}) for shape, axis in [
            ((5,), 0), ((3, 4), 0), ((3, 4), 1), ((3, 4), -1), ((2, 3, 4), 1), ((1,), 0)]]
    out["sort"] = [Case([I(*shape, s="distinct")], {"axis": axis}) for shape, axis in [
        ((5,), 0), ((3, 4), 0), ((3, 4), 1), ((2, 3, 4), -2)]]
    for name in ["sort_apply", "sort_unapply"]:
        out[name] = [Case([I(*shape, s="normal"), I(*shape, s="distinct")], {"axis": axis})
                     for shape, axis in [((5,), 0), ((3, 4), 1), ((3, 4), 0)]]
    out["partition"] = [Case([I(*shape, s="distinct")], {"kth": kth, "axis": axis}) for shape, kth, axis in [
        ((7,), 3, 0), ((7,), 0, 0), ((7,), (1, 5), 0), ((3, 6), 2, 1), ((5, 4), -1, 0), ((2, 3, 5), (0, 4), 2)]]
    for name in ["partition_apply", "partition_unapply"]:
        out[name] = [Case([I(*shape, s="normal"), I(*shape, s="distinct")], {"kth": kth, "axis": axis})
                     for shape, kth, axis in [((7,), 3, 0), ((3, 6), (1, 4), 1), ((5, 4), 2, 0)]]
    for name in ["argmax", "argmin"]:
        out[name] = [Case([I(3, 4, s="distinct")], {"axis": axis, "keepdims": keep}) for axis, keep in [
            (None, False), (1, False), (0, True), (-1, True)]]
    return out
