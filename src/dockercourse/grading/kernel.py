"""The kernel-facing helpers: what the TP notebook imports.

Cheap to import (no Docker SDK). :func:`run_check` starts ``python -I -m
dockercourse.grading check NAME`` in a subprocess with a timeout, prints the French
feedback on *stdout* (nbgrader scores any stderr output as 0) and returns the score,
which the test cell's last expression yields. During class grading the sandbox
gives it the official results computed before any student code ran
(``DOCKERCOURSE_OFFICIAL_RESULTS``): when the files are the same, it shows them
instead of checking again. Whatever this returns, the gradebook gets the official
score. The rest are helpers for the students' own commands.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

from .. import engine
from .build import BUILD_TIMEOUT_S
from .checks import probe_app
from .containers import cleanup, http_get, wait_until
from .protocol import RESULT_MARK, _num, parse_mark_line
from .snapshot import APP_DIR, APP_PORT, student_names

OFFICIAL_ENV = "DOCKERCOURSE_OFFICIAL_RESULTS"
#: During class grading, how long a helper waits for what the official run found never comes
#: (an app that never answered, an import that never ends): the notebook is run for feedback.
KNOWN_ABSENT_WAIT_S = 3.0


def _official_fact(check: str, fact: str):
    """A fact the official run of ``check`` found (``Result.facts``), None when unknown."""
    path = os.environ.get(OFFICIAL_ENV)
    if not path:
        return None
    try:
        return json.loads(Path(path).read_text())["results"][check]["facts"][fact]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _official(name: str, points: float, project: Path) -> float | None:
    """The official result of check ``name`` if the sandbox provided one. It judged the files the
    whole notebook writes: an early test cell (``requirements`` before the Dockerfile cell has
    run) shows it too, instead of checking a project that is not written yet."""
    path = os.environ.get(OFFICIAL_ENV)
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text())
        payload = data["results"][name]
        print(payload["text"])
        return max(0.0, min(float(points), float(payload["score"]) * float(points) / float(payload["points"])))
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        return None


def run_check(name: str, points: float, project: str | Path = ".", timeout: float | None = None,
              verbose: bool = True) -> float:
    """Run check ``name`` outside the kernel; print its feedback (stdout only) and
    return the score, between 0 and ``points``."""
    project = Path(project).resolve()
    official = _official(name, points, project)
    if official is not None:
        return official
    if timeout is None:
        timeout = BUILD_TIMEOUT_S * 2 + 120
    cmd = [sys.executable, "-I", "-m", "dockercourse.grading", "check", name, "--project", str(project),
           "--points", str(points)]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONIOENCODING="utf-8")
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True, cwd=str(project))
        out, err = proc.communicate(timeout=timeout)
    except KeyboardInterrupt:  # the student interrupted the kernel: stop the check, remove its containers
        _kill_group(proc)
        _cleanup_quietly(project)
        raise
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        _cleanup_quietly(project)
        print(f"❌ Vérification « {name} » : 0/{_num(points)}\n   La vérification a dépassé {timeout:.0f} s et a été "
              "arrêtée ; les conteneurs qu'elle avait lancés ont été supprimés.\n   À faire : vérifiez que "
              "l'image se construit et que l'application démarre vite (docker build / docker run à la main).")
        return 0.0
    except OSError as exc:
        print(f"❌ Vérification « {name} » : 0/{_num(points)}\n   Impossible de lancer le correcteur : {exc}")
        return 0.0
    score = None
    shown = []
    for line in out.splitlines():
        if line.startswith(RESULT_MARK):
            result = parse_mark_line(line, RESULT_MARK)
            with contextlib.suppress(ValueError, TypeError, KeyError):
                score = float(result["score"])
        elif verbose:
            shown.append(line)
    if shown:
        print("\n".join(shown))
    if score is None:
        tail = (err or "").strip().splitlines()[-1:] or ["(aucun message)"]
        print(f"❌ Vérification « {name} » : 0/{_num(points)}\n   Le correcteur s'est arrêté sans résultat "
              f"(code {proc.returncode}) : {tail[0][:300]}\n   Prévenez l'enseignant.")
        return 0.0
    return max(0.0, min(float(points), score))


def _kill_group(proc) -> None:
    import signal

    with contextlib.suppress(Exception):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)


def _cleanup_quietly(project: Path, images: bool = False) -> None:
    with contextlib.suppress(Exception):
        subprocess.run([sys.executable, "-I", "-m", "dockercourse.grading", "cleanup", "--project", str(project)]
                       + (["--images"] if images else []), capture_output=True, timeout=120,
                       stdin=subprocess.DEVNULL)


def preparer(project: str | Path = ".") -> dict[str, str]:
    """First cell of the TP: create app/, say whether Docker answers, return the
    names to use in the student's own docker commands."""
    project = Path(project)
    (project / APP_DIR).mkdir(exist_ok=True)
    names = student_names(project)
    try:
        client = engine.client()
        print("Docker répond : vous pouvez construire et lancer des conteneurs.")
        if engine.remove_container(names["CONTENEUR"], client):  # left by an interrupted earlier run
            print(f"(conteneur {names['CONTENEUR']} d'une exécution précédente supprimé)")
    except engine.DockerUnavailable as err:
        print(f"⚠️  {err}")
    print(f"Votre image : {names['IMAGE']}\nVotre conteneur : {names['CONTENEUR']}")
    return names


def essayer_app(app_file: str | Path = f"{APP_DIR}/app.py", **env: str) -> None:
    """Call GET / and GET /sante on the student's app with Flask's test client
    (in a separate interpreter, with ``env`` set) and print the answers."""
    app_file = Path(app_file)
    if not app_file.is_file():
        print(f"Le fichier {app_file} n'existe pas encore : exécutez d'abord la cellule %%writefile.")
        return
    marker = env.get("MESSAGE", "")
    known_hang = _official_fact("application", "import_ends") is False
    res = probe_app(app_file.resolve(), marker=marker, **({"timeout": KNOWN_ABSENT_WAIT_S} if known_hang else {}))
    if "error" in res:
        why = {"noapp": "le module ne définit pas de variable app = Flask(__name__)",
               "timeout": "l'import ne se termine pas (un app.run() hors de if __name__ == \"__main__\" ?)"}
        print("L'application ne se charge pas : " + why.get(res["error"], res.get("detail", res["error"])))
        return
    answers = res.get("message" if marker else "default") or {}
    for path in ("/", "/sante"):
        r = answers.get(path) or {"status": 0, "json": None, "text": ""}
        print(f"GET {path:7} → {r['status']}  {json.dumps(r['json'], ensure_ascii=False) if r['json'] else r['text']}")


@engine.needs_docker
def port_publie(conteneur: str, port: int = APP_PORT) -> int | None:
    """Host port to which the container's ``port`` is published (docker port)."""
    ctr = engine.client().containers.get(conteneur)
    for b in ((ctr.attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{port}/tcp") or []:
        if b.get("HostPort"):
            return int(b["HostPort"])
    print(f"Le port {port} du conteneur {conteneur} n'est pas publié : ajoutez -p 127.0.0.1::{port} au docker run.")
    return None


def attendre_http(url: str, timeout: float = 20.0) -> None:
    """GET ``url`` until it answers (the app needs a moment to start) and print the answer."""
    import urllib.parse

    try:
        port = urllib.parse.urlsplit(url).port
    except ValueError:
        port = None
    if not port:
        print(f"Adresse sans port valide : {url} (le port du conteneur est-il publié ?)")
        return
    direct = _sibling_url(url, port)  # in a course container, 127.0.0.1:<port> is not the host's
    known_silent = _official_fact("http", "app_answered") is False
    if known_silent:
        timeout = min(timeout, KNOWN_ABSENT_WAIT_S)

    def answered():
        status, body = http_get(url, timeout=2)
        if not status and direct:
            status, body = http_get(direct, timeout=2)
        return (status, body) if status else None

    answer, _ = wait_until(answered, timeout, interval=0.3)
    if answer:
        print(f"GET {url} → {answer[0]}  {answer[1].strip()}")
        return
    print(f"Rien ne répond à {url} après {timeout:.0f} s : regardez docker logs.")
    if known_silent:
        print("(À la correction, l'application n'a pas répondu non plus : voir la vérification « Le conteneur "
              "répond sur le port publié ».)")


def _sibling_url(url: str, port: int) -> str | None:
    """When this kernel runs in a container (the course image) and ``url`` names a port
    published on the host's loopback, the same app reached on the Docker bridge: the
    container that publishes that port, at its own address and port. None otherwise."""
    import urllib.parse

    parts = urllib.parse.urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost") or not engine.in_container():
        return None
    try:
        for ctr in engine.client().containers.list():
            net = ctr.attrs.get("NetworkSettings") or {}
            for inner, binds in (net.get("Ports") or {}).items():
                if any(str(b.get("HostPort")) == str(port) for b in binds or []) and net.get("IPAddress"):
                    return urllib.parse.urlunsplit((parts.scheme, f"{net['IPAddress']}:{inner.split('/')[0]}",
                                                    parts.path, parts.query, ""))
    except Exception:  # no daemon, no rights: the plain URL is all there is
        return None
    return None


def nettoyer(project: str | Path = ".", images: bool | None = None) -> None:
    """Remove what the TP left on the daemon for this submission: containers
    always; images too during ``nbgrader autograde`` (or when asked), except in a grading
    sandbox, whose engine is thrown away with everything in it."""
    if images is None:
        from .build import in_sandbox

        images = os.environ.get("NBGRADER_EXECUTION") == "autograde" and not in_sandbox()
    try:
        counts = cleanup(project, images=images)
    except engine.DockerUnavailable as err:
        print(f"⚠️  {err}")
        return
    print(f"Nettoyage : {counts['containers']} conteneur(s) et {counts['images']} image(s) supprimés.")

