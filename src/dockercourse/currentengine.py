"""A current Docker Engine beside the host's one (the course's current-engine lane).

Debian 12's ``docker.io`` is Engine 20.10 with the legacy builder; students run Engine
26-29 with BuildKit, often the containerd image store, and Compose v2. This module runs
such an engine on the same machine without touching the host's:

* :meth:`CurrentEngine.ensure_root` makes a Debian root (mmdebstrap) (``trixie``, or ``sid`` with
  ``DOCKERCOURSE_CURRENT_SUITE=sid``) with ``docker.io``, buildx, Compose v2 and containerd,
  cached under ``engine.state_dir()/current-engine/<suite>/root`` and rebuilt only when the
  package list changes (about half a minute cold with mmdebstrap);
* :meth:`CurrentEngine.start` runs ``data/current_engine.sh`` in a private mount namespace
  (``unshare -m``) that pivots into the root and starts that root's containerd and dockerd,
  with a data root, a socket folder and a bridge of its own per image store (``classic`` or
  ``containerd``), so both stores can run at once beside the host's engine;
* :meth:`CurrentEngine.env` gives the variables (``DOCKER_HOST``, ``DOCKER_CONFIG`` for the
  root's buildx and compose plugins, ``PATH`` with the root's own ``docker`` CLI first) that
  make ``docker ...`` talk to it, and :meth:`CurrentEngine.client` the Docker SDK client;
* :meth:`CurrentEngine.ensure_base_image` copies the host engine's ``python:3.13-slim``
  (the offline kit's stand-in, same labels) into it, cached as a ``docker save`` archive;
* :meth:`CurrentEngine.stop` ends every process of that namespace and deletes the bridge.

``with CurrentEngine(store="containerd") as ce: ...`` starts it and, if this block started
it, stops it afterwards. Starting, stopping and building take a file lock, so parallel test
sessions can share one engine per store.
Root only (mount namespaces, bridges); operator messages are English.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from . import engine, hostpkg

SUITES = ("trixie", "sid")
SUITE_ENV = "DOCKERCOURSE_CURRENT_SUITE"
DEFAULT_SUITE = "trixie"
PACKAGES = ("docker.io", "docker-cli", "docker-buildx", "docker-compose", "containerd", "runc",
            "iptables", "iproute2", "procps", "ca-certificates", "kmod", "rootlesskit", "slirp4netns", "uidmap")
#: Bump when the root's preparation changes in a way the package list does not show.
RECIPE_VERSION = "1"
#: Folders of the root that data/current_engine.sh mounts over (they must exist).
MOUNT_POINTS = ("proc", "sys", "dev", "tmp", "run", "var/lib/docker", "var/lib/containerd", "etc/docker",
                ".oldroot")
PLUGINS = ("docker-buildx", "docker-compose")
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
SCRIPT = "current_engine.sh"


class CurrentEngineError(engine.SetupError):
    """The current engine could not be built, started or stopped (message for the operator)."""


@dataclass(frozen=True)
class Store:
    """One image store: its own bridge and subnet, and its own pool for the networks its users create
    (``docker network create``, Compose), none colliding with docker0's 172.17/16 or each other."""

    name: str
    bridge: str
    cidr: str
    pool: str
    snapshotter: bool

    @property
    def networks(self) -> tuple[str, str]:
        """The default bridge's network and the pool (what the forwarding rules let through)."""
        addr, bits = self.cidr.split("/")
        return f"{addr.rsplit('.', 1)[0]}.0/{bits}", self.pool


STORES = {
    "classic": Store("classic", "dccur0", "172.31.250.1/24", "172.30.0.0/16", snapshotter=False),
    "containerd": Store("containerd", "dccur1", "172.31.251.1/24", "172.29.0.0/16", snapshotter=True),
}
#: Tags the host's FORWARD rules that let this lane's containers talk to each other.
FORWARD_COMMENT = "dockercourse-current-engine"


# --------------------------------------------------------------------------- small helpers


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.2):
    """Call ``predicate`` until it returns something truthy or ``timeout`` seconds pass;
    returns the last value (falsy on timeout)."""
    from .waiting import wait_until as wait

    return wait(predicate, timeout, interval)[0]


def default_suite() -> str:
    suite = os.environ.get(SUITE_ENV) or DEFAULT_SUITE
    if suite not in SUITES:
        raise CurrentEngineError(f"{SUITE_ENV}={suite!r}: expected one of {', '.join(SUITES)}")
    return suite


def recipe_hash(suite: str, packages: tuple[str, ...] = PACKAGES, arch: str = "amd64") -> str:
    payload = json.dumps({"suite": suite, "packages": sorted(packages), "arch": arch,
                          "version": RECIPE_VERSION}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def dpkg_versions(status_text: str, packages: tuple[str, ...]) -> dict[str, str]:
    """Pure: installed versions of ``packages`` from a ``/var/lib/dpkg/status`` text."""
    found: dict[str, str] = {}
    for block in status_text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != " ")
        if fields.get("Package") in packages and "installed" in fields.get("Status", ""):
            found[fields["Package"]] = fields.get("Version", "?")
    return found


def daemon_config(store: Store) -> dict:
    """The current engine's ``daemon.json`` (read inside the root, after pivot_root)."""
    return {
        "hosts": ["unix:///run/docker.sock"],
        "containerd": "/run/containerd/containerd.sock",
        "bridge": store.bridge,
        "iptables": False,
        "ip6tables": False,
        "default-address-pools": [{"base": store.pool, "size": 24}],
        "features": {"containerd-snapshotter": store.snapshotter},
    }


def _mnt_ns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _same_file(a: str | Path, b: os.stat_result) -> bool:
    try:
        st = os.stat(a)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (b.st_dev, b.st_ino)


def namespace_processes(ns: str, root: Path) -> list[int]:
    """Every process in mount namespace ``ns`` whose root directory is ``root`` (both
    checked: a namespace id can be reused once it is gone), plus all their descendants
    (the containers, which have namespaces of their own)."""
    try:
        root_st = os.stat(root)
    except OSError:
        return []
    pids = _all_pids()
    members = {p for p in pids if _mnt_ns(p) == ns and _same_file(f"/proc/{p}/root", root_st)}
    if not members:
        return []
    children: dict[int, list[int]] = {}
    for p in pids:
        children.setdefault(_ppid(p) or 0, []).append(p)
    todo = list(members)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in members:
                members.add(child)
                todo.append(child)
    return sorted(p for p in members if _alive(p))


def _alive(pid: int) -> bool:
    """True for a live process (a zombie is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _signal_all(pids, sig) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def _host_arch() -> str:
    out = _run(["dpkg", "--print-architecture"]).stdout.strip() if shutil.which("dpkg") else ""
    return out or {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)


# --------------------------------------------------------------------------- the engine


class CurrentEngine:
    """A current Docker Engine from a Debian ``suite`` root, with one image ``store``."""

    def __init__(self, store: str = "classic", suite: str | None = None):
        if store not in STORES:
            raise CurrentEngineError(f"unknown image store {store!r}: expected one of {', '.join(STORES)}")
        self.store = STORES[store]
        self.suite = suite or default_suite()
        self.base = engine.state_dir() / "current-engine"
        self.suite_dir = self.base / self.suite
        self.root = self.suite_dir / "root"
        self.marker = self.suite_dir / "root.json"
        self.state = self.suite_dir / self.store.name
        self.socket = self.state / "run" / "docker.sock"
        self.log_path = self.state / "dockerd.log"
        self.pid_file = self.state / "engine.json"
        self._proc: subprocess.Popen | None = None
        self._started = False  # by this object: the context manager stops only what it started
        if len(str(self.socket)) > 100:  # sun_path is 108 bytes
            raise CurrentEngineError(f"socket path too long for a unix socket: {self.socket}")

    def __repr__(self) -> str:
        return f"CurrentEngine(store={self.store.name!r}, suite={self.suite!r})"

    def __enter__(self) -> CurrentEngine:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._started:
            self.stop()

    # ----------------------------------------------------------------------- root

    def recipe(self) -> str:
        return recipe_hash(self.suite, PACKAGES, _host_arch())

    def root_info(self) -> dict | None:
        """The marker of the cached root (recipe, package versions), or None."""
        try:
            return json.loads(self.marker.read_text())
        except (OSError, ValueError):
            return None

    def ensure_root(self) -> str:
        """Make the Debian root; returns ``"present"`` or ``"built"``."""
        if self._root_ok():
            return "present"
        with self._lock("root"):
            if self._root_ok():  # another process built it meanwhile
                return "present"
            if any(CurrentEngine(s, self.suite).processes() for s in STORES):
                raise CurrentEngineError(f"the {self.suite} root is outdated but an engine runs from it: "
                                         "stop it first (python -m dockercourse engine --current --stop)")
            self._build_root()
        return "built"

    def _root_ok(self) -> bool:
        info = self.root_info()
        return bool(info) and info.get("recipe") == self.recipe() and (self.root / "usr/sbin/dockerd").exists()

    def _build_root(self) -> None:
        """A Debian root in ``root.partial`` (:func:`hostpkg.debian_root`), checked, swapped in, marked."""
        t0 = time.monotonic()
        new = self.suite_dir / "root.partial"
        shutil.rmtree(new, ignore_errors=True)
        print(f"Building the {self.suite} root of the current engine in {self.root} "
              f"({', '.join(PACKAGES)}; about a minute)...", flush=True)
        tool = hostpkg.debian_root(self.suite, PACKAGES, new, self.suite_dir / "bootstrap.log", _host_arch(),
                                   error=CurrentEngineError)
        versions = self._prepare_root(new)
        old = self.suite_dir / "root.old"
        if self.root.exists():
            self.root.rename(old)
        new.rename(self.root)
        shutil.rmtree(old, ignore_errors=True)
        seconds = round(time.monotonic() - t0, 1)
        self.marker.write_text(json.dumps({"recipe": self.recipe(), "suite": self.suite, "mirror": hostpkg.MIRROR,
                                           "tool": tool, "packages": versions, "seconds": seconds}, indent=1) + "\n")
        print(f"  {self.suite} root ready in {seconds:.0f} s ({tool}): docker.io {versions['docker.io']}, "
              f"buildx {versions['docker-buildx']}, compose {versions['docker-compose']}", flush=True)

    @staticmethod
    def _prepare_root(new: Path) -> dict[str, str]:
        """Mount points for the start script, no package cache; returns the installed versions."""
        versions = dpkg_versions((new / "var/lib/dpkg/status").read_text(), PACKAGES)
        missing = sorted(set(PACKAGES) - set(versions))
        if missing:
            raise CurrentEngineError(f"the Debian root lacks {', '.join(missing)}")
        for d in MOUNT_POINTS:
            (new / d).mkdir(parents=True, exist_ok=True)
        for p in new.glob("var/cache/apt/archives/*.deb"):
            p.unlink()
        return versions

    # ----------------------------------------------------------------------- CLI and plugins

    def cli_dir(self) -> Path:
        """A folder with a ``docker`` command that runs the root's own CLI (put it first on PATH)."""
        bin_dir = self.suite_dir / "bin"
        self._write_wrapper(bin_dir / "docker", "/usr/bin/docker")
        return bin_dir

    def config_dir(self) -> Path:
        """A ``DOCKER_CONFIG`` folder whose ``cli-plugins/`` run the root's buildx and compose
        (found by the host's CLI too)."""
        cfg = self.suite_dir / "docker-config"
        for name in PLUGINS:
            self._write_wrapper(cfg / "cli-plugins" / name, f"/usr/libexec/docker/cli-plugins/{name}")
        if not (cfg / "config.json").exists():
            (cfg / "config.json").write_text("{}\n")
        return cfg

    def _write_wrapper(self, path: Path, binary: str) -> None:
        """A shell script that runs the root's ``binary`` with the root's own dynamic loader and
        libraries: the root's glibc may be newer than the host's (sid's is)."""
        libdir = self.root / "usr/lib" / f"{os.uname().machine}-linux-gnu"
        loader = next(iter(sorted(libdir.glob("ld-linux*.so.*"))), None)
        if loader is None:
            raise CurrentEngineError(f"no dynamic loader in {libdir}: rebuild the root")
        words = " ".join(shlex.quote(str(w)) for w in (loader, "--library-path", libdir, f"{self.root}{binary}"))
        text = f'#!/bin/sh\n# {binary} of the current engine\'s root (dockercourse.currentengine).\nexec {words} "$@"\n'
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            path.chmod(0o755)

    def env(self) -> dict[str, str]:
        """Variables that point ``docker`` (CLI and SDK) at this engine: merge into os.environ."""
        return {
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_CONFIG": str(self.config_dir()),
            "PATH": f"{self.cli_dir()}{os.pathsep}{os.environ.get('PATH', os.defpath)}",
        }

    def exports(self) -> str:
        """The ``export`` lines a user pastes into a shell."""
        return "\n".join(f"export {k}={v}" for k, v in self.env().items() if k != "PATH") + \
            f"\nexport PATH={self.cli_dir()}:$PATH"

    def client(self, timeout: float = 120):
        import docker

        return docker.DockerClient(base_url=f"unix://{self.socket}", timeout=timeout)

    # ----------------------------------------------------------------------- lifecycle

    def answers(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            with contextlib.closing(self.client(timeout=5)) as c:
                return bool(c.ping())
        except Exception:
            return False

    def processes(self) -> list[int]:
        """Every process of this engine (dockerd, containerd, shims, proxies, containers),
        found through the mount namespace recorded at start, even when dockerd was killed."""
        try:
            ns = json.loads(self.pid_file.read_text())["mntns"]
        except (OSError, ValueError, KeyError):
            return []
        return namespace_processes(ns, self.root)

    def running(self) -> bool:
        return bool(self.processes()) and self.answers()

    def start(self, timeout: float = START_TIMEOUT) -> str:
        """Start the engine unless it answers already; returns ``"running"`` or ``"started"``.
        What a killed earlier run left (processes, socket, pid files, bridge) is cleared first."""
        if os.geteuid() != 0:
            raise CurrentEngineError("the current engine needs root (mount namespace, bridge)")
        with self._lock(self.state.name):
            return self._start(timeout)

    def _start(self, timeout: float) -> str:
        procs = self.processes()
        if procs:
            if any(_comm(p) == "dockerd" for p in procs) and wait_until(self.answers, timeout=10):
                return "running"
            print(f"  current engine ({self.store.name}) left by an earlier run does not answer: restarting it",
                  flush=True)
        self._stop(STOP_TIMEOUT, quiet=True)
        self.ensure_root()
        self._prepare_state()
        self._set_forwarding(True)
        proc = self._launch()
        ns = wait_until(lambda: proc.poll() is None and _mnt_ns(proc.pid) not in (None, _mnt_ns(os.getpid()))
                        and _mnt_ns(proc.pid), timeout=10, interval=0.02)
        if ns:
            self.pid_file.write_text(json.dumps({"pid": proc.pid, "mntns": ns}) + "\n")
        if not ns or not wait_until(lambda: proc.poll() is not None or self.answers(), timeout=timeout) \
                or proc.poll() is not None:
            code = proc.poll()
            self.stop(quiet=True)
            what = f"exited with code {code}" if code is not None else f"did not answer within {timeout:.0f} s"
            raise CurrentEngineError(f"current dockerd ({self.store.name}) {what}; last lines of {self.log_path}:\n"
                                     + engine.file_tail(self.log_path))
        self._started = True
        return "started"

    @contextlib.contextmanager
    def _lock(self, name: str):
        """One process at a time starts, stops or builds (parallel test sessions share the lane)."""
        self.suite_dir.mkdir(parents=True, exist_ok=True)
        with open(self.suite_dir / f".{name}.lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            yield

    def _prepare_state(self) -> None:
        """Fresh runtime folder (stale sockets and pid files of a killed run go), kept data."""
        shutil.rmtree(self.state / "run", ignore_errors=True)
        # The network store goes too: a dockerd that finds its old default "bridge" network there,
        # with default-address-pools set, deletes the interface named docker0 — the host engine's
        # (moby's configureNetworking, "Clear stale bridge network").
        shutil.rmtree(self.state / "docker" / "network", ignore_errors=True)
        for d in ("run", "docker", "containerd", "etc"):
            (self.state / d).mkdir(parents=True, exist_ok=True)
        (self.state / "etc" / "daemon.json").write_text(json.dumps(daemon_config(self.store), indent=1) + "\n")

    def _launch(self) -> subprocess.Popen:
        script = resources.files("dockercourse.data").joinpath(SCRIPT)
        with resources.as_file(script) as path, open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                ["unshare", "-m", "--propagation", "private", "sh", str(path), str(self.root), str(self.state),
                 self.store.bridge, self.store.cidr],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        return self._proc

    def stop(self, timeout: float = STOP_TIMEOUT, quiet: bool = False) -> list[str]:
        """Kill the containers, stop dockerd, then containerd and anything left in the
        namespace, and delete the bridge: no process, mount or bridge is left.
        Returns what was done (empty when nothing ran)."""
        with self._lock(self.state.name):
            return self._stop(timeout, quiet)

    def _stop(self, timeout: float, quiet: bool) -> list[str]:
        done = []
        procs = self.processes()
        if procs:
            self._kill_containers()
            dockerd = [p for p in procs if _comm(p) == "dockerd"]
            _signal_all(dockerd, signal.SIGTERM)
            wait_until(lambda: not any(_alive(p) for p in dockerd), timeout=timeout)
            for sig in (signal.SIGTERM, signal.SIGKILL):
                left = self.processes()
                _signal_all(left, sig)
                if wait_until(lambda: not self.processes(), timeout=5):
                    break
            done.append(f"{len(procs)} processes stopped")
        if self._proc is not None:
            self._proc.poll()  # reap our own child
        self.pid_file.unlink(missing_ok=True)
        if self._delete_bridge():
            done.append(f"bridge {self.store.bridge} deleted")
        self._set_forwarding(False)
        shutil.rmtree(self.state / "run", ignore_errors=True)
        if done and not quiet:
            print(f"  current engine ({self.store.name}): {', '.join(done)}", flush=True)
        return done

    def forward_rules(self) -> list[list[str]]:
        """The host's ``iptables`` FORWARD rules for this store's networks. With ``iptables: false``
        this engine writes none itself, and the host engine's FORWARD policy is DROP while bridged
        traffic goes through iptables (br_netfilter): without them, two containers on one of its
        networks (Compose's) cannot reach each other."""
        return [["FORWARD", flag, net, "-m", "comment", "--comment", FORWARD_COMMENT, "-j", "ACCEPT"]
                for net in self.store.networks for flag in ("-s", "-d")]

    def forwarding_present(self) -> bool:
        """Whether any of this store's FORWARD rules is on the host."""
        exe = shutil.which("iptables")
        return exe is not None and any(_run([exe, "-w", "-C", *r]).returncode == 0 for r in self.forward_rules())

    def _set_forwarding(self, on: bool) -> None:
        exe = shutil.which("iptables")
        if exe is None:
            return  # no iptables: no host engine filtering the bridges either
        for rule in self.forward_rules():
            present = _run([exe, "-w", "-C", *rule]).returncode == 0
            if on and not present:
                proc = _run([exe, "-w", "-I", *rule])
                if proc.returncode != 0:
                    raise CurrentEngineError(f"iptables -I {' '.join(rule)} failed: {proc.stderr.strip()}")
            elif not on:
                for _ in range(16):  # every copy (two starts that raced between -C and -I insert two)
                    if not present or _run([exe, "-w", "-D", *rule]).returncode != 0:
                        break
                    present = _run([exe, "-w", "-C", *rule]).returncode == 0

    def _kill_containers(self) -> None:
        """SIGKILL the running containers: dockerd's shutdown would give each its stop timeout
        (10 s), and a test lane has nothing to save."""
        if not self.answers():
            return
        with contextlib.closing(self.client(timeout=10)) as c:
            for ctr in c.api.containers(quiet=True):
                with contextlib.suppress(Exception):  # exited meanwhile
                    c.api.kill(ctr["Id"])

    def _delete_bridge(self) -> bool:
        if not Path(f"/sys/class/net/{self.store.bridge}").exists():
            return False
        ip = shutil.which("ip")
        cmd = [ip] if ip else ["chroot", str(self.root), "ip"]
        proc = _run([*cmd, "link", "delete", self.store.bridge])
        if proc.returncode != 0:
            raise CurrentEngineError(f"could not delete bridge {self.store.bridge}: {proc.stderr.strip()}")
        return True

    # ----------------------------------------------------------------------- base image

    def ensure_base_image(self) -> str:
        """Make the host engine's ``python:3.13-slim`` (stand-in or official) available here,
        same labels. Returns ``"present"``, ``"loaded"`` (from the cached archive) or ``"copied"``.
        The ``docker save`` archive is cached per host image id, so a new data root costs a load."""
        import docker

        try:
            host_img = engine.client().images.get(engine.BASE_IMAGE)
        except (engine.DockerUnavailable, docker.errors.ImageNotFound):
            host_img = None
        c = self.client(timeout=600)
        with contextlib.closing(c):
            try:
                mine = c.images.get(engine.BASE_IMAGE)
            except docker.errors.ImageNotFound:
                mine = None
            if mine is not None and (host_img is None or same_image(mine.attrs, host_img.attrs)):
                return "present"
            archive, done = self._base_archive(host_img), "loaded"
            if not archive.exists():
                self._save(host_img, archive)
                done = "copied"
            with open(archive, "rb") as f:
                c.images.load(f)
        return done

    def _base_archive(self, host_img) -> Path:
        cache = self.base / "images"
        if host_img is not None:
            return cache / f"python-3.13-slim-{host_img.id.split(':')[-1][:16]}.tar"
        found = sorted(cache.glob("python-3.13-slim-*.tar"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise CurrentEngineError(f"{engine.BASE_IMAGE} is on neither engine: run python -m dockercourse offline")
        return found[-1]

    @staticmethod
    def _save(host_img, archive: Path) -> None:
        archive.parent.mkdir(parents=True, exist_ok=True)
        for old in archive.parent.glob("python-3.13-slim-*.tar"):
            old.unlink()
        partial = archive.with_suffix(".partial")
        with open(partial, "wb") as f:
            for chunk in host_img.save(named=engine.BASE_IMAGE):
                f.write(chunk)
        partial.rename(archive)

    # ----------------------------------------------------------------------- describing

    def describe(self):
        """:func:`engine.describe` for this engine (its client, its CLI and plugins)."""
        with contextlib.closing(self.client()) as c:
            return engine.describe(client_=c, env={**os.environ, **self.env()})


def same_image(a: dict, b: dict) -> bool:
    """Pure: two engines' attributes of one image (ids differ between image stores)."""
    def key(attrs: dict):
        return attrs.get("Created"), (attrs.get("Config") or {}).get("Labels") or {}

    return key(a) == key(b)
