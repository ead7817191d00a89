"""``make test``: the suite, the course image's tests and the class-grading tests as three pytest
sessions side by side.

The course image's tests (``-m course_image``) spend minutes building and driving containers; run
after the suite they would add their whole duration to ``make test``. Split by pytest-xdist, they
would also scatter the suite's files over two workers, where files that share container names
(notebook 02 and ``test_isolation.py``, notebook 03 and ``test_architecture.py``) collide. So:

- the suite runs in this process's foreground; ``tests/conftest.py`` orders it so that what uses
  the lecture notebooks' names (the notebooks, and the test files listed there) comes last, and
  takes the notebooks lock (``notebook_runner.notebooks_lock``) from the first of those to the end;
- the course image's session runs beside it (its output goes to ``.state/test-course-image.log``
  and is printed at the end); its steps that run lecture notebooks (inside the course container,
  on the same daemon) come first and take the lock too, so they run while the suite is on its
  other tests, or wait for the suite to finish;
- the class-grading tests (``-m class_grading``: a corpus of students graded in rootless sandboxes,
  which use neither the notebooks' names nor the lock) run beside both, in a third session;
- the "no labelled container left behind" check is made here once, after all of them.

Extra arguments go to both sessions (e.g. ``--nbval-lax`` on another kind of machine).
``DOCKERCOURSE_SERIAL=1`` runs the two sessions one after the other instead (slower, for comparison).
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from pathlib import Path

from dockercourse import engine

ROOT = Path(__file__).resolve().parents[1]


#: The sessions that run beside the suite: (marker, what it is).
BESIDE = [("course_image", "Course image tests"), ("class_grading", "Class grading tests (sandboxes)")]
#: Scheduling priority of a session beside the suite (``nice``; inherited by its sandboxes' engines
#: and containers). The suite mostly waits on Docker (about 1 min of CPU in 4.5 min alone) and is
#: on the critical path, with the course image's last step after it; the class-grading session is
#: CPU-bound with slack, so it yields the cores when the suite needs them.
NICE = {"class_grading": 10}


def main(args: list[str]) -> int:
    before = set(engine.leftovers())
    env = dict(os.environ, DOCKERCOURSE_LEFTOVERS_CHECK="runner")
    t0 = time.monotonic()
    serial = os.environ.get("DOCKERCOURSE_SERIAL") == "1"
    suite_cmd = [sys.executable, "-m", "pytest", "-m", " and ".join(f"not {m}" for m, _ in BESIDE), "--durations=15",
                 *args]
    logs = {m: engine.state_dir() / f"test-{m.replace('_', '-')}.log" for m, _ in BESIDE}
    beside = {}
    if serial:
        suite_rc = subprocess.call(suite_cmd, cwd=ROOT, env=env)
    for marker, _ in BESIDE:
        out = open(logs[marker], "w")
        beside[marker] = subprocess.Popen([sys.executable, "-m", "pytest", "-m", marker, "-p", "no:xdist",
                                           "--durations=10", *args], cwd=ROOT, env=env, stdout=out,
                                          stderr=subprocess.STDOUT,
                                          preexec_fn=functools.partial(os.nice, NICE.get(marker, 0)))
        if serial:
            beside[marker].wait()
    if not serial:
        suite_rc = subprocess.call(suite_cmd, cwd=ROOT, env=dict(env, DOCKERCOURSE_HOLD_NOTEBOOKS_LOCK="1"))
    t_suite = time.monotonic() - t0
    rcs = {m: proc.wait() for m, proc in beside.items()}
    for marker, title in BESIDE:
        print(f"\n== {title} (ran beside the suite; log {logs[marker]})", flush=True)
        print(logs[marker].read_text(errors="replace"), flush=True)
    left = sorted(set(engine.leftovers()) - before)
    if left:
        print(f"ERROR: labelled containers left behind by this run: {', '.join(left)}")
    print(f"suite {t_suite:.0f} s, all sessions {time.monotonic() - t0:.0f} s")
    return 1 if (suite_rc or any(rcs.values()) or left) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
