"""Test configuration: verify every program the compiler produces (SSA form, arity, shapes)."""
import os

os.environ.setdefault("GRADC_VERIFY", "1")

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))  # the lecture examples double as test oracles

import user_primitive  # noqa: E402,F401  registers swish and gelu, so the registry-wide tests cover them
