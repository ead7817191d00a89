"""Grading without a sandbox, for the instructor's own look: :func:`audit` runs every check on a
folder from this process; :func:`compare` regrades autograded notebooks that way and lists where
the gradebook differs. Both use this machine's engine: for the instructor's own projects only (the
class command is the sandboxed way)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from .. import engine
from .assignment import notebook_points
from .checks import CHECKS, grade
from .containers import cleanup
from .snapshot import files_from_notebook, write_files


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
