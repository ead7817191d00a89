"""The instructor side: grade a whole class, each submission in its own sandbox.

``python -m dockercourse grade tp-conteneurisation --jobs 4`` (or ``make grade``):

1. **prepare** (this process, one student after another): nbgrader's own autograde
   sanitizes the submitted notebook (:mod:`.passes`) — nothing runs yet; the project files are
   read out of its ``%%writefile`` cells;
2. **sandboxes** (``--jobs`` at a time: a pool of slots, :mod:`.slots`, on a thread pool): each
   submission goes to a free slot's :class:`~.sandbox.Sandbox`, which sends back the official
   results (computed before any student code runs) and the executed notebook;
3. **record** (this process, the only writer of the gradebook): nbgrader's autograde again, with
   the sandbox's outputs injected instead of executing, then every code grade cell's official
   score (:mod:`.records`). Cells whose kernel score was higher, and deleted, duplicated or edited
   test cells, are flagged. Manual scores are never touched. When grading itself broke (no engine,
   an engine that cannot start a container, no sandbox), the cells it could not judge get no
   score at all, the submission is flagged « correction à refaire » with the reason and the
   command exits non-zero; the next run grades it again, and a clean run clears the flags this
   command set.

A record per student (``.dockercourse-grading/<assignment>/<student>.json`` in the course root)
makes a re-run resume: a submission whose files did not change is not graded again (``--force``
regrades). Interrupting stops the sandboxes, removes what they made and leaves the gradebook as the
last recorded student left it (:mod:`.interrupt`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from .. import engine
from ..errors import GradingError, SandboxError
from .assignment import Assignment, notebook_points  # noqa: F401 (the class command's names, kept)
from .cli import add_class_arguments  # noqa: F401 (kept importable from here)
from .host import cached_save
from .interrupt import HOLD_ENV, HOLD_LINE, deferred_interrupt  # noqa: F401
from .passes import REDO
from .protocol import Job, Limits, _num, last_line
from .records import (  # noqa: F401
    NO_SANDBOX,
    RECORDS,
    REDO_STATUS,
    late_text,
    prepare,
    record,
    record_without_sandbox,
)
from .slots import SlotPool
from .snapshot import files_from_notebook

INTERRUPTED = "Interrompu : arrêt des bacs à sable (le carnet de notes garde les copies déjà enregistrées)."
#: Printed (with the student) when a sandbox has sent the official results and runs the notebook.
NOTEBOOK_LINE = "exécution du notebook pour les retours"


def submission_key(folder: Path, notebook: str) -> str:
    h = hashlib.sha256()
    for name in (notebook, "timestamp.txt"):
        p = folder / name
        h.update(name.encode() + b"\0" + (p.read_bytes() if p.is_file() else b"-") + b"\0")
    return h.hexdigest()[:16]


def _base_archive(root: Path) -> tuple[str, bool]:
    """``docker save`` of the base image and of the probe base (the base with the TP's pins,
    :func:`~.checks.ensure_probe_base`), cached by their ids; (path, is the stand-in)."""
    import docker

    from .probe import ensure_probe_base

    client = engine.client()
    try:
        img = client.images.get(engine.BASE_IMAGE)
    except docker.errors.ImageNotFound:
        raise SandboxError(f"l'image de base {engine.BASE_IMAGE} est absente du démon Docker de cette machine : "
                           "préparez-la d'abord (make setup, ou python -m dockercourse offline).") from None
    standin = bool((img.labels or {}).get(engine.STANDIN_LABEL))
    try:
        probe_base = ensure_probe_base(client)
    except RuntimeError as err:
        raise SandboxError(str(err)) from None
    probe_id = client.images.get(probe_base).id
    key = f"{img.id.split(':')[-1][:16]}-{probe_id.split(':')[-1][:12]}"
    path = cached_save(root / "cache", key, [engine.BASE_IMAGE, probe_base])
    return str(path), standin


class _Bar:
    def __init__(self, total: int):
        self.total, self.done, self.t0 = total, 0, time.monotonic()

    def step(self, line: str) -> None:
        self.done += 1
        width = 24
        full = int(width * self.done / max(self.total, 1))
        bar = "█" * full + "░" * (width - full)
        print(f"▕{bar}▏ {self.done:>3}/{self.total}  {time.monotonic() - self.t0:6.1f} s  {line}", flush=True)


def grade_class(course_root: str | Path, assignment: str, jobs: int = 2, students: list[str] | None = None,
                force: bool = False, limits: Limits | None = None, quiet: bool = False,
                wait: bool = False) -> list[dict]:
    """Grade every collected submission of ``assignment`` (see the module docstring).
    Returns one row per student: score, max, flags, seconds, status. ``wait``: wait for a class
    command already running (also when :data:`WAIT_ENV` is 1) instead of stopping."""
    import warnings

    from ..lightimports import skip_slow_optional_imports
    from .host import DEFAULT_ROOT, ensure_host_support
    from .passes import Course
    from .sandbox import reap_stale_slots

    skip_slow_optional_imports()
    warnings.filterwarnings("ignore", module="nbgrader")
    warnings.filterwarnings("ignore", message=".*not in session.*")
    course = Course(course_root)
    spec = Assignment(course.root, assignment)
    ensure_host_support(quiet=quiet)
    # the slots (users, disks, cgroups) serve one class command at a time
    lock = _exclusive(DEFAULT_ROOT, wait=wait or os.environ.get(WAIT_ENV) == "1")
    stale = reap_stale_slots(DEFAULT_ROOT)
    if stale and not quiet:
        print(f"bacs à sable laissés par une correction interrompue, nettoyés : {', '.join(map(str, stale))}")
    engine.client()  # the host engine holds the base image
    base_tar, standin = _base_archive(DEFAULT_ROOT)
    records = course.root / RECORDS / assignment
    records.mkdir(parents=True, exist_ok=True)
    todo, rows = [], []
    for sid in students or course.submissions(assignment):
        folder = course.root / "submitted" / sid / assignment
        key = submission_key(folder, spec.notebook)
        rec_path = records / f"{sid}.json"
        rec = json.loads(rec_path.read_text()) if rec_path.exists() else {}
        if not force and rec.get("key") == key and rec.get("status") == "recorded":
            rows.append(dict(rec, resumed=True))
            continue
        todo.append((sid, folder, key))
    if not quiet:
        print(f"{len(todo)} copie(s) à corriger, {len(rows)} déjà corrigée(s) ; {jobs} bac(s) à sable en parallèle.",
              flush=True)
    hidden = [course.root] + ([course.exchange] if course.exchange else [])
    base_job = Job(notebook_name=spec.notebook, base_tar=base_tar, isolated_net=standin,
                   hidden=[str(h) for h in hidden])
    stop = threading.Event()
    size = min(jobs, len(todo))
    pool = SlotPool(size, course.root, limits or Limits(), hidden, base_job, stop, quiet)
    bar = _Bar(len(todo))

    def recorded(row: dict) -> None:
        rows.append(row)
        if not quiet:
            bar.step(f"{row['student']} : {_fr(row['score'])}/{_fr(row['max'])}"
                     + (f"  ⏳ {REDO}" if row.get("status") == REDO_STATUS else "")
                     + (f"  ⚠️ {len(row['flags'])} signalement(s)" if row["flags"] else "")
                     + (f"  ❌ {row['error']}" if row.get("error") else ""))

    def notebook_running(sid: str):
        return lambda: quiet or print(f"  {sid} : {NOTEBOOK_LINE}…", flush=True)

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, interrupted)
    executor = ThreadPoolExecutor(max_workers=max(1, size), thread_name_prefix="bac")
    try:
        if size:
            pool.start(executor)  # the slots are made while nbgrader prepares the submissions
        futures = {}
        for sid, folder, key in todo:  # prepare: nbgrader sanitizes, nothing of the student runs
            state: dict = {}
            try:
                raw = json.loads((folder / spec.notebook).read_bytes()[:50_000_000])
            except (OSError, ValueError):
                raw = None
            res = prepare(course, assignment, sid, state) if raw is not None else {"success": False}
            state["flags"] = spec.tampering(raw) if raw else ["notebook illisible"]
            if not res.get("success") or "sanitized" not in state:
                why = "nbgrader n'a pas pu préparer la copie : " + last_line(res.get("error") or res.get("log"))
                recorded(record(course, spec, records, sid, key, why, state))
                continue
            job = dataclasses.replace(base_job, points=spec.points,
                                      answers={"sources": spec.answer_sources(raw), "tests": spec.answer_tests})
            fut = executor.submit(pool.grade, job, files_from_notebook(raw), state["sanitized"], notebook_running(sid))
            futures[fut] = (sid, key, state)
        for fut in as_completed(futures):  # this thread alone writes the gradebook, as each sandbox ends
            sid, key, state = futures[fut]
            outcome = fut.result()
            if outcome is None:  # no slot could take it: the grader's failure, graded again by the next run
                recorded(record_without_sandbox(course, spec, records, sid, key, state))
            else:
                recorded(record(course, spec, records, sid, key, outcome, state))
    except KeyboardInterrupt as err:
        pool.halt()
        if not quiet:
            print(f"\n{INTERRUPTED}", flush=True)
        err.reported = True
        raise
    finally:
        pool.halt()
        with deferred_interrupt():  # a second Ctrl-C waits for the slots to be torn down
            executor.shutdown(wait=True, cancel_futures=True)
            pool.close()
        signal.signal(signal.SIGTERM, old)
        lock.close()
    return sorted(rows, key=lambda r: r["student"])


#: Set to 1: a class command waits for the one already running instead of stopping (the class
#: server's correction service, and ``make test``, whose sessions grade side by side).
WAIT_ENV = "DOCKERCOURSE_GRADING_WAIT"
#: A file descriptor of ``<root>/lock`` that the caller already locked and handed over (inherited):
#: the command runs under it, with no moment where another class command could take the slots.
LOCK_FD_ENV = "DOCKERCOURSE_GRADING_LOCK_FD"


def _exclusive(root: Path, wait: bool = False):
    import fcntl

    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o711)
    handed = os.environ.get(LOCK_FD_ENV, "")
    if handed.isdigit():
        fh = os.fdopen(int(handed), "a+")
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the caller's lock: this open file already holds it
        return fh
    fh = open(root / "lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        other = fh.read().strip() or "?"
        if wait:
            print(f"Une autre correction utilise les bacs à sable (processus {other}) : attente de sa fin…",
                  flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        else:
            fh.close()
            raise SandboxError(f"une autre correction utilise déjà les bacs à sable (processus {other}) : "
                               "attendez qu'elle se termine (ou --wait).") from None
    fh.truncate(0)
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


def _fr(x: float) -> str:
    """A score or a duration as an instructor reads it: ``26.5`` → ``"26,5"`` (``_num`` keeps the
    dot: nbgrader reads the scores it writes into notebooks)."""
    return _num(x).replace(".", ",")


def print_summary(rows: list[dict]) -> None:
    if not rows:
        print("Aucune copie.")
        return
    w = max(len("élève"), *(len(r["student"]) for r in rows))
    print(f"\n{'élève':<{w}}  {'note':>11}  {'durée':>7}  {'retard':>7}  signalements")
    for r in rows:
        note = ("⏳ " if r.get("status") == REDO_STATUS else "") + f"{_fr(r['score'])}/{_fr(r['max'])}"
        dur = "reprise" if r.get("resumed") else f"{_fr(round(r.get('seconds', 0), 1))} s"
        flags = "; ".join(r.get("flags") or []) or ("❌ " + r["error"] if r.get("error") else "—")
        if r.get("feedback_cut"):
            flags += f" (ℹ️ {r['feedback_cut']})"
        print(f"{r['student']:<{w}}  {note:>11}  {dur:>7}  {late_text(r.get('late_s', 0.0)):>7}  {flags}")
    scores = [r["score"] for r in rows]
    redo = [r for r in rows if r.get("status") == REDO_STATUS]
    print(f"\n{len(rows)} copie(s), moyenne {_fr(round(sum(scores) / len(scores), 1))}/{_fr(rows[0]['max'])}, "
          f"{sum(1 for r in rows if r.get('flags'))} signalée(s), "
          f"{sum(1 for r in rows if (r.get('late_s') or 0) > 0)} en retard, "
          f"{sum(1 for r in rows if r.get('status') not in ('recorded', REDO_STATUS))} non enregistrée(s).")
    if redo:
        print(f"⏳ {len(redo)} {REDO} : la correction elle-même a échoué (pas les copies), leurs cellules "
              "ne sont pas notées. Corrigez la cause ci-dessus puis relancez la même commande : "
              "seules ces copies seront corrigées à nouveau.")


def class_main(args) -> int:
    limits = Limits()
    if args.wall:
        limits.wall_s = args.wall
    if args.cell_timeout:
        limits.cell_s = args.cell_timeout
    if args.feedback:
        limits.feedback_s = args.feedback
    try:
        rows = grade_class(args.course, args.assignment, jobs=args.jobs, students=args.student, force=args.force,
                           limits=limits, wait=args.wait)
    except (GradingError, engine.DockerUnavailable) as err:
        print(f"❌ {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        if not getattr(err, "reported", False):
            print(f"\n{INTERRUPTED}", flush=True)
        return 130
    print_summary(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, ensure_ascii=False, indent=1))
    return 0 if all(r.get("status") == "recorded" for r in rows) else 1
