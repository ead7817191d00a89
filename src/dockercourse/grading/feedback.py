"""Phase B: the student's notebook, run in the sandbox for feedback only.

The official results are already sent and the grader's channel closed: nothing the notebook
does changes a score. :func:`run_notebook` executes it with nbclient in the sandbox's kernel,
each test cell showing the official result (:mod:`.kernel`), under a budget — each cell
:attr:`~.protocol.Limits.cell_s`, the whole notebook :attr:`~.protocol.Limits.feedback_s` from the
moment its kernel answers —; the cells left when the budget is spent are not run and say so. The
notebook is written after every cell, so that a sandbox killed at its wall time still returns what
ran, with the time each cell took (``out/timings.json``, for the class benchmark).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..errors import DockercourseError
from .protocol import Job
from .timing import Stopwatch


def _cell_label(cell, index: int) -> str:
    gid = (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")
    return gid or f"#{index}"


class FeedbackCut(DockercourseError):
    """The notebook phase used its budget (:data:`Limits.feedback_s`): the cells left are not run."""


#: The output a cell that the budget left unexecuted shows in the returned notebook.
NOT_RUN = ("⏱️ Cellule non exécutée à la correction : le notebook a dépassé le temps prévu pour les retours "
           "({budget:g} s). Les vérifications notées ont toutes leur résultat officiel.\n")


def mark_cut(nb, index: int | None, budget_s: float) -> None:
    """Say in a notebook that its feedback run stopped at cell ``index`` (``None``: after the last
    cell that ran, when the host ended the phase): every ungraded code cell from there that has no
    result shows :data:`NOT_RUN`, and the metadata says where it stopped (the record's note)."""
    import nbformat

    cells = nb["cells"]
    if index is None:
        ran = [i for i, c in enumerate(cells) if c.get("cell_type") == "code" and c.get("execution_count")]
        index = next((i for i in range(ran[-1] + 1 if ran else 0, len(cells))
                      if cells[i].get("cell_type") == "code"), len(cells))
    nb.setdefault("metadata", {})["dockercourse_feedback_cut"] = {"budget_s": budget_s, "cell": index}
    for cell in cells[index:]:
        if cell.get("cell_type") == "code" and not (cell.get("metadata", {}).get("nbgrader") or {}).get("grade") \
                and not cell.get("execution_count"):
            cell["outputs"] = [nbformat.v4.new_output("stream", name="stdout", text=NOT_RUN.format(budget=budget_s))]


def _write_notebook(nb, path: Path) -> None:
    """The notebook as it is now (no validation: the grader validates what it reads back), replaced
    atomically: a sandbox killed at its wall time still returns the cells run so far."""
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(nb, ensure_ascii=False))
    tmp.replace(path)


def run_notebook(job: Job, official_file: Path) -> None:
    """Phase B: the student's notebook, for feedback only (the official results are sent). Each cell
    gets at most :data:`Limits.cell_s`, the whole notebook :data:`Limits.feedback_s` from the moment
    its kernel answers; the cells left when that budget is spent are not run and say so. The
    notebook is written after every cell."""
    watch = Stopwatch()
    from ..lightimports import skip_slow_optional_imports

    skip_slow_optional_imports()
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    slot_dir = Path(job.sandbox)
    nb_path = slot_dir / "nb" / job.notebook_name
    out = slot_dir / "out" / job.notebook_name
    nb = nbformat.read(nb_path, as_version=4)
    os.environ["DOCKERCOURSE_OFFICIAL_RESULTS"] = str(official_file)
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    limits = job.limits
    timings: dict = {"import": watch.lap("import")}
    cells: dict[str, dict] = {}
    state = {"deadline": time.monotonic() + limits.feedback_s}

    def started(**_):
        timings["kernel"] = watch.lap("kernel")
        state["deadline"] = time.monotonic() + limits.feedback_s

    def cell_timeout(cell) -> int:
        return max(1, int(min(limits.cell_s, state["deadline"] - time.monotonic())))

    def cell_start(cell, cell_index, **_):
        watch.lap("between")
        if cell.cell_type == "code" and cell.source.strip() and time.monotonic() >= state["deadline"]:
            raise FeedbackCut(cell_index)

    def save() -> None:
        _write_notebook(nb, out)
        (slot_dir / "out" / "timings.json").write_text(json.dumps(dict(timings, cells=cells)))

    def cell_done(cell, cell_index, **_):
        cells[_cell_label(cell, cell_index)] = watch.lap("cell")
        save()

    client = NotebookClient(nb, timeout=int(limits.cell_s), timeout_func=cell_timeout, kernel_name="python3",
                            allow_errors=True, interrupt_on_timeout=True,
                            resources={"metadata": {"path": str(nb_path.parent)}},
                            on_notebook_start=started, on_cell_start=cell_start, on_cell_executed=cell_done)
    try:
        client.execute()
    except FeedbackCut as cut:
        mark_cut(nb, cut.args[0], limits.feedback_s)
    except DeadKernelError as err:
        nb.metadata["dockercourse_dead_kernel"] = str(err)[:300]
    except Exception as err:  # a kernel that never started, a cell that broke nbclient
        nb.metadata["dockercourse_execution_error"] = f"{type(err).__name__}: {err}"[:300]
    timings["shutdown"] = watch.lap("shutdown")
    save()
    timings["write"] = watch.lap("write")
    save()
