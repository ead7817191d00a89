"""The course image (top-level Dockerfile) in its launch modes, on the real engine.

- built once per session with ``docker build`` (offline: the kit's build base), then by
  ``jupyter-repo2docker --no-run --user-id 1000 --user-name jovyan`` as Binder does, which reuses
  the same layer cache;
- **student's own Docker**: the socket mounted, ``--user root`` (the entrypoint hands the socket's
  group to jovyan): JupyterLab answers in French, every lecture notebook runs inside it under
  nbval (``--nbval-lax``: its outputs are the container's, not the reference machine's) and the
  TP's reference solution gets full marks from inside it, its app containers being siblings on
  the host's engine;
- **Binder**: started the way Binder starts it (uid 1000, ``jupyter notebook ...``), no daemon:
  ``/api/status`` answers 200 and every notebook runs to the end, saying in French why the
  Docker cells cannot run.

The browser test (``test_course_browser.py``) drives the same image. All of it is marked
``course_image``; in a parallel run (``-n 2 --dist loadfile``) each file stays on one worker.
"""

from __future__ import annotations

import json

import pytest

from dockercourse import courseimage, engine

pytestmark = [pytest.mark.docker, pytest.mark.course_image]

TAG = f"{courseimage.IMAGE}:test"
BINDER_TAG = f"{courseimage.IMAGE}:binder-test"
NOTEBOOKS = ["notebooks/00_demarrage.ipynb", "notebooks/01_conteneurs_vs_machines_virtuelles.ipynb",
             "notebooks/02_cgroups_et_namespaces.ipynb", "notebooks/03_architecture_docker.ipynb",
             "release/tp-conteneurisation/tp-conteneurisation.ipynb"]


@pytest.fixture(scope="module")
def build_args(docker_client):
    return courseimage.build_args()


@pytest.fixture(scope="module")
def course_image(build_args):
    seconds = courseimage.build(TAG, build_args, log=engine.state_dir() / "course-image-build.log")
    print(f"docker build {TAG}: {seconds:.0f} s")
    return TAG


@pytest.fixture(scope="module")
def binder_image(course_image, build_args):
    seconds = courseimage.repo2docker_build(BINDER_TAG, build_args,
                                            log=engine.state_dir() / "course-image-repo2docker.log")
    print(f"repo2docker {BINDER_TAG}: {seconds:.0f} s")
    return BINDER_TAG


def test_image_follows_binders_rules(course_image, docker_client):
    cfg = docker_client.images.get(course_image).attrs["Config"]
    assert cfg["User"] == "jovyan"
    assert cfg["WorkingDir"] == "/home/jovyan"
    assert cfg["Entrypoint"] == ["/usr/local/bin/dockercourse-entrypoint"]
    assert "8888/tcp" in cfg["ExposedPorts"]
    # the course's wheels stay in the build stage: the image has the TP base's wheelhouse at most
    probe = "id -u; ls /opt/dockercourse/wheelhouse 2>/dev/null | grep -c jupyterlab; docker --version"
    out = docker_client.containers.run(course_image, ["sh", "-c", probe], remove=True, network_mode="none",
                                       name=engine.name("course", "probe"),
                                       labels=engine.labels(purpose="course-probe")).decode().splitlines()
    uid, course_wheels, cli = out
    assert uid == "1000"
    assert course_wheels == "0"
    assert cli.startswith("Docker version")


def test_repo2docker_builds_it_from_the_same_cache(binder_image, docker_client):
    img = docker_client.images.get(binder_image)
    assert img.labels.get("repo2docker.version")
    assert img.attrs["Config"]["User"] == "jovyan"
    # repo2docker's build reused the layers of `docker build` (same Dockerfile, same cache)
    log = (engine.state_dir() / "course-image-repo2docker.log").read_text().splitlines()
    step = next(i for i, line in enumerate(log) if line.startswith("Step") and "pip install" in line)
    assert "Using cache" in log[step + 1], log[step:step + 3]


def test_student_mode_french_lab_notebooks_and_tp_inside(course_image):
    with courseimage.running(course_image, "socket") as lab:
        ready = lab.wait_ready()
        print(f"docker run -> /api/status 200: {ready:.1f} s")
        status, body = lab.api("/lab/api/settings/@jupyterlab/translation-extension:plugin")
        # the image's overrides.json makes French the default (a student may still switch)
        assert status == 200 and json.loads(body)["schema"]["properties"]["locale"]["default"] == "fr_FR"
        status, body = lab.api("/lab/api/translations/")
        assert status == 200 and "fr_FR" in json.loads(body)["data"], "the French language pack is installed"
        assert lab.api("/formgrader")[0] == 404, "instructor tools are off for students"
        # one exec: every lecture notebook under nbval, then the TP's reference solution graded
        proc = lab.exec(
            "sh", "-c", "id -nG; python -m pytest -q -p no:cacheprovider --nbval-lax notebooks"
            " && python tests/image/tp_reference.py", user="jovyan")
        print(proc.stdout[-3000:])
        groups = proc.stdout.splitlines()[0].split()
        assert len(groups) > 1, f"jovyan was given the socket's group: {groups}"
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
        assert " passed" in proc.stdout and "FAIL " not in proc.stdout


def test_binder_mode_status_and_notebooks_without_daemon(binder_image):
    with courseimage.running(binder_image, "binder") as lab:
        ready = lab.wait_ready()
        print(f"Binder-like start -> /api/status 200: {ready:.1f} s")
        assert lab.api("/api/status")[0] == 200
        assert lab.api("/formgrader")[0] == 404
        proc = lab.exec("sh", "-c", "test ! -S /var/run/docker.sock && jupyter nbconvert --to notebook --execute"
                        " --output-dir /tmp/executed --ExecutePreprocessor.timeout=300 " + " ".join(NOTEBOOKS))
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
        texts = lab.exec("sh", "-c", "cat /tmp/executed/*.ipynb").stdout
        assert "dans un conteneur sans accès à un démon Docker" in texts, "one French sentence per Docker cell"


def test_instructor_tools_switch_on_with_the_documented_variable(binder_image):
    with courseimage.running(binder_image, "binder", "instructor", env={"DOCKERCOURSE_INSTRUCTOR": "1"}) as lab:
        lab.wait_ready()
        status, body = lab.api("/lab/api/settings/@jupyter/nbgrader:formgrader")
        assert status == 200
        assert lab.api("/formgrader")[0] == 200
