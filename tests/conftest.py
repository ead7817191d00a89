"""Shared fixtures and the tiers, in the spirit of jupyter/docker-stacks' tests.

Tiers are applied **by folder** (:data:`FOLDER_MARKERS`), so no test can forget its marker:

- ``tests/unit/``: pure logic, no daemon, no network, no root (``make test-unit``);
- ``tests/engine/`` and the lecture notebooks: a live Docker engine;
- ``tests/grading/``: the checks, the sandboxes, the class command and the instructor's term;
- ``tests/image/``: the course image, Binder and the launch modes (a session of its own);
- ``tests/hub/``: the class server, real accounts and a browser (a session of its own).

A test that also needs root, a browser or QEMU carries ``root``, ``browser`` or ``qemu``.

Fixtures:

- ``docker_client``: one session-wide Docker SDK client. No daemon is a *failure*, never a
  skip: ``make test`` sets the engine up first, so a missing daemon is a bug.
- ``tracked``: creates containers, images, volumes and networks with the course label, and
  removes all of them at teardown, whatever the test did.
- ``free_port``: a TCP port nothing listens on (loopback).
- at the end of the session, any labelled container that appeared during the run and is still
  there fails the run (notebooks and tests must clean up after themselves).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockercourse import engine
from dockercourse.registry import free_port as _free_port

TESTS = Path(__file__).resolve().parent

#: Folder (under tests/, or the notebooks when a path names them) -> the markers every item in it carries.
#: ``make test`` runs the lectures under nbval in the current-engine lane and in the course image, not as
#: items of a session (``tests/engine/test_current_engine_lane.py``, ``tests/image/test_course_image.py``).
FOLDER_MARKERS = {
    "unit": ("unit",),
    "engine": ("docker",),
    "grading": ("docker",),
    "image": ("docker", "course_image"),
    "hub": ("docker", "root", "hub"),
    "notebooks": ("docker", "notebook"),
}


def _folder(item) -> str | None:
    path = Path(str(item.fspath)).resolve()
    try:
        return path.relative_to(TESTS).parts[0]
    except ValueError:
        return "notebooks" if path.suffix == ".ipynb" else None


def _labelled_containers() -> set[str]:
    try:
        return set(engine.leftovers())
    except engine.DockerUnavailable:
        return set()


def _shares_lecture_names(item) -> bool:
    """Marked ``lecture_names``: a live test that uses the lecture notebooks' names (``dockercourse-nb02-…``,
    cleaned up by unit label), while the course image's session runs the lectures on the same daemon."""
    return item.get_closest_marker("lecture_names") is not None or Path(str(item.fspath)).suffix == ".ipynb"


def pytest_sessionstart(session):
    session.config._dockercourse_before = _labelled_containers()


def pytest_collection_modifyitems(config, items):
    for item in items:
        folder = _folder(item)
        if folder not in FOLDER_MARKERS:
            raise pytest.UsageError(f"{item.nodeid}: tests live in one of tests/{{{','.join(FOLDER_MARKERS)}}}/")
        for marker in FOLDER_MARKERS[folder]:
            item.add_marker(marker)
    # What shares the lecture notebooks' names runs last (a stable sort keeps each file's order): by then
    # the course image's run of the lectures is usually over, and nothing waits on the notebooks lock.
    items.sort(key=_shares_lecture_names)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if os.environ.get("DOCKERCOURSE_HOLD_NOTEBOOKS_LOCK") == "1" and _shares_lecture_names(item):
        # tests/run_suites.py: the course image's session runs the lecture notebooks inside the course
        # container, on the same daemon with the same names; one test at a time holds the lock (its
        # fixtures included) and that run holds it throughout.
        from tests.utils.notebook_runner import notebooks_lock

        item._dockercourse_lock = notebooks_lock()
        item._dockercourse_lock.__enter__()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    try:
        return (yield)  # the test's fixtures are torn down, whatever they raise
    finally:
        lock = getattr(item, "_dockercourse_lock", None)
        if lock is not None:
            del item._dockercourse_lock
            lock.__exit__(None, None, None)


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("DOCKERCOURSE_LEFTOVERS_CHECK") == "runner":  # tests/run_suites.py checks
        return
    before = getattr(session.config, "_dockercourse_before", set())
    left = sorted(_labelled_containers() - before)
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        msg = f"labelled containers left behind by this run: {', '.join(left)}"
        if reporter:
            reporter.write_line(f"ERROR: {msg}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def docker_client():
    try:
        return engine.client()
    except engine.DockerUnavailable as err:
        pytest.fail(f"No Docker daemon: {err} (run `make test`, which sets the engine up)", pytrace=False)


@pytest.fixture
def free_port() -> int:
    return _free_port()


class Tracked:
    """Create Docker objects with the course label and remember them; :meth:`remove_all` (run at
    teardown) removes every container, image, volume and network made through it, containers
    first. Only what it made: the sessions beside this one share the daemon and the label."""

    def __init__(self, client):
        self.client = client
        self.made: list[tuple[str, str]] = []  # (kind, id), in creation order

    def run(self, image: str = engine.BASE_IMAGE, command=None, **kwargs):
        kwargs.setdefault("detach", True)
        kwargs["labels"] = {**engine.labels(purpose="test"), **kwargs.get("labels", {})}
        ctr = self.client.containers.run(image, command, **kwargs)
        self.made.append(("container", ctr.id))
        return ctr

    def build(self, **kwargs):
        kwargs["labels"] = {**engine.labels(purpose="test"), **kwargs.get("labels", {})}
        image, logs = self.client.images.build(**kwargs)
        self.made.append(("image", image.id))
        return image, logs

    def volume(self, name: str | None = None, **kwargs):
        vol = self.client.volumes.create(name, labels=engine.labels(purpose="test"), **kwargs)
        self.made.append(("volume", vol.id))
        return vol

    def network(self, name: str, **kwargs):
        net = self.client.networks.create(name, labels=engine.labels(purpose="test"), **kwargs)
        self.made.append(("network", net.id))
        return net

    def remove_all(self) -> None:
        import docker

        remove = {
            "container": lambda i: self.client.containers.get(i).remove(force=True, v=True),
            "image": lambda i: self.client.images.remove(i, force=True),
            "volume": lambda i: self.client.volumes.get(i).remove(force=True),
            "network": lambda i: self.client.networks.get(i).remove(),
        }
        order = {"container": 0, "network": 1, "volume": 2, "image": 3}
        for kind, obj_id in sorted(reversed(self.made), key=lambda m: order[m[0]]):
            try:
                remove[kind](obj_id)
            except docker.errors.NotFound:
                pass
        self.made.clear()


@pytest.fixture
def tracked(docker_client):
    t = Tracked(docker_client)
    yield t
    t.remove_all()
