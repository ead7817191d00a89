"""The course's local registry: lifecycle (loopback only, temp data, nothing left
running) and the registry HTTP API, against a real push/pull by the daemon."""
from __future__ import annotations

import pytest

from dockercourse import registry


def test_config_listens_on_loopback_with_data_in_given_folder(tmp_path):
    text = registry.render_config(tmp_path / "data", 5123)
    assert "addr: 127.0.0.1:5123" in text
    assert f"rootdirectory: {tmp_path / 'data'}" in text


@pytest.mark.parametrize(("ref", "expected"), [
    ("127.0.0.1:5000/app:1.0", ("127.0.0.1:5000/app", "1.0", None)),
    ("127.0.0.1:5000/app", ("127.0.0.1:5000/app", None, None)),
    ("python:3.13-slim", ("python", "3.13-slim", None)),
    ("app@sha256:abc", ("app", None, "sha256:abc")),
    ("localhost:5000/a/b:v2@sha256:abc", ("localhost:5000/a/b", "v2", "sha256:abc")),
])
def test_split_reference(ref, expected):
    assert registry.split_reference(ref) == expected


def test_ping_false_when_nothing_listens():
    assert registry.ping(f"http://127.0.0.1:{registry.free_port()}", timeout=1) is False


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError):
        registry.LocalRegistry("x", mode="vm")
