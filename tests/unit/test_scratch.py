"""dockercourse.scratch: a container made by hand (unshare + overlay + chroot + cgroup)."""
from __future__ import annotations

import signal

from dockercourse import scratch
from dockercourse.isolation import MIB


def test_exit_code_mapping():
    assert scratch._exit_code(0) == 0
    assert scratch._exit_code(-9) == 137
    assert scratch._exit_code(1, "unshare: sigprocmask unblock failed: Invalid argument\n") == 128 + signal.SIGKILL
    assert scratch._exit_code(1, "some other error") == 1


def test_bytes():
    assert scratch._bytes("64m") == 64 * MIB
    assert scratch._bytes("1g") == 1024 * MIB
    assert scratch._bytes(4096) == 4096


def test_docker_adds_table():
    t = scratch.docker_adds_table()
    assert {"images", "réseau", "limites", "espaces de noms"} <= set(t.index)
    assert list(t.columns) == ["à la main (ce notebook)", "Docker"]


def test_hand_cgroup_v2_layout(tmp_path):
    """The v2 branch, on a fake v2 root: memory.max and memory.swap.max are written."""
    (tmp_path / "cgroup.controllers").write_text("cpu io memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("cpu memory pids\n")
    cg = scratch.HandCgroup.create(64 * MIB, root=tmp_path)
    assert cg.version == 2 and cg.path.parent == tmp_path
    assert (cg.path / "memory.max").read_text() == str(64 * MIB)
    assert cg.proc_line == f"0::/{cg.path.name}\n"
    for f in cg.path.iterdir():  # a real cgroupfs has no files to delete; a tmp dir does
        f.unlink()
    cg.remove()
    assert not cg.path.exists()


def test_traces_are_this_runs_cgroup_and_folder_still_there(tmp_path):
    cgroup, folder = tmp_path / "dockercourse-scratch-cg", tmp_path / "dockercourse-scratch-dir"
    res = scratch.ScratchResult(command=["true"], returncode=0, stdout="", stderr="", cgroup_version=2,
                                cgroup_path=str(cgroup), memory_limit_mib=64, memory_peak_mib=None,
                                memory_events={}, scratch_dir=str(folder))
    assert res.traces == []
    folder.mkdir()
    assert res.traces == [str(folder)]
    cgroup.mkdir()
    assert res.traces == [str(cgroup), str(folder)]
