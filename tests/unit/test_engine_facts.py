"""dockercourse.engine: the builder, image store and Compose facts, from fixture JSON.

The ``info_26_*`` and ``info_20.10_*`` fixtures were captured from this project's engines
(Debian trixie's Engine 26.1.5 with each image store, Debian 12's 20.10) and trimmed to the
keys the facts read.
"""
from __future__ import annotations

import ipaddress
import json

import pytest

from dockercourse import currentengine, engine
from tests.utils import paths

FIXTURES = paths.FIXTURES / "engine"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


CLI = load("cli_versions.json")


@pytest.mark.parametrize("info, store", [
    ("info_26_classic.json", "classique (graphdriver)"),
    ("info_26_containerd.json", "containerd (snapshotter)"),
    ("info_20.10_debian.json", "classique (graphdriver)"),
    ("info_v2_desktop.json", "classique (graphdriver)"),  # no DriverStatus at all
])
def test_image_store(info, store):
    assert engine.image_store(load(info)) == store


def test_facts_of_the_current_engine_and_of_debian_12():
    facts = engine.facts_from_info(load("info_26_containerd.json"), load("version_26.json"), buildx="0.13.1+ds1")
    assert facts["image_store"] == "containerd (snapshotter)"
    assert facts["storage_driver"] == "overlayfs"
    assert facts["builder"] == "BuildKit (buildx 0.13.1+ds1)"
    old = engine.facts_from_info(load("info_20.10_debian.json"), load("version_20.10.json"))
    assert old["image_store"] == "classique (graphdriver)"
    assert old["builder"] == "ancien builder (Engine < 23)"
    assert old["server_version"].startswith("20.10")


@pytest.mark.parametrize("version, buildx, env, expected", [
    ("26.1.5+dfsg1", "0.13.1+ds1", None, "BuildKit (buildx 0.13.1+ds1)"),
    ("29.0.1", "0.29.1", None, "BuildKit (buildx 0.29.1)"),
    ("26.1.5+dfsg1", None, None, "ancien builder (plugin buildx absent)"),
    ("26.1.5+dfsg1", "0.13.1+ds1", "0", "ancien builder (DOCKER_BUILDKIT=0)"),
    ("20.10.24+dfsg1", None, None, "ancien builder (Engine < 23)"),
    ("20.10.24+dfsg1", "0.29.1", None, "ancien builder (Engine < 23)"),
    ("20.10.24+dfsg1", "0.29.1", "1", "BuildKit (buildx 0.29.1)"),
    (None, None, None, "ancien builder (Engine < 23)"),
])
def test_builder_kind(version, buildx, env, expected):
    assert engine.builder_kind(version, buildx, env) == expected


def test_server_major():
    assert engine.server_major("26.1.5+dfsg1") == 26
    assert engine.server_major("20.10.24+dfsg1") == 20
    assert engine.server_major("") is None
    assert engine.server_major(None) is None


def test_parse_buildx_version():
    assert engine.parse_buildx_version(CLI["buildx_debian"]) == "0.13.1+ds1"
    assert engine.parse_buildx_version(CLI["buildx_upstream"]) == "0.29.1"
    assert engine.parse_buildx_version("") is None
    assert engine.parse_buildx_version("docker: unknown command: docker buildx\n") is None


def test_compose_kind():
    assert engine.compose_kind(CLI["compose_debian"], "") == "v2, docker compose 2.26.1-4"
    assert engine.compose_kind(CLI["compose_upstream"], CLI["compose_v1"]) == "v2, docker compose 2.40.3"
    assert engine.compose_kind("", CLI["compose_v1"]) == "v1, docker-compose 1.29.2"
    assert engine.compose_kind("", "") == "absent"


def test_french_values_stay_short():
    values = [engine.builder_kind(v, b, e) for v, b, e in [("26.0", "0.13.1+ds1", None), ("26.0", None, None),
                                                           ("26.0", None, "0"), ("20.10", None, None)]]
    values += [engine.image_store(load(f)) for f in ("info_26_classic.json", "info_26_containerd.json")]
    assert max(len(v) for v in values) <= 40


# --------------------------------------------------------------------------- currentengine's pure parts


def test_dpkg_versions():
    status = ("Package: docker.io\nStatus: install ok installed\nVersion: 26.1.5+dfsg1-9\n"
              "Description: x\n continued line: not a field\n\n"
              "Package: runc\nStatus: deinstall ok config-files\nVersion: 1.1\n\n"
              "Package: other\nStatus: install ok installed\nVersion: 2\n")
    assert currentengine.dpkg_versions(status, ("docker.io", "runc")) == {"docker.io": "26.1.5+dfsg1-9"}


def test_daemon_config_keeps_the_stores_apart():
    classic, c8d = (currentengine.daemon_config(currentengine.STORES[s]) for s in ("classic", "containerd"))
    assert classic["features"]["containerd-snapshotter"] is False
    assert c8d["features"]["containerd-snapshotter"] is True
    assert classic["bridge"] != c8d["bridge"]
    assert classic["iptables"] is False and classic["hosts"] == ["unix:///run/docker.sock"]
    nets = [ipaddress.ip_interface(s.cidr).network for s in currentengine.STORES.values()]
    docker0 = ipaddress.ip_network("172.17.0.0/16")
    assert not nets[0].overlaps(nets[1]) and not any(n.overlaps(docker0) for n in nets)


def test_recipe_hash_follows_the_package_list():
    base = currentengine.recipe_hash("trixie")
    assert base == currentengine.recipe_hash("trixie")
    assert base != currentengine.recipe_hash("sid")
    assert base != currentengine.recipe_hash("trixie", currentengine.PACKAGES + ("jq",))


def test_same_image_ignores_the_id():
    a = {"Id": "sha256:aaa", "Created": "2026-01-01T00:00:00Z", "Config": {"Labels": {"x": "1"}}}
    assert currentengine.same_image(a, {**a, "Id": "sha256:bbb"})
    assert not currentengine.same_image(a, {**a, "Config": {"Labels": {"x": "2"}}})
    assert not currentengine.same_image(a, {**a, "Created": "2026-01-02T00:00:00Z"})


def test_suite_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(currentengine.SUITE_ENV, raising=False)
    assert currentengine.default_suite() == "trixie"
    monkeypatch.setenv(currentengine.SUITE_ENV, "sid")
    assert currentengine.default_suite() == "sid"
    monkeypatch.setenv(currentengine.SUITE_ENV, "bookworm")
    with pytest.raises(currentengine.CurrentEngineError):
        currentengine.default_suite()
    assert issubclass(currentengine.CurrentEngineError, engine.SetupError)
