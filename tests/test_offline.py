"""dockercourse.offline: the recipe and rootfs customisation on fixtures, then the real image."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile

import pytest

from dockercourse import engine, offline


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


# --------------------------------------------------------------------------- live


@pytest.mark.docker
def test_base_image_is_ready_and_second_ensure_is_a_no_op(docker_client, capsys):
    status = offline.image_status(offline.make_recipe())
    assert status["present"] and status["up_to_date"]
    assert offline.ensure() == "present"
    assert "is ready" in capsys.readouterr().out


@pytest.mark.docker
def test_base_image_behaves_like_python_slim(tracked):
    ctr = tracked.run(command=["sh", "-c", "python --version; pip --version; command -v useradd; "
                               "python -c 'import venv, ensurepip' && echo venv-ok"], detach=True)
    ctr.wait(timeout=60)
    out = ctr.logs().decode()
    assert "Python 3.13" in out
    assert "pip " in out and "venv-ok" in out and "useradd" in out


@pytest.mark.docker
def test_pip_install_works_with_no_network(docker_client, tmp_path):
    """The proof the kit exists for: an unchanged `RUN pip install` builds with no network."""
    dockerfile = (
        f"FROM {engine.BASE_IMAGE}\n"
        "RUN pip install flask gunicorn\n"
        "RUN python -c 'import flask, gunicorn; print(\"imports-ok\", flask.__version__)'\n"
        "LABEL dockercourse=1\n"
    )
    (tmp_path / "Dockerfile").write_text(dockerfile)
    tag = engine.name("test-offline-pip") + ":latest"
    log = []
    try:
        image, stream = docker_client.images.build(path=str(tmp_path), tag=tag, network_mode="none",
                                                   rm=True, forcerm=True)
        log = [chunk.get("stream", "") for chunk in stream]
        assert "imports-ok" in "".join(log)
    finally:
        try:
            docker_client.images.remove(tag, force=True)
        except Exception:
            pass


@pytest.mark.docker
def test_from_tar_rejects_an_archive_without_the_base_image(docker_client, tmp_path):
    tag = engine.name("test-empty-image") + ":1"
    empty = io.BytesIO()
    with tarfile.open(fileobj=empty, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    docker_client.api.import_image_from_data(empty.getvalue(), repository=tag.split(":")[0], tag="1",
                                             changes=["LABEL dockercourse=1"])
    archive = tmp_path / "other.tar"
    try:
        subprocess.run(["docker", "save", "-o", str(archive), tag], check=True)
        with pytest.raises(offline.KitError, match="ne contient pas l'image python:3.13-slim"):
            offline.load_tar(archive)
        with pytest.raises(offline.KitError, match="introuvable"):
            offline.load_tar(tmp_path / "missing.tar")
    finally:
        docker_client.images.remove(tag, force=True)


def test_cli_offline_help_mentions_from_tar():
    out = subprocess.run([sys.executable, "-m", "dockercourse", "offline", "--help"],
                         capture_output=True, text=True).stdout
    assert "--from-tar" in out


def test_course_requirements_come_from_pyproject():
    reqs = offline.course_requirements()
    names = {r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in reqs}
    # build backend, runtime and the test extra (the image runs nbval inside), no host-only tools
    assert {"setuptools", "jupyterlab", "nbgrader", "jupyterlab-language-pack-fr-fr", "nbval"} <= names
    assert "playwright" not in names and "jupyter-repo2docker" not in names
    assert offline.host_docker_cli().is_file()
