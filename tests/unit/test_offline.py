"""dockercourse.offline: the recipe and rootfs customisation on fixtures, then the real image."""
from __future__ import annotations

import subprocess
import sys

from dockercourse import offline


def test_parse_requirements_skips_comments_and_options():
    text = "# comment\nflask==3.1.3  # pinned\n\n-r other.txt\ngunicorn==23.0.0\n"
    assert offline.parse_requirements(text) == ["flask==3.1.3", "gunicorn==23.0.0"]


def test_default_requirements_are_pinned():
    reqs = offline.default_requirements()
    assert {r.split("==")[0] for r in reqs} >= {"flask", "gunicorn"}
    assert all("==" in r for r in reqs)


def test_recipe_hash_is_stable_and_sensitive():
    a = offline.Recipe(requirements=("flask==3.1.3", "gunicorn==23.0.0"))
    b = offline.Recipe(requirements=("gunicorn==23.0.0", "flask==3.1.3"))
    assert a.hash() == b.hash()  # order does not matter
    assert a.hash() != offline.Recipe(requirements=("flask==3.1.2", "gunicorn==23.0.0")).hash()
    assert a.hash() != offline.Recipe(requirements=a.requirements, arch="aarch64").hash()
    assert a.hash() != offline.Recipe(requirements=a.requirements, version="999").hash()


def test_pip_platforms():
    tags = offline.pip_platforms("amd64")
    assert "manylinux_2_17_x86_64" in tags and "manylinux2014_x86_64" in tags
    assert all(t.endswith("x86_64") for t in tags)
    assert offline.pip_platforms("arm64")[0].endswith("aarch64")


def test_loaded_tags():
    out = "Loaded image: python:3.13-slim\nLoaded image ID: sha256:abc\nLoaded image: other:1\n"
    assert offline.loaded_tags(out) == ["python:3.13-slim", "other:1"]


def test_customise_rootfs_looks_like_the_official_image(tmp_path):
    root = tmp_path / "rootfs"
    (root / "usr/lib/python3.13").mkdir(parents=True)
    (root / "usr/lib/python3.13/EXTERNALLY-MANAGED").write_text("[externally-managed]\n")
    (root / "usr/share/doc/foo").mkdir(parents=True)
    (root / "var/lib/apt/lists").mkdir(parents=True)
    (root / "var/lib/apt/lists/deb.debian.org_dists").write_text("x")
    (root / "etc").mkdir()
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "flask-3.1.3-py3-none-any.whl").write_bytes(b"PK")
    offline.customise_rootfs(root, wheels)
    assert not (root / "usr/lib/python3.13/EXTERNALLY-MANAGED").exists()
    assert (root / "usr/local/bin/python").readlink().as_posix() == "/usr/bin/python3"
    assert (root / "usr/local/bin/pip").readlink().as_posix() == "/usr/bin/pip3"
    assert (root / "opt/dockercourse/wheelhouse/flask-3.1.3-py3-none-any.whl").exists()
    conf = (root / "etc/pip.conf").read_text()
    assert "no-index = true" in conf and offline.WHEELHOUSE_IN_IMAGE in conf
    assert not list((root / "usr/share/doc").iterdir())
    assert not list((root / "var/lib/apt/lists").iterdir())


def test_cli_offline_help_mentions_from_tar():
    out = subprocess.run([sys.executable, "-m", "dockercourse", "offline", "--help"],
                         capture_output=True, text=True).stdout
    assert "--from-tar" in out
