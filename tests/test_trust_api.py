"""Trust in the API: compiled code never runs on stale compile-time values, refuses what
it would misread (decorators, callable objects), never overwrites files silently, and
keeps its caches bounded."""
import functools
import gc
import importlib.util
import linecache
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest

import gradc
from gradc import api
from gradc.errors import CompileError
from gradc.frontend import python as py_frontend

X = np.array([1.0, 2.0, 3.0])


@pytest.fixture
def module(tmp_path):
    """module(source, name=...) → a freshly imported module written to tmp_path."""
    made = []

    def make(source, name=None):
        name = name or f"trust_mod_{len(made)}_{abs(hash(str(tmp_path))) % 10**8}"
        path = tmp_path / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        made.append(name)
        return mod

    yield make
    for name in made:
        sys.modules.pop(name, None)


# -- 9. stale compiled code ---------------------------------------------------------


def test_nonlocal_change_is_seen(module):
    m = module("""
        import numpy as np

        def make():
            scale = 2.0
            def loss(x):
                return scale * np.sum(x ** 2)
            def set_scale(s):
                nonlocal scale
                scale = s
            return loss, set_scale
    """)
    loss, set_scale = m.make()
    g = gradc.grad(loss)
    np.testing.assert_allclose(g(X), 4 * X)
    set_scale(3.0)
    np.testing.assert_allclose(g(X), 6 * X)
    np.testing.assert_allclose(gradc.grad(loss)(X), 6 * X)


def test_closures_sharing_code_keep_their_own_values(module):
    m = module("""
        import numpy as np

        def make(scale):
            def loss(x):
                return scale * np.sum(x ** 2)
            return loss
    """)
    np.testing.assert_allclose(gradc.grad(m.make(2.0))(X), 4 * X)
    np.testing.assert_allclose(gradc.grad(m.make(3.0))(X), 6 * X)


def test_module_dict_mutated_in_place(module):
    m = module("""
        import numpy as np
        CONFIG = {"temp": 0.5}

        def loss(x):
            return np.sum(x ** 2) * CONFIG["temp"]
    """)
    g = gradc.grad(m.loss)
    np.testing.assert_allclose(g(X), X)
    m.CONFIG["temp"] = 0.25
    np.testing.assert_allclose(g(X), 0.5 * X)
    np.testing.assert_allclose(gradc.value_and_grad(m.loss)(X)[1], 0.5 * X)


def test_module_array_mutated_in_place(module):
    m = module("""
        import numpy as np
        DATA = np.array([1.0, 2.0, 3.0])

        def loss(x):
            return np.sum(x * DATA) + np.sum(x) * DATA.sum()
    """)
    g = gradc.grad(m.loss)
    np.testing.assert_allclose(g(X), m.DATA + 6.0)
    m.DATA[:] = [10.0, 20.0, 30.0]
    np.testing.assert_allclose(g(X), m.DATA + 60.0)
    m.DATA[1] = -1.0
    np.testing.assert_allclose(g(X), m.DATA + 39.0)


def test_module_list_mutated(module):
    m = module("""
        import numpy as np
        WEIGHTS = [1.0, 2.0]

        def loss(x):
            total = 0.0
            for w in WEIGHTS:
                total = total + w * np.sum(x ** 2)
            return total
    """)
    g = gradc.grad(m.loss)
    np.testing.assert_allclose(g(X), 6 * X)
    m.WEIGHTS.append(3.0)
    np.testing.assert_allclose(g(X), 12 * X)
    m.WEIGHTS[0] = 0.0
    np.testing.assert_allclose(g(X), 10 * X)


def test_attribute_of_an_imported_module_changed(module):
    settings = module("""
        SCALE = 2.0
    """, name="trust_settings")
    m = module("""
        import numpy as np
        import trust_settings

        def loss(x):
            return trust_settings.SCALE * np.sum(x ** 2)
    """)
    g = gradc.grad(m.loss)
    np.testing.assert_allclose(g(X), 4 * X)
    settings.SCALE = 5.0
    np.testing.assert_allclose(g(X), 10 * X)


def test_global_read_by_a_nested_helper_changed(module):
    m = module("""
        import numpy as np
        FACTOR = 2.0
        TABLE = {"shift": np.array([0.0, 0.0, 0.0])}

        def inner(x):
            return FACTOR * np.sum((x - TABLE["shift"]) ** 2)

        def middle(x):
            return inner(x)

        def loss(x):
            return middle(x)
    """)
    g = gradc.grad(m.loss)
    np.testing.assert_allclose(g(X), 4 * X)
    m.FACTOR = 1.0  # rebound
    np.testing.assert_allclose(g(X), 2 * X)
    m.TABLE["shift"][:] = 1.0  # an array inside a dict, changed in place
    np.testing.assert_allclose(g(X), 2 * (X - 1.0))


def test_helper_default_argument_mutated(module):
    m = module("""
        import numpy as np
        OFFSET = np.zeros(3)

        def helper(x, offset=OFFSET):
            return np.sum((x - offset) ** 2)

        def loss(x):
            return helper(x)
    """)
    g = gradc.grad(m.loss)
    np.testing.assert_allclose(g(X), 2 * X)
    m.OFFSET += 1.0
    np.testing.assert_allclose(g(X), 2 * (X - 1.0))


def test_module_float_rebound_with_global(module):
    m = module("""
        import numpy as np
        RATE = 2

        def loss(x):
            return RATE * np.sum(x ** 2)

        def set_rate(r):
            global RATE
            RATE = r
    """)
    g = gradc.value_and_grad(m.loss)
    np.testing.assert_allclose(g(X)[1], 4 * X)
    m.set_rate(0.5)
    np.testing.assert_allclose(g(X)[1], X)
    np.testing.assert_allclose(gradc.value_and_grad(m.loss)(X)[1], X)


def test_unchanged_values_do_not_recompile(module):
    m = module("""
        import numpy as np
        DATA = np.array([1.0, 2.0, 3.0])
        CONFIG = {"temp": 0.5, "sizes": [1, 2]}

        def loss(x):
            return np.sum(x * DATA) * CONFIG["temp"]
    """)
    c = gradc.compile(m.loss)
    c.grad(X)
    first = c.latest
    for _ in range(3):
        c.grad(X)
    assert c.latest is first
    m.CONFIG["sizes"].append(3)  # read through the dict: compared, so compiled again
    c.grad(X)
    assert c.latest is not first


# -- 10. decorators, callable objects, partials, methods ---------------------------------


def test_functools_wraps_decorator_is_refused(module):
    m = module("""
        import functools
        import numpy as np

        def scaled(fn):
            @functools.wraps(fn)
            def wrapper(*args, **kwargs):
                return 2 * fn(*args, **kwargs)
            return wrapper

        @scaled
        def loss(x):
            return np.sum(x ** 2)

        @scaled
        def helper(x):
            return np.sum(x ** 2)

        def uses_helper(x):
            return helper(x)
    """)
    with pytest.raises(CompileError, match=r"loss is wrapped by decorator 'scaled' \(functools.wraps\)"):
        gradc.grad(m.loss)(X)
    with pytest.raises(CompileError, match="helper is wrapped by decorator 'scaled'"):
        gradc.grad(m.uses_helper)(X)
    np.testing.assert_allclose(gradc.grad(m.loss.__wrapped__)(X), 2 * X)


def test_decorator_without_wraps_is_compiled_as_called(module):
    m = module("""
        import numpy as np

        def scaled(fn):
            def wrapper(x):
                return 2 * fn(x)
            return wrapper

        @scaled
        def loss(x):
            return np.sum(x ** 2)
    """)
    np.testing.assert_allclose(gradc.grad(m.loss)(X), 4 * X)


def test_checkpoint_marked_function_still_compiles(module):
    m = module("""
        import numpy as np
        import gradc

        @gradc.checkpoint
        def block(x):
            return np.tanh(x)

        def loss(x):
            return np.sum(block(block(x)))
    """)
    expected = gradc.grad(m.loss)(X)
    np.testing.assert_allclose(gradc.grad(m.loss, checkpoint="segments")(X), expected)
    np.testing.assert_allclose(gradc.grad(m.block.fn)(np.array(0.3)), 1 - np.tanh(0.3) ** 2)
    np.testing.assert_allclose(gradc.grad(gradc.checkpoint(m.loss))(X), expected)


def test_callable_objects_partials_and_methods(module):
    m = module("""
        import numpy as np

        class Loss:
            def __call__(self, x):
                return np.sum(x ** 2)

            def method(self, x):
                return np.sum(x ** 2)

            @staticmethod
            def static(x):
                return 3 * np.sum(x ** 2)

        def loss(x, y):
            return np.sum((x - y) ** 2)
    """)
    with pytest.raises(CompileError, match="callable Loss object"):
        gradc.grad(m.Loss())
    with pytest.raises(CompileError, match="functools.partial"):
        gradc.grad(functools.partial(m.loss, y=X))
    with pytest.raises(CompileError, match="bound method"):
        gradc.grad(m.Loss().method)
    np.testing.assert_allclose(gradc.grad(m.Loss.static)(X), 6 * X)
    np.testing.assert_allclose(gradc.grad(m.Loss.__dict__["static"])(X), 6 * X)


# -- 14. files ------------------------------------------------------------------------


def test_save_refuses_to_overwrite(tmp_path, module):
    m = module("""
        import numpy as np

        def loss(x):
            return np.sum(x ** 2)
    """)
    c = gradc.compile(m.loss, args=(X,))
    out = tmp_path / "out.py"
    c.save(out)
    with pytest.raises(api.OverwriteRefused, match="overwrite=True"):
        c.save(out)
    with pytest.raises(FileExistsError):
        c.save(str(out))
    c.save(out, overwrite=True)
    source = m.__file__
    before = open(source).read()
    with pytest.raises(api.OverwriteRefused, match="source file"):
        c.save(source, overwrite=True)
    assert open(source).read() == before


def test_save_refuses_to_overwrite_the_constants_file(tmp_path, module):
    m = module("""
        import numpy as np
        BIG = np.linspace(0.0, 1.0, 5000)

        def loss(x):
            return np.sum(x[0] * BIG) + np.sum(x ** 2)
    """)
    c = gradc.compile(m.loss, args=(X,))
    (tmp_path / "out_consts.npz").write_bytes(b"keep me")
    with pytest.raises(api.OverwriteRefused, match="out_consts.npz"):
        c.save(tmp_path / "out.py")
    assert not (tmp_path / "out.py").exists()
    assert (tmp_path / "out_consts.npz").read_bytes() == b"keep me"


def test_render_refuses_to_overwrite(tmp_path, module):
    m = module("""
        import numpy as np

        def loss(x):
            return np.sum(x ** 2)
    """)
    c = gradc.compile(m.loss, args=(X,))
    out = tmp_path / "graph.svg"
    out.write_text("keep me")
    with pytest.raises(api.OverwriteRefused):
        c.render(out)
    assert out.read_text() == "keep me"


# -- 15. bounded caches ---------------------------------------------------------------


def test_specialisations_are_bounded_and_memory_stays_flat(module):
    m = module("""
        import numpy as np

        def loss_bounded(x):
            return np.sum(np.tanh(x) ** 2) / x.shape[0]  # a different module for every shape
    """)
    c = gradc.compile(m.loss_bounded)
    c.max_specializations = 4

    def run(n0, n1):
        for n in range(n0, n1):
            c.grad(np.ones(n))

    def gradc_lines():
        return sum(1 for k in linecache.cache if str(k).startswith("<gradc:loss_bounded"))

    run(1, 40)
    tracemalloc.start()
    try:
        run(40, 60)
        gc.collect()  # garbage in reference cycles waiting for the collector is not held memory
        base = tracemalloc.get_traced_memory()[0]
        run(60, 300)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert len(c._specs) == 4
    assert gradc_lines() <= 4
    assert grown < 1_000_000, f"memory grew by {grown} bytes over 240 new shapes"
    np.testing.assert_allclose(c.grad(np.ones(2)), np.tanh(1) * (1 - np.tanh(1) ** 2) * np.ones(2))


def test_compiled_function_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(api, "MAX_COMPILED", 8, raising=False)
    for k in range(20):
        gradc.grad(f"x * {k + 1}.5")(2.0)
    assert len(api._cache) <= 8


def test_source_cache_is_bounded(module, monkeypatch):
    monkeypatch.setattr(py_frontend, "SOURCE_CACHE_SIZE", 5, raising=False)
    m = module("import numpy as np\n" + "".join(
        f"\ndef f{k}(x):\n    return np.sum(x) * {k}\n" for k in range(12)))
    for k in range(12):
        py_frontend.parse_function(getattr(m, f"f{k}"))
    assert len(py_frontend._source_cache) <= 5


def test_unhashable_callable_and_ragged_list_are_refused_cleanly(module):
    m = module("""
        import numpy as np

        class Loss:
            __hash__ = None

            def __call__(self, x):
                return np.sum(x ** 2)

        def loss(layers):
            return np.sum(layers[0]) + np.sum(layers[1])
    """)
    with pytest.raises(CompileError, match="callable Loss object"):
        gradc.grad(m.Loss())
    # a ragged list of arrays is a parameter tree: its gradient is a list like it
    g = gradc.grad(m.loss)([np.ones(2), np.ones(3)])
    assert type(g) is list and [x.shape for x in g] == [(2,), (3,)]
    with pytest.raises(CompileError, match=r"argument layers\[1\] is a set"):
        gradc.grad(m.loss)([np.ones(2), {1.0}])


def test_identical_functions_in_two_files_keep_their_own_file(module, tmp_path):
    text = """
        import numpy as np

        def loss(x):
            return np.sum(x ** 2)
    """
    a, b = module(text), module(text)
    assert a.loss.__code__ == b.loss.__code__  # Python compares code objects without the file name
    gradc.compile(a.loss, args=(X,))
    cb = gradc.compile(b.loss, args=(X,))
    assert cb.source_files() == (b.__file__,)
    with pytest.raises(api.OverwriteRefused, match="source file"):
        cb.save(b.__file__, overwrite=True)
