"""The class command's slots: ``--jobs`` sandboxes, each taking one submission after another.

:class:`SlotPool` makes its slots at once (each with its engine's template, :meth:`~.sandbox.Sandbox.make_template`)
on the threads of the class command's :class:`~concurrent.futures.ThreadPoolExecutor`, while
nbgrader prepares the submissions; :meth:`SlotPool.grade` then runs one submission on a free slot,
tears the slot down and gives it back, to be made fresh for its next submission. A slot that
cannot start is reported and left out: the others take its submissions; when none is left, a
submission gets ``None`` (no sandbox could take it). :meth:`SlotPool.close` stops the slots and
removes everything they made.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path

from .protocol import Job, Limits, Outcome


class SlotPool:
    """``size`` sandboxes shared by the threads of an executor (see the module docstring)."""

    def __init__(self, size: int, course_root: Path, limits: Limits, hidden: list[Path], base_job: Job,
                 stop: threading.Event, quiet: bool = False):
        self.size, self.course_root, self.limits, self.hidden = size, course_root, limits, hidden
        self.base_job, self.stop, self.quiet = base_job, stop, quiet
        self._cond = threading.Condition()
        self._free: list = []  # (sandbox, needs to be made fresh)
        self._alive = size  # slots being made, free or grading
        self._made: list = []

    def _say(self, line: str) -> None:
        if not self.quiet:
            print(line, flush=True)

    # ---------------------------------------------------------------- slots

    def start(self, executor: Executor) -> None:
        """Make every slot on the executor's threads (before any submission queued after this)."""
        for slot in range(self.size):
            executor.submit(self._make, slot)

    def _make(self, slot: int) -> None:
        from .sandbox import Sandbox

        try:
            sb = Sandbox(slot, self.course_root, self.limits, hidden=self.hidden,
                         isolated_net=self.base_job.isolated_net, base_tar=self.base_job.base_tar)
            with self._cond:
                self._made.append(sb)
            sb.__enter__()
            if not sb.make_template(self.base_job, stop=self.stop) and not self.stop.is_set():
                self._say(f"  bac à sable {slot} : pas de modèle de moteur, l'image de base sera chargée à chaque "
                          "copie")
        except Exception as err:
            self._lost(err)
            return
        self._give_back(sb, fresh=True)

    def _lost(self, err: Exception) -> None:
        self._say(f"⚠️  un bac à sable n'a pas démarré : {err}")
        with self._cond:
            self._alive -= 1
            self._cond.notify_all()

    def _give_back(self, sb, fresh: bool) -> None:
        with self._cond:
            self._free.append((sb, fresh))
            self._cond.notify_all()

    def _take(self):
        """A slot ready for a submission, or None when stopping or when no slot is left."""
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._free or not self._alive or self.stop.is_set())
                if self.stop.is_set() or not self._free:
                    return None
                sb, fresh = self._free.pop(0)
            if fresh:
                return sb
            try:
                sb.__enter__()  # a fresh disk, engine and cgroup for this submission
                return sb
            except Exception as err:
                self._lost(err)

    # ---------------------------------------------------------------- submissions

    def grade(self, job: Job, files: dict, notebook_text: str, on_notebook: Callable[[], object] | None = None):
        """One submission on a free slot: its :class:`~.protocol.Outcome`, the exception its sandbox
        raised, or None when no slot could take it (or the pool is stopping)."""
        sb = self._take()
        if sb is None:
            return None
        try:
            outcome = sb.run(job, files, notebook_text, stop=self.stop, on_notebook=on_notebook)
        except Exception as err:  # one student's failure stays theirs
            outcome = err
        if getattr(outcome, "grader_error", ""):  # its engine broke: the next run makes a new template
            sb.forget_template()
        if self.stop.is_set():
            return outcome
        t0 = time.monotonic()
        try:
            sb.teardown()
        except Exception as err:  # the outcome stands; the slot is left out
            self._lost(err)
            return outcome
        if isinstance(outcome, Outcome):
            outcome.phases["teardown"] = {"wall_s": round(time.monotonic() - t0, 2)}
        self._give_back(sb, fresh=False)
        return outcome

    def halt(self) -> None:
        """Stop: running sandboxes end, no submission takes a slot any more."""
        self.stop.set()
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        """Tear down every slot made (after the executor's threads have ended)."""
        with self._cond:
            made = list(self._made)
        for sb in made:
            sb.teardown()
