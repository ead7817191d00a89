"""Autograded checks of the TP « application web → image Docker » (nbgrader).

The package's files follow the data flow of grading one submission:

* :mod:`.snapshot` — which files make the project, read once (hash, size, staging),
  and the same files read out of a notebook's ``%%writefile`` cells;
* :mod:`.build` — one ``docker build`` per state of those files;
* :mod:`.containers` — the containers a check starts (limits, readiness, cleanup);
* :mod:`.checks` — the checks themselves, each judging one property in the
  student's image, and :func:`grade_all` (one process, shared build and app);
* :mod:`.answers` — written answers checked outside the kernel;
* :mod:`.protocol` — :class:`Result` and the result lines;
* :mod:`.sandbox` — one submission graded as an unprivileged user on its own engine;
* :mod:`.classroom` — the instructor side: the class command, the gradebook;
* :mod:`.kernel` — what the notebook imports (:func:`run_check`, the students' helpers).

``from dockercourse.grading import run_check`` and ``python -m dockercourse.grading``
keep working.
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
    if name in ("audit", "compare", "notebook_points", "gradebook_scores", "grade_class"):
        from . import classroom

        return getattr(classroom, name)
    raise AttributeError(name)
