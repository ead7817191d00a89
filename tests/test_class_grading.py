"""The class command on a corpus of modelled students (tests/corpus.py), for real:
every submission graded in its own sandbox (unprivileged user, rootless engine, hidden
course root, limits), the official score computed out of the student's kernel and
written to the gradebook through nbgrader.

One class run serves most tests (module fixture); the re-run, manual-grade and
interrupt tests use small classes of their own.
"""

from __future__ import annotations

import html as html_module
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from corpus import AID, CANARIES, COURSE_PLACEHOLDER, MAX, NB, ROOT, STUDENTS, solved

from dockercourse.grading import sandbox

pytestmark = pytest.mark.class_grading

JOBS = 4
SMALL_LIMITS = ["--wall", "240", "--cell-timeout", "20"]


def nbgrader(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    bindir = str(Path(sys.executable).parent)  # nbgrader shells out to alembic
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run([str(Path(bindir) / "nbgrader"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


def make_course(dest: Path, students: dict[str, nbformat.NotebookNode]) -> Path:
    import shutil

    dest.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", dest)
    shutil.copytree(ROOT / "source" / AID, dest / "source" / AID)
    proc = nbgrader("generate_assignment", AID, "--force", cwd=dest)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for i, (name, nb) in enumerate(students.items()):
        folder = dest / "submitted" / name / AID
        folder.mkdir(parents=True)
        text = nbformat.writes(nb).replace(COURSE_PLACEHOLDER, str(dest.resolve()))
        (folder / NB).write_text(text)
        (folder / "timestamp.txt").write_text(f"2026-11-2{i % 8} 10:{i:02d}:00.000000 UTC")
    return dest


def grade(course: Path, *args: str, timeout: float = 1500) -> subprocess.CompletedProcess:
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.run([sys.executable, "-m", "dockercourse", "grade", AID, "--course", str(course), *args],
                          capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def cell_scores(course: Path) -> dict[str, dict[str, tuple]]:
    from nbgrader.api import Gradebook

    out: dict[str, dict[str, tuple]] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for sub in gb.find_assignment(AID).submissions:
            for nb in sub.notebooks:
                for g in nb.grades:
                    out.setdefault(sub.student.id, {})[g.name] = (g.auto_score, g.manual_score,
                                                                   g.needs_manual_grade, nb.flagged)
    return out


CANARY = "dockercourse-canari-classe"


def host_state(client) -> dict:
    """What a hostile cell that reached the host would have removed: the base image, and a
    canary image tag and container made for this test (other tests, on other workers, make
    and remove images of their own meanwhile, so the host's whole image list is no measure)."""
    import docker

    state = {"base": client.images.get("python:3.13-slim").id}
    try:
        state["canary_image"] = client.images.get(f"{CANARY}:1").id
    except docker.errors.ImageNotFound:
        state["canary_image"] = None
    try:
        state["canary_container"] = client.containers.get(CANARY).id
    except docker.errors.NotFound:
        state["canary_container"] = None
    return state


def leftovers() -> list[str]:
    """Anything of the sandboxes still on the host: processes, mounts, cgroups, slot folders."""
    found = []
    users = {}
    for line in Path("/etc/passwd").read_text().splitlines():
        name, _, uid = line.split(":")[:3]
        if name.startswith(sandbox.USER_PREFIX):
            users[int(uid)] = name
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                uid = entry.stat().st_uid
            except OSError:
                continue
            if uid in users or uid >= sandbox.SUBID_BASE:
                found.append(f"process {entry.name} of uid {uid}")
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [f"mount {ln.split()[4]}" for ln in mounts.splitlines() if str(sandbox.DEFAULT_ROOT) in ln]
    for base in Path("/sys/fs/cgroup").glob(f"*/{sandbox.CGROUP_NAME}/*"):
        if base.is_dir():
            found.append(f"cgroup {base}")
    slots = sandbox.DEFAULT_ROOT / "slots"
    if slots.exists():
        found += [f"file {p}" for p in slots.iterdir()]
    return found


@pytest.fixture(scope="module")
def graded(tmp_path_factory, docker_client):
    students = {name: s.build() for name, s in STUDENTS.items()}
    course = make_course(tmp_path_factory.mktemp("classe") / "cours", students)
    docker_client.images.get("python:3.13-slim").tag(CANARY, "1")
    docker_client.containers.create("python:3.13-slim", "true", name=CANARY)  # unlabelled: no cleanup takes it
    try:
        before = host_state(docker_client)
        t0 = time.time()
        proc = grade(course, "--jobs", str(JOBS), *SMALL_LIMITS, "--json", str(course / "summary.json"))
        t1 = time.time()
        events = subprocess.run(["docker", "events", "--since", str(int(t0) - 1), "--until", str(int(t1) + 1),
                                 "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"],
                                capture_output=True, text=True, timeout=60).stdout
        after = host_state(docker_client)
    finally:
        docker_client.containers.get(CANARY).remove(force=True)
        docker_client.images.remove(f"{CANARY}:1")
    rows = json.loads((course / "summary.json").read_text()) if (course / "summary.json").exists() else []
    return {"course": course, "proc": proc, "before": before, "after": after, "events": events,
            "rows": {r["student"]: r for r in rows}, "scores": cell_scores(course)}


def test_the_corpus_models_at_least_twenty_students():
    assert len(STUDENTS) >= 20
    assert all(set(s.expected) == set(MAX) for s in STUDENTS.values())


def test_the_class_command_grades_everyone(graded):
    proc = graded["proc"]
    assert set(graded["rows"]) == set(STUDENTS), proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "▕" in proc.stdout and "moyenne" in proc.stdout  # progress bar, then the summary table
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_official_score_of_every_cell(graded, name):
    student = STUDENTS[name]
    got = graded["scores"][name]
    row = graded["rows"][name]
    detail = f"{name} ({student.why}): {row.get('flags')} {row.get('error')}\n{row.get('log_tail', '')[-1500:]}"
    for cell, expected in student.expected.items():
        auto, manual, _, _ = got[cell]
        if expected is not None:
            assert auto == pytest.approx(expected, abs=0.011), f"{cell}: {auto} != {expected} — {detail}"
    assert got["q_vm_reponse"][1] is None, "the written answer waits for a human"
    if student.flagged is not None:
        assert bool(row["flags"]) == student.flagged, detail
        assert any(v[3] for v in got.values()) == student.flagged, f"{name}: gradebook flag"


@pytest.mark.parametrize("name", sorted(n for n, s in STUDENTS.items() if s.feedback))
def test_feedback_names_what_failed_in_french(graded, name):
    nb = json.loads((graded["course"] / "autograded" / name / AID / NB).read_text())
    text = json.dumps(nb, ensure_ascii=False)
    for word in STUDENTS[name].feedback:
        assert word in text, f"{name}: « {word} » missing from the feedback"
    assert "Traceback" not in "".join(
        "".join(o.get("text", "")) for c in nb["cells"] if (c.get("metadata", {}).get("nbgrader") or {}).get("grade")
        for o in c.get("outputs", []))


def test_kernel_patched_student_gets_the_score_of_their_files(graded):
    got = graded["scores"]["kernel-patched-checker"]
    blank = graded["scores"]["untouched-release"]
    assert {k: v[0] for k, v in got.items()} == {k: v[0] for k, v in blank.items()}
    assert any("noyau annonçait" in f for f in graded["rows"]["kernel-patched-checker"]["flags"])


def sandbox_submission_ids(jobs: int) -> set[str]:
    """The submission ids the checks and the student's cells use inside the sandboxes
    (folder, sandbox user, host): names that must never appear on the host's engine."""
    import hashlib
    import socket

    out = set()
    for k in range(jobs):
        for folder in ("job/project", "nb"):
            path = sandbox.DEFAULT_ROOT / "slots" / str(k) / folder
            key = f"{path}|{sandbox.USER_PREFIX}{k}|{socket.gethostname()}"
            out.add(hashlib.sha256(key.encode()).hexdigest()[:12])
    return out


def test_the_host_is_untouched(graded):
    assert graded["after"] == graded["before"] and graded["before"]["canary_container"]
    created = [ln for ln in graded["events"].splitlines() if ln.startswith("container create")]
    ids = sandbox_submission_ids(JOBS)
    assert not [ln for ln in created if any(i in ln for i in ids)], created  # they ran in the sandboxes
    for path in CANARIES:
        assert not Path(path).exists(), f"{path} written on the host"
    assert leftovers() == []


def _printed_by_student_cells(course: Path, student: str) -> str:
    nb = json.loads((course / "autograded" / student / AID / NB).read_text())
    return "".join("".join(o.get("text", "")) + str(o.get("evalue", "")) for c in nb["cells"]
                   if c["cell_type"] == "code" and not (c.get("metadata", {}).get("nbgrader") or {}).get("grade")
                   for o in c.get("outputs", []))


def test_hostile_cells_saw_nothing_of_the_course(graded):
    course = graded["course"]
    seen = _printed_by_student_cells(course, "reads-course-source")
    assert f"existe : {course.resolve()}/gradebook.db False" in seen, seen[-2000:]
    assert f"existe : {course.resolve()}/source False" in seen
    assert "BEGIN HIDDEN TESTS" not in seen and "control group" not in seen
    gradebook = (course / "gradebook.db").read_bytes()
    assert gradebook.startswith(b"SQLite format 3")
    shadow = Path("/etc/shadow").read_text().splitlines()[0]
    mounted = (graded["course"] / "autograded" / "bind-mounts-host-root" / AID / NB).read_text()
    assert shadow not in mounted


def test_unpullable_base_image_fails_fast_in_french(graded):
    row = graded["rows"]["unpullable-base-image"]
    nb = (graded["course"] / "autograded" / "unpullable-base-image" / AID / NB).read_text()
    assert "introuvable" in nb
    assert row["seconds"] < 90


def test_feedback_html_shows_official_scores_without_hidden_tests(graded):
    course = graded["course"]
    proc = nbgrader("generate_feedback", AID, cwd=course)
    assert proc.returncode == 0, proc.stderr[-2000:]
    html = (course / "feedback" / "kernel-patched-checker" / AID / NB.replace(".ipynb", ".html")).read_text()
    text = html_module.unescape(re.sub(r"<[^>]+>", "", html))
    assert "Construction de l'image : 0/2" in text
    assert "BEGIN HIDDEN TESTS" not in text and '"control group", "groupe de contrôle"' not in text


def test_rerun_resumes_and_never_overwrites_manual_grades(tmp_path, docker_client):
    from nbgrader.api import Gradebook

    course = make_course(tmp_path / "cours", {"alice": solved()})
    assert grade(course, "--jobs", "1", *SMALL_LIMITS).returncode == 0
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        g = gb.find_grade("q_vm_reponse", Path(NB).stem, AID, "alice")
        g.manual_score = 2.5
        h = gb.find_grade("test_taille", Path(NB).stem, AID, "alice")
        h.manual_score = 0.5  # an instructor overrode a check
        gb.db.commit()
    t0 = time.monotonic()
    again = grade(course, "--jobs", "1", *SMALL_LIMITS)
    assert again.returncode == 0 and "reprise" in again.stdout and time.monotonic() - t0 < 60
    forced = grade(course, "--jobs", "1", "--force", *SMALL_LIMITS)
    assert forced.returncode == 0, forced.stdout[-2000:]
    got = cell_scores(course)["alice"]
    assert got["q_vm_reponse"][1] == 2.5 and got["test_taille"][1] == 0.5
    assert got["test_taille"][0] == 1.0  # the official auto score sits beside it


def test_interrupt_leaves_nothing_running(tmp_path, docker_client):
    course = make_course(tmp_path / "cours", {f"eleve{i}": solved() for i in range(2)})
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "dockercourse", "grade", AID, "--course", str(course),
                             "--jobs", "2", *SMALL_LIMITS], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list((sandbox.DEFAULT_ROOT / "slots").glob("*/home/docker")):
        time.sleep(0.2)
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 130, out[-2000:]
    assert "Interrompu" in out
    assert leftovers() == []
    rerun = grade(course, "--jobs", "2", *SMALL_LIMITS)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert {s: v["test_construction"][0] for s, v in cell_scores(course).items()} == {
        f"eleve{i}": 2.0 for i in range(2)}
