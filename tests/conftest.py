"""Test configuration: verify every program the compiler produces (SSA form, arity, shapes)."""
import os

os.environ.setdefault("GRADC_VERIFY", "1")
