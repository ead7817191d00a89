"""nbgrader configuration of the course « Conteneurisation avec Docker ».

The course root is the repository root: source/<assignment>/ holds the
notebooks with solutions, release/<assignment>/ the generated student version.
Run nbgrader from this folder with the venv's bin on PATH (nbgrader calls alembic).

Instructor cycle for the TP (the checks rebuild and run each student's files):

    nbgrader generate_assignment tp-conteneurisation --force   # refresh release/ (committed)
    nbgrader release_assignment / collect tp-conteneurisation   # or put notebooks in submitted/<student>/
    python -m dockercourse grade tp-conteneurisation --jobs 4   # each submission in its own sandbox (root)
    nbgrader generate_feedback tp-conteneurisation              # hidden tests are stripped (see below)

To regrade a submission folder without its notebook (e.g. to compare with the
gradebook when a notebook looks tampered with):

    python -m dockercourse.grading audit --project autograded/<student>/tp-conteneurisation \
        --notebook source/tp-conteneurisation/tp-conteneurisation.ipynb
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

# `nbgrader autograde` would run every student's cells as you, on your Docker engine. The
# course grades each submission in a sandbox instead: `python -m dockercourse grade` (make grade).
if sys.argv[1:2] == ["autograde"] and not os.environ.get("DOCKERCOURSE_UNSANDBOXED_AUTOGRADE"):
    sys.exit("nbgrader autograde exécuterait le code des élèves sous votre identité, sur votre démon Docker.\n"
             "Corrigez la classe dans des bacs à sable : python -m dockercourse grade tp-conteneurisation "
             "(ou make grade).\nnbgrader autograde runs student code as you: use `python -m dockercourse grade` "
             "(set DOCKERCOURSE_UNSANDBOXED_AUTOGRADE=1 to run it anyway).")

ROOT = Path(__file__).resolve().parent
c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.course_id = "conteneurisation-docker"

# Where release/submit/collect exchange files. A single machine (make lab, Binder) uses a folder
# in the repo's ignored state; on JupyterHub, point NBGRADER_EXCHANGE at a shared, writable path.
EXCHANGE = Path(os.environ.get("NBGRADER_EXCHANGE") or ROOT / ".state" / "exchange")
EXCHANGE.mkdir(parents=True, exist_ok=True)
c.Exchange.root = str(EXCHANGE)

# Solutions are replaced by a *comment* stub: a released `%%writefile Dockerfile`
# cell then writes a comment (not Python code) and the checks fail cleanly.
c.ClearSolutions.code_stub = {"python": "# VOTRE CODE ICI"}
c.ClearSolutions.text_stub = "VOTRE RÉPONSE ICI"

# Files that the source notebook's %%writefile cells write next to it (when an
# instructor runs it in source/) must never be copied into release/ —
# generate_assignment copies every non-notebook file, solutions included.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback",
    "app", "app.py", "requirements.txt", "Dockerfile", ".dockerignore", ".venv", ".git",
]

# Test cells build images and start containers: give them time (per cell).
c.Execute.timeout = 900

# Files students author: never replace them with a copy from source/ at autograde.
c.Autograde.exclude_overwriting = {
    "tp-conteneurisation": ["app/app.py", "app/requirements.txt", "Dockerfile", ".dockerignore"],
}

# Feedback must not reveal hidden tests (nbgrader keeps them by default).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
