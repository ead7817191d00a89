"""The class server's « correction » service: instructors run the class command from their browser.

The class command (``python -m dockercourse grade``) needs root: it makes the grading sandboxes.
Instructors are not root; this JupyterHub service is (the hub starts it), and only members whose
role grants ``access:services!service=correction`` (the class list's instructors) get through
JupyterHub's OAuth. It runs the class command on the class server's course, one run at a time,
with fixed arguments (the assignment, and « regrade everything »), and shows its progress:
``/services/correction/`` in the browser, or JSON for a token (``Accept: application/json``).
"""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
from pathlib import Path

from tornado import ioloop, web

SERVICE = "correction"
ASSIGNMENT_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


class Runs:
    """The one class-command run this service allows at a time."""

    def __init__(self, course: Path, log: Path, jobs: int):
        self.course, self.log, self.jobs = course, log, jobs
        self.proc: subprocess.Popen | None = None
        self.assignment = ""

    def command(self, assignment: str, force: bool) -> list[str]:
        return [sys.executable, "-m", "dockercourse", "grade", assignment, "--course", str(self.course),
                "--jobs", str(self.jobs), "--wait", *(["--force"] if force else [])]

    def start(self, assignment: str, force: bool) -> bool:
        if self.running():
            return False
        self.assignment = assignment
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "JPY_"))}
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.command(assignment, force), cwd=self.course, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                         start_new_session=True)
        return True

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def status(self) -> dict:
        rc = None if self.proc is None else self.proc.poll()
        if self.proc is not None and rc is not None:
            share_with_instructors(self.course)
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return {"assignment": self.assignment, "running": self.running(), "returncode": rc, "log": text[-20000:]}


def share_with_instructors(course: Path) -> None:
    """What the class command wrote as root in the course, back to the instructors' group."""
    gid = course.stat().st_gid
    for p in [course, *course.rglob("*")]:
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if p.is_symlink():
            continue
        if st.st_gid != gid:
            os.chown(p, -1, gid)
        want = (st.st_mode | (0o2070 if p.is_dir() else 0o060)) & ~0o007
        if st.st_mode & 0o7777 != want & 0o7777:
            os.chmod(p, want & 0o7777)


PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Correction de la classe</title>
<meta http-equiv="refresh" content="{refresh}"></head><body style="font-family: sans-serif; max-width: 60em">
<h1>Correction de la classe</h1>
<p>Chaque copie relevée (<code>nbgrader collect</code>) est corrigée dans son propre bac à sable.</p>
<form method="post"><input type="hidden" name="_xsrf" value="{xsrf}">
<label>Devoir : <input name="assignment" value="{assignment}"></label>
<label><input type="checkbox" name="force" value="1"> recorriger les copies déjà notées</label>
<button {disabled}>Corriger</button></form>
<p>{state}</p><pre>{log}</pre></body></html>"""


def make_app(runs: Runs, prefix: str):
    from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated

    class Handler(HubOAuthenticated, web.RequestHandler):
        def _wants_json(self) -> bool:
            return "application/json" in self.request.headers.get("Accept", "")

        def _reply(self, code: int = 200) -> None:
            st = runs.status()
            self.set_status(code)
            if self._wants_json():
                self.finish(json.dumps(st))
                return
            state = ("correction en cours…" if st["running"] else
                     "aucune correction lancée" if st["returncode"] is None else
                     f"dernière correction terminée (code {st['returncode']})")
            self.finish(PAGE.format(refresh=5 if st["running"] else 3600, xsrf=self.xsrf_token.decode(),
                                    assignment=html.escape(st["assignment"] or "tp-conteneurisation"),
                                    disabled="disabled" if st["running"] else "", state=state,
                                    log=html.escape(st["log"])))

        @web.authenticated
        def get(self):
            self._reply()

        @web.authenticated
        def post(self):
            body = {}
            if self.request.headers.get("Content-Type", "").startswith("application/json"):
                body = json.loads(self.request.body or b"{}")
            assignment = str(body.get("assignment") or self.get_argument("assignment", "tp-conteneurisation"))
            force = bool(body.get("force") or self.get_argument("force", ""))
            if not assignment or not set(assignment) <= ASSIGNMENT_CHARS or \
                    not (runs.course / "source" / assignment).is_dir():
                self.set_status(400)
                self.finish(json.dumps({"error": f"devoir inconnu : {assignment}"}))
                return
            started = runs.start(assignment, force)
            self._reply(202 if started else 409)

        def check_xsrf_cookie(self):
            if self.request.headers.get("Authorization"):
                return None  # a token, not a browser's cookie
            return super().check_xsrf_cookie()

    return web.Application([
        (prefix, Handler),
        (prefix + "oauth_callback", HubOAuthCallbackHandler),
    ], cookie_secret=os.urandom(32), xsrf_cookies=True)


def main() -> None:
    from urllib.parse import urlparse

    course = Path(os.environ["DOCKERCOURSE_HUB_COURSE"])
    runs = Runs(course, Path(os.environ["DOCKERCOURSE_HUB_CORRECTION_LOG"]),
                int(os.environ.get("DOCKERCOURSE_HUB_JOBS", "2")))
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{SERVICE}/")
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    make_app(runs, prefix).listen(url.port, url.hostname)
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    main()
