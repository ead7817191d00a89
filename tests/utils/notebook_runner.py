"""Run a notebook outside nbval (e.g. with the Docker daemon made unreachable)."""

from __future__ import annotations

import contextlib
import fcntl
import os
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


def cell_texts(nb) -> list[str]:
    """The printed text of each code cell (stdout, stderr, plain-text results)."""
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        parts = []
        for o in cell.get("outputs", []):
            if o.output_type == "stream":
                parts.append(o.text)
            elif o.output_type in ("execute_result", "display_data"):
                parts.append(o.get("data", {}).get("text/plain", ""))
            elif o.output_type == "error":
                parts.append(f"ERROR {o.ename}: {o.evalue}")
        out.append("".join(parts))
    return out


def verdicts_that_did_not_hold(texts: list[str]) -> list[str]:
    """Pure: the « ✘ » verdict lines and the error outputs of an executed notebook's cells."""
    bad = []
    for i, text in enumerate(texts):
        bad += [f"cell {i}: {line.strip()}" for line in text.splitlines()
                if line.lstrip().startswith("✘") or line.startswith("ERROR ")]
    return bad


@contextlib.contextmanager
def notebooks_lock():
    """One lecture-notebook run at a time on the shared daemon.

    The notebooks name their containers (``dockercourse-nb03-…``) and clean up by label, so two
    runs of one notebook at once collide. ``make test`` runs pytest sessions side by side: the
    suite (conftest takes this lock at its first item that uses those names and keeps it to the
    end) and the course image's tests, which run the same notebooks inside the course container
    (they hold it for that run)."""
    from dockercourse import engine

    with open(engine.state_dir() / "notebooks.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
