"""The lectures and the TP on the engine students have: Engine 26+ (Debian trixie's, or sid's with
``DOCKERCOURSE_CURRENT_SUITE=sid``) with BuildKit, Compose v2, and each image store.

- **containerd image store** (the default of new Docker Desktop and Engine 29 installs): the committed
  outputs of the lecture notebooks come from this engine (``make outputs``), and every lecture runs here
  under nbval, strict (``tests/nbval_sanitize.cfg`` for what changes from run to run), with the
  notebooks' own verdict checks (:mod:`tests.utils.nbval_verdicts`): no « ✘ » line in any cell, even
  one whose output is not compared, and nothing of the course left on the engine afterwards.
- **classic image store**: only the lectures whose subject is the image store (:data:`STORE_DEPENDENT`)
  run again, with the same verdict checks (no output comparison: their outputs are the other store's).
  Notebooks 01 (containers vs a VM) and 02 (cgroups and namespaces) run containers of the base image
  and read the kernel's view of their processes: nothing there goes through the image store, so a
  second run would repeat the containerd one (about 150 s of ``make test``).
- the TP's reference solution gets full marks from the student's side on each store.

Debian 12's 20.10 runs the lectures once, inside the course image (``tests/image/``), under
``--nbval-lax`` with the same verdict checks. ``make test`` runs this module in the current-engine
session (``-m current_engine``); its engines are its own (no notebooks lock), and its kernels get a
state folder of their own per store (build contexts, the local registry's state, the hand-made
container's rootfs), sharing only the QEMU cache, which is written atomically.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dockercourse import outputs
from dockercourse.currentengine import STORES, CurrentEngine
from tests.utils.assignment import AID, NB, SOURCE, not_at_full_marks
from tests.utils.notebook_runner import cell_texts, course_objects, run_notebook, verdicts_that_did_not_hold
from tests.utils.paths import ROOT

pytestmark = [pytest.mark.current_engine, pytest.mark.root]

LECTURES = outputs.lectures()
#: The store whose outputs are committed, compared by nbval.
COMMITTED = outputs.STORE
#: The lectures whose subject is the image store, run on the classic store too: notebook 00 describes the
#: engine (its store, its builder), 03 builds images and counts layers, image IDs and sizes, 04 reads a
#: container's writable layer and pushes and pulls through a registry (digests), 05 builds and runs
#: the service and Compose.
STORE_DEPENDENT = ("00", "03", "04", "05")
OTHER_STORE_RUNS = [(store, nb) for store in STORES if store != COMMITTED for nb in LECTURES
                    if nb.name[:2] in STORE_DEPENDENT]


@pytest.fixture(scope="module")
def engines(docker_client):
    """Each store's engine, started with the base image the first time a test asks for it and
    stopped at the end of the module (docker_client: the host engine holds the base image)."""
    started: dict[str, CurrentEngine] = {}

    def get(store: str) -> CurrentEngine:
        if store not in started:
            ce = CurrentEngine(store=store)
            ce.ensure_root()
            ce.start()
            started[store] = ce
            ce.ensure_base_image()
        return started[store]

    yield get
    for ce in started.values():
        ce.stop()


@pytest.fixture
def current(request, engines) -> CurrentEngine:
    return engines(request.param)


@pytest.fixture
def lane_env(current) -> dict[str, str]:
    """The kernels' environment: the engine's variables and a state folder of this store's."""
    return {**current.env(), "DOCKERCOURSE_STATE": str(outputs.lane_state(current.store.name))}


def nbval_command(notebook: Path, lax: bool = False) -> list[str]:
    """Pure: pytest on one notebook under nbval (the project's options: sanitize file, current
    environment's kernel) with the verdict checks."""
    return [sys.executable, "-m", "pytest", "-p", "tests.utils.nbval_verdicts", "-p", "no:cacheprovider",
            "-q", "-rfE", *(["--nbval-lax"] if lax else []), str(notebook.relative_to(ROOT))]


@pytest.mark.parametrize("current", [COMMITTED], indirect=True)
@pytest.mark.parametrize("notebook", LECTURES, ids=[p.name[:2] for p in LECTURES])
def test_lecture_matches_its_committed_outputs(request, current, lane_env, notebook):
    """nbval, strict, on the engine the outputs come from (``--nbval-lax`` in PYTEST_ARGS is passed on:
    a machine of another kind, see docs/tests.md)."""
    lax = bool(request.config.getoption("nbval_lax", default=False))
    executed = Path(lane_env["DOCKERCOURSE_STATE"]) / "executed"  # what this engine showed
    env = {**os.environ, **lane_env, "DOCKERCOURSE_LEFTOVERS": "all", "DOCKERCOURSE_EXECUTED": str(executed)}
    proc = subprocess.run(nbval_command(notebook, lax), cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stdout[-12000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and " skipped" not in proc.stdout, proc.stdout[-3000:]


@pytest.mark.parametrize("current, notebook", OTHER_STORE_RUNS, indirect=["current"],
                         ids=[f"{s}-{nb.name[:2]}" for s, nb in OTHER_STORE_RUNS])
def test_lecture_runs_with_verdicts_that_hold(current, lane_env, notebook):
    c = current.client()
    try:
        before = course_objects(c)
        executed = Path(lane_env["DOCKERCOURSE_STATE"]) / "executed" / notebook.name  # what this engine showed
        nb = run_notebook(notebook, env=lane_env, timeout=900, save_to=executed)
        assert verdicts_that_did_not_hold(cell_texts(nb)) == []
        assert course_objects(c) - before == set()
    finally:
        c.close()


@pytest.mark.parametrize("current", list(STORES), indirect=True)
def test_tp_reference_solution_at_full_marks(current, lane_env, tmp_path):
    shutil.copytree(SOURCE, tmp_path / AID)
    nb = run_notebook(tmp_path / AID / NB, env=lane_env, timeout=900)
    assert not_at_full_marks(nb) == []
