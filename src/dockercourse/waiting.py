"""Waiting for something to happen, one way for the whole package.

:func:`wait_until` calls a predicate until it returns something truthy or a deadline passes, and
says how long it took; every "poll until ready or give up" loop of the course uses it (a daemon
that starts, a registry that answers, an app that listens, a container that settles…).
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.2):
    """Call ``predicate`` until it returns something truthy or ``timeout`` seconds pass.
    Returns ``(value, seconds)``; ``value`` is the last (falsy) one on timeout. The predicate is
    called at least once, and once more at the deadline when the wait would end before it."""
    t0 = time.monotonic()
    while True:
        value = predicate()
        elapsed = time.monotonic() - t0
        if value or elapsed >= timeout:
            return value, elapsed
        time.sleep(min(interval, max(0.0, timeout - elapsed)))
