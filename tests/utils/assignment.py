"""The TP as nbgrader knows it: its folders and how to read a graded cell's result in a kernel."""

from __future__ import annotations

from tests.utils.paths import ROOT

AID = "tp-conteneurisation"
NB = f"{AID}.ipynb"
SOURCE = ROOT / "source" / AID
RELEASE = ROOT / "release" / AID


def grade_cells(nb) -> list:
    """The notebook's autograded code cells."""
    return [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")
            and c.cell_type == "code"]


def cell_report(cell) -> tuple[float | None, bool, str]:
    """(score shown by the cell's result, any error/stderr, printed text)."""
    score, bad, text = None, False, []
    for o in cell.get("outputs", []):
        if o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr"):
            bad = True
        if o.output_type == "stream":
            text.append(o.text)
        if o.output_type == "execute_result":
            try:
                score = float(o["data"]["text/plain"])
            except (KeyError, ValueError):
                pass
    return score, bad, "".join(text)


def not_at_full_marks(nb) -> list[str]:
    """Pure: what keeps an executed TP notebook from full marks, one line per graded cell that shows
    an error, writes on stderr or scores less than its points ([] at full marks)."""
    cells = grade_cells(nb)
    problems = [] if len(cells) == 18 else [f"{len(cells)} graded cells, 18 expected"]
    for c in cells:
        score, bad, text = cell_report(c)
        gid, points = c.metadata["nbgrader"]["grade_id"], c.metadata["nbgrader"]["points"]
        if bad or score != points:
            problems.append(f"{gid}: {score}/{points}{' (error or stderr)' if bad else ''}\n{text}")
    return problems


#: The TP's questions: the released notebook records the answers, the correction scores them.
QUESTIONS = ("test_q_memoire", "test_q_isolation", "test_q_noyau")


def not_at_full_marks_as_released(nb) -> list[str]:
    """Pure: :func:`not_at_full_marks` of an executed *released* notebook (what a student runs): its
    three questions show « réponse enregistrée » and no score, which is full marks from that side."""
    left = not_at_full_marks(nb)
    recorded = [ln for ln in left if ln.split(":")[0] in QUESTIONS and "réponse enregistrée" in ln]
    return [ln for ln in left if ln not in recorded] + ([] if len(recorded) == len(QUESTIONS) else
                                                       [f"{len(recorded)} questions recorded, 3 expected"])
