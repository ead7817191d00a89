"""The TP as an nbgrader assignment: release/ is generated and leak-free, the
source notebook passes every check and the release fails every check cleanly, in a
kernel, as a student runs them. Grading a class (sandboxes, official scores, the
gradebook) is tests/grading/test_class_grading.py.

Notebooks always run on temp copies (never in source/: %%writefile would put
solution files next to the source notebook, and generate_assignment copies them).
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from dockercourse import grading
from tests.utils.assignment import AID, NB, RELEASE, SOURCE, cell_report, grade_cells
from tests.utils.notebook_runner import NO_DAEMON, run_notebook
from tests.utils.paths import FIXTURES, ROOT

PROJECTS = FIXTURES / "projects"
REFERENCE = PROJECTS / "reference"


def nbgrader(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    bindir = str(Path(sys.executable).parent)  # nbgrader shells out to alembic
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run([str(Path(bindir) / "nbgrader"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


def course_copy(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "nbgrader_config.py", dest)
    shutil.copytree(SOURCE, dest / "source" / AID)
    return dest


def delimited(source: str, begin: str, end: str) -> list[str]:
    out, inside = [], False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            out.append(line.strip())
    return out


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A temp copy of the course with release/ regenerated (shared: nbgrader is slow to start)."""
    course = course_copy(tmp_path_factory.mktemp("course") / "course")
    # the leak path: an instructor ran the source notebook in source/, whose %%writefile
    # cells wrote the solution files there; CourseDirectory.ignore must keep them out of release/
    for rel in ("Dockerfile", ".dockerignore", "app/app.py", "app/requirements.txt"):
        target = course / "source" / AID / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REFERENCE / rel, target)
    (course / "source" / AID / "app" / "__pycache__").mkdir()
    proc = nbgrader("generate_assignment", AID, "--force", cwd=course)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return course


def test_release_is_generated_from_source_without_solution_files(course):
    fresh = sorted(p.relative_to(course / "release" / AID) for p in (course / "release" / AID).rglob("*"))
    committed = sorted(p.relative_to(RELEASE) for p in RELEASE.rglob("*"))
    assert fresh == committed, "release/ differs: run `nbgrader generate_assignment tp-conteneurisation --force`"
    for rel in fresh:
        if (RELEASE / rel).is_file():
            assert (course / "release" / AID / rel).read_bytes() == (RELEASE / rel).read_bytes(), (
                f"release/{AID}/{rel} is stale: regenerate it with nbgrader generate_assignment")


def test_no_solution_and_no_hidden_test_reaches_release():
    src = nbformat.read(SOURCE / NB, as_version=4)
    rel = nbformat.read(RELEASE / NB, as_version=4)
    assert sorted(p.name for p in RELEASE.iterdir()) == [NB], "only the notebook may be released"
    rel_code = "\n".join(c.source for c in rel.cells if c.cell_type == "code")
    rel_all = "\n".join(c.source for c in rel.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS"):
        assert marker not in rel_all
    solution_lines, hidden_lines = set(), set()
    for c in src.cells:
        solution_lines |= {ln for ln in delimited(c.source, "BEGIN SOLUTION", "END SOLUTION") if len(ln) >= 8}
        hidden_lines |= {ln for ln in delimited(c.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS") if len(ln) >= 8}
    assert solution_lines and hidden_lines
    assert not [ln for ln in solution_lines if ln in rel_code]
    assert not [ln for ln in hidden_lines if ln in rel_all]
    # the manually graded answer is replaced by the stub
    manual = [c for c in rel.cells if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution")]
    assert manual and all(c.source.strip() == "VOTRE RÉPONSE ICI" for c in manual)
    # the released %%writefile cells write a comment, not Python
    for c in rel.cells:
        if c.source.startswith("%%writefile"):
            assert c.source.splitlines()[1:] == ["# VOTRE CODE ICI"], c.source


def test_reference_project_is_what_the_source_notebook_writes():
    src = nbformat.read(SOURCE / NB, as_version=4)
    written = {}
    for c in src.cells:
        if c.cell_type == "code" and c.source.startswith("%%writefile"):
            path = c.source.splitlines()[0].split(maxsplit=1)[1]
            body = [ln for ln in c.source.splitlines()[1:] if "BEGIN SOLUTION" not in ln and "END SOLUTION" not in ln]
            written[path] = "\n".join(body) + "\n"
    assert set(written) == {"app/requirements.txt", "app/app.py", "Dockerfile", ".dockerignore"}
    for path, text in written.items():
        assert (REFERENCE / path).read_text() == text, f"tests/fixtures/projects/reference/{path} drifted"


def test_points_in_test_cells_match_nbgrader_points():
    src = nbformat.read(SOURCE / NB, as_version=4)
    total = 0.0
    for c in grade_cells(src):
        pts = c.metadata["nbgrader"]["points"]
        total += pts
        m = re.search(r'run_check\("(\w+)", points=([\d.]+)\)', c.source)
        if m:
            assert m.group(1) in grading.CHECKS
            assert float(m.group(2)) == pts, c.source
    checked = {m for c in grade_cells(src) for m in re.findall(r'run_check\("(\w+)"', c.source)}
    assert checked == set(grading.CHECKS), "every check has its own test cell"
    assert total == 27


@pytest.fixture
def workdir(tmp_path, docker_client):
    yield tmp_path
    for d in [tmp_path, *tmp_path.rglob(AID)]:
        if d.is_dir():
            grading.cleanup(d, images=True, forget=True)


# The source notebook, solution included, at full marks: on Engine 26 with each image store
# (tests/engine/test_current_engine_lane.py::test_tp_reference_solution_at_full_marks) and, typed into
# the released notebook in Chromium, on this machine's engine inside the course image
# (tests/image/test_course_image.py::test_browser_student_session_in_french). A third run here, on
# the host's engine, repeated the second (~40 CPU-s and 1–2 min of make test).


def test_release_notebook_fails_every_check_cleanly(workdir):
    shutil.copytree(RELEASE, workdir / AID)
    nb = run_notebook(workdir / AID / NB, timeout=900)
    for c in grade_cells(nb):
        score, bad, text = cell_report(c)
        gid = c.metadata["nbgrader"]["grade_id"]
        assert not bad, f"{gid}: error or stderr\n{text}"
        assert score == 0.0, f"{gid}: {score}\n{text}"
        assert "❌" in text, f"{gid}: no French feedback\n{text}"
        assert "Traceback" not in text


@pytest.mark.parametrize("folder", [RELEASE, SOURCE], ids=["release", "source"])
def test_notebook_without_daemon_says_so_in_french(folder, workdir):
    shutil.copytree(folder, workdir / AID)
    nb = run_notebook(workdir / AID / NB, env={"DOCKER_HOST": NO_DAEMON}, timeout=300)
    assert "Le démon Docker ne répond pas" in "".join(o.get("text", "") for o in nb.cells[1].outputs)
    for c in grade_cells(nb):
        score, bad, text = cell_report(c)
        assert not bad and "Traceback" not in text, text
        if "run_check" in c.source and c.metadata["nbgrader"]["grade_id"] not in (
                "test_requirements", "test_application", "test_dockerignore", "test_hadolint"):
            assert score == 0.0 and "Le démon Docker ne répond pas" in text, text
