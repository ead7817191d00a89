"""benchmarks/cgroup_v2_vm.py: the pure helpers of the cgroup v2 VM harness (no QEMU, no root)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.utils.corpus import MAX, STUDENTS

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("cgroup_v2_vm", ROOT / "benchmarks" / "cgroup_v2_vm.py")
h = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("cgroup_v2_vm", h)
_spec.loader.exec_module(h)


def test_requirements_are_the_projects_runtime_dependencies():
    reqs = h.requirements((ROOT / "pyproject.toml").read_text())
    assert "nbgrader==0.9.6" in reqs and any(r.startswith("docker") for r in reqs)
    assert not any(r.startswith("pytest") for r in reqs)  # the test extra stays on the host


def test_recipe_hash_is_stable_and_follows_every_input():
    files = {"init.sh": b"#!/bin/sh\n", "run.sh": b"echo\n"}
    base = h.recipe_hash(("a", "b"), files, ["x==1"])
    assert base == h.recipe_hash(("b", "a"), dict(reversed(files.items())), ["x==1"])
    assert base != h.recipe_hash(("a", "b", "c"), files, ["x==1"])
    assert base != h.recipe_hash(("a", "b"), {**files, "run.sh": b"echo 2\n"}, ["x==1"])
    assert base != h.recipe_hash(("a", "b"), files, ["x==2"])
    assert base != h.recipe_hash(("a", "b"), files, ["x==1"], version="99")


def test_the_guest_files_are_in_the_recipe():
    names = set(h.guest_files())
    assert {"init.sh", "run.sh", "customize.sh", "dc-harness.service"} <= names


@pytest.mark.parametrize("config", h.CONFIGS)
def test_kernel_cmdline_turns_cgroup_v1_off_and_picks_pid1(config):
    line = h.kernel_cmdline(config)
    assert "cgroup_no_v1=all" in line.split()
    assert f"init={h.INITS[config]}" in line.split()
    assert "console=ttyS0" in line


def test_only_the_systemd_configuration_runs_systemd():
    assert "systemd" in h.INITS["systemd"]
    assert "systemd" not in h.INITS["plain"]
    with pytest.raises(ValueError):
        h.kernel_cmdline("openrc")


def test_qemu_runs_niced_under_tcg_with_two_cpus_and_no_network(tmp_path):
    cmd = h.qemu_command("/usr/bin/qemu-system-x86_64", tmp_path / "vmlinux", tmp_path / "initrd",
                         tmp_path / "disk.img", tmp_path / "share", tmp_path / "cache", "plain")
    assert cmd[:3] == ["nice", "-n", "15"]
    assert cmd[cmd.index("-accel") + 1].startswith("tcg")
    assert cmd[cmd.index("-smp") + 1] == "2"
    assert cmd[cmd.index("-nic") + 1] == "none"
    assert int(cmd[cmd.index("-m") + 1]) > 3072 + 1024  # the sandbox's 3 GiB and the rest
    shares = [a for i, a in enumerate(cmd) if cmd[i - 1] == "-virtfs"]
    assert any("mount_tag=dcshare" in s for s in shares)
    assert any("mount_tag=dccache" in s and "readonly=on" in s for s in shares)
    assert "cgroup_no_v1=all" in cmd[cmd.index("-append") + 1]


def test_progress_lines_name_the_finished_student():
    line = "▕████████████░░░░░░░░░░░░▏   1/2   812.4 s  reference-solution : 27/27"
    assert h.finished_student(line) == "reference-solution"
    assert h.finished_student("▕█▏   2/2  1.0 s  memory-hog-at-import : 11/27  ⚠️ 1 signalement(s)") \
        == "memory-hog-at-import"
    assert h.finished_student("  reference-solution : exécution du notebook pour les retours…") is None


def test_engine_sessions_go_to_the_student_graded_then():
    sessions = [{"first_seen": 5.0, "n": 1}, {"first_seen": 300.0, "n": 2}, {"first_seen": 900.0, "n": 3}]
    finished = [(250.0, "a"), (700.0, "b")]
    out = h.assign_sessions(sessions, finished)
    assert [s["n"] for s in out["a"]] == [1]
    assert [s["n"] for s in out["b"]] == [2]
    assert [s["n"] for s in out["?"]] == [3]  # an engine seen after the last student: not theirs


def test_compare_reports_only_differing_asserted_cells():
    expected = {"test_http": 2.0, "test_arret": None, "test_env": 1.0}
    assert h.compare(expected, {"test_http": 2.0, "test_arret": 0.0, "test_env": 1.0}) == []
    bad = h.compare(expected, {"test_http": 0.0, "test_env": None})
    assert len(bad) == 2 and bad[0].startswith("test_http: 2 attendu, 0 obtenu")


def test_table_rows_from_a_result():
    exp = STUDENTS["reference-solution"].expected
    result = {"students": [{
        "name": "reference-solution", "expected": exp, "got": dict(exp), "flags": [], "seconds": 812.3,
        "engine": {"CgroupVersion": "2", "CgroupDriver": "cgroupfs"},
        "cgroup": {"controllers": ["cpu", "memory", "pids"], "limits": "mem 3G swap 0M pids 2048 cpu 100000 100000",
                   "child_groups": 0}}]}
    (row,) = h.table_rows(result)
    assert len(row) == len(h.TABLE_HEADER)
    assert row[:4] == ["reference-solution", f"{sum(MAX.values()):g}", f"{sum(MAX.values()):g}", "✓"]
    assert row[6] == "v2/cgroupfs" and row[7] == "cpu memory pids"


def test_human_sizes():
    assert h._human(str(3 * 2**30)) == "3G"
    assert h._human("0") == "0M"
    assert h._human("max") == "max"
    assert h._human(None) == "?"


def test_course_files_are_the_worktrees_without_ignored_ones():
    files = h.course_files(ROOT)
    assert "benchmarks/cgroup_v2_vm.py" in files and "src/dockercourse/grading/sandbox.py" in files
    assert not any(f.startswith((".venv/", ".state/")) for f in files)


def test_the_time_scale_shim_scales_the_checks_limits_in_a_fresh_interpreter():
    import subprocess

    code = ("import sys; sys.path.insert(0, 'benchmarks/cgroup_v2_guest'); import dcvm_timescale as t; "
            "t.install(10.0)\n"
            "from dockercourse.grading import build, checks, containers, kernel, sandbox\n"
            "print(checks.PROBE_TIMEOUT_S, containers.READY_TIMEOUT_S, kernel.BUILD_TIMEOUT_S, "
            "checks.probe_app.__defaults__[-1], containers.wait_ready.__defaults__[0], sandbox.Limits().phase_a_s, "
            "sandbox.Limits().wall_s)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["100.0", "150.0", "3000.0", "100.0", "150.0", "3000.0", "600.0"]


def test_the_time_scale_shim_does_nothing_without_its_file(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks" / "cgroup_v2_guest"))
    try:
        import dcvm_timescale
    finally:
        sys.path.remove(str(ROOT / "benchmarks" / "cgroup_v2_guest"))
    assert dcvm_timescale.read_scale(str(tmp_path / "absent")) == 1.0
    (tmp_path / "scale").write_text("0.5\n")
    assert dcvm_timescale.read_scale(str(tmp_path / "scale")) == 1.0  # never faster than a real host
    (tmp_path / "scale").write_text("10\n")
    assert dcvm_timescale.read_scale(str(tmp_path / "scale")) == 10.0


def test_image_recipe_ignores_the_runtime_shim():
    assert "dcvm_timescale.py" not in h.guest_files()
