"""Source-level fuzzing of gradc: a Hypothesis strategy that writes random loss functions
as Python source (gen.py) and an oracle that runs them with NumPy (oracle.py).
See tests/test_fuzz_source.py for how to run it."""
