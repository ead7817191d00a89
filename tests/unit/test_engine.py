"""dockercourse.engine: pure parsing on fixtures, then the real daemon."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dockercourse import engine
from tests.utils import paths
from tests.utils.notebook_runner import NO_DAEMON

FIXTURES = paths.FIXTURES / "engine"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_labels_and_names_are_prefixed():
    assert engine.labels() == {"dockercourse": "1"}
    assert engine.labels(purpose="demo") == {"dockercourse": "1", "dockercourse.purpose": "demo"}
    assert engine.name("nb02", "oom") == "dockercourse-nb02-oom"
    assert engine.name("x", "") == "dockercourse-x"


@pytest.mark.parametrize(
    "fixture, cgroup, driver, rootless, desktop, arch",
    [
        ("info_v1_debian.json", "1", "cgroupfs", False, False, "linux/x86_64"),
        ("info_v2_desktop.json", "2", "cgroupfs", False, True, "linux/aarch64"),
        ("info_v2_rootless.json", "2", "systemd", True, False, "linux/x86_64"),
    ],
)
def test_facts_from_info(fixture, cgroup, driver, rootless, desktop, arch):
    facts = engine.facts_from_info(load(fixture), load("version.json"))
    assert facts["cgroup_version"] == cgroup
    assert facts["cgroup_driver"] == driver
    assert facts["rootless"] is rootless
    assert facts["docker_desktop"] is desktop
    assert facts["os_arch"] == arch
    assert facts["api_version"] == "1.47"


def test_base_image_kind():
    assert "absente" in engine.base_image_kind(None)
    standin = {"Config": {"Labels": {"dockercourse.standin": "1"}}}
    assert "copie locale" in engine.base_image_kind(standin)
    assert "stand-in" not in engine.base_image_kind(standin)  # no build jargon in student text
    assert max(len(engine.base_image_kind(a)) for a in (None, standin, {"Config": {}})) <= 50  # never cut
    assert "officielle" in engine.base_image_kind({"Config": {"Labels": None}})


def test_root_is_block_device():
    vm = "/dev/vda / ext4 rw 0 0\nproc /proc proc rw 0 0\n"
    container = "overlay / overlay rw,lowerdir=/var/lib/docker/overlay2/l/X 0 0\nproc /proc proc rw 0 0\n"
    assert engine.root_is_block_device(vm)
    assert not engine.root_is_block_device(container)


def test_unreachable_message_names_docker_host(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://192.0.2.1:2375")
    msg = engine._unreachable_message()
    assert "DOCKER_HOST=tcp://192.0.2.1:2375" in msg and "démon Docker" in msg


def test_looks_unreachable():
    assert engine._looks_unreachable("Cannot connect to the Docker daemon at unix:///x.sock. "
                                     "Is the docker daemon running?")
    assert not engine._looks_unreachable("Error: No such container: foo")


def test_stale_pidfile_removed_live_one_kept(tmp_path):
    stale, live = tmp_path / "stale.pid", tmp_path / "live.pid"
    stale.write_text("999999999")
    live.write_text(str(os.getpid()))
    removed = engine.remove_stale_pidfiles([str(stale), str(live), str(tmp_path / "missing.pid")])
    assert removed == [str(stale)]
    assert not stale.exists() and live.exists()


def test_cli_without_daemon_fails_clearly():
    env = dict(os.environ, DOCKER_HOST=NO_DAEMON)
    proc = subprocess.run([sys.executable, "-m", "dockercourse", "describe"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "démon Docker ne répond pas" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "dockercourse", "engine"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "DOCKER_HOST" in proc.stderr


def test_a_relative_state_folder_is_made_absolute(tmp_path, monkeypatch):
    """`DOCKERCOURSE_STATE=.state` (as docs/benchmarks.md writes it): the class command bind-mounts
    the current engine's root from there inside each sandbox, where the working folder differs."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCKERCOURSE_STATE", ".state")
    assert engine.state_dir() == tmp_path / ".state"


def test_a_session_helper_waits_for_the_sessions_base_image(tmp_path, monkeypatch, capsys):
    """In a class server session the base image is loaded in the background as the session starts: the
    course's helpers wait for the loader's marker (ready or failed), saying so in French, and give up
    after their timeout; outside a session they never wait (a clock that moves only when they sleep)."""
    from types import SimpleNamespace

    from dockercourse import waiting

    clock = SimpleNamespace(now=0.0, on_sleep=lambda: None)

    def sleep(s):
        clock.now += s
        clock.on_sleep()

    monkeypatch.setattr(waiting, "time", SimpleNamespace(monotonic=lambda: clock.now, sleep=sleep))
    monkeypatch.setenv("DOCKERCOURSE_STATE", str(tmp_path))
    monkeypatch.delenv("DOCKERCOURSE_HUB_BASE_TAR", raising=False)
    assert engine.wait_for_session_base() is True and clock.now == 0 and capsys.readouterr().out == ""

    monkeypatch.setenv("DOCKERCOURSE_HUB_BASE_TAR", "/srv/base.tar")
    for marker, after in ((engine.SESSION_BASE_READY, 7.0), (engine.SESSION_BASE_FAILED, 3.0)):
        clock.now = 0.0
        clock.on_sleep = lambda m=marker, t=after: clock.now >= t and (tmp_path / m).write_text("ok\n")
        assert engine.wait_for_session_base() is True
        assert after <= clock.now < after + 1, clock.now
        out = capsys.readouterr().out
        assert "charge l'image de base python:3.13-slim" in out, out
        assert ("prête en" if marker == engine.SESSION_BASE_READY else "a échoué") in out, out
        assert engine.wait_for_session_base() is True and capsys.readouterr().out == ""  # ended: no wait
        (tmp_path / marker).unlink()

    clock.now, clock.on_sleep = 0.0, lambda: None
    assert engine.wait_for_session_base(timeout=20) is False and clock.now == pytest.approx(20)
    assert "base-load.log" in capsys.readouterr().out
