"""A local image registry for the push/pull lessons, and the registry HTTP API.

Without Docker Hub (classrooms, CI) the course runs its own registry: Debian's
``docker-registry`` package (the CNCF *distribution* registry, ``registry:2``'s
binary), installed with apt when missing and we are root. :class:`LocalRegistry`
starts it on ``127.0.0.1`` only, on a free port, with its storage in a temporary
folder, and stops it (process and data) on :meth:`LocalRegistry.stop`, at exit,
or at the next start when a previous kernel died (pid file in the state folder).
When this Python is not on the Docker host (course image with the socket
mounted), the same binary runs in a labelled container published on the host's
loopback instead.

``dockerd`` accepts plain HTTP for registries on ``127.0.0.0/8`` (they are
"insecure registries" by default), so ``docker push 127.0.0.1:PORT/name:tag``
works with no daemon configuration.

The registry API helpers (:func:`catalog`, :func:`tags`, :func:`manifest_digest`)
use only the standard library: they are plain HTTP GET/HEAD requests.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from . import engine
from .errors import DockercourseError
from .waiting import wait_until

#: The binary's name in Debian's package, and in the upstream image.
BINARIES = ("docker-registry", "registry")
PACKAGE = "docker-registry"
HOST = "127.0.0.1"
START_TIMEOUT = 20.0

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
)

CONFIG_TEMPLATE = """\
# Local registry started by the dockercourse package (loopback only, data in a temp folder).
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {data}
  delete:
    enabled: true
http:
  addr: {host}:{port}
"""


class RegistryError(DockercourseError, RuntimeError):
    """The local registry could not be installed or started (French message)."""


# --------------------------------------------------------------------------- install


def find_binary() -> str | None:
    for name in BINARIES:
        exe = shutil.which(name)
        if exe:
            return exe
    return None


def ensure_installed() -> str:
    """Path of the registry binary; installs Debian's ``docker-registry`` with
    apt when it is missing and we are root. Raises :class:`RegistryError` otherwise."""
    exe = find_binary()
    if exe:
        return exe
    from . import hostpkg

    if not hostpkg.can_apt():
        raise RegistryError("Le registre local a besoin du paquet Debian « docker-registry » : "
                            "installez-le (sudo apt-get install docker-registry) puis relancez la cellule.")
    try:
        hostpkg.apt_install([PACKAGE])
    except hostpkg.PackageError as err:
        raise RegistryError("L'installation du paquet « docker-registry » a échoué : "
                            + str(err).strip().splitlines()[-1]) from None
    # Without a policy-rc.d, the package's postinst starts a system-wide registry on :5000;
    # the course wants only its own loopback one, so stop the service it just installed.
    if Path("/etc/init.d/docker-registry").exists():
        subprocess.run(["/etc/init.d/docker-registry", "stop"], capture_output=True)
    exe = find_binary()
    if not exe:
        raise RegistryError("Le paquet « docker-registry » est installé mais son programme est introuvable.")
    return exe


# --------------------------------------------------------------------------- lifecycle


#: Where :func:`free_port` looks: below Linux's ephemeral range (``ip_local_port_range``, from 32768 by
#: default), which every outgoing connection and every ``bind(0)`` draws from.
FREE_PORTS = (20000, 32768)


def ephemeral_range(text: str | None = None) -> tuple[int, int]:
    """The kernel's ephemeral port range (``/proc/sys/net/ipv4/ip_local_port_range``; its default
    when unreadable). ``text``: that file's content (pure)."""
    if text is None:
        try:
            text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        except OSError:
            text = ""
    parts = text.split()
    return (int(parts[0]), int(parts[1])) if len(parts) == 2 and all(p.isdigit() for p in parts) else (32768, 60999)


def free_port(host: str = HOST) -> int:
    """A TCP port nothing is bound to on ``host``, for a server that binds it later: drawn outside
    the ephemeral range, so that no outgoing connection made meanwhile, on a busy machine, nor
    another ``bind(0)`` takes it first (a port from ``bind(0)`` is one the kernel hands out again)."""
    import random

    low, high = FREE_PORTS
    high = min(high, ephemeral_range()[0])
    for _ in range(200 if high - low >= 1000 else 0):
        port = random.randrange(low, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # an unusual range: the kernel's choice
        s.bind((host, 0))
        return s.getsockname()[1]


def render_config(data_dir: str | Path, port: int, host: str = HOST) -> str:
    """The registry's YAML configuration (pure)."""
    return CONFIG_TEMPLATE.format(data=data_dir, host=host, port=port)


def _pidfile(unit: str) -> Path:
    return engine.state_dir() / f"registry-{unit}.json"


def _is_registry_process(pid: int) -> bool:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmd) and os.path.basename(cmd[0].decode(errors="replace")) in BINARIES


def stop_stale(unit: str) -> bool:
    """Stop a registry left by a previous run of ``unit`` (kernel killed) and
    remove its temporary folder. True when something was cleaned."""
    pidfile = _pidfile(unit)
    if not pidfile.exists():
        return False
    try:
        info = json.loads(pidfile.read_text())
    except (OSError, ValueError):
        info = {}
    pid = int(info.get("pid") or 0)
    if pid > 0 and _is_registry_process(pid):
        _terminate(pid)
    tmp = info.get("tmpdir")
    if tmp and Path(tmp).name.startswith("dockercourse-registry-"):
        shutil.rmtree(tmp, ignore_errors=True)
    pidfile.unlink(missing_ok=True)
    return True


def _terminate(pid: int, timeout: float = 10) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return

    def gone() -> bool:
        try:  # reap it if it is our child, else just poll for existence
            return os.waitpid(pid, os.WNOHANG)[0] == pid
        except ChildProcessError:
            return not _is_registry_process(pid)

    if wait_until(gone, timeout, interval=0.05)[0]:
        return
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


class LocalRegistry:
    """A local registry on ``127.0.0.1:<port>`` of the Docker host, data in a temp folder.

    Two ways to run the same Debian binary, chosen by ``mode``:

    - ``"process"`` (default when this Python runs on the Docker host): the binary
      itself, listening on ``127.0.0.1:<free port>``, storage in a temp folder;
    - ``"container"`` (when this Python is in a container, e.g. the course image
      with the Docker socket mounted: our loopback is not the daemon's): a small
      image built from that binary, published on the host's ``127.0.0.1:<port>``,
      storage on a tmpfs; the HTTP API is reached at the container's IP.

    Use as a context manager, or call :meth:`start` / :meth:`stop`.
    """

    CONTAINER_PORT = 5000

    def __init__(self, unit: str = "registry", port: int | None = None, mode: str = "auto"):
        if mode not in ("auto", "process", "container"):
            raise ValueError(f"mode must be auto, process or container, not {mode!r}")
        self.unit = unit
        self.port = port
        self.mode = mode
        self.proc: subprocess.Popen | None = None
        self.tmpdir: Path | None = None
        self.container = None
        self.image_id: str | None = None
        self.api_base: str | None = None

    # -- properties
    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``: the prefix of image names pushed here (the daemon's view)."""
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """Base URL of the registry's HTTP API, as this Python reaches it."""
        return self.api_base or f"http://{self.address}"

    @property
    def running(self) -> bool:
        if self.container is not None:
            try:
                self.container.reload()
            except Exception:
                return False
            return self.container.status == "running"
        return self.proc is not None and self.proc.poll() is None

    @property
    def data_dir(self) -> Path | None:
        return self.tmpdir / "data" if self.tmpdir and self.container is None else None

    # -- lifecycle
    def start(self) -> LocalRegistry:
        if self.running:
            return self
        exe = ensure_installed()
        stop_stale(self.unit)
        mode = self.mode
        if mode == "auto":
            mode = "container" if _not_on_docker_host() else "process"
        self.tmpdir = Path(tempfile.mkdtemp(prefix="dockercourse-registry-"))
        _pidfile(self.unit).write_text(json.dumps({"pid": 0, "tmpdir": str(self.tmpdir), "port": self.port}))
        atexit.register(self.stop)
        try:
            if mode == "container":
                self._start_container(exe)
            else:
                self._start_process(exe)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_process(self, exe: str) -> None:
        self.port = self.port or free_port()
        (self.tmpdir / "data").mkdir()
        config = self.tmpdir / "config.yml"
        config.write_text(render_config(self.tmpdir / "data", self.port))
        log = open(self.tmpdir / "registry.log", "wb")
        self.proc = subprocess.Popen([exe, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        _pidfile(self.unit).write_text(json.dumps({"pid": self.proc.pid, "tmpdir": str(self.tmpdir),
                                                   "port": self.port}))

        def answers() -> bool:
            if self.proc.poll() is not None:
                tail = (self.tmpdir / "registry.log").read_text(errors="replace")[-800:]
                raise RegistryError(f"Le registre local s'est arrêté au démarrage : {tail.strip()}")
            return ping(self.url)

        if wait_until(answers, START_TIMEOUT, interval=0.1)[0]:
            return
        raise RegistryError(f"Le registre local ne répond pas après {START_TIMEOUT:.0f} s.")

    def _start_container(self, exe: str) -> None:

        c = engine.client()
        name = engine.name(self.unit, "registry")
        labels = engine.labels(unit=self.unit, role="registry")
        ctx = self.tmpdir / "image"
        ctx.mkdir()
        shutil.copy2(exe, ctx / "registry")
        (ctx / "config.yml").write_text(render_config("/var/lib/registry", self.CONTAINER_PORT, host="0.0.0.0"))
        (ctx / "Dockerfile").write_text(
            f"FROM {engine.BASE_IMAGE}\n"
            "COPY registry /usr/local/bin/registry\n"
            "COPY config.yml /etc/docker/registry/config.yml\n"
            f"EXPOSE {self.CONTAINER_PORT}\n"
            'CMD ["registry", "serve", "/etc/docker/registry/config.yml"]\n')
        img, _ = c.images.build(path=str(ctx), tag=name, labels=labels, rm=True, forcerm=True)
        self.image_id = img.id
        engine.remove_container(name, c)
        self.container = c.containers.run(
            img.id, name=name, detach=True, labels=labels, tmpfs={"/var/lib/registry": "size=512m"},
            ports={f"{self.CONTAINER_PORT}/tcp": (HOST, self.port)})
        self.container.reload()
        binding = self.container.attrs["NetworkSettings"]["Ports"][f"{self.CONTAINER_PORT}/tcp"][0]
        self.port = int(binding["HostPort"])
        ip = self.container.attrs["NetworkSettings"].get("IPAddress")
        self.api_base = (f"http://{ip}:{self.CONTAINER_PORT}" if _not_on_docker_host() and ip
                         else f"http://{self.address}")
        if wait_until(lambda: ping(self.url), START_TIMEOUT, interval=0.1)[0]:
            return
        raise RegistryError(f"Le conteneur du registre local ne répond pas après {START_TIMEOUT:.0f} s : "
                            + self.container.logs().decode(errors="replace")[-500:])

    def stop(self) -> None:
        """Stop the process (or remove the container and its image) and delete
        the temp folder (idempotent)."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        if self.container is not None or self.image_id is not None:
            try:
                c = engine.client()
                if self.container is not None:
                    self.container.remove(force=True, v=True)
                if self.image_id is not None:
                    c.images.remove(self.image_id, force=True)
            except Exception:  # daemon gone or already removed: cleanup() catches the rest by label
                pass
            self.container = self.image_id = self.api_base = None
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
        _pidfile(self.unit).unlink(missing_ok=True)
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- API shortcuts
    def catalog(self) -> list[str]:
        return catalog(self.url)

    def tags(self, repo: str) -> list[str]:
        return tags(self.url, repo)

    def manifest_digest(self, repo: str, reference: str) -> str | None:
        return manifest_digest(self.url, repo, reference)

    def image(self, repo: str) -> str:
        """Full image name in this registry: ``127.0.0.1:PORT/repo``."""
        return f"{self.address}/{repo}"


def _not_on_docker_host() -> bool:
    """True when this Python does not share the daemon's network namespace
    (notebook in a container, or a daemon in a VM such as Docker Desktop)."""
    if engine.in_container() or not Path("/proc/self").exists():
        return True
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "dockerd":
                return False
        except OSError:  # the process ended meanwhile
            continue
    return True


# --------------------------------------------------------------------------- registry HTTP API


def _open(req: urllib.request.Request | str, timeout: float = 10):
    # never through an HTTP proxy: the registry is on loopback
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return opener.open(req, timeout=timeout)


def ping(url: str, timeout: float = 2) -> bool:
    """True when ``GET /v2/`` answers (200, or 401 for a registry with auth)."""
    try:
        with _open(url.rstrip("/") + "/v2/", timeout=timeout):
            return True
    except urllib.error.HTTPError as err:
        return err.code == 401
    except (urllib.error.URLError, OSError):
        return False


def get_json(url: str, timeout: float = 10):
    with _open(url, timeout=timeout) as resp:
        return json.loads(resp.read().decode())


def catalog(url: str) -> list[str]:
    """``GET /v2/_catalog``: the repositories stored in the registry."""
    return get_json(url.rstrip("/") + "/v2/_catalog").get("repositories") or []


def tags(url: str, repo: str) -> list[str]:
    """``GET /v2/<repo>/tags/list``: the tags of one repository (sorted)."""
    try:
        data = get_json(f"{url.rstrip('/')}/v2/{repo}/tags/list")
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return []
        raise
    return sorted(data.get("tags") or [])


def manifest_digest(url: str, repo: str, reference: str) -> str | None:
    """``HEAD /v2/<repo>/manifests/<tag or digest>``: the manifest's content
    digest (``Docker-Content-Digest`` header), or None when it does not exist."""
    req = urllib.request.Request(f"{url.rstrip('/')}/v2/{repo}/manifests/{reference}", method="HEAD",
                                 headers={"Accept": ", ".join(MANIFEST_TYPES)})
    try:
        with _open(req) as resp:
            return resp.headers.get("Docker-Content-Digest")
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return None
        raise


def manifest(url: str, repo: str, reference: str) -> dict:
    """``GET /v2/<repo>/manifests/<ref>``: the manifest JSON (layers and config digests)."""
    req = urllib.request.Request(f"{url.rstrip('/')}/v2/{repo}/manifests/{reference}",
                                 headers={"Accept": ", ".join(MANIFEST_TYPES)})
    with _open(req) as resp:
        return json.loads(resp.read().decode())


def split_reference(ref: str) -> tuple[str, str | None, str | None]:
    """Pure: ``"127.0.0.1:5000/app:1.0"`` → ``("127.0.0.1:5000/app", "1.0", None)``;
    ``"app@sha256:..."`` → ``("app", None, "sha256:...")``. The tag is what follows
    the last ``:`` *after* the last ``/`` (a registry port is not a tag)."""
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1:], digest
    return ref, None, digest
