"""Autograded checks of the TP « application web → image Docker » (nbgrader), and the class
command that grades a whole class, each submission in a sandbox of its own.

The modules follow one submission, by process:

**the class command** (root, the only writer of the gradebook) —
:mod:`.classroom` (the command: prepare, a pool of sandboxes, record; the summary),
:mod:`.assignment` (what the source notebook says: checks, points, written-answer tests),
:mod:`.passes` (nbgrader's two autograde passes, state in ``resources``),
:mod:`.records` (a student's grades and report), :mod:`.interrupt` (Ctrl-C never cuts a write),
:mod:`.host` (the machine: packages, users, the current engine's root),
:mod:`.sandbox` (a slot: disk from its template, cgroup, the run), :mod:`.cgroup`;

**inside a sandbox** — :mod:`.enter` (root: hide the host, start the engine, become the slot's
user), :mod:`.engine_ns` (the rootless engine in a root of its own), :mod:`.worker` (official
results: the written answers (:mod:`.answers`), then every check in one process, sent before any
student code runs), :mod:`.feedback` (the student's notebook, for feedback only);

**the checks** (``check-all`` in a sandbox, ``check NAME`` from a student's test cell) —
:mod:`.checks` (order, ``grade_all``), :mod:`.context` (what they share, the registry),
:mod:`.check_files`, :mod:`.check_image`, :mod:`.check_app`, :mod:`.probe`, over
:mod:`.snapshot` (the project's files), :mod:`.build` (one build per state of them),
:mod:`.containers`, :mod:`.dockerfile`;

**between them** — :mod:`.protocol` (the contract: results, marker lines, the job and its
outcome, score scaling), :mod:`.timing` (where the time goes);

**the student's kernel** — :mod:`.kernel` (:func:`run_check` and the notebook's helpers).

``from dockercourse.grading import run_check`` and ``python -m dockercourse.grading`` keep working;
:mod:`.regrade` grades a folder without a sandbox, for the instructor's own projects.
"""

from .build import BASE_IMAGE, BUILD_TIMEOUT_S, Build, docker_build, ensure_image, last_step_image
from .checks import (
    CHECKS,
    MESSAGE_VAR,
    ORDER,
    REQUIRED_PINS,
    SIZE_BUDGET_MB,
    Context,
    _parse_requirements,
    _pip_steps,
    grade,
    grade_all,
    hadolint_fr,
    probe_app,
)
from .cli import main
from .containers import cleanup, http_get, parse_listening, wait_until
from .kernel import attendre_http, essayer_app, nettoyer, port_publie, preparer, run_check
from .protocol import RESULT_MARK, Result, read_results, result_line
from .snapshot import (
    APP_DIR,
    APP_PORT,
    FILES_LABEL,
    MAX_CONTEXT_MB,
    SUB_LABEL,
    Snapshot,
    container_name,
    files_from_notebook,
    files_hash,
    image_repo,
    stage,
    staged_files,
    student_names,
    submission_id,
)

__all__ = [
    "APP_DIR", "APP_PORT", "BASE_IMAGE", "BUILD_TIMEOUT_S", "Build", "CHECKS", "Context", "FILES_LABEL",
    "MAX_CONTEXT_MB", "MESSAGE_VAR", "ORDER", "REQUIRED_PINS", "RESULT_MARK", "Result", "SIZE_BUDGET_MB",
    "SUB_LABEL", "Snapshot", "attendre_http", "cleanup", "container_name", "docker_build", "ensure_image",
    "essayer_app", "files_from_notebook", "files_hash", "grade", "grade_all", "hadolint_fr", "http_get",
    "image_repo", "last_step_image", "main", "nettoyer", "parse_listening", "port_publie", "preparer",
    "probe_app", "read_results", "result_line", "run_check", "stage", "staged_files", "student_names",
    "submission_id", "wait_until", "_parse_requirements", "_pip_steps",
]


def __getattr__(name):  # the instructor side loads nbgrader: only when asked for
    if name in ("audit", "compare", "gradebook_scores"):
        from . import regrade

        return getattr(regrade, name)
    if name == "notebook_points":
        from .assignment import notebook_points

        return notebook_points
    if name == "grade_class":
        from .classroom import grade_class

        return grade_class
    raise AttributeError(name)
