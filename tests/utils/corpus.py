"""A class of modelled students for the TP, each named for what they do (like nbgrader's
own fixtures: ``infinite-loop``, ``submitted-cheat-attempt``…).

Each student is the released notebook as that student would hand it in: the solution
cells filled from a project (the reference one, or a variant of it), plus whatever
they did to it (a hostile cell, a deleted or copied test cell…). :data:`STUDENTS`
maps a name to a :class:`Student`, whose ``expected`` gives the official score of
every graded code cell (the written answer Q4 always waits for a human), whose
``feedback`` lists words the French feedback of their notebook must show, and whose
``flagged`` says whether the instructor must see the submission flagged.

The notebooks are built from the committed ``release/`` and ``source/`` at test time,
so the corpus follows the TP when its text changes.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path

import nbformat

from tests.utils.paths import FIXTURES, ROOT

AID = "tp-conteneurisation"
NB = f"{AID}.ipynb"
PROJECTS = FIXTURES / "projects"
REFERENCE = PROJECTS / "reference"
FILES = {"requirements": "app/requirements.txt", "app_py": "app/app.py", "dockerfile": "Dockerfile",
         "dockerignore": ".dockerignore"}

#: Points of every graded code cell (the TP's 27 automatic points).
MAX = {"test_q_memoire": 1, "test_q_isolation": 1, "test_q_noyau": 1, "test_requirements": 1,
       "test_application": 3, "test_construction": 2, "test_cmd": 2, "test_utilisateur": 1, "test_expose": 1,
       "test_healthcheck": 2, "test_cache": 2, "test_dockerignore": 2, "test_taille": 1, "test_http": 2,
       "test_env": 1, "test_logs": 1, "test_arret": 1, "test_hadolint": 2}
IMAGE_CHECKS = ["test_construction", "test_cmd", "test_utilisateur", "test_expose", "test_healthcheck",
                "test_cache", "test_taille", "test_http", "test_env", "test_logs", "test_arret"]
RUNTIME = ["test_http", "test_env", "test_logs"]
#: Replaced by the course root's real path when a class is made (a student may know it).
COURSE_PLACEHOLDER = "@@COURSE@@"
#: Where hostile cells try to write on the host (the test asserts none of them appears).
CANARIES = ["/tmp/dockercourse-pirate", "/var/tmp/dockercourse-pirate", "/root/dockercourse-pirate",
            "/etc/dockercourse-pirate"]


def differences(expected: dict[str, float | None], got: dict[str, float | None], tol: float = 0.011) -> list[str]:
    """The cells whose score differs from the corpus's, in French (``None`` expected: not compared)."""
    bad = []
    for cell, want in expected.items():
        if want is None:
            continue
        have = got.get(cell)
        if have is None or abs(have - want) > tol:
            bad.append(f"{cell}: {want:g} attendu, {'—' if have is None else f'{have:g}'} obtenu")
    return bad


def gradebook_cells(course: Path, aid: str = AID) -> dict[str, dict]:
    """``{student id: {"cells": {grade cell: automatic score}, "flagged": bool}}`` from a course's
    gradebook (the benchmarks' view of what the class command recorded)."""
    from nbgrader.api import Gradebook

    out: dict[str, dict] = {}
    with Gradebook(f"sqlite:///{Path(course) / 'gradebook.db'}") as gb:
        for sub in gb.find_assignment(aid).submissions:
            for nb in sub.notebooks:
                rec = out.setdefault(sub.student.id, {"cells": {}, "flagged": nb.flagged})
                for g in nb.grades:
                    rec["cells"][g.name] = g.auto_score
    return out


def reference_files() -> dict[str, str]:
    return {rel: (REFERENCE / rel).read_text() for rel in FILES.values()}


def _solution_text(cell) -> str:
    return "\n".join(ln for ln in cell.source.splitlines() if "BEGIN SOLUTION" not in ln and "END SOLUTION" not in ln)


def solved(files: dict[str, str] | None = None, answers: str | None = None) -> nbformat.NotebookNode:
    """The release notebook with every solution cell filled (reference files by default)."""
    files = reference_files() | (files or {})
    rel = nbformat.read(ROOT / "release" / AID / NB, as_version=4)
    src = {c.metadata.get("nbgrader", {}).get("grade_id"): c
           for c in nbformat.read(ROOT / "source" / AID / NB, as_version=4).cells}
    for c in rel.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if not c.metadata.get("nbgrader", {}).get("solution"):
            continue
        if gid in FILES:
            c.source = f"%%writefile {FILES[gid]}\n" + files[FILES[gid]].rstrip("\n")
        elif gid == "theorie_reponses" and answers is not None:
            c.source = answers
        elif gid in src:
            c.source = _solution_text(src[gid])
    return rel


def variant(rel: str, old: str, new: str) -> dict[str, str]:
    """The reference project with one line of ``rel`` changed."""
    text = reference_files()[rel]
    assert old in text, f"{rel} no longer contains {old!r}"
    return {rel: text.replace(old, new)}


def add_cell(nb, source: str, after: str | None = None) -> None:
    """A new code cell (no nbgrader metadata), after the cell with grade id ``after`` (else last)."""
    cell = nbformat.v4.new_code_cell(source)
    idx = len(nb.cells)
    if after:
        idx = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == after) + 1
    nb.cells.insert(idx, cell)


@dataclasses.dataclass
class Student:
    """``expected``: official score per graded code cell (None: not asserted, the reason is in
    ``why``); ``flagged``: True/False, or None when it depends on the machine's speed (a
    notebook that outlives the sandbox's wall time is flagged as such)."""

    build: Callable[[], nbformat.NotebookNode]
    expected: dict[str, float | None]
    feedback: list[str] = dataclasses.field(default_factory=list)
    flagged: bool | None = False
    why: str = ""


def scores(**overrides: float | None) -> dict[str, float | None]:
    out = {k: float(v) for k, v in MAX.items()}
    out.update({k: None if v is None else float(v) for k, v in overrides.items()})
    return out


def zero(cells: list[str], base: dict[str, float] | None = None) -> dict[str, float]:
    out = dict(base or scores())
    out.update({c: 0.0 for c in cells})
    return out


NAIVE = {rel: (PROJECTS / "naive" / rel).read_text() for rel in FILES.values() if (PROJECTS / "naive" / rel).exists()}


def _naive():
    nb = solved({**NAIVE, ".dockerignore": "# (rien)\n"},
                answers='reponse_memoire = "la RAM"\nreponse_isolation = "namespaces"\nconteneur_a_son_noyau = True')
    return nb


def _untouched():
    return nbformat.read(ROOT / "release" / AID / NB, as_version=4)


def _kernel_patched():
    nb = _untouched()
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == "theorie_reponses":
            c.source += ("\nimport dockercourse.grading as _g\n"
                         "_g.run_check = run_check = lambda name, points, **kw: float(points)")
    return nb


def _without(gid: str):
    nb = solved()
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != gid]
    return nb


def _duplicated(gid: str):
    nb = solved()
    i = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid)
    twin = copy.deepcopy(nb.cells[i])
    twin["id"] = twin.get("id", "x") + "-copie"
    nb.cells.insert(i + 1, twin)
    return nb


def _edited(gid: str, source: str):
    nb = solved()
    for c in nb.cells:
        if c.metadata.get("nbgrader", {}).get("grade_id") == gid:
            c.source = source
    return nb


def _with_cell(source: str, after: str | None = None, files: dict[str, str] | None = None):
    def build():
        nb = solved(files)
        add_cell(nb, source, after)
        return nb

    return build


REF_DOCKERFILE = reference_files()["Dockerfile"]

#: ``docker init``'s Python Dockerfile (Docker Desktop's generator, the file its documentation
#: tells students to start from), adapted to the TP as a student would: Python 3.13, the
#: requirements under app/, only app/ copied, gunicorn on port 8000. It keeps the generator's
#: ``# syntax=`` line, ``ARG`` before ``FROM``, ``RUN --mount`` and its shell-form ``CMD``.
#: The generator's ``adduser --disabled-password --gecos ""`` is written with ``useradd`` (same
#: user, same flags that exist): the offline stand-in of python:3.13-slim has no ``adduser``
#: package, which the official image has.
DOCKER_INIT_DOCKERFILE = """\
# syntax=docker/dockerfile:1

# Comments are provided throughout this file to help you get started.
# If you need more help, visit the Dockerfile reference guide at
# https://docs.docker.com/go/dockerfile-reference/

ARG PYTHON_VERSION=3.13
FROM python:${PYTHON_VERSION}-slim as base

# Prevents Python from writing pyc files.
ENV PYTHONDONTWRITEBYTECODE=1

# Keeps Python from buffering stdout and stderr to avoid situations where
# the application crashes without emitting any logs.
ENV PYTHONUNBUFFERED=1

WORKDIR /app

# Create a non-privileged user that the app will run under.
# See https://docs.docker.com/go/dockerfile-user-best-practices/
ARG UID=10001
RUN useradd \\
    --home-dir "/nonexistent" \\
    --shell "/sbin/nologin" \\
    --no-create-home \\
    --uid "${UID}" \\
    appuser

# Download dependencies as a separate step to take advantage of Docker's caching.
# Leverage a cache mount to /root/.cache/pip to speed up subsequent builds.
# Leverage a bind mount to requirements.txt to avoid having to copy them into
# into this layer.
RUN --mount=type=cache,target=/root/.cache/pip \\
    --mount=type=bind,source=app/requirements.txt,target=requirements.txt \\
    python -m pip install -r requirements.txt

# Switch to the non-privileged user to run the application.
USER appuser

# Copy the source code into the container.
COPY app/ .

# Expose the port that the application listens on.
EXPOSE 8000

# Run the application.
CMD gunicorn 'app:app' --bind=0.0.0.0:8000
"""
#: The .dockerignore ``docker init`` writes next to it (its Python entries).
DOCKER_INIT_DOCKERIGNORE = """\
# Include any files or directories that you don't want to be copied to your
# container here (e.g., local build artifacts, temporary files, etc.).
#
# For more help, visit the .dockerignore file reference guide at
# https://docs.docker.com/go/build-context-dockerignore/

**/.DS_Store
**/__pycache__
**/.venv
**/.classpath
**/.dockerignore
**/.env
**/.git
**/.gitignore
**/.project
**/.settings
**/.toolstarget
**/.vs
**/.vscode
**/*.*proj.user
**/*.dbmdl
**/*.jfm
**/bin
**/charts
**/docker-compose*
**/compose.y*ml
**/Dockerfile*
**/node_modules
**/npm-debug.log
**/obj
**/secrets.dev.yaml
**/values.dev.yaml
LICENSE
README.md
"""
#: The reference's user creation as a heredoc (Dockerfile syntax since Engine 23 / BuildKit 0.10).
HEREDOC_DOCKERFILE = REF_DOCKERFILE.replace(
    "RUN useradd --create-home --uid 10001 appuser\n",
    "RUN <<EOF\nset -eu\nuseradd --create-home --uid 10001 appuser\nmkdir -p /app/instance\n"
    "chown appuser /app/instance\nEOF\n")
#: BuildKit-era lines from Docker's build documentation: a pip cache mount instead of
#: --no-cache-dir, and COPY --link for the code.
CACHE_MOUNT_DOCKERFILE = "# syntax=docker/dockerfile:1.7\n" + REF_DOCKERFILE.replace(
    "RUN pip install --no-cache-dir -r requirements.txt",
    "RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt").replace(
    "COPY app/ .", "COPY --link app/ .")
assert HEREDOC_DOCKERFILE != REF_DOCKERFILE and "--link" in CACHE_MOUNT_DOCKERFILE

APP_REF = reference_files()["app/app.py"]
APP_TAIL = 'app = Flask(__name__)\n'
#: The block tutorials end app.py with, so that `python app.py` serves it (Flask's development server).
APP_RUN_BLOCK = '\n\nif __name__ == "__main__":\n    app.run(host="0.0.0.0", port=8000)\n'

#: Docker's former Python guide ("Build your Python image", docs.docker.com/language/python): the
#: Flask development server started with `python3 -m flask run`, as root, no EXPOSE, no
#: HEALTHCHECK, pip keeping its cache; adapted to the TP (Python 3.13, app/, port 8000).
FLASK_RUN_DOCKERFILE = """\
# syntax=docker/dockerfile:1

FROM python:3.13-slim

WORKDIR /python-docker

COPY app/requirements.txt requirements.txt
RUN pip3 install -r requirements.txt

COPY app/ .

CMD [ "python3", "-m" , "flask", "run", "--host=0.0.0.0", "--port=8000"]
"""
#: The Dockerfile of many "Dockerize your Flask app" tutorials: the code copied before `pip install`,
#: `python app.py` (app.py ends with app.run(...)), root, EXPOSE but no HEALTHCHECK.
TUTORIAL_DOCKERFILE = """\
FROM python:3.13-slim
WORKDIR /app
COPY app/ /app
RUN pip install -r requirements.txt
EXPOSE 8000
CMD ["python", "app.py"]
"""
#: A hosting platform's generated Dockerfile (fly launch's Python template, which Render's and
#: Railway's guides resemble): ARG before FROM, pip upgraded then the requirements, the cache
#: removed by hand, gunicorn in exec form bound to ":8000", as root, no HEALTHCHECK; with the
#: .dockerignore it writes next to it (`__pycache__/` without `**/`: only the context's root).
HOSTING_DOCKERFILE = """\
ARG PYTHON_VERSION=3.13-slim

FROM python:${PYTHON_VERSION}

ENV PYTHONDONTWRITEBYTECODE 1
ENV PYTHONUNBUFFERED 1

RUN mkdir -p /code

WORKDIR /code

COPY app/requirements.txt /tmp/requirements.txt
RUN set -ex && \\
    pip install --upgrade pip && \\
    pip install -r /tmp/requirements.txt && \\
    rm -rf /root/.cache/
COPY app/ /code

EXPOSE 8000

CMD ["gunicorn", "--bind", ":8000", "--workers", "2", "app:app"]
"""
HOSTING_DOCKERIGNORE = "fly.toml\n.git/\n__pycache__/\n.envrc\n.venv/\n"
#: The multi-stage build of "production-ready Python images" articles: a virtualenv made in a build
#: stage and copied into the final one, which adds a user, EXPOSE, a shell-form HEALTHCHECK and
#: gunicorn with its access log.
MULTI_STAGE_VENV_DOCKERFILE = """\
FROM python:3.13-slim AS build
RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH"
COPY app/requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

FROM python:3.13-slim
RUN useradd --create-home --uid 10001 appuser
COPY --from=build /opt/venv /opt/venv
ENV PATH="/opt/venv/bin:$PATH" PYTHONUNBUFFERED=1
WORKDIR /app
COPY app/ .
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s \\
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/sante', timeout=2)"
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "app:app"]
"""
#: Heroku's and Render's convention: the port from $PORT, hence a shell-form CMD (exec form does not
#: expand variables); the rest as the TP asks.
PORT_VARIABLE_DOCKERFILE = REF_DOCKERFILE.replace(
    "EXPOSE 8000\n", "ENV PORT=8000\nEXPOSE $PORT\n").replace(
    'CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--access-logfile", "-", "app:app"]',
    "CMD gunicorn --bind 0.0.0.0:$PORT --workers 2 --access-logfile - app:app")
assert PORT_VARIABLE_DOCKERFILE.count("$PORT") == 2

STUDENTS: dict[str, Student] = {
    "reference-solution": Student(solved, scores(), why="the TP's solution: full automatic marks"),
    "untouched-release": Student(_untouched, {k: 0.0 for k in MAX}, ["VOTRE CODE ICI", "❌"],
                                 why="hands in the release as it is"),
    "naive-student": Student(
        _naive, {"test_q_memoire": 0, "test_q_isolation": 1, "test_q_noyau": 0, "test_requirements": 0,
                 "test_application": 1, "test_construction": 2, "test_cmd": 0, "test_utilisateur": 0,
                 "test_expose": 0, "test_healthcheck": 0, "test_cache": 0, "test_dockerignore": 0, "test_taille": 0,
                 "test_http": 1, "test_env": 0, "test_logs": 0.5, "test_arret": 0, "test_hadolint": 1},
        ["forme exec", "USER", "EXPOSE 8000", "SIGTERM", "os.environ.get"], why="a beginner's project"),
    "kernel-patched-checker": Student(
        _kernel_patched, {k: 0.0 for k in MAX}, flagged=True,
        why="the release plus a cell that replaces run_check in the kernel: every check cell claims full marks"),
    "deleted-test-cell": Student(lambda: _without("test_http"), scores(), flagged=True,
                                 why="the solution without the test_http cell"),
    "duplicated-test-cell": Student(lambda: _duplicated("test_cmd"), scores(), flagged=True,
                                    why="the solution with test_cmd pasted twice"),
    "edited-test-cell": Student(lambda: _edited("test_taille", "1.0"), scores(), flagged=True,
                                why="the solution with test_taille rewritten to return full marks"),
    "bind-mounts-host-root": Student(_with_cell(
        "!docker run --rm -v /:/hote python:3.13-slim sh -c 'for d in tmp var/tmp root etc; do "
        "echo pirate > /hote/$d/dockercourse-pirate; done; cat /hote/etc/shadow | head -1; ls /hote/work /hote/root'\n"
        "!echo pirate > /tmp/dockercourse-pirate; echo pirate > /var/tmp/dockercourse-pirate; id"),
        scores(), why="a cell that bind-mounts the host's / and writes everywhere"),
    "wipes-its-engine": Student(_with_cell(
        "!docker rm -f $(docker ps -aq) ; docker rmi -f $(docker images -aq) ; docker system prune -af", after=None),
        scores(), why="removes every container and image of its engine"),
    "reference-after-wipe": Student(solved, scores(), why="a correct student graded after the wiper"),
    "reads-course-source": Student(_with_cell(
        "import glob, os\n"
        "for p in ['../../../source', '@@COURSE@@/source', '@@COURSE@@/gradebook.db', '@@COURSE@@/submitted']:\n"
        "    print('existe :', p, os.path.exists(p))\n"
        "print(glob.glob('@@COURSE@@/**/*.ipynb', recursive=True))\n"
        "open('@@COURSE@@/gradebook.db', 'w').write('pirate')", after="theorie_reponses"),
        scores(), why="a cell that reads ../../../source and overwrites the gradebook"),
    "fork-bomb-at-import": Student(
        lambda: solved({"app/app.py": APP_REF.replace(APP_TAIL, APP_TAIL + "import os\nwhile True:\n    os.fork()\n")}),
        zero(["test_application", *RUNTIME], scores(test_healthcheck=1, test_arret=None)), ["Application Flask"],
        flagged=None, why="app.py forks forever at import: the workers fail to boot and gunicorn exits; its own "
                          "`docker run` cell, without limits, can keep the notebook past the sandbox's wall time "
                          "(whether gunicorn has exited when the stop check comes, or stops on SIGTERM at once, "
                          "is a race with the process limit: test_arret not asserted)"),
    "memory-hog-at-import": Student(
        lambda: solved({"app/app.py": APP_REF.replace(APP_TAIL, APP_TAIL + "LEST = bytearray(4 * 1024**3)\n")}),
        zero(["test_application", *RUNTIME], scores(test_healthcheck=1, test_arret=None)), ["MemoryError"],
        flagged=None, why="app.py allocates 4 GiB at import: gunicorn's workers are OOM-killed and restarted "
                          "(whether `docker stop` meets a worker mid-allocation is a race: test_arret not asserted)"),
    "infinite-loop-at-import": Student(
        lambda: solved({"app/app.py": APP_REF.replace(APP_TAIL, APP_TAIL + "while True:\n    pass\n")}),
        zero(["test_application", "test_arret", *RUNTIME], scores(test_healthcheck=1)), ["ne se termine pas"],
        flagged=None, why="app.py loops forever at import: no worker answers, and SIGTERM waits for it"),
    "sleeps-forever-in-a-cell": Student(_with_cell("import time\ntime.sleep(10**6)", after="theorie_reponses"),
                                        scores(), why="a cell that never ends"),
    "os-exit-in-a-cell": Student(_with_cell("import os\nos._exit(3)", after="dockerignore"), scores(), flagged=True,
                                 why="a cell that kills the kernel"),
    "unpullable-base-image": Student(
        lambda: solved(variant("Dockerfile", "FROM python:3.13-slim", "FROM python:3.99-introuvable")),
        zero(IMAGE_CHECKS), ["python:3.99-introuvable"], why="a base image no registry can give"),
    "listens-on-localhost": Student(
        lambda: solved(variant("Dockerfile", '"0.0.0.0:8000"', '"127.0.0.1:8000"')),
        zero(RUNTIME), ["127.0.0.1"], why="gunicorn bound to 127.0.0.1"),
    "wrong-port": Student(
        lambda: solved(variant("Dockerfile", '"0.0.0.0:8000"', '"0.0.0.0:5000"')),
        zero(RUNTIME, scores(test_healthcheck=1)), ["pas sur le port 8000"], why="gunicorn bound to port 5000"),
    "shell-form-cmd": Student(
        lambda: solved(variant("Dockerfile",
                               'CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--access-logfile", '
                               '"-", "app:app"]', "CMD gunicorn --bind 0.0.0.0:8000 --access-logfile - app:app")),
        scores(test_cmd=1, test_arret=0), ["forme exec", "SIGKILL"],
        why="a shell-form CMD: sh is PID 1 and does not forward SIGTERM"),
    "runs-as-root": Student(
        lambda: solved(variant("Dockerfile", "USER 10001:10001\n", "")), scores(test_utilisateur=0), ["USER"],
        why="no USER instruction"),
    "broken-dockerfile": Student(
        lambda: solved(variant("Dockerfile", "RUN pip install", "RUNN pip install")),
        zero(IMAGE_CHECKS, scores(test_hadolint=1.5)), ["RUNN"], why="a typo in an instruction"),
    "crashing-app": Student(
        lambda: solved({"app/app.py": APP_REF + '\nraise RuntimeError("oups")\n'}),
        zero(["test_application", "test_arret", *RUNTIME], scores(test_healthcheck=1)), ["RuntimeError"],
        why="app.py raises at import"),
    # ---- Dockerfiles students copy (docker init, Docker's documentation, BuildKit-era syntax)
    "docker-init-python": Student(
        lambda: solved({"Dockerfile": DOCKER_INIT_DOCKERFILE, ".dockerignore": DOCKER_INIT_DOCKERIGNORE}),
        scores(test_cmd=1, test_healthcheck=0, test_logs=0.5, test_arret=0),
        ["frontend Dockerfile intégré", "forme exec", "HEALTHCHECK", "--access-logfile"],
        why="docker init's Python Dockerfile adapted to the TP (# syntax line, ARG before FROM, RUN --mount): "
            "it builds and starts from python:3.13-slim; a teacher takes off what the file really lacks: the "
            "shell-form CMD (half of test_cmd, and test_arret: sh is PID 1 and SIGTERM is lost), no "
            "HEALTHCHECK, and gunicorn without --access-logfile - (half of test_logs: its error log is on "
            "the console, not the requests)"),
    "arg-before-from": Student(
        lambda: solved(variant("Dockerfile", "FROM python:3.13-slim\n", "ARG PY=3.13\nFROM python:${PY}-slim\n")),
        scores(), why="ARG PY=3.13 then FROM python:${PY}-slim: it resolves to the official slim base, full marks"),
    "heredoc-run": Student(
        lambda: solved({"Dockerfile": HEREDOC_DOCKERFILE}), scores(),
        why="RUN <<EOF … EOF (a heredoc, valid on every Engine since 23.0): builds on the sandbox's current "
            "engine, full marks"),
    "buildkit-cache-mount-copy-link": Student(
        lambda: solved({"Dockerfile": CACHE_MOUNT_DOCKERFILE}), scores(), ["hors ligne"],
        why="# syntax=docker/dockerfile:1.7, RUN --mount=type=cache for pip and COPY --link, as Docker's "
            "build documentation shows: the built-in frontend builds it offline, full marks"),
    "flask-dev-server-as-root": Student(
        lambda: solved({"Dockerfile": FLASK_RUN_DOCKERFILE}),
        scores(test_cmd=1, test_utilisateur=0, test_expose=0, test_healthcheck=0, test_logs=0.5, test_arret=0),
        ["serveur de développement", "USER", "EXPOSE 8000", "HEALTHCHECK", "SIGKILL"],
        why="Docker's former Python guide (`python3 -m flask run --host=0.0.0.0`): the development server "
            "answers, so the HTTP, environment and cache checks pass; it runs as root with no EXPOSE nor "
            "HEALTHCHECK, and python as PID 1 has no SIGTERM handler, so `docker stop` waits for SIGKILL. "
            "Partial credit a teacher may give: test_logs — werkzeug writes each request to stderr, which "
            "`docker logs` shows; the TP asks for stdout, the grader gives half"),
    "code-copied-before-pip-install": Student(
        lambda: solved({"Dockerfile": TUTORIAL_DOCKERFILE, "app/app.py": APP_REF.rstrip("\n") + APP_RUN_BLOCK}),
        scores(test_cmd=1, test_utilisateur=0, test_healthcheck=0, test_cache=0, test_logs=0.5, test_arret=0),
        ["requirements.txt seul", "serveur de développement", "USER", "HEALTHCHECK", "SIGKILL"],
        why="the Dockerfile of many « Dockerize your Flask app » tutorials (COPY app/ then pip install, "
            "`python app.py` with app.run() under __main__): editing app.py reinstalls the dependencies, the "
            "development server serves it as root, no HEALTHCHECK, SIGTERM ignored by python as PID 1. "
            "Partial credit a teacher may give: test_cmd keeps its exec-form half, and nothing more (the "
            "development server is what the TP asks to replace)"),
    "hosting-template-as-root": Student(
        lambda: solved({"Dockerfile": HOSTING_DOCKERFILE, ".dockerignore": HOSTING_DOCKERIGNORE}),
        scores(test_utilisateur=0, test_healthcheck=0, test_dockerignore=1.33, test_logs=0.5),
        ["USER", "HEALTHCHECK", "**/__pycache__", "--access-logfile"],
        why="a hosting platform's generated Dockerfile (fly launch's Python template; Render's and Railway's "
            "guides look alike): ARG before FROM, gunicorn in exec form on :8000, so it builds, answers and "
            "stops on SIGTERM; it runs as root, has no HEALTHCHECK, gunicorn logs no request, and its "
            ".dockerignore's `__pycache__/` only excludes the context's root. Partial credit a teacher may "
            "give: test_dockerignore, 1.33 (two of three folders kept out) where a teacher might round to 1.5"),
    "multi-stage-venv": Student(
        lambda: solved({"Dockerfile": MULTI_STAGE_VENV_DOCKERFILE}), scores(),
        why="the multi-stage build of « production-ready Python images » articles (a virtualenv built in a "
            "first stage, copied into the final one with a user, EXPOSE, a shell-form HEALTHCHECK and gunicorn "
            "with its access log): every check passes, the image stays under the size budget"),
    "port-from-env-shell-form": Student(
        lambda: solved({"Dockerfile": PORT_VARIABLE_DOCKERFILE}), scores(test_cmd=1, test_arret=0),
        ["forme exec", "SIGKILL"],
        why="Heroku's and Render's convention, the port from $PORT (ENV PORT=8000, EXPOSE $PORT): exec form "
            "does not expand variables, so the CMD is in shell form, sh is PID 1 and SIGTERM never reaches "
            "gunicorn. Partial credit a teacher may give: half of test_arret back to a student who explains "
            "that `exec gunicorn …` in the shell form was the missing word"),
}

#: Students the class benchmark can grade (``--only``) that the term of ``make test`` leaves out:
#: adding a student to :data:`STUDENTS` changes the instructor dashboard's committed outputs,
#: which only a whole term refreshes (``DOCKERCOURSE_REFRESH_DASHBOARD=1``).
BENCH_ONLY = {
    "ignores-interrupts-in-a-cell": Student(
        _with_cell("import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(10**6)",
                   after="theorie_reponses"),
        scores(), ["Cellule non exécutée à la correction"],
        why="a cell that ignores the kernel's interrupt and never ends: nbclient would interrupt it again and "
            "again until the sandbox's wall time; the host ends the notebook phase at its budget instead "
            "(Limits.phase_b_s), keeps what ran and says which cells did not run — not a flag"),
}
