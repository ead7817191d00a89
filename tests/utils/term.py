"""The instructor's term as nbgrader's exchange runs it, for the class-grading tests.

The instructor runs nbgrader's own commands in the course root; every student is a separate
identity: a home of their own (``HOME``), and in it the ``~/.jupyter/nbgrader_config.py`` a
student's machine has (course id, the exchange, ``CourseDirectory.student_id``).

Two ways in for a student, as in a real class:

- nbgrader's command line (``nbgrader fetch_assignment``, ``submit``, ``fetch_feedback``) run
  from their home (:meth:`Student.cli`);
- the JupyterLab *Assignments* panel, whose server extension (nbgrader's ``AssignmentList``)
  fetches, submits and fetches feedback in-process. :func:`assignments_panel` runs that code for
  many students in one interpreter (one ``HOME`` after the other): starting nbgrader's command
  line costs about 2 s, so a class of 20 through the panel costs one start instead of 60.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
#: nbgrader_config.py's course id (the exchange's folder name).
COURSE_ID = "conteneurisation-docker"


def env(home: Path | None = None, exchange: Path | None = None) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ("JUPYTER_CONFIG_DIR", "NBGRADER_EXCHANGE")}
    out["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"  # nbgrader shells out to alembic
    if home is not None:
        out["HOME"] = str(home)
    if exchange is not None:
        out["NBGRADER_EXCHANGE"] = str(exchange)  # read by the course's nbgrader_config.py
    return out


def run(args: list[str], cwd: Path, environ: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=environ, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} (in {cwd}) failed with {proc.returncode}:\n"
                             f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    return proc


@dataclass
class Instructor:
    course: Path
    exchange: Path

    def nbgrader(self, *args: str) -> subprocess.CompletedProcess:
        return run([str(BIN / "nbgrader"), *args], self.course, env(exchange=self.exchange))

    def grade(self, *args: str, timeout: float = 1500) -> subprocess.CompletedProcess:
        """The class command (not checked: tests read its exit code and output)."""
        return subprocess.run([sys.executable, "-m", "dockercourse", "grade", *args, "--course", str(self.course)],
                              cwd=self.course, env=env(exchange=self.exchange), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)


@dataclass
class Student:
    name: str
    home: Path
    exchange: Path

    def __post_init__(self) -> None:
        config = self.home / ".jupyter" / "nbgrader_config.py"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(textwrap.dedent(f"""\
            c = get_config()
            c.CourseDirectory.course_id = {COURSE_ID!r}
            c.CourseDirectory.student_id = {self.name!r}
            c.Exchange.root = {str(self.exchange)!r}
            """))

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return run([str(BIN / "nbgrader"), *args], self.home, env(home=self.home))

    def notebook(self, assignment: str, name: str) -> Path:
        return self.home / assignment / name

    def feedback(self, assignment: str, name: str) -> list[Path]:
        """The feedback pages fetched so far (one folder per submission that got feedback)."""
        return sorted((self.home / assignment / "feedback").glob(f"*/{name}"))


PANEL = """
import json, os, sys
from nbgrader.server_extensions.assignment_list.handlers import AssignmentList

done = {}
for home, action, course_id, assignment in json.loads(sys.argv[1]):
    os.environ["HOME"] = home  # jupyter_config_path() reads it on every call
    os.chdir(home)
    panel = AssignmentList()
    panel.root_dir = home
    result = getattr(panel, action)(course_id, assignment)
    done[home] = result.get("value", "") if not result["success"] else ""
print(json.dumps(done))
"""


def assignments_panel(students: list[Student], action: str, assignment: str) -> None:
    """``action`` (``fetch_assignment``, ``submit_assignment``, ``fetch_feedback``) for each
    student, through the code behind JupyterLab's Assignments panel."""
    jobs = [(str(s.home), action, COURSE_ID, assignment) for s in students]
    proc = run([sys.executable, "-c", PANEL, json.dumps(jobs)], students[0].home.parent, env())
    failed = {home: err for home, err in json.loads(proc.stdout.splitlines()[-1]).items() if err}
    assert not failed, f"{action} failed in the Assignments panel: {json.dumps(failed, indent=1)[-3000:]}"
