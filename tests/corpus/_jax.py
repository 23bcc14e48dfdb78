"""Lazy handles on JAX for the hand-written twins: importing the corpus never imports JAX."""
import importlib


class _Lazy:
    def __init__(self, name):
        self._name = name
        self._mod = None

    def __getattr__(self, attr):
        if self._mod is None:
            import jax
            jax.config.update("jax_enable_x64", True)
            self._mod = importlib.import_module(self._name)
        return getattr(self._mod, attr)


jax = _Lazy("jax")
jnp = _Lazy("jax.numpy")
lax = _Lazy("jax.lax")
