"""The instructor side: grade a whole class, each submission in its own sandbox.

``python -m dockercourse grade tp-conteneurisation --jobs 4`` (or ``make grade``):

1. **prepare** (this process, one student after another): nbgrader's own autograde
   sanitizes the submitted notebook (locked cells restored from the gradebook,
   duplicated grade cells neutralised, deleted ones re-inserted) — nothing runs yet;
   the project files are read out of its ``%%writefile`` cells;
2. **sandboxes** (``--jobs`` at a time): each submission goes to a
   :class:`~.sandbox.Sandbox`, which sends back the official results (computed before
   any student code runs) and the executed notebook;
3. **record** (this process, the only writer of the gradebook): nbgrader's autograde
   again, with the sandbox's outputs injected instead of executing, then every code
   grade cell's ``auto_score`` set to its official score. Cells whose kernel score was
   higher, and deleted, duplicated or edited test cells, are flagged (nbgrader's
   ``flagged`` and this command's report). Manual scores are never touched. When
   grading itself broke (no engine, an engine that cannot start a container, no
   sandbox), the cells it could not judge get no score at all, the submission is
   flagged « correction à refaire » with the reason and the command exits non-zero;
   the next run grades it again, and a clean run clears the flags this command set.

A record per student (``.dockercourse-grading/<assignment>/<student>.json`` in the
course root) makes a re-run resume: a submission whose files did not change is not
graded again (``--force`` regrades). Interrupting stops the sandboxes, removes what
they made and leaves the gradebook as the last recorded student left it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .. import engine
from .checks import CHECKS, grade
from .containers import cleanup
from .protocol import _num
from .snapshot import files_from_notebook, write_files

RECORDS = ".dockercourse-grading"
#: A submission that grading could not judge (the grader broke, not the student): not scored,
#: flagged, graded again by the next run.
REDO = "correction à refaire"
REDO_STATUS = "redo"
NO_SANDBOX = "aucun bac à sable n'a pu démarrer"
INTERRUPTED = "Interrompu : arrêt des bacs à sable (le carnet de notes garde les copies déjà enregistrées)."
RUN_CHECK = re.compile(r'run_check\(\s*"(\w+)"\s*,\s*points\s*=\s*([\d.]+)\s*\)')


# =========================================================================== the assignment, read from source/


def notebook_points(notebook: str | Path) -> dict[str, float]:
    """``{check: points}`` from the ``run_check(...)`` calls of a notebook's grade cells."""
    nb = json.loads(Path(notebook).read_text())
    out = {}
    for cell in nb.get("cells", []):
        if not (cell.get("metadata", {}).get("nbgrader", {}) or {}).get("grade"):
            continue
        src = "".join(cell.get("source", ""))
        for m in RUN_CHECK.finditer(src):
            out[m.group(1)] = float(m.group(2))
    return out


def _src(cell: dict) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else str(s)


def _nbg(cell: dict) -> dict:
    return (cell.get("metadata") or {}).get("nbgrader") or {}


class Assignment:
    """What grading needs from the source notebook: the checks and their cells, the
    written-answer tests (with their hidden tests) and the locked cells' sources."""

    def __init__(self, course: Path, assignment: str):
        self.name = assignment
        src_dir = course / "source" / assignment
        notebooks = sorted(src_dir.glob("*.ipynb"))
        if len(notebooks) != 1:
            raise SystemExit(f"source/{assignment} doit contenir exactement un notebook (trouvé {len(notebooks)}).")
        self.notebook = notebooks[0].name
        nb = json.loads(notebooks[0].read_text())
        self.check_cells: dict[str, tuple[str, float]] = {}   # grade_id -> (check, points)
        self.answer_tests: dict[str, dict] = {}                 # grade_id -> {source, points, names}
        self.grade_ids: list[str] = []
        self.locked: dict[str, str] = {}
        from .answers import names_read

        released = course / "release" / assignment / self.notebook
        shown = json.loads(released.read_text()) if released.is_file() else nb  # what students received
        for cell in shown["cells"]:
            meta = _nbg(cell)
            if meta.get("grade_id") and meta.get("locked") and not meta.get("solution"):
                self.locked[meta["grade_id"]] = _src(cell)
        for cell in nb["cells"]:
            meta = _nbg(cell)
            gid = meta.get("grade_id")
            if not gid:
                continue
            if not meta.get("grade") or cell.get("cell_type") != "code":
                if meta.get("grade"):
                    self.grade_ids.append(gid)
                continue
            self.grade_ids.append(gid)
            m = RUN_CHECK.search(_src(cell))
            if m and m.group(1) in CHECKS:
                self.check_cells[gid] = (m.group(1), float(meta.get("points", m.group(2))))
            else:
                self.answer_tests[gid] = {"source": _src(cell), "points": float(meta.get("points", 0)),
                                          "names": names_read(_src(cell))}

    @property
    def points(self) -> dict[str, float]:
        return {check: pts for check, pts in self.check_cells.values()}

    def answer_sources(self, nb: dict) -> list[str]:
        """The student's answer cells: the solution code cells before the last answer test,
        without the ``%%writefile`` ones (cells a student added are not answers)."""
        cells = nb.get("cells", [])
        last = max((i for i, c in enumerate(cells) if _nbg(c).get("grade_id") in self.answer_tests), default=-1)
        out = []
        for c in cells[:last]:
            if c.get("cell_type") != "code" or not _nbg(c).get("solution") or _nbg(c).get("grade"):
                continue
            s = _src(c)
            if not s.lstrip().startswith("%%"):
                out.append(s[:20000])
        return out[:50]

    def tampering(self, nb: dict) -> list[str]:
        """French notes on the test cells a submission deleted, duplicated or edited."""
        seen: dict[str, int] = {}
        edited = []
        for c in nb.get("cells", []):
            gid = _nbg(c).get("grade_id")
            if not gid:
                continue
            seen[gid] = seen.get(gid, 0) + 1
            if gid in self.locked and _nbg(c).get("grade") and _src(c).strip() != self.locked[gid].strip():
                edited.append(gid)
        notes = []
        deleted = [g for g in self.grade_ids if g not in seen]
        if deleted:
            notes.append("cellule(s) de test supprimée(s) : " + ", ".join(deleted))
        dup = [g for g, n in seen.items() if n > 1]
        if dup:
            notes.append("cellule(s) de test dupliquée(s) : " + ", ".join(dup))
        if edited:
            notes.append("cellule(s) de test modifiée(s) (restaurées) : " + ", ".join(edited))
        return notes


# =========================================================================== nbgrader, driven from here

_STAGE: dict[str, dict] = {}  # student -> what the record pass injects


def _converter_class():
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.api import Gradebook
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        ClearOutput,
        DeduplicateIds,
        IgnorePattern,
        LimitOutput,
        NbGraderPreprocessor,
        OverwriteCells,
        OverwriteKernelspec,
        SaveAutoGrades,
    )
    from nbgrader.utils import determine_grade

    class DropDuplicateGradeCells(NbGraderPreprocessor):
        """A copy-pasted test cell makes nbgrader fail with a misleading message: keep the
        first cell of each grade id, the copies lose their nbgrader metadata."""

        def preprocess(self, nb, resources):
            seen = set()
            for cell in nb.cells:
                gid = (cell.metadata.get("nbgrader") or {}).get("grade_id")
                if gid in seen:
                    del cell.metadata["nbgrader"]
                elif gid:
                    seen.add(gid)
            return nb, resources

    class CaptureSanitized(NbGraderPreprocessor):
        def preprocess(self, nb, resources):
            import nbformat

            _STAGE.setdefault(resources["nbgrader"]["student"], {})["sanitized"] = nbformat.writes(nb)
            _test_hold("prepare", resources["nbgrader"]["student"])
            return nb, resources

    class InjectOutputs(NbGraderPreprocessor):
        """Outputs from the sandbox's run (never its sources or metadata); grade cells with
        an official result show the official feedback."""

        def preprocess(self, nb, resources):
            import nbformat

            stage = _STAGE[resources["nbgrader"]["student"]]
            ran = (stage.get("executed") or {}).get("cells") or []
            official = stage.get("official") or {}
            by_id = {c.get("id"): c for c in ran if isinstance(c, dict) and c.get("id")}
            kernel = {}
            for i, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                other = by_id.get(cell.get("id")) or (ran[i] if i < len(ran) and isinstance(ran[i], dict) else None)
                if other is not None and _src(other) == cell.source:
                    cell.outputs = _clean_outputs(other.get("outputs"))
                    cell.execution_count = other.get("execution_count")
                else:
                    cell.outputs = []
                gid = (cell.metadata.get("nbgrader") or {}).get("grade_id")
                if gid and (cell.metadata.get("nbgrader") or {}).get("grade"):
                    if cell.execution_count is not None:  # what the kernel claimed, for cells it ran
                        kernel[gid] = determine_grade(cell, self.log)[0]
                    if gid in official and not official[gid].get("grader_error"):
                        cell.outputs = _official_outputs(official[gid], cell.metadata["nbgrader"].get("points", 0),
                                                         cell.execution_count or 1)
                    elif stage.get("redo") and cell.cell_type == "code":
                        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{REDO} : "
                                        + (official.get(gid) or {}).get("grader_error", stage["redo"][0]) + "\n")]
            stage["kernel"] = kernel
            return nb, resources

    class OfficialScores(NbGraderPreprocessor):
        """Every code grade cell gets its official score; flags what the kernel claimed more."""

        def preprocess(self, nb, resources):
            meta = resources["nbgrader"]
            stage = _STAGE[meta["student"]]
            official = stage.get("official") or {}
            flags = stage.setdefault("flags", [])
            with Gradebook(meta["db_url"]) as gb:
                sub = gb.find_submission_notebook(meta["notebook"], meta["assignment"], meta["student"])
                for g in sub.grades:
                    if g.cell.cell_type != "code":
                        continue
                    res = official.get(g.name)
                    if stage.get("redo") and (res is None or res.get("grader_error")):
                        # the grader broke: no score at all (not a 0), graded again by the next run
                        g.auto_score = None
                        g.needs_manual_grade = True
                        continue
                    score = 0.0 if res is None else round(float(res["score"]) * g.max_score
                                                          / max(float(res["points"]), 1e-9), 2)
                    score = max(0.0, min(float(g.max_score), score))
                    kernel = stage.get("kernel", {}).get(g.name)
                    if res is None and official:
                        flags.append(f"{g.name} : pas de résultat officiel (noté 0)")
                    elif kernel is not None and kernel > score + 0.01:
                        flags.append(f"{g.name} : le noyau annonçait {_num(kernel)}, score officiel {_num(score)}")
                    g.auto_score = score
                    g.needs_manual_grade = g.manual_score is not None
                if flags:
                    sub.flagged = True
                elif stage.get("unflag"):  # a clean run clears the flag this command set before
                    sub.flagged = False
                _test_hold("record", meta["student"])
                gb.db.commit()
            return nb, resources

    class SandboxAutograde(Autograde):
        def __init__(self, mode: str, **kwargs):
            super().__init__(**kwargs)
            self.mode = mode

        def _init_preprocessors(self) -> None:
            self.exporter._preprocessors = []
            if self._sanitizing:
                pps = [ClearOutput, DropDuplicateGradeCells, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
                       CheckCellMetadata]
            elif self.mode == "prepare":
                pps = [CaptureSanitized]
            else:
                pps = [InjectOutputs, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
                       OfficialScores, AssignLatePenalties, CheckCellMetadata]
            for pp in pps:  # as nbgrader does: each preprocessor's own `enabled` default applies
                self.exporter.register_preprocessor(pp)

    return SandboxAutograde


def _clean_outputs(outputs) -> list:
    import nbformat

    out = []
    for o in (outputs or [])[:200]:
        if not isinstance(o, dict):
            continue
        with contextlib.suppress(Exception):
            node = nbformat.from_dict(o)
            nbformat.validate(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(outputs=[node])]))
            out.append(node)
    return out


def _official_outputs(res: dict, points: float, count: int) -> list:
    import nbformat

    score = max(0.0, min(float(points), float(res["score"]) * float(points) / max(float(res["points"]), 1e-9)))
    text = (res.get("text") or "").rstrip() + "\n"
    return [nbformat.v4.new_output("stream", name="stdout", text=text),
            nbformat.v4.new_output("execute_result", data={"text/plain": _num(round(score, 2))},
                                   execution_count=count)]


class Course:
    """The course directory and nbgrader's API on it (config from ``nbgrader_config.py``)."""

    def __init__(self, root: str | Path):
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config.loader import PyFileConfigLoader

        self.root = Path(root).resolve()
        cfg = PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config()
        cfg.CourseDirectory.root = str(self.root)
        self.config = cfg
        self.coursedir = CourseDirectory(config=cfg)
        self.api = NbGraderAPI(coursedir=self.coursedir, config=cfg)
        self.db_url = self.coursedir.db_url
        self.exchange = Path(str(cfg.Exchange.root)) if "root" in cfg.Exchange else None

    def autograde(self, mode: str, assignment: str, student: str) -> dict:
        from nbgrader.apps.api import capture_log
        from nbgrader.utils import temp_attrs

        cls = _converter_class()
        with temp_attrs(self.coursedir, assignment_id=assignment, student_id=student):
            app = cls(mode, coursedir=self.coursedir, parent=self.api)
            app.force = True
            app.create_student = True
            return capture_log(app)

    def submissions(self, assignment: str) -> list[str]:
        base = self.root / "submitted"
        return sorted(p.parent.name for p in base.glob(f"*/{assignment}") if p.is_dir())


# =========================================================================== the class command


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

    from .checks import ensure_probe_base
    from .sandbox import SandboxError

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
    cache = root / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    os.chmod(cache, 0o755)
    path = cache / f"base-{img.id.split(':')[-1][:16]}-{probe_id.split(':')[-1][:12]}.tar"
    if not path.exists():
        for old in cache.glob("base-*.tar"):
            old.unlink()
        tmp = path.with_suffix(".part")
        # saved by name: the archive tags them python:3.13-slim and the probe base, whatever else
        proc = subprocess.run(["docker", "save", "-o", str(tmp), engine.BASE_IMAGE, probe_base],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise SandboxError("docker save de l'image de base a échoué : " + proc.stderr[-300:])
        tmp.rename(path)
    os.chmod(path, 0o644)
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
                force: bool = False, limits=None, quiet: bool = False) -> list[dict]:
    """Grade every collected submission of ``assignment`` (see the module docstring).
    Returns one row per student: score, max, flags, seconds, status."""
    import warnings

    from ..lightimports import skip_slow_optional_imports
    from .sandbox import DEFAULT_ROOT, Limits, Sandbox, ensure_host_support, reap_stale_slots

    skip_slow_optional_imports()

    warnings.filterwarnings("ignore", module="nbgrader")
    warnings.filterwarnings("ignore", message=".*not in session.*")
    course = Course(course_root)
    spec = Assignment(course.root, assignment)
    ensure_host_support(quiet=quiet)
    lock = _exclusive(DEFAULT_ROOT)  # the slots (users, disks, cgroups) serve one class command at a time
    stale = reap_stale_slots(DEFAULT_ROOT)
    if stale and not quiet:
        print(f"bacs à sable laissés par une correction interrompue, nettoyés : {', '.join(map(str, stale))}")
    engine.client()  # the host engine holds the base image
    base_tar, standin = _base_archive(DEFAULT_ROOT)
    records = course.root / RECORDS / assignment
    records.mkdir(parents=True, exist_ok=True)
    wanted = students or course.submissions(assignment)
    todo, rows = [], []
    for sid in wanted:
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
    limits = limits or Limits()
    stop = threading.Event()
    jobs_q: queue.Queue = queue.Queue()
    done_q: queue.Queue = queue.Queue()
    bar = _Bar(len(todo))

    base_job = {"slot": 0, "user": "", "hidden": [str(h) for h in hidden], "isolated_net": standin,
                "base_tar": base_tar, "notebook_name": spec.notebook}

    def run_slot(slot: int) -> None:
        try:
            with Sandbox(slot, course.root, limits, hidden=hidden, isolated_net=standin, base_tar=base_tar) as sb:
                if not sb.make_template(base_job, stop=stop) and not stop.is_set() and not quiet:
                    print(f"  bac à sable {slot} : pas de modèle de moteur, l'image de base sera chargée à chaque "
                          "copie", flush=True)
                while not stop.is_set():
                    try:
                        item = jobs_q.get(timeout=0.5)
                    except queue.Empty:
                        continue
                    if item is None:  # no more submissions
                        return
                    sid, job = item

                    def notebook_running(sid=sid):
                        if not quiet:
                            print(f"  {sid} : {NOTEBOOK_LINE}…", flush=True)

                    try:
                        outcome = sb.run(job, stop=stop, on_notebook=notebook_running)
                    except Exception as err:  # one student's failure stays theirs
                        outcome = err
                    if getattr(outcome, "grader_error", ""):  # its engine broke: the next run makes a new template
                        sb.forget_template()
                    if stop.is_set():
                        done_q.put((sid, outcome))
                        return
                    t0 = time.monotonic()
                    sb.teardown()  # a fresh disk, engine and cgroup for the next submission
                    if hasattr(outcome, "phases"):
                        outcome.phases["teardown"] = {"wall_s": round(time.monotonic() - t0, 2)}
                    done_q.put((sid, outcome))
                    sb.__enter__()
        except Exception as err:
            done_q.put((None, err))

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, interrupted)
    threads: list[threading.Thread] = []
    try:

        pending = {}
        for slot in range(max(1, min(jobs, len(todo)))) if todo else []:  # slots start while we prepare
            t = threading.Thread(target=run_slot, args=(slot,), daemon=True)
            t.start()
            threads.append(t)
        for sid, folder, key in todo:  # prepare: nbgrader sanitizes, nothing of the student runs
            _STAGE.pop(sid, None)
            submitted_nb = folder / spec.notebook
            try:
                raw = json.loads(submitted_nb.read_bytes()[:50_000_000])
            except (OSError, ValueError):
                raw = None
            t0, c0 = time.monotonic(), time.thread_time()
            with _deferred_interrupt():  # nbgrader writes the submission to the gradebook
                res = course.autograde("prepare", assignment, sid) if raw is not None else {"success": False}
            stage = _STAGE.setdefault(sid, {})
            stage["host"] = {"prepare": {"wall_s": round(time.monotonic() - t0, 2),
                                         "cpu_s": round(time.thread_time() - c0, 2)}}
            stage["flags"] = spec.tampering(raw) if raw else ["notebook illisible"]
            if not res.get("success") or "sanitized" not in stage:
                stage["error"] = "nbgrader n'a pas pu préparer la copie : " + _last(res.get("error") or res.get("log"))
                done_q.put((sid, stage["error"]))
                pending[sid] = key
                continue
            files = files_from_notebook(raw)
            job = {**base_job, "notebook_text": stage["sanitized"], "points": spec.points, "files": files,
                   "answers": {"sources": spec.answer_sources(raw), "tests": spec.answer_tests}}
            jobs_q.put((sid, job))
            pending[sid] = key
        for _ in threads:
            jobs_q.put(None)
        while pending:
            try:
                sid, outcome = done_q.get(timeout=1.0)
            except queue.Empty:
                if not any(t.is_alive() for t in threads) and done_q.empty():
                    for sid in list(pending):  # a slot could not start: say why for each
                        rows.append(_record_without_sandbox(course, spec, records, sid, pending.pop(sid)))
                continue
            if sid is None:  # a slot failed to start
                if not quiet:
                    print(f"⚠️  un bac à sable n'a pas démarré : {outcome}", flush=True)
                continue
            row = _record(course, spec, records, sid, pending.pop(sid), outcome, None)
            rows.append(row)
            if not quiet:
                bar.step(f"{sid} : {_fr(row['score'])}/{_fr(row['max'])}"
                         + (f"  ⏳ {REDO}" if row.get("status") == REDO_STATUS else "")
                         + (f"  ⚠️ {len(row['flags'])} signalement(s)" if row["flags"] else "")
                         + (f"  ❌ {row['error']}" if row.get("error") else ""))
    except KeyboardInterrupt as err:
        stop.set()
        if not quiet:
            print(f"\n{INTERRUPTED}", flush=True)
        err.reported = True
        raise
    finally:
        stop.set()
        with _deferred_interrupt():  # a second Ctrl-C waits for the slots to be torn down
            for t in threads:
                t.join(timeout=120)
        signal.signal(signal.SIGTERM, old)
        lock.close()
    return sorted(rows, key=lambda r: r["student"])


def _exclusive(root: Path):
    import fcntl

    from .sandbox import SandboxError

    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o711)
    fh = open(root / "lock", "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        other = fh.read().strip() or "?"
        fh.close()
        raise SandboxError(f"une autre correction utilise déjà les bacs à sable (processus {other}) : "
                           "attendez qu'elle se termine.") from None
    fh.truncate(0)
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


#: Set (to ``prepare`` or ``record``) by tests only: the pass holds inside its gradebook write
#: until a SIGINT or SIGTERM has arrived, so an interrupt lands there for sure.
HOLD_ENV = "DOCKERCOURSE_TEST_HOLD_GRADEBOOK_WRITE"
#: Printed (with the student) when a held gradebook write waits for its interrupt.
HOLD_LINE = "écriture du carnet de notes en attente d'un Ctrl-C (test)"
#: Printed (with the student) when a sandbox has sent the official results and runs the notebook.
NOTEBOOK_LINE = "exécution du notebook pour les retours"

_DEFER = {"depth": 0, "got": []}


@contextlib.contextmanager
def _deferred_interrupt():
    """A gradebook write is never cut in the middle: SIGINT and SIGTERM received inside
    are held, then raised as ``KeyboardInterrupt`` as soon as the outermost block ends.
    (nbgrader's ``capture_log`` catches everything, ``KeyboardInterrupt`` included: an
    interrupt let through during a pass would be lost.) Re-entrant; main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only
        return
    if _DEFER["depth"]:
        _DEFER["depth"] += 1
        try:
            yield
        finally:
            _DEFER["depth"] -= 1
        return
    got: list[int] = []
    _DEFER.update(depth=1, got=got)
    old = {s: signal.signal(s, lambda signum, frame: got.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        _DEFER.update(depth=0, got=[])
    if got:
        raise KeyboardInterrupt


def _test_hold(mode: str, student: str) -> None:
    """Tests only (:data:`HOLD_ENV`): wait, inside the deferred gradebook write, for the
    interrupt the test sends when it reads :data:`HOLD_LINE` (at most 120 s)."""
    if os.environ.get(HOLD_ENV) != mode or not _DEFER["depth"]:
        return
    print(f"  {student} : {HOLD_LINE} ({mode})", flush=True)
    deadline = time.monotonic() + 120
    while not _DEFER["got"] and time.monotonic() < deadline:
        time.sleep(0.05)


def _last(text) -> str:
    lines = [ln for ln in str(text or "").strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "(aucun message)"


def _record(course: Course, spec: Assignment, records: Path, sid: str, key: str, outcome, error) -> dict:
    """Write one student's grades through nbgrader (the record pass) and their report.
    An interrupt waits for the end of the write (:func:`_deferred_interrupt`)."""
    with _deferred_interrupt():
        return _record_now(course, spec, records, sid, key, outcome, error)


def _record_without_sandbox(course: Course, spec: Assignment, records: Path, sid: str, key: str) -> dict:
    """The record of a submission no sandbox could take (every slot failed to start)."""
    return _record(course, spec, records, sid, key, NO_SANDBOX, None)


def _record_now(course: Course, spec: Assignment, records: Path, sid: str, key: str, outcome, error) -> dict:
    from .sandbox import Outcome

    stage = _STAGE.setdefault(sid, {})
    flags = stage.setdefault("flags", [])
    redo = stage.setdefault("redo", [])  # why grading broke (the grader's fault, never the student's)
    row = {"student": sid, "key": key, "score": 0.0, "max": 0.0, "flags": flags, "seconds": 0.0,
           "status": "failed", "error": error or ""}
    with contextlib.suppress(OSError, ValueError, AttributeError):
        previous = json.loads((records / f"{sid}.json").read_text())
        stage["unflag"] = bool(previous.get("flags")) or previous.get("status") == REDO_STATUS
    if isinstance(outcome, Outcome):
        results = dict(outcome.results)
        for gid, (check, _) in spec.check_cells.items():  # checks report under their name
            if check in outcome.results:
                results[gid] = outcome.results[check]
        stage["official"] = results
        stage["executed"] = outcome.notebook
        row.update(seconds=round(outcome.seconds, 1), phases=outcome.phases,
                   memory_peak_mib=outcome.memory_peak_mib, oom_kills=outcome.oom_kills,
                   log_tail=outcome.log_tail[-4000:],
                   check_s={k: (v.get("timings") or {}).get("check_s") for k, v in outcome.results.items()
                            if isinstance(v, dict) and "timings" in v},
                   check_cpu_s={k: (v.get("timings") or {}).get("cpu_s") for k, v in outcome.results.items()
                                if isinstance(v, dict) and "timings" in v},
                   check_spans={k: (v.get("timings") or {}).get("spans") for k, v in outcome.results.items()
                                if isinstance(v, dict) and (v.get("timings") or {}).get("spans")})
        if outcome.grader_error:
            redo.append(outcome.grader_error)
        broken: dict[str, list[str]] = {}
        for name, res in outcome.results.items():
            if isinstance(res, dict) and res.get("grader_error"):
                broken.setdefault(str(res["grader_error"]), []).append(name)
        redo += [f"{why} ({', '.join(names)})" for why, names in broken.items()]
        if outcome.error:
            row["error"] = outcome.error
            if not outcome.grader_error:
                redo.append("bac à sable : " + outcome.error)
        if outcome.timed_out:
            flags.append("temps limite du bac à sable dépassé")
        if outcome.notebook is None:
            if not outcome.grader_error:  # not run when grading broke
                flags.append("le notebook exécuté n'est pas revenu du bac à sable")
        elif (outcome.notebook.get("metadata") or {}).get("dockercourse_dead_kernel"):
            flags.append("le noyau s'est arrêté pendant l'exécution du notebook")
        cut = (outcome.notebook or {}).get("metadata", {}).get("dockercourse_feedback_cut")
        if isinstance(cut, dict):  # not a flag: the official results are whole, the feedback partial
            row["feedback_cut"] = (f"retours partiels : le notebook a dépassé {_num(float(cut.get('budget_s', 0)))} s, "
                                   f"exécution arrêtée à la cellule {cut.get('cell')}")
    elif isinstance(outcome, Exception):  # the sandbox itself failed
        row["error"] = f"{type(outcome).__name__}: {outcome}"[:300]
        redo.append(row["error"])
        stage["official"] = {}
    elif isinstance(outcome, str):  # why this submission could not be graded (French)
        row["error"] = outcome
        redo.append(outcome)
        stage["official"] = {}
    if redo:
        flags.append(f"{REDO} : " + " ; ".join(redo))
        row["redo"] = list(redo)
    if "sanitized" in stage:
        t0, c0 = time.monotonic(), time.thread_time()
        res = course.autograde("record", spec.name, sid)
        stage.setdefault("host", {})["record"] = {"wall_s": round(time.monotonic() - t0, 2),
                                                  "cpu_s": round(time.thread_time() - c0, 2)}
        row["host"] = stage["host"]
        if res.get("success"):
            row["status"] = REDO_STATUS if redo else "recorded"
        else:
            row["error"] = row["error"] or "nbgrader : " + _last(res.get("error") or res.get("log"))
            row["nbgrader_log"] = str(res.get("log") or "")[-4000:] + str(res.get("error") or "")[-2000:]
    row["score"], row["max"], row["cells"], row["late_s"] = _gradebook_total(course, spec, sid)
    (records / f"{sid}.json").write_text(json.dumps(row, ensure_ascii=False, indent=1))
    _STAGE.pop(sid, None)
    return row


def _gradebook_total(course: Course, spec: Assignment, sid: str) -> tuple[float, float, dict, float]:
    """(score, max, {cell: score}, seconds late as nbgrader counts them) of one submission."""
    from nbgrader.api import Gradebook, MissingEntry

    cells = {}
    with Gradebook(course.db_url) as gb:
        try:
            sub = gb.find_submission_notebook(Path(spec.notebook).stem, spec.name, sid)
        except MissingEntry:
            return 0.0, 0.0, {}, 0.0
        late = float(sub.assignment.total_seconds_late or 0.0)
        total = mx = 0.0
        for g in sub.grades:
            score = g.manual_score if g.manual_score is not None else g.auto_score
            cells[g.name] = score
            total += score or 0.0
            mx += g.max_score
    return round(total, 2), mx, cells, late


def late_text(seconds: float) -> str:
    """How late a submission is, for the summary table (« — » when on time)."""
    if not seconds or seconds <= 0:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} j"


# =========================================================================== audit and compare (no sandbox)


def audit(project: str | Path, points: dict[str, float] | None = None) -> dict[str, tuple[float, float]]:
    """Run every check on a submission folder from *this* process (no kernel
    involved): ``{check: (score, points)}``."""
    points = points or {name: 1.0 for name in CHECKS}
    return {name: (grade(name, project, pts).score, pts) for name, pts in points.items()}


def gradebook_scores(db: str | Path, assignment: str) -> dict[str, dict[str, float | None]]:
    """``{student: {grade cell: auto score}}`` from an nbgrader gradebook (nbgrader's API)."""
    from nbgrader.api import Gradebook, MissingEntry

    out: dict[str, dict[str, float | None]] = {}
    url = db if str(db).startswith("sqlite:") else f"sqlite:///{Path(db).resolve()}"
    with Gradebook(url) as gb:
        try:
            a = gb.find_assignment(assignment)
        except MissingEntry:
            return out
        for sub in a.submissions:
            for nb in sub.notebooks:
                for g in nb.grades:
                    out.setdefault(sub.student.id, {})[g.name] = g.auto_score
    return out


def compare(course: str | Path, assignment: str, notebook: str, students: list[str] | None = None) -> list[dict]:
    """Regrade each autograded notebook's files outside any kernel (:func:`audit` on the
    files its ``%%writefile`` cells write) and list the checks whose gradebook score
    differs. Runs on this machine's engine: for a quick look, the class command is the
    sandboxed way."""
    import tempfile

    course = Path(course)
    points = notebook_points(course / "source" / assignment / notebook)
    gb = gradebook_scores(course / "gradebook.db", assignment)
    rows = []
    for student in sorted(students or gb):
        nb_path = course / "autograded" / student / assignment / notebook
        if not nb_path.is_file():
            continue
        with tempfile.TemporaryDirectory(prefix="dockercourse-compare-") as tmp:
            folder = Path(tmp) / assignment
            write_files(files_from_notebook(json.loads(nb_path.read_text())), folder)
            folder.mkdir(exist_ok=True)
            try:
                table = audit(folder, points)
            finally:
                with contextlib.suppress(engine.DockerUnavailable):
                    cleanup(folder, images=True, forget=True)
        for name, (score, pts) in table.items():
            recorded = gb.get(student, {}).get(f"test_{name}")
            if recorded is None or abs(recorded - score) > 0.011:
                rows.append({"student": student, "check": name, "gradebook": recorded, "audit": score,
                             "points": pts})
    return rows


# =========================================================================== command line


def add_class_arguments(p) -> None:
    p.add_argument("assignment", nargs="?", default="tp-conteneurisation")
    p.add_argument("--course", default=".", help="the course root (nbgrader_config.py), default: here")
    p.add_argument("--jobs", "-j", type=int, default=max(2, (os.cpu_count() or 2)),
                   help="sandboxes in parallel (default: the number of CPUs, at least 2)")
    p.add_argument("--student", action="append", default=None, help="only these students (repeatable)")
    p.add_argument("--force", action="store_true", help="regrade submissions already recorded")
    p.add_argument("--wall", type=float, default=None, help="wall-time limit per submission, seconds (600)")
    p.add_argument("--cell-timeout", type=float, default=None,
                   help="per-cell timeout when the notebook runs for feedback (30)")
    p.add_argument("--feedback", type=float, default=None,
                   help="time the notebook runs for feedback, once the official results are in (60)")
    p.add_argument("--json", metavar="FILE", help="also write the summary as JSON")


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
    from .sandbox import Limits, SandboxError

    limits = Limits()
    if args.wall:
        limits.wall_s = args.wall
    if args.cell_timeout:
        limits.cell_s = args.cell_timeout
    if args.feedback:
        limits.feedback_s = args.feedback
    try:
        rows = grade_class(args.course, args.assignment, jobs=args.jobs, students=args.student, force=args.force,
                           limits=limits)
    except SandboxError as err:
        print(f"❌ {err}", file=sys.stderr)
        return 2
    except engine.DockerUnavailable as err:
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
