"""Benchmark gradc's value_and_grad against hand-written NumPy (and JAX, PyTorch,
HIPS autograd when they are importable).

    .venv/bin/python benchmarks/bench_value_and_grad.py            # full run (`make bench`)
    .venv/bin/python benchmarks/bench_value_and_grad.py --quick    # smoke run, a few seconds
    .venv/bin/python benchmarks/bench_value_and_grad.py --json out/bench.json

For every workload in benchmarks/workloads.py it first checks that gradc's value
and gradients match the hand-written NumPy ones (and that those pass a
finite-difference check), aborting with a non-zero exit status if not; then it
times one value-and-gradient evaluation of each implementation, all in the same
process, same data, same BLAS threads, with repeats interleaved so that drift on
the machine affects every column alike. See benchmarks/README.md.
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
import time  # noqa: E402
import timeit  # noqa: E402
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


def time_interleaved(fns: dict, repeats: int, min_time: float) -> dict:
    """Seconds per call for each fn: min and median over `repeats`, taken round-robin.
    Also minor page faults per call (fresh memory the kernel had to map in), which
    shows allocation churn that a timing alone does not explain."""
    numbers = {name: calibrate(fn, min_time) for name, fn in fns.items()}
    samples = {name: [] for name in fns}
    faults = {name: 0 for name in fns}
    timers = {name: timeit.Timer(fn) for name, fn in fns.items()}
    for _ in range(repeats):
        for name, timer in timers.items():
            f0 = _minor_faults()
            samples[name].append(timer.timeit(numbers[name]) / numbers[name])
            if f0 is not None:
                faults[name] += _minor_faults() - f0
    return {name: {"min_s": min(s), "median_s": statistics.median(s), "number": numbers[name],
                   "repeats": repeats, "samples_s": s,
                   "minor_faults_per_call": faults[name] / (numbers[name] * repeats)}
            for name, s in samples.items()}


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
                targs[p] = targs[p].clone().requires_grad_(True)
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

def bench_workload(w, args, frameworks, repeats, min_time, rng, wait_idle=0.0) -> dict:
    res = {"name": w.name, "description": w.description, "wrt": list(w.wrt),
           "shapes": {n: list(np.shape(a)) for n, a in zip(arg_names(w), args)}}

    # Reference, and a sanity check of the reference itself.
    ref_value, ref_grads = w.hand(*args)
    fd_err = finite_difference_check(w, args, ref_grads, rng)
    res["hand_fd_rel_err"] = fd_err
    if not fd_err < FD_TOL:
        raise VerificationError(f"{w.name}: hand-written gradient fails the finite-difference check "
                                f"(relative error {fd_err:.2e})")

    # gradc: time a fresh compile, then check it.
    t0 = time.perf_counter()
    compiled = gradc.Compiled(w.loss, wrt=w.wrt)
    compiled.specialize(*args)
    res["gradc_compile_s"] = time.perf_counter() - t0
    value, grads = compiled.value_and_grad(*args)
    ok, errs = compare(value, grads, ref_value, ref_grads, w.wrt)
    res["gradc_max_abs_err"] = errs
    if not ok:
        raise VerificationError(
            f"{w.name}: gradc's value/gradients do not match the hand-written NumPy ones "
            f"(np.allclose rtol={RTOL}); max abs errors: {errs}\n\ngenerated source:\n{compiled.source}")

    fns = {"hand": lambda: w.hand(*args), "gradc": lambda: compiled.value_and_grad(*args)}
    # The generated function on its own, without Compiled's argument checks and cache
    # lookup: separates dispatch overhead from the generated code (internal API, so optional).
    try:
        spec = compiled.specialize(*args)
        inputs = [args[i] for i in spec.input_positions]
        gen = spec.value_and_grad_fn
        ok_gen, _ = compare(*gen(*inputs), ref_value, ref_grads, w.wrt)
        if ok_gen:
            fns["gradc_fn"] = lambda: gen(*inputs)
    except Exception:
        pass

    res["frameworks"] = {}
    for fw, adapter in frameworks.items():
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
    with CpuLoad() as load:
        timings = time_interleaved(fns, repeats, min_time)
    res["timings"] = timings
    res["background_cpu_load"] = load.fraction
    hand = timings["hand"]["min_s"]
    res["ratio_to_hand"] = {k: t["min_s"] / hand for k, t in timings.items() if k != "hand"}
    res["ratio_to_hand_median"] = {k: t["median_s"] / timings["hand"]["median_s"]
                                   for k, t in timings.items() if k != "hand"}
    res["source"] = compiled.source
    return res


def format_table(results, frameworks) -> str:
    header = ["workload", "hand NumPy (ms)", "gradc (ms)", "gradc/hand", "gradc fn/hand",
              *(f"{fw}/hand" for fw in frameworks), "other load"]
    rows = []
    for r in results:
        t, ratio = r["timings"], r["ratio_to_hand"]
        row = [r["name"], f"{t['hand']['min_s'] * 1e3:.4g}", f"{t['gradc']['min_s'] * 1e3:.4g}",
               f"{ratio['gradc']:.2f}", f"{ratio['gradc_fn']:.2f}" if "gradc_fn" in ratio else "n/a"]
        for fw in frameworks:
            status = r["frameworks"][fw]["status"]  # in full above the table and in the JSON
            row.append(f"{ratio[fw]:.2f}" if fw in ratio else status if len(status) <= 24 else status[:21] + "...")
        load = r.get("background_cpu_load")
        row.append("?" if load is None else f"{load:.0%}")
        rows.append(row)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                           for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    sep = "|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), sep, *(line(row) for row in rows)])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fast smoke run (3 short repeats)")
    ap.add_argument("--repeats", type=int, help="timing repeats per implementation (default 10; 3 with --quick)")
    ap.add_argument("--min-time", type=float,
                    help="seconds per repeat; loop counts are chosen to reach it (default 0.1; 0.02 with --quick)")
    ap.add_argument("--threads", type=int,
                    help="set OPENBLAS/OMP/MKL_NUM_THREADS (and torch threads) for every side; "
                         "default: leave the BLAS default")
    ap.add_argument("--only", nargs="+", metavar="NAME", choices=[w.name for w in WORKLOADS],
                    help="run only these workloads")
    ap.add_argument("--show-source", action="store_true", help="print gradc's generated source per workload")
    ap.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                    help="before timing each workload, wait up to SECONDS for a quiet second on the "
                         "machine (other processes < 5%% of the CPUs); default: don't wait")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    ap.add_argument("--seed", type=int, default=0)
    opts = ap.parse_args(argv)
    repeats = opts.repeats or (3 if opts.quick else 10)
    min_time = opts.min_time or (0.02 if opts.quick else 0.1)

    info = machine_info()
    blas = info["blas"]
    print(f"gradc {info['gradc']} ({info['gradc_revision']}) | Python {info['python']} | NumPy {info['numpy']} | "
          f"BLAS {blas['name']}, {blas['threads'] if blas['threads'] is not None else '?'} threads "
          f"({'--threads ' + str(opts.threads) if opts.threads else 'library default'})")
    print(f"CPU: {info['cpu']}, {info['cpu_count']} logical CPUs ({info['cpus_usable']} usable) | "
          f"{info['platform']}")
    print(f"timing: min of {repeats} interleaved repeats, each >= {min_time:g} s of calls"
          f"{' (--quick)' if opts.quick else ''}")

    frameworks = load_frameworks(opts.threads)
    for fw, a in frameworks.items():
        print(f"  {fw}: {a if isinstance(a, str) else 'available'}")
    print()

    rng = np.random.default_rng(opts.seed)
    results = []
    t_start = time.perf_counter()
    for w in WORKLOADS:
        if opts.only and w.name not in opts.only:
            continue
        args = w.make(np.random.default_rng([opts.seed, len(results)]))
        print(f"{w.name}: {w.description} ...", end=" ", flush=True)
        try:
            r = bench_workload(w, args, frameworks, repeats, min_time, rng, opts.wait_idle)
        except VerificationError as e:
            print("\n\n*** VERIFICATION FAILED ***\n" + str(e), file=sys.stderr)
            return 1
        errs = max(v for v in r["gradc_max_abs_err"].values())
        print(f"verified (max abs err {errs:.1e}, hand FD rel err {r['hand_fd_rel_err']:.1e}, "
              f"compile {r['gradc_compile_s'] * 1e3:.0f} ms)")
        for fw, st in r["frameworks"].items():
            if st["status"] not in ("ok", "not installed"):
                print(f"  {fw}: {st['status']} {st.get('max_abs_err', '')}")
        if opts.show_source:
            print(r["source"])
        results.append(r)
    elapsed = time.perf_counter() - t_start

    print()
    print(format_table(results, FRAMEWORKS))
    print()
    print("ms: minimum over repeats of the mean time per value-and-gradient call. Ratios are "
          "time / hand NumPy time, same run (< 1 is faster than hand-written).")
    print("gradc = Compiled.value_and_grad (what users call); gradc fn = the generated function "
          "called directly, without gradc's per-call argument checks and cache lookup.")
    print("other load: CPU time other processes took during the timing, as a share of all cores.")
    print("median ratios / minor page faults per call (hand, gradc):  " + ";  ".join(
        f"{r['name']} {r['ratio_to_hand_median']['gradc']:.2f} / "
        f"{r['timings']['hand']['minor_faults_per_call']:.0f}, "
        f"{r['timings']['gradc']['minor_faults_per_call']:.0f}" for r in results))
    loads = [r["background_cpu_load"] for r in results if r.get("background_cpu_load") is not None]
    if loads and max(loads) > LOAD_WARN:
        print(f"WARNING: other processes used up to {max(loads):.0%} of the CPUs while timing; "
              "timings (multi-threaded BLAS calls most) may be distorted. Rerun on an idle machine"
              + (", with --wait-idle 60, or with --threads 1." if opts.threads != 1 else
                 " or with --wait-idle 60."))
    print(f"total {elapsed:.1f} s")

    if opts.json:
        out = {"machine": info, "settings": {"repeats": repeats, "min_time_s": min_time,
                                             "quick": opts.quick, "threads": opts.threads,
                                             "seed": opts.seed, "rtol": RTOL},
               "results": results, "elapsed_s": elapsed}
        path = Path(opts.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=2, default=str))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
