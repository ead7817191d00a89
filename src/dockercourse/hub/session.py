"""One student's session on the class server: a process tree of its own, started and stopped by root.

What a session is, built from the grading sandbox's pieces (:mod:`dockercourse.grading`):

* **identity** — the member's Unix account (:mod:`.roster`) with its own subordinate ids;
* **disk** — a sparse ext4 image per member (:attr:`SessionSpec.disk_gib`), kept across sessions,
  loop-mounted as the member's home *inside the session's mount namespace only*: no other
  session, and nothing on the host, sees it mounted; it goes with the session's last process;
* **limits** — one cgroup (:class:`~dockercourse.grading.cgroup.Cgroup`) around JupyterLab, its
  kernels, the engine and every container: memory (no swap), CPU, processes;
* **network** — a namespace of its own joined to the hub's bridge (:mod:`.network`);
* **engine** — the current engine's root, rootless, started exactly as a grading sandbox starts it
  (:func:`dockercourse.grading.engine_ns.launch`), its data on the member's disk;
* **view of the host** — private ``/tmp``, ``/var/tmp`` and ``/dev/shm``; ``/root``, the class
  server's own files and the grading sandboxes covered; the host's Docker sockets covered.

:func:`start` runs in the hub (root, host side) and returns the session's process;
``unshare --mount --net … python -m dockercourse.hub.session SPEC.json`` is that process
(:func:`enter`): it waits until :func:`start` has joined its namespace to the bridge, builds the
session, becomes the member and executes :mod:`.userinit`, which execs JupyterHub's single-user
server. :func:`stop` kills the cgroup: the namespaces, the mount and the loop device go with it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import grp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..errors import DockercourseError
from ..grading.cgroup import Cgroup, _write
from ..grading.enter import hide_host, root_env
from ..grading.protocol import Job, JsonRecord, Limits
from . import network

#: Everything of the class server on the host (accounts' disks, specs, exchange, course, logs).
DEFAULT_ROOT = Path("/var/lib/dockercourse-hub")
CGROUP_PARENT = "dockercourse-hub"
#: The single-user server's port inside each session's namespace.
SERVER_PORT = 8888
#: The folder of the member's home that JupyterLab opens (the engine's data stays out of sight).
WORK_DIR = "cours"
#: Under the class server's root: the engine root as every session sees it, and the CLI wrappers.
ENGINE_VIEW, ENGINE_BIN = "engine", "engine-bin"


class SessionError(DockercourseError, RuntimeError):
    """A session that could not be started; the message is French."""


@dataclasses.dataclass
class SessionSpec(JsonRecord):
    """What :func:`enter` needs (written root-only: it holds the session's API token)."""

    user: str
    uid: int
    gid: int
    index: int
    root: str
    instructor: bool = False
    memory_mib: int = 2048
    cpus: float = 1.0
    pids: int = 1024
    disk_gib: int = 10
    tmp_mib: int = 512
    env: dict[str, str] = dataclasses.field(default_factory=dict)  # JupyterHub's, for the single-user server
    args: list[str] = dataclasses.field(default_factory=list)  # extra single-user server arguments
    engine_source: str = ""  # the current engine's Debian root on the host
    base_tar: str = ""  # ``docker save`` of the course's base image, loaded at the first session
    notebooks: str = ""  # the lecture notebooks, copied into the member's home the first time
    hidden: list[str] = dataclasses.field(default_factory=list)

    # ---- derived paths and objects
    @property
    def mountpoint(self) -> Path:
        return Path(self.root) / "sessions" / self.user

    @property
    def home(self) -> Path:
        return self.mountpoint / "home"

    @property
    def image(self) -> Path:
        return Path(self.root) / "disks" / f"{self.user}.img"

    @property
    def limits(self) -> Limits:
        return Limits(memory_mib=self.memory_mib, pids=self.pids, cpus=self.cpus, disk_gib=self.disk_gib,
                      tmp_mib=self.tmp_mib)

    def cgroup(self) -> Cgroup:
        return Cgroup(0, self.limits, (self.uid, self.gid), name=f"{CGROUP_PARENT}/{self.user}")

    def engine_job(self) -> Job:
        """The grading sandbox's job, as far as its engine launcher reads it."""
        return Job(notebook_name="", base_tar="", isolated_net=False, user=self.user, uid=self.uid, gid=self.gid,
                   sandbox=str(self.mountpoint), engine_source=self.engine_source,
                   engine_root=str(Path(self.root) / ENGINE_VIEW), engine_bin=str(Path(self.root) / ENGINE_BIN))


def spec_path(root: Path, user: str) -> Path:
    return Path(root) / "specs" / f"{user}.json"


def log_path(root: Path, user: str) -> Path:
    return Path(root) / "logs" / f"{user}.log"


# ------------------------------------------------------------------ host side (the hub, root)

def _new_disk(spec: SessionSpec) -> None:
    spec.image.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(spec.image.parent, 0o700)
    tmp = spec.image.with_suffix(".part")
    with open(tmp, "wb") as fh:
        fh.truncate(spec.disk_gib * 2**30)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-E",
                    f"lazy_itable_init=1,lazy_journal_init=1,root_owner={spec.uid}:{spec.gid}", str(tmp)],
                   check=True, capture_output=True)
    os.chmod(tmp, 0o600)
    tmp.rename(spec.image)


def start(spec: SessionSpec) -> subprocess.Popen:
    """Start the member's session (root). Returns its process; its server answers a few seconds
    later on :func:`~.network.session_address` port :data:`SERVER_PORT`."""
    root = Path(spec.root)
    for d, mode in ((root, 0o711), (root / "sessions", 0o711), (root / "specs", 0o700), (root / "logs", 0o700)):
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, mode)
    spec.mountpoint.mkdir(exist_ok=True)
    os.chmod(spec.mountpoint, 0o755)
    stop(spec)  # what a killed session left
    if not spec.image.is_file():
        _new_disk(spec)
    spec.cgroup().create()
    path = spec_path(root, spec.user)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(spec.to_json())
    log = open(log_path(root, spec.user), "ab")
    proc = subprocess.Popen(["unshare", "--mount", "--net", "--propagation", "private", sys.executable, "-I", "-m",
                             "dockercourse.hub.session", str(path)], stdin=subprocess.PIPE, stdout=log,
                            stderr=log, start_new_session=True, env=root_env())
    log.close()
    try:
        # in the session's cgroup before it runs anything (it waits for "go"): the hub's poll reads the
        # cgroup, and a loaded machine may take seconds to start Python
        spec.cgroup().join(proc.pid)
        network.attach(spec.index, proc.pid)
    except (network.NetworkError, subprocess.CalledProcessError, OSError) as err:
        proc.kill()
        raise SessionError(f"la session de {spec.user} n'a pas pu être créée : {err}") from None
    proc.stdin.write(b"go\n")
    proc.stdin.close()
    return proc


def running(spec: SessionSpec, pid: int) -> bool:
    """Whether ``pid`` is still this session's (not a reused pid)."""
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False
    return f"/{CGROUP_PARENT}/{spec.user}" in text


def stop(spec: SessionSpec, timeout: float = 10.0) -> None:
    """Kill everything in the session's cgroup and remove it; what the namespaces held (the disk's
    mount and loop device, the veth) goes with the last process: waited for, then made sure of."""
    cg = spec.cgroup()
    cg.remove()
    host, _ = network.veth_names(spec.index)
    deadline = time.monotonic() + timeout
    # killed is not gone: an exiting process leaves the cgroup before its parent reaps it
    while time.monotonic() < deadline and (_attached_loops(spec.image) or _processes_of(spec)):
        time.sleep(0.1)
    for dev in _attached_loops(spec.image):  # a namespace something outside the session still held
        subprocess.run(["losetup", "-d", dev], capture_output=True)
    subprocess.run(["ip", "link", "del", host], capture_output=True)
    with contextlib.suppress(OSError):
        spec_path(Path(spec.root), spec.user).unlink()


def _processes_of(spec: SessionSpec) -> list[int]:
    """Processes still running as the member or one of their subordinate ids (their containers)."""
    from ..grading.host import SUBID_SPAN, identity_pids
    from .roster import SUBID_BASE

    return identity_pids(spec.uid, SUBID_BASE + spec.index * SUBID_SPAN)


def _attached_loops(image: Path) -> list[str]:
    proc = subprocess.run(["losetup", "-n", "-O", "NAME", "-j", str(image)], capture_output=True, text=True)
    return [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]


# ------------------------------------------------------------------ inside (root, then the member)

def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def enter(path: str) -> None:
    """Root, in the session's fresh mount and network namespaces: build the session and become the member."""
    spec = SessionSpec.from_json(Path(path).read_text())
    sys.stdin.readline()  # "go": the namespace is on the bridge
    spec.cgroup().join(os.getpid())
    with contextlib.suppress(OSError):
        _write(Path("/proc/self/oom_score_adj"), "-500")  # the OOM killer takes the student's processes first
    network.configure_inside(spec.index)
    subprocess.run(["e2fsck", "-p", str(spec.image)], capture_output=True)  # after a crash: journal replay
    _mount("-o", "loop,nosuid,nodev", str(spec.image), str(spec.mountpoint))
    os.chown(spec.mountpoint, spec.uid, spec.gid)
    os.chmod(spec.mountpoint, 0o700)
    for d, owner, mode in (("home", spec.uid, 0o700), ("run", spec.uid, 0o700), ("job", 0, 0o700)):
        p = spec.mountpoint / d
        p.mkdir(exist_ok=True)
        os.chown(p, owner, spec.gid if owner else 0)
        os.chmod(p, mode)
    job = spec.engine_job()
    if spec.engine_source:  # before anything is covered: the engine root may live under a hidden folder
        _mount("--bind", job.engine_source, job.engine_root)
        _mount("-o", "remount,bind,ro", job.engine_root)
    hide_host([Path(h) for h in spec.hidden], spec.tmp_mib, spec.mountpoint / "job" / ".keep")
    env = _user_env(spec)
    if spec.engine_source:
        job_path = spec.mountpoint / "job" / "engine.json"
        job_path.write_text(job.to_json())
        with open(spec.mountpoint / "run" / "dockerd.log", "ab") as log:
            os.chown(spec.mountpoint / "run" / "dockerd.log", spec.uid, spec.gid)
            subprocess.Popen(["unshare", "-m", "--propagation", "private", sys.executable, "-I", "-m",
                              "dockercourse.grading.engine_ns", str(job_path)], stdout=log, stderr=log,
                             stdin=subprocess.DEVNULL, env=root_env())
    groups = [g.gr_gid for g in grp.getgrall() if spec.user in g.gr_mem]
    os.setgroups(groups)
    os.setresgid(spec.gid, spec.gid, spec.gid)
    os.setresuid(spec.uid, spec.uid, spec.uid)
    os.chdir(spec.home)
    os.execve(sys.executable, [sys.executable, "-m", "dockercourse.hub.userinit", *spec.args], env)


def config_path(root: Path, instructor: bool) -> list[str]:
    """The Jupyter configuration folders of a session, first wins: an instructor's sees the
    course (its ``nbgrader_config.py``: formgrader, the gradebook), a student's turns nbgrader's
    instructor extensions off; both read the course id and the exchange."""
    first = root / "course" if instructor else root / "jupyter-students"
    return [str(first), str(root / "jupyter")]


def _user_env(spec: SessionSpec) -> dict[str, str]:
    """The member's whole environment: JupyterHub's variables, then the session's."""
    bin_dir = Path(spec.root) / ENGINE_BIN
    keep = {k: v for k, v in spec.env.items() if k.startswith(("JUPYTERHUB_", "JPY_"))}
    return keep | {
        "HOME": str(spec.home), "USER": spec.user, "LOGNAME": spec.user, "SHELL": "/bin/bash",
        "XDG_RUNTIME_DIR": str(spec.mountpoint / "run"),
        "PATH": f"{Path(sys.executable).parent}:{bin_dir}:/usr/local/bin:/usr/bin:/bin",
        "DOCKER_HOST": f"unix://{spec.mountpoint / 'run' / 'docker.sock'}",
        "DOCKERCOURSE_DOCKER": str(bin_dir / "docker") if spec.engine_source else "docker",
        "DOCKER_BUILDKIT": "1", "DOCKERCOURSE_STATE": str(spec.home / ".dockercourse"),
        "DOCKERCOURSE_HUB_BASE_TAR": spec.base_tar, "DOCKERCOURSE_HUB_BIN": str(bin_dir),
        "DOCKERCOURSE_HUB_NOTEBOOKS": spec.notebooks,
        "DOCKERCOURSE_HUB_ROLE": "instructor" if spec.instructor else "student",
        "JUPYTER_CONFIG_PATH": os.pathsep.join(config_path(Path(spec.root), spec.instructor)),
        "NBGRADER_EXCHANGE": str(Path(spec.root) / "exchange"),
        "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8", "MPLBACKEND": "Agg",
    }


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m dockercourse.hub.session SPEC.json", file=sys.stderr)
        sys.exit(2)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    enter(sys.argv[1])
    sys.exit(1)  # exec failed
