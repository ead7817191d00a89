"""The limiting cgroup around a sandbox's whole process tree: engine, kernel, checks, containers.

cgroup v1 (memory + pids + freezer + cpu + cpuacct, one group per controller) and v2 (one
group, delegated to the slot's user); memory, swap, processes and CPU limited; its counters read
back for the record (peak memory, CPU time, OOM kills); everything in it killed at once, frozen
first so that a fork bomb cannot outrun it. A rootless engine on cgroup v1 cannot limit its own
containers: this group's limits are what holds there.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from .host import CGROUP_NAME, cgroup_version
from .protocol import Limits


class Cgroup:
    """The limiting cgroup around a sandbox's whole process tree."""

    V1_CONTROLLERS = ("memory", "pids", "freezer", "cpu", "cpuacct")

    def __init__(self, slot: int, limits: Limits, owner: tuple[int, int], name: str | None = None):
        self.version = cgroup_version()
        self.name = name or f"{CGROUP_NAME}/slot{slot}"
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

    def memory_mib(self) -> dict[str, float]:
        """What the group is charged now: ``charged`` (what the limit counts, page cache included),
        ``anon`` (processes' own memory) and ``file`` (page cache), in MiB ({} when unreadable)."""
        out: dict[str, float] = {}
        for p in self.paths:
            for f in ("memory.usage_in_bytes", "memory.current"):
                with contextlib.suppress(OSError, ValueError):
                    out["charged"] = int((p / f).read_text()) / 2**20
            with contextlib.suppress(OSError, ValueError):
                stat = dict(line.split() for line in (p / "memory.stat").read_text().splitlines())
                anon, file = ("total_rss", "total_cache") if "total_rss" in stat else ("anon", "file")
                out["anon"], out["file"] = int(stat[anon]) / 2**20, int(stat[file]) / 2**20
            if out:
                break
        return out

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


def _write(path: Path, value: str) -> None:
    with open(path, "w") as fh:
        fh.write(value)
