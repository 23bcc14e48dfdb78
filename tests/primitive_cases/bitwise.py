"""Registry-test cases for the bitwise primitives (NumPy's &, |, ^, ~ on integer arrays):
integer and boolean operands only (NumPy raises TypeError on floats), no derivative."""
import numpy as np

NUMPY_REF = {"bitwise_and": np.bitwise_and, "bitwise_or": np.bitwise_or,
             "bitwise_xor": np.bitwise_xor, "invert": np.invert}

I64 = np.dtype(np.int64)


def _ints(*shape, seed=5):
    return np.random.default_rng(seed).integers(-8, 9, size=shape)


def cases(Case, I, K, Fixed, Same):
    out = {}
    for name in ["bitwise_and", "bitwise_or", "bitwise_xor"]:
        out[name] = [Case([Fixed(_ints(3, 4)), Fixed(_ints(4, seed=6))]),
                     Case([Fixed(_ints(2, 3)), K(3)]),
                     Case([Fixed(_ints(3) > 0), K(2)]),
                     Case([Fixed(_ints(2, 3) > 0), Fixed(_ints(3, seed=9))]),
                     Case([I(3, 4, s="odd", dtype=I64), Fixed(_ints(4, seed=6))])]
    out["invert"] = [Case([Fixed(_ints(3, 4))]), Case([Fixed(_ints(4) > 0)]),
                     Case([I(2, 3, s="odd", dtype=I64)])]
    return out
