"""Shared fixtures, in the spirit of jupyter/docker-stacks' tests:

- ``docker_client``: one session-wide Docker SDK client. No daemon is a *failure*,
  never a skip: ``make test`` sets the engine up first, so a missing daemon is a bug.
- ``tracked``: runs containers with the course label and always removes what it started.
- at the end of the session, any labelled container that appeared during the run and is
  still there fails the run (notebooks and tests must clean up after themselves).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dockercourse import engine


def _labelled_containers() -> set[str]:
    try:
        return set(engine.leftovers())
    except engine.DockerUnavailable:
        return set()


#: Test modules that use the lecture notebooks' container and image names (``dockercourse-nb0X-…``,
#: cleaned up by unit label); the notebooks themselves share them too.
SHARES_LECTURE_NAMES = {"test_architecture.py", "test_isolation.py", "test_measure.py", "test_registry.py",
                        "test_scratch.py", "test_vm.py"}


def _shares_lecture_names(item) -> bool:
    path = Path(str(item.fspath))
    return path.suffix == ".ipynb" or path.name in SHARES_LECTURE_NAMES


def pytest_sessionstart(session):
    session.config._dockercourse_before = _labelled_containers()


def pytest_collection_modifyitems(config, items):
    # What shares the lecture notebooks' names runs last (a stable sort keeps each file's order),
    # so the notebooks lock below is taken as late as possible.
    items.sort(key=_shares_lecture_names)


def pytest_runtest_setup(item):
    config = item.config
    if (os.environ.get("DOCKERCOURSE_HOLD_NOTEBOOKS_LOCK") == "1" and _shares_lecture_names(item)
            and not hasattr(config, "_dockercourse_lock")):
        # tests/run_suites.py: the course image's session runs the lecture notebooks inside the
        # course container, on the same daemon with the same names. From the first item that uses
        # those names to the end of this session, that run waits (and this session waits for it).
        from notebook_runner import notebooks_lock

        config._dockercourse_lock = notebooks_lock()
        config._dockercourse_lock.__enter__()


def pytest_sessionfinish(session, exitstatus):
    lock = getattr(session.config, "_dockercourse_lock", None)
    if lock is not None:
        lock.__exit__(None, None, None)
    if hasattr(session.config, "workerinput"):  # xdist worker: the controller checks
        return
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


class TrackedContainers:
    """Start containers that carry the course label; remove them all at teardown."""

    def __init__(self, client):
        self.client = client
        self.containers = []

    def run(self, image: str = engine.BASE_IMAGE, command=None, **kwargs):
        kwargs.setdefault("detach", True)
        kwargs["labels"] = {**engine.labels(purpose="test"), **kwargs.get("labels", {})}
        ctr = self.client.containers.run(image, command, **kwargs)
        self.containers.append(ctr)
        return ctr

    def remove_all(self):
        import docker

        for ctr in self.containers:
            try:
                ctr.remove(force=True, v=True)
            except docker.errors.NotFound:
                pass
        self.containers.clear()


@pytest.fixture
def tracked(docker_client):
    t = TrackedContainers(docker_client)
    yield t
    t.remove_all()
