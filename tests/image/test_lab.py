"""The third launch mode, the local venv: ``make lab`` starts JupyterLab on the course.

The server is started with the Makefile's own recipe (``make -n lab`` prints it), with a
free port, a known token and no browser; the test reads ``/api/status``, the course's
notebooks through the contents API, and the formgrader (instructor tools are on in a
local venv), then stops the server.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from dockercourse.registry import free_port
from tests.utils.paths import ROOT

TOKEN = "dockercourse-test-lab"


def _get(port: int, path: str, timeout: float = 5) -> tuple[int, str]:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"token {TOKEN}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, ""
    except OSError:
        return 0, ""


def test_make_lab_serves_the_course_from_the_venv(tmp_path):
    recipe = subprocess.run(["make", "-n", "-s", "lab", "LAB_ARGS=--no-browser"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout
    line = next(ln for ln in recipe.splitlines() if "jupyter lab" in ln or "jupyter-lab" in ln)
    port = free_port()
    cmd = shlex.split(line) + [f"--port={port}", f"--IdentityProvider.token={TOKEN}", "--ServerApp.open_browser=False"]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "lab.log", "w"),
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        status = 0
        while time.monotonic() < deadline and server.poll() is None:
            status, body = _get(port, "/api/status")
            if status == 200:
                break
            time.sleep(0.5)
        assert status == 200, (tmp_path / "lab.log").read_text()[-2000:]
        assert _get(port, "/lab")[0] == 200
        status, body = _get(port, "/api/contents/notebooks")
        names = {c["name"] for c in json.loads(body)["content"]}
        assert "00_demarrage.ipynb" in names and "05_service_web_et_boucle_interne.ipynb" in names
        # formgrader's first request opens the gradebook (nbgrader, alembic): slow on a loaded machine
        assert _get(port, "/formgrader/api/assignments", timeout=60)[0] == 200
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
