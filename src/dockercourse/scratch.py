"""A container made by hand, without Docker: the same kernel features Docker drives.

1. the filesystem: ``docker export`` of a created (never started) container of the base
   image, unpacked once and cached in the state folder;
2. an overlay mount on top of it (read-only lower layer = the image, writable upper layer =
   the container's changes), like Docker's ``overlay2`` storage driver;
3. new namespaces with util-linux ``unshare`` (pid, mount, uts, net, ipc), ``/proc`` mounted
   for the new PID namespace, a hostname, then ``pivot_root`` into the overlay and the old root
   unmounted, as Docker's runtime (runc) does (``chroot`` when ``pivot_root`` is refused, e.g.
   when the host's root is an initramfs);
4. a cgroup with a memory limit (v1: ``/sys/fs/cgroup/memory/<group>/memory.limit_in_bytes``;
   v2: ``/sys/fs/cgroup/<group>/memory.max``) that the process joins before ``unshare``.

Everything is undone afterwards: the mounts live in the new mount namespace (they vanish with
its last process), the cgroup is removed with ``rmdir``, the temporary folders are deleted.
Needs root on Linux (``make lab`` as root provides it).
"""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import engine
from .errors import DockercourseError
from .isolation import MIB, Cgroup, LocalTree, detect_version, oui
from .waiting import wait_until

CGROUP_ROOT = Path("/sys/fs/cgroup")
GROUP_PREFIX = "dockercourse-scratch-"


class ScratchUnavailable(DockercourseError, RuntimeError):
    """This machine cannot build a container by hand (message in French)."""


# --------------------------------------------------------------------------- filesystem


def _cache_root() -> Path:
    p = engine.state_dir() / "scratch"
    p.mkdir(parents=True, exist_ok=True)
    return p


def _cached_rootfs() -> list[Path]:
    return sorted((d for d in _cache_root().glob("rootfs-*") if (d / ".complete").exists()),
                  key=lambda d: (d / ".complete").stat().st_mtime, reverse=True)


def rootfs(image: str = engine.BASE_IMAGE) -> Path:
    """The base image's filesystem as a folder (cached per image id).

    Made with ``docker create`` + ``docker export`` (the flattened filesystem of a container,
    all layers merged). Without a daemon, the most recent cached copy is used if there is one;
    otherwise :class:`engine.DockerUnavailable` is raised."""
    try:
        c = engine.client()
    except engine.DockerUnavailable:
        cached = _cached_rootfs()
        if cached:
            return cached[0]
        raise
    img = c.images.get(image)
    key = img.id.split(":")[-1][:12]
    dest = _cache_root() / f"rootfs-{key}"
    if (dest / ".complete").exists():
        return dest
    tmp = Path(tempfile.mkdtemp(prefix=f"rootfs-{key}-", dir=_cache_root()))
    name = engine.name("nb02", "export")
    try:
        engine.remove_container(name, c)  # a leftover of an interrupted run
        ctr = c.containers.create(image, ["true"], name=name, labels=engine.labels(unit="nb02", role="export"))
        try:
            exporter = subprocess.Popen(["docker", "export", ctr.id], stdout=subprocess.PIPE)
            # without root (the course image's jovyan), device nodes cannot be made: the runtime
            # mounts /dev anyway, so they are left out rather than failing the whole export
            skip_dev = ["--exclude=dev/*"] if os.geteuid() != 0 else []
            untar = subprocess.run(["tar", "-x", *skip_dev, "-C", str(tmp)], stdin=exporter.stdout,
                                   capture_output=True)
            exporter.stdout.close()
            if exporter.wait(timeout=300) != 0 or untar.returncode != 0:
                raise RuntimeError(f"docker export | tar failed: {untar.stderr.decode()[-500:]}")
        finally:
            engine.remove_container(name, c)
        (tmp / ".complete").write_text(img.id + "\n")
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for other in _cache_root().glob("rootfs-*"):  # an older image's copy: no longer needed
        if other != dest and other.is_dir():
            shutil.rmtree(other, ignore_errors=True)
    return dest


# --------------------------------------------------------------------------- cgroup


def check_possible() -> None:
    """Raise :class:`ScratchUnavailable` (French) when this machine cannot do it."""
    if platform.system() != "Linux":
        raise ScratchUnavailable("Cette expérience demande un noyau Linux (sous macOS/Windows, Docker tourne "
                                 "dans une machine virtuelle Linux que le notebook ne contrôle pas).")
    if os.geteuid() != 0:
        raise ScratchUnavailable("Cette expérience demande les droits root (création d'espaces de noms, "
                                 "de montages et de cgroups) : lancez-la sur une machine Linux en root.")
    for exe in ("unshare", "pivot_root", "chroot", "mount", "hostname"):
        if shutil.which(exe) is None:
            raise ScratchUnavailable(f"La commande « {exe} » est introuvable sur cette machine.")
    if engine.in_container():
        raise ScratchUnavailable("Ce notebook tourne lui-même dans un conteneur : il ne peut pas créer "
                                 "d'espaces de noms ni de cgroups ici.")


@dataclass
class HandCgroup:
    """A memory cgroup created by hand (v1 or v2), removed by :meth:`remove`."""

    version: int
    path: Path
    proc_line: str

    @classmethod
    def create(cls, memory_bytes: int, root: Path = CGROUP_ROOT) -> HandCgroup:
        version = detect_version(LocalTree(root))
        group = f"{GROUP_PREFIX}{os.getpid()}"
        if version == 2:
            path = root / group
            ctl = (root / "cgroup.subtree_control").read_text().split()
            if "memory" not in ctl:
                (root / "cgroup.subtree_control").write_text("+memory")
            path.mkdir(exist_ok=True)
            (path / "memory.max").write_text(str(memory_bytes))
            if (path / "memory.swap.max").exists():
                (path / "memory.swap.max").write_text("0")
            line = f"0::/{group}\n"
        else:
            path = root / "memory" / group
            path.mkdir(exist_ok=True)
            (path / "memory.limit_in_bytes").write_text(str(memory_bytes))
            memsw = path / "memory.memsw.limit_in_bytes"
            if memsw.exists():  # no swap either, as with --memory-swap = --memory
                memsw.write_text(str(memory_bytes))
            line = f"1:memory:/{group}\n"
        return cls(version=version, path=path, proc_line=line)

    def reader(self) -> Cgroup:
        return Cgroup(LocalTree(CGROUP_ROOT), self.proc_line, version=self.version)

    def remove(self, timeout: float = 10) -> None:
        """Remove the group once its processes have exited (``rmdir`` says EBUSY until then)."""

        def removed() -> bool:
            try:
                self.path.rmdir()
            except FileNotFoundError:
                return True
            except OSError:  # still busy (processes exiting)
                return False
            return True

        if not wait_until(removed, timeout, interval=0.05)[0]:
            self.path.rmdir()  # still busy: the OSError says why


# --------------------------------------------------------------------------- run


@dataclass
class ScratchResult:
    command: list[str]
    returncode: int
    stdout: str
    stderr: str
    cgroup_version: int
    cgroup_path: str
    memory_limit_mib: float
    memory_peak_mib: float | None
    memory_events: dict[str, int]
    written_files: list[str] = field(default_factory=list)
    scratch_dir: str = ""  # the overlay's temporary folder (removed at the end of the run)

    @property
    def traces(self) -> list[str]:
        """What this run made on the host and is still there (its cgroup, its folder): ``[]`` after a
        clean run. Other runs' traces do not count: other notebooks may be running beside it."""
        return [p for p in (self.cgroup_path, self.scratch_dir) if p and Path(p).exists()]

    @property
    def killed_by_oom(self) -> bool:
        return self.returncode in (137, -9) and self.memory_events.get("oom_kill", 1) > 0


#: The shell script that makes the container inside the new namespaces (``data/scratch_setup.sh``).
SETUP_SCRIPT = "scratch_setup.sh"


def _data(name: str) -> str:
    from importlib import resources

    return resources.files("dockercourse").joinpath("data", name).read_text()


def probe_source() -> str:
    """The probe's Python source, run by the container's own ``python3 -c``."""
    return _data(PROBE_SCRIPT)


def _setup_script() -> str:
    return _data(SETUP_SCRIPT)


def run(command: list[str], memory: str | int = "64m", hostname: str = "scratch",
        image: str = engine.BASE_IMAGE, timeout: float = 60) -> ScratchResult:
    """Run ``command`` in a container made by hand; returns what happened.

    Raises :class:`ScratchUnavailable` (French) when not possible here."""
    check_possible()
    lower = rootfs(image)
    limit = _bytes(memory)
    tmp = Path(tempfile.mkdtemp(prefix="dockercourse-scratch-"))
    cg = None
    try:
        for d in ("upper", "work", "merged"):
            (tmp / d).mkdir()
        cg = HandCgroup.create(limit)
        env = dict(os.environ, LOWER=str(lower), UPPER=str(tmp / "upper"), WORK=str(tmp / "work"),
                   MERGED=str(tmp / "merged"), NAME=hostname)
        argv = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(cg.path),
                "unshare", "--pid", "--fork", "--kill-child", "--mount", "--uts", "--net", "--ipc",
                "sh", "-c", _setup_script(), "sh", *command]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        reader = cg.reader()
        peak = reader.memory_peak()
        written = sorted(str(Path("/") / p.relative_to(tmp / "upper"))
                         for p in (tmp / "upper").rglob("*") if p.is_file())
        return ScratchResult(
            command=list(command), returncode=_exit_code(proc.returncode, err), stdout=out, stderr=err,
            cgroup_version=cg.version, cgroup_path=str(cg.path), memory_limit_mib=limit / MIB,
            memory_peak_mib=None if peak is None else peak / MIB, memory_events=reader.memory_events(),
            written_files=written, scratch_dir=str(tmp))
    finally:
        if cg is not None:
            cg.remove()
        shutil.rmtree(tmp, ignore_errors=True)


def _exit_code(rc: int, stderr: str = "") -> int:
    """Exit code as shells (and Docker) report it: 128 + signal for a killed process.

    ``unshare --fork`` re-raises its child's fatal signal on itself; util-linux 2.38 cannot do
    that for SIGKILL (``signal(SIGKILL)`` fails) and exits 1 with "sigprocmask unblock failed".
    That message therefore means exactly "the child was killed by SIGKILL": 128 + 9 = 137."""
    if rc < 0:
        return 128 - rc
    if rc == 1 and "sigprocmask unblock failed" in stderr:
        return 128 + signal.SIGKILL
    return rc


def _bytes(size: str | int) -> int:
    if isinstance(size, int):
        return size
    s = size.strip().lower()
    mult = {"k": 1024, "m": MIB, "g": 1024 * MIB}
    if s and s[-1] in mult:
        return int(float(s[:-1]) * mult[s[-1]])
    return int(s)


def leftovers() -> list[str]:
    """Every hand-made cgroup and temporary folder still on this machine, whichever run made it
    (:attr:`ScratchResult.traces` is one run's)."""
    out = [str(p) for p in Path(tempfile.gettempdir()).glob("dockercourse-scratch-*")]
    for base in (CGROUP_ROOT, CGROUP_ROOT / "memory"):
        if base.is_dir():
            out += [str(p) for p in base.glob(f"{GROUP_PREFIX}*")]
    return out


# --------------------------------------------------------------------------- notebook-facing


def demo(command: list[str], **kwargs) -> ScratchResult | None:
    """:func:`run` for notebooks: one French sentence instead of a traceback when impossible."""
    try:
        return run(command, **kwargs)
    except (ScratchUnavailable, engine.DockerUnavailable) as err:
        print(f"⚠️  Cellule non exécutée : {err}")
        return None


def shown(command: list[str]) -> str:
    return " ".join(shlex.quote(c) for c in command)


#: What the hand-made container's process prints about what it sees (``data/scratch_probe.py``).
PROBE_SCRIPT = "scratch_probe.py"

ALLOC = "b = []\nwhile True:\n    b.append(b'x' * (4 << 20))  # 4 Mio de plus, indéfiniment"


@engine.needs_docker
def nb_rootfs():
    """Export (or reuse) the base image's filesystem; prints one deterministic line."""
    path = rootfs()
    print(f"Système de fichiers de {engine.BASE_IMAGE} prêt (en cache) ; /usr/bin/python3 présent :",
          oui((path / "usr/bin/python3").exists()))
    return path


def nb_probe():
    """Run the probe in a hand-made container and print what it saw."""
    res = demo(["python3", "-c", probe_source()])
    if res is None:
        return None
    print(res.stdout.rstrip())
    if res.returncode != 0:
        print(res.stderr.rstrip())
    print("code de sortie :", res.returncode)
    print("fichiers écrits par le conteneur (dans la couche supérieure de l'overlay) :",
          ", ".join(res.written_files))
    where = "memory/" if res.cgroup_version == 1 else ""
    print(f"cgroup v{res.cgroup_version} créé pour lui : /sys/fs/cgroup/{where}{GROUP_PREFIX}<pid>, "
          f"limite {res.memory_limit_mib:g} Mio")
    print("après coup, cgroup et dossiers temporaires supprimés :", oui(not res.traces))
    return res


def nb_oom():
    """Allocate forever in the hand-made container under its 64 MiB cgroup."""
    res = demo(["python3", "-c", ALLOC])
    if res is None:
        return None
    print(f"code de sortie : {res.returncode} ; tué par le noyau (OOM) : {oui(res.killed_by_oom)}")
    print(f"compteur oom_kill du cgroup : {res.memory_events.get('oom_kill', 0)} ; pic mémoire au niveau de "
          f"la limite : {oui((res.memory_peak_mib or 0) >= 0.9 * res.memory_limit_mib)}")
    return res


def docker_adds_table():
    """Pure: what Docker adds on top of the kernel mechanisms used by hand here."""
    import pandas as pd

    rows = [
        ("espaces de noms", "unshare --pid --mount --uts --net --ipc",
         "les mêmes (+ user en rootless), créés par runc"),
        ("système de fichiers", "docker export + overlay + pivot_root",
         "images en couches (overlay2), pivot_root, volumes"),
        ("limites", "mkdir + memory.limit_in_bytes / memory.max",
         "--memory, --cpus, --pids-limit : mêmes fichiers"),
        ("réseau", "aucun (seulement lo, éteinte)", "veth + pont docker0, NAT, ports publiés (-p), DNS"),
        ("images", "un dossier décompressé à la main", "Dockerfile, build en cache, registres, tags"),
        ("sécurité", "aucune restriction de plus", "capacités réduites, seccomp, AppArmor/SELinux"),
        ("cycle de vie", "un processus lancé depuis Python", "API du démon, CLI, logs, redémarrage, Compose"),
    ]
    return pd.DataFrame(rows, columns=["aspect", "à la main (ce notebook)", "Docker"]).set_index("aspect")
