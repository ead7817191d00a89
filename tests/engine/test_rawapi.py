"""The raw Engine API helper: HTTP parsing on recorded responses, then the real daemon."""
from __future__ import annotations

import pytest

from dockercourse import rawapi


def test_raw_version_matches_the_sdk(docker_client):
    raw = rawapi.get_json("/version")
    sdk = docker_client.version()
    assert raw["Version"] == sdk["Version"] and raw["ApiVersion"] == sdk["ApiVersion"]


def test_raw_list_sees_a_labelled_container(tracked):
    ctr = tracked.run(command=["sleep", "30"], labels={"dockercourse.unit": "rawapi-test"}, network_mode="none")
    found = rawapi.get_json(rawapi.query("/containers/json", all=1,
                                         filters={"label": ["dockercourse.unit=rawapi-test"]}))
    assert [c["Id"] for c in found] == [ctr.id]
    assert found[0]["State"] == "running"


def test_raw_info_is_chunked_and_decoded(docker_client):
    # /info is larger than Go's write buffer: the daemon answers with chunked encoding
    req, resp = rawapi.exchange("GET", "/info")
    assert resp.status == 200
    assert resp.json()["Driver"] == docker_client.info()["Driver"]


def test_http_error_becomes_french_error(docker_client):
    with pytest.raises(rawapi.RawAPIError, match="404"):
        rawapi.get_json("/containers/dockercourse-does-not-exist/json")


def test_show_prints_request_status_and_json(docker_client, capsys):
    data = rawapi.show("/version")
    out = capsys.readouterr().out
    assert "GET /version HTTP/1.1" in out and "← réponse : HTTP 200 OK" in out
    assert f'"Version": "{data["Version"]}"' in out
