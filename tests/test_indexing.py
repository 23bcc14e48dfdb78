"""Integer-array and boolean-mask indexing, np.take / np.take_along_axis, and index
updates (`z[i] = v`, `z[i] += v`), in losses written the way people write them.

Supported cases are checked against running the same function with NumPy (values) and
central finite differences on it (gradients); unsupported ones must be a CompileError
at the user's line, saying what to write instead.
"""
import importlib.util
import inspect

import numpy as np
import pytest

import gradc
from fixtures.numeric import assert_close, fd_grad

RNG = np.random.default_rng(20240601)
LOGITS = RNG.normal(size=(6, 4))
LABELS = np.array([1, 0, 3, 3, 2, 0])
E = RNG.normal(size=(7, 3))
TOKENS = np.array([0, 2, 2, 5, 2, 6])
MASK = np.array([True, False, True, True, False, False, True])  # a module-level constant mask


def _copy(args):
    return [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args]


def check(fn, *args, wrt=0):
    """gradc's value and gradient equal NumPy's value and finite differences (and the
    arguments are left as they were)."""
    before = _copy(args)
    value, grad = gradc.value_and_grad(fn, wrt=wrt)(*args)
    for a, b in zip(args, before):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b, err_msg="the compiled function changed an argument")
    assert_close(value, fn(*_copy(args)), rtol=1e-12, atol=1e-12, what=f"{fn.__name__} value")
    positions = wrt if isinstance(wrt, tuple) else (wrt,)
    grads = grad if isinstance(wrt, tuple) else (grad,)
    for p, g in zip(positions, grads):
        assert_close(g, fd_grad(lambda *a: fn(*_copy(a)), args, p), rtol=1e-5, atol=1e-6,
                     what=f"{fn.__name__} gradient {p}")
    return value, grad


def marked_line(fn):
    lines, start = inspect.getsourcelines(fn)
    hits = [i for i, text in enumerate(lines) if "# ERR" in text]
    assert len(hits) == 1
    return start + hits[0]


def refuses(fn, *args, words=(), wrt=0):
    with pytest.raises(gradc.CompileError) as info:
        gradc.value_and_grad(fn, wrt=wrt)(*args)
    err = info.value
    assert type(err).__name__ != "InternalError", str(err)
    assert err.loc is not None and err.loc.lineno == marked_line(fn), str(err)
    text = str(err).lower()
    for w in words:
        assert w.lower() in text, f"{w!r} not in: {err}"
    return err


# -- reading: gathers ------------------------------------------------------------------


def cross_entropy(logits, y):
    n = logits.shape[0]
    m = logits.max(axis=1, keepdims=True)
    logp = logits - m - np.log(np.sum(np.exp(logits - m), axis=1, keepdims=True))
    return -np.mean(logp[np.arange(n), y])


def test_label_indexed_cross_entropy():
    check(cross_entropy, LOGITS, LABELS)
    source = gradc.compile(cross_entropy, wrt=0).source
    assert "scatter_add(" in source  # the adjoint of the gather: np.add.at into zeros


def test_negative_labels_wrap_and_out_of_bounds_labels_raise_at_run_time():
    check(cross_entropy, LOGITS, LABELS - 4)  # -4..-1 wrap as in NumPy
    f = gradc.value_and_grad(cross_entropy)
    bad = LABELS.copy()
    bad[2] = 4
    with pytest.raises(IndexError):
        cross_entropy(LOGITS, bad)
    with pytest.raises(IndexError):  # the generated code raises too: never clamps
        f(LOGITS, bad)
    with pytest.raises(IndexError):
        gradc.compile(cross_entropy).value(LOGITS, bad)


def embedding_loss(E, tokens, target):
    vecs = E[tokens]  # repeated tokens: their gradients accumulate
    return np.sum((vecs.mean(axis=0) - target) ** 2) + np.sum(vecs[:, 0] * np.arange(len(tokens)))


def test_embedding_lookup_with_repeated_tokens():
    _, g = check(embedding_loss, E, TOKENS, RNG.normal(size=3))
    assert np.all(g[[1, 3, 4]] == 0.0)  # rows never looked up get exactly zero


def test_list_and_constant_index_arrays():
    def rows(X):
        sub = X[[0, 2, 3]]
        return np.sum(sub @ sub.T) + np.sum(X[np.array([-1, 0, -1])] ** 2)

    check(rows, RNG.normal(size=(4, 3)))


def test_mixed_basic_and_advanced_indices_follow_numpy():
    X = RNG.normal(size=(3, 4, 5))

    def f(x, idx):
        a = x[:, [0, 2]]  # (3, 2, 5)
        b = x[[0, 1], :, [1, 4]]  # separated by a slice: advanced axes first, (2, 4)
        c = x[0, :, idx]  # the int counts as an advanced index: (len(idx), 4)
        d = x[1:, idx, 2:]  # adjacent: stays in place, (2, len(idx), 3)
        e = x[..., None][[2, 0]]
        return (np.sum(a ** 2) + np.sum(b * np.arange(4.0)) + np.sum(c ** 3) + np.sum(np.sin(d))
                + np.sum(e[:, ::-1, :, 0] * x[0]))

    check(f, X, np.array([3, 0, 3]))


def test_traced_index_scalar_from_an_int_array():
    def f(x, order):
        return x[order[0]] * 2.0 + np.sum(x[order] * x)

    check(f, RNG.normal(size=5), np.array([4, 1, 1, 0, 2]))


def test_gather_from_a_constant_table_with_traced_labels():
    def label_smoothing(logits, y, eps=0.1):
        n, C = logits.shape
        target = (1 - eps) * np.eye(C)[y] + eps / C
        lse = np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
        return -np.sum(target * (logits - lse)) / n

    check(label_smoothing, LOGITS, LABELS)


def test_constant_boolean_mask_has_a_static_shape():
    def f(x):
        return np.sum(x[MASK] ** 2) + np.sum(x[x.shape[0] - 3:][MASK[:3]])

    check(f, RNG.normal(size=7))


def test_take_and_take_along_axis():
    def f(x, idx, W):
        a = np.take(x, idx)
        b = np.take(W, idx[1:], axis=1)
        c = np.take_along_axis(W, np.array([[0, 2], [1, 1], [3, -1]]), axis=1)
        d = np.take(W, 2)  # flattened: a scalar
        e = W.take(idx[1:], axis=-1)
        return np.sum(a ** 2) + np.sum(b * W[:, :3]) + np.sum(c ** 3) + d + np.sum(e * b)

    check(f, RNG.normal(size=5), np.array([4, 0, 0, 3]), RNG.normal(size=(3, 4)), wrt=(0, 2))


def test_take_along_axis_with_traced_indices():
    def f(W, best):
        return np.sum(np.take_along_axis(W, best, axis=1) ** 2) + np.sum(np.take_along_axis(W, best[:, 0], axis=None))

    check(f, RNG.normal(size=(3, 4)), np.array([[1], [3], [3]]))


def test_static_slices_stay_right():
    def f(x, a, b):
        return np.sum(x[a:b] ** 2) + np.sum(x[::-1] * x) + np.sum(x[..., None] * x[None, :])

    check(f, RNG.normal(size=6), 1, 4)


def test_second_derivatives_through_a_gather():
    def f(x, idx):
        return np.sum(x[idx] ** 3)

    x, idx = RNG.normal(size=4), np.array([0, 2, 2])
    h = gradc.hessian(f)(x, idx)
    counts = np.bincount(idx, minlength=4)
    np.testing.assert_allclose(h, np.diag(6 * x * counts), rtol=1e-12, atol=1e-12)


# -- writing: index updates ------------------------------------------------------------------


def one_hot_xent(logits, y):
    n, C = logits.shape
    onehot = np.zeros((n, C))
    onehot[np.arange(n), y] = 1
    logp = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.sum(onehot * logp) / n


def test_one_hot_by_assignment():
    check(one_hot_xent, LOGITS, LABELS)


def test_item_and_slice_assignment():
    def f(w):
        out = np.zeros(4)
        out[0] = w[0] ** 2
        out[1:3] = 3 * w[1:3]
        out[-1] = np.sum(w)
        return np.sum(out * np.array([1.0, 2.0, 3.0, 4.0]))

    check(f, RNG.normal(size=4))


def test_physics_loss_with_boundary_conditions():
    def f(u, source, h=0.1):
        v = u * 1.0
        v[0] = 0.0  # Dirichlet boundary conditions, NumPy style
        v[-1] = 0.0
        lap = (v[:-2] - 2 * v[1:-1] + v[2:]) / h ** 2
        r = lap - source
        return 0.5 * np.sum(r ** 2) * h

    _, g = check(f, RNG.normal(size=8), RNG.normal(size=6))
    assert g[0] == 0.0 and g[-1] == 0.0  # overwritten values get no gradient


def test_running_updates_in_a_loop():
    def rnn(w, xs):
        T = xs.shape[0]
        out = np.zeros(T)
        h = 0.0
        for t in range(T):
            h = np.tanh(w @ xs[t] + 0.5 * h)
            out[t] = h
        return np.sum(out ** 2)

    check(rnn, RNG.normal(size=3), RNG.normal(size=(5, 3)))


def test_column_update_and_augmented_slices():
    def f(W, v):
        acc = W @ W.T
        acc[:, 0] *= 2
        acc[:, 0] += v
        acc[1] -= 0.5 * v
        acc[1:, 1:] /= 3.0
        return np.sum(acc ** 2)

    check(f, RNG.normal(size=(3, 2)), RNG.normal(size=3), wrt=(0, 1))


def test_overlapping_augmented_update_reads_the_old_values():
    def f(w):
        z = w * 1.0
        z[1:] += z[:-1]  # NumPy buffers the right-hand side
        return np.sum(z ** 2)

    check(f, RNG.normal(size=5))


def test_prefix_sum_in_place():
    def f(w):
        x = w.copy()
        for i in range(1, len(x)):
            x[i] += x[i - 1]
        return np.sum(x ** 2)

    check(f, RNG.normal(size=5))


def test_repeated_indices_in_assignment_last_write_wins():
    def f(w, idx):
        z = np.zeros(5)
        z[idx] = w
        return np.sum(z * np.arange(1.0, 6.0))

    idx = np.array([1, 3, 1, 0])
    _, g = check(f, RNG.normal(size=4), idx)
    np.testing.assert_array_equal(g, [0.0, 4.0, 2.0, 1.0])  # w[0] is overwritten by w[2]


def test_repeated_indices_in_augmented_assignment_add_once():
    def f(w, idx):
        z = w * 1.0
        z[idx] += w[:3] ** 2  # buffered: z[1] gets only the last repeat's value added
        z[[0, 0]] += 1.0  # adds 1 once, as NumPy does
        return np.sum(z ** 3)

    check(f, RNG.normal(size=5), np.array([1, 4, 1]))
    value = gradc.value_and_grad(f)(np.zeros(5), np.array([1, 4, 1]))[0]
    assert value == f(np.zeros(5), np.array([1, 4, 1]))


def test_gather_then_scatter_in_a_loss():
    def f(x, src, dst):
        msg = x[src] * 2.0
        agg = np.zeros_like(x)
        agg[dst] += msg  # buffered: repeats of dst keep only their last message
        return np.sum((agg - x) ** 2)

    check(f, RNG.normal(size=5), np.array([0, 1, 2, 3]), np.array([1, 2, 2, 4]))


def test_np_add_at_accumulates_repeated_indices():
    def bincount_loss(w, idx):
        out = np.zeros(4)
        np.add.at(out, idx, w)  # unbuffered: repeats accumulate
        np.subtract.at(out, [0, 0], 0.5)
        return np.sum(out ** 2)

    check(bincount_loss, RNG.normal(size=6), np.array([0, 1, 1, 3, 0, 1]))
    assert "index_add(" in gradc.compile(bincount_loss).source


def test_masked_assignment_with_a_traced_mask():
    def relu_by_mask(W, x):
        h = W @ x
        h[h < 0] = 0
        return np.sum(h ** 2)

    check(relu_by_mask, RNG.normal(size=(5, 3)), RNG.normal(size=3))

    def masked_loss(pred, target, mask):
        err = (pred - target) ** 2
        err[np.logical_not(mask)] = 0.0
        return np.sum(err) / np.sum(mask)

    check(masked_loss, RNG.normal(size=5), RNG.normal(size=5), np.array([True, False, True, True, False]))

    def rows(W, keep):
        Z = W * 2.0
        Z[keep] *= 3.0
        Z[np.logical_not(keep)] = np.array([1.0, -1.0])
        return np.sum(Z ** 2)

    check(rows, RNG.normal(size=(4, 2)), np.array([True, False, False, True]))


def test_int_arrays_follow_numpy_casting():
    def f(w):
        z = np.arange(3)
        z[0] = 2.7  # truncates, as NumPy does
        z[1] += 0.5  # a scalar element is rebound, then stored: truncated
        return np.sum(z * w)

    check(f, RNG.normal(size=3))


def test_compile_time_array_updates_fold():
    def f(w):
        c = np.ones(3)
        c[1] = 5.0
        return np.sum(c * w)

    check(f, RNG.normal(size=3))


def test_generated_module_stands_alone(tmp_path):
    c = gradc.compile(cross_entropy, wrt=0)
    c.value_and_grad(LOGITS, LABELS)
    out = c.save(tmp_path / "xent.py")
    spec = importlib.util.spec_from_file_location("xent_mod", out)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    value, grad = mod.cross_entropy_value_and_grad(LOGITS, LABELS)
    assert_close(value, cross_entropy(LOGITS, LABELS), rtol=1e-12, atol=1e-12)
    assert_close(grad, fd_grad(cross_entropy, (LOGITS, LABELS), 0), rtol=1e-5, atol=1e-6)


# -- refusals ----------------------------------------------------------------------------------


def test_traced_boolean_mask_read_is_refused():
    def masked_mse(pred, target, mask):
        return np.mean((pred[mask] - target[mask]) ** 2)  # ERR

    refuses(masked_mse, RNG.normal(size=4), RNG.normal(size=4), np.array([True, False, True, True]),
            words=("np.where(mask, x, 0)", "where=mask"))


def test_update_of_an_argument_is_refused():
    def f(w):
        out = w
        out[0] = 0.0  # ERR
        return np.sum(out * w)

    refuses(f, RNG.normal(size=3), words=("argument", "copy()"))


def test_update_through_a_view_is_refused():
    def f(w):
        z = w * 2.0
        v = z[1:]
        v[0] = 5.0  # ERR
        return np.sum(z)

    refuses(f, RNG.normal(size=3), words=("shared with 'z'",))


def test_update_while_a_view_is_held_is_refused():
    def f(w):
        Z = np.outer(w, w)
        T = Z.T
        Z[0, 1] = 5.0  # ERR
        return np.sum(T * T)

    refuses(f, RNG.normal(size=3), words=("shared with 'T'",))


def test_update_of_a_module_constant_is_refused():
    def f(w):
        MASK[0] = False  # ERR
        return np.sum(w)

    refuses(f, RNG.normal(size=3), words=("module-level", "copy()"))


def test_constant_index_out_of_bounds_is_a_compile_error():
    def f(w):
        return np.sum(w[[0, 3]])  # ERR

    refuses(f, RNG.normal(size=3), words=("out of bounds",))


def test_take_modes_that_move_indices_are_refused():
    def f(w, idx):
        return np.sum(np.take(w, idx, mode="clip"))  # ERR

    refuses(f, RNG.normal(size=3), np.array([0, 5]), words=("mode='raise'",))


def test_float_index_is_refused():
    def f(w):
        return np.sum(w[w * 2.0])  # ERR

    refuses(f, RNG.normal(size=3), words=("integer",))


def test_chained_subscript_assignment_is_refused():
    def f(w):
        z = np.zeros((2, 3))
        z[0][1] = w[0]  # ERR
        return np.sum(z)

    refuses(f, RNG.normal(size=3), words=("z[i, j] = v",))


def test_data_dependent_masked_assignment_is_refused():
    def f(w):
        z = w * 1.0
        z[z > 0] = np.array([1.0, 2.0])  # ERR
        return np.sum(z)

    refuses(f, RNG.normal(size=3), words=("np.where(mask, v, z)",))


def test_scalar_item_assignment_is_refused():
    def f(w):
        s = np.sum(w)
        s[()] = 1.0  # ERR
        return s

    refuses(f, RNG.normal(size=3), words=("scalar",))


def test_augmented_update_that_cannot_cast_is_refused():
    def f(w):
        z = np.arange(3)
        z[0:2] += w[:2]  # ERR
        return np.sum(z * w)

    refuses(f, RNG.normal(size=3), words=("same_kind",))


def test_other_ufunc_at_is_refused():
    def f(w, idx):
        out = np.ones(4)
        np.multiply.at(out, idx, w)  # ERR
        return np.sum(out)

    refuses(f, RNG.normal(size=2), np.array([0, 1]), words=("np.add.at",))


def test_traced_index_of_a_list_is_refused():
    def f(w, idx):
        parts = [w, w * 2.0]
        return np.sum(parts[idx[0]])  # ERR

    refuses(f, RNG.normal(size=2), np.array([0, 1]), words=("np.array",))


# -- higher derivatives, checkpointing, float32 --------------------------------------------------


def updates_and_gathers(w, idx):
    z = np.zeros(5)
    z[idx] = w ** 2  # repeated idx: the last write wins
    z[1:3] += w[0] * w[1]
    out = np.zeros(5)
    np.add.at(out, idx, w ** 3)
    g = np.take_along_axis(np.outer(w, w), np.array([[1], [0], [2], [2]]), axis=1)
    return np.sum(z ** 2) + np.sum(out * z) + np.sum(g ** 2)


@pytest.mark.parametrize("mode", ["forward-over-reverse", "reverse-over-reverse"])
def test_hessian_through_index_updates(mode):
    w, idx = np.array([0.3, -0.7, 1.1, 0.4]), np.array([1, 3, 1, 0])
    check(updates_and_gathers, w, idx)
    H = gradc.hessian(updates_and_gathers, mode=mode)(w, idx)
    grad = gradc.grad(updates_and_gathers)
    H_fd = np.stack([fd_grad(lambda *a: grad(*a)[k], (w, idx), 0) for k in range(4)])
    assert_close(H, H_fd, rtol=1e-6, atol=1e-6, what=f"Hessian ({mode})")


def test_loop_updates_under_checkpointing_are_bitwise_the_same():
    def rnn(w, xs):
        out = np.zeros(xs.shape[0])
        h = 0.0
        for t in range(xs.shape[0]):
            h = np.tanh(w @ xs[t] + 0.5 * h)
            out[t] = h
        return np.sum(out ** 2)

    w, xs = RNG.normal(size=3), RNG.normal(size=(6, 3))
    plain = gradc.compile(rnn, wrt="w").value_and_grad(w, xs)
    stepped = gradc.compile(rnn, wrt="w", args=(w, xs), checkpoint=gradc.Revolve(snapshots=2))
    value, grad = stepped.value_and_grad(w, xs)
    assert value == plain[0]
    np.testing.assert_array_equal(grad, plain[1])


def test_float32_updates_and_gathers_stay_float32():
    def f(w, idx):
        z = np.zeros(4, dtype=np.float32)
        z[1:3] = np.sum(w)
        z[idx] += w[:2] * 2
        return np.sum(z * z) + np.sum(w[idx] ** 2)

    w = np.array([0.5, 0.25, -1.0], dtype=np.float32)
    value, grad = gradc.value_and_grad(f)(w, np.array([0, 0]))
    assert value.dtype == np.float32 and grad.dtype == np.float32
    assert value == f(w, np.array([0, 0]))
    w64 = w.astype(np.float64)
    assert_close(grad, gradc.grad(f)(w64, np.array([0, 0])), rtol=1e-6, atol=1e-6)
