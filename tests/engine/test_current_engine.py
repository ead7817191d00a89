"""The current-engine lane: a Debian root's Engine 26+ beside the host's, for both image stores.

Real engines, no mocks: each store's engine is started once for the module (the root is
built on first use, about a minute), checked through the SDK and through its own CLI, and
stopped at the end; :func:`test_stop_leaves_nothing` checks that nothing of it survives.
"""
from __future__ import annotations

import os
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from dockercourse import engine
from dockercourse.currentengine import FORWARD_COMMENT, STORES, CurrentEngine, namespace_processes, wait_until

pytestmark = pytest.mark.current_engine

EXPECTED_STORE = {"classic": "classique (graphdriver)", "containerd": "containerd (snapshotter)"}

DOCKERFILE = """\
ARG BASE=python:3.13-slim
FROM ${BASE}
ARG GREETING=bonjour
RUN <<EOF
set -e
echo "$GREETING" > /greeting
python -c "print('heredoc ' + 'ok')"
EOF
CMD ["cat", "/greeting"]
"""


@pytest.fixture(scope="module", params=list(STORES))
def lane(request, docker_client):
    """One engine per store for the module (docker_client: the host engine holds the base image)."""
    ce = CurrentEngine(store=request.param)
    yield ce
    ce.stop()


@pytest.fixture
def current(lane):
    """The store's engine, running and with the base image (a ping and a lookup when it is)."""
    lane.start()
    lane.ensure_base_image()
    return lane


def _cli(ce: CurrentEngine, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, **ce.env()})


def test_the_engine_is_current(current):
    c = current.client()
    version = c.version()
    assert engine.server_major(version["Version"]) >= 26, version
    assert c.info()["ID"] != engine.client().info()["ID"]  # its own daemon, not the host's
    cli = _cli(current, "version", "--format", "{{.Client.Version}} {{.Server.Version}}")
    client_version, server_version = cli.stdout.split()
    assert server_version == version["Version"]
    assert engine.server_major(client_version) >= 26  # the root's own CLI comes first on PATH


def test_describe_reports_the_store_and_buildkit(current):
    c = current.client()
    assert engine.facts_from_info(c.info(), c.version())["image_store"] == EXPECTED_STORE[current.store.name]
    values = current.describe()["valeur"]
    assert values["Magasin d'images"] == EXPECTED_STORE[current.store.name]
    assert values["Builder de docker build"].startswith("BuildKit (buildx ")
    assert values["Compose"].startswith("v2, docker compose ")
    assert values["Serveur (dockerd)"] == c.version()["Version"]
    assert "absente" not in values[f"Image de base {engine.BASE_IMAGE}"]


def test_base_image_is_the_host_one(current):
    mine = current.client().images.get(engine.BASE_IMAGE)
    host = engine.client().images.get(engine.BASE_IMAGE)
    assert mine.labels == host.labels
    assert mine.attrs["Created"] == host.attrs["Created"]
    assert current.ensure_base_image() == "present"


def test_buildkit_builds_heredoc_and_arg_before_from(current, tmp_path):
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    tag = engine.name("current", current.store.name, "build")
    try:
        proc = _cli(current, "build", "--progress=plain", "--no-cache", "-t", tag, "--label", f"{engine.LABEL}=1",
                    "--build-arg", "GREETING=salut", ".", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "heredoc ok" in proc.stderr  # BuildKit's plain progress shows the RUN output
        assert "[internal] load build definition" in proc.stderr  # BuildKit, not the legacy builder
        out = current.client().containers.run(tag, remove=True, name=engine.name("current", "greeting"),
                                              labels=engine.labels(purpose="current-engine-test"))
        assert out.decode().strip() == "salut"
    finally:
        _cli(current, "image", "rm", "-f", tag)


def test_a_container_publishes_on_loopback(current, free_port):
    c = current.client()
    name = engine.name("current", current.store.name, "http")
    engine.remove_container(name, c)
    ctr = c.containers.run(engine.BASE_IMAGE, ["python", "-m", "http.server", "8000"], detach=True, name=name,
                           working_dir="/tmp", ports={"8000/tcp": ("127.0.0.1", free_port)},
                           labels=engine.labels(purpose="current-engine-test"))

    def answers():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{free_port}/", timeout=2) as resp:
                return resp.status
        except OSError:
            return None

    try:
        assert wait_until(answers, timeout=30) == 200
        assert _cli(current, "exec", name, "pwd").stdout.strip() == "/tmp"  # exec with a WORKDIR works
    finally:
        ctr.remove(force=True)


def test_restarts_after_a_killed_run(current):
    """A SIGKILLed dockerd leaves containerd, its socket and pid files: start() clears them."""
    before = current.processes()
    dockerd = [p for p in before if Path(f"/proc/{p}/comm").read_text().strip() == "dockerd"]
    assert dockerd, before
    os.kill(dockerd[0], signal.SIGKILL)
    assert wait_until(lambda: not current.answers(), timeout=10)
    assert current.socket.exists()  # stale
    assert current.start() == "started"
    assert current.client().ping()
    assert not set(before) & set(current.processes())


def test_the_host_cli_finds_the_roots_plugins(current):
    """DOCKER_CONFIG alone is enough for whichever docker CLI is on the host's PATH."""
    env = {k: v for k, v in current.env().items() if k != "PATH"}
    run = subprocess.run(["docker", "buildx", "version"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, **env})
    assert run.returncode == 0 and engine.parse_buildx_version(run.stdout), run.stderr
    run = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=60,
                         env={**os.environ, **env})
    assert engine.compose_kind(run.stdout, "").startswith("v2"), run.stderr


def _mounts_of(path: Path) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(path) in line]


def test_stop_leaves_nothing(current):
    c = current.client()
    name = engine.name("current", current.store.name, "sleeper")
    engine.remove_container(name, c)
    c.containers.run(engine.BASE_IMAGE, ["sleep", "600"], detach=True, name=name,
                     labels=engine.labels(purpose="current-engine-test"))  # stop() must end it too
    ns = os.readlink(f"/proc/{current.processes()[0]}/ns/mnt")
    pids = current.processes()
    assert len(pids) >= 4  # dockerd, containerd, a shim, the container's sleep
    assert current.stop()
    assert not [p for p in pids if Path(f"/proc/{p}").exists() and "Z" not in _state(p)]
    assert namespace_processes(ns, current.root) == []
    assert not _mounts_of(current.root) and not _mounts_of(current.state)
    assert not Path(f"/sys/class/net/{current.store.bridge}").exists()
    assert not current.socket.exists()
    assert not current.forwarding_present()  # the other store's engine may keep its own rules meanwhile
    assert current.stop() == []  # idempotent
    current.start()  # the data root is kept: the killed sleeper is still listed there
    assert engine.remove_container(name, current.client())


def _forward_rules() -> str:
    return subprocess.run(["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True, check=True).stdout


def test_containers_of_one_compose_network_reach_each_other(current, docker_client):
    """A user-defined network (what Compose makes) works although the host engine's FORWARD policy is
    DROP, and starting again on a kept data root leaves the host engine's docker0 alone."""
    current.stop()
    current.start()
    assert Path("/sys/class/net/docker0").exists(), "the current engine deleted the host engine's docker0"
    assert FORWARD_COMMENT in _forward_rules()
    c = current.client()
    net = c.networks.create(engine.name("current", current.store.name, "net"), labels=engine.labels())
    try:
        web = engine.name("current", current.store.name, "web")
        server = c.containers.run(engine.BASE_IMAGE, ["python", "-m", "http.server", "8000"], detach=True,
                                  network=net.name, name=web,
                                  labels=engine.labels(purpose="current-engine-test"))
        try:
            probe = ("import time, urllib.request\nfor _ in range(50):\n    try:\n"
                     f"        print(urllib.request.urlopen('http://{web}:8000/', timeout=2).status); break\n"
                     "    except OSError:\n        time.sleep(0.2)\n")
            out = c.containers.run(engine.BASE_IMAGE, ["python", "-c", probe], network=net.name, remove=True,
                                   labels=engine.labels(purpose="current-engine-test"))
            assert out.decode().strip() == "200"
        finally:
            server.remove(force=True)
    finally:
        net.remove()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"

