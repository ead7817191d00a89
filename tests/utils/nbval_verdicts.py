"""A pytest plugin for the lecture notebooks under nbval: the notebooks' own verdicts, in every lane.

nbval compares each cell's outputs with the committed ones (``--nbval``) or only checks that it runs
(``--nbval-lax``); either way, a cell marked ``NBVAL_IGNORE_OUTPUT`` may print « ✘ » unseen. With
``-p tests.utils.nbval_verdicts``, whatever the mode and the markers:

- a cell whose outputs hold a « ✘ » line (a verdict that did not hold on this engine) fails;
- after each notebook's last cell, the course objects that appeared on the engine during the notebook
  (:func:`tests.utils.notebook_runner.course_objects`) fail its teardown: the notebook did not clean up.
  By default only the lecture notebooks' objects count (the daemon may be shared with other test
  sessions); ``DOCKERCOURSE_LEFTOVERS=all`` counts every labelled one (an engine of the lane's own);
- with ``DOCKERCOURSE_EXECUTED=<folder>``, each notebook is written there with this run's outputs
  (what this engine showed, to read after a failure).

Used by the current-engine lane (``tests/engine/test_current_engine_lane.py``) and inside the course
image (``tests/image/test_course_image.py``). Errors need nothing more: nbval fails a cell that raises.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest

from tests.utils.notebook_runner import course_objects, output_text, verdicts_that_did_not_hold

_before: dict[str, set[str]] = {}
_outputs: dict[str, dict[int, list]] = {}


def _is_cell(item) -> bool:
    return item.__class__.__name__ == "IPyNbCell"


def _objects() -> set[str]:
    from dockercourse import engine

    client = engine.client()
    try:
        return course_objects(client, lectures_only=os.environ.get("DOCKERCOURSE_LEFTOVERS") != "all")
    finally:
        client.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    if _is_cell(item) and item.parent.nodeid not in _before:
        _before[item.parent.nodeid] = _objects()
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if _is_cell(item) and call.when == "call" and item.test_outputs is not None:
        _outputs.setdefault(item.parent.nodeid, {})[item.cell_num] = list(item.test_outputs)
    if _is_cell(item) and call.when == "call" and report.passed:
        bad = verdicts_that_did_not_hold([output_text(item.test_outputs)])
        if bad:
            report.outcome = "failed"
            report.longrepr = (f"{item.nodeid}: a verdict did not hold on this engine:\n"
                               + "\n".join(line.split(": ", 1)[1] for line in bad))
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    result = yield
    last = nextitem is None or nextitem.parent is not item.parent
    if _is_cell(item) and last and os.environ.get("DOCKERCOURSE_EXECUTED"):
        _write_executed(item.parent, Path(os.environ["DOCKERCOURSE_EXECUTED"]))
    if _is_cell(item) and last and item.parent.nodeid in _before:
        left = _objects() - _before.pop(item.parent.nodeid)
        if left:
            raise AssertionError(f"{item.parent.nodeid} left on the engine: {', '.join(sorted(left))}")
    return result


def _write_executed(notebook, folder: Path) -> None:
    """The notebook with this run's outputs (a code cell that did not run keeps none)."""
    import nbformat

    nb = copy.deepcopy(notebook.nb)
    ran = _outputs.pop(notebook.nodeid, {})
    for num, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.outputs = [nbformat.from_dict(o) for o in ran.get(num, [])]
        for o in cell.outputs:
            if o.get("output_type") == "execute_result":
                o.setdefault("metadata", {})
                o.setdefault("execution_count", None)
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / Path(str(notebook.fspath)).name)
