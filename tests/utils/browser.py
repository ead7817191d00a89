"""Headless Chromium for the browser tests, in a network namespace of its own.

Chromium watches the network interfaces (netlink) and, when one appears or goes, aborts the requests
in flight with ``net::ERR_NETWORK_CHANGED`` (https://issues.chromium.org/issues/41465264). During
``make test`` the other sessions make and remove interfaces all the time (containers' veth pairs,
the grading sandboxes' and the class server's network namespaces, the current engine's bridge): fresh
run 18 lost formgrader's scripts that way (« failed requests: …/utils.js: net::ERR_NETWORK_CHANGED »),
and earlier runs JupyterLab's theme stylesheet. In a namespace that holds only ``lo``, nothing
changes under Chromium: the servers it must reach (on the host's 127.0.0.1) are forwarded into it
port by port, byte for byte (HTTP and WebSocket alike).

``with chromium(pw, url, ...) as browser`` launches it there (Playwright talks to it over pipes,
which cross namespaces), and removes the namespace and the forwarders afterwards.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"  # Debian's chromium; Playwright drives it (its own download is unused)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
CLONE_NEWNET = 0x40000000
_names = itertools.count()


def ports_of(urls: Iterable[str]) -> set[int]:
    """Pure: the loopback ports the browser needs, from the URLs it will open."""
    out = set()
    for url in urls:
        parts = urlsplit(url)
        out.add(parts.port or (443 if parts.scheme == "https" else 80))
    return out


def wrapper_script(netns: str, chromium: str = CHROMIUM) -> str:
    """Pure: the executable Playwright launches: Chromium inside the namespace, same arguments."""
    return f'#!/bin/sh\nexec ip netns exec {netns} {chromium} "$@"\n'


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


class _Forwarder:
    """Listens on 127.0.0.1:port inside the namespace, connects to 127.0.0.1:port on the host."""

    def __init__(self, netns: str, ports: set[int]):
        self.listeners: list[tuple[socket.socket, int]] = []
        self.conns: list[socket.socket] = []
        self._listen_inside(Path("/run/netns") / netns, ports)
        for lsock, port in self.listeners:
            threading.Thread(target=self._accept, args=(lsock, port), daemon=True).start()

    def _listen_inside(self, ns_path: Path, ports: set[int]) -> None:
        """The sockets are made by a thread that entered the namespace (setns is per thread; a socket
        stays in the namespace it was made in); the thread ends, the process stays on the host's."""
        errors: list[BaseException] = []

        def make() -> None:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(ns_path, os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns({ns_path})")
                for port in sorted(ports):
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    s.bind(("127.0.0.1", port))
                    s.listen(128)
                    self.listeners.append((s, port))
            except BaseException as err:  # reported in the caller's thread
                errors.append(err)
            finally:
                os.close(fd)

        t = threading.Thread(target=make)
        t.start()
        t.join()
        if errors:
            self.close()
            raise errors[0]

    def _accept(self, lsock: socket.socket, port: int) -> None:
        while True:
            try:
                inside, _ = lsock.accept()
            except OSError:
                return  # closed
            try:
                outside = socket.create_connection(("127.0.0.1", port), timeout=30)
                outside.settimeout(None)
            except OSError:
                inside.close()
                continue
            self.conns += [inside, outside]
            threading.Thread(target=_pump, args=(inside, outside), daemon=True).start()
            threading.Thread(target=_pump, args=(outside, inside), daemon=True).start()

    def close(self) -> None:
        for s, _ in self.listeners:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        for s in self.conns:
            with contextlib.suppress(OSError):
                s.close()


@contextlib.contextmanager
def netns_with_loopback() -> Iterator[str]:
    """A named network namespace holding only ``lo`` (up), deleted afterwards."""
    name = f"dcbrowser-{os.getpid()}-{next(_names)}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, capture_output=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)


@contextlib.contextmanager
def chromium(pw, *urls: str, flags: list[str] | None = None):
    """Headless Chromium (Playwright's ``Browser``) in a namespace of its own, the ``urls``' ports
    forwarded to the host's loopback. Closed, and the namespace removed, on exit."""
    with netns_with_loopback() as netns, tempfile.TemporaryDirectory(prefix="dcbrowser-") as tmp:
        forwarder = _Forwarder(netns, ports_of(urls))
        exe = Path(tmp) / "chromium"
        exe.write_text(wrapper_script(netns))
        exe.chmod(0o755)
        try:
            browser = pw.chromium.launch(executable_path=str(exe), args=flags or CHROMIUM_FLAGS)
            try:
                yield browser
            finally:
                browser.close()
        finally:
            forwarder.close()
