"""Automatic differentiation as program transformations (IR → IR)."""
from .reverse import reverse

__all__ = ["reverse"]
