"""The notebook's helpers during class grading (dockercourse.grading.kernel): with the official
results at hand, they do not wait again for what the official run found never comes. No Docker:
the app is a file on disk and the URL a port where nothing listens."""

from __future__ import annotations

import json
import socket
import time

import pytest

from dockercourse.grading import kernel


@pytest.fixture
def official(tmp_path, monkeypatch):
    """Write the sandbox's official results file with the given facts, and point the helpers at it."""
    path = tmp_path / "official.json"
    monkeypatch.setenv(kernel.OFFICIAL_ENV, str(path))
    monkeypatch.setattr(kernel, "KNOWN_ABSENT_WAIT_S", 0.5)

    def write(**facts_by_check):
        results = {check: {"check": check, "score": 0, "points": 1, "text": "❌", "facts": facts}
                   for check, facts in facts_by_check.items()}
        path.write_text(json.dumps({"results": results}))

    return write


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_waiting_for_an_app_the_official_run_never_reached_is_short(official, capsys):
    official(http={"app_answered": False})
    t0 = time.monotonic()
    kernel.attendre_http(f"http://127.0.0.1:{closed_port()}/", timeout=20)
    assert time.monotonic() - t0 < 5
    out = capsys.readouterr().out
    assert "Rien ne répond" in out and "n'a pas répondu non plus" in out


def test_an_app_that_answered_officially_gets_the_whole_wait(official):
    official(http={"app_answered": True})
    t0 = time.monotonic()
    kernel.attendre_http(f"http://127.0.0.1:{closed_port()}/", timeout=1.5)
    assert time.monotonic() - t0 >= 1.5


def test_an_import_that_never_ends_officially_is_tried_briefly(official, tmp_path, capsys):
    official(application={"import_ends": False})
    app = tmp_path / "app.py"
    app.write_text("while True:\n    pass\n")
    t0 = time.monotonic()
    kernel.essayer_app(app)
    assert time.monotonic() - t0 < 5
    assert "l'import ne se termine pas" in capsys.readouterr().out


def test_official_results_are_shown_by_every_test_cell_whatever_the_files_are_then(official, tmp_path, capsys):
    """An early test cell (requirements, before the Dockerfile cell has run) shows the official result
    instead of checking a project that is not fully written yet."""
    official(requirements={})
    assert kernel.run_check("requirements", points=2, project=tmp_path) == 0.0
    assert capsys.readouterr().out.strip() == "❌"
