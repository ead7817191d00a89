"""dockercourse.scratch: a container made by hand (unshare + overlay + chroot + cgroup)."""
from __future__ import annotations

import pytest

from dockercourse import engine, scratch

pytestmark = [pytest.mark.root, pytest.mark.lecture_names]  # the rootfs is exported as dockercourse-nb02-export


def test_rootfs_is_cached(docker_client):
    a = scratch.rootfs()
    assert (a / "usr/bin/python3").exists() and (a / ".complete").exists()
    assert docker_client.images.get(engine.BASE_IMAGE).id in (a / ".complete").read_text()
    assert scratch.rootfs() == a
    assert not docker_client.containers.list(all=True, filters={"name": engine.name("nb02", "export")})


def test_hand_made_container_isolation(docker_client):
    res = scratch.run(["python3", "-c", scratch.probe_source()])
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
    assert res.traces == [] and res.scratch_dir.startswith("/")


def test_hand_made_container_memory_limit(docker_client):
    res = scratch.run(["python3", "-c", scratch.ALLOC], memory="48m")
    assert res.returncode == 137
    assert res.killed_by_oom and res.memory_events["oom_kill"] >= 1
    assert res.memory_limit_mib == 48 and res.memory_peak_mib >= 0.9 * 48
    assert res.traces == []


def test_timeout_kills_and_cleans_up(docker_client):
    res = scratch.run(["sleep", "30"], timeout=1)
    assert res.returncode == 137
    assert res.traces == []
