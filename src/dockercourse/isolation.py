"""Namespaces and cgroups: read them for a process or a container, cgroup v1 *and* v2.

Two layers:

- **Pure readers** (:class:`Cgroup`, :func:`parse_proc_cgroup`, :func:`namespace_table`...)
  work on a *tree* of cgroup files: a folder (:class:`LocalTree`, e.g. ``/sys/fs/cgroup`` or a
  test fixture) or a mapping ``{relative path: text}`` (:class:`DictTree`). They know both
  layouts: v1 (one hierarchy per controller: ``memory/``, ``cpu/``, ``pids/``...; hybrid
  machines add ``unified/``) and v2 (one hierarchy, ``cgroup.controllers`` at its root).
- **The Docker host's point of view**: with Docker Desktop the daemon lives in a VM, and a
  notebook inside a container only sees its own namespaces. So the live functions read
  ``/proc`` and ``/sys/fs/cgroup`` from a short-lived *helper container* started with
  ``--pid=host --cgroupns=host`` (and ``--net/--uts/--ipc=host``) that prints raw files as
  JSON; parsing stays here. Without a daemon they fall back to the local ``/proc``.

Experiments (memory/OOM, CPU throttling, fork bomb) start labelled containers, sample their
cgroup from the helper, and always remove what they started.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import engine

NAMESPACE_TYPES = ("pid", "net", "mnt", "uts", "ipc", "user", "cgroup", "time")

#: What each namespace isolates (French, shown to students).
NAMESPACE_ROLES = {
    "pid": "numéros de processus (le conteneur a son propre PID 1)",
    "net": "interfaces réseau, adresses, routes, ports",
    "mnt": "points de montage (le système de fichiers vu par le processus)",
    "uts": "nom d'hôte (hostname) et nom de domaine",
    "ipc": "files de messages, sémaphores, mémoire partagée System V/POSIX",
    "user": "identifiants d'utilisateurs (root dedans ≠ root dehors, en mode rootless)",
    "cgroup": "vue de l'arborescence des cgroups (/proc/self/cgroup)",
    "time": "horloges CLOCK_MONOTONIC / CLOCK_BOOTTIME",
}

#: v1 memory.limit_in_bytes / v2 "max": anything this large means "no limit".
_UNLIMITED = 2**62

MIB = 1024 * 1024

HELPER_MOUNT = "/host/cgroup"


# =========================================================================== namespaces


def parse_ns_link(link: str) -> int | None:
    """``"pid:[4026531836]"`` -> ``4026531836`` (``None`` if it does not look like one)."""
    m = re.search(r"\[(\d+)\]", link or "")
    return int(m.group(1)) if m else None


def read_namespaces(pid: int | str = "self", proc: str | Path = "/proc") -> dict[str, int | None]:
    """Inode number of each namespace of ``pid`` (``None`` when unreadable or absent)."""
    out: dict[str, int | None] = {}
    for ns in NAMESPACE_TYPES:
        try:
            out[ns] = parse_ns_link(os.readlink(Path(proc) / str(pid) / "ns" / ns))
        except OSError:
            out[ns] = None
    return out


def namespace_table(container: dict[str, int | None], host: dict[str, int | None],
                    container_label: str = "conteneur", host_label: str = "hôte"):
    """Pure: one row per namespace type, the two inode numbers and whether they are shared."""
    import pandas as pd

    rows = []
    for ns in NAMESPACE_TYPES:
        a, b = container.get(ns), host.get(ns)
        if a is None or b is None:
            shared = "inconnu"
        else:
            shared = "oui" if a == b else "non"
        rows.append((ns, NAMESPACE_ROLES[ns], b, a, shared))
    df = pd.DataFrame(rows, columns=["espace de noms", "ce qu'il isole", f"{host_label} (inode)",
                                     f"{container_label} (inode)", "partagé"])
    return df.set_index("espace de noms")


# =========================================================================== cgroup trees


class LocalTree:
    """A cgroup hierarchy on disk (``/sys/fs/cgroup`` or a test fixture)."""

    def __init__(self, root: str | Path = "/sys/fs/cgroup"):
        self.root = Path(root)

    def read(self, rel: str) -> str | None:
        try:
            return (self.root / rel.lstrip("/")).read_text()
        except OSError:
            return None

    def isdir(self, rel: str) -> bool:
        return (self.root / rel.lstrip("/")).is_dir()

    def __repr__(self) -> str:
        return f"LocalTree({str(self.root)!r})"


class DictTree:
    """A cgroup hierarchy given as ``{relative path: file text}`` (what the helper returns)."""

    def __init__(self, files: dict[str, str]):
        self.files = {k.strip("/"): v for k, v in files.items()}
        dirs = {""}
        for k in self.files:
            parts = k.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        self.dirs = dirs

    def read(self, rel: str) -> str | None:
        return self.files.get(rel.strip("/"))

    def isdir(self, rel: str) -> bool:
        return rel.strip("/") in self.dirs


def parse_proc_cgroup(text: str) -> list[tuple[str, tuple[str, ...], str]]:
    """Pure: ``/proc/<pid>/cgroup`` -> ``[(hierarchy id, controllers, path)]``.

    v1 lines look like ``4:memory:/docker/<id>`` (or ``2:cpu,cpuacct:/...``), the v2 line is
    ``0::/system.slice/docker-<id>.scope``.
    """
    out = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        hid, ctrls, path = line.split(":", 2)
        out.append((hid, tuple(c for c in ctrls.split(",") if c), path))
    return out


def detect_version(tree) -> int:
    """2 when the tree's root is a cgroup v2 hierarchy (``cgroup.controllers`` at the top),
    else 1 (v1, including "hybrid" machines where v2 is only mounted at ``unified/``)."""
    return 2 if tree.read("cgroup.controllers") is not None else 1


def _first_int(text: str | None) -> int | None:
    if text is None:
        return None
    s = text.strip().split()[0] if text.strip() else ""
    if s == "max":
        return None
    try:
        return int(s)
    except ValueError:
        return None


def parse_flat_keyed(text: str | None) -> dict[str, int]:
    """Pure: ``"key value"`` lines (``cpu.stat``, ``memory.events``, ``memory.stat``...) -> dict."""
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return out


class Cgroup:
    """The cgroup(s) of one process, read from a tree, for cgroup v1 and v2.

    ``proc_cgroup`` is the text of ``/proc/<pid>/cgroup`` *as seen from the tree's side*
    (the helper runs with ``--cgroupns=host`` for that reason). In a container with a private
    cgroup namespace (v2 default) the line is ``0::/`` and the tree's root is the container's
    own cgroup, which this class handles the same way.
    """

    def __init__(self, tree, proc_cgroup: str, version: int | None = None):
        self.tree = tree
        self.proc_cgroup = proc_cgroup
        self.version = version or detect_version(tree)
        self.lines = parse_proc_cgroup(proc_cgroup)

    # ----------------------------------------------------------------- where

    def dir(self, controller: str) -> str | None:
        """Relative folder of ``controller`` (``memory``, ``cpu``, ``cpuacct``, ``pids``) in the tree."""
        if self.version == 2:
            for hid, ctrls, path in self.lines:
                if hid == "0" and not ctrls:
                    return path.strip("/")
            return None
        for _hid, ctrls, path in self.lines:
            if controller not in ctrls:
                continue
            # the mount folder is named after the controller, or after the joined list
            # ("cpu,cpuacct" on many distributions, with "cpu" as a symlink)
            for mount in (controller, ",".join(ctrls), *ctrls):
                rel = f"{mount}/{path.strip('/')}".rstrip("/")
                if self.tree.isdir(rel):
                    return rel
        return None

    def file(self, controller: str, name: str) -> str | None:
        d = self.dir(controller)
        if d is None:
            return None
        return f"{d}/{name}" if d else name

    def _read(self, controller: str, name: str) -> str | None:
        rel = self.file(controller, name)
        return None if rel is None else self.tree.read(rel)

    @property
    def path(self) -> str | None:
        """The cgroup path itself (e.g. ``/docker/<id>``), as written in ``/proc/<pid>/cgroup``."""
        for hid, ctrls, path in self.lines:
            if (self.version == 2 and hid == "0" and not ctrls) or (self.version == 1 and "memory" in ctrls):
                return path
        return None

    # ----------------------------------------------------------------- memory

    def memory_limit(self) -> int | None:
        """Bytes, ``None`` = unlimited (``--memory``)."""
        name = "memory.max" if self.version == 2 else "memory.limit_in_bytes"
        v = _first_int(self._read("memory", name))
        return None if v is None or v >= _UNLIMITED else v

    def memory_usage(self) -> int | None:
        name = "memory.current" if self.version == 2 else "memory.usage_in_bytes"
        return _first_int(self._read("memory", name))

    def memory_peak(self) -> int | None:
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        return _first_int(self._read("memory", name))

    def memory_events(self) -> dict[str, int]:
        """Counters of limit hits and OOM kills, normalised:
        ``{"limit_hits": ..., "oom": ..., "oom_kill": ...}`` (missing ones omitted).

        v1: ``memory.failcnt`` + ``memory.memsw.failcnt`` (charges refused at the memory,
        resp. memory+swap, limit) and ``oom_kill`` from ``memory.oom_control``;
        v2: ``memory.events`` (``max``, ``oom``, ``oom_kill``)."""
        out: dict[str, int] = {}
        if self.version == 2:
            ev = parse_flat_keyed(self._read("memory", "memory.events"))
            for src, dst in (("max", "limit_hits"), ("oom", "oom"), ("oom_kill", "oom_kill")):
                if src in ev:
                    out[dst] = ev[src]
        else:
            # with --memory-swap equal to --memory the memory+swap counter is the one hit first
            counts = [_first_int(self._read("memory", f)) for f in ("memory.failcnt", "memory.memsw.failcnt")]
            if any(c is not None for c in counts):
                out["limit_hits"] = sum(c or 0 for c in counts)
            oc = parse_flat_keyed(self._read("memory", "memory.oom_control"))
            if "oom_kill" in oc:
                out["oom_kill"] = oc["oom_kill"]
        return out

    # ----------------------------------------------------------------- cpu

    def cpu_quota(self) -> tuple[int | None, int]:
        """(quota µs or ``None`` for unlimited, period µs)."""
        if self.version == 2:
            text = self._read("cpu", "cpu.max")
            if not text:
                return None, 100000
            quota, _, period = text.strip().partition(" ")
            return (None if quota == "max" else int(quota)), int(period or 100000)
        quota = _first_int(self._read("cpu", "cpu.cfs_quota_us"))
        period = _first_int(self._read("cpu", "cpu.cfs_period_us")) or 100000
        return (None if quota is None or quota < 0 else quota), period

    def cpu_limit(self) -> float | None:
        """Number of CPUs (``--cpus``), ``None`` = unlimited."""
        quota, period = self.cpu_quota()
        return None if quota is None else quota / period

    def cpu_stat(self) -> dict[str, int]:
        """Normalised: ``usage_usec``, ``nr_periods``, ``nr_throttled``, ``throttled_usec``."""
        st = parse_flat_keyed(self._read("cpu", "cpu.stat"))
        out = {k: st[k] for k in ("nr_periods", "nr_throttled") if k in st}
        if self.version == 2:
            for k in ("usage_usec", "throttled_usec"):
                if k in st:
                    out[k] = st[k]
        else:
            if "throttled_time" in st:  # nanoseconds in v1
                out["throttled_usec"] = st["throttled_time"] // 1000
            usage = _first_int(self._read("cpuacct", "cpuacct.usage"))  # nanoseconds
            if usage is not None:
                out["usage_usec"] = usage // 1000
        return out

    # ----------------------------------------------------------------- pids

    def pids_max(self) -> int | None:
        return _first_int(self._read("pids", "pids.max"))

    def pids_current(self) -> int | None:
        return _first_int(self._read("pids", "pids.current"))

    def pids_events(self) -> dict[str, int]:
        """``{"max": n}``: how many ``fork()`` calls were refused at the limit."""
        return parse_flat_keyed(self._read("pids", "pids.events"))

    # ----------------------------------------------------------------- tables

    def limits(self) -> dict[str, object]:
        return {"memory": self.memory_limit(), "cpus": self.cpu_limit(), "pids": self.pids_max()}

    def limits_table(self):
        """French table: option, cgroup file (for this version), raw content, meaning.

        Files are shown relative to the cgroup's folder: ``memory/…/memory.limit_in_bytes``
        (v1: one folder per controller) or ``…/memory.max`` (v2: one folder)."""
        import pandas as pd

        v2 = self.version == 2

        def short(ctrl: str, name: str) -> str:
            return f"…/{name}" if v2 else f"{ctrl}/…/{name}"

        rows = []
        mem_file = "memory.max" if v2 else "memory.limit_in_bytes"
        mem = self.memory_limit()
        rows.append(("--memory", short("memory", mem_file), _raw(self._read("memory", mem_file)),
                     "illimitée" if mem is None else f"{mem / MIB:g} Mio"))
        cpu_files = ["cpu.max"] if v2 else ["cpu.cfs_quota_us", "cpu.cfs_period_us"]
        cpus = self.cpu_limit()
        rows.append(("--cpus", " + ".join(short("cpu", f) for f in cpu_files),
                     " / ".join(_raw(self._read("cpu", f)) for f in cpu_files),
                     "illimité" if cpus is None else f"{cpus:g} CPU (quota / période, en µs)"))
        pids = self.pids_max()
        rows.append(("--pids-limit", short("pids", "pids.max"), _raw(self._read("pids", "pids.max")),
                     "illimité" if pids is None else f"{pids} processus au plus"))
        return pd.DataFrame(rows, columns=["option docker run", "fichier du cgroup", "contenu brut",
                                           "signification"]).set_index("option docker run")


def _raw(text: str | None) -> str:
    return "(absent)" if text is None else text.strip()


def local_cgroup(pid: int | str = "self", proc: str | Path = "/proc",
                 root: str | Path = "/sys/fs/cgroup") -> Cgroup:
    """The cgroup of a local process, read from the local ``/sys/fs/cgroup``."""
    text = (Path(proc) / str(pid) / "cgroup").read_text()
    return Cgroup(LocalTree(root), text)


# =========================================================================== helper container

#: Runs inside the helper container (stdlib only): prints JSON lines of raw files.
HELPER_SCRIPT = r'''
import json, os, sys, time
req = json.loads(sys.argv[1])
ROOT = req["root"]
if not os.path.isdir(ROOT):  # no bind mount (Docker Desktop may refuse it): the container's own
    ROOT = "/sys/fs/cgroup"  # view, complete on cgroup v2 with --cgroupns=host
NAMES = set(req["names"])
NS = ("pid", "net", "mnt", "uts", "ipc", "user", "cgroup", "time")

def read(p, limit=65536):
    try:
        with open(p) as f:
            return f.read(limit)
    except OSError:
        return None

def ns_of(pid):
    out = {}
    for n in NS:
        try:
            out[n] = os.readlink(f"/proc/{pid}/ns/{n}")
        except OSError:
            out[n] = None
    return out

def cg_files(proc_cgroup):
    files = {}
    top = read(os.path.join(ROOT, "cgroup.controllers"))
    if top is not None:
        files["cgroup.controllers"] = top
    try:
        mounts = [d for d in os.listdir(ROOT) if os.path.isdir(os.path.join(ROOT, d))]
    except OSError:
        mounts = []
    for line in (proc_cgroup or "").splitlines():
        path = line.split(":", 2)[-1].strip("/")
        for base in [""] + mounts:
            d = os.path.join(ROOT, base, path) if path else os.path.join(ROOT, base)
            if not os.path.isdir(d):
                continue
            rel = "/".join(x for x in (base, path) if x)
            for name in NAMES:
                t = read(os.path.join(d, name))
                if t is not None:
                    files[(rel + "/" if rel else "") + name] = t
    return files

pids = [str(p) for p in req["pids"]]
proc_cg = req.get("proc_cgroup") or {p: read(f"/proc/{p}/cgroup") for p in pids}  # override: tests
if req.get("snapshot"):
    ref = None
    for cand in ["1"] + [d for d in os.listdir("/proc") if d.isdigit()]:
        if read(f"/proc/{cand}/comm", 64) is None:
            continue
        comm = read(f"/proc/{cand}/comm", 64).strip()
        if cand != "1" and comm not in ("dockerd", "containerd"):
            continue
        ns = ns_of(cand)
        if ns["pid"] is not None:
            ref = {"pid": int(cand), "comm": comm, "ns": ns,
                   "mounts": len((read(f"/proc/{cand}/mounts", 1 << 22) or "").splitlines())}
            break
    out = {
        "ref": ref,
        "self_ns": ns_of("self"),
        "ns": {p: ns_of(p) for p in pids},
        "comm": {p: (read(f"/proc/{p}/comm", 64) or "").strip() for p in pids},
        "proc_cgroup": proc_cg,
        "cgroup": {p: cg_files(proc_cg[p]) for p in pids},
        "hostname": (read("/proc/sys/kernel/hostname") or "").strip(),
        "interfaces": [l.split(":")[0].strip() for l in (read("/proc/net/dev") or "").splitlines()[2:]],
        "shm": (read("/proc/sysvipc/shm") or "").splitlines()[1:],
        "nprocs": sum(1 for d in os.listdir("/proc") if d.isdigit()),
    }
    print(json.dumps(out), flush=True)
    sys.exit(0)
t0 = time.monotonic()
seen = False
print(json.dumps({"ready": True, "proc_cgroup": proc_cg}), flush=True)
while time.monotonic() - t0 < req["duration"]:
    t = time.monotonic() - t0
    sample = {p: cg_files(proc_cg[p]) for p in pids}
    alive = any(len(v) > 1 for v in sample.values())
    if alive:
        seen = True
    elif seen and req.get("stop_when_gone", True):
        break
    nprocs = sum(1 for d in os.listdir("/proc") if d.isdigit())
    print(json.dumps({"t": t, "cgroup": sample, "nprocs": nprocs}), flush=True)
    time.sleep(req["interval"])
'''

#: cgroup files the helper copies (both layouts).
HELPER_FILES = (
    "cgroup.controllers",
    "memory.max", "memory.current", "memory.peak", "memory.events",
    "memory.limit_in_bytes", "memory.usage_in_bytes", "memory.max_usage_in_bytes",
    "memory.failcnt", "memory.memsw.failcnt", "memory.oom_control",
    "cpu.max", "cpu.stat", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpuacct.usage",
    "pids.max", "pids.current", "pids.events",
)


def _helper_kwargs(name_part: str, mount: bool = True) -> dict:
    kw = dict(
        name=engine.name("nb02", name_part, uuid.uuid4().hex[:6]),
        labels=engine.labels(unit="nb02", role="helper"),
        pid_mode="host", ipc_mode="host", uts_mode="host", network_mode="host", cgroupns="host",
        cap_add=["SYS_PTRACE"],  # reading another process's /proc/<pid>/ns needs it
        mem_limit="64m", pids_limit=16,
    )
    if mount:
        kw["volumes"] = {"/sys/fs/cgroup": {"bind": HELPER_MOUNT, "mode": "ro"}}
    return kw


def _helper_request(pids, **kw) -> str:
    return json.dumps({"root": HELPER_MOUNT, "names": list(HELPER_FILES), "pids": list(pids), **kw})


def _run_helper(name_part: str, request: str):
    """Start the helper container (detached); without the /sys/fs/cgroup bind mount when the
    daemon refuses it (Docker Desktop only shares some host folders)."""
    import docker

    c = engine.client()
    cmd = ["python3", "-c", HELPER_SCRIPT, request]
    try:
        return c.containers.run(engine.BASE_IMAGE, cmd, detach=True, **_helper_kwargs(name_part))
    except docker.errors.APIError as err:
        if "mount" not in str(err).lower() and "shared" not in str(err).lower():
            raise
        return c.containers.run(engine.BASE_IMAGE, cmd, detach=True, **_helper_kwargs(name_part, mount=False))


def _remove(ctr) -> None:
    import docker

    try:
        ctr.remove(force=True, v=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as err:  # "removal already in progress"
        if "in progress" not in str(err):
            raise


def host_snapshot(pids=(), timeout: float = 60) -> dict:
    """Raw view of the Docker host: namespaces of ``pids`` and of a host reference process
    (PID 1, else dockerd), their ``/proc/<pid>/cgroup`` and cgroup files, the host's hostname,
    network interfaces and System V shared memory segments. Needs Docker."""
    ctr = _run_helper("hostview", _helper_request(pids, snapshot=True))
    try:
        status = ctr.wait(timeout=timeout)
        out = ctr.logs(stdout=True, stderr=False).decode()
        if status.get("StatusCode") != 0:
            err = ctr.logs(stdout=False, stderr=True).decode()
            raise RuntimeError(f"host view helper failed: {err[-800:]}")
    finally:
        _remove(ctr)
    return json.loads(out.strip().splitlines()[-1])


class Sampler:
    """Samples the cgroups of some host pids from a helper container, in the background."""

    def __init__(self, pids, interval: float = 0.05, duration: float = 30.0, stop_when_gone: bool = True):
        self.pids = [str(p) for p in pids]
        self.ctr = _run_helper("sampler", _helper_request(self.pids, interval=interval, duration=duration,
                                                           stop_when_gone=stop_when_gone))
        self.duration = duration
        self.proc_cgroup: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until the first line says it is ready
            lines = self.ctr.logs(stdout=True, stderr=False).decode().splitlines()
            if lines:
                self.proc_cgroup = json.loads(lines[0])["proc_cgroup"]
                return
            self.ctr.reload()
            if self.ctr.status == "exited":
                break
            time.sleep(0.05)
        err = self.ctr.logs(stdout=False, stderr=True).decode()
        self.close()
        raise RuntimeError(f"sampler helper did not start: {err[-800:]}")

    def finish(self, timeout: float | None = None) -> list[dict]:
        """Wait for the sampler to stop (target gone or duration over); raw samples."""
        try:
            self.ctr.wait(timeout=timeout or self.duration + 30)
            lines = self.ctr.logs(stdout=True, stderr=False).decode().splitlines()
        finally:
            self.close()
        return [json.loads(x) for x in lines[1:] if x.strip()]

    def close(self) -> None:
        _remove(self.ctr)

    def cgroups(self, sample: dict) -> dict[str, Cgroup]:
        return {p: Cgroup(DictTree(sample["cgroup"][p]), self.proc_cgroup.get(p) or "") for p in self.pids}


# =========================================================================== containers

#: The course container the notebook inspects (sleeps, bounded, removed by the notebook).
DEMO_LIMITS = dict(mem_limit="64m", memswap_limit="64m", nano_cpus=500_000_000, pids_limit=20)


def run_container(part: str, command, **kwargs):
    """Start a labelled course container named ``dockercourse-nb02-<part>`` (removing a
    leftover of the same name first, so that cells can be re-run at once)."""
    c = engine.client()
    name = engine.name("nb02", part)
    engine.remove_container(name)
    kwargs.setdefault("detach", True)
    return c.containers.run(engine.BASE_IMAGE, command, name=name,
                            labels=engine.labels(unit="nb02", role=part), **kwargs)


def start_demo(seconds: int = 600):
    """The container inspected in the notebook: ``python3`` sleeping, with the three limits
    (``--memory 64m --memory-swap 64m --cpus 0.5 --pids-limit 20``); removes itself after
    ``seconds`` at worst (``--rm``)."""
    return run_container("demo", ["python3", "-c", f"import time; time.sleep({int(seconds)})"],
                         auto_remove=True, **DEMO_LIMITS)


def stop(container) -> None:
    """Remove a container started here (ignores one already gone)."""
    if container is not None:
        _remove(container)


def leftovers() -> list[str]:
    """Names of this unit's containers still present."""
    return [c.name for c in engine.client().containers.list(all=True, filters={"label": f"{engine.LABEL}.unit=nb02"})]


def cleanup() -> list[str]:
    """Remove this unit's containers (label ``dockercourse.unit=nb02``), nothing else."""
    names = []
    for ctr in engine.client().containers.list(all=True, filters={"label": f"{engine.LABEL}.unit=nb02"}):
        names.append(ctr.name)
        _remove(ctr)
    return names


def container_pid(container) -> int:
    container.reload()
    return int(container.attrs["State"]["Pid"])


@dataclass
class ContainerView:
    """What the Docker host sees of one container."""

    name: str
    pid: int
    comm: str
    ns: dict[str, int | None]
    host_ns: dict[str, int | None]
    host_ref: str
    cgroup: Cgroup
    snapshot: dict = field(repr=False)

    def namespace_table(self):
        return namespace_table(self.ns, self.host_ns, host_label=f"hôte ({self.host_ref})")


def view(container) -> ContainerView:
    """Namespaces and cgroup of a running container, seen from the Docker host."""
    pid = container_pid(container)
    snap = host_snapshot([pid])
    key = str(pid)
    ref = snap.get("ref") or {"comm": "aide --pid=host", "ns": snap["self_ns"]}
    return ContainerView(
        name=container.name, pid=pid, comm=snap["comm"][key],
        ns={k: parse_ns_link(v) for k, v in snap["ns"][key].items()},
        host_ns={k: parse_ns_link(v) for k, v in ref["ns"].items()},
        host_ref=ref["comm"],
        cgroup=Cgroup(DictTree(snap["cgroup"][key]), snap["proc_cgroup"][key] or ""),
        snapshot=snap,
    )


def namespaces(container):
    """DataFrame of the 8 namespace types, container vs Docker host (inode ids, shared?)."""
    return view(container).namespace_table()


def local_namespaces():
    """Fallback without a daemon: this notebook's own namespaces vs PID 1 (when readable)."""
    own = read_namespaces("self")
    init = read_namespaces(1)
    readable = any(v is not None for v in init.values())
    return namespace_table(own, init, container_label="ce notebook",
                           host_label="PID 1 local" if readable else "PID 1 local (illisible)")


@dataclass
class Effects:
    pid1_comm: str
    host_pid: int
    hostname: str
    host_hostname: str
    interfaces: list[str]
    host_interfaces: list[str]
    root_fstype: str
    host_mounts: int
    container_mounts: int
    ipc_key: str
    ipc_in_container: bool
    ipc_visible_on_host: bool

    def _repr_html_(self) -> str:
        return self.table().to_html()

    def table(self):
        import pandas as pd

        rows = [
            ("pid", f"PID 1 = {self.pid1_comm}", f"{self.pid1_comm} a le PID {self.host_pid}"),
            ("uts", self.hostname, self.host_hostname),
            ("net", ", ".join(self.interfaces), f"{len(self.host_interfaces)} interfaces : "
             + ", ".join(self.host_interfaces[:6]) + ("…" if len(self.host_interfaces) > 6 else "")),
            ("mnt", f"/ = {self.root_fstype}, {self.container_mounts} montages",
             f"{self.host_mounts} montages (vus par dockerd)"),
            ("ipc", f"segment {self.ipc_key} présent : {_oui(self.ipc_in_container)}",
             f"segment {self.ipc_key} présent : {_oui(self.ipc_visible_on_host)}"),
        ]
        return pd.DataFrame(rows, columns=["espace de noms", "dans le conteneur", "sur l'hôte Docker"]
                            ).set_index("espace de noms")


def _oui(b: bool) -> str:
    return "oui" if b else "non"


_EFFECTS_SCRIPT = r'''
import ctypes, json, random, socket
out = {"comm1": open("/proc/1/comm").read().strip(), "hostname": socket.gethostname(),
       "interfaces": sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:])}
mounts = open("/proc/1/mounts").read().splitlines()
out["mounts"] = len(mounts)
out["root_fstype"] = next(l.split()[2] for l in mounts if l.split()[1] == "/")
# a System V shared memory segment with a random key (what `ipcmk -M 4096` does)
libc = ctypes.CDLL(None, use_errno=True)
key = random.randint(1, 2**31 - 1)
if libc.shmget(key, 4096, 0o1000 | 0o600) < 0:  # IPC_CREAT | rw-------
    raise OSError(ctypes.get_errno(), "shmget")
out["shmkey"] = str(key)
out["shm_here"] = any(l.split()[0] == str(key) for l in open("/proc/sysvipc/shm").read().splitlines()[1:])
print(json.dumps(out))
'''


def effects(container) -> Effects:
    """Show each namespace's effect: run probes inside the container (``docker exec``),
    read the same things on the Docker host (helper), compare."""
    res = container.exec_run(["python3", "-c", _EFFECTS_SCRIPT])
    if res.exit_code != 0:
        raise RuntimeError(res.output.decode()[-800:])
    inside = json.loads(res.output.decode().strip().splitlines()[-1])
    pid = container_pid(container)
    snap = host_snapshot([pid])
    shmkeys_host = {line.split()[0] for line in snap["shm"] if line.split()}
    mounts_on_host = int((snap.get("ref") or {}).get("mounts") or 0)
    return Effects(
        pid1_comm=inside["comm1"], host_pid=pid, hostname=inside["hostname"],
        host_hostname=snap["hostname"], interfaces=inside["interfaces"],
        host_interfaces=sorted(snap["interfaces"]), root_fstype=inside["root_fstype"],
        host_mounts=mounts_on_host, container_mounts=inside["mounts"],
        ipc_key=inside["shmkey"], ipc_in_container=inside["shm_here"],
        ipc_visible_on_host=inside["shmkey"] in shmkeys_host,
    )


# =========================================================================== experiments


@dataclass
class MemoryResult:
    samples: object  # DataFrame: temps (s), utilisation (Mio), limite (Mio), refus (limit_hits)
    limit_mib: float
    oom_killed: bool
    exit_code: int
    events: dict[str, int]
    allocated_mib: int
    peak_mib: float
    version: int

    def summary(self) -> str:
        return (f"le conteneur a été tué par le noyau : OOMKilled={self.oom_killed}, code {self.exit_code}")


_ALLOC_SCRIPT = r'''
import os, sys, time
step, top, pause = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
while not os.path.exists("/tmp/go"):
    time.sleep(0.02)
blocks = []
for i in range(1, top // step + 1):
    blocks.append(b"\x01" * (step * 1024 * 1024))  # filled, so the pages are really used
    print(i * step, flush=True)
    time.sleep(pause)
'''


def _go(container) -> None:
    res = container.exec_run(["touch", "/tmp/go"])
    if res.exit_code != 0:
        raise RuntimeError(res.output.decode())


def memory_experiment(limit: str = "64m", step_mib: int = 4, max_mib: int = 256, pause: float = 0.1,
                      timeout: float = 60) -> MemoryResult:
    """A process allocates ``step_mib`` MiB at a time under ``--memory limit --memory-swap limit``
    until the kernel OOM-kills it; its cgroup is sampled from the host meanwhile."""
    import pandas as pd

    ctr = run_container("oom", ["python3", "-c", _ALLOC_SCRIPT, str(step_mib), str(max_mib), str(pause)],
                        mem_limit=limit, memswap_limit=limit, pids_limit=20)
    sampler = None
    try:
        pid = container_pid(ctr)
        sampler = Sampler([pid], interval=0.02, duration=timeout)
        _go(ctr)
        status = ctr.wait(timeout=timeout)
        samples = sampler.finish()
        ctr.reload()
        state = ctr.attrs["State"]
        logs = ctr.logs(stdout=True, stderr=False).decode().split()
    finally:
        if sampler is not None:
            sampler.close()
        _remove(ctr)
    rows, events, version, peak = [], {}, 1, 0
    limit_mib = None
    for s in samples:
        cg = sampler.cgroups(s)[str(pid)]
        usage = cg.memory_usage()
        if usage is None:
            continue
        version = cg.version
        lim = cg.memory_limit()
        limit_mib = lim / MIB if lim else limit_mib
        ev = cg.memory_events()
        events = ev or events
        peak = max(peak, cg.memory_peak() or 0, usage)
        rows.append((s["t"], usage / MIB, lim / MIB if lim else None, ev.get("limit_hits", 0)))
    df = pd.DataFrame(rows, columns=["temps (s)", "utilisation (Mio)", "limite (Mio)", "refus à la limite"])
    if not df.empty:
        df["temps (s)"] -= df["temps (s)"].iloc[0]
    allocated = max((int(x) for x in logs if x.isdigit()), default=0)
    return MemoryResult(samples=df, limit_mib=limit_mib or 0.0, oom_killed=bool(state.get("OOMKilled")),
                        exit_code=int(status.get("StatusCode", state.get("ExitCode", -1))),
                        events=events, allocated_mib=allocated, peak_mib=peak / MIB,
                        version=version)


def plot_memory(res: MemoryResult):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    df = res.samples
    ax.plot(df["temps (s)"], df["utilisation (Mio)"], marker=".", label="mémoire utilisée par le cgroup")
    ax.axhline(res.limit_mib, color="red", linestyle="--", label=f"limite --memory ({res.limit_mib:g} Mio)")
    ax.set_xlabel("temps depuis le début de l'allocation (s)")
    ax.set_ylabel("mémoire (Mio)")
    ax.set_title("Allocation pas à pas sous --memory 64m : le noyau tue le processus (OOM)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


@dataclass
class CpuResult:
    samples: object   # DataFrame: temps (s), conteneur, temps CPU cumulé (s)
    summary: object   # DataFrame per container
    version: int

    def limited(self) -> dict:
        return self.summary.loc["--cpus 0.5"].to_dict()

    def unlimited(self) -> dict:
        return self.summary.loc["sans limite"].to_dict()


_BUSY_SCRIPT = r'''
import os, sys, time
while not os.path.exists("/tmp/go"):
    time.sleep(0.02)
end = time.monotonic() + float(sys.argv[1])
n = 0
while time.monotonic() < end:
    n += 1
print(n)
'''


def cpu_experiment(cpus: float = 0.5, seconds: float = 3.0) -> CpuResult:
    """Two busy loops side by side for ``seconds``: one under ``--cpus``, one unlimited.
    Returns the CPU time each got (cgroup accounting) and the throttling counters."""
    import pandas as pd

    labels_ = {f"--cpus {cpus:g}": dict(nano_cpus=int(cpus * 1e9)), "sans limite": {}}
    ctrs = {}
    sampler = None
    try:
        for i, (lab, kw) in enumerate(labels_.items()):
            ctrs[lab] = run_container(f"cpu{i}", ["python3", "-c", _BUSY_SCRIPT, str(seconds)],
                                      mem_limit="64m", memswap_limit="64m", pids_limit=20, **kw)
        pids = {lab: container_pid(c) for lab, c in ctrs.items()}
        sampler = Sampler(pids.values(), interval=0.1, duration=seconds + 30)
        for c in ctrs.values():
            _go(c)
        for c in ctrs.values():
            c.wait(timeout=seconds + 30)
        samples = sampler.finish()
    finally:
        if sampler is not None:
            sampler.close()
        for c in ctrs.values():
            _remove(c)
    rows, last, first, version = [], {}, {}, 1
    for s in samples:
        for lab, pid in pids.items():
            cg = sampler.cgroups(s)[str(pid)]
            st = cg.cpu_stat()
            if "usage_usec" not in st:
                continue
            version = cg.version
            first.setdefault(lab, (s["t"], st))
            last[lab] = (s["t"], st)
            rows.append((s["t"], lab, st["usage_usec"] / 1e6, cg.cpu_limit()))
    df = pd.DataFrame(rows, columns=["temps (s)", "conteneur", "temps CPU cumulé (s)", "limite (CPU)"])
    summ = []
    for lab in labels_:
        (t0, s0), (t1, s1) = first[lab], last[lab]
        wall = max(t1 - t0, 1e-9)
        summ.append((lab, (s1["usage_usec"] - s0["usage_usec"]) / 1e6 / wall,
                     s1.get("nr_periods", 0), s1.get("nr_throttled", 0), s1.get("throttled_usec", 0) / 1e6))
    summary = pd.DataFrame(summ, columns=["conteneur", "part de CPU mesurée", "périodes (nr_periods)",
                                          "périodes bridées (nr_throttled)", "temps bridé (s)"]
                           ).set_index("conteneur")
    if not df.empty:
        df["temps (s)"] -= df["temps (s)"].min()
    return CpuResult(samples=df, summary=summary, version=version)


def plot_cpu(res: CpuResult):
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    for lab, grp in res.samples.groupby("conteneur", sort=False):
        t = grp["temps (s)"].to_numpy()
        used = grp["temps CPU cumulé (s)"].to_numpy()
        if len(t) > 1:  # CPU share over each sampling interval
            ax1.plot(t[1:] - t[0], (used[1:] - used[:-1]) / (t[1:] - t[:-1]), marker=".", label=lab)
    ax1.axhline(0.5, color="red", linestyle="--", label="quota --cpus 0.5")
    ax1.set_xlabel("temps écoulé (s)")
    ax1.set_ylabel("part d'un cœur (CPU)")
    ax1.set_ylim(bottom=0)
    ax1.set_title("Boucle active : CPU obtenu au fil du temps")
    ax1.legend()
    summ = res.summary
    ax2.bar(summ.index, summ["part de CPU mesurée"], color=["tab:blue", "tab:orange"])
    ax2.set_ylabel("part d'un cœur (CPU)")
    ax2.set_title("Part de CPU mesurée")
    ax2.axhline(0.5, color="red", linestyle="--", label="quota --cpus 0.5")
    ax2.legend()
    fig.tight_layout()
    return fig


@dataclass
class PidsResult:
    samples: object  # DataFrame: temps (s), processus (pids.current), processus sur l'hôte
    limit: int | None
    max_seen: int
    refused_forks: int
    other_container_ok: bool
    version: int


_BOMB_SCRIPT = r'''
import os, time
while not os.path.exists("/tmp/go"):
    time.sleep(0.02)
while True:  # every process forks forever: 1, 2, 4, 8... until fork() fails
    try:
        os.fork()
    except OSError:
        time.sleep(0.05)
'''


def pids_experiment(limit: int = 20, seconds: float = 3.0) -> PidsResult:
    """A fork bomb under ``--pids-limit``: count its processes over time, check that another
    container still starts meanwhile, then kill it (all its processes die with its PID 1)."""
    import pandas as pd

    ctr = run_container("forkbomb", ["python3", "-c", _BOMB_SCRIPT], pids_limit=limit,
                        mem_limit="256m", memswap_limit="256m", nano_cpus=500_000_000)
    sampler = None
    try:
        pid = container_pid(ctr)
        sampler = Sampler([pid], interval=0.1, duration=seconds + 2, stop_when_gone=True)
        _go(ctr)
        time.sleep(seconds / 2)
        other = engine.client().containers.run(
            engine.BASE_IMAGE, ["python3", "-c", "print('ok')"], name=engine.name("nb02", "witness"),
            labels=engine.labels(unit="nb02", role="witness"), remove=True)
        other_ok = other.decode().strip() == "ok"
        time.sleep(seconds / 2)
        ctr.kill()
        samples = sampler.finish()
    finally:
        if sampler is not None:
            sampler.close()
        _remove(ctr)
        engine.remove_container(engine.name("nb02", "witness"))
    rows, lim, refused, version = [], None, 0, 1
    for s in samples:
        cg = sampler.cgroups(s)[str(pid)]
        cur = cg.pids_current()
        if cur is None:
            continue
        version = cg.version
        lim = cg.pids_max()
        refused = cg.pids_events().get("max", refused)
        rows.append((s["t"], cur, s["nprocs"]))
    df = pd.DataFrame(rows, columns=["temps (s)", "processus du conteneur", "processus sur l'hôte"])
    if not df.empty:
        df["temps (s)"] -= df["temps (s)"].iloc[0]
    return PidsResult(samples=df, limit=lim, max_seen=int(df["processus du conteneur"].max()) if len(df) else 0,
                      refused_forks=refused, other_container_ok=other_ok, version=version)


def plot_pids(res: PidsResult):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    df = res.samples
    ax.plot(df["temps (s)"], df["processus du conteneur"], marker=".", label="processus dans le conteneur")
    if res.limit:
        ax.axhline(res.limit, color="red", linestyle="--", label=f"--pids-limit {res.limit}")
    ax.set_xlabel("temps (s)")
    ax.set_ylabel("nombre de processus")
    ax.set_ylim(0, max(res.limit or 0, res.max_seen) * 1.5 + 1)
    ax.set_title("Bombe fork contenue par le cgroup pids")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


# =========================================================================== unshare, without Docker


def unshare_demo() -> dict[str, str]:
    """Namespaces without Docker, with util-linux ``unshare`` (root needed)."""
    import shutil
    import socket
    import subprocess

    if shutil.which("unshare") is None:
        raise RuntimeError("La commande « unshare » (util-linux) est introuvable sur cette machine.")
    ps = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "ps", "-eo", "pid,comm"],
                        capture_output=True, text=True, timeout=30)
    uts = subprocess.run(["unshare", "--uts", "sh", "-c", "hostname demo; hostname"],
                         capture_output=True, text=True, timeout=30)
    return {"ps": ps.stdout + ps.stderr, "ps_rc": ps.returncode, "hostname_inside": uts.stdout.strip(),
            "uts_rc": uts.returncode, "hostname_host": socket.gethostname()}


# =========================================================================== notebook-facing
#
# Each function below prints what a notebook cell shows. Without a daemon, the ones that need
# Docker print one French sentence (engine.needs_docker) and return None; the next cells,
# given None, print the same kind of sentence instead of failing.


def _require(obj, what: str = "l'étape précédente"):
    if obj is None:
        engine.client()  # no daemon: raises DockerUnavailable with the right sentence
        raise engine.DockerUnavailable(f"{what} n'a pas abouti : ré-exécutez les cellules précédentes.")
    return obj


@engine.needs_docker
def nb_start_demo():
    ctr = start_demo()
    print(f"Conteneur {ctr.name} démarré : python3 qui dort, avec --memory 64m --memory-swap 64m "
          "--cpus 0.5 --pids-limit 20.")
    return ctr


def nb_namespaces(container):
    """The namespace table seen from the Docker host; without a daemon, this notebook's own
    namespaces against the local PID 1 (on Binder: you are inside a container)."""
    try:
        return namespaces(_require(container, "Le démarrage du conteneur"))
    except engine.DockerUnavailable as err:
        print(f"⚠️  Cellule non exécutée : {err} À la place : les espaces de noms de ce notebook "
              "comparés à ceux du PID 1 local.")
        return local_namespaces()


@engine.needs_docker
def nb_shared(table, container):
    _require(container, "Le démarrage du conteneur")
    for ns, row in table.iterrows():
        print(f"{ns:<7} partagé avec l'hôte : {row['partagé']}")


@engine.needs_docker
def nb_effects(container):
    return effects(_require(container, "Le démarrage du conteneur"))


@engine.needs_docker
def nb_print_effects(eff, container):
    eff = _require(eff)
    container.reload()
    print("PID 1 dans le conteneur :", eff.pid1_comm)
    print("Vu de l'hôte, ce processus a un autre numéro :", eff.host_pid != 1)
    print("Nom d'hôte du conteneur = début de son identifiant :", eff.hostname == container.id[:12])
    print("Nom d'hôte du conteneur différent de celui de l'hôte :", eff.hostname != eff.host_hostname)
    print("Interfaces réseau du conteneur :", ", ".join(eff.interfaces))
    print("Racine / du conteneur montée depuis :", eff.root_fstype)
    print("Segment de mémoire partagée créé dans le conteneur, visible dedans :", eff.ipc_in_container,
          "; visible sur l'hôte :", eff.ipc_visible_on_host)


def nb_unshare():
    """`unshare` without Docker (root on Linux): PID 1 and hostname in new namespaces."""
    import shutil

    if os.geteuid() != 0 or shutil.which("unshare") is None:
        print("⚠️  Cellule non exécutée : « unshare » demande les droits root sur une machine Linux.")
        return None
    res = unshare_demo()
    if res["ps_rc"] != 0 or res["uts_rc"] != 0:
        first = (res["ps"].strip().splitlines() or ["?"])[0]
        print(f"⚠️  Cellule non exécutée : le noyau a refusé « unshare » ici ({first}) ; "
              "c'est le cas dans un conteneur non privilégié.")
        return None
    print("$ unshare --pid --fork --mount-proc ps -eo pid,comm")
    print(res["ps"].rstrip())
    print("$ unshare --uts sh -c 'hostname demo; hostname'")
    print(res["hostname_inside"])
    import socket

    print("Le nom de l'hôte, lui, n'a pas changé :", socket.gethostname() == res["hostname_host"] != "demo")
    return res


@engine.needs_docker
def nb_cgroup(container):
    v = view(_require(container, "Le démarrage du conteneur"))
    cg = v.cgroup
    layout = ("v2 : une seule hiérarchie, un dossier par cgroup" if cg.version == 2 else
              "v1 : une hiérarchie par contrôleur (memory/, cpu/, pids/…)")
    print(f"cgroups sur l'hôte Docker : {layout}")
    c = engine.client()
    facts = engine.facts_from_info(c.info(), c.version())
    if facts["docker_desktop"]:
        print("Docker Desktop : l'hôte Docker est sa machine virtuelle Linux ; ces fichiers sont les siens.")
    if facts["rootless"]:
        print("Docker rootless : les limites ne s'appliquent qu'avec les cgroups v2 et la délégation systemd "
              "(sans elles, le tableau ci-dessous montre des valeurs « illimité »).")
    print(f"cgroup du conteneur (lu dans /proc/{{pid}}/cgroup) : {cg.path}")
    return cg.limits_table()


@engine.needs_docker
def nb_stop(container):
    stop(_require(container, "Le démarrage du conteneur"))
    print("Conteneur de démonstration supprimé.")


@engine.needs_docker
def nb_memory_events(res):
    import pandas as pd

    res = _require(res)
    return pd.Series(res.events, name="compteurs du cgroup", dtype="int64")


@engine.needs_docker
def nb_cpu_summary(res):
    return _require(res).summary.round(3)


@engine.needs_docker
def nb_memory():
    """Run the experiment and draw its figure."""
    res = memory_experiment()
    plot_memory(res)
    return res


@engine.needs_docker
def nb_report_memory(res):
    res = _require(res)
    print(res.summary())
    print(f"pic d'utilisation du cgroup au niveau de la limite ({res.limit_mib:g} Mio) :",
          res.peak_mib >= 0.9 * res.limit_mib)
    print("le processus n'a pas pu allouer les 256 Mio demandés :", res.allocated_mib < 256)


@engine.needs_docker
def nb_cpu():
    """Run the experiment and draw its figure."""
    res = cpu_experiment()
    plot_cpu(res)
    return res


def throttling_consistent(summary_row: dict, quota: float = 0.5) -> bool:
    """Pure: the limited container was throttled, or it never reached its quota (a loaded
    machine gave it less CPU than allowed, so the kernel had nothing to throttle)."""
    return summary_row["périodes bridées (nr_throttled)"] > 0 or summary_row["part de CPU mesurée"] < 0.9 * quota


@engine.needs_docker
def nb_report_cpu(res):
    res = _require(res)
    lim, free = res.limited(), res.unlimited()
    print("limite lue dans le cgroup du conteneur limité :",
          f"{res.samples.loc[res.samples['conteneur'] == '--cpus 0.5', 'limite (CPU)'].iloc[0]:g} CPU")
    print("part de CPU du conteneur limité au plus 0,5 (marge de mesure 0,05) :", lim["part de CPU mesurée"] <= 0.55)
    print("périodes de quota décomptées par le noyau (nr_periods > 0) : conteneur limité",
          lim["périodes (nr_periods)"] > 0, "; sans limite", free["périodes (nr_periods)"] > 0)
    print("conteneur limité suspendu quand il épuise son quota (nr_throttled) :", throttling_consistent(lim))
    print("conteneur sans limite jamais suspendu (nr_throttled = 0) :", free["périodes bridées (nr_throttled)"] == 0)


@engine.needs_docker
def nb_pids():
    """Run the experiment and draw its figure."""
    res = pids_experiment()
    plot_pids(res)
    return res


@engine.needs_docker
def nb_report_pids(res):
    res = _require(res)
    print(f"processus au plus dans le conteneur : {res.max_seen} (limite lue dans pids.max : {res.limit})")
    print("fork() refusés par le noyau (pids.events) :", "oui" if res.refused_forks > 0 else "non")
    print("un autre conteneur a démarré normalement pendant la bombe :", res.other_container_ok)


@engine.needs_docker
def nb_cleanup():
    cleanup()
    print("Conteneurs de ce notebook restants :", leftovers() or "aucun")
