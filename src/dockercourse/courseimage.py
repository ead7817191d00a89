"""The course image (top-level ``Dockerfile``): build it, start it like a student or like Binder,
wait until JupyterLab answers.

Used by ``make image``, the tests (``tests/image/test_course_image.py``) and
``benchmarks/image.py``. Everything it creates is named ``dockercourse-course...`` and carries
the course label, so that the tests' leftover check and ``make clean-docker`` see it.

Building offline: when ``python:3.13-slim`` is the kit's stand-in, containers reach neither PyPI
nor Debian, and :func:`build_args` passes ``BUILD_BASE`` (the kit's course build base, see
:func:`dockercourse.offline.ensure_course_build_base`). Online it passes nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from . import engine, offline

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "dockercourse-course"
PORT = 8888
SOCKET = "/var/run/docker.sock"
#: `docker buildx` for engines without the plugin (repo2docker needs it), see the script's docstring.
BUILDX_SHIM_DIR = ROOT / "tests" / "image" / "cli-plugins"


def build_args() -> dict[str, str]:
    """``{"BUILD_BASE": tag}`` offline (the kit's build base), ``{}`` online."""
    tag = offline.ensure_course_build_base()
    return {"BUILD_BASE": tag} if tag else {}


def _args_flags(args: dict[str, str]) -> list[str]:
    out = []
    for k, v in args.items():
        out += ["--build-arg", f"{k}={v}"]
    return out


def build(tag: str = f"{IMAGE}:latest", args: dict[str, str] | None = None, log: Path | None = None,
          no_cache: bool = False) -> float:
    """``docker build`` of the repo's Dockerfile (classic builder, so that repo2docker through the
    buildx shim reuses the same layer cache). Returns the seconds it took."""
    args = build_args() if args is None else args
    cmd = ["docker", "build", *(["--no-cache"] if no_cache else []), "-t", tag, "--label", f"{engine.LABEL}=1",
           "--label", f"{engine.LABEL}.purpose=course-image", *_args_flags(args), str(ROOT)]
    return _run_logged(cmd, log, env={"DOCKER_BUILDKIT": "0"})


def docker_config_with_buildx(dest: Path) -> Path:
    """A private DOCKER_CONFIG folder whose only CLI plugin is the buildx shim, unless the
    engine's CLI already has a real buildx (then the user's configuration is left alone)."""
    real = subprocess.run(["docker", "buildx", "version"], capture_output=True, text=True)
    if real.returncode == 0 and "classic-shim" not in real.stdout:
        return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    dest.mkdir(parents=True, exist_ok=True)
    link = dest / "cli-plugins"
    if not link.exists():
        link.symlink_to(BUILDX_SHIM_DIR)
    return dest


def repo2docker_build(tag: str = f"{IMAGE}:binder", args: dict[str, str] | None = None,
                      log: Path | None = None) -> float:
    """Build the repo the way Binder does: ``jupyter-repo2docker --no-run --user-id 1000
    --user-name jovyan``. Returns the seconds it took."""
    args = build_args() if args is None else args
    # repo2docker reuses an image of that name without building: drop our own tag first (its
    # layers are shared with the `docker build` image, so this costs nothing but the tag)
    subprocess.run(["docker", "image", "rm", tag], capture_output=True)
    exe = Path(sys.executable).parent / "jupyter-repo2docker"
    cfg = docker_config_with_buildx(engine.state_dir() / "docker-config")
    cmd = [str(exe if exe.exists() else "jupyter-repo2docker"), "--no-run", "--user-id", "1000",
           "--user-name", "jovyan", "--image-name", tag, "--label", f"{engine.LABEL}=1",
           "--label", f"{engine.LABEL}.purpose=course-image", *_args_flags(args), str(ROOT)]
    return _run_logged(cmd, log, env={"DOCKER_CONFIG": str(cfg)})


def _run_logged(cmd: list[str], log: Path | None, env: dict[str, str]) -> float:
    """Run ``cmd`` with its output in ``log`` (default: the state folder); seconds taken."""
    log = log or engine.state_dir() / f"course-image-{Path(cmd[0]).name}.log"
    t0 = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, text=True, env={**os.environ, **env})
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"{' '.join(cmd[:3])}... failed (exit {proc.returncode}), log {log}:\n{tail}")
    return time.monotonic() - t0


def image_size(tag: str) -> int:
    return engine.client().images.get(tag).attrs["Size"]


# --------------------------------------------------------------------------- running


@dataclass
class Lab:
    """A running course container: its name, the URL on this host and the token."""

    name: str
    url: str
    token: str
    started: float

    def api(self, path: str, timeout: float = 5) -> tuple[int, bytes]:
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()
        except (urllib.error.URLError, OSError):
            return 0, b""

    def wait_ready(self, timeout: float = 90) -> float:
        """Seconds from ``docker run`` until ``/api/status`` answers 200."""
        while time.monotonic() - self.started < timeout:
            status, _ = self.api("/api/status", timeout=2)
            if status == 200:
                return time.monotonic() - self.started
            if _state(self.name) not in ("running", "created"):
                break
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: /api/status did not answer 200 within {timeout:.0f} s; logs:\n"
                           + logs(self.name))

    def exec(self, *cmd: str, user: str | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
        """``docker exec`` (as ``user``: its groups are read from the container's /etc/group,
        so jovyan gets the socket's group the entrypoint added)."""
        flags = ["-u", user] if user else []
        return subprocess.run(["docker", "exec", *flags, self.name, *cmd], capture_output=True, text=True,
                              timeout=timeout)


def _state(name: str) -> str:
    out = subprocess.run(["docker", "inspect", "-f", "{{.State.Status}}", name], capture_output=True, text=True)
    return out.stdout.strip() or "gone"


def logs(name: str) -> str:
    out = subprocess.run(["docker", "logs", "--tail", "40", name], capture_output=True, text=True)
    return out.stdout + out.stderr


def binder_command(token: str) -> list[str]:
    """What Binder runs in the image instead of its CMD (as uid 1000, through the ENTRYPOINT)."""
    return ["jupyter", "notebook", "--ip=0.0.0.0", f"--port={PORT}", "--no-browser",
            f"--IdentityProvider.token={token}", "--ServerApp.default_url=/lab"]


def student_command(token: str) -> list[str]:
    """The image's CMD with a known token (students get a random one printed in the logs)."""
    return ["jupyter", "lab", "--ip=0.0.0.0", f"--port={PORT}", "--no-browser",
            f"--IdentityProvider.token={token}"]


@contextlib.contextmanager
def running(tag: str, mode: str, suffix: str = "", env: dict[str, str] | None = None):
    """Start the image and yield a :class:`Lab`; always removed afterwards.

    ``mode="socket"``: the student's one command (``--user root`` and the host's socket mounted;
    the entrypoint hands the socket's group to jovyan). ``mode="binder"``: no socket, uid 1000,
    Binder's ``jupyter notebook`` command."""
    token = secrets.token_hex(16)
    name = engine.name("course", mode, suffix)
    engine.remove_container(name)
    cmd = ["docker", "run", "-d", "--name", name, "--label", f"{engine.LABEL}=1",
           "--label", f"{engine.LABEL}.purpose=course-{mode}", "-p", f"127.0.0.1::{PORT}"]
    for k, v in (env or {}).items():
        cmd += ["-e", f"{k}={v}"]
    if mode == "socket":
        cmd += ["--user", "root", "-v", f"{SOCKET}:{SOCKET}", tag, *student_command(token)]
    elif mode == "binder":
        cmd += ["--user", "1000", tag, *binder_command(token)]
    else:
        raise ValueError(mode)
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"docker run failed: {proc.stderr.strip()}")
    try:
        port = json.loads(subprocess.run(["docker", "port", name, f"{PORT}/tcp"], capture_output=True,
                                         text=True).stdout.split(":")[-1].strip() or "0")
        yield Lab(name=name, url=f"http://127.0.0.1:{port}", token=token, started=started)
    finally:
        engine.remove_container(name)


def main(argv: list[str] | None = None) -> int:
    """``python -m dockercourse.courseimage [TAG]``: build the course image (offline-aware)."""
    tag = (argv if argv is not None else sys.argv[1:]) or [f"{IMAGE}:latest"]
    secs = build(tag[0], log=None)
    print(f"{tag[0]} built in {secs:.0f} s ({image_size(tag[0]) / 1e6:.0f} MB). Student launch:\n"
          f"  docker run --rm -p 8888:8888 -v {SOCKET}:{SOCKET} --user root {tag[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

