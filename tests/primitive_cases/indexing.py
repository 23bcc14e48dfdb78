"""Registry cases of the advanced-indexing primitives: gather, scatter_add, gather_last,
index_set, index_add. Index arrays are program inputs of integer dtype (Fixed: traced,
like labels `y`) or constants (K); repeated and negative indices are included.

The NumPy references go element by element through the flat positions the index names
(C order), independently of np.add.at and of the helpers the primitives use."""
import numpy as np

from gradc.primitives.indexing import Slot, fill

S = slice(None)


def cases(Case, I, K, Fixed, Same):
    a = np.array
    return {
        "gather": [
            Case([I(5, s="normal"), Fixed(a([4, 0, 0, 3]))], {"index": (Slot(0),)}),
            Case([I(6, 4, s="normal"), K(np.arange(6)), Fixed(a([1, 0, 3, 3, 2, 0]))],
                 {"index": (Slot(0), Slot(1))}),
            Case([I(3, 4, 5, s="normal"), Fixed(a([[0, 2], [1, 1]]))], {"index": (S, Slot(0))}),
            # advanced indices separated by a slice: their axes move to the front
            Case([I(3, 4, 5, s="normal"), Fixed(a([0, 2])), Fixed(a([1, -1]))],
                 {"index": (Slot(0), S, Slot(1))}),
            Case([I(2, 3, 4, s="normal"), K(a([1, 0]))], {"index": (1, S, Slot(0))}),
            Case([I(5, 2, s="normal"), Fixed(a([-1, -5, 0]))], {"index": (Slot(0),)}),
            Case([I(4, 3, s="normal"), Fixed(a(2))], {"index": (Slot(0),)}),
            Case([I(3, 4, s="normal"), Fixed(a([3, 0]))], {"index": (Ellipsis, Slot(0), None)}),
            Case([I(4, 3, s="normal"), K(a([], dtype=np.intp))], {"index": (Slot(0),)}),
        ],
        "scatter_add": [
            Case([I(4, s="normal"), Fixed(a([0, 1, 1, 3]))], {"index": (Slot(0),), "shape": (5,)}),
            Case([I(3, 2, s="normal"), Fixed(a([1, 1]))], {"index": (S, Slot(0)), "shape": (3, 4)}),
            Case([I(6, s="normal"), K(np.arange(6)), Fixed(a([1, 0, 3, 3, 2, 0]))],
                 {"index": (Slot(0), Slot(1)), "shape": (6, 4)}),
            Case([I(s="normal"), Fixed(a([2, 2]))], {"index": (Slot(0),), "shape": (3,)}),
        ],
        "gather_last": [
            Case([I(5, s="normal"), Fixed(a([1, 1, 3, 1]))], {"index": (Slot(0),)}),
            Case([I(3, 4, s="normal"), Fixed(a([0, 2, 0])), Fixed(a([1, 1, 1]))],
                 {"index": (Slot(0), Slot(1))}),
            Case([I(3, 4, s="normal"), Fixed(a([2, -2]))], {"index": (S, Slot(0))}),
        ],
        "index_set": [
            Case([I(5, s="normal"), I(3, s="normal"), Fixed(a([1, 1, 3]))], {"index": (Slot(0),)}),
            Case([I(3, 4, s="normal"), I(4, s="normal")], {"index": (1,)}),
            Case([I(3, 4, s="normal"), I(3, s="normal")], {"index": (S, 0)}),
            Case([I(3, 4, s="normal"), I(s="normal")], {"index": (slice(1, 3), slice(None, None, 2))}),
            Case([I(3, 4, s="normal"), I(2, 4, s="normal"), K(a([0, 2]))], {"index": (Slot(0),)}),
            Case([I(3, 4, s="normal"), I(3, s="normal"), Fixed(a([0, 2, 0])), Fixed(a([1, 1, 1]))],
                 {"index": (Slot(0), Slot(1))}),
            Case([I(4, s="normal"), K(2.0), Fixed(a([0, -4]))], {"index": (Slot(0),)}),
            Case([I(3, 2, s="normal"), I(2, s="normal"), K(a([1, 1]))], {"index": (Slot(0),)}),
        ],
        "index_add": [
            Case([I(5, s="normal"), I(3, s="normal"), Fixed(a([1, 1, 3]))], {"index": (Slot(0),)}),
            Case([I(3, 4, s="normal"), I(3, s="normal")], {"index": (S, 0)}),
            Case([I(3, 4, s="normal"), I(2, 4, s="normal"), K(a([2, 0]))], {"index": (Slot(0),)}),
            Case([I(4, s="normal"), K(1.5)], {"index": (slice(1, 3),)}),
            Case([I(2, 3, s="normal"), I(2, s="normal"), Fixed(a([2, -1]))], {"index": (S, Slot(0))}),
        ],
    }


def _positions(shape, index, arrays):
    """Flat positions in an array of `shape` of the elements x[index] names."""
    flat = np.arange(int(np.prod(shape, dtype=int))).reshape(shape)
    return np.asarray(flat[fill(index, [np.asarray(a) for a in arrays])])


def _gather(x, *arrays, index):
    x = np.asarray(x)
    pos = _positions(x.shape, index, arrays)
    return np.array([x.flat[p] for p in pos.flat], dtype=x.dtype).reshape(pos.shape)


def _scatter_add(g, *arrays, index, shape):
    pos = _positions(shape, index, arrays)
    g = np.broadcast_to(np.asarray(g), pos.shape)
    out = np.zeros(shape, dtype=g.dtype)
    for p, gk in zip(pos.flat, g.flat):
        out.flat[p] += gk
    return out


def _last(pos):
    winner = {}
    for k, p in enumerate(pos.flat):
        winner[p] = k
    return np.array([winner[p] == k for k, p in enumerate(pos.flat)], dtype=bool).reshape(pos.shape)


def _gather_last(x, *arrays, index):
    x = np.asarray(x)
    pos = _positions(x.shape, index, arrays)
    return np.where(_last(pos), _gather(x, *arrays, index=index), 0).astype(x.dtype)


def _update(add):
    def ref(x, v, *arrays, index):
        x = np.asarray(x)
        pos = _positions(x.shape, index, arrays)
        v = np.broadcast_to(np.asarray(v, dtype=x.dtype), pos.shape)
        out = x.copy()
        for p, vk in zip(pos.flat, v.flat):
            out.flat[p] = out.flat[p] + vk if add else vk
        return out
    return ref


NUMPY_REF = {"gather": _gather, "scatter_add": _scatter_add, "gather_last": _gather_last,
             "index_set": _update(False), "index_add": _update(True)}
