"""tests.utils.nbval_verdicts, the verdict checks every lane adds to nbval: shown failing on purpose."""
from __future__ import annotations

import os
import subprocess
import sys

import nbformat
import pytest

from dockercourse import engine
from tests.utils.paths import ROOT

LEFT = engine.name("nb09", "verdicts-test")  # a lecture's name: the default, shared-daemon scope sees it


@pytest.mark.lecture_names  # its leftover is named like a lecture's: the course image's notebook run must not see it
def test_a_cross_in_an_ignored_cell_and_a_leftover_fail_the_notebook(tmp_path, docker_client):
    cells = [
        "# NBVAL_IGNORE_OUTPUT\nprint('✔ ceci a tenu')\nprint('✘ ceci n’a pas tenu — mesuré : autre chose')",
        "print('✔ rien à redire')",
        "import docker\n"
        f"docker.from_env().containers.create('{engine.BASE_IMAGE}', 'true', name='{LEFT}',"
        " labels={'dockercourse': '1'})\nprint('créé')",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for src in cells])
    nbformat.write(nb, tmp_path / "nb09.ipynb")
    engine.remove_container(LEFT)
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.utils.nbval_verdicts", "-p",
                               "no:cacheprovider", "-q", "-rfE", "--nbval-lax", str(tmp_path / "nb09.ipynb")],
                              cwd=ROOT, capture_output=True, text=True, timeout=300,
                              env={**os.environ, "DOCKERCOURSE_EXECUTED": str(tmp_path / "executed")})
    finally:
        left = engine.remove_container(LEFT)
    out = proc.stdout
    assert proc.returncode == 1, out[-3000:]
    assert "a verdict did not hold on this engine:\n✘ ceci n’a pas tenu — mesuré : autre chose" in out, out[-3000:]
    assert f"nb09.ipynb left on the engine: container {LEFT}" in out, out[-3000:]
    assert "1 failed, 2 passed, 1 error" in out, out[-3000:]
    assert left  # the notebook did leave it
    executed = nbformat.read(tmp_path / "executed" / "nb09.ipynb", 4)  # this run's outputs, written
    assert [c.outputs[0].text for c in executed.cells] == [
        "✔ ceci a tenu\n✘ ceci n’a pas tenu — mesuré : autre chose\n", "✔ rien à redire\n", "créé\n"]
