"""Where a submission's time goes (dockercourse.grading.timing): the cgroup CPU counter of a
process, read from /proc/<pid>/cgroup text and the counter files of cgroup v1 and v2."""

from __future__ import annotations

from pathlib import Path

from dockercourse.grading import timing

V1 = """9:name=systemd:/
8:pids:/dockercourse-grading/slot0
2:cpuacct:/dockercourse-grading/slot0
1:cpu:/dockercourse-grading/slot0
0::/
"""
V1_JOINED = "4:cpu,cpuacct:/dockercourse-grading/slot1\n"
V2 = "0::/dockercourse-grading/slot2\n"


def test_the_counter_of_a_v1_cgroup_is_cpuacct_usage(tmp_path):
    (tmp_path / "cpuacct").mkdir()
    assert timing.cpu_counter_file(V1, False, tmp_path) == tmp_path / "cpuacct/dockercourse-grading/slot0/cpuacct.usage"
    (tmp_path / "cpu,cpuacct").mkdir()
    assert timing.cpu_counter_file(V1_JOINED, False, tmp_path) == (
        tmp_path / "cpu,cpuacct/dockercourse-grading/slot1/cpuacct.usage")


def test_the_counter_of_a_v2_cgroup_is_cpu_stat():
    assert timing.cpu_counter_file(V2, True, Path("/sys/fs/cgroup")) == Path(
        "/sys/fs/cgroup/dockercourse-grading/slot2/cpu.stat")
    assert timing.cpu_counter_file(V1, True) == Path("/sys/fs/cgroup/cpu.stat")  # hybrid: the unified root
    assert timing.cpu_counter_file("", True) is None


def test_counter_files_are_read_in_seconds():
    assert timing.parse_cpu_counter("cpuacct.usage", "2500000000\n") == 2.5
    assert timing.parse_cpu_counter("cpu.stat", "usage_usec 1503204\nuser_usec 1000000\n") == 1.503204
    assert timing.parse_cpu_counter("cpu.stat", "nr_periods 3\n") is None
    assert timing.parse_cpu_counter("cpuacct.usage", "garbage") is None


def test_a_stopwatch_lap_is_what_was_spent_since_the_previous_one():
    readings = iter([10.0, 12.5, 13.0, 20.0])
    watch = timing.Stopwatch(cpu=lambda: next(readings))
    assert watch.lap("a")["cpu_s"] == 2.5
    assert watch.lap("b")["cpu_s"] == 0.5
    assert watch.total()["cpu_s"] == 10.0
    assert set(watch.laps) == {"a", "b"}
    assert timing.Stopwatch(cpu=lambda: None).lap("x") == {"wall_s": 0.0, "cpu_s": None}
