"""Notebook 05, § 4.3: a web service in a container — what the TP grades, shown
live before it is graded: shell vs exec form and PID 1 (``docker stop`` timed),
root vs ``USER``, ``EXPOSE`` vs ``-p``, why a container serves on ``0.0.0.0``,
the Flask development server vs gunicorn, and ``HEALTHCHECK``.

Every variant is one image of the same small project (:data:`SERVICE_FILES`),
tagged ``dockercourse-nb05-service:<variant>``: they differ only in their last
lines, so the builds after the first come from the cache.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path

from .. import engine
from ..waiting import wait_until
from .common import ANSI, OUI_NON, UNIT05, decimal, needs_docker, script, verdict, write_context
from .images import build

UNIT = UNIT05
SERVICE = engine.name(UNIT05, "service")   # dockercourse-nb05-service
PORT = 8000

GUNICORN = 'CMD ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]'
#: gunicorn writes no access log unless asked: ``--access-logfile -`` sends it to stdout.
GUNICORN_ACCESS_LOG = 'CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--access-logfile", "-", "app:app"]'
HEALTH_PROBE = ('CMD ["python", "-c", "import urllib.request; '
                "urllib.request.urlopen('http://127.0.0.1:8000{path}', timeout=2)\"]")

#: variant → the Dockerfile's last lines (after the common part). The probes' ``--timeout`` is wide
#: and ``health``'s ``--start-period`` long (a success ends it at once): on a loaded machine a probe's
#: Python took more than 2 s to start, Docker counted the timeout (code -1) instead of the 404's
#: code 1 that notebook 5 shows (fresh run 24), and a slow gunicorn must not make /sante unhealthy.
VARIANTS = {
    "exec": GUNICORN,
    "shell": "CMD gunicorn --bind 0.0.0.0:8000 app:app",
    "dev": 'CMD ["python", "app.py"]',
    "journal": GUNICORN_ACCESS_LOG,
    "user": "RUN useradd --create-home --uid 10001 appuser\nUSER 10001:10001\n" + GUNICORN,
    "health": "HEALTHCHECK --interval=1s --timeout=10s --start-period=30s --retries=2 \\\n    "
              + HEALTH_PROBE.format(path="/sante") + "\n" + GUNICORN,
    "health-ko": "HEALTHCHECK --interval=1s --timeout=10s --start-period=2s --retries=2 \\\n    "
                 + HEALTH_PROBE.format(path="/inexistant") + "\n" + GUNICORN,
}

COMMON = f"""\
FROM python:3.13-slim
LABEL dockercourse="1" dockercourse.unit="{UNIT05}"
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY app.py ps.py ./
EXPOSE 8000
"""


def dockerfile(variant: str) -> str:
    """Pure: the whole Dockerfile of a variant (or of a CMD line of your own)."""
    return COMMON + VARIANTS.get(variant, variant) + "\n"


def service_files(variant: str) -> dict[str, str]:
    return {"Dockerfile": dockerfile(variant), "requirements.txt": "flask==3.1.3\ngunicorn==23.0.0\n",
            "app.py": script("service_app.py"), "ps.py": script("ps.py")}


def tag(variant: str) -> str:
    return f"{SERVICE}:{variant}" if variant in VARIANTS else f"{SERVICE}:a-vous"


def build_variant(variant: str) -> str:
    """Build one variant (quietly); returns its tag."""
    ctx = write_context(service_files(variant), unit=UNIT, sub=f"service-{tag(variant).rsplit(':', 1)[1]}")
    build(ctx, tag(variant))
    return tag(variant)


@needs_docker
def show_dockerfile(variant: str) -> None:
    """Print a variant's Dockerfile (the lines that differ are the last ones)."""
    engine.client()
    print(dockerfile(variant), end="")


def container_name(variant: str) -> str:
    return engine.name(UNIT, "svc", tag(variant).rsplit(":", 1)[1])


def start(variant: str, *, publish: bool = False, env: dict[str, str] | None = None, show: bool = True,
          wait: bool = True):
    """``docker run -d`` of a variant (the old container of the same name removed
    first, so a cell can be run again); waits until the server says it listens."""
    c = engine.client()
    image = build_variant(variant)
    name = container_name(variant)
    engine.remove_container(name)
    ports = {f"{PORT}/tcp": ("127.0.0.1", None)} if publish else None
    if show:
        opts = " -p 127.0.0.1::8000" if publish else ""
        opts += "".join(f" -e {k}={v}" for k, v in (env or {}).items())
        print(f"$ docker run -d --name {name}{opts} {image}")
    ctr = c.containers.run(image, name=name, detach=True, ports=ports, environment=env or {},
                           labels=engine.labels(unit=UNIT, purpose="service"))
    if wait:
        wait_listening(ctr)
    return ctr


def tidy_log(line: str) -> str:
    """Pure: a server log line without what changes from run to run (gunicorn's
    timestamp and worker pid, the container's IP address)."""
    line = re.sub(r"^\[\d{4}-\d{2}-\d{2} [\d:]+ [+-]\d{4}\] ", "", line.strip())
    line = re.sub(r"^\[(?!1\])\d+\]", "[PID]", line)
    line = re.sub(r"pid: \d+", "pid: PID", line)
    return re.sub(r"\b(?!127\.0\.0\.1\b|0\.0\.0\.0\b)\d+\.\d+\.\d+\.\d+\b", "<IP du conteneur>", line)


def server_logs(ctr) -> str:
    """The container's logs, stdout then stderr: Docker copies the two pipes
    separately, so their interleaving in ``docker logs`` is a race (Flask writes
    its first lines on stdout, the rest on stderr); gunicorn writes only on stderr."""
    out = ctr.logs(stdout=True, stderr=False).decode(errors="replace")
    err = ctr.logs(stdout=False, stderr=True).decode(errors="replace")
    return ANSI.sub("", out + err)


def wait_listening(ctr, timeout: float = 30) -> str:
    """Wait until the server is ready to serve: gunicorn's worker has booted, or
    Flask printed « Press CTRL+C »; returns the logs (stdout, then stderr)."""
    deadline = time.monotonic() + timeout
    logs = ""
    while time.monotonic() < deadline:
        logs = server_logs(ctr)
        if "Booting worker" in logs or "CTRL+C" in logs:
            return logs
        ctr.reload()
        if ctr.status == "exited":
            break
        time.sleep(0.2)
    return logs


# --------------------------------------------------------------------------- PID 1 and docker stop


def mask_pid(line: str) -> str:
    """Pure: a ps.py line with its PID masked unless it is 1 (the other numbers
    depend on what ran before in the container)."""
    pid = line[:5].strip()
    return line if not pid.isdigit() or pid == "1" else f"{'n':>5}" + line[5:]


def pid1(ctr) -> str:
    """The command line of the container's PID 1 (read in its /proc)."""
    code, out = ctr.exec_run(["cat", "/proc/1/cmdline"])
    return " ".join(p for p in out.decode(errors="replace").split("\0") if p)


def stop_verdict(seconds: float) -> str:
    """Pure: ``docker stop``'s duration as a verdict that does not depend on the
    machine (the delay before SIGKILL is 10 s; a clean stop takes a fraction of a second)."""
    if seconds >= 5:
        return "plus de 5 s : SIGKILL après le délai"
    return "moins de 5 s : arrêt propre sur SIGTERM"


def timed_stop(variant: str) -> dict:
    """Start a variant, read its PID 1, time ``docker stop`` (default 10 s delay),
    read the exit code (137 = killed by SIGKILL). Removes the container."""
    ctr = start(variant, show=False)
    try:
        first = pid1(ctr)
        t0 = time.monotonic()
        ctr.stop(timeout=10)
        seconds = time.monotonic() - t0
        ctr.reload()
        code = ctr.attrs["State"]["ExitCode"]
    finally:
        engine.remove_container(ctr.name)
    return {"forme": variant, "PID 1": first, "durée de docker stop": f"{decimal(seconds)} s",
            "verdict": stop_verdict(seconds), "code de sortie": code, "secondes": seconds}


@needs_docker
def ps_inside(variant: str) -> None:
    """``docker exec <name> python ps.py``: the processes of the container, PID 1 first."""
    ctr = start(variant)
    try:
        print(f"$ docker exec {ctr.name} python /app/ps.py")
        _code, out = ctr.exec_run(["python", "/app/ps.py"])
        for line in out.decode(errors="replace").splitlines():
            print(mask_pid(line))
    finally:
        engine.remove_container(ctr.name)


@needs_docker
def stop_demo(variants: tuple[str, ...] = ("shell", "exec", "dev")):
    """The table of :func:`timed_stop` for each variant (durations sanitized in
    the notebook; the verdict and the exit code are what is compared)."""
    import pandas as pd

    engine.client()
    rows = []
    for v in variants:
        print(f"$ docker run -d --name {container_name(v)} {tag(v)}   puis   "
              f"$ time docker stop {container_name(v)}")
        rows.append(timed_stop(v))
    df = pd.DataFrame(rows).drop(columns="secondes")
    df.attrs["secondes"] = [r["secondes"] for r in rows]
    return df


# --------------------------------------------------------------------------- root vs USER


def host_uid(pid: int, proc_root: str | Path = "/proc") -> int | None:
    """The real uid of a host process (``Uid:`` of /proc/<pid>/status), None if unreadable."""
    try:
        for line in Path(proc_root, str(pid), "status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@needs_docker
def user_demo():
    """``id`` inside the root and the ``USER`` variants, and the uid of the same
    process seen from the Docker host."""
    import pandas as pd

    from .processes import host_point_of_view

    c = engine.client()
    remap = any("userns" in o for o in (c.info().get("SecurityOptions") or []))
    rows = []
    for variant in ("exec", "user"):
        ctr = start(variant)
        try:
            print(f"$ docker exec {ctr.name} id")
            _code, out = ctr.exec_run(["id"])
            ident = out.decode().strip()
            print("   " + ident)
            ctr.reload()
            uid = host_uid(ctr.attrs["State"]["Pid"]) if host_point_of_view() == "local" else None
            rows.append({"image": tag(variant), "id dans le conteneur": ident.split()[0],
                         "uid du même processus vu par l'hôte": "?" if uid is None else uid})
        finally:
            engine.remove_container(ctr.name)
    print(f"remappage des utilisateurs (userns-remap) activé sur ce démon : {OUI_NON[remap]}")
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- EXPOSE vs -p, 0.0.0.0


def http_get(url: str, timeout: float = 3) -> tuple[bool, str]:
    """(answered, body or error) for a GET from this Python."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return True, resp.read().decode(errors="replace")
    except (OSError, urllib.error.URLError) as err:
        return False, type(err).__name__


#: Run in a container on the Docker host's network (``--network host``): a GET, then OK or KO on the
#: first line, the body or the error's name after it.
HOST_GET_SCRIPT = """\
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=float(sys.argv[2])) as resp:
        body = resp.read().decode(errors="replace")
    print("OK"); sys.stdout.write(body)
except Exception as err:
    print("KO"); sys.stdout.write(type(err).__name__)
"""


def parse_host_get(text: str) -> tuple[bool, str]:
    """Pure: what :data:`HOST_GET_SCRIPT` printed → (answered, body or error)."""
    status, _, rest = text.partition("\n")
    return status.strip() == "OK", rest if status.strip() in ("OK", "KO") else text.strip()


def get_from_host(url: str, timeout: float = 3) -> tuple[bool, str]:
    """A GET as the Docker host makes it. From this Python when it runs on the Docker host; otherwise
    (the course image with the socket mounted, Docker Desktop) a port published on the Docker host's
    loopback is not reachable from here, and the GET is made from a short-lived container on the
    Docker host's network (``--network host``)."""
    from .processes import host_point_of_view

    ok, body = http_get(url, timeout)
    if ok or host_point_of_view() == "local":
        return ok, body
    import uuid

    out = engine.client().containers.run(
        engine.BASE_IMAGE, ["python3", "-c", HOST_GET_SCRIPT, url, str(timeout)], network_mode="host", remove=True,
        name=engine.name(UNIT, "host-get", uuid.uuid4().hex[:6]), labels=engine.labels(unit=UNIT, purpose="host-get"))
    return parse_host_get(out.decode(errors="replace"))


def published(ctr) -> tuple[str, int] | None:
    """(host address, host port) of the container's port 8000, None when not published."""
    ctr.reload()
    bindings = (ctr.attrs["NetworkSettings"].get("Ports") or {}).get(f"{PORT}/tcp")
    return (bindings[0]["HostIp"], int(bindings[0]["HostPort"])) if bindings else None


@needs_docker
def expose_demo(variant: str = "exec") -> None:
    """The same image (``EXPOSE 8000``) run without then with ``-p 127.0.0.1::8000``:
    ``docker port``, the image's exposed ports, and a GET from the host."""
    c = engine.client()
    exposed = sorted(c.images.get(tag(variant)).attrs["Config"].get("ExposedPorts") or {})
    print(f"ports documentés par l'image (EXPOSE) : {', '.join(exposed)}")
    for publish in (False, True):
        ctr = start(variant, publish=publish)
        try:
            engine.docker_cli("port", ctr.name)
            where = published(ctr)
            if not publish:
                if where is None:
                    print("   (rien : aucun port de l'hôte n'est relié au conteneur)")
                verdict("EXPOSE seul ne publie rien", where is None, f"le port {where} de l'hôte est publié")
            else:
                ok, body = (False, "aucun port publié") if where is None else get_from_host(
                    f"http://{where[0]}:{where[1]}/")
                if where is not None:
                    print(f"GET http://{where[0]}:{where[1]}/ depuis l'hôte → "
                          f"{json.loads(body)['message'] if ok else body}")
                verdict("avec -p, l'application répond sur le port publié de l'hôte", ok, f"pas de réponse ({body})")
        finally:
            engine.remove_container(ctr.name)


@needs_docker
def listen_address_demo():
    """The development server listening on 127.0.0.1 then on 0.0.0.0 inside the
    container, both published: which one answers through ``-p``? Prints its WARNING."""
    import pandas as pd

    engine.client()
    rows = []
    for host in ("127.0.0.1", "0.0.0.0"):
        ctr = start("dev", publish=True, env={"HOTE": host})
        try:
            logs = wait_listening(ctr)
            where = published(ctr)
            ok, _body = get_from_host(f"http://{where[0]}:{where[1]}/")
            rows.append({"le serveur écoute sur": f"{host}:8000 (dans le conteneur)",
                         "répond via -p": OUI_NON[ok]})
        finally:
            engine.remove_container(ctr.name)
    print("journal du serveur de développement (docker logs) :")
    for line in logs.strip().splitlines():
        print("   " + tidy_log(line))
    return pd.DataFrame(rows)


def tidy_access_log(line: str) -> str:
    """Pure: a gunicorn access log line without what changes from run to run (the
    client's address, the date, the version of Python's HTTP client)."""
    line = re.sub(r"^\d+\.\d+\.\d+\.\d+ ", "<IP du client> ", line.strip())
    line = re.sub(r"\[\d{2}/\w{3}/\d{4}:[\d:]+ [+-]\d{4}\]", "[DATE]", line)
    return re.sub(r"Python-urllib/[\d.]+", "Python-urllib/3.x", line)


#: How long :func:`gunicorn_logs` waits for the requests' access lines in ``docker logs``.
ACCESS_LOG_WAIT_S = 10.0


@needs_docker
def gunicorn_logs() -> None:
    """``docker logs`` of gunicorn started with ``--access-logfile -``, after two
    requests: its own messages on stderr (no WARNING, a master and its worker), one
    line per request on stdout. Without that option gunicorn logs no request at all."""
    ctr = start("journal", publish=True)
    try:
        where = published(ctr)
        for path in ("/", "/sante"):
            get_from_host(f"http://{where[0]}:{where[1]}{path}")
        print(f"$ docker logs {ctr.name}")

        def both_requests_logged() -> str:
            text = ANSI.sub("", ctr.logs(stdout=True, stderr=False).decode(errors="replace"))
            return text if text.count('"GET ') >= 2 else ""

        # the worker writes each access line after it has answered, and the engine copies it into
        # its log afterwards: seconds later on a loaded machine (a fixed 0.3 s lost one, fresh run 24)
        out = wait_until(both_requests_logged, ACCESS_LOG_WAIT_S, interval=0.1)[0] or \
            ANSI.sub("", ctr.logs(stdout=True, stderr=False).decode(errors="replace"))
        err = ANSI.sub("", ctr.logs(stdout=False, stderr=True).decode(errors="replace"))
        print("   sortie d'erreur (les messages de gunicorn) :")
        for line in err.strip().splitlines():
            print("      " + tidy_log(line))
        print("   sortie standard (--access-logfile - : une ligne par requête) :")
        for line in out.strip().splitlines():
            print("      " + tidy_access_log(line))
    finally:
        engine.remove_container(ctr.name)


# --------------------------------------------------------------------------- HEALTHCHECK


def health_sequence(ctr, timeout: float = 30) -> list[str]:
    """The successive ``State.Health.Status`` values (repeats removed) until
    healthy or unhealthy (or ``timeout``)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ctr.reload()
        status = (ctr.attrs["State"].get("Health") or {}).get("Status", "(pas de HEALTHCHECK)")
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in ("healthy", "unhealthy", "(pas de HEALTHCHECK)"):
            break
        time.sleep(0.25)
    return seen


@needs_docker
def health_demo():
    """A probe of /sante (healthy) and one of a missing page (unhealthy): the
    states read from ``docker inspect`` as they change."""
    import pandas as pd

    engine.client()
    rows = []
    for variant in ("health", "health-ko"):
        ctr = start(variant, wait=False)  # read the health state from the very start: « starting »
        try:
            seq = health_sequence(ctr)
            ctr.reload()
            log = (ctr.attrs["State"].get("Health") or {}).get("Log") or [{}]
            rows.append({"image": tag(variant), "sonde": "/sante" if variant == "health" else "/inexistant",
                         "états observés": " → ".join(seq),
                         "dernier code de la sonde": log[-1].get("ExitCode")})
        finally:
            engine.remove_container(ctr.name)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- à vous


@needs_docker
def try_cmd(cmd_line: str) -> None:
    """À vous : build the service with your own last line(s), time ``docker stop``."""
    engine.client()
    print(dockerfile(cmd_line), end="")
    row = timed_stop(cmd_line)
    print(f"PID 1 : {row['PID 1']}")
    print(f"docker stop : {row['verdict']} (code de sortie {row['code de sortie']})")
