"""Every primitive the Dask backend accepts (compiler/backends/dask.py SUPPORTED) stays lazy on
Dask arrays and gives NumPy's value and gradient to 1e-12, forward and adjoint spellings both,
on the registry's own test cases (tests/test_primitives.py); and every primitive outside
SUPPORTED is refused, not run."""
import numpy as np
import pytest

da = pytest.importorskip("dask.array")
import dask  # noqa: E402

from gradc import codegen  # noqa: E402
from gradc.api import compile_program  # noqa: E402
from gradc.backends import dask as dask_backend  # noqa: E402
from gradc.errors import CompileError  # noqa: E402
from gradc.primitives import registry  # noqa: E402
from test_primitives import CASES, build  # noqa: E402

# Dask falls back to NumPy (computing) for a function it does not implement, with a FutureWarning.
pytestmark = pytest.mark.filterwarnings("error::FutureWarning")

PAIRS = [(name, i) for name in sorted(dask_backend.SUPPORTED) for i in range(len(CASES.get(name, [])))]


def test_every_supported_primitive_has_cases():
    assert not [n for n in dask_backend.SUPPORTED if not CASES.get(n)]
    assert all(n in registry for n in dask_backend.SUPPORTED)


def _chunked(a):
    a = np.asarray(a)
    if a.ndim == 0:
        return da.from_array(a)
    return da.from_array(a, chunks=(max(1, -(-a.shape[0] // 2)),) + a.shape[1:])


def _lazy_spec(built):
    token = codegen.FLAVOUR.set(dask_backend.LAZY)
    try:
        return compile_program(built.program, grouped=True)
    finally:
        codegen.FLAVOUR.reset(token)


@pytest.mark.parametrize("name,i", PAIRS, ids=[f"{n}-{i}" for n, i in PAIRS])
def test_supported_primitive_is_lazy_and_exact_on_dask(name, i):
    built = build(name, CASES[name][i], seed=i)
    want = compile_program(built.program, grouped=True).value_and_grad_fn(*built.arrays)
    want_value, want_grads = (want, ()) if not built.wrt else want
    spec = _lazy_spec(built)
    kinds = [("dask",)] * len(built.program.inputs)
    try:
        dask_backend.check((spec.ir, spec.adjoint_ir), kinds)  # nothing outside SUPPORTED on the data
    except CompileError as e:  # a case needing a reshape Dask cannot do for every chunking
        assert name in ("reshape", "outer") and "length-1 axes" in str(e), e
        return
    assert "+=" not in spec.source
    result = spec.value_and_grad_fn(*[_chunked(a) for a in built.arrays])
    value, grads = (result, ()) if not built.wrt else result
    assert dask_backend.is_dask(value), spec.source
    value, grads = dask.compute(value, grads, scheduler="sync")
    np.testing.assert_allclose(value, want_value, rtol=1e-12, atol=1e-12, err_msg=spec.source)
    for g, w in zip(grads, want_grads):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(np.asarray(g, dtype=np.float64), np.asarray(w, dtype=np.float64),
                                   rtol=1e-12, atol=1e-12, err_msg=spec.source)


OTHERS = sorted(n for n in CASES if n not in dask_backend.SUPPORTED and n in registry)


@pytest.mark.parametrize("name", OTHERS)
def test_other_primitives_are_refused_on_dask_data(name):
    built = build(name, CASES[name][0], seed=0)
    kinds = [("dask",)] * len(built.program.inputs)
    with pytest.raises(CompileError, match=name):
        dask_backend.check((built.program,), kinds)
