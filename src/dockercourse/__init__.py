"""Helpers for the « Conteneurisation avec Docker » course.

One module per concern: :mod:`~dockercourse.engine` (the Docker daemon),
:mod:`~dockercourse.offline` (the offline classroom kit). Notebooks import
these; the logic lives here and is tested under ``tests/``.
"""

__version__ = "0.1.0"
