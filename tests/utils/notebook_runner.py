"""Run a notebook outside nbval (e.g. with the Docker daemon made unreachable), and the verdict checks
every lane applies to an executed lecture notebook: no « ✘ » line, no error, nothing of the course
left on the engine (also applied under nbval by :mod:`tests.utils.nbval_verdicts`)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

#: A DOCKER_HOST where nothing listens: the SDK and the CLI both fail at once.
NO_DAEMON = "unix:///nonexistent/dockercourse-no-daemon.sock"


def run_notebook(path: str | Path, env: dict[str, str] | None = None, timeout: int = 600,
                 save_to: str | Path | None = None):
    """Execute a copy of the notebook in its folder; returns the executed notebook.

    ``env`` entries are set in the kernel's environment (the test process's
    environment is restored afterwards). Raises ``CellExecutionError`` on an error.
    ``save_to``: where the executed copy is written, whether it ran to the end or not
    (to read what an engine showed, or why a cell failed).
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if save_to is not None:
            Path(save_to).parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, save_to)
    return nb


def output_text(outputs) -> str:
    """Pure: the printed text of one cell's outputs (stdout, stderr, plain-text results, errors as
    ``ERROR <name>: <value>``)."""
    parts = []
    for o in outputs or []:
        kind = o.get("output_type")
        if kind == "stream":
            parts.append(o.get("text", ""))
        elif kind in ("execute_result", "display_data"):
            parts.append(o.get("data", {}).get("text/plain", ""))
        elif kind == "error":
            parts.append(f"ERROR {o.get('ename')}: {o.get('evalue')}")
    return "".join(parts)


def cell_texts(nb) -> list[str]:
    """The printed text of each code cell (stdout, stderr, plain-text results)."""
    return [output_text(cell.get("outputs", [])) for cell in nb.cells if cell.cell_type == "code"]


def verdicts_that_did_not_hold(texts: list[str]) -> list[str]:
    """Pure: the « ✘ » verdict lines and the error outputs of an executed notebook's cells."""
    bad = []
    for i, text in enumerate(texts):
        bad += [f"cell {i}: {line.strip()}" for line in text.splitlines()
                if line.lstrip().startswith("✘") or line.startswith("ERROR ")]
    return bad


#: What the lecture notebooks create: names ``dockercourse-nb0N-…`` (and notebook 00's first container),
#: label ``dockercourse.unit=nb0N``; image tags may carry a registry prefix (``127.0.0.1:PORT/…``).
LECTURE_NAME = re.compile(r"^(?:[^/]+/)?dockercourse-(?:nb0\d\b|premier-conteneur)")
LECTURE_UNIT = re.compile(r"^nb0\d$")


def is_lecture_object(names: list[str], labels: dict | None) -> bool:
    """Pure: does a Docker object with these names (or image tags) and labels belong to a lecture notebook?"""
    return bool(LECTURE_UNIT.match((labels or {}).get("dockercourse.unit", ""))) or \
        any(LECTURE_NAME.match(n.lstrip("/")) for n in names)


def course_objects(client, lectures_only: bool = False) -> set[str]:
    """The course's objects on ``client``'s engine: containers, volumes and networks with the course label,
    and the labelled images that are untagged or tagged with a lecture's name (the base image carries no
    ``dockercourse`` label). ``lectures_only``: only those of the lecture notebooks (a daemon shared with
    other test sessions, whose objects carry the course label too).

    One list request per kind, read from its summaries: the SDK's ``images.list()`` and
    ``containers.list()`` inspect each object afterwards, which fails on a shared daemon when another
    session removes one in between."""
    flt = {"label": "dockercourse"}
    api = client.api
    kinds = [
        ("container", [([n.lstrip("/") for n in c.get("Names") or []], c.get("Labels"))
                       for c in api.containers(all=True, filters=flt)]),
        ("volume", [([v["Name"]], v.get("Labels")) for v in (api.volumes(filters=flt) or {}).get("Volumes") or []]),
        ("network", [([n["Name"]], n.get("Labels")) for n in api.networks(filters=flt)]),
    ]
    found = {f"{kind} {names[0] if names else '?'}" for kind, objs in kinds for names, labels in objs
             if not lectures_only or is_lecture_object(names, labels)}
    for i in api.images(filters=flt):
        tags = [t for t in i.get("RepoTags") or [] if t != "<none>:<none>"]
        lecture = is_lecture_object(tags, i.get("Labels"))
        if (not tags and (lecture or not lectures_only)) or (tags and lecture):
            found.add(f"image {i['Id'].split(':')[-1][:12]} {' '.join(tags)}".rstrip())
    return found


@contextlib.contextmanager
def notebooks_lock():
    """The lecture notebooks' names on the host's daemon, one user at a time.

    The notebooks name their containers (``dockercourse-nb02-…``) and clean up by unit label, so two
    users of those names at once collide. ``make test`` runs pytest sessions side by side on the host's
    daemon: the course image's session runs every lecture inside the course container (it holds the
    lock for that run), and the suite's few live tests marked ``lecture_names`` hold it one test at a
    time (``tests/conftest.py``). Notebook 00's names are used by no test: the browser test runs it
    without the lock. The current-engine lane has daemons of its own and never takes it."""
    from dockercourse import engine

    with open(engine.state_dir() / "notebooks.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
