"""Driving the class server from a test: the hub's REST API with the operator's token, and code run
in a member's session through a Jupyter kernel, as a notebook cell would (websocket-client)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

from dockercourse.waiting import wait_until


def three_free_ports() -> int:
    """A free port whose two next ones are free too (the proxy's API, the correction service)."""
    import socket

    from dockercourse.registry import free_port

    for _ in range(50):
        port = free_port()
        socks = []
        try:
            for p in (port, port + 1, port + 2):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no three consecutive free ports")


@dataclasses.dataclass
class CellResult:
    stdout: str
    stderr: str
    error: str  # "ename: evalue" of an exception, "" when none
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.error


class Hub:
    """A running ``python -m dockercourse hub`` (started by :meth:`start`, stopped by :meth:`stop`)."""

    def __init__(self, roster: Path, root: Path, log: Path, port: int | None = None, memory_mib: int = 2048,
                 idle_s: int | None = None):
        self.roster, self.root, self.log = roster, root, log
        self.idle_s = idle_s
        self.port = port or three_free_ports()
        self.proxy_api_port = self.port + 1  # then the correction service: port + 2
        self.url = f"http://127.0.0.1:{self.port}"
        self.memory_mib = memory_mib
        self.proc: subprocess.Popen | None = None
        self.kernels: dict[str, str] = {}
        self.members = [ln.split(",")[0] for ln in roster.read_text().splitlines()[1:] if ln.strip()]

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", "dockercourse", "hub", "--class", str(self.roster), "--ip", "127.0.0.1",
                "--port", str(self.port), "--root", str(self.root), "--memory", str(self.memory_mib),
                *(["--idle", str(self.idle_s)] if self.idle_s else [])]

    def index(self, user: str) -> int:
        return self.members.index(user)

    # ---- lifecycle
    def start(self, timeout: float = 600) -> None:
        self.proc = subprocess.Popen(self.command, stdout=open(self.log, "w"), stderr=subprocess.STDOUT,
                                     env=os.environ.copy(), start_new_session=True)
        # ready when the command says so (it prints the address, then the first passwords, once the hub answers)
        ok, _ = wait_until(lambda: self.proc.poll() is not None or ("Adresse :" in self.log.read_text()
                                                                   and self._answers()), timeout, interval=0.5)
        if not ok or self.proc.poll() is not None:
            raise AssertionError("the hub did not start:\n" + self.log.read_text()[-3000:])

    def _answers(self) -> bool:
        with contextlib.suppress(requests.RequestException, OSError):
            return requests.get(f"{self.url}/hub/api/", headers=self.headers, timeout=3).status_code == 200
        return False

    def stop(self, timeout: float = 120) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {(self.root / 'operator-token').read_text().strip()}"}

    # ---- the hub's API
    def api(self, method: str, path: str, **kw) -> requests.Response:
        return requests.request(method, f"{self.url}/hub/api{path}", headers=self.headers, timeout=60, **kw)

    def token_for(self, user: str, scopes: list[str] | None) -> str:
        """A new API token of ``user`` (``scopes`` None: the user's own permissions)."""
        body = {"note": "test", "expires_in": 3600} | ({"scopes": scopes} if scopes is not None else {})
        r = self.api("POST", f"/users/{user}/tokens", json=body)
        assert r.status_code in (200, 201), r.text
        return r.json()["token"]

    def spawn(self, user: str, timeout: float = 240) -> float:
        """Start ``user``'s server; returns the seconds until it is ready."""
        t0 = time.monotonic()
        r = self.api("POST", f"/users/{user}/server")
        assert r.status_code in (201, 202, 400), r.text  # 400: already running
        ok, _ = wait_until(lambda: self.server(user).get("ready"), timeout, interval=0.5)
        assert ok, f"{user}'s server did not become ready:\n" + self.session_log(user)
        ready = time.monotonic() - t0
        self.wait_for_base(user)
        return ready

    def wait_for_base(self, user: str, timeout: float = 150) -> None:
        """Wait, as the course's helpers do in a notebook (:func:`dockercourse.engine.wait_for_session_base`),
        until the session's engine holds the course's base image: the session loads it in the background
        once its engine answers (``dockercourse.hub.userinit.load_base_later``); a shell's
        ``docker run python:3.13-slim`` before that tries Docker Hub (fresh run 19, the idle culler's test)."""
        res = self.run(user, "from dockercourse import engine\n"
                             f"print(engine.wait_for_session_base({timeout}), "
                             "(engine.state_dir() / engine.SESSION_BASE_READY).exists())\n", timeout=timeout + 30)
        assert res.ok and res.stdout.strip().endswith("True True"), (
            f"{user}'s engine never got the base image:\n{res.stdout}{res.error or ''}\n"
            + self.sh(user, "cat ~/.dockercourse/base-load.log")[1])

    def server(self, user: str) -> dict:
        return (self.api("GET", f"/users/{user}").json().get("servers") or {}).get("", {})

    def stop_server(self, user: str, timeout: float = 120) -> None:
        self.api("DELETE", f"/users/{user}/server")
        ok, _ = wait_until(lambda: not self.server(user), timeout, interval=0.5)
        assert ok, f"{user}'s server did not stop"
        self.kernels.pop(user, None)

    def session_log(self, user: str) -> str:
        path = self.root / "logs" / f"{user}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else "(no log)"

    # ---- code in a member's session
    def _kernel(self, user: str) -> str:
        if user not in self.kernels:
            r = requests.post(f"{self.url}/user/{user}/api/kernels", headers=self.headers, json={"name": "python3"},
                              timeout=60)
            assert r.status_code == 201, r.text
            self.kernels[user] = r.json()["id"]
        return self.kernels[user]

    def run(self, user: str, code: str, timeout: float = 180) -> CellResult:
        """Execute ``code`` as a notebook cell in ``user``'s session."""
        import websocket

        kid = self._kernel(user)
        ws = websocket.create_connection(f"ws://127.0.0.1:{self.port}/user/{user}/api/kernels/{kid}/channels",
                                         header=[f"{k}: {v}" for k, v in self.headers.items()], timeout=timeout)
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": "test", "session": uuid.uuid4().hex,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        out, err, error = [], [], ""
        t0 = time.monotonic()
        try:
            while True:
                msg = json.loads(ws.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream":
                    (out if content["name"] == "stdout" else err).append(content["text"])
                elif kind in ("execute_result", "display_data"):
                    out.append(content["data"].get("text/plain", "") + "\n")
                elif kind == "error":
                    error = f"{content['ename']}: {content['evalue']}"
                elif kind == "status" and content["execution_state"] == "idle":
                    break
        finally:
            ws.close()
        return CellResult("".join(out), "".join(err), error, time.monotonic() - t0)

    def sh(self, user: str, command: str, timeout: float = 180) -> tuple[int, str]:
        """A shell command in ``user``'s session (as ``!command`` would run it): (exit code, output)."""
        code = ("import subprocess\n"
                f"_p = subprocess.run({command!r}, shell=True, capture_output=True, text=True, timeout={timeout})\n"
                "print(_p.returncode)\nprint(_p.stdout + _p.stderr, end='')\n")
        res = self.run(user, code, timeout=timeout + 30)
        assert res.ok, res.error
        first, _, rest = res.stdout.partition("\n")
        return int(first), rest
