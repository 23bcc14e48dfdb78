"""Progress bars for long work (Hessian columns, Jacobian sweeps, checkpoint schedules):
shown with tqdm on a terminal, and only for work long enough to be worth one; silent when
stderr is not a terminal (logs, pipes, CI) or when GRADC_PROGRESS=0."""
from __future__ import annotations

import os
import sys

MIN_ITEMS = 64  # fewer items finish before a bar would be worth drawing


def progress(items, total: int, what: str):
    """`items`, wrapped in a tqdm bar when it is worth showing one."""
    if total < MIN_ITEMS or os.environ.get("GRADC_PROGRESS", "") == "0" or not _terminal():
        return items
    try:
        from tqdm import tqdm
    except ImportError:  # tqdm is a dependency, but a missing bar must never stop the work
        return items
    return tqdm(items, total=total, desc=what, leave=False, unit="it", file=sys.stderr)


def _terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
