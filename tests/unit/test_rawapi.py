"""The raw Engine API helper: HTTP parsing on recorded responses, then the real daemon."""
from __future__ import annotations

import pytest

from dockercourse import engine, rawapi
from tests.utils import paths

FIXTURES = paths.FIXTURES / "architecture"


def test_build_request_is_plain_http11():
    req = rawapi.build_request("GET", "/version")
    assert req.startswith(b"GET /version HTTP/1.1\r\nHost: docker\r\n")
    assert b"Connection: close\r\n" in req
    assert req.endswith(b"\r\n\r\n")
    post = rawapi.build_request("POST", "/containers/create", body=b'{"Image": "x"}',
                                headers={"Content-Type": "application/json"})
    assert b"Content-Length: 14\r\n" in post and post.endswith(b'\r\n\r\n{"Image": "x"}')


def test_parse_response_with_content_length():
    resp = rawapi.parse_response((FIXTURES / "version.http").read_bytes())
    assert (resp.status, resp.reason) == (200, "OK")
    assert resp.header("api-version") == "1.41"  # case-insensitive
    data = resp.json()
    assert data["Version"] == "20.10.24+dfsg1"
    assert {c["Name"] for c in data["Components"]} >= {"Engine", "containerd", "runc"}


def test_parse_response_chunked_gives_the_same_body():
    plain = rawapi.parse_response((FIXTURES / "version.http").read_bytes())
    chunked = rawapi.parse_response((FIXTURES / "version_chunked.http").read_bytes())
    assert chunked.header("Transfer-Encoding") == "chunked"
    assert chunked.body == plain.body


def test_parse_error_response():
    resp = rawapi.parse_response((FIXTURES / "not_found.http").read_bytes())
    assert resp.status == 404 and resp.json() == {"message": "page not found"}


@pytest.mark.parametrize("raw", [b"garbage", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", b"SSH-2.0\r\n\r\n"])
def test_parse_rejects_non_http(raw):
    with pytest.raises(ValueError):
        rawapi.parse_response(raw)


def test_decode_chunked_truncated():
    with pytest.raises(ValueError):
        rawapi.decode_chunked(b"a\r\n12345")


@pytest.mark.parametrize(("host", "expected"), [
    ("", ("unix", "/var/run/docker.sock")),
    ("unix:///run/user/1000/docker.sock", ("unix", "/run/user/1000/docker.sock")),
    ("tcp://10.0.0.2:2375", ("tcp", ("10.0.0.2", 2375))),
    ("tcp://dockerhost", ("tcp", ("dockerhost", 2375))),
])
def test_endpoint_from_docker_host(host, expected):
    assert rawapi.endpoint(host) == expected


def test_endpoint_refuses_ssh_with_a_french_sentence():
    with pytest.raises(engine.DockerUnavailable, match="socket Unix"):
        rawapi.endpoint("ssh://user@host")


def test_query_encodes_filters_as_json():
    q = rawapi.query("/containers/json", all=1, filters={"label": ["a=b"]})
    assert q == "/containers/json?all=1&filters=%7B%22label%22%3A+%5B%22a%3Db%22%5D%7D"


def test_dead_socket_is_docker_unavailable(monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/dockercourse-no-daemon.sock")
    with pytest.raises(engine.DockerUnavailable, match="DOCKER_HOST"):
        rawapi.get_json("/version")
    assert rawapi.show("/version") is None
    out = capsys.readouterr().out
    assert out.count("Cellule non exécutée") == 1
