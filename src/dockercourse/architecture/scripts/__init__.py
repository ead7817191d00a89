"""Scripts that run inside containers (read with importlib.resources, checked by ruff)."""
