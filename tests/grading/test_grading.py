"""The TP's checks (dockercourse.grading) on small fixture projects, with real builds.

- ``reference``: the TP's solution (the same files the source notebook writes);
- ``naive``: a beginner's project (root, shell-form CMD with Flask's dev server,
  deps after the code, no .dockerignore, 70 MB of ballast, hadolint errors);
- ``broken``: the reference pinning a Flask version absent offline, so the build fails;
- ``shellform``: the reference with a shell-form CMD: /bin/sh is PID 1, so
  ``docker stop`` waits for SIGKILL although gunicorn would handle SIGTERM.

``reference`` and ``naive`` are files under tests/fixtures/projects/; the two
variants are the reference with one line changed (:data:`VARIANTS`).

Each project is built once (the grader caches the build per submission state)
and every check grades it; the expected fraction of the points is below.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import docker
import pytest

from dockercourse import grading
from tests.utils import paths
from tests.utils.notebook_runner import NO_DAEMON
from tests.utils.paths import ROOT

FIXTURES = paths.FIXTURES / "projects"
#: variant -> (file, line of the reference, replacement)
VARIANTS = {
    "broken": ("app/requirements.txt", "flask==3.1.3", "flask==2.0.0"),
    "shellform": ("Dockerfile",
                  'CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--access-logfile", "-", "app:app"]',
                  "CMD gunicorn --bind 0.0.0.0:8000 --access-logfile - app:app"),
}


def make_project(name: str, dest: Path) -> Path:
    """Copy fixture project ``name`` (or the reference with a variant's one-line change) to ``dest``."""
    variant = VARIANTS.get(name)
    shutil.copytree(FIXTURES / ("reference" if variant else name), dest)
    if variant:
        rel, old, new = variant
        text = (dest / rel).read_text()
        assert old in text, f"variant {name}: the reference no longer has {old!r}"
        (dest / rel).write_text(text.replace(old, new))
    return dest


PROJECTS = ("reference", "naive", "broken", "shellform")
#: check -> expected fraction of the points for each of PROJECTS
EXPECTED = {
    "requirements": (1, 0, 0.5, 1),
    "application": (1, 1 / 3, 1, 1),
    "construction": (1, 1, 0, 1),
    "cmd": (1, 0, 0, 0.5),
    "utilisateur": (1, 0, 0, 1),
    "expose": (1, 0, 0, 1),
    "healthcheck": (1, 0, 0, 1),
    "cache": (1, 0, 0, 1),
    "dockerignore": (1, 0, 1, 1),
    "taille": (1, 0, 0, 1),
    "http": (1, 0.5, 0, 1),
    "env": (1, 0, 0, 1),
    "logs": (1, 0.5, 0, 1),
    "arret": (1, 0, 0, 0),
    "hadolint": (1, 0.5, 1, 1),
}
#: words the French feedback must contain for the naive project (what to change)
NAIVE_FEEDBACK = {
    "requirements": "flask==3.1.3",
    "application": "os.environ.get",
    "cmd": "forme exec",
    "utilisateur": "USER",
    "expose": "EXPOSE 8000",
    "healthcheck": "HEALTHCHECK",
    "cache": "requirements.txt seul",
    "dockerignore": ".dockerignore",
    "taille": "no-cache-dir",
    "http": "/sante",
    "env": "MESSAGE",
    "logs": "--access-logfile",
    "arret": "SIGTERM",
    "hadolint": "DL3000",
}


@pytest.fixture(scope="module")
def projects(tmp_path_factory, docker_client):
    root = tmp_path_factory.mktemp("tp-projects")
    out = {}
    for name in PROJECTS:
        out[name] = make_project(name, root / name)
    yield out
    for path in out.values():
        grading.cleanup(path, images=True, forget=True)


def test_every_check_has_expectations():
    assert set(EXPECTED) == set(grading.CHECKS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_check_on_fixture_projects(name, projects):
    for project, expected in zip(PROJECTS, EXPECTED[name], strict=True):
        res = grading.grade(name, projects[project], points=3)
        text = res.render()
        assert res.score == pytest.approx(3 * expected, abs=0.011), f"{project}:\n{text}"
        assert 0 <= res.score <= 3
        if expected < 1:  # every lost point says what was expected and what to do
            assert "Attendu" in text or "Impossible de vérifier" in text, text
            assert "À faire" in text or "Impossible de vérifier" in text, text
        if project == "naive" and name in NAIVE_FEEDBACK:
            assert NAIVE_FEEDBACK[name] in text, text
        if project == "shellform" and name == "arret":
            assert "SIGKILL" in text, text
        if project == "broken" and name not in ("requirements", "application", "dockerignore", "hadolint"):
            assert "ne se construit pas" in text or "flask==2.0.0" in text, text


def test_build_is_cached_per_submission_state(projects, docker_client, tmp_path):
    project = tmp_path / "p"
    shutil.copytree(projects["reference"], project)
    try:
        first = grading.ensure_image(project)
        again = grading.ensure_image(project)
        assert first.ok and not first.cached
        assert again.cached and again.image == first.image
        labels = docker_client.images.get(first.image).labels
        assert labels[grading.SUB_LABEL] == grading.submission_id(project)
        (project / "app" / "app.py").write_text((project / "app" / "app.py").read_text() + "\n# v2\n")
        changed = grading.ensure_image(project)
        assert changed.ok and not changed.cached and changed.image != first.image
        mine = docker_client.images.list(filters={"label": f"{grading.SUB_LABEL}={grading.submission_id(project)}"})
        assert [i.id for i in mine] == [changed.image]  # the previous state's image was removed
    finally:
        grading.cleanup(project, images=True, forget=True)


def test_run_check_prints_feedback_on_stdout_only(projects, capsys):
    score = grading.run_check("construction", 2, project=projects["reference"])
    out, err = capsys.readouterr()
    assert score == 2.0
    assert "Construction de l'image : 2/2" in out
    assert grading.RESULT_MARK not in out
    assert err == ""


def test_run_check_without_daemon_is_one_french_message(projects, capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", NO_DAEMON)
    score = grading.run_check("http", 2, project=projects["reference"])
    out, err = capsys.readouterr()
    assert score == 0.0
    assert "Le démon Docker ne répond pas" in out
    assert "Traceback" not in out and err == ""


def test_run_check_timeout_kills_and_cleans_up(projects, docker_client, capsys):
    # the naive image ignores SIGTERM: `docker stop` waits 4 s, longer than this timeout
    grading.ensure_image(projects["naive"])
    score = grading.run_check("arret", 1, project=projects["naive"], timeout=3)
    out, err = capsys.readouterr()
    assert score == 0.0 and "a dépassé 3 s" in out and err == ""
    sub = grading.submission_id(projects["naive"])
    assert docker_client.containers.list(all=True, filters={"label": f"{grading.SUB_LABEL}={sub}"}) == []


def test_cli_result_line_is_last_and_parsable(projects):
    proc = subprocess.run([sys.executable, "-I", "-m", "dockercourse.grading", "check", "expose",
                           "--project", str(projects["naive"]), "--points", "1"],
                          capture_output=True, text=True, timeout=120)
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith(grading.RESULT_MARK)
    assert json.loads(last[len(grading.RESULT_MARK):])["score"] == 0.0
    assert proc.returncode == 0


def test_audit_regrades_a_folder_without_any_notebook(projects):
    points = grading.notebook_points(ROOT / "source" / "tp-conteneurisation"
                                     / "tp-conteneurisation.ipynb")
    assert set(points) == set(grading.CHECKS)
    table = grading.audit(projects["reference"], points)
    assert all(score == pts for score, pts in table.values()), table


def test_oversized_context_is_refused_before_building(tmp_path, docker_client):
    project = tmp_path / "lourd"
    shutil.copytree(FIXTURES / "reference", project)
    with open(project / "app" / "donnees.bin", "wb") as fh:
        fh.truncate(int((grading.MAX_CONTEXT_MB + 1) * 1e6))
    try:
        res = grading.grade("construction", project, 2)
        assert res.score == 0 and f"{grading.MAX_CONTEXT_MB} Mo" in res.render()
        assert not docker_client.images.list(
            filters={"label": f"{grading.SUB_LABEL}={grading.submission_id(project)}"})
    finally:
        grading.cleanup(project, images=True, forget=True)


def test_two_students_on_one_daemon_do_not_collide(tmp_path, docker_client):
    from concurrent.futures import ThreadPoolExecutor

    folders = [tmp_path / student / "tp-conteneurisation" for student in ("alice", "bob")]
    for f in folders:
        shutil.copytree(FIXTURES / "reference", f)
    try:
        with ThreadPoolExecutor(4) as pool:  # same checks, same moment, same daemon
            results = list(pool.map(lambda job: grading.grade(job[0], job[1], 2),
                                    [(c, f) for f in folders for c in ("http", "arret")]))
        assert [r.score for r in results] == [2.0] * 4, "\n\n".join(r.render() for r in results)
        tags = {grading.ensure_image(f).tag for f in folders}
        assert len(tags) == 2
    finally:
        for f in folders:
            grading.cleanup(f, images=True, forget=True)


def test_failed_build_leaves_no_untagged_steps_behind(docker_client, tmp_path):
    project = tmp_path / "broken-again"
    make_project("broken", project)
    try:
        build = grading.ensure_image(project)
        last = grading.last_step_image(build.log)
        assert not build.ok and last
        # this build's own last committed step (the others are its parents): comparing all dangling
        # images of the daemon is racy while another build runs (make test builds the course image
        # on a second worker; every build's latest step is dangling until the next one commits)
        with pytest.raises(docker.errors.ImageNotFound):
            docker_client.images.get(last)
    finally:
        grading.cleanup(project, images=True, forget=True)


SLOW_STOP = '''import signal, sys, time

def stop(*_):
    time.sleep(3.3)  # a graceful shutdown that a loaded machine makes slow
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
while True:
    signal.pause()
'''


def test_a_slow_but_graceful_stop_is_not_a_sigkill(tmp_path, docker_client):
    """docker stop waits 4 s: an app that exits on SIGTERM after 3.3 s passes, with a note (the
    3 s target is for an idle machine); one that ignores SIGTERM is SIGKILLed (the fixture
    projects' shell-form and naive cases)."""
    folder = tmp_path / "tp-conteneurisation"
    shutil.copytree(FIXTURES / "reference", folder)
    (folder / "app" / "slow_stop.py").write_text(SLOW_STOP)
    dockerfile = (folder / "Dockerfile").read_text()
    (folder / "Dockerfile").write_text(dockerfile[:dockerfile.rindex("CMD [")] + 'CMD ["python", "slow_stop.py"]\n')
    try:
        res = grading.grade("arret", folder, 1)
        assert res.score == 1 and res.timings["stop_s"] >= 3, res.render()
        assert "sans SIGKILL" in res.render() and "code de sortie 0" in res.render()
    finally:
        grading.cleanup(folder, images=True, forget=True)
