"""One student's record: their grades written through nbgrader, and the class command's report.

:func:`prepare` runs nbgrader's prepare pass over a submission (its state then holds the
sanitized notebook); :func:`record` turns what came back from the sandbox — an
:class:`~.protocol.Outcome`, or why no sandbox could take it — into the record pass's state, runs
it (the only write of the gradebook, never cut by Ctrl-C), and writes the student's report
``.dockercourse-grading/<assignment>/<student>.json`` (score, flags, why grading must be redone,
where the time went), from which a later run resumes.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

from .assignment import Assignment
from .interrupt import deferred_interrupt
from .passes import REDO, Course
from .protocol import Outcome, _num, last_line

RECORDS = ".dockercourse-grading"
REDO_STATUS = "redo"
NO_SANDBOX = "aucun bac à sable n'a pu démarrer"



def prepare(course: Course, assignment: str, sid: str, state: dict) -> dict:
    """nbgrader's prepare pass over one submission (a gradebook write: an interrupt waits for its
    end); ``state["sanitized"]`` is then what the sandbox runs. Returns nbgrader's result."""
    t0, c0 = time.monotonic(), time.thread_time()
    with deferred_interrupt():
        res = course.autograde("prepare", assignment, sid, state)
    state["host"] = {"prepare": {"wall_s": round(time.monotonic() - t0, 2), "cpu_s": round(time.thread_time() - c0, 2)}}
    return res


def record(course: Course, spec: Assignment, records: Path, sid: str, key: str, outcome, state: dict) -> dict:
    """Write one student's grades through nbgrader (the record pass) and their report.
    An interrupt waits for the end of the write (:func:`~.interrupt.deferred_interrupt`)."""
    with deferred_interrupt():
        return _record_now(course, spec, records, sid, key, outcome, state)


def record_without_sandbox(course: Course, spec: Assignment, records: Path, sid: str, key: str,
                           state: dict) -> dict:
    """The record of a submission no sandbox could take (every slot failed to start)."""
    return record(course, spec, records, sid, key, NO_SANDBOX, state)


def _timings(outcome: Outcome) -> dict:
    """Where the time went, for the report (the class benchmark reads it)."""
    timed = {k: v.get("timings") or {} for k, v in outcome.results.items() if isinstance(v, dict) and "timings" in v}
    return {"seconds": round(outcome.seconds, 1), "phases": outcome.phases, "memory_peak_mib": outcome.memory_peak_mib,
            "oom_kills": outcome.oom_kills, "log_tail": outcome.log_tail[-4000:],
            "check_s": {k: t.get("check_s") for k, t in timed.items()},
            "check_cpu_s": {k: t.get("cpu_s") for k, t in timed.items()},
            "check_spans": {k: t["spans"] for k, t in timed.items() if t.get("spans")}}


def _outcome_state(spec: Assignment, outcome: Outcome, state: dict, row: dict) -> None:
    """What an outcome means for the record pass (official results, executed notebook) and for the
    report (why grading must be redone, what to flag)."""
    flags, redo = state["flags"], state["redo"]
    results = dict(outcome.results)
    for gid, (check, _) in spec.check_cells.items():  # checks report under their name
        if check in outcome.results:
            results[gid] = outcome.results[check]
    state["official"] = results
    state["executed"] = outcome.notebook
    row.update(_timings(outcome))
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
    metadata = (outcome.notebook or {}).get("metadata") or {}
    if outcome.notebook is None:
        if not outcome.grader_error:  # not run when grading broke
            flags.append("le notebook exécuté n'est pas revenu du bac à sable")
    elif metadata.get("dockercourse_dead_kernel"):
        flags.append("le noyau s'est arrêté pendant l'exécution du notebook")
    cut = metadata.get("dockercourse_feedback_cut")
    if isinstance(cut, dict):  # not a flag: the official results are whole, the feedback partial
        row["feedback_cut"] = (f"retours partiels : le notebook a dépassé {_num(float(cut.get('budget_s', 0)))} s, "
                               f"exécution arrêtée à la cellule {cut.get('cell')}")


def _record_now(course: Course, spec: Assignment, records: Path, sid: str, key: str, outcome, state: dict) -> dict:
    flags = state.setdefault("flags", [])
    redo = state.setdefault("redo", [])  # why grading broke (the grader's fault, never the student's)
    row = {"student": sid, "key": key, "score": 0.0, "max": 0.0, "flags": flags, "seconds": 0.0,
           "status": "failed", "error": ""}
    with contextlib.suppress(OSError, ValueError, AttributeError):
        previous = json.loads((records / f"{sid}.json").read_text())
        state["unflag"] = bool(previous.get("flags")) or previous.get("status") == REDO_STATUS
    if isinstance(outcome, Outcome):
        _outcome_state(spec, outcome, state, row)
    else:  # the sandbox itself failed (an exception), or why the submission could not be graded (French)
        row["error"] = f"{type(outcome).__name__}: {outcome}"[:300] if isinstance(outcome, Exception) else str(outcome)
        redo.append(row["error"])
        state["official"] = {}
    if redo:
        flags.append(f"{REDO} : " + " ; ".join(redo))
        row["redo"] = list(redo)
    if "sanitized" in state:
        t0, c0 = time.monotonic(), time.thread_time()
        res = course.autograde("record", spec.name, sid, state)
        state.setdefault("host", {})["record"] = {"wall_s": round(time.monotonic() - t0, 2),
                                                  "cpu_s": round(time.thread_time() - c0, 2)}
        row["host"] = state["host"]
        if res.get("success"):
            row["status"] = REDO_STATUS if redo else "recorded"
        else:
            row["error"] = row["error"] or "nbgrader : " + last_line(res.get("error") or res.get("log"))
            row["nbgrader_log"] = str(res.get("log") or "")[-4000:] + str(res.get("error") or "")[-2000:]
    row["score"], row["max"], row["cells"], row["late_s"] = gradebook_total(course, spec, sid)
    (records / f"{sid}.json").write_text(json.dumps(row, ensure_ascii=False, indent=1))
    return row


def gradebook_total(course: Course, spec: Assignment, sid: str) -> tuple[float, float, dict, float]:
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
