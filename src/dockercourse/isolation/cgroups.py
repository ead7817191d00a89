"""cgroups v1 and v2: read the limits and counters of one process's cgroup from a tree of files.

A *tree* is a folder (:class:`LocalTree`, e.g. ``/sys/fs/cgroup`` or a test fixture) or a mapping
``{relative path: text}`` (:class:`DictTree`, what the helper container returns). Both layouts are
known: v1 (one hierarchy per controller: ``memory/``, ``cpu/``, ``pids/``...; hybrid machines add
``unified/``) and v2 (one hierarchy, ``cgroup.controllers`` at its root). Pure readers only.
"""

from __future__ import annotations

from pathlib import Path

#: v1 memory.limit_in_bytes / v2 "max": anything this large means "no limit".
_UNLIMITED = 2**62

MIB = 1024 * 1024




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
                     "illimité" if cpus is None else f"{cpus:g} CPU (quota / période, en µs)".replace(".", ",")))
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

