"""Notebook 05, § 4.5: the inner loop of the chapter's diagram (code →
Dockerfile → build → run → test → push), drawn with matplotlib, and Compose:
a minimal two-service application run with Debian's ``docker-compose`` 1.29
(installed with apt when missing and root, like ``docker.io`` and
``docker-registry``)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import time

from .. import engine
from ..errors import DockercourseError
from .common import ANSI, APP05, REPO, UNIT05, needs_docker, unit_labels, verdict, write_context
from .service import SERVICE, service_files

UNIT = UNIT05
IMAGE = APP05


@needs_docker
def run_app(image: str = IMAGE, port: int = 5000, timeout: float = 30):
    """« run » then « test » by hand: start the web app detached, wait for its log,
    ask it ``GET /`` from inside the container, show the answer, remove it."""
    c = engine.client()
    name = engine.name(UNIT, "run")
    engine.remove_container(name)
    print(f"$ docker run -d --name {name} --network none {image}")
    ctr = c.containers.run(image, name=name, detach=True, network_mode="none",
                           labels=unit_labels(UNIT, purpose="run-app"))
    try:
        # Docker copies the two pipes in separate goroutines, so the interleaving
        # of `docker logs` is a race: show each stream on its own, in its order.
        deadline = time.monotonic() + timeout
        out = err = ""
        while time.monotonic() < deadline and not ("Debug mode" in out and "CTRL+C" in err):
            time.sleep(0.2)
            out = ctr.logs(stdout=True, stderr=False).decode(errors="replace")
            err = ctr.logs(stdout=False, stderr=True).decode(errors="replace")
        print(f"$ docker logs {name}")
        for stream, text in (("stdout", out), ("stderr", err)):
            for line in ANSI.sub("", text).strip().splitlines():
                print(f"   {stream} │ {line.strip()}")
        probe = ("import urllib.request; "
                 f"print(urllib.request.urlopen('http://127.0.0.1:{port}/').read().decode(), end='')")
        code, out = ctr.exec_run(["python", "-c", probe])
        print(f"$ docker exec {name} python -c \"urllib.request.urlopen('http://127.0.0.1:{port}/')…\"")
        print("   " + out.decode(errors="replace").strip())
        if code != 0:
            print(f"(code de sortie {code})")
    finally:
        engine.remove_container(ctr.name)



#: (step, role, command used in the notebooks, the same command short enough for the figure's box)
INNER_LOOP = [
    ("Code", "écrire app.py et test_app.py", "Path(...).write_text(...) (notebook 03)", "app.py, test_app.py"),
    ("Dockerfile", "décrire l'image", "FROM python:3.13-slim … CMD", "FROM … CMD"),
    ("Construction", "construire l'image (cache !)", "docker build -t dockercourse-nb03-app .",
     "docker build"),
    ("Compose (optionnel)", "décrire plusieurs services", "docker compose up", "docker compose up"),
    ("Lancement", "lancer un conteneur", f"docker run -d -p 127.0.0.1::8000 {SERVICE}:exec",
     "docker run -d -p …"),
    ("Test", "vérifier le comportement", f"docker run --rm {IMAGE} python -m unittest",
     "docker run --rm …\npython -m unittest"),
    ("Publication", "pousser dans un registre", f"docker push 127.0.0.1:PORT/{REPO}:1.0",
     "docker push\n127.0.0.1:PORT/…"),
]


def inner_loop_frame():
    import pandas as pd

    return pd.DataFrame([{"étape": s, "rôle": r, "commande utilisée": c} for s, r, c, _ in INNER_LOOP])


def plot_inner_loop():
    """The chapter's « inner loop » diagram: boxes and arrows, with the
    command used in this notebook under each step, and the loop back to the code."""
    import textwrap

    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    n = len(INNER_LOOP)
    fig, ax = plt.subplots(figsize=(15, 4.6))
    xs = [i * 2.0 for i in range(n)]
    y = 1.0
    for i, ((step, role, _cmd, short), x) in enumerate(zip(INNER_LOOP, xs, strict=True)):
        optional = "optionnel" in step
        ax.add_patch(FancyBboxPatch((x - 0.8, y - 0.35), 1.6, 0.7, boxstyle="round,pad=0.05",
                                    facecolor="#e8f1fb" if not optional else "#f4f4f4",
                                    edgecolor="#2496ed", linestyle="--" if optional else "-", linewidth=1.5))
        title = step.replace(" (optionnel)", "\n(optionnel)")
        ax.text(x, y + (0.12 if optional else 0.08), title, ha="center", va="center", fontsize=10,
                fontweight="bold", linespacing=0.9)
        ax.text(x, y - 0.22, textwrap.fill(role, 24), ha="center", va="center", fontsize=7.5)
        ax.plot([x, x], [y - 0.42, y - 0.58], color="#999999", linewidth=0.8)
        ax.text(x, y - 0.62, short, ha="center", va="top", fontsize=7, family="monospace", color="#333333",
                bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "#cccccc"})
        if i < n - 1:
            ax.add_patch(FancyArrowPatch((x + 0.85, y), (xs[i + 1] - 0.85, y), arrowstyle="-|>",
                                         mutation_scale=14, color="#2496ed"))
    test_x = xs[[s for s, *_ in INNER_LOOP].index("Test")]
    ax.add_patch(FancyArrowPatch((test_x, y + 0.4), (xs[0], y + 0.4), connectionstyle="arc3,rad=0.25",
                                 arrowstyle="-|>", mutation_scale=14, color="#e8590c", linewidth=1.5))
    ax.text((test_x + xs[0]) / 2, y + 1.42, "boucle interne : on corrige le code et on recommence",
            ha="center", color="#e8590c", fontsize=10)
    ax.set_xlim(-1, xs[-1] + 1.4)
    ax.text(xs[-1], y - 1.3, "→ le TP", ha="center", fontsize=10, fontweight="bold", color="#2496ed")
    ax.set_ylim(-0.5, 2.6)
    ax.axis("off")
    ax.set_title("La boucle interne : le cycle de développement d'une application avec Docker")
    fig.tight_layout()
    plt.show()




# --------------------------------------------------------------------------- Compose

COMPOSE_PROJECT = engine.name(UNIT05, "compose")   # dockercourse-nb05-compose

COMPOSE_FILE = f"""\
# deux services : « web » (l'application, servie par gunicorn, avec un HEALTHCHECK) et
# « client », qui l'interroge par son nom de service sur le réseau que Compose crée,
# une fois « web » en bonne santé (pas de version: — le format actuel n'en a plus)
services:
  web:
    build: ./web
    image: {SERVICE}:compose
    labels:
      dockercourse: "1"
      dockercourse.unit: "{UNIT05}"
    environment:
      MESSAGE: "Bonjour depuis Compose !"
  client:
    image: {SERVICE}:compose
    depends_on:
      web:
        condition: service_healthy
    labels:
      dockercourse: "1"
      dockercourse.unit: "{UNIT05}"
    command: ["python", "-c", "import urllib.request; \\
print(urllib.request.urlopen('http://web:8000/', timeout=10).read().decode())"]
networks:
  default:
    labels:
      dockercourse: "1"
      dockercourse.unit: "{UNIT05}"
"""

COMPOSE_PACKAGE = "docker-compose"


class ComposeUnavailable(DockercourseError, RuntimeError):
    """Neither Compose v2 nor v1 is there, and v1 cannot be installed here (French message)."""


@dataclasses.dataclass(frozen=True)
class Compose:
    """How to call Compose on this machine: the v2 plugin (``docker compose``) or v1."""

    argv: tuple[str, ...]  # ("docker", "compose") or ("/usr/bin/docker-compose",)
    version: str

    @property
    def v2(self) -> bool:
        return self.argv[1:] == ("compose",)

    @property
    def shown(self) -> str:
        """The command as a student types it."""
        return "docker compose" if self.v2 else "docker-compose"


def compose_version(argv: list[str]) -> str | None:
    """``<compose> version --short`` (``v2.26.1`` / ``1.29.2``), None when it does not run."""
    try:
        proc = subprocess.run([*argv, "version", "--short"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip().lstrip("v") if proc.returncode == 0 and proc.stdout.strip() else None


def find_compose() -> Compose:
    """The v2 plugin first (what Docker Desktop and Docker CE ship); else ``docker-compose`` v1
    (end of life since 2023), installed from Debian's package when missing and we are root.
    Raises :class:`ComposeUnavailable` otherwise."""
    docker = shutil.which("docker")
    if docker and (version := compose_version([docker, "compose"])):
        return Compose((docker, "compose"), version)
    exe = shutil.which("docker-compose") or _install_compose_v1()
    return Compose((exe,), compose_version([exe]) or "?")


def _install_compose_v1() -> str:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ComposeUnavailable("Compose est absent : installez le greffon « docker compose » (Docker Desktop et "
                                 "Docker Engine l'ont ; Debian/Ubuntu : paquet docker-compose-plugin ou "
                                 "docker-compose).")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run(["apt-cache", "show", COMPOSE_PACKAGE], capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
    proc = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends",
                           "-o", "DPkg::Lock::Timeout=300", COMPOSE_PACKAGE],
                          env=env, capture_output=True, text=True)
    exe = shutil.which("docker-compose")
    if proc.returncode != 0 or not exe:
        raise ComposeUnavailable("L'installation du paquet « docker-compose » a échoué : "
                                 + ((proc.stdout + proc.stderr).strip().splitlines() or ["?"])[-1])
    return exe


def compose_folder(unit: str = UNIT05):
    files = {"docker-compose.yml": COMPOSE_FILE}
    files.update({f"web/{k}": v for k, v in service_files("health").items()})
    return write_context(files, unit=unit, sub="compose")


def _compose(compose: Compose, folder, *args: str, show: bool = True, timeout: float = 300):
    cmd = [*compose.argv, "--project-name", COMPOSE_PROJECT, *args]
    if show:
        print(f"$ {compose.shown} --project-name {COMPOSE_PROJECT} " + " ".join(args))
    env = dict(os.environ)
    if not compose.v2:  # v1 builds through the legacy builder (its own BuildKit path predates heredocs)
        env.update(COMPOSE_DOCKER_CLI_BUILD="0", DOCKER_BUILDKIT="0")
    return subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=timeout, env=env)


def client_answer(stdout: str) -> str | None:
    """Pure: the JSON line the ``client`` service printed, from ``up``'s interleaved logs
    (v1: ``client_1  | …``, v2: ``client-1  | …``)."""
    for line in stdout.splitlines():
        clean = ANSI.sub("", line)
        if "|" in clean and clean.strip().startswith("client"):
            text = clean.split("|", 1)[1].strip()
            if text.startswith("{"):
                return text
    return None


@needs_docker
def compose_demo():
    """``docker compose up`` of the two services: the client's answer (it reached « web » by its
    service name, once « web » was healthy), then ``docker compose down``."""
    engine.client()
    try:
        compose = find_compose()
    except ComposeUnavailable as err:
        print(f"⚠️  {err}")
        return None
    folder = compose_folder()
    if compose.v2:
        print(f"(Compose v2 {compose.version}, le greffon « docker compose »)")
    else:
        print(f"(Compose v1 {compose.version} : le greffon v2 « docker compose » est absent ici, la commande "
              "« docker-compose » le remplace ; v1 n'est plus maintenue depuis 2023)")
    print(f"(dans le dossier {folder.name}/ : docker-compose.yml et web/ avec le Dockerfile du service)")
    print(COMPOSE_FILE.split("networks:")[0].rstrip())
    _compose(compose, folder, "down", "--remove-orphans", show=False)
    t0 = time.monotonic()
    up = _compose(compose, folder, "up", "--build", "--abort-on-container-exit", "--exit-code-from", "client")
    answer = client_answer(up.stdout)
    print("   client | " + (answer or "(pas de réponse)"))
    print(f"   (code de sortie {up.returncode})")
    _compose(compose, folder, "down", "--remove-orphans")
    ok = up.returncode == 0 and answer is not None and "Compose" in answer
    detail = (up.stderr.strip().splitlines() or [""])[-1][:200]
    verdict("le client a joint le service « web » par son nom, sur le réseau créé par Compose", ok,
            f"pas de réponse du client (code de sortie {up.returncode}{' : ' + detail if detail else ''})")
    return {"ok": ok, "seconds": time.monotonic() - t0, "stdout": up.stdout, "stderr": up.stderr}

