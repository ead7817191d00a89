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
