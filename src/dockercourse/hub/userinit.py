"""The member's side of a session start (runs as the member, in the session): then JupyterLab.

The first time: JupyterLab in French, the course's lecture notebooks in ``~/cours/``. Every time:
the ``docker`` CLI's plugins (buildx, Compose) linked from the current engine's root, the
course's base image loaded into the member's engine in the background if it is not there yet
(the engine starts beside JupyterLab; the load is logged in ``~/.dockercourse/base-load.log``),
then ``jupyterhub-singleuser`` replaces this process.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..engine import BASE_IMAGE, SESSION_BASE_FAILED, SESSION_BASE_READY
from .session import WORK_DIR

LAB_LOCALE = Path(".jupyter/lab/user-settings/@jupyterlab/translation-extension/plugin.jupyterlab-settings")


def first_time(home: Path, notebooks: Path | None) -> None:
    """JupyterLab's locale and the lecture notebooks, unless the member already has them (or removed them)."""
    marker = home / ".dockercourse" / "hub-initialised"
    if marker.exists():
        return
    settings = home / LAB_LOCALE
    if not settings.exists():
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps({"locale": "fr_FR"}) + "\n")
    work = home / WORK_DIR
    work.mkdir(exist_ok=True)
    if notebooks is not None and notebooks.is_dir():
        dest = work / "lecons"
        dest.mkdir(exist_ok=True)
        for nb in sorted(notebooks.glob("0*.ipynb")):
            if not (dest / nb.name).exists():
                shutil.copyfile(nb, dest / nb.name)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("ok\n")


def load_base_later(base_tar: str, docker: str, log: Path, wait_s: float = 120.0) -> None:
    """In a child process: wait for the engine, then ``docker load`` the base if it is missing. Ends
    by writing ``base-ready`` (or ``base-failed``, why in the log) beside the log: the course's
    helpers wait for one of them (:func:`dockercourse.engine.wait_for_session_base`)."""
    if not base_tar or os.fork() != 0:
        return
    os.setsid()
    try:
        with open(log, "a") as out:
            deadline = time.monotonic() + wait_s
            while subprocess.run([docker, "version"], capture_output=True).returncode != 0:
                if time.monotonic() > deadline:
                    print("le moteur Docker de la session n'a pas répondu en 2 minutes", file=out)
                    (log.parent / SESSION_BASE_FAILED).write_text("engine\n")
                    os._exit(1)
                time.sleep(0.5)
            code = 0
            if subprocess.run([docker, "image", "inspect", BASE_IMAGE], capture_output=True).returncode != 0:
                code = subprocess.run([docker, "load", "-i", base_tar], stdout=out, stderr=out).returncode
                print(f"docker load : code {code}", file=out)
            (log.parent / (SESSION_BASE_READY if code == 0 else SESSION_BASE_FAILED)).write_text("ok\n")
    finally:
        os._exit(0)


def main(argv: list[str]) -> None:
    home = Path(os.environ["HOME"])
    bin_dir = os.environ.get("DOCKERCOURSE_HUB_BIN", "")
    notebooks = os.environ.get("DOCKERCOURSE_HUB_NOTEBOOKS")
    first_time(home, Path(notebooks) if notebooks else None)
    state = home / ".dockercourse"
    state.mkdir(exist_ok=True)
    for marker in (SESSION_BASE_READY, SESSION_BASE_FAILED):
        with contextlib.suppress(FileNotFoundError):
            (state / marker).unlink()
    if bin_dir and Path(bin_dir, "docker").exists():
        from ..grading.engine_ns import link_plugins

        link_plugins(home, Path(bin_dir))
    load_base_later(os.environ.get("DOCKERCOURSE_HUB_BASE_TAR", ""), os.environ.get("DOCKERCOURSE_DOCKER", "docker"),
                    state / "base-load.log")
    server = str(Path(sys.executable).parent / "jupyterhub-singleuser")
    (home / WORK_DIR).mkdir(exist_ok=True)  # a member who removed it
    os.chdir(home / WORK_DIR)
    os.execv(server, [server, f"--ServerApp.root_dir={home / WORK_DIR}", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
