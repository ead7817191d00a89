"""dockercourse.engine: pure parsing on fixtures, then the real daemon."""
from __future__ import annotations

import subprocess

from dockercourse import engine
from tests.utils.notebook_runner import NO_DAEMON, cell_texts, run_notebook
from tests.utils.paths import NOTEBOOKS


def test_ensure_engine_is_idempotent(docker_client):
    assert engine.ensure_engine() == "running"


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


def test_docker_cli_echoes_command_and_output(docker_client, capsys):
    engine.docker("run", "--rm", "--label", "dockercourse=1", "--name", engine.name("test-echo"),
                  engine.BASE_IMAGE, "echo", "bonjour")
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("$ docker run --rm")
    assert "bonjour" in out.splitlines()


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


def test_needs_docker_prints_one_french_sentence(monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", NO_DAEMON)
    monkeypatch.setattr(engine, "_client", None)
    assert engine.describe() is None
    assert engine.docker("ps") is None
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2
    assert all("démon Docker ne répond pas" in line for line in out)


def test_notebook_00_without_a_daemon_says_so_in_french():
    nb = run_notebook(NOTEBOOKS / "00_demarrage.ipynb",
                      env={"DOCKER_HOST": NO_DAEMON})
    texts = [t for t in cell_texts(nb) if t.strip()]
    assert len(texts) == 4  # describe, docker run, docker ps, the exercise's docker run: one sentence each
    for text in texts:
        assert text.count("\n") == 1 and "démon Docker ne répond pas" in text, text


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
