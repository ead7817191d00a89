"""``make test``: the tiers and lanes as pytest sessions, and what each one cost.

- **unit** (``tests/unit/``, ``--unit``: ``make test-unit``) runs alone, with ``DOCKER_HOST`` on a
  socket where nothing listens: pure logic must not need a daemon. ``make test`` runs it first,
  before the engine is set up (so on a fresh machine with no engine installed), and the live run's
  report includes its times (``.state/test-unit.json``);
- the **suite** (``tests/engine``, ``tests/grading`` but the class command; no notebook) runs in the
  foreground, on the host's engine. ``tests/conftest.py`` puts last the few live tests that use the
  lecture notebooks' names (marked ``lecture_names``), and each of them holds the notebooks lock
  (``tests.utils.notebook_runner.notebooks_lock``) while it runs;
- the **course image** session (``-m course_image``: minutes of builds and containers) runs beside
  it. Its run of every lecture inside the course container is the host engine's lane (Debian 12's
  20.10 here: nbval, lax, with the notebooks' verdict checks); it holds the lock throughout;
- the **class grading** session (``-m class_grading``: a corpus of students graded in rootless
  sandboxes, which use neither the notebooks' names nor the lock) runs beside both, at nice 10;
- the **current-engine** lane (``-m current_engine``: a Debian trixie root's Engine 26, or sid's 28
  with ``DOCKERCOURSE_CURRENT_SUITE=sid``, beside the host's, with the classic and the containerd
  image store) runs beside them, without the lock: another daemon, and a state folder of its own
  for its notebooks' kernels. The lectures' committed outputs are compared there (nbval, strict,
  containerd store);
- the **class server** session (``-m hub``: ``python -m dockercourse hub`` on loopback, three students
  and an instructor as real accounts, Chromium, their rootless engines, the class command once) runs
  beside them. Every session runs with ``DOCKERCOURSE_GRADING_WAIT=1``: two sessions' class commands
  take turns on the grading sandboxes instead of one of them stopping.

Each session's output goes to a log under ``.state/`` (the suite's to the terminal too), then this
prints every session's wall and CPU time and the slowest tests of the whole run, and checks once
that no labelled container was left behind. Extra arguments go to every session (e.g.
``--nbval-lax``). ``DOCKERCOURSE_SERIAL=1`` runs the sessions one after the other (to compare);
``DOCKERCOURSE_SESSIONS=current-engine,course-image`` runs the suite and only the sessions named.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from dockercourse import engine  # noqa: E402

#: A DOCKER_HOST where nothing listens (the unit tier's).
NO_DAEMON = "unix:///nonexistent/dockercourse-unit-tier.sock"
SLOWEST = 15


@dataclasses.dataclass
class Session:
    name: str
    title: str
    marker: str
    paths: tuple[str, ...] = ()
    beside: bool = True  # runs beside the suite (False: in the foreground)
    nice: int = 0
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    proc: subprocess.Popen | None = None
    started: float = 0.0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    rc: int | None = None

    @property
    def log(self) -> Path:
        return engine.state_dir() / f"test-{self.name}.log"

    @property
    def times(self) -> Path:
        return engine.state_dir() / f"test-{self.name}.json"

    @property
    def junit(self) -> Path:
        return engine.state_dir() / f"test-{self.name}.xml"

    def start(self, args: list[str], env: dict[str, str]) -> None:
        cmd = [sys.executable, "-m", "pytest", "-m", self.marker, "-p", "no:xdist", f"--junitxml={self.junit}",
               *self.paths, *args]
        out = None if not self.beside else open(self.log, "w")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env={**env, **self.env}, stdout=out,
                                     stderr=subprocess.STDOUT if out else None,
                                     preexec_fn=functools.partial(os.nice, self.nice))

    def wait(self) -> int:
        _, status, usage = os.wait4(self.proc.pid, 0)
        return self.ended(status, usage)

    def ended(self, status: int, usage) -> int:
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.wall_s = time.monotonic() - self.started
        self.cpu_s = usage.ru_utime + usage.ru_stime  # the session and the processes it waited for
        self.rc = self.proc.returncode
        return self.rc


def wait_until_ended(running: list[Session], last: Session) -> None:
    """Reap the sessions as each one ends, until ``last`` has: each wall time is the session's own,
    not the time until it was waited for."""
    by_pid = {s.proc.pid: s for s in running if s.proc is not None and s.rc is None}
    while last.rc is None:
        pid, status, usage = os.wait4(-1, 0)
        if pid in by_pid:
            by_pid.pop(pid).ended(status, usage)


def sessions() -> list[Session]:
    beside = ("course_image", "class_grading", "current_engine", "hub")
    return [
        Session("unit", "Unit tier (no daemon)", "unit", ("tests/unit",), beside=False,
                env={"DOCKER_HOST": NO_DAEMON}),
        Session("course-image", "Course image tests", "course_image"),
        Session("class-grading", "Class grading tests (sandboxes)", "class_grading", nice=10),
        Session("current-engine", "Current-engine lane (Engine 26+, classic and containerd stores)",
                "current_engine", ("tests/engine",), nice=10),
        Session("class-server", "Class server (JupyterHub, real accounts, a browser)", "hub", ("tests/hub",)),
        Session("suite", "Suite (live Docker on the host's engine)",
                " and ".join(["not unit", *(f"not {m}" for m in beside)]), ("tests",), beside=False,
                env={"DOCKERCOURSE_HOLD_NOTEBOOKS_LOCK": "1"}),
    ]


def slowest(junit_files: list[Path], n: int = SLOWEST) -> list[tuple[float, str]]:
    """The ``n`` slowest test cases over the sessions' JUnit reports (setup + call + teardown)."""
    cases = []
    for path in junit_files:
        try:
            tree = ET.parse(path)
        except (OSError, ET.ParseError):
            continue
        for case in tree.iter("testcase"):
            cases.append((float(case.get("time") or 0), f"{case.get('classname')}::{case.get('name')}"))
    return sorted(cases, reverse=True)[:n]


def report(all_sessions: list[Session], total_s: float) -> str:
    rows = [f"{'session':<16}{'rc':>4}{'wall (s)':>10}{'CPU (s)':>10}"]
    rows += [f"{s.name:<16}{s.rc if s.rc is not None else '-':>4}{s.wall_s:>10.0f}{s.cpu_s:>10.0f}"
             for s in all_sessions]
    rows.append(f"{'all':<16}{'':>4}{total_s:>10.0f}{sum(s.cpu_s for s in all_sessions):>10.0f}")
    rows.append(f"\nThe {SLOWEST} slowest tests of the run:")
    rows += [f"{t:8.1f} s  {name}" for t, name in slowest([s.junit for s in all_sessions])]
    return "\n".join(rows)


def run_unit(args: list[str]) -> int:
    """``make test-unit``: the unit session alone; its times are kept for the live run's report."""
    unit = sessions()[0]
    unit.start(args, dict(os.environ))
    unit.wait()
    unit.times.write_text(json.dumps({"rc": unit.rc, "wall_s": unit.wall_s, "cpu_s": unit.cpu_s}))
    print(f"unit tier: {unit.wall_s:.0f} s wall, {unit.cpu_s:.0f} s CPU")
    return unit.rc


def main(args: list[str]) -> int:
    if args[:1] == ["--unit"]:
        return run_unit(args[1:])
    serial = os.environ.get("DOCKERCOURSE_SERIAL") == "1"
    env = dict(os.environ, DOCKERCOURSE_LEFTOVERS_CHECK="runner", DOCKERCOURSE_GRADING_WAIT="1")
    t0 = time.monotonic()
    unit, *rest = sessions()
    if os.environ.get("DOCKERCOURSE_SESSIONS"):  # e.g. "suite,current-engine": the others are not run
        picked = set(os.environ["DOCKERCOURSE_SESSIONS"].split(","))
        rest = [s for s in rest if s.name in picked or s.name == "suite"]
    with contextlib.suppress(OSError, ValueError):  # make test-unit ran just before (make test)
        unit.rc, unit.wall_s, unit.cpu_s = json.loads(unit.times.read_text()).values()
    before = set(engine.leftovers())
    suite = rest[-1]
    for s in rest:
        if s.beside:
            s.start(args, env)
            if serial:
                s.wait()
    print(f"== {suite.title}", flush=True)
    suite.start(args, env)
    wait_until_ended(rest, suite)
    for s in rest:
        if s.beside:
            wait_until_ended(rest, s)
            print(f"\n== {s.title} (ran beside the suite; log {s.log})", flush=True)
            print(s.log.read_text(errors="replace"), flush=True)
    left = sorted(set(engine.leftovers()) - before)
    if left:
        print(f"ERROR: labelled containers left behind by this run: {', '.join(left)}")
    print("\n" + report([unit, *rest], time.monotonic() - t0), flush=True)
    return 1 if (any(s.rc for s in rest) or left) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
