"""The course's local registry: lifecycle (loopback only, temp data, nothing left
running) and the registry HTTP API, against a real push/pull by the daemon."""
from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import docker
import pytest

from dockercourse import architecture, engine, registry

TINY = engine.name("registrytest", "tiny")


def _registry_pids() -> set[int]:
    return {p.pid for p in architecture.read_processes()
            if p.comm in registry.BINARIES and "dockercourse-registry-" in p.cmdline}


@pytest.fixture
def tiny_image(docker_client):
    """A one-file image (imported from a tar): pushing it takes milliseconds."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"bonjour\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    docker_client.api.import_image_from_data(
        buf.getvalue(), repository=TINY, tag="1",
        changes=[f"LABEL {k}={v}" for k, v in engine.labels(unit="registrytest").items()])
    img = docker_client.images.get(f"{TINY}:1")
    yield img
    for i in docker_client.images.list(filters={"label": "dockercourse.unit=registrytest"}):
        try:
            docker_client.images.remove(i.id, force=True)
        except docker.errors.NotFound:
            pass


@pytest.mark.root
def test_binary_is_installed():
    exe = registry.ensure_installed()
    assert os.access(exe, os.X_OK)


def test_start_stop_leaves_nothing():
    before = _registry_pids()
    reg = registry.LocalRegistry("registrytest").start()
    try:
        assert reg.running and registry.ping(reg.url)
        assert reg.address.startswith("127.0.0.1:")
        tmp = reg.tmpdir
        assert tmp.exists() and tmp.name.startswith("dockercourse-registry-")
        assert _registry_pids() - before == {reg.proc.pid}
        # listening on loopback only: the socket's local address in /proc/net/tcp is 127.0.0.1
        port_hex = f"{reg.port:04X}"
        listening = [line.split()[1] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
                     if line.split()[1].endswith(":" + port_hex) and line.split()[3] == "0A"]
        assert listening == ["0100007F:" + port_hex]
    finally:
        reg.stop()
    assert not reg.running and not tmp.exists()
    assert _registry_pids() == before
    reg.stop()  # idempotent


def test_state_pidfile_is_json(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKERCOURSE_STATE", str(tmp_path))
    reg = registry.LocalRegistry("registrytest-pid").start()
    try:
        info = json.loads((tmp_path / "registry-registrytest-pid.json").read_text())
        assert info["pid"] == reg.proc.pid and info["port"] == reg.port
    finally:
        reg.stop()
    assert not (tmp_path / "registry-registrytest-pid.json").exists()


def test_stale_registry_of_a_dead_kernel_is_stopped():
    reg = registry.LocalRegistry("registrytest-stale").start()
    pid, tmp = reg.proc.pid, reg.tmpdir
    reg.proc = reg.tmpdir = None  # forget it, as a killed kernel would
    assert registry.stop_stale("registrytest-stale") is True
    assert not Path(f"/proc/{pid}").exists() and not tmp.exists()
    assert registry.stop_stale("registrytest-stale") is False


@pytest.mark.parametrize("mode", ["process", "container"])
def test_push_list_pull_through_the_local_registry(docker_client, tiny_image, mode):
    with registry.LocalRegistry("registrytest", mode=mode) as reg:
        target = reg.image("tiny")
        tiny_image.tag(target, "1.0")
        tiny_image.tag(target, "latest")
        events = list(docker_client.api.push(target, tag="1.0", stream=True, decode=True))
        pushed = architecture.summarize_push(events)
        assert pushed["error"] is None and set(pushed["layers"].values()) == {"Pushed"}
        again = architecture.summarize_push(
            list(docker_client.api.push(target, tag="latest", stream=True, decode=True)))
        assert set(again["layers"].values()) == {"Layer already exists"}

        assert reg.catalog() == ["tiny"]
        assert reg.tags("tiny") == ["1.0", "latest"]
        assert reg.tags("nothing-here") == []
        digest = reg.manifest_digest("tiny", "1.0")
        assert digest == pushed["digest"] == reg.manifest_digest("tiny", "latest")
        assert reg.manifest_digest("tiny", "2.0") is None
        assert f"{target}@{digest}" in docker_client.images.get(tiny_image.id).attrs["RepoDigests"]
        # the manifest's config digest is the local image ID
        assert registry.manifest(reg.url, "tiny", "1.0")["config"]["digest"] == tiny_image.id

        docker_client.images.remove(tiny_image.id, force=True)
        pulled = architecture.summarize_pull(
            list(docker_client.api.pull(target, tag="1.0", stream=True, decode=True)))
        assert pulled["error"] is None and pulled["digest"] == digest
        assert docker_client.images.get(f"{target}:1.0").id == tiny_image.id
        data_dir, tmp = reg.data_dir, reg.tmpdir
        if mode == "process":
            assert any(data_dir.rglob("data"))  # blobs stored in the temp folder
        else:
            assert reg.container.attrs["HostConfig"]["PortBindings"]["5000/tcp"][0]["HostIp"] == "127.0.0.1"
    assert not tmp.exists()
    flt = {"label": "dockercourse.unit=registrytest"}
    assert not docker_client.containers.list(all=True, filters=flt)
    assert not [i for i in docker_client.images.list(filters=flt) if "dockercourse.role" in i.labels
                and i.labels["dockercourse.role"] == "registry"]


def test_auto_mode_off_the_docker_host_uses_a_container(docker_client, tiny_image, monkeypatch):
    # as in the course image with the socket mounted: the API is reached at the container's IP
    monkeypatch.setattr(registry, "_not_on_docker_host", lambda: True)
    with registry.LocalRegistry("registrytest") as reg:
        assert reg.container is not None and reg.proc is None
        ip = reg.container.attrs["NetworkSettings"]["IPAddress"]
        assert reg.url == f"http://{ip}:5000" and reg.address.startswith("127.0.0.1:")
        tiny_image.tag(reg.image("tiny"), "1")
        events = list(docker_client.api.push(reg.image("tiny"), tag="1", stream=True, decode=True))
        assert architecture.summarize_push(events)["error"] is None
        assert reg.catalog() == ["tiny"]


def test_missing_binary_without_root_is_one_french_sentence(monkeypatch, capsys, docker_client):
    monkeypatch.setattr(registry, "find_binary", lambda: None)
    monkeypatch.setattr(registry.os, "geteuid", lambda: 1000)
    with pytest.raises(registry.RegistryError, match="sudo apt-get install docker-registry"):
        registry.ensure_installed()
    assert architecture.start_registry() is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "docker-registry" in out and "Traceback" not in out
