"""The package's one deadline loop (dockercourse.waiting.wait_until)."""

from __future__ import annotations

import pytest

from dockercourse.waiting import wait_until


def test_it_returns_the_first_truthy_value_and_the_time_it_took():
    calls = iter([0, "", "prêt", "jamais"])
    value, seconds = wait_until(lambda: next(calls), 5, interval=0.01)
    assert value == "prêt" and 0 <= seconds < 5


def test_on_timeout_it_returns_the_last_falsy_value_after_one_call_at_the_deadline():
    calls = []
    value, seconds = wait_until(lambda: calls.append(1) or None, 0.05, interval=0.01)
    assert value is None and seconds >= 0.05 and len(calls) >= 2


def test_a_predicate_that_raises_ends_the_wait():
    def boom():
        raise RuntimeError("dockerd s'est arrêté")

    with pytest.raises(RuntimeError):
        wait_until(boom, 5)
