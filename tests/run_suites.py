"""``make test``: the suite and the course image's tests as two pytest sessions side by side.

The course image's tests (``-m course_image``) spend minutes building and driving containers; run
after the suite they would add their whole duration to ``make test``. Split by pytest-xdist, they
would also scatter the suite's files over two workers, where files that share container names
(notebook 02 and ``test_isolation.py``, notebook 03 and ``test_architecture.py``) collide. So:

- the suite runs in this process's foreground, in order, as before, and holds the notebooks lock
  (``notebook_runner.notebooks_lock``) for its whole duration;
- the course image's session runs beside it (its output goes to ``.state/test-course-image.log``
  and is printed at the end); its steps that run lecture notebooks (inside the course container,
  on the same daemon) take the lock, so they wait for the suite to finish;
- the "no labelled container left behind" check is made here once, after both.

Extra arguments go to both sessions (e.g. ``--nbval-lax`` on another kind of machine).
``DOCKERCOURSE_SERIAL=1`` runs the two sessions one after the other instead (slower, for comparison).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from dockercourse import engine

ROOT = Path(__file__).resolve().parents[1]


def main(args: list[str]) -> int:
    before = set(engine.leftovers())
    log = engine.state_dir() / "test-course-image.log"
    env = dict(os.environ, DOCKERCOURSE_LEFTOVERS_CHECK="runner")
    t0 = time.monotonic()
    serial = os.environ.get("DOCKERCOURSE_SERIAL") == "1"
    with open(log, "w") as out:
        if serial:
            suite_rc = subprocess.call([sys.executable, "-m", "pytest", "-m", "not course_image", *args],
                                       cwd=ROOT, env=env)
        image = subprocess.Popen([sys.executable, "-m", "pytest", "-m", "course_image", "-p", "no:xdist",
                                  "--durations=10", *args], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        if not serial:
            suite_rc = subprocess.call([sys.executable, "-m", "pytest", "-m", "not course_image", *args], cwd=ROOT,
                                       env=dict(env, DOCKERCOURSE_HOLD_NOTEBOOKS_LOCK="1"))
        t_suite = time.monotonic() - t0
        image_rc = image.wait()
    print(f"\n== Course image tests (ran beside the suite; log {log})", flush=True)
    print(log.read_text(errors="replace"), flush=True)
    left = sorted(set(engine.leftovers()) - before)
    if left:
        print(f"ERROR: labelled containers left behind by this run: {', '.join(left)}")
    print(f"suite {t_suite:.0f} s, both sessions {time.monotonic() - t0:.0f} s")
    return 1 if (suite_rc or image_rc or left) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
