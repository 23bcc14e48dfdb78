"""Automatic differentiation as program transformations (IR → IR)."""
from .forward import forward
from .reverse import reverse

__all__ = ["forward", "reverse"]
