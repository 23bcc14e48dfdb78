"""Benchmark gradc's value_and_grad against hand-written NumPy (and JAX, PyTorch,
HIPS autograd and, for the scalar formula, SymPy's lambdify when they are importable).

    .venv/bin/python benchmarks/bench_value_and_grad.py            # full run (`make bench`)
    .venv/bin/python benchmarks/bench_value_and_grad.py --quick    # smoke run, a few seconds
    .venv/bin/python benchmarks/bench_value_and_grad.py --out out/bench

For every workload in benchmarks/workloads.py it first checks that gradc's value
and gradients match the hand-written NumPy ones (and that those pass a
finite-difference check), aborting with a non-zero exit status if not; then it
times one value-and-gradient evaluation of each implementation. Each workload runs in
a fresh interpreter pinned to one core (single-threaded BLAS), the implementations
interleaved round-robin, and the table gives the median of >= 21 samples with their
spread, next to the peak memory of one call (tracemalloc). See benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import os
import sys

# --threads must take effect before NumPy (and its BLAS) is imported.
import blas_threads  # noqa: E402,F401  (before NumPy: --threads reaches the BLAS)

import inspect  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import timeit  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import gradc
from workloads import WORKLOADS, torch_losses, xp_losses  # noqa: E402

RTOL = 1e-6   # gradc vs hand NumPy, as np.allclose(gradc, hand, rtol=RTOL, atol=ATOL * scale)
ATOL = 1e-12  # relative to the largest |entry| of the reference, so all-tiny gradients still compare
FD_TOL = 1e-4  # finite-difference sanity check of the hand-written gradients
LOAD_WARN = 0.05  # warn when other processes took more than this share of the CPUs
FRAMEWORKS = ("jax", "torch", "autograd")
SAMPLES = 21  # timing samples per implementation (the median and quartiles come from these)
# gradc / hand ratios the issue asks for (gradc issue #13): the table's last column
GOALS = {"seed000": 1.05, "seed002": 0.4, "softmax_reg": 1.02, "mlp": 1.02, "logreg_200k": 1.0}
# peak memory means something only where the allocations go through Python's allocator or
# NumPy's (tracemalloc sees them): not JAX's or PyTorch's own
TRACED = ("hand", "gradc", "gradc_fn", "gradc_formula", "autograd", "lambdify")


class VerificationError(AssertionError):
    pass


def arg_names(w) -> list:
    return list(inspect.signature(w.loss).parameters)


# -- machine information --------------------------------------------------------

def blas_info() -> dict:
    info = {"name": "unknown", "threads": None}
    try:
        deps = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        info["name"] = f"{deps.get('name', '?')} {deps.get('version', '')}".strip()
    except Exception:  # older NumPy, or a build without the dict
        pass
    try:
        import threadpoolctl  # optional
        pools = [p for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            info["threads"] = pools[0]["num_threads"]
            return info
    except ImportError:
        pass
    try:  # NumPy's bundled scipy-openblas: ask it directly
        import ctypes
        with open("/proc/self/maps") as f:
            libs = sorted({line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line})
        for lib in libs:
            dll = ctypes.CDLL(lib)
            for sym in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_",
                        "openblas_get_num_threads"):
                if hasattr(dll, sym):
                    info["threads"] = int(getattr(dll, sym)())
                    return info
    except Exception:
        pass
    return info


def gradc_revision() -> str:
    """The checkout's commit, with '+dirty' when compiler/ or runtime/ has local changes."""
    import subprocess
    root = HERE.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "compiler", "runtime"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (rev or "?") + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine_info() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "gradc": getattr(gradc, "__version__", "?"),
        "gradc_revision": gradc_revision(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "blas": blas_info(),
        "thread_env": {v: os.environ[v] for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                                                  "MKL_NUM_THREADS") if v in os.environ},
    }


# -- verification ----------------------------------------------------------------

def _max_err(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)),
                        initial=0.0))


def compare(value, grads, ref_value, ref_grads, wrt) -> tuple[bool, dict]:
    """(all close?, max abs error per output) for value and gradients against the reference."""
    ok, errs = True, {}
    grads = tuple(grads)
    if len(grads) != len(ref_grads):
        return False, {"grads": f"{len(grads)} gradients, expected {len(ref_grads)}"}
    for name, got, ref in [("value", value, ref_value), *zip(wrt, grads, ref_grads)]:
        got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
        if got.shape != ref.shape:
            ok = False
            errs[name] = f"shape {got.shape}, expected {ref.shape}"
            continue
        scale = max(1.0, float(np.max(np.abs(ref), initial=0.0)))
        errs[name] = _max_err(got, ref)
        ok &= bool(np.allclose(got, ref, rtol=RTOL, atol=ATOL * scale))
    return ok, errs


def finite_difference_check(w, args, ref_grads, rng) -> float:
    """Relative error of the hand gradient along one random direction, by central
    differences. The best of a few step sizes: relu's kinks make large steps
    unreliable and round-off makes small ones so, and the check only guards
    against a hand gradient that is plainly wrong (gradc is compared at rtol 1e-6)."""
    pos = [arg_names(w).index(n) for n in w.wrt]
    dirs = [rng.standard_normal(np.shape(args[p])) for p in pos]
    exact = sum(float(np.sum(g * d)) for g, d in zip(ref_grads, dirs))

    def f(step):
        a = list(args)
        for p, d in zip(pos, dirs):
            a[p] = args[p] + step * d
        return w.hand(*a)[0]

    errs = [abs((f(eps) - f(-eps)) / (2 * eps) - exact) / max(abs(exact), 1e-8)
            for eps in (1e-5, 1e-6, 1e-7)]
    return min(errs)


# -- timing ------------------------------------------------------------------------

def calibrate(fn, min_time: float) -> int:
    """Loop count (1-2-5 steps) so that one repeat takes about min_time. The per-call
    estimate is the best of three short trials, so one stall on a busy machine
    cannot shrink the loop count."""
    timer = timeit.Timer(fn)
    timer.timeit(1)  # warm-up
    n = 1
    while True:
        t = min(timer.repeat(3, n))
        if t >= min(0.02, min_time / 5) or n >= 10**6:
            break
        n *= 10
    want = max(1.0, min_time / max(t / n, 1e-9))
    decade = 10 ** int(np.floor(np.log10(want)))
    return next(k * decade for k in (1, 2, 5, 10) if k * decade >= want)


class CpuLoad:
    """CPU time that other processes took while a block ran, as a fraction of the
    machine (Linux /proc/stat; None elsewhere). Timings taken while others compete
    for the cores, BLAS threads especially, are unreliable."""

    def __enter__(self):
        self.fraction = None
        self._start = self._sample()
        return self

    def __exit__(self, *exc):
        end = self._sample()
        if self._start and end:
            (busy0, own0, wall0), (busy1, own1, wall1) = self._start, end
            ncpu = os.cpu_count() or 1
            self.fraction = max(0.0, (busy1 - busy0) - (own1 - own0)) / max(1e-9, (wall1 - wall0) * ncpu)
        return False

    @staticmethod
    def _sample():
        try:
            with open("/proc/stat") as f:
                fields = [int(x) for x in f.readline().split()[1:]]
            busy = sum(fields[:3]) + sum(fields[5:8])  # user nice system irq softirq steal
            t = os.times()
            return busy / os.sysconf("SC_CLK_TCK"), t.user + t.system, time.perf_counter()
        except (OSError, ValueError, AttributeError):
            return None


def wait_for_idle(max_wait: float, threshold: float = 0.05) -> float | None:
    """Wait (up to max_wait seconds) for a 1 s window in which other processes use
    less than `threshold` of the CPUs. Returns the seconds waited, or None on timeout
    or where the load cannot be read."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < max_wait:
        with CpuLoad() as load:
            time.sleep(1.0)
        if load.fraction is None:
            return None
        if load.fraction < threshold:
            return time.perf_counter() - t0
    return None


def _minor_faults() -> int | None:
    try:
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    except (ImportError, AttributeError):
        return None


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def time_interleaved(fns: dict, samples: int, min_time: float, clock: str = "cpu") -> dict:
    """Seconds per call for each fn: `samples` samples each, taken round-robin (hand, gradc,
    peers, hand, ...) so that a slow spell on the machine hits every column alike. A sample
    is the mean over a loop calibrated to last about min_time, by the process's CPU time
    (`clock="cpu"`: time other processes take on the core is not counted) or wall time. Median,
    quartiles and minimum,
    and the minor page faults per call (fresh memory the kernel had to map in: allocation
    churn that a time alone does not explain)."""
    numbers = {name: calibrate(fn, min_time) for name, fn in fns.items()}
    times = {name: [] for name in fns}
    faults = {name: 0 for name in fns}
    timers = {name: timeit.Timer(fn, timer=CLOCKS[clock]) for name, fn in fns.items()}
    for _ in range(samples):
        for name, timer in timers.items():
            f0 = _minor_faults()
            times[name].append(timer.timeit(numbers[name]) / numbers[name])
            if f0 is not None:
                faults[name] += _minor_faults() - f0
    out = {}
    for name, t in times.items():
        q = statistics.quantiles(t, n=4, method="inclusive") if len(t) > 1 else [t[0]] * 3
        out[name] = {"median_s": statistics.median(t), "p25_s": q[0], "p75_s": q[2], "min_s": min(t),
                     "number": numbers[name], "samples": samples, "samples_s": t,
                     "minor_faults_per_call": faults[name] / (numbers[name] * samples)}
    return out


def peak_memory(fn) -> int:
    """Bytes above what was allocated before, at the peak of one call (after a warm-up
    call), as tracemalloc sees them: NumPy's arrays and Python's objects."""
    fn()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


# -- other frameworks ----------------------------------------------------------------

def _split(args, positions):
    params = tuple(args[p] for p in positions)
    data = tuple(a for i, a in enumerate(args) if i not in positions)
    return params, data


def _merge(params, data, positions, n):
    out, it_p, it_d = [], iter(params), iter(data)
    for i in range(n):
        out.append(next(it_p) if i in positions else next(it_d))
    return out


def _import_failure(name, e: ImportError) -> str:
    if isinstance(e, ModuleNotFoundError) and (e.name or "").split(".")[0] == name:
        return "not installed"
    return f"import failed: {e}"


def load_frameworks(threads) -> dict:
    """name -> adapter(workload, args) -> (run, result) or a string saying why it is skipped."""
    adapters = {}

    try:
        import jax
        jax.config.update("jax_enable_x64", True)  # float64, like the NumPy sides
        import jax.numpy as jnp

        jax_fns = xp_losses(jnp, jax.nn.sigmoid, jax.nn.softplus,
                            lambda x: jax.nn.log_softmax(x, axis=-1))

        def jax_adapter(w, args):
            positions = tuple(arg_names(w).index(n) for n in w.wrt)
            vg = jax.jit(jax.value_and_grad(jax_fns[w.name], argnums=positions))
            jargs = [jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]

            def run():
                return jax.block_until_ready(vg(*jargs))

            def result():
                v, g = run()
                return float(v), tuple(np.asarray(x) for x in g)
            return run, result

        adapters["jax"] = jax_adapter
    except ImportError as e:
        adapters["jax"] = _import_failure("jax", e)

    try:
        import torch
        if threads:
            torch.set_num_threads(threads)
        torch_fns = torch_losses(torch)

        def torch_adapter(w, args):
            positions = [arg_names(w).index(n) for n in w.wrt]
            targs = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in args]
            for p in positions:
                t = targs[p] if isinstance(targs[p], torch.Tensor) else torch.tensor(targs[p], dtype=torch.float64)
                targs[p] = t.clone().requires_grad_(True)
            params = [targs[p] for p in positions]
            f = torch_fns[w.name]

            def run():
                loss = f(*targs)
                return loss, torch.autograd.grad(loss, params)

            def result():
                v, g = run()
                return float(v.detach()), tuple(x.detach().numpy() for x in g)
            return run, result

        adapters["torch"] = torch_adapter
    except ImportError as e:
        adapters["torch"] = _import_failure("torch", e)

    try:
        import autograd
        import autograd.numpy as anp

        def ag_log_softmax(x):  # autograd.scipy would need SciPy
            shifted = x - anp.max(x, axis=-1, keepdims=True)
            return shifted - anp.log(anp.sum(anp.exp(shifted), axis=-1, keepdims=True))

        ag_fns = xp_losses(anp, lambda x: 1.0 / (1.0 + anp.exp(-x)), lambda x: anp.logaddexp(0.0, x),
                           ag_log_softmax)

        def autograd_adapter(w, args):
            positions = tuple(arg_names(w).index(n) for n in w.wrt)
            f, n = ag_fns[w.name], len(args)

            def packed(params, *data):
                return f(*_merge(params, data, positions, n))

            vg = autograd.value_and_grad(packed, 0)
            params, data = _split(args, positions)

            def run():
                return vg(params, *data)

            def result():
                v, g = run()
                return float(v), tuple(np.asarray(x) for x in g)
            return run, result

        adapters["autograd"] = autograd_adapter
    except ImportError as e:
        adapters["autograd"] = _import_failure("autograd", e)

    return adapters


# -- the benchmark ---------------------------------------------------------------------

def extra_peers(w) -> dict:
    """Implementations timed for one workload only: for the scalar formula, gradc's formula
    frontend (the CLI's) and SymPy's lambdify with the math module, value and derivative."""
    if w.name != "seed002":
        return {}
    from workloads import SEED002_FORMULA
    peers = {"gradc_formula": gradc.value_and_grad(SEED002_FORMULA, wrt=("x",))}  # (value, (grad,)) as hand
    try:
        import sympy as sp
        x = sp.Symbol("x")
        e = sp.sqrt(x**2 + sp.exp(x**2)) + sp.cos(x**2 + sp.exp(x**2))
        peers["lambdify"] = sp.lambdify(x, (e, (sp.diff(e, x),)), modules="math", cse=True)
    except ImportError:
        pass
    return peers


def bench_workload(w, args, frameworks, samples, min_time, rng, wait_idle=0.0, clock="cpu") -> dict:
    res = {"name": w.name, "description": w.description, "wrt": list(w.wrt),
           "shapes": {n: list(np.shape(a)) for n, a in zip(arg_names(w), args)}}

    # Reference, and a sanity check of the reference itself.
    ref_value, ref_grads = w.hand(*args)
    fd_err = finite_difference_check(w, args, ref_grads, rng)
    res["hand_fd_rel_err"] = fd_err
    if not fd_err < FD_TOL:
        raise VerificationError(f"{w.name}: hand-written gradient fails the finite-difference check "
                                f"(relative error {fd_err:.2e})")

    # gradc as users call it, `gradc.value_and_grad(loss, wrt=...)(*args)`: the first call compiles.
    t0 = time.perf_counter()
    vg = gradc.value_and_grad(w.loss, wrt=w.wrt)
    value, grads = vg(*args)
    res["gradc_compile_s"] = time.perf_counter() - t0
    compiled = vg.compiled
    ok, errs = compare(value, grads, ref_value, ref_grads, w.wrt)
    res["gradc_max_abs_err"] = errs
    if not ok:
        raise VerificationError(
            f"{w.name}: gradc's value/gradients do not match the hand-written NumPy ones "
            f"(np.allclose rtol={RTOL}); max abs errors: {errs}\n\ngenerated source:\n{compiled.source}")

    fns = {"hand": lambda: w.hand(*args), "gradc": lambda: vg(*args)}
    # The generated function on its own, without gradc's dispatch (its argument match and
    # cache lookup): the gap between the two is gradc's call overhead (internal API, so optional).
    try:
        spec = compiled.latest
        gen = spec.fast_value_and_grad_fn or spec.value_and_grad_fn
        inputs = args if spec.entry is not None else [args[i] for i in spec.input_positions]
        ok_gen, _ = compare(*gen(*inputs), ref_value, ref_grads, w.wrt)
        if ok_gen:
            fns["gradc_fn"] = lambda: gen(*inputs)
    except Exception:
        pass

    res["frameworks"] = {}
    peers = {fw: adapter for fw, adapter in frameworks.items()}
    for name, fn in extra_peers(w).items():
        peers[name] = (lambda fn: lambda w, args: (lambda: fn(*args), lambda: fn(*args)))(fn)
    for fw, adapter in peers.items():
        if isinstance(adapter, str):
            res["frameworks"][fw] = {"status": adapter}
            continue
        try:
            run, result = adapter(w, args)
            fv, fg = result()  # also compiles (JAX) / warms up
            ok_fw, errs_fw = compare(fv, fg, ref_value, ref_grads, w.wrt)
        except Exception as e:  # a framework failing is reported, not fatal
            res["frameworks"][fw] = {"status": f"error: {type(e).__name__}: {e}"}
            continue
        if not ok_fw:
            res["frameworks"][fw] = {"status": "mismatch", "max_abs_err": errs_fw}
            continue
        res["frameworks"][fw] = {"status": "ok"}
        fns[fw] = run

    if wait_idle:
        res["waited_for_idle_s"] = wait_for_idle(wait_idle)
    res["load_before"] = os.getloadavg()
    with CpuLoad() as load:
        timings = time_interleaved(fns, samples, min_time, clock)
    res["load_after"] = os.getloadavg()
    res["timings"] = timings
    res["background_cpu_load"] = load.fraction
    res["peak_bytes"] = {k: peak_memory(fn) for k, fn in fns.items() if k in TRACED}
    hand = timings["hand"]
    res["ratio_to_hand"] = {k: t["median_s"] / hand["median_s"] for k, t in timings.items() if k != "hand"}
    res["ratio_to_hand_min"] = {k: t["min_s"] / hand["min_s"] for k, t in timings.items() if k != "hand"}
    res["source"] = compiled.source
    return res


COLUMNS = [("gradc", "gradc"), ("jax", "JAX jit"), ("torch", "PyTorch"), ("autograd", "autograd"),
           ("lambdify", "SymPy lambdify(math)"), ("gradc_formula", "gradc formula"), ("gradc_fn", "gradc fn")]


def _time_text(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _bytes_text(n: float) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def _spread(t: dict) -> str:
    """Half the interquartile range, relative to the median: how much the samples scatter."""
    return f"±{(t['p75_s'] - t['p25_s']) / (2 * t['median_s']):.0%}"


def format_table(results) -> str:
    """Markdown: hand's median time, then each implementation's median as a multiple of hand's
    (± half its interquartile range), the goal, and peak memory of one call against hand's."""
    shown = [(k, title) for k, title in COLUMNS
             if any(k in r["timings"] for r in results) or k in ("gradc", "jax", "torch", "autograd")]
    header = ["workload", "hand", *(title for _, title in shown), "goal", "peak memory gradc / hand"]
    rows = []
    for r in results:
        t = r["timings"]
        row = [r["name"], f"{_time_text(t['hand']['median_s'])} {_spread(t['hand'])}"]
        for k, _ in shown:
            if k in t:
                row.append(f"{r['ratio_to_hand'][k]:.2f}× {_spread(t[k])}")
            else:
                status = r["frameworks"].get(k, {}).get("status", "")
                row.append("–" if not status or status == "ok" else status if len(status) <= 16 else status[:13] + "...")
        goal = GOALS.get(r["name"])
        row.append(f"≤ {goal:g}×" if goal else "")
        peaks = r.get("peak_bytes", {})
        if peaks.get("hand") and "gradc" in peaks:
            row.append(f"{_bytes_text(peaks['gradc'])} / {_bytes_text(peaks['hand'])} "
                       f"({peaks['gradc'] / peaks['hand']:.2f}×)")
        else:
            row.append("–")
        rows.append(row)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                           for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    sep = "|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), sep, *(line(row) for row in rows)])


def plot(results, path: Path) -> bool:
    """Each implementation's time as a multiple of hand NumPy's, per workload (log scale,
    quartiles as error bars, the goal as a mark). False when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    keys = [k for k, _ in COLUMNS if any(k in r["timings"] for r in results)]
    titles = dict(COLUMNS)
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.9 * len(results)))
    height = 0.8 / max(len(keys), 1)
    for j, k in enumerate(keys):
        ys, xs, lo, hi = [], [], [], []
        for i, r in enumerate(results):
            if k in r["timings"]:
                t, hand = r["timings"][k], r["timings"]["hand"]["median_s"]
                ys.append(i + (j - (len(keys) - 1) / 2) * height)
                xs.append(t["median_s"] / hand)
                lo.append((t["median_s"] - t["p25_s"]) / hand)
                hi.append((t["p75_s"] - t["median_s"]) / hand)
        ax.barh(ys, xs, height=height * 0.9, xerr=[lo, hi], label=titles[k], capsize=2)
    for i, r in enumerate(results):
        if r["name"] in GOALS:
            ax.plot([GOALS[r["name"]]] * 2, [i - 0.45, i + 0.45], color="black", lw=1.5, ls="--")
    ax.axvline(1.0, color="grey", lw=1)
    ax.set_xscale("log")
    ax.set_yticks(range(len(results)), [r["name"] for r in results])
    ax.invert_yaxis()
    ax.set_xlabel("time per value-and-gradient call / hand-written NumPy's (median; bars: quartiles; dashed: goal)")
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


# -- running: one fresh, pinned interpreter per workload ---------------------------------

def worker(opts) -> int:
    """`--worker NAME`: bench one workload in this process, print its result as JSON."""
    if opts.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {opts.cpu})
    w = next(w for w in WORKLOADS if w.name == opts.worker)
    frameworks = load_frameworks(opts.threads)
    index = [x.name for x in WORKLOADS].index(w.name)
    args = w.make(np.random.default_rng([opts.seed, index]))
    try:
        r = bench_workload(w, args, frameworks, opts.samples, opts.min_time, np.random.default_rng(opts.seed),
                           opts.wait_idle, opts.clock)
    except VerificationError as e:
        print(json.dumps({"name": w.name, "verification_error": str(e)}))
        return 1
    r["pinned_cpu"] = opts.cpu
    r["blas"] = blas_info()
    print(json.dumps(r, default=str))
    return 0


def run_worker(name: str, opts, cpu) -> dict:
    env = dict(os.environ)
    threads = opts.threads or (1 if cpu is not None else None)
    if threads:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--samples", str(opts.samples),
           "--min-time", str(opts.min_time), "--seed", str(opts.seed), "--wait-idle", str(opts.wait_idle),
           "--clock", opts.clock]
    if threads:
        cmd += ["--threads", str(threads)]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f"{name}: the worker printed nothing (exit {done.returncode}):\n{done.stderr}")
    return json.loads(lines[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fast smoke run (5 short samples)")
    ap.add_argument("--samples", type=int,
                    help=f"timing samples per implementation (default {SAMPLES}; 5 with --quick)")
    ap.add_argument("--min-time", type=float,
                    help="seconds per sample; loop counts are chosen to reach it (default 0.05; 0.01 with --quick)")
    ap.add_argument("--threads", type=int,
                    help="set OPENBLAS/OMP/MKL_NUM_THREADS (and torch threads) for every side "
                         "(default: 1 when pinned, else the BLAS default)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin each workload's interpreter to one core")
    ap.add_argument("--clock", choices=tuple(CLOCKS), default="cpu",
                    help="time samples by the process's CPU time (default: what other processes take "
                         "on the core is not counted) or by wall time")
    ap.add_argument("--cpu", type=int, help="the core to pin to (default: the last one this process may use)")
    ap.add_argument("--only", nargs="+", metavar="NAME", choices=[w.name for w in WORKLOADS],
                    help="run only these workloads")
    ap.add_argument("--show-source", action="store_true", help="print gradc's generated source per workload")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                    help="before timing each workload, wait up to SECONDS for a quiet second on the "
                         "machine (other processes < 5%% of the CPUs); default: don't wait")
    ap.add_argument("--out", default=str(HERE / "out"), metavar="DIR",
                    help="where value_and_grad.md, .json and .png go (default benchmarks/out)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    opts = ap.parse_args(argv)
    opts.samples = opts.samples or (5 if opts.quick else SAMPLES)
    opts.min_time = opts.min_time or (0.01 if opts.quick else 0.05)
    if opts.worker:
        return worker(opts)

    cpu = None
    if not opts.no_pin and hasattr(os, "sched_getaffinity"):
        cpu = opts.cpu if opts.cpu is not None else max(os.sched_getaffinity(0))
    info = machine_info()
    frameworks = load_frameworks(None)
    header = [
        f"gradc {info['gradc']} ({info['gradc_revision']}) | Python {info['python']} | NumPy {info['numpy']} | "
        f"BLAS {info['blas']['name']}, {opts.threads or (1 if cpu is not None else 'default')} thread(s)",
        f"CPU: {info['cpu']}, {info['cpu_count']} logical CPUs ({info['cpus_usable']} usable) | {info['platform']}",
        f"each workload in a fresh interpreter{f' pinned to CPU {cpu}' if cpu is not None else ''}; "
        f"median of {opts.samples} interleaved samples of >= {opts.min_time:g} s each ({opts.clock} time)",
        "peers: " + ", ".join(f"{fw} {'available' if not isinstance(a, str) else a}" for fw, a in frameworks.items()),
        "load average at start (uptime): " + " ".join(f"{x:.2f}" for x in os.getloadavg()),
    ]
    print("\n".join(header) + "\n")

    results = []
    t_start = time.perf_counter()
    for w in WORKLOADS:
        if opts.only and w.name not in opts.only:
            continue
        print(f"{w.name}: {w.description} ...", end=" ", flush=True)
        r = run_worker(w.name, opts, cpu)
        if "verification_error" in r:
            print("\n\n*** VERIFICATION FAILED ***\n" + r["verification_error"], file=sys.stderr)
            return 1
        errs = max(v for v in r["gradc_max_abs_err"].values())
        print(f"verified (max abs err {errs:.1e}, hand FD rel err {r['hand_fd_rel_err']:.1e}, "
              f"compile {r['gradc_compile_s'] * 1e3:.0f} ms, load {r['load_before'][0]:.2f})")
        for fw, st in r["frameworks"].items():
            if st["status"] not in ("ok", "not installed"):
                print(f"  {fw}: {st['status']} {st.get('max_abs_err', '')}")
        if opts.show_source:
            print(r["source"])
        results.append(r)
    elapsed = time.perf_counter() - t_start

    table = format_table(results)
    loads = [r["background_cpu_load"] for r in results if r.get("background_cpu_load") is not None]
    notes = [
        "Times: median per value-and-gradient call; hand is hand-written NumPy, the other columns are "
        "multiples of it (< 1 is faster), ± half the interquartile range of the samples.",
        "gradc = `gradc.value_and_grad(loss, wrt=...)(*args)`; gradc fn = the generated function alone; "
        "gradc formula = the same loss as a formula string (the CLI's frontend).",
        "Peak memory: tracemalloc's peak during one call above what existed before it (NumPy's and Python's "
        "allocations; JAX's and PyTorch's own allocators are not seen).",
        f"Load average (uptime) at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; CPU time other "
        f"processes took while timing: up to {max(loads):.0%} of all cores." if loads else "",
    ]
    print()
    print(table)
    print()
    print("\n".join(n for n in notes if n))
    if loads and max(loads) > LOAD_WARN:
        print(f"WARNING: other processes used up to {max(loads):.0%} of the CPUs while timing; "
              "rerun on an idle machine or with --wait-idle 60 for steadier numbers.")
    print(f"total {elapsed:.1f} s")

    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "value_and_grad.md").write_text("\n".join(["```", *header, "```", "", table, "",
                                                       *(n for n in notes if n)]) + "\n")
    payload = {"machine": info, "settings": {"samples": opts.samples, "min_time_s": opts.min_time,
                                             "threads": opts.threads, "pinned_cpu": cpu, "seed": opts.seed,
                                             "clock": opts.clock,
                                             "rtol": RTOL}, "results": results, "elapsed_s": elapsed}
    (out / "value_and_grad.json").write_text(json.dumps(payload, indent=2, default=str))
    drawn = plot(results, out / "value_and_grad.png")
    print(f"wrote {out / 'value_and_grad.md'}, {out / 'value_and_grad.json'}"
          + (f", {out / 'value_and_grad.png'}" if drawn else " (no plot: pip install -e '.[bench]' for matplotlib)"))
    if opts.json:
        path = Path(opts.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
