"""The slow optional import that notebook-reading processes skip (dockercourse.lightimports)."""

from __future__ import annotations

import subprocess
import sys


def test_nbformat_validates_without_rfc3987_syntax():
    """In a fresh interpreter: with the module skipped, nbformat still reads and validates a notebook,
    and jsonschema did not import it."""
    code = ("from dockercourse.lightimports import skip_slow_optional_imports\n"
            "skip_slow_optional_imports()\n"
            "import sys, nbformat\n"
            "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('1 + 1')])\n"
            "nbformat.validate(nbformat.reads(nbformat.writes(nb), as_version=4))\n"
            "print(sys.modules['rfc3987_syntax'] is None, 'jsonschema' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True"]


def test_a_check_command_does_not_import_nbgrader():
    """Every test cell of a student's notebook starts ``python -m dockercourse.grading check NAME``:
    building its command line must not import nbgrader, nbconvert or nbformat (about 3 s of CPU each
    time, 15 times per notebook run)."""
    code = ("import sys\nfrom dockercourse.grading import cli\n"
            "try:\n    cli.main(['list'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('nbgrader', 'nbconvert', 'nbformat') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_the_course_environments_are_installed_without_rfc3987_syntax():
    """``make venv`` (either installer) and the course image uninstall it after installing; in the
    project's own venv, the module is not there to import."""
    import importlib.util
    from pathlib import Path

    from tests.utils.paths import ROOT

    makefile, dockerfile = (ROOT / "Makefile").read_text(), (ROOT / "Dockerfile").read_text()
    assert "pip uninstall --quiet --yes --disable-pip-version-check rfc3987-syntax" in makefile
    recipe = makefile.split("$(VENV)/.installed: pyproject.toml", 1)[1].split("\n\n", 1)[0]
    assert recipe.index("$(DROP_SLOW_OPTIONAL)") > recipe.rindex("pip install")  # after both installers
    assert "/opt/venv/bin/pip uninstall --quiet --yes rfc3987-syntax" in dockerfile
    if Path(sys.prefix).resolve() == (ROOT / ".venv").resolve():
        assert importlib.util.find_spec("rfc3987_syntax") is None, "make venv left rfc3987-syntax installed"
