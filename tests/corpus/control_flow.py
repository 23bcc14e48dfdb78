"""Control flow: loops over time steps and layers, branches on data and on configuration."""
import numpy as np

from . import case
from ._jax import jnp


def _n(r, *shape):
    return r.normal(size=shape)


def rnn_final_state(Wh, Wx, xs, h0):
    h = h0
    T = xs.shape[0]
    for t in range(T):
        h = np.tanh(Wh @ h + Wx @ xs[t])
    return np.sum(h ** 2)


case(rnn_final_state, wrt=("Wh", "Wx", "h0"),
     args=lambda r: (0.5 * _n(r, 4, 4), 0.5 * _n(r, 4, 3), _n(r, 5, 3), _n(r, 4)))


def rnn_seq_loss(W, U, V, xs, ys):
    h = np.zeros(W.shape[0])
    loss = 0.0
    for t in range(len(xs)):
        h = np.tanh(W @ h + U @ xs[t])
        y_hat = V @ h
        loss += np.sum((y_hat - ys[t]) ** 2)
    return loss / len(xs)


case(rnn_seq_loss, wrt=("W", "U", "V"),
     args=lambda r: (0.4 * _n(r, 3, 3), 0.5 * _n(r, 3, 2), _n(r, 1, 3), _n(r, 4, 2), _n(r, 4, 1)))


def poly_eval_from_k0(c, x):
    total = 0.0
    for k in range(len(c)):
        total = total + c[k] * x ** k
    return np.sum(total)


case(poly_eval_from_k0, wrt=("c", "x"), args=lambda r: (_n(r, 5), 0.5 + r.uniform(size=3)))


def horner(c, x):
    y = 0.0
    for ck in reversed(c):
        y = y * x + ck
    return np.sum(y ** 2)


case(horner, wrt=("c", "x"), args=lambda r: (_n(r, 4), _n(r, 3)))


def sqrt_if_large(w, X, y):
    loss = np.mean((X @ w - y) ** 2)
    if loss > 1:
        loss = np.sqrt(loss)
    return loss


def jax_sqrt_if_large(w, X, y):
    loss = jnp.mean((X @ w - y) ** 2)
    return jnp.where(loss > 1, jnp.sqrt(loss), loss)


case(sqrt_if_large, wrt="w", twin=jax_sqrt_if_large, args=lambda r: (_n(r, 3), _n(r, 6, 3), _n(r, 6)))


def newton_sqrt_while(a):
    x = a
    while np.abs(x * x - a) > 1e-12:
        x = 0.5 * (x + a / x)
    return x


def jax_newton_sqrt_while(a):
    x = a
    for _ in range(60):
        x = jnp.where(jnp.abs(x * x - a) > 1e-12, 0.5 * (x + a / x), x)
    return x


case(newton_sqrt_while, wrt="a", twin=jax_newton_sqrt_while, args=lambda r: (2.5,))


def gd_early_stop(w0, X, y, lr=0.1):
    w = w0
    for i in range(20):
        g = X.T @ (X @ w - y) / len(y)
        if np.linalg.norm(g) < 0.5:
            break
        w = w - lr * g
    return np.sum((X @ w - y) ** 2)


def jax_gd_early_stop(w0, X, y, lr=0.1):
    w = w0
    done = False
    for i in range(20):
        g = X.T @ (X @ w - y) / len(y)
        done = jnp.logical_or(done, jnp.linalg.norm(g) < 0.5)
        w = jnp.where(done, w, w - lr * g)
    return jnp.sum((X @ w - y) ** 2)


case(gd_early_stop, wrt="w0", twin=jax_gd_early_stop, args=lambda r: (_n(r, 3), _n(r, 8, 3), _n(r, 8)))


def alternating_signs(w):
    s = 0.0
    for i in range(len(w)):
        if i % 2 == 0:
            s = s + w[i] ** 2
        else:
            s = s - np.sin(w[i])
    return s


case(alternating_signs, wrt="w", args=lambda r: (_n(r, 5),))


def piecewise_if_elif(x):
    if x < -1.0:
        y = -2 * x - 1
    elif x < 1.0:
        y = x ** 2
    else:
        y = 2 * x - 1
    return y * np.exp(-0.1 * x)


def jax_piecewise_if_elif(x):
    y = jnp.where(x < -1.0, -2 * x - 1, jnp.where(x < 1.0, x ** 2, 2 * x - 1))
    return y * jnp.exp(-0.1 * x)


case(piecewise_if_elif, wrt="x", twin=jax_piecewise_if_elif, args=lambda r: (0.3,))


def ternary_on_data(a, b):
    y = a if np.sum(a) > np.sum(b) else b
    return np.sum(y ** 3)


def jax_ternary_on_data(a, b):
    return jnp.sum(jnp.where(jnp.sum(a) > jnp.sum(b), a, b) ** 3)


case(ternary_on_data, wrt=("a", "b"), twin=jax_ternary_on_data, args=lambda r: (_n(r, 3) + 1, _n(r, 3)))


def unrolled_inner_gd(w0, X, y, lr=0.05):
    w = w0
    n = X.shape[0]
    for k in range(3):
        g = 2 * X.T @ (X @ w - y) / n
        w = w - lr * g
    return np.mean((X @ w - y) ** 2)


case(unrolled_inner_gd, wrt=("w0", "X"), args=lambda r: (_n(r, 3), _n(r, 6, 3), _n(r, 6)))


def deep_list_of_layers(Ws, x):
    h = x
    for W in Ws:
        h = np.tanh(h @ W)
    return np.sum(h ** 2)


case(deep_list_of_layers, wrt="Ws", tags=("real_numpy",),
     args=lambda r: ([0.7 * _n(r, 3, 4), 0.7 * _n(r, 4, 4), 0.7 * _n(r, 4, 2)], _n(r, 2, 3)))


def mlp_enumerate_zip(Ws, bs, x):
    h = x
    for i, (W, b) in enumerate(zip(Ws, bs)):
        h = h @ W + b
        if i < len(Ws) - 1:
            h = np.maximum(h, 0)
    return np.mean(h ** 2)


case(mlp_enumerate_zip, wrt=("Ws", "bs"), tags=("real_numpy",),
     args=lambda r: ([_n(r, 3, 4), _n(r, 4, 2)], [_n(r, 4), _n(r, 2)], _n(r, 5, 3)))


def nested_loops_quadratic(w, K):
    s = 0.0
    n = len(w)
    for i in range(n):
        for j in range(n):
            s += K[i, j] * w[i] * w[j]
    return s


case(nested_loops_quadratic, wrt="w", args=lambda r: (_n(r, 3), _n(r, 3, 3)))


def while_counter(w):
    i = 0
    while i < 3:
        w = 0.5 * w + np.sin(w)
        i += 1
    return np.sum(w)


case(while_counter, wrt="w", args=lambda r: (_n(r, 4),))


def loop_with_continue(w, xs):
    total = 0.0
    for t in range(len(xs)):
        if t == 2:
            continue
        total = total + np.sum(np.tanh(xs[t] * w))
    return total


case(loop_with_continue, wrt="w", args=lambda r: (_n(r, 3), _n(r, 5, 3)))


def rnn_grad_clip_state(W, xs):
    h = np.ones(W.shape[0])
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h) + xs[t]
        nrm = np.sqrt(np.sum(h ** 2))
        if nrm > 1.0:
            h = h / nrm
    return np.sum(h * np.arange(1, len(h) + 1))


def jax_rnn_grad_clip_state(W, xs):
    h = jnp.ones(W.shape[0])
    for t in range(xs.shape[0]):
        h = jnp.tanh(W @ h) + xs[t]
        nrm = jnp.sqrt(jnp.sum(h ** 2))
        h = jnp.where(nrm > 1.0, h / nrm, h)
    return jnp.sum(h * jnp.arange(1, len(h) + 1))


case(rnn_grad_clip_state, wrt="W", twin=jax_rnn_grad_clip_state, args=lambda r: (_n(r, 3, 3), _n(r, 4, 3)))


def fibonacci_like(w):
    a, b = np.ones_like(w), w
    for _ in range(4):
        a, b = b, a + w * b
    return np.sum(b)


case(fibonacci_like, wrt="w", args=lambda r: (0.5 * _n(r, 3),))


def iterate_rows(W, xs):
    h = np.zeros(W.shape[0])
    for x_t in xs:
        h = np.tanh(W @ h + x_t)
    return np.sum(h)


case(iterate_rows, wrt="W", args=lambda r: (_n(r, 3, 3), _n(r, 4, 3)))


def euler_ode(k, x0, dt=0.1):
    x = x0
    for step in range(10):
        x = x + dt * (-k * x + np.sin(x))
    return np.sum((x - 0.5) ** 2)


case(euler_ode, wrt=("k", "x0"), args=lambda r: (0.8, _n(r, 3)))


def ema_loss(xs, alpha):
    m = xs[0]
    for t in range(1, len(xs)):
        m = alpha * m + (1 - alpha) * xs[t]
    return np.sum(m ** 2)


case(ema_loss, wrt=("xs", "alpha"), args=lambda r: (_n(r, 5, 2), 0.7))


def recursive_power(x, n):
    if n == 0:
        return np.ones_like(x)
    return x * recursive_power(x, n - 1)


def uses_recursion(x):
    return np.sum(recursive_power(x, 3))


case(uses_recursion, wrt="x", args=lambda r: (_n(r, 3),))


def loss_by_kind(w, X, y, kind="mse"):
    r = X @ w - y
    if kind == "mse":
        return np.mean(r ** 2)
    elif kind == "mae":
        return np.mean(np.abs(r))
    else:
        raise ValueError(kind)


case(loss_by_kind, wrt="w", args=lambda r: (_n(r, 3), _n(r, 5, 3), _n(r, 5), "mae"))


def for_else_search(w):
    out = 0.0
    for i in range(3):
        out = out + w[i] ** 2
    else:
        out = out * 2
    return out


case(for_else_search, wrt="w", args=lambda r: (_n(r, 3),))


def leaky_relu_by_element(w, x):
    z = w * x
    s = 0.0
    for i in range(len(z)):
        if z[i] > 0:
            s += z[i]
        else:
            s += 0.1 * z[i]
    return s


def jax_leaky_relu_by_element(w, x):
    z = w * x
    return jnp.sum(jnp.where(z > 0, z, 0.1 * z))


case(leaky_relu_by_element, wrt="w", twin=jax_leaky_relu_by_element, args=lambda r: (_n(r, 5), _n(r, 5)))


def while_data_loop(x):
    steps = 0
    while x.sum() < 10 and steps < 20:
        x = x * 1.5
        steps += 1
    return np.sum(x ** 2)


def jax_while_data_loop(x):
    for _ in range(20):
        x = jnp.where(x.sum() < 10, x * 1.5, x)
    return jnp.sum(x ** 2)


case(while_data_loop, wrt="x", twin=jax_while_data_loop, args=lambda r: (r.uniform(0.5, 1.5, size=3),))


def masked_loop_where(w, xs):
    h = w
    for t in range(xs.shape[0]):
        h = np.where(xs[t] > 0, h * xs[t], h + xs[t])
    return np.sum(h)


case(masked_loop_where, wrt="w", args=lambda r: (_n(r, 3), _n(r, 4, 3)))


def return_inside_loop(w):
    for i in range(5):
        w = w * 0.9
        if i == 2:
            return np.sum(w ** 2)
    return np.sum(w)


case(return_inside_loop, wrt="w", args=lambda r: (_n(r, 3),))


def reversed_range_loop(W, xs):
    h = np.zeros(W.shape[0])
    for t in reversed(range(xs.shape[0])):
        h = np.tanh(W @ h + xs[t])
    return np.sum(h * np.arange(1.0, 4.0))


case(reversed_range_loop, wrt="W", args=lambda r: (_n(r, 3, 3), _n(r, 4, 3)))


def stepped_range_pairs(w):
    s = 0.0
    for i in range(0, len(w) - 1, 2):
        s = s + w[i] * w[i + 1]
    return s


case(stepped_range_pairs, wrt="w", args=lambda r: (_n(r, 6),))


def negative_loop_index(w, xs):
    acc = np.zeros_like(w)
    for t in range(xs.shape[0]):
        acc = acc + xs[t - 1] * w ** (t + 1)
    return np.sum(acc)


case(negative_loop_index, wrt="w", args=lambda r: (_n(r, 3), _n(r, 4, 3)),
     note="t - 1 = -1 at t = 0 reads the last row")


def range_counting_down(w):
    s = 0.0
    for i in range(len(w) - 1, -1, -1):
        s = s * 0.5 + w[i]
    return s ** 2


case(range_counting_down, wrt="w", args=lambda r: (_n(r, 5),))


def shape_branch(X, w):
    if X.shape[1] > 2:
        z = X[:, :2] @ w
    else:
        z = X @ w
    return np.sum(z ** 2)


case(shape_branch, wrt="w", args=lambda r: (_n(r, 4, 3), _n(r, 2)))


def loop_min_builtin(w):
    s = 0.0
    for i in range(min(len(w), 3)):
        s = s + np.exp(w[i])
    return s


case(loop_min_builtin, wrt="w", args=lambda r: (_n(r, 5),))


def _step(h, W, x):
    for _ in range(2):
        h = np.tanh(W @ h + x)
    return h


def helper_with_inner_loop(W, xs):
    h = np.zeros(W.shape[0])
    for t in range(xs.shape[0]):
        h = _step(h, W, xs[t])
    return np.sum(h ** 2)


case(helper_with_inner_loop, wrt="W", args=lambda r: (0.5 * _n(r, 3, 3), _n(r, 3, 3)))


def zip_ranges_pairs(w):
    s = 0.0
    for i, j in zip(range(3), range(1, 4)):
        s = s + w[i] * w[j]
    return s


case(zip_ranges_pairs, wrt="w", args=lambda r: (_n(r, 4),))


def compile_time_break(w):
    s = 0.0
    for i in range(10):
        if i >= 3:
            break
        s = s + w[i] ** 2
    return s


case(compile_time_break, wrt="w", args=lambda r: (_n(r, 5),))


def rnn_weight_used_twice(W, U, xs):
    h = np.zeros(W.shape[0])
    loss = 0.0
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + U @ xs[t])
        loss = loss + h @ W @ h
    return loss


case(rnn_weight_used_twice, wrt=("W", "U"), args=lambda r: (0.5 * _n(r, 3, 3), _n(r, 3, 2), _n(r, 4, 2)),
     note="W is read twice per step (recurrence and loss): both adjoint contributions accumulate")


def two_loops_shared_state(W, xs):
    h = np.ones(W.shape[0])
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + xs[t])
    g = h
    for t in range(xs.shape[0]):
        g = np.tanh(W.T @ g - xs[t])
    return np.sum(g * h)


case(two_loops_shared_state, wrt="W", args=lambda r: (0.6 * _n(r, 3, 3), _n(r, 3, 3)))


def bidirectional_rnn(Wf, Wb, xs):
    T = xs.shape[0]
    hf = np.zeros(Wf.shape[0])
    hb = np.zeros(Wb.shape[0])
    out = 0.0
    for t in range(T):
        hf = np.tanh(Wf @ hf + xs[t])
        hb = np.tanh(Wb @ hb + xs[T - 1 - t])
        out = out + np.sum(hf * hb)
    return out


case(bidirectional_rnn, wrt=("Wf", "Wb"), args=lambda r: (0.5 * _n(r, 3, 3), 0.5 * _n(r, 3, 3), _n(r, 4, 3)))


def outer_product_accumulation(W, xs):
    G = np.zeros_like(W)
    h = np.ones(W.shape[1])
    for t in range(xs.shape[0]):
        a = np.tanh(W @ h + xs[t])
        G = G + np.outer(a, h)
        h = a
    return np.sum(G * W)


case(outer_product_accumulation, wrt="W", args=lambda r: (0.5 * _n(r, 3, 3), _n(r, 4, 3)),
     note="a sum over iterations of outer products: the kind of accumulation the loop passes hoist")


def truncated_depth_break(Ws, x, depth=2):
    h = x
    for i, W in enumerate(Ws):
        if i >= depth:
            break
        h = np.tanh(W @ h)
    else:
        h = h * 0.5  # not run: the loop ends with break
    return np.sum(h ** 2)


case(truncated_depth_break, wrt="Ws", tags=("real_numpy",),
     args=lambda r: ([0.5 * _n(r, 3, 3) for _ in range(4)], _n(r, 3)))


def residual_every_other_layer_continue(Ws, x):
    h = x
    for i, W in enumerate(Ws):
        if i % 2 == 1:
            h = h + np.tanh(W @ h)  # a residual block
            continue
        h = np.tanh(W @ h)
    return np.sum(h ** 2)


case(residual_every_other_layer_continue, wrt="Ws", tags=("real_numpy",),
     args=lambda r: ([0.5 * _n(r, 3, 3) for _ in range(4)], _n(r, 3)))


def walrus_in_comprehension_rnn(W, xs):
    h = np.zeros(W.shape[0])
    hs = [h := np.tanh(W @ h + x) for x in xs]
    return np.sum(np.stack(hs) ** 2) + np.sum(h)


case(walrus_in_comprehension_rnn, wrt="W", args=lambda r: (0.5 * _n(r, 3, 3), _n(r, 4, 3)))
