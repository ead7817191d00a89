"""dockercourse.offline: the recipe and rootfs customisation on fixtures, then the real image."""
from __future__ import annotations

import io
import subprocess
import tarfile

import pytest

from dockercourse import engine, offline


def test_base_image_is_ready_and_second_ensure_is_a_no_op(docker_client, capsys):
    status = offline.image_status(offline.make_recipe())
    assert status["present"] and status["up_to_date"]
    assert offline.ensure() == "present"
    assert "is ready" in capsys.readouterr().out


def test_base_image_behaves_like_python_slim(tracked):
    ctr = tracked.run(command=["sh", "-c", "python --version; pip --version; command -v useradd; "
                               "python -c 'import venv, ensurepip' && echo venv-ok"], detach=True)
    ctr.wait(timeout=60)
    out = ctr.logs().decode()
    assert "Python 3.13" in out
    assert "pip " in out and "venv-ok" in out and "useradd" in out


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


def test_course_requirements_come_from_pyproject():
    reqs = offline.course_requirements()
    names = {r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in reqs}
    # build backend, runtime and the test extra (the image runs nbval inside), no host-only tools
    assert {"setuptools", "jupyterlab", "nbgrader", "jupyterlab-language-pack-fr-fr", "nbval"} <= names
    assert "playwright" not in names and "jupyter-repo2docker" not in names
    assert offline.host_docker_cli().is_file()
