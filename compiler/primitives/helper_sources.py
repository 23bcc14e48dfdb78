"""Source text of helpers that are not in runtime/support.py (user primitives' functions,
eig_real), by name: generated modules copy them. Kept apart from primitives/user.py so that
registering one does not import SymPy."""
SOURCES: dict[str, str] = {}  # helper name → its source, for generated modules
