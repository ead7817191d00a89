"""dockercourse.engine: pure parsing on fixtures, then the real daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from notebook_runner import NO_DAEMON, cell_texts, run_notebook

from dockercourse import engine

FIXTURES = Path(__file__).parent / "fixtures" / "engine"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


# --------------------------------------------------------------------------- pure


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


# --------------------------------------------------------------------------- live daemon



@pytest.mark.docker
def test_ensure_engine_is_idempotent(docker_client):
    assert engine.ensure_engine() == "running"


@pytest.mark.docker
def test_describe_matches_the_daemon(docker_client):
    table = engine.describe()
    info = docker_client.info()
    values = table["valeur"]
    assert values["Serveur (dockerd)"] == docker_client.version()["Version"]
    assert values["cgroups : version"] == str(info.get("CgroupVersion") or "1")
    assert values["Pilote de stockage"] == info["Driver"]
    assert values["Docker rootless"] in ("oui", "non")
    assert values["Docker Hub joignable"] == ("oui" if engine.docker_hub_reachable() else "non")
    # make test prepared the base image: real or stand-in, never absent
    assert "absente" not in values[f"Image de base {engine.BASE_IMAGE}"]
    cli = subprocess.run(["docker", "version", "--format", "{{.Client.Version}}"],
                         capture_output=True, text=True).stdout.strip()
    assert values["Client docker (CLI)"] == cli


@pytest.mark.docker
def test_docker_cli_echoes_command_and_output(docker_client, capsys):
    engine.docker("run", "--rm", "--label", "dockercourse=1", "--name", engine.name("test-echo"),
                  engine.BASE_IMAGE, "echo", "bonjour")
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("$ docker run --rm")
    assert "bonjour" in out.splitlines()


@pytest.mark.docker
def test_clean_removes_only_selected_labelled_objects(docker_client):
    sel = {"dockercourse.purpose": "test-clean"}
    labelled = docker_client.containers.create(engine.BASE_IMAGE, "true", name=engine.name("test-clean-a"),
                                               labels={**engine.labels(), **sel})
    other = docker_client.containers.create(engine.BASE_IMAGE, "true", name="not-course-test-clean-b")
    vol = docker_client.volumes.create(engine.name("test-clean-vol"), labels={**engine.labels(), **sel})
    try:
        counts = engine.clean(selector="dockercourse.purpose=test-clean")
        names = {c.name for c in docker_client.containers.list(all=True)}
        assert labelled.name not in names
        assert other.name in names
        assert counts["containers"] == 1 and counts["volumes"] == 1
        assert vol.name not in {v.name for v in docker_client.volumes.list()}
    finally:
        other.remove(force=True)
        for obj in (labelled, vol):
            try:
                obj.remove(force=True)
            except Exception:
                pass


# --------------------------------------------------------------------------- no daemon


def test_needs_docker_prints_one_french_sentence(monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", NO_DAEMON)
    monkeypatch.setattr(engine, "_client", None)
    assert engine.describe() is None
    assert engine.docker("ps") is None
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2
    assert all("démon Docker ne répond pas" in line for line in out)


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


def test_notebook_00_without_a_daemon_says_so_in_french():
    nb = run_notebook(Path(__file__).parents[1] / "notebooks" / "00_demarrage.ipynb",
                      env={"DOCKER_HOST": NO_DAEMON})
    texts = [t for t in cell_texts(nb) if t.strip()]
    assert len(texts) == 4  # describe, docker run, docker ps, the exercise's docker run: one sentence each
    for text in texts:
        assert text.count("\n") == 1 and "démon Docker ne répond pas" in text, text


@pytest.mark.docker
def test_remove_container_touches_only_course_containers(docker_client):
    ours = docker_client.containers.create(engine.BASE_IMAGE, "true", name=engine.name("test-remove"))
    other = docker_client.containers.create(engine.BASE_IMAGE, "true", name="not-course-test-remove")
    try:
        assert engine.remove_container(ours.name) is True
        assert engine.remove_container(ours.name) is False  # already gone
        assert engine.remove_container(other.name) is False
        assert other.name in {c.name for c in docker_client.containers.list(all=True)}
    finally:
        other.remove(force=True)
        engine.remove_container(ours.name)
