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


def test_a_free_port_is_drawn_below_the_ephemeral_range():
    """A server that binds its port seconds after it was chosen must not lose it to an outgoing
    connection or another bind(0) of a busy machine (the class server did not start, fresh run 26):
    free ports come from below the kernel's ephemeral range, and are bindable."""
    import socket

    assert registry.ephemeral_range("32768\t60999\n") == (32768, 60999)
    assert registry.ephemeral_range("") == (32768, 60999)
    low = registry.ephemeral_range()[0]
    ports = {registry.free_port() for _ in range(20)}
    assert len(ports) > 1
    for port in ports:
        assert registry.FREE_PORTS[0] <= port < min(low, registry.FREE_PORTS[1]), port
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
    import random

    taken_port, other = sorted(ports)[:2]
    draws = iter([taken_port, other])
    with socket.socket() as taken, pytest.MonkeyPatch.context() as mp:  # a port in use is skipped
        taken.bind(("127.0.0.1", taken_port))
        taken.listen()
        mp.setattr(random, "randrange", lambda a, b: next(draws))
        assert registry.free_port() == other


def test_ping_false_when_nothing_listens():
    assert registry.ping(f"http://127.0.0.1:{registry.free_port()}", timeout=1) is False


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError):
        registry.LocalRegistry("x", mode="vm")
