"""Entering a sandbox: root, in the fresh mount (and network) namespace the class command made.

``unshare --mount [--net] python -I -m dockercourse.grading.enter JOB.json`` joins the slot's
cgroup, hides the host — the course root (solutions, gradebook, other submissions), the exchange,
``/root`` and the Docker sockets covered; ``/tmp``, ``/var/tmp`` and ``/dev/shm`` private and
size-capped; only the Python installation and this package bound back, read-only —, starts the
sandbox's engine in a namespace of its own (:mod:`.engine_ns`), then becomes the slot's user and
executes the worker (:mod:`.worker`) with :func:`worker_env` as its whole environment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .build import OFFLINE_SANDBOX_ENV
from .cgroup import Cgroup, _write
from .protocol import Job


def root_env() -> dict[str, str]:
    """The environment of what runs as root for a sandbox (nothing of the instructor's)."""
    keep = ("PATH", "LANG", "LC_ALL", "DOCKERCOURSE_DEBUG")
    return {k: v for k, v in os.environ.items() if k in keep} | {"PYTHONDONTWRITEBYTECODE": "1"}


def worker_env(job: Job) -> dict[str, str]:
    """The whole environment of the worker, hence of the checks, the student's kernel and
    its ``!docker`` commands. BuildKit prints plain progress (``BUILDKIT_PROGRESS``): the
    feedback shows a ``!docker build`` as a terminal would, without escape codes."""
    slot_dir = Path(job.sandbox)
    home = slot_dir / "home"
    return {
        "HOME": str(home), "USER": job.user, "LOGNAME": job.user,
        "XDG_RUNTIME_DIR": str(slot_dir / "run"),
        "PATH": f"{Path(sys.executable).parent}:{Path(job.docker_cli).parent}:/usr/local/bin:/usr/bin:/bin:"
                "/usr/sbin:/sbin",
        "DOCKERCOURSE_DOCKER": job.docker_cli, "DOCKER_BUILDKIT": "1", "BUILDKIT_PROGRESS": "plain",
        "DOCKER_HOST": f"unix://{slot_dir / 'run' / 'docker.sock'}",
        "DOCKERCOURSE_STATE": str(home / ".dockercourse"),
        "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8",
        "MPLBACKEND": "Agg", "JUPYTER_PLATFORM_DIRS": "1", "DOCKERCOURSE_SANDBOX": "1",
    } | ({OFFLINE_SANDBOX_ENV: "1"} if job.isolated_net else {})


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def _needed_paths() -> list[Path]:
    """What the worker must still see: the Python installation, the venv, this package."""
    import dockercourse

    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
             Path(dockercourse.__file__).resolve().parent.parent}
    return sorted(paths, key=lambda p: len(p.parts))


def hide_host(hidden: list[Path], tmp_mib: int, keep: Path) -> None:
    """In a fresh mount namespace (root): private, size-capped ``/tmp``, ``/var/tmp`` and
    ``/dev/shm``; ``hidden`` and ``/root`` covered; the Python installation, the venv and this
    package bound back read-only wherever they live (``keep``: an empty root-only folder used
    while covering); the host's Docker sockets covered."""
    needed = _needed_paths()
    scratch = [Path(d) for d in ("/tmp", "/var/tmp", "/dev/shm") if os.path.isdir(d)]
    all_hidden = [*hidden, Path("/root")]
    hidden = [h for h in all_hidden if h.is_dir()]
    covering = scratch + hidden
    hidden = [h for h in hidden if not any(o != h and o in h.parents for o in covering)]  # outermost only
    covered = [p for p in needed if any(h == p or h in p.parents for h in covering)]
    # keep a handle on what must stay visible (the venv may live in /tmp or in the course root),
    # cover everything, then bind it back read-only
    keep.mkdir(mode=0o700, exist_ok=True)
    staged = []
    for i, p in enumerate(covered):
        s = keep / str(i)
        s.mkdir(exist_ok=True)
        _mount("--bind", str(p), str(s))
        staged.append((s, p))
    for d in scratch:
        _mount("-t", "tmpfs", "-o", f"size={tmp_mib}m,mode=1777,nosuid,nodev", "tmpfs", str(d))
    for h in hidden:
        _mount("-t", "tmpfs", "-o", "size=1m,mode=755,nosuid,nodev", "tmpfs", str(h))
    for s, p in staged:
        p.mkdir(parents=True, exist_ok=True)
        _mount("--bind", str(s), str(p))
        _mount("-o", "remount,bind,ro", str(p))
        subprocess.run(["umount", str(s)], capture_output=True)
    for h in all_hidden:
        # a bound-back folder that contains a hidden one must not re-expose it
        if any(p in h.parents for _, p in staged) and h.is_dir():
            _mount("-t", "tmpfs", "-o", "size=1m,mode=755,nosuid,nodev", "tmpfs", str(h))
    for sock in ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock"):
        if os.path.exists(sock) and not os.path.islink(sock):
            with contextlib.suppress(subprocess.CalledProcessError):
                _mount("--bind", "/dev/null", sock)


def enter(job_path: str) -> None:
    """Root, in a fresh mount namespace: join the cgroup, hide the host, drop to the
    sandbox user and exec the worker."""
    job = Job.from_json(Path(job_path).read_text())
    slot_dir = Path(job.sandbox)
    cg = Cgroup(job.slot, job.limits, (job.uid, job.gid))
    cg.join(os.getpid())
    with contextlib.suppress(OSError):  # (needs CAP_SYS_RESOURCE, which some VMs' root lacks)
        _write(Path("/proc/self/oom_score_adj"), "-500")  # infra first: the OOM killer takes the student's processes
    if job.engine_root:  # before anything is covered: the engine root may live in the course root
        _mount("--bind", job.engine_source, job.engine_root)
        _mount("-o", "remount,bind,ro", job.engine_root)
    hide_host([Path(h) for h in job.hidden], job.limits.tmp_mib, slot_dir / "job" / ".keep")
    if job.isolated_net and shutil.which("ip"):
        subprocess.run(["ip", "link", "set", "lo", "up"], capture_output=True)
    if job.engine_root:
        _launch_engine(job, job_path)
    os.setgroups([])
    os.setresgid(job.gid, job.gid, job.gid)
    os.setresuid(job.uid, job.uid, job.uid)
    os.chdir(slot_dir / "home")
    os.execve(sys.executable, [sys.executable, "-I", "-m", "dockercourse.grading.worker", job_path],
              worker_env(job))


def _launch_engine(job: Job, job_path: str) -> None:
    """Start the sandbox's engine in a mount namespace of its own (:mod:`.engine_ns`), as root
    until it drops to the sandbox user; the worker waits for its socket."""
    slot_dir = Path(job.sandbox)
    log_path = slot_dir / "home" / "dockerd.log"
    with open(log_path, "ab") as log:
        os.chown(log_path, job.uid, job.gid)
        proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", sys.executable, "-I", "-m",
                                 "dockercourse.grading.engine_ns", job_path], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, env=root_env())
    (slot_dir / "job" / "engine.pid").write_text(str(proc.pid))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m dockercourse.grading.enter JOB.json", file=sys.stderr)
        sys.exit(2)
    enter(sys.argv[1])
    sys.exit(1)  # exec failed
