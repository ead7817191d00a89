"""dockercourse.scratch: a container made by hand (unshare + overlay + chroot + cgroup)."""

from __future__ import annotations

import signal

from dockercourse import engine, scratch
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


def test_rootfs_is_cached(docker_client):
    a = scratch.rootfs()
    assert (a / "usr/bin/python3").exists() and (a / ".complete").exists()
    assert docker_client.images.get(engine.BASE_IMAGE).id in (a / ".complete").read_text()
    assert scratch.rootfs() == a
    assert not docker_client.containers.list(all=True, filters={"name": engine.name("nb02", "export")})


def test_hand_made_container_isolation(docker_client):
    res = scratch.run(["python3", "-c", scratch.PROBE])
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "PID 1 : python3 | mon PID : 1"
    assert "nom d'hôte : scratch" in lines
    assert "interfaces réseau : lo" in lines
    assert "système : Debian GNU/Linux 13 (trixie)" in lines
    assert "processus visibles : [1]" in lines
    assert lines[5].startswith("racine changée par : pivot_root | points de montage visibles : /, /proc, /dev")
    assert res.written_files == ["/root/bonjour.txt"]
    assert not (scratch.rootfs() / "root/bonjour.txt").exists()  # the lower layer is untouched
    assert res.memory_limit_mib == 64
    assert scratch.leftovers() == []


def test_hand_made_container_memory_limit(docker_client):
    res = scratch.run(["python3", "-c", scratch.ALLOC], memory="48m")
    assert res.returncode == 137
    assert res.killed_by_oom and res.memory_events["oom_kill"] >= 1
    assert res.memory_limit_mib == 48 and res.memory_peak_mib >= 0.9 * 48
    assert scratch.leftovers() == []


def test_timeout_kills_and_cleans_up(docker_client):
    res = scratch.run(["sleep", "30"], timeout=1)
    assert res.returncode == 137
    assert scratch.leftovers() == []
