"""The class command's pool of slots (dockercourse.grading.slots) with stand-in sandboxes: no root,
no disk, no engine. Each slot is made once with its template, torn down after each submission and
made fresh for the next; a slot that cannot start is left out and the others take its work; with
no slot left, a submission gets None (recorded as « aucun bac à sable n'a pu démarrer »)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dockercourse.grading import sandbox, slots
from dockercourse.grading.protocol import Job, Limits, Outcome


class FakeSandbox:
    broken: set[int] = set()  # slots whose disk never mounts
    made: list[int] = []

    def __init__(self, slot, course_root, limits=None, hidden=None, isolated_net=True, base_tar=""):
        self.slot, self.events = slot, []

    def __enter__(self):
        if self.slot in self.broken:
            raise sandbox.SandboxError(f"le disque du bac à sable {self.slot} ne se monte pas")
        self.events.append("enter")
        return self

    def make_template(self, job, stop=None):
        self.events.append("template")
        FakeSandbox.made.append(self.slot)
        return True

    def run(self, job, files, notebook_text, stop=None, on_notebook=None):
        self.events.append("run")
        if on_notebook:
            on_notebook()
        return Outcome({"http": {"check": "http", "score": 1, "points": 1}}, None, 1.0, phases={"slot": self.slot})

    def forget_template(self):
        self.events.append("forget")

    def teardown(self):
        self.events.append("teardown")


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(sandbox, "Sandbox", FakeSandbox)
    FakeSandbox.broken, FakeSandbox.made = set(), []
    return FakeSandbox


def run_pool(size: int, submissions: int, quiet: bool = True):
    pool = slots.SlotPool(size, Path("/cours"), Limits(), [], Job(notebook_name="tp.ipynb", base_tar="/b.tar"),
                          threading.Event(), quiet=quiet)
    with ThreadPoolExecutor(max_workers=size) as executor:
        pool.start(executor)
        futures = [executor.submit(pool.grade, Job(notebook_name="tp.ipynb", base_tar="/b.tar"), {}, "{}")
                   for _ in range(submissions)]
        outcomes = [f.result(timeout=30) for f in futures]
    pool.close()
    return pool, outcomes


def test_each_slot_is_made_once_and_fresh_for_every_submission(fake):
    pool, outcomes = run_pool(2, 5)
    assert all(isinstance(o, Outcome) and "teardown" in o.phases for o in outcomes)
    assert sorted(fake.made) == [0, 1]
    for sb in pool._made:
        runs = sb.events.count("run")
        # made, then for each submission: run, teardown, and made fresh again before the next one
        assert sb.events[:2] == ["enter", "template"] and sb.events.count("enter") == max(runs, 1)
        assert sb.events.count("teardown") == runs + 1  # the last one by close()
    assert sum(sb.events.count("run") for sb in pool._made) == 5


def test_a_slot_that_cannot_start_is_left_out_and_the_others_take_its_work(fake, capsys):
    fake.broken = {1}
    _, outcomes = run_pool(2, 4, quiet=False)
    assert all(isinstance(o, Outcome) and o.phases["slot"] == 0 for o in outcomes)
    assert "un bac à sable n'a pas démarré : le disque du bac à sable 1 ne se monte pas" in capsys.readouterr().out


def test_without_any_slot_every_submission_gets_none(fake):
    fake.broken = {0, 1}
    _, outcomes = run_pool(2, 3)
    assert outcomes == [None, None, None]


def test_a_halted_pool_gives_no_slot(fake):
    pool = slots.SlotPool(1, Path("/cours"), Limits(), [], Job(notebook_name="tp.ipynb", base_tar="/b.tar"),
                          threading.Event())
    pool.halt()
    assert pool.grade(Job(notebook_name="tp.ipynb", base_tar="/b.tar"), {}, "{}") is None
