"""A saved module is called exactly like the loss, defaults included: NumPy scalars as exact
`np.float32(...)` literals, arrays bit for bit (inline when small, from `<stem>_consts.npz` when
large), dicts, lists and tuples of them. A default no source can make is refused at save time,
naming the parameter, rather than written as a module with another signature. Such defaults
used to be dropped, with every positional default before them (the module then raised
TypeError when called like the loss)."""
import importlib.util
import inspect
import sys

import numpy as np
import pytest

import gradc
from fixtures.numeric import fd_grad


def load_module(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_source(tmp_path, name, text):
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    sys.path.insert(0, str(tmp_path))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(tmp_path))


def same_bits(a, b) -> bool:
    """Equal type, dtype, shape and bytes (containers item by item)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same_bits(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(same_bits, a, b))
    if isinstance(a, (np.ndarray, np.generic)):
        return a.dtype == b.dtype and np.shape(a) == np.shape(b) and np.asarray(a).tobytes() == np.asarray(b).tobytes()
    if isinstance(a, float):
        return np.float64(a).tobytes() == np.float64(b).tobytes()
    return a == b


def test_attack_a_numpy_scalar_default_keeps_every_default(tmp_path):
    """The adversarial round's repro: `lam=0.1, scale=np.float32(2.0)` became `lam, scale`."""
    m = write_source(tmp_path, "mloss_a", "import numpy as np\n"
                     "def loss(w, lam=0.1, scale=np.float32(2.0), k=3):\n"
                     "    return np.sum(w ** k) * lam * scale\n")
    w = np.array([0.5, -1.0, 2.0])
    c = gradc.compile(m.loss, wrt="w", args=(w,))
    module = load_module(c.save(tmp_path / "loss_grad.py"))
    value, g = module.loss_value_and_grad(w)
    assert value == m.loss(w)
    np.testing.assert_allclose(g, fd_grad(m.loss, (w,), 0), rtol=1e-6)
    assert module.loss(w) == m.loss(w)
    assert str(inspect.signature(module.loss_value_and_grad)) == str(inspect.signature(m.loss))


SOURCE = '''import numpy as np
BIG = np.linspace(-1.0, 1.0, 40).reshape(8, 5).astype(np.float32)


def loss(w, A=BIG, b=np.array([0.25, -0.5, 1e-3, 0.0, -0.0, 1e-40, 3.0, -2.0], dtype=np.float32),
         cfg={"scale": np.float32(0.1), "half": np.float16(0.1), "shift": np.float64(-0.0), "n": 2, "pair": (1.5, np.int64(3))},
         terms=[np.float32(1.0 / 3.0), np.array(2.5)], flag=np.bool_(True), tag="x'\\n", *,
         lam=np.float64(1e-300), inf=np.float32(np.inf), big=BIG + 1):
    h = A @ w + b
    out = np.sum(h ** cfg["n"]) * cfg["scale"] + cfg["shift"] + cfg["pair"][0] * terms[0] + terms[1]
    return out + lam * np.sum(w) + np.sum(big[0]) * 0.0 + np.minimum(inf, 1.0)
'''


@pytest.mark.parametrize("name", ["defaults_numpy", "defaults_arrayapi"])
def test_every_kind_of_default_is_kept_bit_for_bit(tmp_path, name):
    m = write_source(tmp_path, name, SOURCE)
    w = np.array([0.3, -0.7, 1.1, 0.2, 0.5], dtype=np.float32)
    c = gradc.compile(m.loss, wrt="w", args=(w,))
    value, g = gradc.value_and_grad(m.loss, wrt="w")(w)
    backend = "array-api" if name.endswith("arrayapi") else "numpy"
    path = c.save(tmp_path / f"{name}_grad.py", backend=backend)
    assert (tmp_path / f"{name}_grad_consts.npz").exists()  # BIG and BIG + 1: too large to write inline
    module = load_module(path)
    for fn in (module.loss, module.loss_value_and_grad, module.check_arguments):
        same_signature(fn, m.loss)
    v2, g2 = module.loss_value_and_grad(w)  # called like the loss: every default from the module
    assert v2 == value == m.loss(w)
    assert g2.dtype == np.float32
    np.testing.assert_array_equal(g2, g)
    w64 = w.astype(np.float64)
    np.testing.assert_allclose(g, fd_grad(lambda x: m.loss(x.astype(np.float32)).astype(np.float64), (w64,), 0,
                                          eps=1e-3), rtol=2e-2, atol=1e-2)


def same_signature(fn, loss):
    saved = inspect.signature(fn).parameters
    for p in inspect.signature(loss).parameters.values():
        assert saved[p.name].kind == p.kind, p.name
        assert (saved[p.name].default is p.empty) == (p.default is p.empty), p.name
        if p.default is not p.empty:
            assert same_bits(saved[p.name].default, p.default), p.name
    assert list(saved) == list(inspect.signature(loss).parameters)


def test_in_memory_module_keeps_defaults_too(tmp_path):
    """The module gradc runs (`.source`) has the same signature: large defaults bound by the runtime."""
    m = write_source(tmp_path, "defaults_mem", SOURCE)
    w = np.ones(5, np.float32)
    c = gradc.compile(m.loss, wrt="w", args=(w,))
    same_signature(c.latest.value_fn, m.loss)
    same_signature(c.latest.value_and_grad_fn, m.loss)
    assert "        A=A_default,\n" in c.source and "# A_default: float32[8, 5], bound by the gradc runtime" in c.source
    assert "        terms=[np.float32(0.3333333432674408), np.array(2.5)],\n" in c.source


def test_scalar_module_keeps_defaults(tmp_path):
    """A scalar module (Python floats and math) keeps the defaults too: here a NumPy scalar the
    call overrides with a Python float (the module then checks for a Python float, as compiled),
    and with a large default array, the NumPy module it then is (it has the constant)."""
    m = write_source(tmp_path, "defaults_scalar", "import numpy as np\n"
                     "def f(x, a=np.float64(0.5), *, s='k'):\n"
                     "    return x ** 2 * a\n"
                     "def g(x, a=np.full(20, 0.5), *, s='k'):\n"
                     "    return x ** 2 * a\n")
    c = gradc.compile(m.f, wrt="x", args=(1.5, 0.5))
    assert "import math" in c.source  # the scalar module
    module = load_module(c.save(tmp_path / "f_grad.py"))
    same_signature(module.f_value_and_grad, m.f)
    assert module.f_value_and_grad(1.5, 0.5) == (m.f(1.5, 0.5), 1.5)
    with pytest.raises(ValueError, match="a Python float"):
        module.f_value_and_grad(1.5)  # np.float64(0.5): another specialisation than the saved one
    c = gradc.compile(m.g, wrt="x", args=(1.5, 0.5))
    assert "import math" not in c.source
    module = load_module(c.save(tmp_path / "g_grad.py"))
    same_signature(module.g_value_and_grad, m.g)
    assert module.g_value_and_grad(1.5, 0.5) == (m.g(1.5, 0.5), 1.5)


class Opaque:
    pass


def test_unwritable_default_is_refused_naming_the_parameter(tmp_path):
    m = write_source(tmp_path, "defaults_opaque", "import numpy as np\n"
                     "class Opaque:\n    pass\n"
                     "def loss(w, lam=0.1, opts=Opaque(), k=2):\n"
                     "    return np.sum(w ** k) * lam\n")
    w = np.array([1.0, 2.0])
    c = gradc.compile(m.loss, wrt="w", args=(w, 0.1, None))  # the default itself is never used here
    for backend in ("numpy", "array-api"):
        path = tmp_path / f"out_{backend.replace('-', '_')}.py"
        with pytest.raises(gradc.CompileError, match=r"default of parameter opts .*Opaque"):
            c.save(path, backend=backend)
        assert not path.exists()
    assert c.grad(w, 0.1, None).tolist() == [0.2, 0.4]


UNWRITABLE = {
    "set": "{1, 2}",
    "str-array": "np.array(['a', 'b'])",
    "complex": "np.complex128(1j)",
    "function-in-list": "[print]",
    "tuple-key": "{(1, 2): 3.0}",
    "nan-payload": "np.frombuffer(bytes([1, 0, 192, 127]), dtype=np.float32)[0]",  # a NaN, not np.nan's bits
    "nested-too-deep": "[" * 70 + "]" * 70,
    "numpy-scalar-subclass": "type('F64', (np.float64,), {})(1.0)",
}


@pytest.mark.parametrize("kind", list(UNWRITABLE))
def test_other_unwritable_defaults(tmp_path, kind):
    m = write_source(tmp_path, f"defaults_bad_{kind.replace('-', '_')}", "import numpy as np\n"
                     f"def loss(w, extra={UNWRITABLE[kind]}):\n"
                     "    return np.sum(w * w)\n")
    w = np.array([1.0, 2.0])
    c = gradc.compile(m.loss, wrt="w", args=(w, None))
    with pytest.raises(gradc.CompileError, match="default of parameter extra"):
        c.save(tmp_path / "out.py")
    assert not (tmp_path / "out.py").exists()


def test_signed_nans_infinities_and_negative_zero_are_kept(tmp_path):
    m = write_source(tmp_path, "defaults_special", "import numpy as np\n"
                     "def loss(w, a=np.float32(-np.nan), b=np.float16(-np.inf), c=np.float64(-0.0),\n"
                     "         d=np.array([np.nan, -np.nan, -0.0, 5e-324]), e=np.uint64(2**64 - 1), f=np.longlong(7),\n"
                     "         g=(np.bool_(False), np.array([True, False])), h=b'\\x00\\n'):\n"
                     "    return np.sum(w * w)\n")
    w = np.array([1.0, 2.0])
    c = gradc.compile(m.loss, wrt="w", args=(w,), kwargs={"h": None})  # (bytes are no argument gradc takes)
    same_signature(load_module(c.save(tmp_path / "out.py")).loss_value_and_grad, m.loss)


def test_checkpointed_saved_module_keeps_defaults(tmp_path):
    m = write_source(tmp_path, "defaults_ckpt", "import numpy as np\n"
                     "def rnn(h, W, n=3, scale=np.float64(0.5)):\n"
                     "    for _ in range(n):\n"
                     "        h = np.tanh(W @ h) * scale\n"
                     "    return np.sum(h)\n")
    h, W = np.array([0.1, 0.2]), np.array([[0.5, -0.3], [0.2, 0.8]])
    c = gradc.compile(m.rnn, wrt="W", args=(h, W), checkpoint=gradc.Revolve(snapshots=1))
    module = load_module(c.save(tmp_path / "rnn_grad.py"))
    value, g = module.rnn_value_and_grad(h, W)
    assert value == pytest.approx(m.rnn(h, W), rel=1e-14)
    np.testing.assert_allclose(g, fd_grad(lambda W_: m.rnn(h, W_), (W,), 0), rtol=1e-6)
    assert same_bits(inspect.signature(module.rnn_value_and_grad).parameters["scale"].default, np.float64(0.5))
