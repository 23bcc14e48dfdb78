"""Pythonic idioms: builtins, comprehensions, closures, helpers, keyword defaults, parameter trees."""
import math

import numpy as np

import gradc.nn as nn

from . import case
from ._jax import jnp


def _n(r, *shape):
    return r.normal(size=shape)


def l2_generator_sum(ws, x):
    pred = x @ ws[0] @ ws[1]
    reg = sum(np.sum(w ** 2) for w in ws)
    return np.sum(pred ** 2) + 0.1 * reg


case(l2_generator_sum, wrt="ws", tags=("real_numpy",), args=lambda r: ([_n(r, 3, 4), _n(r, 4, 2)], _n(r, 5, 3)))


def max_of_two_losses(w):
    l1 = np.sum(w ** 2)
    l2 = np.sum(np.abs(w)) + 1.0
    return max(l1, l2)


def jax_max_of_two_losses(w):
    return jnp.maximum(jnp.sum(w ** 2), jnp.sum(jnp.abs(w)) + 1.0)


case(max_of_two_losses, wrt="w", twin=jax_max_of_two_losses, args=lambda r: (_n(r, 4),))


def weighted_array_of_losses(w, X, y):
    l1 = np.mean((X @ w - y) ** 2)
    l2 = np.sum(w ** 2)
    l3 = np.sum(np.abs(w))
    losses = np.array([l1, l2, l3])
    return np.dot(np.array([1.0, 0.1, 0.01]), losses)


case(weighted_array_of_losses, wrt="w", args=lambda r: (_n(r, 3), _n(r, 5, 3), _n(r, 5)))


CONFIG = {"lam": 0.1, "power": 2, "act": "tanh"}


def loss_reads_config_dict(w, X):
    h = np.tanh(X @ w) if CONFIG["act"] == "tanh" else np.maximum(X @ w, 0)
    return np.sum(h ** CONFIG["power"]) + CONFIG["lam"] * np.sum(w ** 2)


case(loss_reads_config_dict, wrt="w", args=lambda r: (_n(r, 3), _n(r, 4, 3)))


def make_loss(cfg):
    def closure_loss(w, X, y):
        r = X @ w - y
        return np.mean(r ** 2) + cfg["lam"] * np.sum(w ** 2)
    return closure_loss


closure_loss = make_loss({"lam": 0.05})
case(closure_loss, wrt="w", args=lambda r: (_n(r, 3), _n(r, 6, 3), _n(r, 6)))


def l2_penalty(w, lam=0.01):
    return lam * np.sum(w * w)


def helper_keyword_defaults(w, X, y):
    r = X @ w - y
    return np.mean(r ** 2) + l2_penalty(w) + l2_penalty(w[:2], lam=0.5)


case(helper_keyword_defaults, wrt="w", args=lambda r: (_n(r, 3), _n(r, 5, 3), _n(r, 5)))


def math_module_constants(x):
    c = math.log(2.0) + math.exp(-1.0)
    return np.sum(np.sin(math.pi * x) * c) + math.e * np.sum(x)


case(math_module_constants, wrt="x", args=lambda r: (_n(r, 4),))


def math_on_traced_scalar(w):
    s = np.sum(w ** 2)
    return math.sqrt(s) + math.exp(-s) + math.log(1 + s)


case(math_on_traced_scalar, wrt="w", args=lambda r: (_n(r, 3),))


def list_comprehension_dots(w, X):
    scores = [np.dot(w, x) for x in X]
    return np.sum(np.array(scores) ** 2)


case(list_comprehension_dots, wrt="w", args=lambda r: (_n(r, 3), _n(r, 4, 3)))


def dict_params_linear(params, X, y):
    pred = X @ params["w"] + params["b"]
    return np.mean((pred - y) ** 2)


case(dict_params_linear, wrt="params", tags=("real_numpy",),
     args=lambda r: ({"w": _n(r, 3), "b": _n(r, 1)}, _n(r, 5, 3), _n(r, 5)))


def nested_dict_mlp(params, X):
    h = np.tanh(X @ params["layer1"]["W"] + params["layer1"]["b"])
    out = h @ params["layer2"]["W"] + params["layer2"]["b"]
    return np.sum(out ** 2)


case(nested_dict_mlp, wrt="params", tags=("real_numpy",),
     args=lambda r: ({"layer1": {"W": _n(r, 3, 4), "b": _n(r, 4)}, "layer2": {"W": _n(r, 4, 2), "b": _n(r, 2)}},
                     _n(r, 5, 3)))


def tuple_params_unpack(params, X, y):
    W, b = params
    return np.mean((X @ W + b - y) ** 2)


case(tuple_params_unpack, wrt="params", tags=("real_numpy",),
     args=lambda r: ((_n(r, 3), 0.5), _n(r, 4, 3), _n(r, 4)))


def zip_preds_targets(preds, targets):
    return sum(np.sum((p - t) ** 2) for p, t in zip(preds, targets))


case(zip_preds_targets, wrt="preds", tags=("real_numpy",),
     args=lambda r: ([_n(r, 3), _n(r, 2)], [_n(r, 3), _n(r, 2)]))


def enumerate_weighted(w, xs):
    total = 0
    for i, x in enumerate(xs):
        total += (i + 1) * np.sum(w * x) ** 2
    return total / len(xs)


case(enumerate_weighted, wrt="w", args=lambda r: (_n(r, 3), _n(r, 4, 3)))


def lambda_activation(w, x):
    act = lambda z: np.maximum(z, 0.0) + 0.01 * np.minimum(z, 0.0)  # noqa: E731
    return np.sum(act(np.outer(w, x)) ** 2)


case(lambda_activation, wrt="w", args=lambda r: (_n(r, 3), _n(r, 4)))


def optional_weights(pred, y, weights=None):
    if weights is None:
        weights = np.ones_like(y)
    return np.sum(weights * (pred - y) ** 2) / np.sum(weights)


case(optional_weights, wrt="pred", args=lambda r: (_n(r, 5), _n(r, 5)))


def float_conversion(w):
    loss = np.sum(w ** 2)
    return float(loss) + np.sum(w)


def jax_float_conversion(w):
    return jnp.sum(w ** 2) + jnp.sum(w)


case(float_conversion, wrt="w", twin=jax_float_conversion, args=lambda r: (_n(r, 3),),
     note="float() of a traced scalar is the identity on the value")


def builtin_pow_abs_sum(w):
    return pow(np.sum(w), 2) + sum(abs(w)) + np.sum(w ** 0.5)


case(builtin_pow_abs_sum, wrt="w", args=lambda r: (1 + r.uniform(size=4),))


def len_normalized(w):
    return np.sum(w ** 2) / len(w) + np.sum(w) / w.size + w.mean() ** 2 / w.shape[0]


case(len_normalized, wrt="w", args=lambda r: (_n(r, 5),))


def methods_chain(W):
    return W.sum(axis=0).max() + W.mean() + W.T.dot(W).trace() + (W ** 2).sum(keepdims=True).squeeze()


case(methods_chain, wrt="W", args=lambda r: (_n(r, 3, 2),))


def var_std_methods(x):
    return x.var() + x.std() + x.prod() + x.cumsum()[-1]


case(var_std_methods, wrt="x", tags=("real_numpy",), args=lambda r: (1 + 0.2 * _n(r, 4),))


ACTIVATIONS = {"tanh": np.tanh, "sin": np.sin}


def dispatch_table_activation(w, x, name="tanh"):
    act = ACTIVATIONS[name]
    return np.sum(act(w * x) ** 2)


def jax_dispatch_table_activation(w, x, name="tanh"):
    act = {"tanh": jnp.tanh, "sin": jnp.sin}[name]
    return jnp.sum(act(w * x) ** 2)


case(dispatch_table_activation, wrt="w", twin=jax_dispatch_table_activation, args=lambda r: (_n(r, 4), _n(r, 4), "sin"))


def append_then_stack(W, xs):
    outs = []
    h = np.zeros(W.shape[0])
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + xs[t])
        outs.append(h)
    H = np.stack(outs)
    return np.sum(H ** 2)


case(append_then_stack, wrt="W", tags=("real_numpy",), args=lambda r: (0.5 * _n(r, 3, 3), _n(r, 4, 3)))


def annotated_and_docstring(w: np.ndarray, x: np.ndarray) -> float:
    """Squared loss with a type annotation and a docstring."""
    z: np.ndarray = w * x
    return float(np.sum(z ** 2))


def jax_annotated_and_docstring(w, x):
    return jnp.sum((w * x) ** 2)


case(annotated_and_docstring, wrt="w", twin=jax_annotated_and_docstring, args=lambda r: (_n(r, 3), _n(r, 3)))


def dict_comprehension_params(params):
    sq = {k: np.sum(v ** 2) for k, v in params.items()}
    return sq["a"] + 2 * sq["b"]


case(dict_comprehension_params, wrt="params", tags=("real_numpy",),
     args=lambda r: ({"a": _n(r, 3), "b": _n(r, 2, 2)},))


def kwargs_call_helper(w, X):
    def predict(X, w, bias=0.0):
        return X @ w + bias
    return np.sum(predict(w=w, X=X, bias=1.0) ** 2)


case(kwargs_call_helper, wrt="w", args=lambda r: (_n(r, 3), _n(r, 4, 3)))


def _rbf(a, b, gamma=0.5):
    return np.exp(-gamma * np.sum((a - b) ** 2))


def helper_in_comprehension(x, centers):
    feats = np.array([_rbf(x, c) for c in centers])
    return np.sum(feats * np.arange(1, len(centers) + 1))


case(helper_in_comprehension, wrt="x", args=lambda r: (_n(r, 2), _n(r, 3, 2)))


def star_unpack_shapes(W, X):
    n, d = X.shape
    *_, k = W.shape
    return np.sum((X @ W) ** 2) / (n * k)


case(star_unpack_shapes, wrt="W", args=lambda r: (_n(r, 3, 2), _n(r, 4, 3)))


def chained_comparison_where(x):
    return np.sum(np.where((x > -1) & (x < 1), x ** 2, np.abs(x)))


case(chained_comparison_where, wrt="x", args=lambda r: (np.array([-1.7, -0.4, 0.2, 0.8, 1.9]),))


def min_builtin_scalars(a, b):
    return min(a * a, b + 1.0) + max(a, b, 0.5)


def jax_min_builtin_scalars(a, b):
    return jnp.minimum(a * a, b + 1.0) + jnp.maximum(jnp.maximum(a, b), 0.5)


case(min_builtin_scalars, wrt=("a", "b"), twin=jax_min_builtin_scalars, args=lambda r: (0.9, 0.3))


def builtin_sum_over_matrix(W):
    col = sum(W)
    return np.sum(col ** 2)


case(builtin_sum_over_matrix, wrt="W", args=lambda r: (_n(r, 3, 2),),
     note="builtin sum over a 2-D array adds its rows: a (2,) vector")


def kwonly_args(w, X, *, lam=0.1, power=2):
    return np.sum((X @ w) ** power) + lam * np.sum(w ** 2)


case(kwonly_args, wrt="w", args=lambda r: (_n(r, 3), _n(r, 4, 3)))


def int_arg_exponent(x, n):
    return np.sum(x ** n) / n


case(int_arg_exponent, wrt="x", args=lambda r: (_n(r, 4), 3))


def bool_flag_normalize(w, X, normalize=True):
    if normalize:
        X = X / np.sqrt(np.mean(X ** 2, axis=0))
    return np.sum(np.tanh(X @ w))


case(bool_flag_normalize, wrt=("w", "X"), args=lambda r: (_n(r, 3), _n(r, 5, 3), True))


def np_float64_conversion(w):
    s = np.float64(np.sum(w ** 2))
    return s * 2.0 + np.float64(3.0)


case(np_float64_conversion, wrt="w", args=lambda r: (_n(r, 3),))


LAM = 0.05
W_FIXED = np.array([[0.5, -1.0], [1.5, 0.25], [-0.75, 2.0]])


def module_constant_defaults(w, lam=LAM):
    return np.sum((W_FIXED @ w) ** 2) + lam * np.sum(w ** 2)


case(module_constant_defaults, wrt="w", args=lambda r: (_n(r, 2),))


def compile_time_conditional_expr(x):
    scale = 2.0 if x.ndim == 2 else 1.0
    return scale * np.sum(x ** 2)


case(compile_time_conditional_expr, wrt="x", args=lambda r: (_n(r, 2, 2),))


def compile_time_early_return(w, n=0):
    if n == 0:
        return np.sum(w ** 2)
    return np.sum(w)


case(compile_time_early_return, wrt="w", args=lambda r: (_n(r, 3), 0))


def assert_with_fstring(w):
    assert w.ndim == 1, f"expected a vector, got shape {w.shape}"
    return np.sum(np.sin(w))


case(assert_with_fstring, wrt="w", args=lambda r: (_n(r, 3),))


def masked_mean_count(p, t, m):
    return np.sum(np.where(m, (p - t) ** 2, 0.0)) / np.sum(m)


case(masked_mean_count, wrt="p", args=lambda r: (_n(r, 6), _n(r, 6), np.array([True, False, True, True, False, True])))


def config_dict_argument(w, cfg):
    return cfg["scale"] * np.sum(w ** cfg["power"])


case(config_dict_argument, wrt="w", args=lambda r: (_n(r, 3), {"scale": 0.5, "power": 2}))


def print_debugging(w, X):
    loss = np.mean((X @ w) ** 2)
    print("loss", loss)
    return loss


def jax_print_debugging(w, X):
    return jnp.mean((X @ w) ** 2)


case(print_debugging, wrt="w", twin=jax_print_debugging, args=lambda r: (_n(r, 3), _n(r, 4, 3)))


def swap_tuple_params(a, b):
    a, b = b, a * 2.0
    return np.sum(a * b ** 2)


case(swap_tuple_params, wrt=("a", "b"), args=lambda r: (_n(r, 3), _n(r, 3)))


def chained_comparison_on_array(x):
    return np.sum(np.where(0 < x < 1, x, 0.0))


case(chained_comparison_on_array, wrt="x", raises=True, args=lambda r: (np.array([-0.5, 0.3, 0.7, 1.5]),),
     note="NumPy raises: `0 < x < 1` asks for the truth value of an array")


def and_of_array_comparisons(x):
    return np.sum(np.where(x > 0 and x < 1, x, 0.0))


case(and_of_array_comparisons, wrt="x", raises=True, args=lambda r: (np.array([-0.5, 0.3, 0.7, 1.5]),),
     note="NumPy raises: `and` asks for the truth value of an array")


def operator_precedence(x):
    return np.sum(-x ** 2 + x ** 2 ** 2 / 4 / 2 - 2 / x / 3 + +x)


case(operator_precedence, wrt="x", args=lambda r: (r.uniform(0.5, 1.5, size=3),),
     note="-x**2 is -(x**2); x**2**2 is x**4; / is left-associative")


def python_float_argument(x, w):
    return x ** 3 + np.sin(x) * np.sum(w) + 1 / x


case(python_float_argument, wrt=("x", "w"), args=lambda r: (0.7, _n(r, 3)))


def zero_d_array_argument(b, X):
    return np.sum(np.tanh(X + b) ** 2)


case(zero_d_array_argument, wrt="b", args=lambda r: (np.array(0.3), _n(r, 3, 2)))


def int_accumulator_and_idiv(w, xs):
    loss = 0
    for t in range(xs.shape[0]):
        loss += np.sum((xs[t] - w) ** 2)
    loss /= xs.shape[0]
    return loss


case(int_accumulator_and_idiv, wrt="w", args=lambda r: (_n(r, 3), _n(r, 4, 3)))


def helper_returns_tuple(h):
    mu, logvar = _split_halves(h)
    return np.sum(mu ** 2) + np.sum(np.exp(logvar))


def _split_halves(h):
    d = h.shape[1] // 2
    return h[:, :d], h[:, d:]


case(helper_returns_tuple, wrt="h", args=lambda r: (_n(r, 3, 4),))


def copy_then_inplace_argument(w):
    w = w.copy()
    w += 1.0
    w **= 2
    return np.sum(w)


case(copy_then_inplace_argument, wrt="w", args=lambda r: (_n(r, 3),))


def rebind_argument_then_inplace(X):
    X = X - X.mean(axis=0)
    X *= 2.0
    return np.sum(X ** 3)


case(rebind_argument_then_inplace, wrt="X", args=lambda r: (_n(r, 4, 2),))


def numpy_constants(x):
    return np.sum(np.where(x < np.inf, np.e ** x, 0.0)) + np.pi * np.sum(x)


case(numpy_constants, wrt="x", args=lambda r: (_n(r, 3),))


def unused_wrt_argument(w, v, X):
    return np.sum((X @ w) ** 2)


case(unused_wrt_argument, wrt=("w", "v"), args=lambda r: (_n(r, 3), _n(r, 2, 2), _n(r, 4, 3)),
     note="v does not reach the loss: its gradient is zeros of its shape")


def wrt_only_in_condition(w, v):
    return np.sum(np.where(v > 0, w, -w) ** 2 + w)


case(wrt_only_in_condition, wrt=("w", "v"), args=lambda r: (_n(r, 4), _n(r, 4)),
     note="v only selects: its gradient is zero")


def simplifiable_identities(x):
    return np.sum(x * 0 + x ** 1 - (x - x) + x / x + x ** 0 + 1 * x - 0)


case(simplifiable_identities, wrt="x", args=lambda r: (r.uniform(0.5, 2.0, size=3),))


def lookalike_subexpressions(X):
    a = np.sum(X, axis=0) @ np.sum(X, axis=1)
    b = np.sum(X @ X.T) - np.sum(X.T @ X * np.arange(9).reshape(3, 3))
    c = np.sum(X[0] * X[0:1]) + np.sum(np.max(X, 0) - np.max(X, 1))
    return a + b + c


case(lookalike_subexpressions, wrt="X", args=lambda r: (_n(r, 3, 3),),
     note="expressions that differ only in an axis, a transpose or a slice: CSE must keep them apart")


def unbroadcast_row_and_column(a, b):
    return np.sum(np.tanh(a + b) * np.arange(12).reshape(4, 3))


case(unbroadcast_row_and_column, wrt=("a", "b"), args=lambda r: (_n(r, 1, 3), _n(r, 4, 1)))


def gradc_nn_helpers(W, X, y):
    from gradc.nn import log_softmax, softplus
    logp = log_softmax(X @ W, axis=1)
    return -np.mean(np.sum(y * logp, axis=1)) + 0.1 * np.sum(softplus(W))


def jax_gradc_nn_helpers(W, X, y):
    import jax
    logp = jax.nn.log_softmax(X @ W, axis=1)
    return -jnp.mean(jnp.sum(y * logp, axis=1)) + 0.1 * jnp.sum(jax.nn.softplus(W))


case(gradc_nn_helpers, wrt="W", twin=jax_gradc_nn_helpers, args=lambda r: (_n(r, 3, 4), _n(r, 5, 3), np.eye(4)[r.integers(0, 4, 5)]),
     note="a local import of gradc.nn functions inside the loss")


def nn_module_functions(W, X):
    return np.sum(nn.logsumexp(X @ W, axis=1)) + np.sum(nn.sigmoid(W) * nn.relu(W - 0.1))


case(nn_module_functions, wrt="W", args=lambda r: (_n(r, 3, 2), _n(r, 4, 3)))


def list_of_equal_shape_params(ws, x):
    return np.sum((ws[0] * x) ** 2) + np.sum(np.tanh(ws[1] * x))


case(list_of_equal_shape_params, wrt="ws", tags=("real_numpy",), args=lambda r: ([_n(r, 3), _n(r, 3)], _n(r, 3)),
     note="a parameter list whose arrays happen to share a shape: the gradient is a list like the argument (JAX's pytree rule)")


# -- ordinary Python lowered at compile time: comprehensions, appends, closures, recursion --

def conv1d_two_channels_comprehension(x, w, b):
    k = w.shape[1]
    out = np.stack([np.stack([np.dot(x[c, i:i + k], w[c]) for i in range(x.shape[1] - k + 1)])
                    for c in range(x.shape[0])])
    return np.sum(np.tanh(out.sum(axis=0) + b) ** 2)


case(conv1d_two_channels_comprehension, wrt=("x", "w", "b"), args=lambda r: (_n(r, 2, 7), _n(r, 2, 3), 0.1))


def mlp_activation_penalty_append(params, X):
    acts = []
    h = X
    for W, b in params:
        h = np.tanh(h @ W + b)
        acts.append(h)
    penalty = sum(np.mean(a ** 2) for a in acts[:-1])
    return np.sum(acts[-1]) + 0.1 * penalty + 0.01 * np.sum(np.concatenate([a.ravel() for a in acts]))


case(mlp_activation_penalty_append, wrt="params", tags=("real_numpy",),
     args=lambda r: ([(_n(r, 3, 4), _n(r, 4)), (_n(r, 4, 4), _n(r, 4)), (_n(r, 4, 2), _n(r, 2))], _n(r, 5, 3)))


def _dense(x, W, b, act=np.tanh):
    return act(x @ W + b)


def lambda_activation_argument(W1, b1, W2, X, y):
    leaky = lambda z: np.where(z > 0, z, 0.05 * z)  # noqa: E731
    h = _dense(X, W1, b1, act=leaky)
    out = _dense(h, W2, 0.0, act=lambda z: z)
    return np.mean((out[:, 0] - y) ** 2)


case(lambda_activation_argument, wrt=("W1", "b1", "W2"),
     args=lambda r: (_n(r, 3, 4), _n(r, 4), _n(r, 4, 1), _n(r, 6, 3), _n(r, 6)))


def l2_over_dict_values_generator(params, X, y):
    pred = X @ params["w"] + params["b"]
    reg = sum(np.sum(p ** 2) for name, p in params.items() if name != "b")
    return np.mean((pred - y) ** 2) + 1e-2 * reg


case(l2_over_dict_values_generator, wrt="params", tags=("real_numpy",),
     args=lambda r: ({"w": _n(r, 3), "b": _n(r, 1), "u": _n(r, 2, 2)}, _n(r, 5, 3), _n(r, 5)))


def _pairwise_sum(xs):
    if len(xs) == 1:
        return xs[0]
    mid = len(xs) // 2
    return _pairwise_sum(xs[:mid]) + _pairwise_sum(xs[mid:])


def recursive_tree_sum_of_losses(W, X, Y):
    losses = [np.sum((x @ W - y) ** 2) for x, y in zip(X, Y)]
    return _pairwise_sum(losses) / len(losses)


case(recursive_tree_sum_of_losses, wrt="W", args=lambda r: (_n(r, 3, 2), _n(r, 6, 3), _n(r, 6, 2)))


def nested_def_reads_config(logits, y, temperature=2.0):
    def log_softmax_t(z):
        z = z / temperature
        return z - np.log(np.sum(np.exp(z - np.max(z, axis=1, keepdims=True)), axis=1, keepdims=True)) \
            - np.max(z, axis=1, keepdims=True)
    temperature = temperature * 1.5  # the nested function reads it at call time
    return -np.mean(np.sum(y * log_softmax_t(logits), axis=1))


case(nested_def_reads_config, wrt="logits",
     args=lambda r: (_n(r, 4, 3), np.eye(3)[r.integers(0, 3, 4)]))


def weighted_dict_of_losses(w, X, y):
    losses = {"mse": np.mean((X @ w - y) ** 2), "l1": np.sum(np.abs(w)), "l2": np.sum(w ** 2)}
    weights = {"mse": 1.0, "l1": 0.01, "l2": 0.1}
    return sum(weights[k] * v for k, v in losses.items() if k in weights)


case(weighted_dict_of_losses, wrt="w", args=lambda r: (_n(r, 3), _n(r, 5, 3), _n(r, 5)))


def multihead_attention_comprehension(Q, K, V):
    heads = 2
    d = Q.shape[1] // heads
    outs = []
    for s in [slice(h * d, (h + 1) * d) for h in range(heads)]:
        scores = Q[:, s] @ K[:, s].T / np.sqrt(d)
        outs.append(nn.softmax(scores, axis=1) @ V[:, s])
    return np.sum(np.concatenate(outs, axis=1) ** 2)


case(multihead_attention_comprehension, wrt=("Q", "K", "V"), args=lambda r: (_n(r, 3, 4), _n(r, 5, 4), _n(r, 5, 4)))


def star_unpack_layers(layers, x):
    *hidden, (W_out, b_out) = layers
    h = x
    for W, b in hidden:
        h = np.maximum(h @ W + b, 0.0)
    return np.sum((h @ W_out + b_out) ** 2)


case(star_unpack_layers, wrt="layers", tags=("real_numpy",),
     args=lambda r: ([(_n(r, 3, 4), _n(r, 4)), (_n(r, 4, 4), _n(r, 4)), (_n(r, 4, 2), _n(r, 2))], _n(r, 3)))


def _huber(r, delta=1.0):
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r ** 2, delta * (a - 0.5 * delta))


def partial_huber_and_float(w, X, y):
    import functools
    loss_fn = functools.partial(_huber, delta=0.5)
    loss = np.mean(loss_fn(X @ w - y))
    print("loss", loss)
    return float(loss) + 0.01 * np.sum(w ** 2)


def jax_partial_huber_and_float(w, X, y):
    r = X @ w - y
    a = jnp.abs(r)
    return jnp.mean(jnp.where(a <= 0.5, 0.5 * r ** 2, 0.5 * (a - 0.25))) + 0.01 * jnp.sum(w ** 2)


case(partial_huber_and_float, wrt="w", twin=jax_partial_huber_and_float,
     args=lambda r: (_n(r, 3), _n(r, 6, 3), _n(r, 6)),
     note="functools.partial of a helper; float() of the loss is a Python float with its derivative; print is dropped")


gelu_tanh = lambda z: 0.5 * z * (1.0 + np.tanh(0.7978845608 * (z + 0.044715 * z ** 3)))  # noqa: E731


def module_lambda_gelu(W, X):
    return np.mean(gelu_tanh(X @ W) ** 2)


case(module_lambda_gelu, wrt="W", args=lambda r: (_n(r, 3, 4), _n(r, 5, 3)))


def rows_zip_sum_of_squares(W, X, Y):
    return sum(np.sum((x @ W - y) ** 2) for x, y in zip(X, Y)) / len(X) + sum(sum(W ** 2))


case(rows_zip_sum_of_squares, wrt="W", args=lambda r: (_n(r, 3, 2), _n(r, 4, 3), _n(r, 4, 2)),
     note="zip over the rows of two arrays; the builtin sum of a matrix adds its rows")
