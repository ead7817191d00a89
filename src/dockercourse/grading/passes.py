"""nbgrader's autograde, driven by the class command: the two passes over each submission.

Modelled on nbgrader's own converters (``converters/autograde.py``): :class:`SandboxAutograde` is
nbgrader's :class:`~nbgrader.converters.Autograde` whose preprocessors are chosen for the pass,
and the state of the submission being converted travels in ``resources["dockercourse"]`` (the
dict the caller passes in, carried through nbconvert's deep copy of ``resources`` as itself:
:func:`state_of`), never in a module-level variable.

* **prepare** — nbgrader sanitizes the submission (locked cells restored from the gradebook,
  copied grade cells neutralised, deleted ones re-inserted); :class:`CaptureSanitized` keeps the
  result (``state["sanitized"]``): what the sandbox will run. Nothing of the student runs.
* **record** — nbgrader sanitizes again, then :class:`InjectOutputs` puts in the sandbox's outputs
  (never its sources or metadata; grade cells show the official feedback) and
  :class:`OfficialScores` gives every code grade cell its official score, flagging what the kernel
  claimed more; nbgrader's own preprocessors save the grades and the late penalties.

:class:`Course` is nbgrader's API on the course directory. This module imports nbgrader: the
class command's host side only.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import nbformat
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

from .assignment import _src
from .interrupt import test_hold
from .protocol import _num, scale

#: Where a submission's state travels in nbconvert's ``resources`` (see the module docstring).
STATE_KEY = "dockercourse"


class _Carried:
    """The submission's state in ``resources``: nbconvert deep-copies ``resources`` before the
    preprocessors run, and this holder goes through that copy as itself, so the passes fill the
    caller's dict (and the lists it shares with the report, such as ``flags``)."""

    def __init__(self, state: dict):
        self.state = state

    def __deepcopy__(self, memo) -> _Carried:
        return self


def state_of(resources) -> dict:
    """The state of the submission a pass is converting."""
    return resources[STATE_KEY].state
#: A submission that grading could not judge (the grader broke, not the student): not scored,
#: flagged, graded again by the next run.
REDO = "correction à refaire"


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
    """The prepare pass: keep the sanitized notebook (``state["sanitized"]``) for the sandbox."""

    def preprocess(self, nb, resources):
        state_of(resources)["sanitized"] = nbformat.writes(nb)
        test_hold("prepare", resources["nbgrader"]["student"])
        return nb, resources


class InjectOutputs(NbGraderPreprocessor):
    """Outputs from the sandbox's run (``state["executed"]``; never its sources or metadata);
    grade cells with an official result (``state["official"]``) show the official feedback.
    Records what the kernel claimed for the grade cells it ran (``state["kernel"]``)."""

    def preprocess(self, nb, resources):
        state = state_of(resources)
        ran = (state.get("executed") or {}).get("cells") or []
        official = state.get("official") or {}
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
                elif state.get("redo"):
                    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{REDO} : "
                                    + (official.get(gid) or {}).get("grader_error", state["redo"][0]) + "\n")]
        state["kernel"] = kernel
        return nb, resources


class OfficialScores(NbGraderPreprocessor):
    """Every code grade cell gets its official score; flags what the kernel claimed more
    (``state["flags"]``). When grading broke (``state["redo"]``), the cells it could not judge get
    no score at all (not a 0) and wait for the next run; a clean run clears the flag this command
    set before (``state["unflag"]``). Manual scores are never touched."""

    def preprocess(self, nb, resources):
        meta, state = resources["nbgrader"], state_of(resources)
        official = state.get("official") or {}
        flags = state.setdefault("flags", [])
        with Gradebook(meta["db_url"]) as gb:
            sub = gb.find_submission_notebook(meta["notebook"], meta["assignment"], meta["student"])
            for g in sub.grades:
                if g.cell.cell_type != "code":
                    continue
                res = official.get(g.name)
                if state.get("redo") and (res is None or res.get("grader_error")):
                    g.auto_score = None
                    g.needs_manual_grade = True
                    continue
                score = 0.0 if res is None else scale(res["score"], res["points"], g.max_score)
                kernel = state.get("kernel", {}).get(g.name)
                if res is None and official:
                    flags.append(f"{g.name} : pas de résultat officiel (noté 0)")
                elif kernel is not None and kernel > score + 0.01:
                    flags.append(f"{g.name} : le noyau annonçait {_num(kernel)}, score officiel {_num(score)}")
                g.auto_score = score
                g.needs_manual_grade = g.manual_score is not None
            if flags:
                sub.flagged = True
            elif state.get("unflag"):
                sub.flagged = False
            test_hold("record", meta["student"])
            gb.db.commit()
        return nb, resources


class SandboxAutograde(Autograde):
    """nbgrader's autograde for one pass (``prepare`` or ``record``) over one submission, whose
    state (a dict) the pass reads and fills through ``resources["dockercourse"]``."""

    def __init__(self, mode: str, state: dict, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode
        self.state = state

    def init_single_notebook_resources(self, notebook_filename: str) -> dict:
        resources = super().init_single_notebook_resources(notebook_filename)
        resources[STATE_KEY] = _Carried(self.state)
        return resources

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


def _clean_outputs(outputs) -> list:
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
    text = (res.get("text") or "").rstrip() + "\n"
    score = scale(res["score"], res["points"], points)
    return [nbformat.v4.new_output("stream", name="stdout", text=text),
            nbformat.v4.new_output("execute_result", data={"text/plain": _num(score)}, execution_count=count)]


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

    def autograde(self, mode: str, assignment: str, student: str, state: dict) -> dict:
        """One pass (``prepare`` or ``record``) of nbgrader's autograde over one submission, with
        its ``state``; nbgrader's result (``success``, ``log``, ``error``)."""
        from nbgrader.apps.api import capture_log
        from nbgrader.utils import temp_attrs

        with temp_attrs(self.coursedir, assignment_id=assignment, student_id=student):
            app = SandboxAutograde(mode, state, coursedir=self.coursedir, parent=self.api)
            app.force = True
            app.create_student = True
            return capture_log(app)

    def submissions(self, assignment: str) -> list[str]:
        base = self.root / "submitted"
        return sorted(p.parent.name for p in base.glob(f"*/{assignment}") if p.is_dir())
