"""`--threads N` must reach the BLAS before NumPy loads: importing this module first reads the
flag and sets OPENBLAS/OMP/MKL_NUM_THREADS (each benchmark still declares the flag for --help)."""
import argparse
import os

_pre = argparse.ArgumentParser(add_help=False)
_pre.add_argument("--threads", type=int)
THREADS = _pre.parse_known_args()[0].threads
if THREADS:
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = str(THREADS)
