"""The contract between the grading processes (dockercourse.grading.protocol): the job and the
outcome round-trip through JSON, every marker line has one writer and one reader, and one
function scales a score onto a cell's points."""

from __future__ import annotations

import importlib

import pytest

from dockercourse.grading import protocol
from dockercourse.grading.protocol import Job, Limits, Outcome


def test_a_job_round_trips_through_json_with_its_limits():
    job = Job(notebook_name="tp.ipynb", base_tar="/cache/base.tar", isolated_net=True, hidden=["/cours"],
              points={"http": 2.0}, answers={"sources": ["x = 1"], "tests": {}}, slot=2, uid=993,
              limits=Limits(cell_s=20, feedback_s=45), dockerd_args=["--debug"], base_loaded=True)
    back = Job.from_json(job.to_json())
    assert back == job and isinstance(back.limits, Limits) and back.limits.feedback_s == 45
    assert Job.from_json('{"notebook_name": "a", "base_tar": "b", "unknown": 1}').limits == Limits()


def test_an_outcome_round_trips_through_json():
    out = Outcome({"http": {"check": "http", "score": 2, "points": 2}}, {"cells": []}, 12.5, grader_error="moteur",
                  phases={"A": {"wall_s": 3.0, "cpu_s": 1.0}})
    assert Outcome.from_json(out.to_json()) == out


def test_marker_lines_are_read_back_and_garbage_is_not():
    text = "\n".join(["bruit", protocol.mark_line(protocol.PHASE_MARK, {"phase": "engine", "wall_s": 1.5}),
                      protocol.PHASE_MARK + " {pas du json", protocol.PHASE_MARK + " [1, 2]",
                      protocol.mark_line(protocol.PHASE_A_DONE),
                      protocol.mark_line(protocol.PHASE_MARK, {"phase": "base"})])
    assert protocol.read_marked(text, protocol.PHASE_MARK) == [{"phase": "engine", "wall_s": 1.5}, {"phase": "base"}]
    assert protocol.last_marked(text, protocol.PHASE_MARK) == {"phase": "base"}
    assert protocol.is_mark(protocol.mark_line(protocol.PHASE_A_DONE), protocol.PHASE_A_DONE)
    assert protocol.parse_mark_line(protocol.RESULT_MARK, protocol.RESULT_MARK) is None  # a bare mark is no result
    assert protocol.last_marked("rien", protocol.RESULT_MARK) is None
    # the last marked line is the script's own: a garbled one is not replaced by an earlier line
    assert protocol.last_marked(text + "\n" + protocol.PHASE_MARK + " {", protocol.PHASE_MARK) is None


def test_a_grader_broken_line_carries_one_line_of_french():
    line = protocol.grader_broken_line("le moteur ne démarre pas :\nAPIError")
    assert "\n" not in line and protocol.grader_broken_reason(line) == "le moteur ne démarre pas : APIError"
    empty = protocol.mark_line(protocol.GRADER_BROKEN, {"reason": ""})
    assert protocol.grader_broken_reason(empty) == "(aucun message)"
    assert protocol.grader_broken_reason(protocol.mark_line(protocol.PHASE_MARK, {"reason": "x"})) is None


@pytest.mark.parametrize("script, mark", [("probe_app", "PROBE_MARK"), ("collect_answers", "ANSWERS_MARK"),
                                          ("score_answers", "SCORE_MARK")])
def test_the_scripts_that_run_without_the_package_write_the_protocols_marks(script, mark):
    """They run in containers or a bare interpreter, so they keep their own copy of the mark."""
    module = importlib.import_module(f"dockercourse.grading.{script}")
    assert module.MARK == getattr(protocol, mark)


def test_one_scaling_of_a_score_onto_a_cells_points():
    assert protocol.scale(1, 2, 3) == 1.5
    assert protocol.scale(2, 3, 2) == 1.33
    assert protocol.scale(5, 2, 2) == 2.0 and protocol.scale(-1, 2, 2) == 0.0
    assert protocol.scale(1, 0, 2) == 2.0  # a check worth nothing that passed: the cell's points
    assert protocol.scale("?", 1, 1) == 0.0


def test_the_grader_reads_a_workers_transcript():
    """What the sandbox believes of its worker's lines: phases, the first result of each check,
    why grading broke, and the end of phase A; garbage and a bare result mark are skipped."""
    seen = []
    channel = protocol.Channel()
    for line in ["bruit", protocol.mark_line(protocol.PHASE_MARK, {"phase": "engine", "wall_s": 1.5, "x": [1]}),
                 protocol.result_line({"check": "http", "score": 2, "points": 2}),
                 protocol.result_line({"check": "http", "score": 0, "points": 2}), protocol.RESULT_MARK,
                 protocol.grader_broken_line("moteur\ncassé"), protocol.mark_line(protocol.PHASE_A_DONE)]:
        channel.read(line, seen.append)
    assert channel.phases == {"engine": {"wall_s": 1.5}} and channel.results["http"]["score"] == 2
    assert (channel.grader_error, channel.done, seen) == ("moteur cassé", True, ["http"])


def test_the_last_line_of_a_log_says_why_in_one_line():
    assert protocol.last_line("starting\nerror: no space left on device\n\n  \n") == "error: no space left on device"
    assert protocol.last_line("x" * 500) == "x" * 300
    assert protocol.last_line(None) == protocol.last_line("  \n") == "(aucun message)"


def test_the_host_ends_the_notebook_phase_at_its_budget_not_at_the_wall_time():
    from dockercourse.grading.protocol import Channel

    assert Limits().phase_b_s == 70  # the notebook's 60 s, and 10 s for its kernel's start and the last write
    limits = Limits(feedback_s=60, feedback_slack_s=15)
    assert limits.phase_b_s == 75
    talking = Channel()  # no PHASE_A_DONE yet: only the wall time bounds the wait
    assert talking.phase_b_wait(limits, 400.0) == (400.0, False)
    done = Channel(done=True)  # the official results are in: the notebook gets its budget, no more
    assert done.phase_b_wait(limits, 400.0) == (75, True)
    assert done.phase_b_wait(limits, 30.0) == (30.0, False)  # the wall time comes first: a timeout
    assert done.phase_b_wait(limits, -2.0) == (0.0, False)
    back = Job.from_json(Job(notebook_name="tp.ipynb", base_tar="/base.tar", limits=limits).to_json())
    assert back.limits.phase_b_s == 75
