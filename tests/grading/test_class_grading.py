"""The class command on a corpus of modelled students (tests/utils/corpus.py), for real:
every submission graded in its own sandbox (unprivileged user, rootless engine, hidden
course root, limits), the official score computed out of the student's kernel and
written to the gradebook through nbgrader.

One class run serves most tests (module fixture); the re-run, manual-grade and
interrupt tests use small classes of their own.
"""
from __future__ import annotations

import datetime
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

from dockercourse.grading import classroom, sandbox
from dockercourse.grading.host import SUBID_END
from tests.utils import term
from tests.utils.corpus import AID, CANARIES, COURSE_PLACEHOLDER, MAX, NB, ROOT, STUDENTS, solved

pytestmark = [pytest.mark.class_grading, pytest.mark.root]
JOBS = 4
SMALL_LIMITS = ["--wall", "240", "--cell-timeout", "20"]


def make_course(dest: Path, students: dict[str, nbformat.NotebookNode]) -> Path:
    import shutil

    dest.mkdir(parents=True)
    shutil.copy(ROOT / "nbgrader_config.py", dest)
    shutil.copytree(ROOT / "source" / AID, dest / "source" / AID)
    term.Instructor(dest, dest / ".state" / "exchange").nbgrader("generate_assignment", AID, "--force")
    for i, (name, nb) in enumerate(students.items()):
        folder = dest / "submitted" / name / AID
        folder.mkdir(parents=True)
        text = nbformat.writes(nb).replace(COURSE_PLACEHOLDER, str(dest.resolve()))
        (folder / NB).write_text(text)
        (folder / "timestamp.txt").write_text(f"2026-11-2{i % 8} 10:{i:02d}:00.000000 UTC")
    return dest


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


CANARY = f"dockercourse-canari-classe-{os.getpid()}"  # a killed earlier run may have left its own


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
    """Anything of the sandboxes still on the host once no class command runs: processes, mounts,
    cgroups, slot folders. Read holding the class command's lock: another session's class command
    (the class server's grading in ``make test``) may be using the slots meanwhile, and is waited for."""
    lock = classroom._exclusive(sandbox.DEFAULT_ROOT, wait=True)
    try:
        return _leftovers()
    finally:
        lock.close()


def _leftovers() -> list[str]:
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
            if uid in users or sandbox.SUBID_BASE <= uid < SUBID_END:  # (the class server's are above)
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


#: Who does what in the term beyond their notebook: hands in twice (the untouched release by
#: mistake, then their work), hands in after the deadline, gets Q4 graded in formgrader.
TWICE, LATE, BY_BROWSER = "naive-student", "shell-form-cmd", "reference-solution"


def hand_in(student: term.Student, course: Path) -> None:
    """The student's work (from the corpus) in the notebook they fetched."""
    path = student.notebook(AID, NB)
    assert path.is_file(), f"{student.name} has no fetched notebook"
    text = nbformat.writes(STUDENTS[student.name].build()).replace(COURSE_PLACEHOLDER, str(course.resolve()))
    path.write_text(text)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, docker_client):
    """The term up to the grades: release, every student fetches, works and submits (one twice,
    one late), collect, then the class command."""
    import shutil

    base = tmp_path_factory.mktemp("trimestre")
    course, exchange = base / "cours", base / "echange"
    (course / "source").mkdir(parents=True)
    exchange.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(ROOT / "source" / AID, course / "source" / AID)
    teacher = term.Instructor(course, exchange)
    teacher.nbgrader("generate_assignment", AID, "--force")
    teacher.nbgrader("release_assignment", AID)

    students = {name: term.Student(name, base / "eleves" / name, exchange) for name in STUDENTS}
    panel = [s for name, s in students.items() if name not in (TWICE, LATE)]
    term.assignments_panel(panel, "fetch_assignment", AID)
    for name in (TWICE, LATE):
        students[name].cli("fetch_assignment", AID)
    for s in panel:
        hand_in(s, course)
    term.assignments_panel(panel, "submit_assignment", AID)
    students[TWICE].cli("submit", AID)  # the fetched notebook, untouched: by mistake
    hand_in(students[TWICE], course)
    students[TWICE].cli("submit", AID)
    due = datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(seconds=1)
    teacher.nbgrader("db", "assignment", "add", AID, f"--duedate={due:%Y-%m-%d %H:%M:%S} UTC")
    while datetime.datetime.now(datetime.UTC) < due + datetime.timedelta(seconds=0.2):
        time.sleep(0.1)
    hand_in(students[LATE], course)
    students[LATE].cli("submit", AID)
    teacher.nbgrader("collect", AID)

    docker_client.images.get("python:3.13-slim").tag(CANARY, "1")
    docker_client.containers.create("python:3.13-slim", "true", name=CANARY)  # unlabelled: no cleanup takes it
    try:
        before = host_state(docker_client)
        t0 = time.time()
        proc = teacher.grade(AID, "--jobs", str(JOBS), *SMALL_LIMITS, "--json", str(course / "summary.json"))
        t1 = time.time()
        events = subprocess.run(["docker", "events", "--since", str(int(t0) - 1), "--until", str(int(t1) + 1),
                                 "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"],
                                capture_output=True, text=True, timeout=60).stdout
        after = host_state(docker_client)
    finally:
        docker_client.containers.get(CANARY).remove(force=True)
        docker_client.images.remove(f"{CANARY}:1")
    rows = json.loads((course / "summary.json").read_text()) if (course / "summary.json").exists() else []
    return {"course": course, "exchange": exchange, "teacher": teacher, "students": students, "panel": panel,
            "due": due, "proc": proc, "before": before, "after": after, "events": events,
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
    # "fast": no check waited for its time limit, and the image-dependent checks were not attempted
    # (how long it took is benchmarks/class_grading.py's business, not a test's)
    assert "a dépassé" not in nb and row["score"] < row["max"]


def test_the_feedback_shows_the_students_build_as_plain_text(graded):
    """The student's own `!docker build` cell runs in a pty: in the returned notebook it reads like
    BuildKit's plain progress, without the escape codes of its TTY display."""
    nb = json.loads((graded["course"] / "autograded" / "reference-solution" / AID / NB).read_text())
    text = "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
                   and "!docker build" in "".join(c["source"]) for o in c.get("outputs", []))
    assert "[internal] load build definition" in text, text[:2000]
    assert "\x1b" not in text, text[:2000]


class Command:
    """The class command in the background, its output read line by line as it comes, so a
    test can wait for a state the command itself reports before acting."""

    def __init__(self, course: Path, *args: str, env: dict[str, str] | None = None, lock=None):
        import queue
        import threading

        self.lines: list[str] = []
        self._q: queue.Queue = queue.Queue()
        handed = {classroom.LOCK_FD_ENV: str(lock.fileno())} if lock is not None else {}
        self.proc = subprocess.Popen([sys.executable, "-m", "dockercourse", "grade", AID, "--course", str(course),
                                      *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**term.env(), **(env or {}), **handed},
                                     pass_fds=(lock.fileno(),) if lock is not None else ())
        if lock is not None:
            lock.close()  # the command holds it now
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            self._q.put(line)
        self._q.put(None)

    def wait_for(self, text: str, timeout: float = 240) -> str:
        """The first line containing ``text``; fails if the command ends or times out first."""
        import queue

        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._q.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"the class command never printed {text!r} in {timeout:.0f} s:\n{self.output[-3000:]}")
            if line is None:
                pytest.fail(f"the class command ended before printing {text!r}:\n{self.output[-3000:]}")
            if text in line:
                return line

    def finish(self, timeout: float = 180) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    @property
    def output(self) -> str:
        return "".join(self.lines)


def test_interrupt_leaves_nothing_running(tmp_path, docker_client):
    """Ctrl-C while a student's notebook runs in its sandbox (the command says so): exit 130,
    « Interrompu », nothing of the sandboxes left, and a re-run grades the class."""
    course = make_course(tmp_path / "cours", {f"eleve{i}": solved() for i in range(2)})
    teacher = term.Instructor(course, course / ".state" / "exchange")
    cmd = Command(course, "--jobs", "2", *SMALL_LIMITS)
    cmd.wait_for(classroom.NOTEBOOK_LINE)
    cmd.proc.send_signal(signal.SIGINT)
    assert cmd.finish() == 130, cmd.output[-2000:]
    assert "Interrompu" in cmd.output
    assert leftovers() == []
    rerun = teacher.grade(AID, "--jobs", "2", *SMALL_LIMITS)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert {s: v["test_construction"][0] for s, v in cell_scores(course).items()} == {
        f"eleve{i}": 2.0 for i in range(2)}


@pytest.mark.parametrize("write", ["prepare", "record"])
def test_interrupt_during_a_gradebook_write(tmp_path, docker_client, write):
    """A Ctrl-C that arrives inside nbgrader's gradebook write (prepare: the submission is
    created; record: its grades are committed) is held until the write ends, then stops the
    command: exit 130, « Interrompu », nothing left running, and the write itself complete.
    The command holds inside the write until the signal has arrived (a test-only hook), so
    the signal lands there on any machine. One student: without the interrupt the command
    would end with 0 (record) or lose the Ctrl-C in nbgrader's catch-all (prepare)."""
    course = make_course(tmp_path / "cours", {"eleve0": solved()})
    # planted under the class command's lock, which the command then inherits: no other class command
    # (the class server's grading, in make test) can be using slot 1 or reap it first
    lock = classroom._exclusive(sandbox.DEFAULT_ROOT, wait=True)
    stale = sandbox.DEFAULT_ROOT / "slots"  # what a killed run with two jobs leaves: a slot this one never enters
    stale.mkdir(parents=True, exist_ok=True)
    (stale / "1").mkdir(exist_ok=True)
    (stale / "1.img").write_bytes(b"")
    cmd = Command(course, "--jobs", "1", *SMALL_LIMITS, env={classroom.HOLD_ENV: write}, lock=lock)
    cmd.wait_for(classroom.HOLD_LINE)
    cmd.proc.send_signal(signal.SIGINT)
    assert cmd.finish() == 130, cmd.output[-2000:]
    assert "Interrompu" in cmd.output
    assert "n'a pas pu préparer" not in cmd.output
    assert "nettoyés : 1" in cmd.output
    assert leftovers() == []
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:  # the held write went through whole
        sub = gb.find_submission_notebook(Path(NB).stem, AID, "eleve0")
        scores = {g.name: g.auto_score for g in sub.grades if g.cell.cell_type == "code"}
    record = course / classroom.RECORDS / AID / "eleve0.json"
    if write == "record":
        assert scores["test_construction"] == 2.0 and scores["test_http"] == 2.0, scores
        assert json.loads(record.read_text())["status"] == "recorded"
    else:
        assert not record.exists()  # interrupted before its sandbox ran: graded by the next run


def test_a_grader_whose_engine_cannot_start_containers_charges_nobody(tmp_path, docker_client):
    """The sandbox's engine refuses to start any container (its default runtime is /bin/false,
    through the instructor's extra dockerd flags): builds work, every container start fails, as
    with the systemd cgroup driver for a user without a session. Nothing is charged to the
    student: no cell is scored, the submission is flagged « correction à refaire » with the
    reason, the command exits 1 and its summary says so. A plain re-run grades it again, at full
    marks, and clears the flag."""
    course = make_course(tmp_path / "cours", {"eleve0": solved()})
    broken = Command(course, "--jobs", "1", *SMALL_LIMITS,
                     env={sandbox.DOCKERD_ARGS_ENV: "--add-runtime=casse=/bin/false --default-runtime=casse"})
    assert broken.finish() == 1, broken.output[-3000:]
    assert "⏳ 1 correction à refaire" in broken.output, broken.output[-3000:]
    assert "ne démarre pas de conteneur" in broken.output
    cells = cell_scores(course)["eleve0"]
    assert {k: cells[k][:3] for k in MAX} == {k: (None, None, True) for k in MAX}  # not 0: not graded
    assert cells["test_construction"][3]  # flagged
    record = json.loads((course / classroom.RECORDS / AID / "eleve0.json").read_text())
    assert record["status"] == classroom.REDO_STATUS and "ne démarre pas de conteneur" in record["redo"][0]
    assert leftovers() == []

    rerun = term.Instructor(course, course / ".state" / "exchange").grade(AID, "--jobs", "1", *SMALL_LIMITS)
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    cells = cell_scores(course)["eleve0"]
    assert {k: cells[k][0] for k in MAX} == {k: float(v) for k, v in MAX.items()}
    assert not cells["test_construction"][3]  # the flag of the broken run is gone


COMMENT = "Bonne distinction : l'hyperviseur virtualise le matériel, le conteneur partage le noyau."


def submission_rows(course: Path) -> dict[str, dict]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s.student.id: {"late": s.total_seconds_late, "score": s.score, "timestamp": s.timestamp}
                for s in gb.find_assignment(AID).submissions}


@pytest.fixture(scope="module")
def term_end(graded):
    """After the class command: Q4 graded by hand (one student in formgrader, in Chromium, two
    through nbgrader's API, one check overridden), a resumed run and a forced regrade, then the
    feedback released and fetched by every student, the exports, and the class dashboard."""
    from nbgrader.api import Gradebook

    from tests.utils.formgrader_browser import formgrader_server, grade_by_hand

    course, teacher, students = graded["course"], graded["teacher"], graded["students"]
    out = {}
    with formgrader_server(course) as server:
        out["browser"] = grade_by_hand(server.url, server.token, BY_BROWSER, "q_vm_reponse", 2.5, COMMENT,
                                       screenshot=course / "formgrader-failure.png")
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student, score in ((TWICE, 1.0), ("wrong-port", 3.0)):  # as formgrader's API saves a grade
            grade_ = gb.find_grade("q_vm_reponse", Path(NB).stem, AID, student)
            grade_.manual_score, grade_.needs_manual_grade = score, False
        gb.find_grade("test_taille", Path(NB).stem, AID, "reference-after-wipe").manual_score = 0.5
        gb.db.commit()
    out["resumed"] = teacher.grade(AID, "--jobs", "2", *SMALL_LIMITS)
    out["forced"] = teacher.grade(AID, "--jobs", "2", "--force", "--student", BY_BROWSER,
                                  "--student", "reference-after-wipe", *SMALL_LIMITS)
    out["scores"] = cell_scores(course)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        out["comment"] = gb.find_comment("q_vm_reponse", Path(NB).stem, AID, BY_BROWSER).manual_comment
    out["submissions"] = submission_rows(course)

    teacher.nbgrader("generate_feedback", AID)
    teacher.nbgrader("release_feedback", AID)
    term.assignments_panel(graded["panel"], "fetch_feedback", AID)
    for name in (TWICE, LATE):
        students[name].cli("fetch_feedback", AID)
    return out


@pytest.fixture(scope="module")
def exported(term_end, graded):
    """The end of the term: nbgrader's export (one line per student, and the course's exporter:
    one line per student and graded cell), and the class dashboard under nbval on this gradebook."""
    course, teacher = graded["course"], graded["teacher"]
    teacher.nbgrader("export", "--to", "notes.csv")
    teacher.nbgrader("export", "--exporter", "dockercourse.dashboard.CellsExport", "--to", "cellules.csv")
    out = {"notes": read_csv(course / "notes.csv"), "cells": read_csv(course / "cellules.csv")}
    view = dashboard_view(course, course.parent / "tableau")
    dashboard_env = dict(term.env(), DOCKERCOURSE_COURSE=str(view))
    if os.environ.get("DOCKERCOURSE_REFRESH_DASHBOARD") == "1":  # rewrite its committed outputs from this term
        term.run([str(term.BIN / "jupyter"), "nbconvert", "--to", "notebook", "--execute", "--inplace",
                  str(DASHBOARD)], ROOT, dashboard_env)
    out["dashboard"] = subprocess.run([sys.executable, "-m", "pytest", "-q", str(DASHBOARD)], cwd=ROOT,
                                      env=dashboard_env, capture_output=True, text=True, timeout=600)
    return out


DASHBOARD = ROOT / "notebooks" / "enseignant" / "tableau_de_bord.ipynb"
#: Students whose outcome depends on the machine's speed (a score or the flag not asserted in the
#: corpus): the dashboard's committed outputs, which nbval compares, leave them out.
SPEED_DEPENDENT = sorted(n for n, s in STUDENTS.items() if s.flagged is None or None in s.expected.values())


def dashboard_view(course: Path, dest: Path) -> Path:
    """A copy of the graded course without :data:`SPEED_DEPENDENT` students (removed through
    nbgrader's API, with their autograded notebooks and grading records)."""
    import shutil

    from nbgrader.api import Gradebook

    shutil.copytree(course, dest, ignore=shutil.ignore_patterns("tableau_de_bord"))
    with Gradebook(f"sqlite:///{dest / 'gradebook.db'}", course_id=term.COURSE_ID) as gb:
        for name in SPEED_DEPENDENT:
            gb.remove_submission(AID, name)
            gb.remove_student(name)
    for name in SPEED_DEPENDENT:
        shutil.rmtree(dest / "autograded" / name)
        shutil.rmtree(dest / "submitted" / name)
        (dest / ".dockercourse-grading" / AID / f"{name}.json").unlink()
    return dest


def read_csv(path: Path) -> list[dict]:
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_every_student_went_through_the_exchange(graded):
    inbound = [p.name.split("+")[0] for p in (graded["exchange"] / term.COURSE_ID / "inbound").iterdir()]
    assert sorted(inbound) == sorted([*STUDENTS, TWICE])  # one student handed in twice
    assert {p.name for p in (graded["course"] / "submitted").iterdir()} == set(STUDENTS)
    collected = graded["course"] / "submitted" / TWICE / AID / NB
    assert collected.read_text() == graded["students"][TWICE].notebook(AID, NB).read_text()  # the last one


@pytest.mark.browser
def test_the_late_submission_is_late_for_nbgrader(term_end, exported, graded):
    late = {name: row["late"] for name, row in term_end["submissions"].items() if row["late"]}
    assert list(late) == [LATE] and 0 < late[LATE] < 120, late
    assert graded["rows"][LATE]["late_s"] == pytest.approx(late[LATE])  # the class command's summary
    assert "1 en retard" in graded["proc"].stdout
    row = next(r for r in exported["notes"] if r["student_id"] == LATE)
    assert row["timestamp"] > row["duedate"] != ""


@pytest.mark.browser
def test_manual_grades_survive_a_resumed_and_a_forced_regrade(term_end):
    resumed, forced = term_end["resumed"], term_end["forced"]
    assert resumed.returncode == 0 and "reprise" in resumed.stdout, resumed.stdout[-2000:]
    assert forced.returncode == 0 and "2 copie(s) à corriger" in forced.stdout, forced.stdout[-2000:]
    got = term_end["scores"]
    assert got[BY_BROWSER]["q_vm_reponse"][1] == 2.5 and term_end["comment"] == COMMENT
    assert got[TWICE]["q_vm_reponse"][1] == 1.0 and got["wrong-port"]["q_vm_reponse"][1] == 3.0
    assert got["reference-after-wipe"]["test_taille"][:2] == (1.0, 0.5)  # official auto score beside the override
    assert not got[TWICE]["q_vm_reponse"][2]  # graded by hand: no longer waiting for a human
    # nbgrader's rule when a submission is autograded again: a manual grade is kept and marked for review
    assert got[BY_BROWSER]["q_vm_reponse"][2] and got["reference-after-wipe"]["test_taille"][2]


@pytest.mark.browser
def test_formgrader_in_chromium_shows_the_class(term_end):
    seen = term_end["browser"]
    assert set(STUDENTS) <= set(seen["students"]), seen


def failed_check_headers(scores: dict[str, tuple]) -> list[str]:
    """The first line of every check that did not get full marks, as the grader writes it
    (« ❌ Utilisateur non root : 0/1 »), from the gradebook's official scores."""
    from dockercourse.grading.checks import CHECKS

    out = []
    for cell, (auto, *_) in scores.items():
        check = cell.removeprefix("test_")
        if check in CHECKS and auto is not None and auto < MAX[cell]:
            out.append(f"{'🟡' if auto > 0 else '❌'} {CHECKS[check][0]} : {auto:g}/{MAX[cell]:g}")
    return out


@pytest.mark.parametrize("name", sorted(STUDENTS))
@pytest.mark.browser
def test_every_student_fetches_french_feedback_without_hidden_tests(term_end, graded, name):
    pages = graded["students"][name].feedback(AID, NB.replace(".ipynb", ".html"))
    assert len(pages) == 1, f"{name}: {pages}"
    text = html_module.unescape(re.sub(r"<[^>]+>", "", pages[0].read_text()))
    for word in STUDENTS[name].feedback:
        assert word in text, f"{name}: « {word} » missing from the feedback"
    for header in failed_check_headers(term_end["scores"][name]):
        assert header in text, f"{name}: « {header} » missing from the feedback"
    assert "BEGIN HIDDEN TESTS" not in text and '"control group", "groupe de contrôle"' not in text
    if name == "kernel-patched-checker":
        assert "Construction de l'image : 0/2" in text
    if name == BY_BROWSER:
        assert COMMENT in text


@pytest.mark.browser
def test_the_exports_carry_every_score_and_the_comment(term_end, exported):
    totals = {r["student_id"]: r for r in exported["notes"]}
    assert set(totals) == set(STUDENTS)
    for name, row in term_end["submissions"].items():
        assert float(totals[name]["raw_score"]) == pytest.approx(row["score"]), name
        assert float(totals[name]["max_score"]) == 30
    assert float(totals[BY_BROWSER]["raw_score"]) == 29.5  # 27 automatic points + Q4 entered in formgrader
    cells = exported["cells"]
    for r in cells:
        auto, manual, _, _ = term_end["scores"][r["student_id"]][r["cell"]]
        expected = manual if manual is not None else auto
        assert (float(r["score"]) if r["score"] != "" else None) == expected, r
    q4 = next(r for r in cells if r["student_id"] == BY_BROWSER and r["cell"] == "q_vm_reponse")
    assert q4["comment"] == COMMENT


def test_the_dashboard_runs_under_nbval_on_the_term(exported):
    proc = exported["dashboard"]
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
