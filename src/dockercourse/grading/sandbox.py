"""The sandbox: one submission graded as an unprivileged identity, on an engine of its own.

What a sandbox is (slot ``k``, one per parallel job):

* **identity** — the system user ``dcgrade<k>`` (no login, no home on the host), with
  its own ``/etc/subuid`` range for the containers of its rootless engine;
* **disk** — a sparse ext4 image (:data:`Limits.disk_gib`) loop-mounted on
  ``<root>/slots/<k>``, owned by that user: the only place it can write, apart from
  private size-capped ``/tmp``, ``/var/tmp`` and ``/dev/shm``;
* **view of the host** — a private mount namespace where the course root (solutions,
  gradebook, other submissions), the exchange, ``/root`` and the host's Docker socket
  are covered by empty tmpfs; only the Python installation and this package are bound
  back, read-only;
* **limits** — a cgroup (v1: memory + pids + cpu + freezer; v2: one delegated group) around
  the whole tree: engine, kernel, checks and containers (a rootless engine on cgroup v1
  cannot limit its containers itself), a wall-time limit, and the engine's infra
  protected from the OOM killer before the student's processes;
* **engine** — rootless ``dockerd`` (rootlesskit + slirp4netns) with its data on the
  sandbox's disk and the ``cgroupfs`` cgroup driver (the sandbox user has no systemd
  session). It is the current engine's (:mod:`dockercourse.currentengine`: Engine 26 and its
  BuildKit on Debian trixie), run from a root of its own that holds only that Debian root's
  ``/usr`` and ``/etc`` and the slot's folder (:mod:`.engine_ns`); with
  ``DOCKERCOURSE_SANDBOX_ENGINE=host``, or when that root cannot be built, the host's
  ``docker.io``. The base image is loaded from a ``docker save`` archive, so the engine sees
  none of the host's images or containers. Before any check, the worker starts one
  container of the base image: an engine that cannot is reported (:data:`GRADER_BROKEN`)
  and the submission is not scored;
* **network** — with the offline base image (no registry needed), a network namespace
  of its own holding only ``lo``.

The program that runs inside (:func:`worker`) first computes the **official results**
(every check, out of any kernel, on files read from the notebook without running it,
and the theory answers evaluated by the source's tests in a fresh interpreter), sends
them to the grader on its standard output, closes that channel, and only then executes
the student's notebook (for the feedback the student and the instructor read). The
grader believes only the results sent before any student code ran.

Internal entry points: ``python -m dockercourse.grading.sandbox enter|worker JOB.json``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pwd
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .. import engine, hostpkg
from .build import OFFLINE_SANDBOX_ENV
from .protocol import RESULT_MARK, read_results

USER_PREFIX = "dcgrade"
#: First subordinate uid/gid of slot 0; slot k gets [BASE + k * SPAN, BASE + (k + 1) * SPAN).
SUBID_BASE = 1_500_000_000
SUBID_SPAN = 65536
DEFAULT_ROOT = Path("/var/lib/dockercourse-grading")
PHASE_A_DONE = "@@DOCKERCOURSE-PHASE-A-DONE@@"
#: The worker's line for each step of phase A: ``PHASE_MARK {"phase", "wall_s", "cpu_s"}``.
PHASE_MARK = "@@DOCKERCOURSE-PHASE@@"
#: The worker's line (then a French reason) when grading itself broke: no engine, no base
#: image, or an engine that cannot start a container. The submission is not scored.
GRADER_BROKEN = "@@DOCKERCOURSE-GRADER-BROKEN@@"
#: Extra ``dockerd`` flags for every sandbox engine (the instructor's, or a test's), shell-split.
DOCKERD_ARGS_ENV = "DOCKERCOURSE_SANDBOX_DOCKERD_ARGS"
#: The cgroup driver of the sandbox engines: dockerd picks ``systemd`` on cgroup v2 when
#: ``/run/systemd/system`` exists, which needs a login session the sandbox user never has.
ENGINE_EXEC_OPTS = ("native.cgroupdriver=cgroupfs",)
PACKAGES = ("rootlesskit", "uidmap", "slirp4netns", "e2fsprogs", "iproute2")
ROOTLESS_SCRIPTS = ("/usr/share/docker.io/contrib/dockerd-rootless.sh", "/usr/bin/dockerd-rootless.sh")
CGROUP_NAME = "dockercourse-grading"
#: ``current`` (default): the sandboxes run the current engine's root; ``host``: the host's docker.io.
ENGINE_ENV = "DOCKERCOURSE_SANDBOX_ENGINE"
#: Under the sandboxes' root: where each sandbox sees the engine root (read-only), and the CLI wrappers.
ENGINE_VIEW, ENGINE_BIN = "engine", "engine-bin"


class SandboxError(RuntimeError):
    """The grading host cannot make sandboxes (message for the instructor, in French)."""


@dataclasses.dataclass
class Limits:
    memory_mib: int = 3072
    pids: int = 2048
    cpus: float = 1.0  # a submission that burns CPU (a loop at import) takes one core at most
    disk_gib: int = 6
    tmp_mib: int = 256
    wall_s: float = 600.0
    phase_a_s: float = 300.0
    #: The notebook (phase B) runs for feedback only, once the official results are sent: each cell
    #: gets ``cell_s`` at most (the student's own build is served by the official build's cache),
    #: the whole notebook ``feedback_s`` from its kernel's start.
    cell_s: float = 30.0
    feedback_s: float = 60.0


# =========================================================================== host support (root, once)


def rootless_script() -> str | None:
    for p in ROOTLESS_SCRIPTS:
        if os.access(p, os.X_OK):
            return p
    return shutil.which("dockerd-rootless.sh")


def buildkit_cli() -> str:
    """A docker client that builds with BuildKit: one with the buildx plugin, or a 20.x
    client (BuildKit built in). Falls back to ``docker``."""
    cands = [shutil.which("docker"), "/usr/bin/docker", "/usr/local/bin/docker"]
    for c in dict.fromkeys(x for x in cands if x and os.access(x, os.X_OK)):
        if subprocess.run([c, "buildx", "version"], capture_output=True).returncode == 0:
            return c
        out = subprocess.run([c, "--version"], capture_output=True, text=True).stdout
        with contextlib.suppress(ValueError, IndexError):
            if int(out.split("version", 1)[1].strip().split(".")[0]) < 23:
                return c
    return shutil.which("docker") or "docker"


def cgroup_version() -> int:
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        return 2
    return 1


def ensure_host_support(quiet: bool = False) -> list[str]:
    """Install what rootless engines need (Debian packages, ``/dev/net/tun`` usable by
    unprivileged users). Returns what was done; raises :class:`SandboxError`."""
    done = []
    if os.geteuid() != 0:
        raise SandboxError("la correction en bac à sable doit être lancée en root (elle crée des utilisateurs, "
                           "des cgroups et des montages) : sudo python -m dockercourse grade …")
    missing = [p for p, exe in (("rootlesskit", "rootlesskit"), ("uidmap", "newuidmap"),
                                ("slirp4netns", "slirp4netns"), ("e2fsprogs", "mkfs.ext4"), ("iproute2", "ip"))
               if shutil.which(exe) is None and not Path(f"/usr/sbin/{exe}").exists()]
    if missing:
        if not hostpkg.debian_like():
            raise SandboxError(f"installez d'abord : {', '.join(missing)} (paquets Debian/Ubuntu de Docker rootless).")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=300", *missing]
        proc = subprocess.run(install, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
            proc = subprocess.run(install, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise SandboxError("apt-get install " + " ".join(missing) + " a échoué :\n" + proc.stdout[-800:])
        done.append("installed " + " ".join(missing))
    root = current_engine_root(quiet)
    if root is not None:
        done.append(f"engine {root}")
    elif rootless_script() is None:
        raise SandboxError("dockerd-rootless.sh est introuvable (paquet docker.io ou docker-ce-rootless-extras).")
    tun = Path("/dev/net/tun")
    if tun.exists() and stat.S_IMODE(tun.stat().st_mode) & 0o006 != 0o006:
        os.chmod(tun, 0o666)  # slirp4netns, run by the sandbox user, opens it
        done.append("chmod 0666 /dev/net/tun")
    if not quiet:
        for d in done:
            print(f"  bac à sable : {d}", flush=True)
    return done


_ENGINE_ROOT: dict[str, Path | None] = {}


def current_engine_root(quiet: bool = True) -> Path | None:
    """The current engine's Debian root the sandboxes run (built once, about a minute, then
    cached), or None for the host's engine (:data:`ENGINE_ENV` = ``host``, or no root can be
    built: the instructor is told)."""
    if os.environ.get(ENGINE_ENV, "current") == "host":
        return None
    if "root" not in _ENGINE_ROOT:
        from ..currentengine import CurrentEngine

        ce = CurrentEngine()
        try:
            if not ce._root_ok() and not quiet:
                print(f"  bac à sable : préparation du moteur Docker récent ({ce.suite}, une minute environ)…",
                      flush=True)
            ce.ensure_root()
            _ENGINE_ROOT["root"] = ce.root
        except engine.SetupError as err:
            print(f"  bac à sable : moteur récent indisponible ({str(err)[:200]}) : les copies sont corrigées "
                  "avec le docker.io de l'hôte, dont le BuildKit ne comprend pas toute la syntaxe récente "
                  "(heredocs…).", flush=True)
            _ENGINE_ROOT["root"] = None
    return _ENGINE_ROOT["root"]


def _ensure_user(slot: int) -> tuple[int, int, str]:
    name = f"{USER_PREFIX}{slot}"
    try:
        pw = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", "--user-group", name], check=True, capture_output=True)
        pw = pwd.getpwnam(name)
    lo = SUBID_BASE + slot * SUBID_SPAN
    for path in ("/etc/subuid", "/etc/subgid"):
        lines = Path(path).read_text().splitlines() if Path(path).exists() else []
        want = f"{name}:{lo}:{SUBID_SPAN}"
        if want not in lines:
            lines = [ln for ln in lines if not ln.startswith(f"{name}:")] + [want]
            Path(path).write_text("\n".join(lines) + "\n")
    return pw.pw_uid, pw.pw_gid, name


# =========================================================================== cgroups


class Cgroup:
    """The limiting cgroup around a sandbox's whole process tree."""

    V1_CONTROLLERS = ("memory", "pids", "freezer", "cpu", "cpuacct")

    def __init__(self, slot: int, limits: Limits, owner: tuple[int, int]):
        self.version = cgroup_version()
        self.name = f"{CGROUP_NAME}/slot{slot}"
        self.limits = limits
        self.owner = owner
        if self.version == 1:
            self.paths = [Path("/sys/fs/cgroup") / c / self.name for c in self.V1_CONTROLLERS
                          if (Path("/sys/fs/cgroup") / c).is_dir()]
        else:
            self.paths = [Path("/sys/fs/cgroup") / self.name]

    def create(self) -> None:
        self.kill()
        mem = self.limits.memory_mib * 1024 * 1024
        if self.version == 1:
            for p in self.paths:
                p.mkdir(parents=True, exist_ok=True)
                ctl = p.parent.parent.name
                if ctl == "memory":
                    _write(p / "memory.limit_in_bytes", str(mem))
                    with contextlib.suppress(OSError):
                        _write(p / "memory.memsw.limit_in_bytes", str(mem))
                elif ctl == "pids":
                    _write(p / "pids.max", str(self.limits.pids))
                elif ctl == "cpu":
                    _write(p / "cpu.cfs_period_us", "100000")
                    _write(p / "cpu.cfs_quota_us", str(int(self.limits.cpus * 100000)))
        else:
            parent = self.paths[0].parent
            parent.mkdir(exist_ok=True)
            with contextlib.suppress(OSError):
                _write(Path("/sys/fs/cgroup/cgroup.subtree_control"), "+memory +pids +cpu")
            with contextlib.suppress(OSError):
                _write(parent / "cgroup.subtree_control", "+memory +pids +cpu")
            p = self.paths[0]
            p.mkdir(exist_ok=True)
            _write(p / "memory.max", str(mem))
            with contextlib.suppress(OSError):
                _write(p / "memory.swap.max", "0")
            _write(p / "pids.max", str(self.limits.pids))
            with contextlib.suppress(OSError):  # the cpu controller may not be enabled here
                _write(p / "cpu.max", f"{int(self.limits.cpus * 100000)} 100000")
            # delegation: the rootless engine may create child groups for its containers
            for f in ("", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"):
                with contextlib.suppress(OSError):
                    os.chown(p / f if f else p, *self.owner)

    def join(self, pid: int) -> None:
        for p in self.paths:
            _write(p / "cgroup.procs", str(pid))

    def pids(self) -> set[int]:
        out: set[int] = set()
        for p in self.paths:
            files = [p / "cgroup.procs"] if self.version == 1 else list(p.rglob("cgroup.procs"))
            for f in files:
                with contextlib.suppress(OSError, ValueError):
                    out |= {int(x) for x in f.read_text().split()}
        return out

    def memory_peak_mib(self) -> float | None:
        for p in self.paths:
            for f in ("memory.max_usage_in_bytes", "memory.peak"):
                with contextlib.suppress(OSError, ValueError):
                    return int((p / f).read_text()) / 2**20
        return None

    def cpu_seconds(self) -> float | None:
        """CPU time used by the whole tree so far (cpuacct.usage on v1, cpu.stat on v2)."""
        for p in self.paths:
            with contextlib.suppress(OSError, ValueError):
                if (p / "cpuacct.usage").exists():
                    return int((p / "cpuacct.usage").read_text()) / 1e9
                for line in (p / "cpu.stat").read_text().splitlines():
                    if line.startswith("usage_usec "):
                        return int(line.split()[1]) / 1e6
        return None

    def oom_kills(self) -> int:
        for p in self.paths:
            for f in ("memory.oom_control", "memory.events"):
                with contextlib.suppress(OSError):
                    for line in (p / f).read_text().splitlines():
                        k, _, v = line.partition(" ")
                        if k == "oom_kill":
                            return int(v)
        return 0

    def kill(self) -> None:
        """SIGKILL everything in the group (frozen first, so a fork bomb cannot outrun it)."""
        if self.version == 2 and (self.paths[0] / "cgroup.kill").exists():
            with contextlib.suppress(OSError):
                _write(self.paths[0] / "cgroup.kill", "1")
        freezer = next((p for p in self.paths if p.parent.parent.name == "freezer"), None)
        for _ in range(50):
            pids = self.pids()
            if not pids:
                break
            if freezer is not None:
                with contextlib.suppress(OSError):
                    _write(freezer / "freezer.state", "FROZEN")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            if freezer is not None:
                with contextlib.suppress(OSError):
                    _write(freezer / "freezer.state", "THAWED")
            time.sleep(0.05)

    def remove(self) -> None:
        self.kill()
        for p in self.paths:
            for sub in sorted((d for d in p.rglob("*") if d.is_dir()), key=lambda d: -len(d.parts)):
                with contextlib.suppress(OSError):
                    sub.rmdir()
            with contextlib.suppress(OSError):
                p.rmdir()


def reap_stale_slots(root: Path = DEFAULT_ROOT) -> list[int]:
    """Tear down every slot an interrupted or killed class command left under ``root`` (its
    processes, cgroup, mount, disk). Call it holding the class command's lock: no slot is in use
    then. A run with more jobs than this one leaves slots this one would never enter."""
    slots = root / "slots"
    if not slots.is_dir():
        return []
    found = sorted({int(p.name.split(".")[0]) for p in slots.iterdir() if p.name.split(".")[0].isdigit()})
    for slot in found:
        Sandbox(slot, root, root=root).teardown()
    return found


def _write(path: Path, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)


# =========================================================================== the sandbox (root side)


@dataclasses.dataclass
class Outcome:
    """What came back from a sandbox."""

    results: dict[str, dict]          # official results, by check (or grade cell) name
    notebook: dict | None             # the executed notebook (feedback), None if unreadable
    seconds: float
    timed_out: bool = False
    error: str = ""                   # French, when the sandbox itself failed
    grader_error: str = ""            # French, when the worker said grading broke (GRADER_BROKEN)
    memory_peak_mib: float | None = None
    oom_kills: int = 0
    phases: dict = dataclasses.field(default_factory=dict)
    log_tail: str = ""


class Sandbox:
    """One slot: its user, disk, cgroup and mount namespace. Use as a context manager:
    ``with Sandbox(k, course_root) as sb: sb.run(job)``; leaving it kills and removes
    everything the slot made."""

    def __init__(self, slot: int, course_root: Path, limits: Limits | None = None,
                 root: Path = DEFAULT_ROOT, hidden: list[Path] | None = None, isolated_net: bool = True,
                 base_tar: str = ""):
        self.slot = slot
        self.course_root = Path(course_root).resolve()
        self.limits = limits or Limits()
        self.root = root
        self.hidden = [Path(p).resolve() for p in (hidden or [])]
        self.isolated_net = isolated_net
        self.base_tar = base_tar  # the base archive: which template the slot's disks are copies of
        self.seeded = False
        self.uid, self.gid, self.user = _ensure_user(slot)
        self.dir = root / "slots" / str(slot)
        self.image = root / "slots" / f"{slot}.img"
        self.cgroup = Cgroup(slot, self.limits, (self.uid, self.gid))
        self.engine_source = current_engine_root()
        self.docker_cli = ""
        if self.engine_source is not None:
            from .engine_ns import write_wrappers

            (root / ENGINE_VIEW).mkdir(parents=True, exist_ok=True)
            self.docker_cli = str(write_wrappers(root / ENGINE_BIN, root / ENGINE_VIEW))

    # ---------------------------------------------------------------- lifecycle

    def __enter__(self) -> Sandbox:
        t0 = time.monotonic()
        self.teardown()  # a slot left by an interrupted run
        (self.root / "slots").mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o711)
        os.chmod(self.root / "slots", 0o711)
        self.dir.mkdir(exist_ok=True)
        self.seeded = self._copy_template()
        if not self.seeded:
            self._new_disk()
        self._mount()
        os.chown(self.dir, self.uid, self.gid)
        os.chmod(self.dir, 0o700)
        for d in ("home", "run", "out", "nb"):
            (self.dir / d).mkdir(exist_ok=True)
            os.chown(self.dir / d, self.uid, self.gid)
        os.chmod(self.dir / "run", 0o700)
        (self.dir / "job").mkdir(exist_ok=True)  # root-owned, read-only for the worker
        self.cgroup.create()
        self.setup_lap = {"wall_s": round(time.monotonic() - t0, 2), "seeded": self.seeded}
        return self

    def _new_disk(self) -> None:
        with open(self.image, "wb") as fh:
            fh.truncate(self.limits.disk_gib * 2**30)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1",
                        str(self.image)], check=True, capture_output=True)

    def _mount(self) -> None:
        proc = subprocess.run(["mount", "-o", "loop", str(self.image), str(self.dir)], capture_output=True)
        if proc.returncode != 0 and self.seeded:  # a damaged template: made again by the next run
            self.forget_template()
            self.seeded = False
            self._new_disk()
            proc = subprocess.run(["mount", "-o", "loop", str(self.image), str(self.dir)], capture_output=True)
        if proc.returncode != 0:
            raise SandboxError(f"le disque du bac à sable {self.slot} ne se monte pas : "
                               + proc.stderr.decode(errors="replace")[-300:])

    def __exit__(self, *exc) -> None:
        self.teardown()

    def teardown(self) -> None:
        if os.environ.get("DOCKERCOURSE_SANDBOX_KEEP"):  # debugging: leave the last slot's files
            self.cgroup.remove()
            self._kill_identity()
            return
        self.cgroup.remove()
        self._kill_identity()
        if self.dir.exists() and os.path.ismount(self.dir):
            if subprocess.run(["umount", str(self.dir)], capture_output=True).returncode != 0:
                time.sleep(0.5)
                self._kill_identity()
                subprocess.run(["umount", "-l", str(self.dir)], capture_output=True)
        with contextlib.suppress(OSError):
            self.image.unlink()
        with contextlib.suppress(OSError):
            self.dir.rmdir()

    def _kill_identity(self) -> None:
        """Anything still running as the slot's user or its subordinate ids."""
        lo = SUBID_BASE + self.slot * SUBID_SPAN
        for _ in range(20):
            found = False
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    uid = entry.stat().st_uid
                except OSError:
                    continue
                if uid == self.uid or lo <= uid < lo + SUBID_SPAN:
                    found = True
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(int(entry.name), signal.SIGKILL)
            if not found:
                return
            time.sleep(0.05)

    # ---------------------------------------------------------------- the engine's template

    def template(self) -> Path | None:
        """This slot's template: a disk image whose engine data root already holds the base images
        (per slot: its files belong to the slot's subordinate ids; per base archive, engine and disk
        size). None until :attr:`base_tar` is known."""
        if not self.base_tar:
            return None
        kind = "current" if self.engine_source is not None else "host"
        return (self.root / "templates" / str(self.slot)
                / f"{Path(self.base_tar).stem}-{kind}-{self.uid}-{self.limits.disk_gib}g.img")

    def _copy_template(self) -> bool:
        """The fresh disk as a copy of the template (instead of an empty file system, then a
        ``docker load`` in the sandbox: about 2 CPU-s and a few seconds less per submission). A whole
        copy of the image, never a link or a shared layer: whatever a submission does to its engine's
        files, or to its disk, changes its own copy only."""
        tpl = self.template()
        if tpl is None or not tpl.is_file():
            return False
        return subprocess.run(["cp", "--sparse=always", str(tpl), str(self.image)],
                              capture_output=True).returncode == 0

    def make_template(self, job: dict, stop=None) -> bool:
        """Make the template once per slot (kept across class runs): before any submission, a sandbox
        whose engine only loads the base archive and stops cleanly; its disk, emptied of everything but
        the engine's data root, becomes ``templates/<slot>/…img`` under the sandboxes' root (root's,
        0700: no sandbox sees it). The slot is made fresh again, from it. False when it could not be
        made (submissions then load the base themselves)."""
        self.base_tar = job["base_tar"]
        tpl = self.template()
        if tpl.is_file():
            if not self.seeded and (stop is None or not stop.is_set()):
                self.__enter__()
            return self.seeded
        outcome = self.run(dict(job, template_only=True, files={}, notebook_text="{}"), stop=stop)
        made = False
        if not outcome.error and not outcome.grader_error and (self.dir / "home" / "template.ok").is_file():
            for d in ("job", "nb", "out", "run", "home"):  # only the engine's data root stays
                for entry in (self.dir / d).iterdir():
                    if not (d == "home" and entry.name == "docker"):
                        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
            made = subprocess.run(["umount", str(self.dir)], capture_output=True).returncode == 0
            if made:
                tpl.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(tpl.parent.parent, 0o700)
                for old in tpl.parent.glob("*.img"):
                    old.unlink()
                self.image.rename(tpl)
                os.chmod(tpl, 0o600)
        self.teardown()
        if stop is None or not stop.is_set():
            self.__enter__()
        return made

    def forget_template(self) -> None:
        """Remove a template an engine could not start from (the next run makes it again)."""
        tpl = self.template()
        if tpl is not None:
            tpl.unlink(missing_ok=True)

    # ---------------------------------------------------------------- one submission

    def run(self, job: dict, progress=None, stop=None, on_notebook=None) -> Outcome:
        """Run ``job`` (see :func:`worker`) in the sandbox and collect its outcome.
        ``progress(check)`` is called as each official result arrives, ``on_notebook()``
        once the official results are in and the student's notebook runs."""
        t0 = time.monotonic()
        jobdir = self.dir / "job"
        engine_root = {"engine_source": str(self.engine_source), "engine_root": str(self.root / ENGINE_VIEW),
                       "engine_bin": str(self.root / ENGINE_BIN)} if self.engine_source else {}
        job = dict(job, sandbox=str(self.dir), uid=self.uid, gid=self.gid, user=self.user, slot=self.slot,
                   docker_cli=job.get("docker_cli") or self.docker_cli or buildkit_cli(), **engine_root,
                   limits=dataclasses.asdict(self.limits),
                   dockerd_args=job.get("dockerd_args") or shlex.split(os.environ.get(DOCKERD_ARGS_ENV, "")))
        job["base_loaded"] = bool(self.seeded and not job.get("template_only"))
        for rel, data in job.pop("files", {}).items():
            target = jobdir / "project" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data if isinstance(data, bytes) else data.encode())
        (jobdir / "project").mkdir(exist_ok=True)
        nb_text = job.pop("notebook_text")
        (self.dir / "nb" / job["notebook_name"]).write_text(nb_text)
        os.chown(self.dir / "nb" / job["notebook_name"], self.uid, self.gid)
        (jobdir / "job.json").write_text(json.dumps(job))
        for p in [jobdir, *jobdir.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        cmd = ["unshare", "--mount", "--propagation", "private"]
        if self.isolated_net:
            cmd.append("--net")
        cmd += [sys.executable, "-I", "-m", "dockercourse.grading.sandbox", "enter", str(jobdir / "job.json")]
        stderr_path = Path(tempfile.mkstemp(prefix=f"dockercourse-sandbox{self.slot}-", suffix=".log")[1])
        lines: list[str] = []
        timed_out = False
        phases: dict = {"setup": getattr(self, "setup_lap", {})}
        with open(stderr_path, "w") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
                                    start_new_session=True, env=_root_env())
            deadline = t0 + self.limits.wall_s
            import selectors

            sel = selectors.DefaultSelector()
            sel.register(proc.stdout, selectors.EVENT_READ)
            buf = ""
            phase_a_done = False
            grader_error = ""
            cpu_a = None
            while True:
                remaining = deadline - time.monotonic()
                if stop is not None and stop.is_set():
                    break
                if remaining <= 0:
                    timed_out = True
                    break
                if not sel.select(timeout=min(remaining, 1.0)):
                    if proc.poll() is not None:
                        break
                    continue
                chunk = proc.stdout.readline()
                if not chunk:
                    break
                if phase_a_done:
                    continue  # nothing after phase A is believed (the channel should be closed anyway)
                if len(buf) < 5_000_000:
                    buf += chunk
                if chunk.startswith(PHASE_MARK):
                    with contextlib.suppress(ValueError, TypeError, AttributeError):
                        value = json.loads(chunk[len(PHASE_MARK):])
                        phases[str(value.pop("phase"))[:40]] = {k: v for k, v in value.items()
                                                                if isinstance(v, (int, float, str, type(None)))}
                if chunk.startswith(GRADER_BROKEN):
                    grader_error = chunk[len(GRADER_BROKEN):].strip()[:500] or "(aucun message)"
                if chunk.startswith(PHASE_A_DONE):
                    phase_a_done = True
                    phases["A_s"] = round(time.monotonic() - t0, 2)
                    cpu_a = self.cgroup.cpu_seconds()
                    if on_notebook and not grader_error:
                        on_notebook()
                elif chunk.startswith(RESULT_MARK) and progress:
                    with contextlib.suppress(Exception):
                        progress(json.loads(chunk[len(RESULT_MARK):]).get("check", ""))
            sel.close()
            lines = buf.splitlines()
            # the channel closes after phase A; the notebook (phase B) still runs
            while not timed_out and proc.poll() is None:
                if stop is not None and stop.is_set():
                    break
                if time.monotonic() > deadline:
                    timed_out = True
                    break
                time.sleep(0.2)
            if phase_a_done:
                phases["B_s"] = round(time.monotonic() - t0 - phases.get("A_s", 0), 2)
        peak = self.cgroup.memory_peak_mib()
        ooms = self.cgroup.oom_kills()
        cpu = self.cgroup.cpu_seconds()
        if cpu is not None:
            phases["cpu_s"] = round(cpu, 1)
            if phase_a_done and cpu_a is not None:
                phases["B"] = {"wall_s": phases["B_s"], "cpu_s": round(cpu - cpu_a, 2)}
        with contextlib.suppress(Exception):
            os.killpg(proc.pid, signal.SIGKILL)
        self.cgroup.kill()
        self._kill_identity()
        with contextlib.suppress(Exception):
            proc.wait(timeout=10)
        results = {}
        for r in read_results("\n".join(lines)):
            name = r.get("check")
            if isinstance(name, str) and name not in results:
                results[name] = r
        notebook = self._read_output(job["notebook_name"])
        with contextlib.suppress(ValueError, TypeError, AttributeError):  # diagnostics written by the sandbox
            notebook_timings = json.loads((self._safe_read("out", "timings.json", 200_000) or b"{}").decode())
            if isinstance(notebook_timings, dict):
                phases["notebook"] = notebook_timings
        inner = (self._safe_read("home", "sandbox.log", 6000) or b"").decode(errors="replace")
        log_tail = (stderr_path.read_text(errors="replace")[-3000:] + "\n" + inner).strip()
        with contextlib.suppress(OSError):
            stderr_path.unlink()
        error = ""
        if not phase_a_done and not results:
            error = ("le bac à sable n'a rendu aucun résultat"
                     + (" dans le temps imparti" if timed_out else "") + " : " + _last_line(log_tail))
        phases["total_s"] = round(time.monotonic() - t0, 2)
        return Outcome(results, notebook, time.monotonic() - t0, timed_out, error, grader_error, peak, ooms, phases,
                       log_tail)

    def _safe_read(self, folder: str, name: str, limit: int) -> bytes | None:
        """A file the sandbox user wrote, read safely: every process of the slot is dead,
        and neither the folder nor the file may be a symlink (root must not follow one)."""
        d = self.dir / folder
        try:
            if not stat.S_ISDIR(os.lstat(d).st_mode):
                return None
            fd = os.open(d / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                return None
            if st.st_size > limit:
                fh.seek(st.st_size - limit)
            return fh.read(limit)

    def _read_output(self, name: str) -> dict | None:
        """The executed notebook (at most 20 MB), parsed; None if absent or unreadable."""
        data = self._safe_read("out", name, 20_000_001)
        if data is None or len(data) > 20_000_000:
            return None
        try:
            import nbformat

            with contextlib.redirect_stderr(None):
                nb = nbformat.reads(data.decode(errors="replace"), as_version=4)  # multi-line strings joined
        except Exception:  # not a notebook: whatever the sandbox wrote, it is not believed
            return None
        return nb if isinstance(nb, dict) else None


def _root_env() -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "DOCKERCOURSE_DEBUG")
    return {k: v for k, v in os.environ.items() if k in keep} | {"PYTHONDONTWRITEBYTECODE": "1"}


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "(aucun message)"


# =========================================================================== inside: enter (root, new mount namespace)


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


def _needed_paths() -> list[Path]:
    """What the worker must still see: the Python installation, the venv, this package."""
    import dockercourse

    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(),
             Path(dockercourse.__file__).resolve().parent.parent}
    return sorted(paths, key=lambda p: len(p.parts))


def enter(job_path: str) -> None:
    """Root, in a fresh mount namespace: join the cgroup, hide the host, drop to the
    sandbox user and exec :func:`worker`."""
    job = json.loads(Path(job_path).read_text())
    slot_dir = Path(job["sandbox"])
    limits = Limits(**job["limits"])
    cg = Cgroup(job["slot"], limits, (job["uid"], job["gid"]))
    cg.join(os.getpid())
    with contextlib.suppress(OSError):
        _write(Path("/proc/self/oom_score_adj"), "-500")  # infra first: the OOM killer takes the student's processes
    if job.get("engine_root"):  # before anything is covered: the engine root may live in the course root
        _mount("--bind", job["engine_source"], job["engine_root"])
        _mount("-o", "remount,bind,ro", job["engine_root"])
    needed = _needed_paths()
    scratch = [Path(d) for d in ("/tmp", "/var/tmp", "/dev/shm") if os.path.isdir(d)]  # private, size-capped
    hidden = [Path(h) for h in job["hidden"]] + [Path("/root")]
    hidden = [h for h in hidden if h.is_dir()]
    covering = scratch + hidden
    hidden = [h for h in hidden if not any(o != h and o in h.parents for o in covering)]  # outermost only
    covered = [p for p in needed if any(h == p or h in p.parents for h in covering)]
    # keep a handle on what must stay visible (the venv may live in /tmp or in the course root),
    # cover everything, then bind it back read-only
    keep = slot_dir / "job" / ".keep"
    keep.mkdir(mode=0o700, exist_ok=True)
    staged = []
    for i, p in enumerate(covered):
        s = keep / str(i)
        s.mkdir(exist_ok=True)
        _mount("--bind", str(p), str(s))
        staged.append((s, p))
    for d in scratch:
        _mount("-t", "tmpfs", "-o", f"size={limits.tmp_mib}m,mode=1777,nosuid,nodev", "tmpfs", str(d))
    for h in hidden:
        _mount("-t", "tmpfs", "-o", "size=1m,mode=755,nosuid,nodev", "tmpfs", str(h))
    for s, p in staged:
        p.mkdir(parents=True, exist_ok=True)
        _mount("--bind", str(s), str(p))
        _mount("-o", "remount,bind,ro", str(p))
        subprocess.run(["umount", str(s)], capture_output=True)
    for h in [Path(x) for x in job["hidden"]] + [Path("/root")]:
        # a bound-back folder that contains a hidden one must not re-expose it
        if any(p in h.parents for _, p in staged) and h.is_dir():
            _mount("-t", "tmpfs", "-o", "size=1m,mode=755,nosuid,nodev", "tmpfs", str(h))
    for sock in ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock"):
        if os.path.exists(sock) and not os.path.islink(sock):
            with contextlib.suppress(subprocess.CalledProcessError):
                _mount("--bind", "/dev/null", sock)
    if job.get("isolated_net") and shutil.which("ip"):
        subprocess.run(["ip", "link", "set", "lo", "up"], capture_output=True)
    if job.get("engine_root"):
        _launch_engine(job, job_path)
    os.setgroups([])
    os.setresgid(job["gid"], job["gid"], job["gid"])
    os.setresuid(job["uid"], job["uid"], job["uid"])
    home = slot_dir / "home"
    os.chdir(home)
    os.execve(sys.executable, [sys.executable, "-I", "-m", "dockercourse.grading.sandbox", "worker", job_path],
              worker_env(job))


def _launch_engine(job: dict, job_path: str) -> None:
    """Start the sandbox's engine in a mount namespace of its own (:mod:`.engine_ns`), as root
    until it drops to the sandbox user; the worker waits for its socket (:func:`_start_engine`)."""
    slot_dir = Path(job["sandbox"])
    log_path = slot_dir / "home" / "dockerd.log"
    with open(log_path, "ab") as log:
        os.chown(log_path, job["uid"], job["gid"])
        proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", sys.executable, "-I", "-m",
                                 "dockercourse.grading.engine_ns", job_path], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, env=_root_env())
    (slot_dir / "job" / "engine.pid").write_text(str(proc.pid))


def worker_env(job: dict) -> dict[str, str]:
    """The whole environment of the worker, hence of the checks, the student's kernel and
    its ``!docker`` commands. BuildKit prints plain progress (``BUILDKIT_PROGRESS``): the
    feedback shows a ``!docker build`` as a terminal would, without escape codes."""
    slot_dir = Path(job["sandbox"])
    home = slot_dir / "home"
    return {
        "HOME": str(home), "USER": job["user"], "LOGNAME": job["user"],
        "XDG_RUNTIME_DIR": str(slot_dir / "run"),
        "PATH": f"{Path(sys.executable).parent}:{Path(job['docker_cli']).parent}:/usr/local/bin:/usr/bin:/bin:"
                "/usr/sbin:/sbin",
        "DOCKERCOURSE_DOCKER": job["docker_cli"], "DOCKER_BUILDKIT": "1", "BUILDKIT_PROGRESS": "plain",
        "DOCKER_HOST": f"unix://{slot_dir / 'run' / 'docker.sock'}",
        "DOCKERCOURSE_STATE": str(home / ".dockercourse"),
        "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8",
        "MPLBACKEND": "Agg", "JUPYTER_PLATFORM_DIRS": "1", "DOCKERCOURSE_SANDBOX": "1",
    } | ({OFFLINE_SANDBOX_ENV: "1"} if job.get("isolated_net") else {})


# =========================================================================== inside: worker (the sandbox user)


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


#: Where an offline sandbox's engine sends its registry requests: nothing listens there, so a pull
#: (an unknown ``FROM``, ``docker run`` of a missing image, a ``# syntax=`` frontend) fails at once
#: instead of waiting for DNS answers that never come (10 s each through slirp4netns).
NO_REGISTRY_PROXY = "http://127.0.0.1:9"


def engine_env(isolated_net: bool) -> dict[str, str]:
    """Pure: what an engine's environment adds (the registry proxy of an offline sandbox)."""
    if not isolated_net:
        return {}
    return {k: NO_REGISTRY_PROXY for k in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")} | {
        "NO_PROXY": "", "no_proxy": ""}


def engine_command(slot_dir: Path, script: str, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The command line of a sandbox's rootless engine: its data and socket on the slot's
    disk, the ``cgroupfs`` driver (:data:`ENGINE_EXEC_OPTS`), then ``extra`` flags."""
    run = slot_dir / "run"
    home = slot_dir / "home"
    cmd = [script, "--data-root", str(home / "docker"), "--exec-root", str(run / "dockerd"),
           "--pidfile", str(run / "docker.pid"), "-H", f"unix://{run / 'docker.sock'}", "--log-level=warn"]
    for opt in ENGINE_EXEC_OPTS:
        cmd += ["--exec-opt", opt]
    return cmd + [str(a) for a in extra]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _start_engine(slot_dir: Path, log, extra: list[str] | tuple[str, ...] = (), launched: bool = False,
                  isolated_net: bool = False) -> None:
    """Start the host's rootless engine, or (``launched``) wait for the one :func:`enter` started."""
    run = slot_dir / "run"
    if launched:
        pid = int((slot_dir / "job" / "engine.pid").read_text())

        def exited():
            return not _alive(pid)
    else:
        proc = subprocess.Popen(engine_command(slot_dir, rootless_script(), extra), stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env=dict(os.environ, **engine_env(bool(isolated_net))))

        def exited():
            return proc.poll() is not None
    sock = run / "docker.sock"

    def answers():
        if exited():
            raise RuntimeError("dockerd rootless s'est arrêté au démarrage : "
                               + _last_line((slot_dir / "home" / "dockerd.log").read_text(errors="replace")))
        return sock.exists() and subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                                                capture_output=True).returncode == 0

    from .containers import wait_until

    ok, _ = wait_until(answers, 60, interval=0.1)
    if not ok:
        raise RuntimeError("dockerd rootless ne répond pas après 60 s")


def _answers(job: dict, official: dict) -> str:
    """The written answers' official results; their container is the first the engine starts, so
    it also tells whether the engine can run one (returns why not, in French, else '')."""
    from .answers import collect, score_cell
    from .containers import engine_fault

    answers = job.get("answers") or {}
    if not answers.get("tests"):
        return engine_fault(engine.client())
    names = sorted({n for t in answers["tests"].values() for n in t["names"]})
    values, broken = collect(answers["sources"], names, engine.BASE_IMAGE)
    if broken:
        return broken
    for grade_id, t in answers["tests"].items():
        score, text = score_cell(t["source"], values, t["points"])
        payload = {"check": grade_id, "score": score, "points": t["points"], "text": text.strip(), "kind": "answer"}
        official[grade_id] = payload
        _emit(RESULT_MARK + " " + json.dumps(payload, ensure_ascii=False))
    return ""


def _checks(job: dict, project: Path, official: dict) -> None:
    """Every check's official result, from one process (shared build and app)."""
    limits = Limits(**job["limits"])
    cmd = [sys.executable, "-I", "-m", "dockercourse.grading", "check-all", "--project", str(project),
           "--points", json.dumps(job["points"])]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=sys.stderr, stdin=subprocess.DEVNULL,
                            text=True, cwd=str(project))
    t0 = time.monotonic()
    try:
        for line in proc.stdout:
            if line.startswith(RESULT_MARK):
                _emit(line.rstrip("\n"))
                for r in read_results(line):
                    official[r["check"]] = r
            if time.monotonic() - t0 > limits.phase_a_s:
                break
    finally:
        with contextlib.suppress(Exception):
            proc.kill()
        proc.wait()


def _cell_label(cell, index: int) -> str:
    gid = (cell.get("metadata", {}).get("nbgrader") or {}).get("grade_id")
    return gid or f"#{index}"


class FeedbackCut(Exception):
    """The notebook phase used its budget (:data:`Limits.feedback_s`): the cells left are not run."""


#: The output a cell that the budget left unexecuted shows in the returned notebook.
NOT_RUN = ("⏱️ Cellule non exécutée à la correction : le notebook a dépassé le temps prévu pour les retours "
           "({budget:g} s). Les vérifications notées ont toutes leur résultat officiel.\n")


def _write_notebook(nb, path: Path) -> None:
    """The notebook as it is now (no validation: the grader validates what it reads back), replaced
    atomically: a sandbox killed at its wall time still returns the cells run so far."""
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(nb, ensure_ascii=False))
    tmp.replace(path)


def _execute_notebook(job: dict, official_file: Path) -> None:
    """Phase B: the student's notebook, for feedback only (the official results are sent). Each cell
    gets at most :data:`Limits.cell_s`, the whole notebook :data:`Limits.feedback_s` from the moment
    its kernel answers; the cells left when that budget is spent are not run and say so. The
    notebook is written after every cell."""
    from .timing import Stopwatch

    watch = Stopwatch()
    from ..lightimports import skip_slow_optional_imports

    skip_slow_optional_imports()
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    slot_dir = Path(job["sandbox"])
    nb_path = slot_dir / "nb" / job["notebook_name"]
    out = slot_dir / "out" / job["notebook_name"]
    nb = nbformat.read(nb_path, as_version=4)
    os.environ["DOCKERCOURSE_OFFICIAL_RESULTS"] = str(official_file)
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    limits = Limits(**job["limits"])
    timings: dict = {"import": watch.lap("import")}
    cells: dict[str, dict] = {}
    state = {"deadline": time.monotonic() + limits.feedback_s}

    def started(**_):
        timings["kernel"] = watch.lap("kernel")
        state["deadline"] = time.monotonic() + limits.feedback_s

    def cell_timeout(cell) -> int:
        return max(1, int(min(limits.cell_s, state["deadline"] - time.monotonic())))

    def cell_start(cell, cell_index, **_):
        watch.lap("between")
        if cell.cell_type == "code" and cell.source.strip() and time.monotonic() >= state["deadline"]:
            raise FeedbackCut(cell_index)

    def save() -> None:
        _write_notebook(nb, out)
        (slot_dir / "out" / "timings.json").write_text(json.dumps(dict(timings, cells=cells)))

    def cell_done(cell, cell_index, **_):
        cells[_cell_label(cell, cell_index)] = watch.lap("cell")
        save()

    client = NotebookClient(nb, timeout=int(limits.cell_s), timeout_func=cell_timeout, kernel_name="python3",
                            allow_errors=True, interrupt_on_timeout=True,
                            resources={"metadata": {"path": str(nb_path.parent)}},
                            on_notebook_start=started, on_cell_start=cell_start, on_cell_executed=cell_done)
    try:
        client.execute()
    except FeedbackCut as cut:
        index = cut.args[0]
        nb.metadata["dockercourse_feedback_cut"] = {"budget_s": limits.feedback_s, "cell": index}
        for cell in nb.cells[index:]:
            if cell.cell_type == "code" and not (cell.metadata.get("nbgrader") or {}).get("grade"):
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                                       text=NOT_RUN.format(budget=limits.feedback_s))]
    except DeadKernelError as err:
        nb.metadata["dockercourse_dead_kernel"] = str(err)[:300]
    except Exception as err:  # a kernel that never started, a cell that broke nbclient
        nb.metadata["dockercourse_execution_error"] = f"{type(err).__name__}: {err}"[:300]
    timings["shutdown"] = watch.lap("shutdown")
    save()
    timings["write"] = watch.lap("write")
    save()


def _stop_engine(slot_dir: Path, timeout: float = 30) -> None:
    """Stop the sandbox's dockerd cleanly (SIGTERM, then wait for it): its databases are whole."""
    from .containers import wait_until

    pid = int((slot_dir / "run" / "docker.pid").read_text().strip())
    os.kill(pid, signal.SIGTERM)
    stopped, _ = wait_until(lambda: not _alive(pid), timeout, interval=0.1)
    if not stopped:
        raise RuntimeError(f"dockerd ne s'est pas arrêté en {timeout:.0f} s")


def _phase(name: str, lap: dict) -> None:
    _emit(PHASE_MARK + " " + json.dumps({"phase": name, **lap}))


def worker(job_path: str) -> int:
    """The sandbox user: engine, base image, official results (phase A), then the
    student's notebook (phase B)."""
    from .timing import Stopwatch

    job = json.loads(Path(job_path).read_text())
    slot_dir = Path(job["sandbox"])
    home = slot_dir / "home"
    (home / ".dockercourse").mkdir(parents=True, exist_ok=True)
    log = open(home / "sandbox.log", "a")
    os.dup2(log.fileno(), 2)  # the grader reads stdout only; diagnostics stay in the sandbox
    sys.stderr = open(2, "w", closefd=False)
    official: dict = {}
    broken = ""
    watch = Stopwatch()
    try:
        if job.get("engine_root"):
            from .engine_ns import link_plugins

            link_plugins(home, Path(job["engine_bin"]))
        _start_engine(slot_dir, open(home / "dockerd.log", "a"), job.get("dockerd_args") or (),
                      launched=bool(job.get("engine_root")), isolated_net=bool(job.get("isolated_net")))
        _phase("engine", watch.lap("engine"))
        seeded = job.get("base_loaded") and subprocess.run(
            ["docker", "image", "inspect", "-f", "{{.Id}}", engine.BASE_IMAGE], capture_output=True).returncode == 0
        if not seeded:
            proc = subprocess.run(["docker", "load", "-q", "-i", job["base_tar"]], capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError("docker load de l'image de base a échoué : " + proc.stderr[-300:])
        _phase("base", dict(watch.lap("base"), seeded=bool(seeded)))
        if job.get("template_only"):
            _stop_engine(slot_dir)
            (home / "template.ok").write_text("ok\n")
            _emit(PHASE_A_DONE)
            return 0
        broken = _answers(job, official)  # before any check: can this engine run a container?
        _phase("answers", watch.lap("answers"))
        if not broken:
            _checks(job, slot_dir / "job" / "project", official)
            _phase("checks", watch.lap("checks"))
    except Exception as err:
        _emit(f"{PHASE_MARK} " + json.dumps({"phase": "error", "detail": str(err)[:300]}))
        broken = str(err)[:400] or type(err).__name__
    if broken:
        _emit(f"{GRADER_BROKEN} {broken}".replace("\n", " "))
    official_file = home / ".dockercourse" / "official.json"
    official_file.write_text(json.dumps({"results": official}))
    _phase("A", watch.total())
    _emit(PHASE_A_DONE)
    # From here on the student's code runs: the grader's channel is closed first.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    os.close(devnull)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    if broken:  # the submission will be graded again: its notebook would show nothing true
        return 0
    _execute_notebook(job, official_file)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in ("enter", "worker"):
        print("usage: python -m dockercourse.grading.sandbox enter|worker JOB.json", file=sys.stderr)
        return 2
    if argv[0] == "enter":
        enter(argv[1])
        return 1  # exec failed
    return worker(argv[1])


if __name__ == "__main__":
    sys.exit(main())
