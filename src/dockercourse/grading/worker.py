"""The worker: one submission graded inside its sandbox, as the slot's unprivileged user.

``python -I -m dockercourse.grading.worker JOB.json`` (executed by :mod:`.enter`) waits for the
sandbox's engine, makes sure the base images are there (the slot's template, else ``docker
load``), then computes the **official results** — the written answers in a throw-away container
(the first the engine starts: one that cannot start it means grading broke, not the student), then
every check out of any kernel, on files read from the notebook without running it — and sends them
on its standard output (:mod:`.protocol`'s marker lines). It then closes that channel, and only
then runs the student's notebook for feedback (:mod:`.feedback`). The class command believes only
what came before the channel closed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .. import engine
from ..waiting import wait_until
from .protocol import (
    PHASE_A_DONE,
    PHASE_MARK,
    RESULT_MARK,
    Job,
    grader_broken_line,
    last_line,
    mark_line,
    parse_mark_line,
)
from .timing import Stopwatch


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _phase(name: str, lap: dict) -> None:
    _emit(mark_line(PHASE_MARK, {"phase": name, **lap}))


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False



def start_engine(job: Job, log) -> None:
    """Wait for the engine :mod:`.enter` launched (the current engine's root), or start the host's
    rootless ``dockerd`` (``DOCKERCOURSE_SANDBOX_ENGINE=host``); raises when it does not answer."""
    slot_dir = Path(job.sandbox)
    if job.engine_root:
        pid = int((slot_dir / "job" / "engine.pid").read_text())

        def exited():
            return not _alive(pid)
    else:
        from .engine_ns import engine_command, engine_env
        from .host import rootless_script

        proc = subprocess.Popen(engine_command(slot_dir, rootless_script(), job.dockerd_args), stdout=log,
                                stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                                env=dict(os.environ, **engine_env(job.isolated_net)))

        def exited():
            return proc.poll() is not None
    sock = slot_dir / "run" / "docker.sock"

    def answers():
        if exited():
            raise RuntimeError("dockerd rootless s'est arrêté au démarrage : "
                               + last_line((slot_dir / "home" / "dockerd.log").read_text(errors="replace")))
        return sock.exists() and subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"],
                                                capture_output=True).returncode == 0

    ok, _ = wait_until(answers, 60, interval=0.1)
    if not ok:
        raise RuntimeError("dockerd rootless ne répond pas après 60 s")


def stop_engine(job: Job, timeout: float = 30) -> None:
    """Stop the sandbox's dockerd cleanly (SIGTERM, then wait for it): its databases are whole."""
    pid = int((Path(job.sandbox) / "run" / "docker.pid").read_text().strip())
    os.kill(pid, signal.SIGTERM)
    stopped, _ = wait_until(lambda: not _alive(pid), timeout, interval=0.1)
    if not stopped:
        raise RuntimeError(f"dockerd ne s'est pas arrêté en {timeout:.0f} s")


def ensure_base(job: Job) -> bool:
    """The base images in the engine: already there on a copy of the template (True), else loaded."""
    if job.base_loaded and subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", engine.BASE_IMAGE],
                                          capture_output=True).returncode == 0:
        return True
    proc = subprocess.run(["docker", "load", "-q", "-i", job.base_tar], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError("docker load de l'image de base a échoué : " + proc.stderr[-300:])
    return False


def official_answers(job: Job, official: dict) -> str:
    """The written answers' official results; their container is the first the engine starts, so
    it also tells whether the engine can run one (returns why not, in French, else '')."""
    from .answers import collect, score_cell
    from .containers import engine_fault

    if not job.answers.get("tests"):
        return engine_fault(engine.client())
    tests = job.answers["tests"]
    names = sorted({n for t in tests.values() for n in t["names"]})
    values, broken = collect(job.answers["sources"], names, engine.BASE_IMAGE)
    if broken:
        return broken
    for grade_id, t in tests.items():
        score, text = score_cell(t["source"], values, t["points"])
        payload = {"check": grade_id, "score": score, "points": t["points"], "text": text.strip(), "kind": "answer"}
        official[grade_id] = payload
        _emit(mark_line(RESULT_MARK, payload))
    return ""


def official_checks(job: Job, project: Path, official: dict) -> None:
    """Every check's official result, from one process (shared build and app), relayed as it comes."""
    cmd = [sys.executable, "-I", "-m", "dockercourse.grading", "check-all", "--project", str(project),
           "--points", json.dumps(job.points)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=sys.stderr, stdin=subprocess.DEVNULL,
                            text=True, cwd=str(project))
    t0 = time.monotonic()
    try:
        for line in proc.stdout:
            result = parse_mark_line(line.rstrip("\n"), RESULT_MARK)
            if result is not None and isinstance(result.get("check"), str):
                _emit(line.rstrip("\n"))
                official[result["check"]] = result
            if time.monotonic() - t0 > job.limits.phase_a_s:
                break
    finally:
        with contextlib.suppress(Exception):
            proc.kill()
        proc.wait()


def worker(job_path: str) -> int:
    """The sandbox user: engine, base images, official results (phase A), then the
    student's notebook (phase B)."""
    job = Job.from_json(Path(job_path).read_text())
    slot_dir = Path(job.sandbox)
    home = slot_dir / "home"
    (home / ".dockercourse").mkdir(parents=True, exist_ok=True)
    log = open(home / "sandbox.log", "a")
    os.dup2(log.fileno(), 2)  # the grader reads stdout only; diagnostics stay in the sandbox
    sys.stderr = open(2, "w", closefd=False)
    official: dict = {}
    broken = ""
    watch = Stopwatch()
    try:
        if job.engine_root:
            from .engine_ns import link_plugins

            link_plugins(home, Path(job.engine_bin))
        start_engine(job, open(home / "dockerd.log", "a"))
        _phase("engine", watch.lap("engine"))
        seeded = ensure_base(job)
        _phase("base", dict(watch.lap("base"), seeded=seeded))
        if job.template_only:
            stop_engine(job)
            (home / "template.ok").write_text("ok\n")
            _emit(mark_line(PHASE_A_DONE))
            return 0
        broken = official_answers(job, official)  # before any check: can this engine run a container?
        _phase("answers", watch.lap("answers"))
        if not broken:
            official_checks(job, slot_dir / "job" / "project", official)
            _phase("checks", watch.lap("checks"))
    except Exception as err:
        _phase("error", {"detail": str(err)[:300]})
        broken = str(err)[:400] or type(err).__name__
    if broken:
        _emit(grader_broken_line(broken))
    official_file = home / ".dockercourse" / "official.json"
    official_file.write_text(json.dumps({"results": official}))
    _phase("A", watch.total())
    _emit(mark_line(PHASE_A_DONE))
    # From here on the student's code runs: the grader's channel is closed first.
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    if broken:  # the submission will be graded again: its notebook would show nothing true
        return 0
    from .feedback import run_notebook

    run_notebook(job, official_file)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python -m dockercourse.grading.worker JOB.json", file=sys.stderr)
        sys.exit(2)
    sys.exit(worker(sys.argv[1]))
