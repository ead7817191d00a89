"""The Docker Engine API by hand: HTTP/1.1 over the daemon's Unix socket.

Standard library only, on purpose: the lesson *is* the raw API. The ``docker``
command line and the Docker SDK both end up sending requests like the ones
built here (``GET /version HTTP/1.1`` on ``/var/run/docker.sock``) and reading
JSON back. Everywhere else the course uses the SDK.

The address comes from ``DOCKER_HOST`` like the CLI and the SDK do:
``unix:///path/to.sock`` (the default is ``/var/run/docker.sock``) or
``tcp://host:port`` (plain HTTP, no TLS).
"""

from __future__ import annotations

import json
import os
import socket
import urllib.parse
from dataclasses import dataclass, field

from . import engine
from .errors import DockercourseError

DEFAULT_SOCKET = "/var/run/docker.sock"
#: What the request's ``Host`` header says: over a Unix socket there is no host
#: name, but HTTP/1.1 requires the header (the SDK sends ``localhost`` too).
HOST_HEADER = "docker"
USER_AGENT = "dockercourse-rawapi/1"
#: Response headers worth showing to students (others are noise or change every time).
SHOWN_HEADERS = ("Api-Version", "Content-Type", "Docker-Experimental", "Ostype", "Server")


@dataclass
class Response:
    """A parsed HTTP response."""

    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str, default: str | None = None) -> str | None:
        """Header lookup, case-insensitive like HTTP."""
        for k, v in self.headers.items():
            if k.lower() == name.lower():
                return v
        return default

    def json(self):
        return json.loads(self.body.decode("utf-8"))


class RawAPIError(DockercourseError, RuntimeError):
    """The daemon answered with an HTTP error status (message in French)."""


# --------------------------------------------------------------------------- address


def endpoint(docker_host: str | None = None) -> tuple[str, str | tuple[str, int]]:
    """Where the daemon listens, from ``DOCKER_HOST`` (or the argument):
    ``("unix", "/var/run/docker.sock")`` or ``("tcp", (host, port))``."""
    host = docker_host if docker_host is not None else os.environ.get("DOCKER_HOST", "")
    if not host:
        return "unix", DEFAULT_SOCKET
    if host.startswith("unix://"):
        return "unix", host[len("unix://"):] or DEFAULT_SOCKET
    if host.startswith("tcp://") or host.startswith("http://"):
        parsed = urllib.parse.urlsplit(host.replace("tcp://", "http://", 1))
        return "tcp", (parsed.hostname or "localhost", parsed.port or 2375)
    raise engine.DockerUnavailable(
        f"DOCKER_HOST={host} : ce notebook ne sait parler à l'API brute que par un socket Unix "
        "(unix://...) ou en TCP sans TLS (tcp://...).")


# --------------------------------------------------------------------------- HTTP by hand


def build_request(method: str, path: str, body: bytes | None = None,
                  headers: dict[str, str] | None = None) -> bytes:
    """The exact bytes of an HTTP/1.1 request (``Connection: close``: the
    response ends when the daemon closes the connection)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST_HEADER}", f"User-Agent: {USER_AGENT}",
             "Accept: application/json", "Connection: close"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + (body or b"")


def decode_chunked(data: bytes) -> bytes:
    """Undo ``Transfer-Encoding: chunked`` (hex size line, data, CRLF, ..., ``0``)."""
    out = bytearray()
    pos = 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            raise ValueError("truncated chunked body (no size line)")
        size_text = data[pos:eol].split(b";", 1)[0].strip()
        size = int(size_text, 16)
        pos = eol + 2
        if size == 0:
            return bytes(out)
        if pos + size > len(data):
            raise ValueError("truncated chunked body")
        out += data[pos:pos + size]
        pos += size + 2  # the chunk's trailing CRLF


def parse_response(raw: bytes) -> Response:
    """Parse a complete HTTP/1.1 response (status line, headers, body)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("no end of headers in the response")
    lines = head.decode("iso-8859-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError(f"not an HTTP status line: {lines[0]!r}")
    status = int(parts[1])
    reason = parts[2] if len(parts) > 2 else ""
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip()] = v.strip()
    resp = Response(status, reason, headers, body)
    if (resp.header("Transfer-Encoding") or "").lower() == "chunked":
        resp.body = decode_chunked(body)
    elif resp.header("Content-Length") is not None:
        resp.body = body[: int(resp.header("Content-Length"))]
    return resp


def _connect(timeout: float) -> socket.socket:
    kind, address = endpoint()
    if kind == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except OSError as err:  # FileNotFoundError, ConnectionRefusedError, PermissionError...
        sock.close()
        raise engine.DockerUnavailable(engine._unreachable_message(err)) from None
    return sock


def exchange(method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
             timeout: float = 30) -> tuple[bytes, Response]:
    """Send one request, read until the daemon closes; returns (request bytes, response)."""
    req = build_request(method, path, body, headers)
    sock = _connect(timeout)
    try:
        sock.sendall(req)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
    except OSError as err:
        raise engine.DockerUnavailable(engine._unreachable_message(err)) from None
    finally:
        sock.close()
    return req, parse_response(b"".join(chunks))


def request(method: str, path: str, payload=None, timeout: float = 30) -> Response:
    """One API call; ``payload`` (dict/list) is sent as JSON."""
    body = headers = None
    if payload is not None:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
    return exchange(method, path, body, headers, timeout)[1]


def get_json(path: str, timeout: float = 30):
    """``GET path`` and decode the JSON answer; HTTP errors become :class:`RawAPIError`."""
    resp = request("GET", path, timeout=timeout)
    if resp.status >= 400:
        raise RawAPIError(f"GET {path} : le démon a répondu {resp.status} {resp.reason} — "
                          f"{resp.body.decode(errors='replace').strip()}")
    return resp.json()


def query(path: str, **params) -> str:
    """``query("/containers/json", all=1, filters={...})`` → the path with a
    URL-encoded query string (dict/list values as JSON, like the API expects)."""
    if not params:
        return path
    enc = {k: json.dumps(v) if isinstance(v, (dict, list)) else str(v) for k, v in params.items()}
    return path + "?" + urllib.parse.urlencode(enc)


# --------------------------------------------------------------------------- notebook-facing


def describe_endpoint() -> str:
    kind, address = endpoint()
    if kind == "unix":
        return f"socket Unix {address}"
    return f"TCP {address[0]}:{address[1]}"


@engine.needs_docker
def show(path: str = "/version", max_chars: int = 1200, show_body: bool = True):
    """Print the request as sent, the status line and a few headers, the JSON
    body (pretty-printed, cut at ``max_chars``; not printed with ``show_body=False``,
    when the caller shows it as a table); returns the decoded JSON."""
    req, resp = exchange("GET", path)
    print(f"→ requête envoyée sur le {describe_endpoint()} :")
    for line in req.decode("ascii").rstrip("\r\n").split("\r\n"):
        print("   " + line)
    print(f"← réponse : HTTP {resp.status} {resp.reason}")
    for name in SHOWN_HEADERS:
        value = resp.header(name)
        if value is not None:
            print(f"   {name}: {value}")
    data = resp.json() if resp.body else None
    if not show_body:
        print("   (le corps de la réponse est un JSON : le voici résumé en tableau)")
        return data
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if len(text) > max_chars:
        text = text[:max_chars] + "\n   … (tronqué)"
    print(text)
    return data
