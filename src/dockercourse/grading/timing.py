"""Where a submission's time goes: wall time and the CPU time of its sandbox's cgroup.

Inside a grading sandbox every process (engine, containers, checks, kernel) belongs to the
slot's cgroup, so the cgroup's CPU counter read before and after a step is what that step
cost, engines and containers included. :func:`own_cpu_seconds` reads it for the calling
process; :class:`Stopwatch` turns successive readings into ``{"wall_s", "cpu_s"}`` laps.
Outside a sandbox (a student's kernel, the audit command) the counter is the whole
machine's: :func:`own_cpu_seconds` is only asked for there when ``in_sandbox``.
"""

from __future__ import annotations

import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cpu_counter_file(proc_cgroup: str, unified: bool, root: Path = CGROUP_ROOT) -> Path | None:
    """Pure: the file holding the CPU time of the cgroup described by ``/proc/<pid>/cgroup``
    text: ``cpuacct.usage`` (v1, nanoseconds) or ``cpu.stat`` (v2, ``usage_usec``)."""
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        rel = path.strip().lstrip("/")
        if unified and parts[0] == "0" and controllers == "":
            return root / rel / "cpu.stat"
        if not unified and "cpuacct" in controllers.split(","):
            for mount in (controllers, "cpuacct", "cpu,cpuacct"):
                if (root / mount).is_dir():
                    return root / mount / rel / "cpuacct.usage"
            return root / "cpuacct" / rel / "cpuacct.usage"
    return None


def parse_cpu_counter(name: str, text: str) -> float | None:
    """Pure: seconds from a ``cpuacct.usage`` or ``cpu.stat`` file's text."""
    try:
        if name == "cpuacct.usage":
            return int(text.strip()) / 1e9
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) / 1e6
    except ValueError:
        return None
    return None


def own_cpu_seconds() -> float | None:
    """CPU seconds used so far by the cgroup of this process (None when unreadable)."""
    try:
        path = cpu_counter_file(Path("/proc/self/cgroup").read_text(),
                                (CGROUP_ROOT / "cgroup.controllers").exists())
        return parse_cpu_counter(path.name, path.read_text()) if path else None
    except OSError:
        return None


class Stopwatch:
    """Laps of wall time and cgroup CPU time: ``lap("base")`` returns (and keeps) what was
    spent since the previous lap."""

    def __init__(self, cpu=own_cpu_seconds):
        self._cpu = cpu
        self.t0 = self._t = time.monotonic()
        self.c0 = self._c = cpu()
        self.laps: dict[str, dict] = {}

    def lap(self, name: str) -> dict:
        t, c = time.monotonic(), self._cpu()
        out = {"wall_s": round(t - self._t, 2),
               "cpu_s": None if c is None or self._c is None else round(c - self._c, 2)}
        self._t, self._c = t, c
        self.laps[name] = out
        return out

    def total(self) -> dict:
        c = self._cpu()
        return {"wall_s": round(time.monotonic() - self.t0, 2),
                "cpu_s": None if c is None or self.c0 is None else round(c - self.c0, 2)}


#: Spans recorded in this process (:func:`span`), when :func:`enable_spans` was called.
SPANS: list[dict] | None = None


def enable_spans() -> None:
    """Record :func:`span` s from now on (the checks do, inside a sandbox)."""
    global SPANS
    SPANS = []


def take_spans() -> list[dict]:
    """The spans recorded since the last call (and forget them)."""
    if SPANS is None:
        return []
    out = list(SPANS)
    SPANS.clear()
    return out


class span:
    """``with span("build"):`` — a step inside a check (a build, a container, a wait) whose
    wall and cgroup CPU time go with the check's timings. Does nothing unless enabled."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        if SPANS is not None:
            self.t, self.c = time.monotonic(), own_cpu_seconds()
        return self

    def __exit__(self, *exc):
        if SPANS is not None:
            c = own_cpu_seconds()
            SPANS.append({"name": self.name, "wall_s": round(time.monotonic() - self.t, 2),
                          "cpu_s": None if c is None or self.c is None else round(c - self.c, 2)})
        return False
