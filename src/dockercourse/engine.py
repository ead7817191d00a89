"""Find, start and describe the Docker Engine the course talks to.

Everything the course creates goes through this module's conventions: the
``dockercourse`` label (:func:`labels`) and the ``dockercourse-`` name prefix
(:func:`name`), so that notebooks can be re-run and :func:`clean` removes only
what the course made.

Student-facing messages are French; they are raised as :class:`DockerUnavailable`
and turned into one printed sentence by :func:`needs_docker` in notebooks.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import DockerUnavailable, SetupError  # noqa: F401 (they live under the package's root)

LABEL = "dockercourse"
NAME_PREFIX = "dockercourse-"
BASE_IMAGE = "python:3.13-slim"
STANDIN_LABEL = "dockercourse.standin"

#: How long to wait for a freshly started dockerd to answer.
START_TIMEOUT = 60.0

_client = None

# --------------------------------------------------------------------------- naming


def labels(**extra: str) -> dict[str, str]:
    """Labels for anything the course creates: ``dockercourse=1`` plus ``extra``
    (keys are prefixed with ``dockercourse.``)."""
    out = {LABEL: "1"}
    out.update({f"{LABEL}.{k}": str(v) for k, v in extra.items()})
    return out


def name(*parts: str) -> str:
    """Predictable object name: ``name("demo", "1") == "dockercourse-demo-1"``."""
    return NAME_PREFIX + "-".join(p for p in parts if p)


def state_dir() -> Path:
    """Folder for logs and caches: ``$DOCKERCOURSE_STATE`` (the Makefile sets
    it to the repo's ``.state/``), else ``~/.cache/dockercourse``. Always absolute: a relative
    ``DOCKERCOURSE_STATE=.state`` would name another folder in a sandbox's mount namespace."""
    path = Path(os.environ.get("DOCKERCOURSE_STATE") or Path.home() / ".cache" / "dockercourse").absolute()
    path.mkdir(parents=True, exist_ok=True)
    return path


# --------------------------------------------------------------------------- client


def _unreachable_message(err: Exception | None = None) -> str:
    host = os.environ.get("DOCKER_HOST")
    if host:
        return (f"Le démon Docker ne répond pas à l'adresse DOCKER_HOST={host} : "
                "vérifiez que Docker est démarré ou corrigez cette variable.")
    sock = Path("/var/run/docker.sock")
    if sock.exists() and err is not None and "ermission" in str(err):
        return ("Docker tourne, mais vous n'avez pas le droit d'utiliser /var/run/docker.sock : "
                "ajoutez-vous au groupe docker (sudo usermod -aG docker $USER) puis reconnectez-vous.")
    if in_container() and not sock.exists():
        return ("Vous êtes vous-même dans un conteneur (Binder ou image du cours) sans accès à un "
                "démon Docker : cette cellule a besoin de Docker et ne peut pas s'exécuter ici.")
    return ("Le démon Docker ne répond pas : démarrez Docker (Docker Desktop, ou "
            "« make lab » / « make test » qui l'installent et le démarrent sous Debian/Ubuntu en root).")


#: A class server session loads the course's base image into the member's own engine in the
#: background as it starts (:mod:`dockercourse.hub.userinit`), then writes one of these markers
#: in ``$DOCKERCOURSE_STATE``.
SESSION_BASE_READY, SESSION_BASE_FAILED = "base-ready", "base-failed"

#: How long a notebook waits for that load before it goes on without the base image.
SESSION_BASE_WAIT_S = 180.0


def wait_for_session_base(timeout: float = SESSION_BASE_WAIT_S) -> bool:
    """In a class server session, wait until the background load of the base image has ended: a
    cell that ran ``docker run python:3.13-slim`` in the session's first seconds would otherwise
    send the engine to Docker Hub for it. Says so in one French line while it waits; returns at
    once (True) outside a session or once the load has ended, False when ``timeout`` passed."""
    if not os.environ.get("DOCKERCOURSE_HUB_BASE_TAR"):
        return True
    state = state_dir()

    def ended() -> bool:
        return (state / SESSION_BASE_READY).exists() or (state / SESSION_BASE_FAILED).exists()

    if ended():
        return True
    from .waiting import wait_until

    print(f"⏳ Votre session démarre : son moteur Docker charge l'image de base {BASE_IMAGE} "
          "(quelques secondes)…", flush=True)
    done, secs = wait_until(ended, timeout, interval=0.5)
    if not done:
        print(f"   toujours pas chargée après {timeout:.0f} s (voir ~/.dockercourse/base-load.log) : on continue.",
              flush=True)
    elif (state / SESSION_BASE_READY).exists():
        print(f"   image de base prête en {secs:.0f} s.", flush=True)
    else:
        print("   le chargement a échoué (voir ~/.dockercourse/base-load.log) : on continue sans elle.", flush=True)
    return bool(done)


def client(timeout: float = 120):
    """The Docker SDK client, created once; raises :class:`DockerUnavailable`. In a class server
    session, the first one waits for the session's base image (:func:`wait_for_session_base`)."""
    global _client
    import docker  # imported lazily: describing a missing daemon must stay cheap

    if _client is not None:
        try:
            _client.ping()
            return _client
        except Exception:
            _client = None
    wait_for_session_base()
    try:
        c = docker.from_env(timeout=timeout)
        c.ping()
    except Exception as err:  # DockerException, requests errors, PermissionError...
        raise DockerUnavailable(_unreachable_message(err)) from None
    _client = c
    return c


def available() -> bool:
    """True when a daemon answers a ping."""
    try:
        client()
        return True
    except DockerUnavailable:
        return False


_last_skipped_cell: list = [object()]


def _cell_key():
    """The IPython execution count of the running cell (None outside IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    ip = get_ipython()
    return None if ip is None else ip.execution_count


def needs_docker(func):
    """Decorator for notebook-facing helpers: when no daemon answers, print one
    French sentence and return ``None`` instead of raising a traceback. A cell
    that calls several decorated helpers prints the sentence only once."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DockerUnavailable as err:
            key = _cell_key()
            if key is None or key != _last_skipped_cell[0]:
                print(f"⚠️  Cellule non exécutée : {err}")
            _last_skipped_cell[0] = key
            return None

    return wrapper


# --------------------------------------------------------------------------- CLI passthrough


def docker_cli(*args: str, check: bool = False, echo: bool = True, timeout: float = 300) -> str:
    """Run the ``docker`` command line, print ``$ docker ...`` and its output.

    This is what notebooks use to *show* commands students would type. A daemon
    that does not answer becomes :class:`DockerUnavailable`.
    """
    exe = shutil.which("docker")
    if exe is None:
        raise DockerUnavailable("La commande « docker » est introuvable : installez le client Docker.")
    wait_for_session_base()
    proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0 and _looks_unreachable(proc.stderr):
        raise DockerUnavailable(_unreachable_message(RuntimeError(proc.stderr)))
    if echo:
        print("$ docker " + " ".join(_quote(a) for a in args))
        if out:
            print(out, end="" if out.endswith("\n") else "\n")
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} a échoué (code {proc.returncode}) : {proc.stderr.strip()}")
    return proc.stdout


@needs_docker
def docker(*args: str, timeout: float = 300) -> None:
    """Notebook form of :func:`docker_cli`: show ``$ docker ...`` and its output,
    return nothing (so the cell does not echo it twice)."""
    docker_cli(*args, timeout=timeout)


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _looks_unreachable(stderr: str) -> bool:
    s = stderr.lower()
    return ("cannot connect to the docker daemon" in s or "is the docker daemon running" in s
            or "permission denied while trying to connect" in s or "error during connect" in s)


# --------------------------------------------------------------------------- setup


def install_docker_io() -> None:
    """Install Debian's ``docker.io`` (dockerd, containerd, runc) with apt (its recommends too)."""
    from . import hostpkg

    hostpkg.apt_install(["docker.io"], error=SetupError, recommends=True, log=lambda m: print("  $ " + m, flush=True))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


PIDFILES = ("/var/run/docker.pid", "/run/docker/containerd/containerd.pid")


def remove_stale_pidfiles(pidfiles=PIDFILES) -> list[str]:
    """A killed dockerd leaves its pid file behind and the next one refuses to
    start; remove pid files whose process is gone."""
    removed = []
    for pidfile in pidfiles:
        p = Path(pidfile)
        if not p.exists():
            continue
        try:
            pid = int(p.read_text().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if pid <= 0 or not _pid_alive(pid):
            p.unlink(missing_ok=True)
            removed.append(pidfile)
    return removed


def start_dockerd(timeout: float = START_TIMEOUT) -> Path:
    """Start ``dockerd`` in the background (no systemd here), log to the state
    folder and wait until it answers. Returns the log path."""
    log_path = state_dir() / "dockerd.log"
    for f in remove_stale_pidfiles():
        print(f"  stale pid file removed: {f}")
    print(f"  starting dockerd in the background (log: {log_path})", flush=True)
    log = open(log_path, "ab")
    proc = subprocess.Popen(["dockerd"], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    def answers() -> bool:
        if proc.poll() is not None:
            raise SetupError(f"dockerd exited with code {proc.returncode}; last lines of {log_path}:\n"
                             + file_tail(log_path))
        return available()

    from .waiting import wait_until

    if wait_until(answers, timeout, interval=0.5)[0]:
        return log_path
    raise SetupError(f"dockerd did not answer within {timeout:.0f} s; last lines of {log_path}:\n"
                     + file_tail(log_path))


def file_tail(path: Path, n: int = 20) -> str:
    """The last ``n`` lines of a log file, for an error message (« (no log) » when unreadable)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


def ensure_engine() -> str:
    """Make sure a Docker daemon answers. Returns what was done:
    ``"running"`` (nothing to do), ``"started"`` or ``"installed"``.

    Raises :class:`SetupError` with a message that says what to install when
    it cannot do it itself (not root, not Debian/Ubuntu, macOS, Windows)."""
    if available():
        return "running"
    if os.environ.get("DOCKER_HOST"):
        raise SetupError(_unreachable_message() + "\n(EN) DOCKER_HOST is set but does not answer.")
    system = platform.system()
    if system != "Linux":
        raise SetupError(
            "Docker ne répond pas. Installez et démarrez Docker Desktop "
            "(https://docs.docker.com/desktop/), puis relancez la commande.\n"
            "(EN) No Docker daemon answers: install and start Docker Desktop, then run this again.")
    if os.geteuid() != 0:
        if Path("/var/run/docker.sock").exists():
            msg = ("Docker est installé mais inaccessible : ajoutez-vous au groupe docker "
                   "(sudo usermod -aG docker $USER) et reconnectez-vous, ou utilisez Docker rootless.\n"
                   "(EN) Join the docker group (sudo usermod -aG docker $USER) and log in again.")
        else:
            msg = ("Aucun démon Docker : installez Docker Engine (Debian/Ubuntu : sudo apt-get install docker.io, "
                   "puis sudo usermod -aG docker $USER) ou lancez cette commande en root.\n"
                   "(EN) No Docker daemon: install Docker Engine (sudo apt-get install docker.io) "
                   "and join the docker group, or run this as root.")
        raise SetupError(msg)
    done = "started"
    if shutil.which("dockerd") is None:
        from . import hostpkg

        if not hostpkg.debian_like():
            raise SetupError("Aucun démon Docker et ce système n'est pas Debian/Ubuntu : installez Docker "
                             "Engine (https://docs.docker.com/engine/install/).\n"
                             "(EN) Not Debian/Ubuntu: install Docker Engine yourself.")
        print("Installing Debian's docker.io (dockerd, containerd, runc)...", flush=True)
        install_docker_io()
        done = "installed"
        if available():  # the package may have started it (systemd machines)
            return done
    start_dockerd()
    return done


# --------------------------------------------------------------------------- describing


def in_container() -> bool:
    """True when this Python runs inside a container (Docker, Podman, Kubernetes/Binder)."""
    if Path("/run/.containerenv").exists() or os.environ.get("KUBERNETES_SERVICE_HOST"):
        return True
    try:
        text = Path("/proc/1/cgroup").read_text()
    except OSError:
        text = ""
    if any(k in text for k in ("/docker/", "/kubepods", "/containerd/", "/lxc/")):
        return True
    # /.dockerenv alone is not enough: some VMs boot a root filesystem made from a Docker
    # image and keep the file. A container's root is never a block device.
    return Path("/.dockerenv").exists() and not root_is_block_device()


def root_is_block_device(mounts: str | None = None) -> bool:
    """True when ``/`` is mounted from a ``/dev/...`` device (a VM or a real machine)."""
    if mounts is None:
        try:
            mounts = Path("/proc/self/mounts").read_text()
        except OSError:
            return False
    root_source = ""
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[1] == "/":
            root_source = fields[0]  # the last mount on / is the visible one
    return root_source.startswith("/dev/")


def on_binder() -> bool:
    return any(k in os.environ for k in ("BINDER_SERVICE_HOST", "BINDER_LAUNCH_HOST", "BINDER_REQUEST"))


def docker_hub_reachable(timeout: float = 3.0) -> bool:
    """True when the Docker Hub registry answers over HTTPS (401 counts: it answered)."""
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen("https://registry-1.docker.io/v2/", timeout=timeout)
        return True
    except urllib.error.HTTPError:
        return True
    except (TimeoutError, urllib.error.URLError, OSError):
        return False


def _cli_output(args: list[str], env: dict | None = None) -> str:
    """stdout of ``docker``/``docker-compose`` ``args`` ("" when missing or failing)."""
    exe = shutil.which(args[0], path=(env or os.environ).get("PATH"))
    if not exe:
        return ""
    try:
        proc = subprocess.run([exe, *args[1:]], capture_output=True, text=True, timeout=20, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return proc.stdout if proc.returncode == 0 else ""


def cli_version(env: dict | None = None) -> str | None:
    out = _cli_output(["docker", "version", "--format", "{{json .Client}}"], env)
    try:
        return json.loads(out.strip().splitlines()[0]).get("Version")
    except (IndexError, ValueError, AttributeError):
        return None


def server_major(version: str | None) -> int | None:
    """Pure: ``"26.1.5+dfsg1"`` → 26 (None when unknown)."""
    head = (version or "").split(".", 1)[0]
    return int(head) if head.isdigit() else None


def image_store(info: dict) -> str:
    """Pure: the image store, from ``docker info``'s ``DriverStatus`` (``driver-type``)."""
    for row in info.get("DriverStatus") or []:
        if len(row) == 2 and row[0] == "driver-type" and "snapshotter" in str(row[1]):
            return "containerd (snapshotter)"
    return "classique (graphdriver)"


def parse_buildx_version(text: str) -> str | None:
    """Pure: ``github.com/docker/buildx v0.29.1 …`` or Debian's ``… 0.13.1+ds1 …`` → the version."""
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0].endswith("buildx"):
            return words[1].removeprefix("v")
    return None


def parse_compose_version(text: str) -> str | None:
    """Pure: ``Docker Compose version v2.40.3`` / ``docker-compose version 1.29.2, build …`` → the version."""
    match = re.search(r"(?i)docker[- ]compose version:? v?(\d[^\s,]*)", text)
    return match.group(1) if match else None


def compose_kind(plugin_output: str, standalone_output: str) -> str:
    """Pure: which Compose answers, from ``docker compose version`` and ``docker-compose version``."""
    v2, v1 = parse_compose_version(plugin_output), parse_compose_version(standalone_output)
    if v2:
        return f"v2, docker compose {v2}"
    if v1:
        return f"v{v1.split('.')[0]}, docker-compose {v1}"
    return "absent"


def builder_kind(server_version: str | None, buildx: str | None, docker_buildkit: str | None = None) -> str:
    """Pure: which builder ``docker build`` uses. BuildKit by default from Engine 23 when the
    buildx plugin is there; ``DOCKER_BUILDKIT=0/1`` forces the choice."""
    if docker_buildkit == "0":
        return "ancien builder (DOCKER_BUILDKIT=0)"
    wanted = docker_buildkit == "1" or (server_major(server_version) or 0) >= 23
    if wanted and buildx:
        return f"BuildKit (buildx {buildx})"
    if wanted:
        return "ancien builder (plugin buildx absent)"
    return "ancien builder (Engine < 23)"


def facts_from_info(info: dict, version: dict, buildx: str | None = None,
                    docker_buildkit: str | None = None) -> dict[str, object]:
    """Pure: turn ``docker info`` / ``docker version`` JSON into the course's facts.
    ``buildx`` is the buildx plugin's version (None: absent), ``docker_buildkit`` the
    ``DOCKER_BUILDKIT`` variable; both only decide ``builder``."""
    security = " ".join(info.get("SecurityOptions") or [])
    os_name = info.get("OperatingSystem") or ""
    return {
        "server_version": version.get("Version"),
        "api_version": version.get("ApiVersion"),
        "min_api_version": version.get("MinAPIVersion"),
        "os_arch": f"{info.get('OSType', '?')}/{info.get('Architecture', '?')}",
        "kernel": info.get("KernelVersion"),
        "operating_system": os_name,
        "storage_driver": info.get("Driver"),
        "image_store": image_store(info),
        "builder": builder_kind(version.get("Version"), buildx, docker_buildkit),
        "cgroup_version": str(info.get("CgroupVersion") or "1"),
        "cgroup_driver": info.get("CgroupDriver"),
        "rootless": "rootless" in security,
        "docker_desktop": "docker desktop" in os_name.lower(),
    }


def base_image_kind(image_attrs: dict | None) -> str:
    """Pure: which base image the course will use, from the image's attributes."""
    if image_attrs is None:
        return "absente (make test / make lab la préparent)"
    lab = (image_attrs.get("Config") or {}).get("Labels") or {}
    if lab.get(STANDIN_LABEL):
        return "copie locale faite depuis Debian (kit hors ligne)"  # ≤ 50 characters: never cut
    return "image officielle (Docker Hub)"


@needs_docker
def describe(client_=None, env: dict | None = None):
    """A pandas table of what matters to the course about this Docker setup.

    ``client_`` and ``env`` (the environment of the ``docker`` commands it runs) describe
    another engine than the default one (:meth:`currentengine.CurrentEngine.describe`).
    Without a daemon, prints one French sentence and returns ``None``.
    """
    import docker
    import pandas as pd

    c = client_ or client()
    env = env or dict(os.environ)
    buildx = parse_buildx_version(_cli_output(["docker", "buildx", "version"], env))
    facts = facts_from_info(c.info(), c.version(), buildx=buildx, docker_buildkit=env.get("DOCKER_BUILDKIT"))
    compose = compose_kind(_cli_output(["docker", "compose", "version"], env),
                           _cli_output(["docker-compose", "version"], env))
    try:
        base = c.images.get(BASE_IMAGE).attrs
    except docker.errors.ImageNotFound:
        base = None
    yes_no = {True: "oui", False: "non"}
    rows = [
        ("Client docker (CLI)", cli_version(env) or "absent"),
        ("SDK Python docker", docker.__version__),
        ("Serveur (dockerd)", facts["server_version"]),
        ("Version de l'API", facts["api_version"]),
        ("Système / architecture", facts["os_arch"]),
        ("Noyau", facts["kernel"]),
        ("Pilote de stockage", facts["storage_driver"]),
        ("Magasin d'images", facts["image_store"]),
        ("Builder de docker build", facts["builder"]),
        ("Builder du SDK (images.build)", "ancien builder (toujours)"),
        ("Compose", compose),
        ("cgroups : version", facts["cgroup_version"]),
        ("cgroups : pilote", facts["cgroup_driver"]),
        ("Docker rootless", yes_no[facts["rootless"]]),
        ("Docker Desktop", yes_no[facts["docker_desktop"]]),
        ("Ce notebook tourne dans un conteneur", yes_no[in_container()]),
        ("Binder", yes_no[on_binder()]),
        ("Docker Hub joignable", yes_no[docker_hub_reachable()]),
        (f"Image de base {BASE_IMAGE}", base_image_kind(base)),
    ]
    return pd.DataFrame(rows, columns=["élément", "valeur"]).set_index("élément")


# --------------------------------------------------------------------------- cleanup


def clean(include_base: bool = False, quiet: bool = False, selector: str = LABEL) -> dict[str, int]:
    """Remove every object labelled ``dockercourse`` (containers, images,
    volumes, networks). The offline stand-in base image is removed only with
    ``include_base`` (the official image never is).
    ``selector`` narrows the label filter (``key`` or ``key=value``)."""
    import docker

    c = client()
    flt = {"label": selector}
    counts = {"containers": 0, "images": 0, "volumes": 0, "networks": 0}
    for ctr in c.containers.list(all=True, filters=flt):
        try:
            ctr.remove(force=True, v=True)
            counts["containers"] += 1
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as err:  # "removal already in progress" (another cleanup, same daemon)
            if "in progress" not in str(err):
                raise
    for _ in range(3):  # newest (children) first; retry what was still a parent
        images = sorted(c.images.list(filters=flt), key=lambda i: i.attrs.get("Created", ""), reverse=True)
        if include_base:  # the offline kit's stand-in, never the official image
            images += [i for i in c.images.list(filters={"label": STANDIN_LABEL}) if BASE_IMAGE in i.tags]
        images = [i for i in images if include_base or BASE_IMAGE not in i.tags]
        if not images:
            break
        for img in images:
            try:
                c.images.remove(img.id, force=True)
                counts["images"] += 1
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as err:  # a parent, or used by a non-course container
                if not quiet:
                    print(f"  image {img.short_id} kept for now: {err.explanation}", file=sys.stderr)
    for vol in c.volumes.list(filters=flt):
        try:
            vol.remove(force=True)
            counts["volumes"] += 1
        except docker.errors.NotFound:
            pass
    for net in c.networks.list(filters=flt):
        net.remove()
        counts["networks"] += 1
    return counts


def remove_container(name: str, client_=None) -> bool:
    """Force-remove the course container ``name`` (with its anonymous volumes) if it
    exists; True when one was removed. Only course containers (``dockercourse-``
    name or label) are touched, so a re-run can reclaim its names safely."""
    import docker

    c = client_ or client()
    try:
        ctr = c.containers.get(name)
    except docker.errors.NotFound:
        return False
    if not (name.startswith(NAME_PREFIX) or (ctr.labels or {}).get(LABEL)):
        return False
    try:
        ctr.remove(force=True, v=True)
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as err:  # "removal already in progress"
        if "in progress" not in str(err):
            raise
    return True


def leftovers() -> list[str]:
    """Names of labelled containers still present (tests assert this is empty)."""
    # one API call, no per-container inspect: containers removed meanwhile cannot make it fail
    found = client().api.containers(all=True, filters={"label": LABEL})
    return [(c.get("Names") or ["?"])[0].lstrip("/") for c in found]
