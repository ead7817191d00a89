"""Optional imports that cost seconds and that the course never needs.

``jsonschema`` (which ``nbformat`` validates notebooks with) imports ``rfc3987_syntax`` when it
is installed — ``jupyter-events`` pulls it in through jsonschema's ``format-nongpl`` extra — and
that import compiles a Lark grammar: about 2 s of CPU in every process that reads a notebook
(`python -X importtime -c "import nbformat"`). Only the ``iri`` and ``iri-reference`` formats
use it, and no notebook schema has them. ``make venv`` and the course image uninstall it after
installing the dependencies (every nbgrader command, Jupyter server and nbval run then starts
~2 CPU-s sooner: ``nbgrader --version`` 3.7 s → 1.2 s of CPU); a process that reads notebooks many
times over (a grading sandbox's worker, the class command) also calls
:func:`skip_slow_optional_imports` first, for environments installed otherwise: jsonschema then
treats the module as absent, as on a machine without it.
"""

from __future__ import annotations

import sys

#: Modules whose import is skipped (``import`` raises ImportError, which jsonschema expects).
SLOW_OPTIONAL = ("rfc3987_syntax",)


def skip_slow_optional_imports() -> None:
    """Make :data:`SLOW_OPTIONAL` modules absent for this process (unless already imported)."""
    for name in SLOW_OPTIONAL:
        sys.modules.setdefault(name, None)
