"""Run inside the course image: the TP's reference solution (source notebook) on a scratch copy
must get full marks from every grade cell. Prints one line per cell; exit 1 on any shortfall.

The app containers the checks start are siblings on the host's engine (the socket is mounted),
and the build context is sent from this container: both must work for full marks."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HOME = Path.home()
AID = "tp-conteneurisation"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="tp-ref-") as tmp:
        work = Path(tmp) / AID
        shutil.copytree(HOME / "source" / AID, work)
        nb = nbformat.read(work / f"{AID}.ipynb", as_version=4)
        NotebookClient(nb, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(work)}}).execute()
        from dockercourse import grading

        grading.cleanup(work, images=True, forget=True)
    bad = 0
    for c in nb.cells:
        meta = c.get("metadata", {}).get("nbgrader", {})
        if c.cell_type != "code" or not meta.get("grade"):
            continue
        score, text, err = None, "", False
        for o in c.get("outputs", []):
            if o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr"):
                err = True
            if o.output_type == "stream":
                text += o.text
            if o.output_type == "execute_result":
                try:
                    score = float(o["data"]["text/plain"])
                except (KeyError, ValueError):
                    pass
        ok = score == meta["points"] and not err
        bad += not ok
        print(f"{'OK  ' if ok else 'FAIL'} {meta['grade_id']}: {score}/{meta['points']}")
        if not ok:
            print("      " + text.strip().replace("\n", "\n      "))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
