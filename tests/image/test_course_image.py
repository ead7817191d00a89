"""The course image (top-level Dockerfile) in its launch modes, on the real engine.

- built once per session with ``docker build`` (offline: the kit's build base), then by
  ``jupyter-repo2docker --no-run --user-id 1000 --user-name jovyan`` as Binder does, which reuses
  the same layer cache;
- **student's own Docker**: the socket mounted, ``--user root`` (the entrypoint hands the socket's
  group to jovyan): JupyterLab answers in French, and every lecture notebook runs inside it on the
  host's engine — Debian 12's 20.10 on the reference machine: this is the **20.10 lane** of
  ``make test``, the lectures' only run on that engine. Under ``--nbval-lax`` (the committed outputs
  are those of Engine 26 with the containerd store, see ``tests/engine/test_current_engine_lane.py``)
  with the notebooks' own verdict checks (``tests.utils.nbval_verdicts``: no « ✘ » line, no error,
  nothing of the lectures left on the engine). In the browser test the TP's reference solution,
  typed in, gets full marks from inside it (every check ✅), its app containers being siblings on
  the host's engine;
- **Binder**: started the way Binder starts it (uid 1000, ``jupyter notebook ...``), no daemon:
  ``/api/status`` answers 200 and every notebook runs to the end, saying in French why the
  Docker cells cannot run.

- a real browser (headless Debian chromium driven by Playwright) on the student's launch.

All of it is marked ``course_image``: ``make test`` (``tests/run_suites.py``) runs it as a session
beside the suite. The lecture notebooks' run takes the notebooks lock: a few suite tests use the
lectures' names on the same daemon (``tests/conftest.py``); notebook 00's names are the lectures'
alone, so the browser's second page runs it without the lock.
"""
from __future__ import annotations

import json

import pytest

from dockercourse import courseimage, engine
from tests.utils.browser import chromium
from tests.utils.lab_browser import Steps, open_lab, run_all, solution_cells, student_does_the_tp
from tests.utils.notebook_runner import notebooks_lock

AID = "tp-conteneurisation"
TAG = f"{courseimage.IMAGE}:test"
BINDER_TAG = f"{courseimage.IMAGE}:binder-test"
LECTURES = [f"notebooks/{p.name}" for p in sorted((courseimage.ROOT / "notebooks").glob("0*.ipynb"))]
NOTEBOOKS = [*LECTURES, "release/tp-conteneurisation/tp-conteneurisation.ipynb"]
#: Run in the container: how many outputs of each executed notebook say, in French, that there is no daemon.
SENTENCES = """
import glob, nbformat
from tests.utils.paths import ROOT
for p in sorted(glob.glob('/tmp/executed/*.ipynb')):
    nb = nbformat.read(p, 4)
    n = sum('Vous êtes vous-même dans un conteneur' in (o.get('text') or '')
            for c in nb.cells for o in c.get('outputs', []))
    print(p.split('/')[-1], n)
"""


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


#: The 20.10 lane, in the container: every lecture under nbval, lax, with the notebooks' verdict checks.
LANE_COMMAND = ("id -nG; python -m pytest -q -rfE -p no:cacheprovider -p tests.utils.nbval_verdicts --nbval-lax "
                + " ".join(LECTURES))


def test_student_mode_notebooks_inside(course_image):
    with courseimage.running(course_image, "socket", "notebooks") as lab:
        lab.wait_ready()
        # one exec; the few suite tests that use the lectures' names on this daemon wait meanwhile
        with notebooks_lock():
            proc = lab.exec("sh", "-c", LANE_COMMAND, user="jovyan")
        print(proc.stdout[-1500:])
        groups = proc.stdout.splitlines()[0].split()
        assert len(groups) > 1, f"jovyan was given the socket's group: {groups}"
        assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-3000:]
        assert " passed" in proc.stdout and " skipped" not in proc.stdout, proc.stdout[-3000:]


@pytest.mark.browser
def test_browser_notebook_00_on_a_second_page(course_image):
    from playwright.sync_api import sync_playwright

    with courseimage.running(course_image, "socket", "browser2") as lab, sync_playwright() as pw, \
            chromium(pw, lab.url) as browser:
        lab.wait_ready()
        page2 = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        step = Steps({"nb00": page2})
        # no lock: notebook 00's names (dockercourse-premier-conteneur, dockercourse-nb00-…) are used by
        # no test, and this session runs the other lectures one test at a time
        with step("second page: notebook 00 opens"):
            open_lab(page2, f"{lab.url}/lab/tree/notebooks/00_demarrage.ipynb?token={lab.token}",
                     ".jp-NotebookPanel:visible .jp-Cell", server_log=lambda: courseimage.logs(lab.name))
        with step("second page: notebook 00 runs all without error"):
            run_all(page2, 300)  # the machine's two cores are saturated while make test runs
            page2.keyboard.press("Control+S")
            page2.wait_for_timeout(1500)
            # what the browser ran and saved (the page only draws the cells in view)
            status, body = lab.api("/api/contents/notebooks/00_demarrage.ipynb?content=1")
            code = [c for c in json.loads(body)["content"]["cells"] if c["cell_type"] == "code"]
            assert status == 200 and code and all(c["execution_count"] for c in code), code
            assert all(o["output_type"] != "error" for c in code for o in c["outputs"]), code
            assert sum(len(c["outputs"]) for c in code) >= len(code), code
        print("\n".join(f"{secs:6.1f} s  {what}" for what, secs in step.times))


def test_repo2docker_builds_it_from_the_same_cache(binder_image, docker_client):
    img = docker_client.images.get(binder_image)
    assert img.labels.get("repo2docker.version")
    assert img.attrs["Config"]["User"] == "jovyan"
    # repo2docker's build reused the layers of `docker build` (same Dockerfile, same cache)
    log = (engine.state_dir() / "course-image-repo2docker.log").read_text().splitlines()
    step = next(i for i, line in enumerate(log) if line.startswith("Step") and "pip install" in line)
    assert "Using cache" in log[step + 1], log[step:step + 3]


def test_binder_mode_status_and_notebooks_without_daemon(binder_image):
    with courseimage.running(binder_image, "binder") as lab:
        ready = lab.wait_ready()
        print(f"Binder-like start -> /api/status 200: {ready:.1f} s")
        assert lab.api("/api/status")[0] == 200
        assert lab.api("/formgrader")[0] == 404
        proc = lab.exec("sh", "-c", "test ! -S /var/run/docker.sock && jupyter nbconvert --to notebook --execute"
                        " --output-dir /tmp/executed --ExecutePreprocessor.timeout=300 " + " ".join(NOTEBOOKS))
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
        said = lab.exec("python", "-c", SENTENCES).stdout
        for nb in LECTURES:  # every lecture notebook's Docker cells say why they cannot run
            assert f"{nb.split('/')[-1]} " in said and f"{nb.split('/')[-1]} 0" not in said, said


def test_instructor_tools_switch_on_with_the_documented_variable(binder_image):
    with courseimage.running(binder_image, "binder", "instructor", env={"DOCKERCOURSE_INSTRUCTOR": "1"}) as lab:
        lab.wait_ready()
        status, body = lab.api("/lab/api/settings/@jupyter/nbgrader:formgrader")
        assert status == 200
        assert lab.api("/formgrader")[0] == 200


def test_student_mode_french_lab(course_image):
    with courseimage.running(course_image, "socket") as lab:
        ready = lab.wait_ready()
        print(f"docker run -> /api/status 200: {ready:.1f} s")
        status, body = lab.api("/lab/api/settings/@jupyterlab/translation-extension:plugin")
        # the image's overrides.json makes French the default (a student may still switch)
        assert status == 200 and json.loads(body)["schema"]["properties"]["locale"]["default"] == "fr_FR"
        status, body = lab.api("/lab/api/translations/")
        assert status == 200 and "fr_FR" in json.loads(body)["data"], "the French language pack is installed"
        assert lab.api("/formgrader")[0] == 404, "instructor tools are off for students"


@pytest.mark.browser
def test_browser_student_session_in_french(course_image):
    """A student in headless Chromium: French UI, TP from the assignment list, reference solution
    typed in, run all, ✅ feedback, submit (notebook 00 on a second page: the last test)."""
    from playwright.sync_api import expect, sync_playwright

    cells = solution_cells()
    assert len(cells) >= 5
    with courseimage.running(course_image, "socket", "browser") as lab, sync_playwright() as pw, \
            chromium(pw, lab.url) as browser:
        t_run = lab.wait_ready()
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = ctx.new_page()
        pages = {"tp": page}
        step = Steps(pages)
        step.times.append(("docker run -> /api/status 200", t_run))
        with step("first page load (JupyterLab shell)"):
            open_lab(page, f"{lab.url}/lab?token={lab.token}", ".jp-LauncherCard",
                     server_log=lambda: courseimage.logs(lab.name))
        with step("UI in French"):
            bar = page.get_by_role("menubar")
            for label in ("Fichier", "Édition", "Affichage", "Exécution", "Noyau", "Paramètres", "Aide"):
                expect(bar.get_by_role("menuitem", name=label, exact=True)).to_be_visible()
        student_does_the_tp(page, step, cells)
        inbound = lab.exec("sh", "-c", "ls .state/exchange/*/inbound").stdout
        assert AID in inbound, inbound
        lab.exec("python", "-m", "dockercourse.grading", "cleanup", "--project", AID, "--images", "--forget")
        print("\n".join(f"{secs:6.1f} s  {what}" for what, secs in step.times))
