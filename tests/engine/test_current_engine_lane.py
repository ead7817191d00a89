"""The lectures and the TP on the engine students have: Engine 26+ (Debian trixie's, or sid's with
``DOCKERCOURSE_CURRENT_SUITE=sid``) with BuildKit, Compose v2, and each image store.

The committed outputs of the lecture notebooks are compared by nbval in the suite, on the host's
engine; here every lecture notebook runs to the end on the current engine with the containerd
store (the default of new Docker Desktop and Engine 29 installs), and those whose subject is the
image store run again with the classic store (:data:`STORE_DEPENDENT`); each run's own verdicts
are checked: no error output, no « ✘ » (a verdict that did not hold on this engine), nothing of
the course left on the engine afterwards. Then the TP's reference solution gets full marks from
the student's side on each store.

Notebooks 01 (containers vs a VM) and 02 (cgroups and namespaces) run containers of the base image
and read the kernel's view of their processes: nothing there goes through the image store, so a
second run on the classic store would repeat the containerd run (about 150 s of ``make test``).

``make test`` runs this module in the current-engine session (``-m current_engine``), beside the
suite's notebooks on the host's engine: the names do not collide (two daemons), and the kernels here
get a state folder of their own (build contexts, the local registry's state, the hand-made
container's rootfs), sharing only the QEMU cache, which is written atomically.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dockercourse import engine
from dockercourse.currentengine import STORES, CurrentEngine
from tests.utils.assignment import AID, NB, SOURCE, not_at_full_marks
from tests.utils.notebook_runner import cell_texts, run_notebook, verdicts_that_did_not_hold
from tests.utils.paths import NOTEBOOKS

pytestmark = [pytest.mark.current_engine, pytest.mark.root]

LECTURES = sorted(NOTEBOOKS.glob("0*.ipynb"))
#: The lectures whose subject is the image store, run on both stores: notebook 00 describes the engine
#: (its store, its builder), 03 builds images and counts layers, image IDs and sizes, 04 reads a
#: container's writable layer and pushes and pulls through a registry (digests), 05 builds and runs
#: the service and Compose. 01 and 02 run on the containerd store only (see the module's docstring).
STORE_DEPENDENT = ("00", "03", "04", "05")
RUNS = [(store, nb) for store in STORES for nb in LECTURES
        if store == "containerd" or nb.name[:2] in STORE_DEPENDENT]


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
    state = engine.state_dir() / "lanes" / current.store.name
    state.mkdir(parents=True, exist_ok=True)
    vm = engine.state_dir() / "vm"
    vm.mkdir(exist_ok=True)
    if not (state / "vm").is_symlink():
        (state / "vm").symlink_to(vm)
    return {**current.env(), "DOCKERCOURSE_STATE": str(state)}


def course_objects(ce: CurrentEngine) -> list[str]:
    c = ce.client()
    flt = {"label": engine.LABEL}
    try:
        found = [f"container {x.name}" for x in c.containers.list(all=True, filters=flt)]
        found += [f"volume {v.name}" for v in c.volumes.list(filters=flt)]
        found += [f"network {n.name}" for n in c.networks.list(filters=flt)]
        found += [f"image {i.short_id}" for i in c.images.list(filters={**flt, "dangling": True})]
    finally:
        c.close()
    return found


@pytest.mark.parametrize("current, notebook", RUNS, ids=[f"{s}-{nb.name[:2]}" for s, nb in RUNS],
                         indirect=["current"])
def test_lecture_runs_with_verdicts_that_hold(current, lane_env, notebook):
    before = set(course_objects(current))
    executed = Path(lane_env["DOCKERCOURSE_STATE"]) / "executed" / notebook.name  # what this engine showed
    nb = run_notebook(notebook, env=lane_env, timeout=900, save_to=executed)
    assert verdicts_that_did_not_hold(cell_texts(nb)) == []
    assert set(course_objects(current)) - before == set()


@pytest.mark.parametrize("current", list(STORES), indirect=True)
def test_tp_reference_solution_at_full_marks(current, lane_env, tmp_path):
    shutil.copytree(SOURCE, tmp_path / AID)
    nb = run_notebook(tmp_path / AID / NB, env=lane_env, timeout=900)
    assert not_at_full_marks(nb) == []
