"""The browser tests' Chromium (tests/utils/browser.py) is deaf to the host's interfaces coming and
going: a page of 40 scripts served on the host's loopback loads whole while a veth pair is made and
removed every 0.1 s (what containers and sandboxes do during ``make test``; Chromium in the host's
namespace loses requests to ``net::ERR_NETWORK_CHANGED`` then)."""
from __future__ import annotations

import http.server
import os
import subprocess
import threading

import pytest

from tests.utils.browser import chromium, ports_of, wrapper_script

pytestmark = [pytest.mark.browser, pytest.mark.root]
SCRIPTS = 40


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path == "/":
            body = "".join(f'<script src="/s{i}.js"></script>' for i in range(SCRIPTS)).encode()
            kind = "text/html"
        else:
            body = f"window.loaded = (window.loaded || 0) + 1; // {'x' * 20000}".encode()
            kind = "application/javascript"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_pure_helpers():
    assert ports_of(["http://127.0.0.1:8888/lab?token=x", "http://127.0.0.1/"]) == {8888, 80}
    assert wrapper_script("ns1", "/usr/bin/chromium") == '#!/bin/sh\nexec ip netns exec ns1 /usr/bin/chromium "$@"\n'


def test_pages_load_whole_while_interfaces_come_and_go():
    from playwright.sync_api import sync_playwright

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    stop = threading.Event()

    def flap():
        while not stop.is_set():
            subprocess.run(["ip", "link", "add", "dcflap0", "type", "veth", "peer", "name", "dcflap1"],
                           capture_output=True)
            subprocess.run(["ip", "link", "set", "dcflap0", "up"], capture_output=True)
            stop.wait(0.1)
            subprocess.run(["ip", "link", "del", "dcflap0"], capture_output=True)
            stop.wait(0.1)

    flapper = threading.Thread(target=flap, daemon=True)
    flapper.start()
    failed = []
    try:
        with sync_playwright() as pw, chromium(pw, url) as browser:
            page = browser.new_page()
            page.on("requestfailed", lambda req: failed.append(f"{req.url}: {req.failure}"))
            for _ in range(5):
                page.goto(url)
                page.wait_for_function(f"window.loaded === {SCRIPTS}", timeout=30_000)
    finally:
        stop.set()
        flapper.join(timeout=10)
        subprocess.run(["ip", "link", "del", "dcflap0"], capture_output=True)
        server.shutdown()
    assert failed == []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert f"dcbrowser-{os.getpid()}-" not in netns, netns  # this process's namespace went with the browser
