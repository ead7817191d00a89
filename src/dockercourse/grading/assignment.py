"""What grading needs from the assignment's source notebook (``source/<assignment>/``).

:class:`Assignment` reads, once: the check cells and their points (each calls
``run_check("name", points=…)``), the written-answer tests with their hidden tests, the locked
cells' sources as students received them, and every grade id; it tells which cells of a
submission are the student's answers, and which test cells a submission deleted, copied or
edited. Nothing here runs a notebook.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import AssignmentError
from .checks import CHECKS

RUN_CHECK = re.compile(r'run_check\(\s*"(\w+)"\s*,\s*points\s*=\s*([\d.]+)\s*\)')


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
            raise AssignmentError(f"source/{assignment} doit contenir exactement un notebook "
                                  f"(trouvé {len(notebooks)}).")
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
