"""A sandbox: one slot where submissions are graded one after the other, each on a fresh disk.

What a slot is (``k``, one per parallel job), set up as root by the class command:

* **identity** — the system user ``dcgrade<k>`` (no login, no home on the host) with its own
  ``/etc/subuid`` range for its rootless engine's containers (:func:`~.host.ensure_user`);
* **disk** — a sparse ext4 image (:attr:`~.protocol.Limits.disk_gib`) loop-mounted on
  ``<root>/slots/<k>``, owned by that user: the only place it can write, apart from private
  size-capped ``/tmp``, ``/var/tmp`` and ``/dev/shm``. Each submission's disk is a whole copy of
  the slot's **template**, whose engine already holds the base images (:meth:`Sandbox.make_template`);
* **limits** — a cgroup around the whole tree (:mod:`.cgroup`) and a wall-time limit;
* **view of the host** and **engine** — made inside by :mod:`.enter` and :mod:`.engine_ns`;
* **network** — with the offline base image, a network namespace of its own holding only ``lo``.

:meth:`Sandbox.run` writes the submission's :class:`~.protocol.Job`, its files and its notebook on
the disk, starts ``unshare … python -m dockercourse.grading.enter``, reads the worker's marker
lines until it says the official results are all sent (:data:`~.protocol.PHASE_A_DONE`), lets the
notebook run for feedback until the worker exits or the wall time, then kills everything in the
slot and returns an :class:`~.protocol.Outcome`. Files written inside are read back as root, never
through a symlink, size-capped.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import selectors
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..errors import SandboxError
from ..waiting import wait_until
from .cgroup import Cgroup
from .engine_ns import DOCKERD_ARGS_ENV
from .enter import root_env
from .feedback import mark_cut
from .host import (  # noqa: F401 (CGROUP_NAME, USER_PREFIX: the names tests and tools read here)
    CGROUP_NAME,
    DEFAULT_ROOT,
    ENGINE_BIN,
    ENGINE_VIEW,
    SUBID_BASE,
    SUBID_SPAN,
    USER_PREFIX,
    buildkit_cli,
    current_engine_root,
    identity_pids,
)
from .host import ensure_user as _ensure_user
from .protocol import Channel, Job, Limits, Outcome, last_line

__all__ = ["CGROUP_NAME", "DEFAULT_ROOT", "DOCKERD_ARGS_ENV", "SUBID_BASE", "USER_PREFIX", "Limits", "Outcome",
           "Sandbox", "SandboxError", "reap_stale_slots"]



class Sandbox:
    """One slot: its user, disk, cgroup and mount namespace. Use as a context manager:
    ``with Sandbox(k, course_root, base_tar=…) as sb: sb.run(job, files, notebook_text)``;
    leaving it kills and removes everything the slot made."""

    def __init__(self, slot: int, course_root: Path, limits: Limits | None = None,
                 root: Path = DEFAULT_ROOT, hidden: list[Path] | None = None, isolated_net: bool = True,
                 base_tar: str = ""):
        self.slot = slot
        self.course_root = Path(course_root).resolve()
        self.limits = limits or Limits()
        self.root = root
        self.hidden = [Path(p).resolve() for p in (hidden or [])]
        self.isolated_net = isolated_net
        self.base_tar = base_tar  # the base archive: which template the slot's disks are copies of
        self.seeded = False
        self.uid, self.gid, self.user = _ensure_user(slot)
        self.dir = root / "slots" / str(slot)
        self.image = root / "slots" / f"{slot}.img"
        self.cgroup = Cgroup(slot, self.limits, (self.uid, self.gid))
        self.engine_source = current_engine_root()
        self.docker_cli = ""
        if self.engine_source is not None:
            from .engine_ns import write_wrappers

            (root / ENGINE_VIEW).mkdir(parents=True, exist_ok=True)
            self.docker_cli = str(write_wrappers(root / ENGINE_BIN, root / ENGINE_VIEW))

    # ---------------------------------------------------------------- lifecycle

    def __enter__(self) -> Sandbox:
        t0 = time.monotonic()
        self.teardown()  # a slot left by an interrupted run
        (self.root / "slots").mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o711)
        os.chmod(self.root / "slots", 0o711)
        self.dir.mkdir(exist_ok=True)
        self.seeded = self._copy_template()
        if not self.seeded:
            self._new_disk()
        self._mount()
        os.chown(self.dir, self.uid, self.gid)
        os.chmod(self.dir, 0o700)
        for d in ("home", "run", "out", "nb"):
            (self.dir / d).mkdir(exist_ok=True)
            os.chown(self.dir / d, self.uid, self.gid)
        os.chmod(self.dir / "run", 0o700)
        (self.dir / "job").mkdir(exist_ok=True)  # root-owned, read-only for the worker
        self.cgroup.create()
        self.setup_lap = {"wall_s": round(time.monotonic() - t0, 2), "seeded": self.seeded}
        return self

    def _new_disk(self) -> None:
        with open(self.image, "wb") as fh:
            fh.truncate(self.limits.disk_gib * 2**30)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1",
                        str(self.image)], check=True, capture_output=True)

    def _mount(self) -> None:
        proc = subprocess.run(["mount", "-o", "loop", str(self.image), str(self.dir)], capture_output=True)
        if proc.returncode != 0 and self.seeded:  # a damaged template: made again by the next run
            self.forget_template()
            self.seeded = False
            self._new_disk()
            proc = subprocess.run(["mount", "-o", "loop", str(self.image), str(self.dir)], capture_output=True)
        if proc.returncode != 0:
            raise SandboxError(f"le disque du bac à sable {self.slot} ne se monte pas : "
                               + proc.stderr.decode(errors="replace")[-300:])

    def __exit__(self, *exc) -> None:
        self.teardown()

    def teardown(self) -> None:
        if os.environ.get("DOCKERCOURSE_SANDBOX_KEEP"):  # debugging: leave the last slot's files
            self.cgroup.remove()
            self._kill_identity()
            return
        self.cgroup.remove()
        self._kill_identity()
        if self.dir.exists() and os.path.ismount(self.dir):
            if subprocess.run(["umount", str(self.dir)], capture_output=True).returncode != 0:
                time.sleep(0.5)
                self._kill_identity()
                subprocess.run(["umount", "-l", str(self.dir)], capture_output=True)
        with contextlib.suppress(OSError):
            self.image.unlink()
        with contextlib.suppress(OSError):
            self.dir.rmdir()

    def _kill_identity(self) -> None:
        """Anything still running as the slot's user or its subordinate ids."""
        for _ in range(20):
            found = identity_pids(self.uid, SUBID_BASE + self.slot * SUBID_SPAN)
            for pid in found:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            if not found:
                return
            time.sleep(0.05)


    def template(self) -> Path | None:
        """This slot's template: a disk image whose engine data root already holds the base images
        (per slot: its files belong to the slot's subordinate ids; per base archive, engine and disk
        size). None until :attr:`base_tar` is known."""
        if not self.base_tar:
            return None
        kind = "current" if self.engine_source is not None else "host"
        return (self.root / "templates" / str(self.slot)
                / f"{Path(self.base_tar).stem}-{kind}-{self.uid}-{self.limits.disk_gib}g.img")

    def _copy_template(self) -> bool:
        """The fresh disk as a copy of the template (instead of an empty file system, then a
        ``docker load`` in the sandbox: about 2 CPU-s and a few seconds less per submission). A whole
        copy of the image, never a link or a shared layer: whatever a submission does to its engine's
        files, or to its disk, changes its own copy only."""
        tpl = self.template()
        if tpl is None or not tpl.is_file():
            return False
        return subprocess.run(["cp", "--sparse=always", str(tpl), str(self.image)],
                              capture_output=True).returncode == 0

    def make_template(self, job: Job, stop=None) -> bool:
        """Make the template once per slot (kept across class runs): before any submission, a sandbox
        whose engine only loads the base archive and stops cleanly; its disk, emptied of everything but
        the engine's data root, becomes ``templates/<slot>/…img`` under the sandboxes' root (root's,
        0700: no sandbox sees it). The slot is made fresh again, from it. False when it could not be
        made (submissions then load the base themselves)."""
        self.base_tar = job.base_tar
        tpl = self.template()
        if tpl.is_file():
            if not self.seeded and (stop is None or not stop.is_set()):
                self.__enter__()
            return self.seeded
        outcome = self.run(dataclasses.replace(job, template_only=True), {}, "{}", stop=stop)
        made = False
        if not outcome.error and not outcome.grader_error and (self.dir / "home" / "template.ok").is_file():
            for d in ("job", "nb", "out", "run", "home"):  # only the engine's data root stays
                for entry in (self.dir / d).iterdir():
                    if not (d == "home" and entry.name == "docker"):
                        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
            made = subprocess.run(["umount", str(self.dir)], capture_output=True).returncode == 0
            if made:
                tpl.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(tpl.parent.parent, 0o700)
                for old in tpl.parent.glob("*.img"):
                    old.unlink()
                self.image.rename(tpl)
                os.chmod(tpl, 0o600)
        self.teardown()
        if stop is None or not stop.is_set():
            self.__enter__()
        return made

    def forget_template(self) -> None:
        """Remove a template an engine could not start from (the next run makes it again)."""
        tpl = self.template()
        if tpl is not None:
            tpl.unlink(missing_ok=True)


    # ---------------------------------------------------------------- one submission

    def _write_job(self, job: Job, files: dict[str, bytes], notebook_text: str) -> Path:
        """The slot's part of the job, then the job, the project's files and the notebook on the
        disk (the job folder root's and read-only for the worker, the notebook the user's)."""
        jobdir = self.dir / "job"
        job.sandbox, job.uid, job.gid, job.user, job.slot = str(self.dir), self.uid, self.gid, self.user, self.slot
        job.limits = self.limits
        job.docker_cli = job.docker_cli or self.docker_cli or buildkit_cli()
        job.dockerd_args = job.dockerd_args or shlex.split(os.environ.get(DOCKERD_ARGS_ENV, ""))
        if self.engine_source is not None:
            job.engine_source, job.engine_root = str(self.engine_source), str(self.root / ENGINE_VIEW)
            job.engine_bin = str(self.root / ENGINE_BIN)
        job.base_loaded = bool(self.seeded and not job.template_only)
        for rel, data in files.items():
            target = jobdir / "project" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data if isinstance(data, bytes) else data.encode())
        (jobdir / "project").mkdir(exist_ok=True)
        nb = self.dir / "nb" / job.notebook_name
        nb.write_text(notebook_text)
        os.chown(nb, self.uid, self.gid)
        (jobdir / "job.json").write_text(job.to_json())
        for p in [jobdir, *jobdir.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        return jobdir / "job.json"

    def run(self, job: Job, files: dict[str, bytes], notebook_text: str, progress=None, stop=None,
            on_notebook=None) -> Outcome:
        """Grade one submission in the slot and collect its outcome. ``progress(check)`` is called
        as each official result arrives, ``on_notebook()`` once the official results are in and the
        student's notebook runs."""
        t0 = time.monotonic()
        job = dataclasses.replace(job)
        job_path = self._write_job(job, files, notebook_text)
        cmd = ["unshare", "--mount", "--propagation", "private", *(["--net"] if self.isolated_net else []),
               sys.executable, "-I", "-m", "dockercourse.grading.enter", str(job_path)]
        channel = Channel(phases={"setup": getattr(self, "setup_lap", {})})
        deadline = t0 + self.limits.wall_s
        cpu_a = None
        with tempfile.TemporaryFile("w+", errors="replace") as err:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, text=True,
                                    start_new_session=True, env=root_env())
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)
                while not channel.done:  # phase A: the worker's marker lines
                    remaining = deadline - time.monotonic()
                    if stop is not None and stop.is_set():
                        break
                    if remaining <= 0:
                        channel.timed_out = True
                        break
                    if not sel.select(timeout=min(remaining, 1.0)):
                        if proc.poll() is not None:
                            break
                        continue
                    line = proc.stdout.readline()
                    if not line:
                        break
                    channel.read(line.rstrip("\n"), progress)
            if channel.done:
                channel.phases["A_s"] = round(time.monotonic() - t0, 2)
                cpu_a = self.cgroup.cpu_seconds()
                if on_notebook and not channel.grader_error:
                    on_notebook()
            # the channel is closed: the notebook (phase B) runs until the worker exits, within its
            # budget seen from here (Limits.phase_b_s) and the wall time
            if not channel.timed_out:
                wait_s, bounded = channel.phase_b_wait(self.limits, deadline - time.monotonic())
                ended, _ = wait_until(lambda: proc.poll() is not None or (stop is not None and stop.is_set()),
                                      wait_s, interval=0.2)
                if not ended:
                    channel.feedback_cut, channel.timed_out = bounded, not bounded
            if channel.done:
                channel.phases["B_s"] = round(time.monotonic() - t0 - channel.phases["A_s"], 2)
            outcome = self._collect(proc, job, channel, cpu_a, err, t0)
        return outcome

    def _collect(self, proc, job: Job, channel: Channel, cpu_a, err, t0: float) -> Outcome:
        """Measure the slot, kill everything in it, read back what it wrote."""
        phases = channel.phases
        peak, ooms, cpu = self.cgroup.memory_peak_mib(), self.cgroup.oom_kills(), self.cgroup.cpu_seconds()
        if cpu is not None:
            phases["cpu_s"] = round(cpu, 1)
            if channel.done and cpu_a is not None:
                phases["B"] = {"wall_s": phases["B_s"], "cpu_s": round(cpu - cpu_a, 2)}
        with contextlib.suppress(Exception):
            os.killpg(proc.pid, signal.SIGKILL)
        self.cgroup.kill()
        self._kill_identity()
        with contextlib.suppress(Exception):
            proc.wait(timeout=10)
        notebook = self._read_output(job.notebook_name)
        if channel.feedback_cut:
            phases["B_cut"] = True
            if notebook is not None:
                mark_cut(notebook, None, self.limits.feedback_s)
        with contextlib.suppress(ValueError, TypeError, AttributeError):  # diagnostics written by the sandbox
            import json

            timings = json.loads((self._safe_read("out", "timings.json", 200_000) or b"{}").decode())
            if isinstance(timings, dict):
                phases["notebook"] = timings
        inner = (self._safe_read("home", "sandbox.log", 6000) or b"").decode(errors="replace")
        err.seek(0)
        log_tail = (err.read()[-3000:] + "\n" + inner).strip()
        error = ""
        if not channel.done and not channel.results:
            error = ("le bac à sable n'a rendu aucun résultat"
                     + (" dans le temps imparti" if channel.timed_out else "") + " : " + last_line(log_tail))
        phases["total_s"] = round(time.monotonic() - t0, 2)
        return Outcome(channel.results, notebook, time.monotonic() - t0, channel.timed_out, error,
                       channel.grader_error, peak, ooms, phases, log_tail)

    def _safe_read(self, folder: str, name: str, limit: int) -> bytes | None:
        """A file the sandbox user wrote, read safely: every process of the slot is dead,
        and neither the folder nor the file may be a symlink (root must not follow one)."""
        d = self.dir / folder
        try:
            if not stat.S_ISDIR(os.lstat(d).st_mode):
                return None
            fd = os.open(d / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                return None
            if st.st_size > limit:
                fh.seek(st.st_size - limit)
            return fh.read(limit)

    def _read_output(self, name: str) -> dict | None:
        """The executed notebook (at most 20 MB), parsed; None if absent or unreadable."""
        data = self._safe_read("out", name, 20_000_001)
        if data is None or len(data) > 20_000_000:
            return None
        try:
            import nbformat

            with contextlib.redirect_stderr(None):
                nb = nbformat.reads(data.decode(errors="replace"), as_version=4)  # multi-line strings joined
        except Exception:  # not a notebook: whatever the sandbox wrote, it is not believed
            return None
        return nb if isinstance(nb, dict) else None


def reap_stale_slots(root: Path = DEFAULT_ROOT) -> list[int]:
    """Tear down every slot an interrupted or killed class command left under ``root`` (its
    processes, cgroup, mount, disk). Call it holding the class command's lock: no slot is in use
    then. A run with more jobs than this one leaves slots this one would never enter."""
    slots = root / "slots"
    if not slots.is_dir():
        return []
    found = sorted({int(p.name.split(".")[0]) for p in slots.iterdir() if p.name.split(".")[0].isdigit()})
    for slot in found:
        Sandbox(slot, root, root=root).teardown()
    return found
