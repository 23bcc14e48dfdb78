"""Parameter trees (JAX's pytrees), *args/**kwargs, keyword-only arguments and defaults.

Every gradient is checked against central finite differences of the real Python function,
leaf by leaf, and has the structure of its argument: dict → dict (same keys, same order),
list → list, tuple → tuple, Python float leaf → Python float.
"""
from __future__ import annotations

import ast
import copy
import importlib.util
import textwrap

import numpy as np
import pytest

import gradc
from gradc.errors import CompileError, SignatureError, UnsupportedSyntax

EPS = 1e-6


# -- finite differences on trees --------------------------------------------------------

def _leaf_paths(tree, path=()):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _leaf_paths(v, path + (k,))
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            yield from _leaf_paths(v, path + (i,))
    else:
        yield path


def _get(tree, path):
    for k in path:
        tree = tree[k]
    return tree


def _set(tree, path, value):
    """A copy of `tree` with the leaf at `path` replaced (tuples rebuilt)."""
    if not path:
        return value
    k, rest = path[0], path[1:]
    if isinstance(tree, tuple):
        items = list(tree)
        items[k] = _set(items[k], rest, value)
        return tuple(items)
    out = copy.copy(tree)
    out[k] = _set(tree[k], rest, value)
    return out


def fd_tree(fn, args, kwargs, where):
    """Central differences of fn(*args, **kwargs) with respect to args[where] (an int) or
    kwargs[where] (a str), in the structure of that argument."""
    def call(value):
        a, kw = list(args), dict(kwargs)
        if isinstance(where, int):
            a[where] = value
        else:
            kw[where] = value
        return float(fn(*a, **kw))

    tree = args[where] if isinstance(where, int) else kwargs[where]
    grads = tree
    for path in _leaf_paths(tree):
        leaf = _get(tree, path)
        if isinstance(leaf, float):
            g = (call(_set(tree, path, leaf + EPS)) - call(_set(tree, path, leaf - EPS))) / (2 * EPS)
        else:
            x = np.asarray(leaf, dtype=np.float64)
            g = np.zeros_like(x)
            for idx in np.ndindex(x.shape):
                e = np.zeros_like(x)
                e[idx] = EPS
                g[idx] = (call(_set(tree, path, x + e)) - call(_set(tree, path, x - e))) / (2 * EPS)
        grads = _set(grads, path, g)
    return grads


def assert_tree_close(got, want, rtol=1e-6, atol=1e-8):
    assert type(got) is type(want) or (isinstance(want, np.ndarray) and isinstance(got, np.ndarray)), \
        (type(got), type(want))
    if isinstance(want, dict):
        assert list(got) == list(want)  # the same keys in the same order
        for k in want:
            assert_tree_close(got[k], want[k], rtol, atol)
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert_tree_close(g, w, rtol, atol)
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


@pytest.fixture
def module(tmp_path, monkeypatch):
    """Write source to a real file and import it (gradc reads function sources)."""
    counter = iter(range(1000))

    def load(text):
        name = f"pytree_case_{next(counter)}"
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(text))
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    return load


def load_file(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


LOSSES = """
import numpy as np

def mlp(params, X, y):
    h = np.tanh(X @ params["W1"] + params["b1"])
    out = h @ params["W2"] + params["b2"]
    return np.mean((out - y) ** 2)

def layers_loss(layers, X, y):
    h = X
    for W, b in layers:
        h = np.tanh(h @ W + b)
    return np.mean((h - y) ** 2)

def nested(params, x):
    total = 0.0
    for k in range(len(params["blocks"])):
        block = params["blocks"][k]
        total = total + np.sum(np.sin(block["w"] * x)) * block["scale"]
    return total + np.sum(params["head"][0] * params["head"][1])

def star_weights(x, *ws):
    total = 0.0
    for w in ws:
        total = total + np.sum((x * w) ** 2)
    return total / len(ws)

def kw_everything(w, X, *, lam=0.1, power=2, **extra):
    loss = np.sum((X @ w) ** power) + lam * np.sum(w ** 2)
    for name in extra:
        loss = loss + extra[name] * np.sum(np.abs(w))
    return loss

def batch_loss(w, batch):
    pred = batch["X"] @ w
    return np.mean((pred - batch["y"]) ** 2) * batch["weight"]

def concat(ws, x):
    both = ws + ws
    doubled = ws * 2
    return np.sum(both[0] * both[3] * x) + len(both) + np.sum(doubled[2]) + len(doubled)

def float_leaves(p):
    return p["a"] ** 2 * p["b"] + np.sum(p["v"] * p["a"])

def odd_keys(p):
    return (np.sum(p["W-1"] ** 2) + np.sum(p["class"] * 3.0) + p[7] * p["it's \\"odd\\"\\n"]
            + np.sum(p["é"]))

def tuple_pair(pair, x):
    W, b = pair
    return np.sum(np.tanh(x @ W + b))
"""


@pytest.fixture
def L(module):
    return module(LOSSES)


def rng():
    return np.random.default_rng(7)


def test_mlp_params_dict_keeps_keys_order_and_float_leaves(L):
    r = rng()
    params = {"W2": r.normal(size=(4, 2)), "W1": r.normal(size=(3, 4)), "b1": r.normal(size=4), "b2": 0.3}
    X, y = r.normal(size=(6, 3)), r.normal(size=(6, 2))
    value, g = gradc.value_and_grad(L.mlp, wrt="params")(params, X, y)
    assert value == pytest.approx(L.mlp(params, X, y), rel=1e-13)
    assert list(g) == ["W2", "W1", "b1", "b2"]  # the argument's order, not sorted
    assert type(g["b2"]) is float
    assert_tree_close(g, fd_tree(L.mlp, (params, X, y), {}, 0))


def test_layers_list_of_tuples(L):
    r = rng()
    layers = [(r.normal(size=(3, 5)), r.normal(size=5)), (r.normal(size=(5, 4)), r.normal(size=4)),
              (r.normal(size=(4, 2)), 0.2)]
    X, y = r.normal(size=(7, 3)), r.normal(size=(7, 2))
    g = gradc.grad(L.layers_loss, wrt="layers")(layers, X, y)
    assert type(g) is list and all(type(t) is tuple for t in g) and type(g[2][1]) is float
    assert_tree_close(g, fd_tree(L.layers_loss, (layers, X, y), {}, 0))
    c = gradc.compile(L.layers_loss, wrt="layers", args=(layers, X, y))
    assert "layers_0_0 = layers[0][0]" in c.source and "layers_2_1_bar" in c.source
    assert "layers_0_0" in str(c.ir)


def test_nested_dict_of_lists_with_several_wrt(L):
    r = rng()
    params = {"blocks": [{"w": r.normal(size=3), "scale": 1.5}, {"w": r.normal(size=3), "scale": -0.5}],
              "head": (r.normal(size=3), r.normal(size=3))}
    x = r.normal(size=3)
    gp, gx = gradc.grad(L.nested, wrt=("params", "x"))(params, x)
    assert_tree_close(gp, fd_tree(L.nested, (params, x), {}, 0))
    assert_tree_close(gx, fd_tree(L.nested, (params, x), {}, 1))
    assert type(gp["head"]) is tuple and type(gp["blocks"][1]["scale"]) is float


def test_star_args_weights(L):
    r = rng()
    x, ws = r.normal(size=4), (r.normal(size=4), r.normal(size=4), 0.5)
    g = gradc.grad(L.star_weights, wrt="ws")(x, *ws)
    assert type(g) is tuple and len(g) == 3 and type(g[2]) is float
    want = fd_tree(lambda x, ws: L.star_weights(x, *ws), (x, ws), {}, 1)
    assert_tree_close(g, want)
    gx, gws = gradc.grad(L.star_weights, wrt=(0, "ws"))(x, *ws)
    assert_tree_close(gx, fd_tree(L.star_weights, (x, *ws), {}, 0))
    # another number of *args is another structure: compiled again
    c = gradc.compile(L.star_weights, wrt="ws")
    c.grad(x, *ws)
    c.grad(x, *ws[:2])
    assert len(c._specs) == 2


def test_keyword_only_defaults_and_kwargs(L):
    r = rng()
    w, X = r.normal(size=3), r.normal(size=(5, 3))
    f = gradc.value_and_grad(L.kw_everything, wrt="w")
    v, g = f(w, X)
    assert v == pytest.approx(L.kw_everything(w, X), rel=1e-13)
    assert_tree_close(g, fd_tree(L.kw_everything, (w, X), {}, 0))
    v, g = f(w, X, lam=0.5, power=3, mu=0.25)
    assert v == pytest.approx(L.kw_everything(w, X, lam=0.5, power=3, mu=0.25), rel=1e-13)
    assert_tree_close(g, fd_tree(L.kw_everything, (w, X), dict(lam=0.5, power=3, mu=0.25), 0))
    # a keyword-only float can be differentiated, and a **kwargs leaf too
    g_lam = gradc.grad(L.kw_everything, wrt="lam")(w, X, lam=0.5)
    assert type(g_lam) is float and g_lam == pytest.approx(np.sum(w ** 2), rel=1e-12)
    g_extra = gradc.grad(L.kw_everything, wrt="extra")(w, X, mu=0.25)
    assert list(g_extra) == ["mu"] and type(g_extra["mu"]) is float
    assert g_extra["mu"] == pytest.approx(np.sum(np.abs(w)), rel=1e-12)
    # binding is Python's: keyword-only parameters cannot be passed positionally
    with pytest.raises(SignatureError, match="too many positional"):
        f(w, X, 0.5)
    with pytest.raises(SignatureError, match="missing"):
        f(w)


def test_compile_with_keyword_arguments_specialises(L):
    r = rng()
    w, X = r.normal(size=3), r.normal(size=(5, 3))
    c = gradc.compile(L.kw_everything, wrt="w", kwargs=dict(w=w, X=X, lam=0.3))
    assert "def kw_everything_value_and_grad(w, X, *, lam=0.1, power=2, **extra):" in c.source
    assert len(c._specs) == 1
    np.testing.assert_allclose(c.grad(w=w, X=X, lam=0.3), c.grad(w, X, lam=0.3), rtol=0, atol=0)
    assert len(c._specs) == 1  # keywords and positions bind to the same specialisation


def test_data_batch_dict_not_differentiated(L):
    r = rng()
    w = r.normal(size=3)
    batch = {"X": r.normal(size=(4, 3)), "y": r.normal(size=4), "weight": 2.0}
    c = gradc.compile(L.batch_loss, wrt="w")
    g = c.grad(w, batch)
    assert_tree_close(g, fd_tree(L.batch_loss, (w, batch), {}, 0))
    batch2 = {k: (v + 1.0 if k != "weight" else 3.0) for k, v in batch.items()}
    assert_tree_close(c.grad(w, batch2), fd_tree(L.batch_loss, (w, batch2), {}, 0))
    assert len(c._specs) == 1  # new data, same structure and shapes: no recompiling
    c.grad(w, {"X": batch["X"][:2], "y": batch["y"][:2], "weight": 2.0})
    assert len(c._specs) == 2


def test_specialisation_key_distinguishes_structures(L):
    r = rng()
    w = r.normal(size=3)
    c = gradc.compile(L.batch_loss, wrt="w")
    X, y = r.normal(size=(4, 3)), r.normal(size=4)
    c.grad(w, {"X": X, "y": y, "weight": 1.0})
    c.grad(w, {"X": X, "y": y, "weight": 1.0, "extra": np.ones(2)})  # another key
    assert len(c._specs) == 2
    c.grad(w, {"y": y, "X": X, "weight": 1.0})  # the same keys in another order
    assert len(c._specs) == 3
    c.grad(w, {"X": X, "y": y, "weight": np.float32(1.0)})  # a leaf of another type
    assert len(c._specs) == 4
    c.grad(w, {"X": X, "y": y, "weight": 1.0})
    assert len(c._specs) == 4


def test_static_leaves_are_compile_time_and_keyed(module):
    m = module("""
        import numpy as np

        def loss(w, cfg):
            h = np.tanh(w) if cfg["act"] == "tanh" else np.sin(w)
            return cfg["scale"] * np.sum(h ** cfg["power"])
    """)
    w = np.array([0.3, -0.7, 1.1])
    c = gradc.compile(m.loss, wrt="w")
    for cfg in ({"act": "tanh", "power": 2, "scale": 0.5}, {"act": "sin", "power": 3, "scale": 0.5}):
        assert_tree_close(c.grad(w, cfg), fd_tree(m.loss, (w, cfg), {}, 0))
    assert len(c._specs) == 2
    assert "cfg_scale = np.float64(cfg['scale'])" in c.source  # a Python float computes as float64
    assert "if type(cfg['power']) is not int or cfg['power'] != 3:" in c.source  # the saved module refuses other constants
    with pytest.raises(SignatureError, match=r"cfg\['power'\]=2: it is an integer"):
        gradc.grad(m.loss, wrt="cfg")(w, {"power": 2, "act": "tanh", "scale": 0.5})
    with pytest.raises(SignatureError, match=r"cfg\['act'\]='tanh': it is a string"):
        gradc.grad(m.loss, wrt="cfg")(w, {"act": "tanh", "power": 2, "scale": 0.5})


def test_list_concatenation_and_repetition_are_python(L):
    ws = [np.array([1.0, 2.0]), np.array([3.0, -1.0])]
    x = np.array([0.5, 2.0])
    v, g = gradc.value_and_grad(L.concat, wrt="ws")(ws, x)
    assert v == pytest.approx(L.concat(ws, x))  # len(ws + ws) == 4, len(ws * 2) == 4
    assert_tree_close(g, fd_tree(L.concat, (ws, x), {}, 0))


def test_mutating_an_argument_container_is_refused(module):
    m = module("""
        import numpy as np

        def set_item(params):
            params["W"] = params["W"] * 2.0
            return np.sum(params["W"])

        def extend(ws, v):
            ws += [v]
            return np.sum(ws[0])

        def extend_alias(ws, v):
            same = ws
            same += [v]
            return np.sum(ws[-1])

        def leaf_in_place(params):
            W = params["W"]
            W += 1.0
            return np.sum(W)

        def copy_then_change(ws, v):
            ws = list(ws)
            ws += [v]
            both = ws + ws
            return np.sum(ws[-1]) + len(both)
    """)
    params = {"W": np.ones(2)}
    for fn, args in ((m.set_item, (params,)), (m.extend, ([np.ones(2)], np.ones(2))),
                     (m.extend_alias, ([np.ones(2)], np.ones(2))), (m.leaf_in_place, (params,))):
        with pytest.raises(UnsupportedSyntax) as info:
            gradc.grad(fn)(*args)
        assert info.value.loc is not None and info.value.loc.lineno > 1
    np.testing.assert_array_equal(params["W"], np.ones(2))
    # a copy is the loss's own list: changing it is exact Python
    ws, v = [np.array([1.0, 2.0])], np.array([3.0, 4.0])
    value, (g_ws, g_v) = gradc.value_and_grad(m.copy_then_change, wrt=(0, 1))(ws, v)
    assert value == m.copy_then_change(ws, v) and len(ws) == 1
    assert_tree_close(g_ws, [np.zeros(2)])
    assert_tree_close(g_v, np.ones(2))


def test_float_leaves_give_float_gradients(L):
    p = {"a": 0.7, "b": -1.3, "v": np.array([0.5, 2.0])}
    g = gradc.grad(L.float_leaves, wrt="p")(p)
    assert type(g["a"]) is float and type(g["b"]) is float and isinstance(g["v"], np.ndarray)
    assert_tree_close(g, fd_tree(L.float_leaves, (p,), {}, 0))
    p32 = {"a": np.float32(0.7), "b": -1.3, "v": np.array([0.5, 2.0])}
    g32 = gradc.grad(L.float_leaves, wrt="p")(p32)
    assert not isinstance(g32["a"], float) and np.result_type(g32["a"]) == np.float32


def test_odd_keys_are_repr_safe(L):
    key = "it's \"odd\"\n"
    p = {"W-1": np.array([1.0, -2.0]), "class": np.ones(3), 7: 1.5, key: 0.25, "é": np.array([0.1])}
    c = gradc.compile(L.odd_keys, wrt="p", args=(p,))
    g = c.grad(p)
    assert list(g) == ["W-1", "class", 7, key, "é"]
    assert_tree_close(g, fd_tree(L.odd_keys, (p,), {}, 0))
    ast.parse(c.source)
    assert "p_W_1 = p['W-1']" in c.source and "p_class = p['class']" in c.source
    assert "p_7 = np.float64(p[7])" in c.source and repr(key) in c.source
    assert all("\n" not in line and line.isprintable() for line in c.source.split("\n"))


def test_leaf_names_never_take_a_parameter_name(module):
    m = module("""
        import numpy as np

        def loss(params, params_W):
            return np.sum(params["W"] * params_W)
    """)
    a, b = np.array([1.0, 2.0]), np.array([3.0, 5.0])
    c = gradc.compile(m.loss, wrt=("params", "params_W"), args=({"W": a}, b))
    gp, gb = c.grad({"W": a}, b)
    np.testing.assert_array_equal(gp["W"], b)
    np.testing.assert_array_equal(gb, a)
    assert "params_W_2 = params['W']" in c.source


def test_saved_module_is_called_like_the_loss(L, tmp_path):
    r = rng()
    params = {"W1": r.normal(size=(3, 4)), "b1": r.normal(size=4), "W2": r.normal(size=(4, 2)), "b2": 0.1}
    X, y = r.normal(size=(6, 3)), r.normal(size=(6, 2))
    c = gradc.compile(L.mlp, wrt="params", args=(params, X, y))
    path = c.save(tmp_path / "mlp_grad.py")
    saved = load_file(path, "mlp_grad")
    assert saved.mlp(params, X, y) == pytest.approx(L.mlp(params, X, y), rel=1e-13)
    value, g = saved.mlp_value_and_grad(params, X=X, y=y)
    v2, g2 = c.value_and_grad(params, X, y)
    assert value == v2 and type(g["b2"]) is float
    assert_tree_close(g, g2, rtol=0, atol=0)

    w = r.normal(size=3)
    c = gradc.compile(L.kw_everything, wrt="w", args=(w, X), kwargs=dict(lam=0.3, mu=0.5))
    saved = load_file(c.save(tmp_path / "kw_grad.py"), "kw_grad")
    v, g = saved.kw_everything_value_and_grad(w, X, lam=0.3, mu=0.5)
    assert v == pytest.approx(L.kw_everything(w, X, lam=0.3, mu=0.5), rel=1e-13)
    np.testing.assert_array_equal(g, c.grad(w, X, lam=0.3, mu=0.5))
    with pytest.raises(ValueError, match="power=2"):  # compiled for power=2: other values are refused
        saved.kw_everything_value_and_grad(w, X, lam=0.3, power=3, mu=0.5)


def test_checkpointed_tree_gradients_match(L):
    r = rng()
    layers = [(r.normal(size=(3, 3)), r.normal(size=3)) for _ in range(4)]
    X, y = r.normal(size=(5, 3)), r.normal(size=(5, 3))
    plain = gradc.compile(L.layers_loss, wrt="layers").grad(layers, X, y)
    stepped = gradc.compile(L.layers_loss, wrt="layers", checkpoint=gradc.Revolve(snapshots=2)).grad(layers, X, y)
    assert_tree_close(stepped, plain, rtol=1e-12, atol=1e-14)


def test_tuple_argument_and_trace(L):
    r = rng()
    pair, x = (r.normal(size=(3, 2)), 0.4), r.normal(size=(4, 3))
    c = gradc.compile(L.tuple_pair, wrt="pair", args=(pair, x))
    g = c.grad(pair, x)
    assert type(g) is tuple and type(g[1]) is float
    assert_tree_close(g, fd_tree(L.tuple_pair, (pair, x), {}, 0))
    assert "pair_0" in str(c.trace(pair, x))


def test_refusals_are_signature_errors(L, module):
    r = rng()
    X, y = r.normal(size=(6, 3)), r.normal(size=(6, 2))
    with pytest.raises(SignatureError, match=r"key \(1, 2\)"):
        gradc.grad(L.mlp)({(1, 2): np.ones(2)}, X, y)
    from collections import OrderedDict
    with pytest.raises(SignatureError, match="OrderedDict, a subclass of dict"):
        gradc.grad(L.mlp)(OrderedDict(W1=np.ones((3, 4))), X, y)
    with pytest.raises(SignatureError, match=r"params\['W1'\]: its dtype is int64"):
        gradc.grad(L.mlp)({"W1": np.ones((3, 4), dtype=np.int64)}, X, y)
    deep = []
    for _ in range(100):
        deep = [deep]
    with pytest.raises(SignatureError, match="nested more than"):
        gradc.grad(L.mlp)(deep, X, y)
    # forward mode and second derivatives take arrays and floats as wrt arguments
    m = module("""
        import numpy as np

        def loss(p, x):
            return np.sum(p["w"] ** 2 * x)
    """)
    p, x = {"w": np.ones(2)}, np.array([1.0, 2.0])
    for call in (lambda: gradc.jvp(m.loss, (p, x), (p,), wrt="p"),
                 lambda: gradc.vjp(m.loss, p, x, wrt="p"),
                 lambda: gradc.hvp(m.loss, wrt="p")(p, x, p),
                 lambda: gradc.hessian(m.loss, wrt="p")(p, x),
                 lambda: gradc.jacobian(m.loss, wrt="p")(p, x)):
        with pytest.raises(SignatureError, match="parameter tree"):
            call()
    # ... while other arguments may be trees
    hv = gradc.hvp(m.loss, wrt="x")(p, x, np.ones(2))
    np.testing.assert_allclose(hv, np.zeros(2))
    h = gradc.hessian(lambda_free_loss(module), wrt="w")(np.array([1.0, 2.0]), {"s": 3.0})
    np.testing.assert_allclose(h, 6.0 * np.eye(2))


def lambda_free_loss(module):
    return module("""
        import numpy as np

        def loss(w, c):
            return c["s"] * np.sum(w ** 2)
    """).loss


def test_errors_inside_trees_are_compile_errors(module):
    m = module("""
        import numpy as np

        def missing_key(p):
            return np.sum(p["nope"])

        def returns_tree(p):
            return p
    """)
    with pytest.raises(CompileError, match="nope"):
        gradc.grad(m.missing_key)({"w": np.ones(2)})
    with pytest.raises(SignatureError, match="returns"):
        gradc.grad(m.returns_tree)({"w": np.ones(2)})
