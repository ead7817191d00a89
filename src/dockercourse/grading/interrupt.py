"""Ctrl-C during a class command: a gradebook write is never cut in the middle.

:func:`deferred_interrupt` holds SIGINT and SIGTERM while nbgrader writes the gradebook and raises
``KeyboardInterrupt`` right after (exit 130, « Interrompu », nothing left running). Tests make the
interrupt land inside a write for sure with :data:`HOLD_ENV`: the pass then waits there for it
(:func:`test_hold`), printing :data:`HOLD_LINE`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

from ..waiting import wait_until

#: Set (to ``prepare`` or ``record``) by tests only: the pass holds inside its gradebook write
#: until a SIGINT or SIGTERM has arrived, so an interrupt lands there for sure.
HOLD_ENV = "DOCKERCOURSE_TEST_HOLD_GRADEBOOK_WRITE"


#: Printed (with the student) when a held gradebook write waits for its interrupt.
HOLD_LINE = "écriture du carnet de notes en attente d'un Ctrl-C (test)"


_DEFER = {"depth": 0, "got": []}


@contextlib.contextmanager
def deferred_interrupt():
    """A gradebook write is never cut in the middle: SIGINT and SIGTERM received inside
    are held, then raised as ``KeyboardInterrupt`` as soon as the outermost block ends.
    (nbgrader's ``capture_log`` catches everything, ``KeyboardInterrupt`` included: an
    interrupt let through during a pass would be lost.) Re-entrant; main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only
        return
    if _DEFER["depth"]:
        _DEFER["depth"] += 1
        try:
            yield
        finally:
            _DEFER["depth"] -= 1
        return
    got: list[int] = []
    _DEFER.update(depth=1, got=got)
    old = {s: signal.signal(s, lambda signum, frame: got.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        _DEFER.update(depth=0, got=[])
    if got:
        raise KeyboardInterrupt


def test_hold(mode: str, student: str) -> None:
    """Tests only (:data:`HOLD_ENV`): wait, inside the deferred gradebook write, for the
    interrupt the test sends when it reads :data:`HOLD_LINE` (at most 120 s)."""
    if os.environ.get(HOLD_ENV) != mode or not _DEFER["depth"]:
        return
    print(f"  {student} : {HOLD_LINE} ({mode})", flush=True)
    wait_until(lambda: _DEFER["got"], 120, interval=0.05)
