"""The containers a check starts: limits, labels, readiness, cleanup.

Every container is named from the submission id and the check, labelled, limited
(when the engine can: a rootless engine on cgroup v1 cannot, and the grading sandbox
limits the whole tree instead) and removed in ``finally`` blocks. :class:`AppRun` is
the submission's app running once as a service, shared by the checks that need it
answering: whether it answers is decided once, and early when it listens on the
wrong address or port.
"""

from __future__ import annotations

import contextlib
import time
import urllib.error
import urllib.request
from pathlib import Path

from .. import engine
from ..waiting import wait_until  # noqa: F401 (this module's name for it, kept)
from .build import _cache_path, _remove_image
from .snapshot import APP_PORT, SUB_LABEL, container_name, student_names, submission_id
from .timing import span

READY_TIMEOUT_S = 15.0
#: Limits of every container a check starts (applied when the engine has cgroups).
CONTAINER_LIMITS = {"mem_limit": "256m", "pids_limit": 128, "nano_cpus": 1_000_000_000}
#: Per-process limits that hold even without cgroups (rootless on cgroup v1).
ULIMITS = {"nproc": 128, "nofile": 1024}
#: The OOM killer takes a check's container before anything else of the grader's.
OOM_SCORE_ADJ = 1000


#: Which of the engine's ``docker info`` flags each per-container limit needs.
LIMIT_NEEDS = {"mem_limit": ("MemoryLimit",), "pids_limit": ("PidsLimit",),
               "nano_cpus": ("CpuCfsQuota", "CpuCfsPeriod")}

_INFO: dict[str, dict] = {}


def container_limits(info: dict) -> dict:
    """Pure: the part of :data:`CONTAINER_LIMITS` that an engine whose ``docker info`` is
    ``info`` can apply. None when its cgroup driver is ``none`` (rootless on cgroup v1,
    or on v2 without delegated controllers); else each limit whose flags are all true —
    asking for one it cannot apply makes every container start fail (« NanoCPUs can not
    be set… »)."""
    if (info.get("CgroupDriver") or "none") == "none":
        return {}
    return {k: v for k, v in CONTAINER_LIMITS.items() if all(info.get(f) is True for f in LIMIT_NEEDS[k])}


def _engine_info(client) -> dict:
    key = str(client.api.base_url)
    if key not in _INFO:
        try:
            _INFO[key] = client.info()
        except Exception:
            return {}
    return _INFO[key]


def engine_has_cgroups(client) -> bool:
    """False for an engine that cannot apply cgroup limits (rootless Docker on cgroup v1)."""
    return (_engine_info(client).get("CgroupDriver") or "none") != "none"


def limits(client) -> dict:
    """Keyword arguments for ``containers.run``: the cgroup limits the engine says it can
    apply (:func:`container_limits`), and rlimits always (a fork bomb stays within ``nproc``)."""
    import docker

    out: dict = {"ulimits": [docker.types.Ulimit(name=k, soft=v, hard=v) for k, v in ULIMITS.items()],
                 "oom_score_adj": OOM_SCORE_ADJ}
    out.update(container_limits(_engine_info(client)))
    return out


def engine_fault(client, image: str | None = None) -> str:
    """``''`` when the engine starts a container of the base image with the checks'
    limits and labels; else why not, in French. A check that failed while the engine
    cannot do that failed because of the grader, not of the submission."""
    try:
        code, out = run_once(client, image or engine.BASE_IMAGE, "moteur", "sante", ["true"], timeout=60)
    except Exception as err:
        return f"le moteur Docker du correcteur ne démarre pas de conteneur ({type(err).__name__} : {str(err)[:300]})"
    if code != 0:
        return (f"le moteur Docker du correcteur ne fait pas tourner un conteneur de l'image de base "
                f"(« true » a rendu le code {code} : {out.strip()[-200:] or 'aucune sortie'})")
    return ""


def remove_container(client, name: str, sub: str) -> None:
    """Remove the container ``name`` only if it belongs to this submission."""
    import docker

    try:
        ctr = client.containers.get(name)
    except docker.errors.NotFound:
        return
    if (ctr.labels or {}).get(SUB_LABEL) == sub or name.startswith(engine.name("tp", sub)):
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            ctr.remove(force=True, v=True)


def cleanup(project: str | Path, images: bool = False, client=None, forget: bool = False) -> dict[str, int]:
    """Remove this submission's containers (and images + build cache if ``images``;
    ``forget`` also drops its results ledger — tests use it for their temp folders)."""
    client = client or engine.client()
    sub = submission_id(project)
    counts = {"containers": 0, "images": 0}
    for ctr in client.containers.list(all=True, filters={"label": f"{SUB_LABEL}={sub}"}):
        with contextlib.suppress(Exception):
            ctr.remove(force=True, v=True)
            counts["containers"] += 1
    with contextlib.suppress(Exception):
        client.containers.get(student_names(project)["CONTENEUR"]).remove(force=True, v=True)
        counts["containers"] += 1
    if images:
        for img in client.images.list(filters={"label": f"{SUB_LABEL}={sub}"}):
            _remove_image(client, img.id)
            counts["images"] += 1
        with contextlib.suppress(Exception):
            client.images.remove(student_names(project)["IMAGE"], force=True)
            counts["images"] += 1
        cache = _cache_path(sub)
        cache.unlink(missing_ok=True)
        cache.with_suffix(".lock").unlink(missing_ok=True)
    if forget:
        _cache_path(sub).with_suffix(".results.jsonl").unlink(missing_ok=True)
    return counts


def run_once(client, image: str, sub: str, check: str, command, timeout: float = 60,
             files: dict[str, bytes] | None = None, **kwargs) -> tuple[int, str]:
    """Run ``command`` in a fresh container of ``image`` (no network, limits, labels),
    wait at most ``timeout`` s; returns ``(exit code, output)`` — code 124 on timeout.
    ``files`` (``{absolute path: bytes}``) are copied in before it starts, as ``docker cp``
    would (no image to build). The container is always removed."""
    with span(f"run {check}"):
        return _run_once(client, image, sub, check, command, timeout, files, **kwargs)


def files_tar(files: dict[str, bytes]) -> bytes:
    """Pure: a tar of ``files`` (``{path: bytes}``, read-only for everyone), for ``put_archive("/")``."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _run_once(client, image: str, sub: str, check: str, command, timeout: float, files, **kwargs) -> tuple[int, str]:
    name = container_name(sub, check)
    remove_container(client, name, sub)
    ctr = None
    try:
        ctr = client.containers.create(
            image, command, name=name, network_mode="none",
            labels=engine.labels(role="tp-check", **{"tp.submission": sub, "tp.check": check}),
            security_opt=["no-new-privileges"], **{**limits(client), **kwargs})
        if files:
            ctr.put_archive("/", files_tar(files))
        ctr.start()
        try:
            code = ctr.wait(timeout=timeout).get("StatusCode", 1)
        except Exception:  # requests' ReadTimeout: the command did not finish
            return 124, ctr.logs(tail=20).decode(errors="replace")
        return code, ctr.logs().decode(errors="replace")
    finally:
        if ctr is not None:
            with contextlib.suppress(Exception):
                ctr.remove(force=True, v=True)


@contextlib.contextmanager
def service(client, image: str, sub: str, check: str, env: dict | None = None, health_fast: bool = False):
    """Run the image detached with its port published on 127.0.0.1 (random host
    port), limits and labels; always removed afterwards."""
    name = container_name(sub, check)
    remove_container(client, name, sub)
    kwargs = dict(detach=True, name=name, environment=env or {},
                  labels=engine.labels(role="tp-check", **{"tp.submission": sub, "tp.check": check}),
                  ports={f"{APP_PORT}/tcp": ("127.0.0.1", None)},
                  security_opt=["no-new-privileges"], **limits(client))
    if health_fast:
        # keep the student's HEALTHCHECK command, only probe every second
        kwargs["healthcheck"] = {"interval": 1_000_000_000, "start_period": 1_000_000_000}
    ctr = None
    try:
        with span(f"start {check}"):
            ctr = client.containers.run(image, **kwargs)
        yield ctr
    finally:
        if ctr is not None:
            with span(f"remove {check}"), contextlib.suppress(Exception):
                ctr.remove(force=True, v=True)


def endpoints(ctr) -> list[str]:
    ctr.reload()
    urls = []
    ports = (ctr.attrs.get("NetworkSettings") or {}).get("Ports") or {}
    for b in ports.get(f"{APP_PORT}/tcp") or []:
        if b.get("HostPort"):
            urls.append(f"http://127.0.0.1:{b['HostPort']}")
    ip = (ctr.attrs.get("NetworkSettings") or {}).get("IPAddress")
    if ip:  # the grader itself may run in a container next to the daemon
        urls.append(f"http://{ip}:{APP_PORT}")
    return urls


def http_get(url: str, timeout: float = 3.0) -> tuple[int, str]:
    """(status, body) — status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read(65536).decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read(65536).decode(errors="replace")
    except (urllib.error.URLError, OSError, ValueError):
        return 0, ""


def parse_listening(proc_net_tcp: str) -> set[tuple[str, int]]:
    """Pure: ``{(address, port)}`` of the LISTEN sockets in ``/proc/net/tcp{,6}`` text.
    Addresses are ``"127.0.0.1"``, ``"0.0.0.0"``, ``"::"``, ``"::1"`` or the raw hex."""
    out = set()
    for line in proc_net_tcp.splitlines():
        parts = line.split()
        if len(parts) < 4 or parts[3] != "0A" or ":" not in parts[1]:
            continue
        addr, port = parts[1].rsplit(":", 1)
        name = {"0100007F": "127.0.0.1", "00000000": "0.0.0.0", "00000000000000000000000000000000": "::",
                "00000000000000000000000001000000": "::1"}.get(addr, addr)
        with contextlib.suppress(ValueError):
            out.add((name, int(port, 16)))
    return out


def _listening(ctr) -> set[tuple[str, int]] | None:
    """The container's LISTEN sockets (None when they cannot be read). In a grading sandbox the
    engine is local: its init process's ``/proc/<pid>/net/tcp`` is read directly (a `docker exec`
    would start a process in the container, and wait as long as a fork bomb there makes it);
    elsewhere (Docker Desktop's VM…) through `docker exec`."""
    from .build import in_sandbox

    pid = (ctr.attrs.get("State") or {}).get("Pid") or 0
    if in_sandbox() and pid > 0:
        text = ""
        for name in ("tcp", "tcp6"):
            with contextlib.suppress(OSError):
                text += Path(f"/proc/{pid}/net/{name}").read_text()
        return parse_listening(text) if text else None
    try:
        code, out = ctr.exec_run(["cat", "/proc/net/tcp", "/proc/net/tcp6"], demux=False)
    except Exception:
        return None
    if code not in (0, 1) or out is None:
        return None
    return parse_listening(out.decode(errors="replace"))


def wrong_listen(sockets: set[tuple[str, int]] | None) -> str:
    """Why an app that listens cannot be reached from outside its container ('' if it can,
    or if we cannot tell)."""
    if not sockets:
        return ""
    ports = {p for _, p in sockets}
    if APP_PORT in ports:
        addrs = {a for a, p in sockets if p == APP_PORT}
        if addrs <= {"127.0.0.1", "::1"}:
            return "loopback"
        return ""
    return "port"


def wait_ready(ctr, timeout: float = READY_TIMEOUT_S, path: str = "/sante") -> tuple[str | None, float, str]:
    """Wait until the app answers through the published port.
    Returns (base url or None, seconds, why not: exited, loopback, port, timeout).
    An app that listens only on 127.0.0.1, or on another port, is decided after a short
    grace period instead of the whole timeout."""
    t0 = time.monotonic()
    state = {"why": "timeout", "wrong_since": None, "looked": 0.0}

    def answered():
        ctr.reload()
        if ctr.status in ("exited", "dead"):
            state["why"] = "exited"
            return "stop"
        for base in endpoints(ctr):
            status, _ = http_get(base + path, timeout=1.5)
            if status:
                return base
        now = time.monotonic()
        if now - t0 > 1.0 and now - state["looked"] >= 1.0:  # a `docker exec` each time: once a second
            state["looked"] = now
            wrong = wrong_listen(_listening(ctr))
            if wrong:
                state["wrong_since"] = state["wrong_since"] or time.monotonic()
                if time.monotonic() - state["wrong_since"] > 2.0:
                    state["why"] = wrong
                    return "stop"
            else:
                state["wrong_since"] = None
        return None

    value, secs = wait_until(answered, timeout, interval=0.25)
    if value and value != "stop":
        return value, secs, ""
    return None, secs, state["why"]


#: Python's header of a traceback, and what the feedback says instead.
TRACEBACK = "Traceback (most recent call last):"
TRACE_FR = "Erreur Python (appels, le plus récent en dernier) :"


def in_french(text: str) -> str:
    """Pure: what a student's program printed, quoted in the feedback, with Python's traceback header
    in French (the frames and the error line stay: they name the student's file and line). A
    traceback in the feedback would otherwise read like the grader's own crash."""
    return text.replace(TRACEBACK, TRACE_FR)


def logs_tail(ctr, n: int = 8) -> str:
    try:
        text = ctr.logs(tail=n).decode(errors="replace").strip()
    except Exception:
        return "(journaux indisponibles)"
    return in_french(text) or "(aucune sortie)"


def not_ready_reason(ctr, why: str, timeout: float = READY_TIMEOUT_S) -> str:
    """French explanation of why the app never answered (for a Result's ``fatal``)."""
    if why == "exited":
        with contextlib.suppress(Exception):
            ctr.reload()
        code = (ctr.attrs.get("State") or {}).get("ExitCode")
        return (f"Le conteneur s'est arrêté tout de suite (code de sortie {code}). Ses derniers journaux :\n"
                + logs_tail(ctr) + "\nÀ faire : lancez l'image à la main (docker run) et corrigez l'erreur.")
    if why == "loopback":
        return (f"L'application écoute sur 127.0.0.1:{APP_PORT} à l'intérieur du conteneur : personne d'autre "
                "que le conteneur lui-même ne peut la joindre, même avec -p.\n"
                f"À faire : écoutez sur 0.0.0.0:{APP_PORT} (gunicorn --bind 0.0.0.0:{APP_PORT}).")
    if why == "port":
        return (f"L'application écoute, mais pas sur le port {APP_PORT} attendu (celui que -p publie).\n"
                f"À faire : gunicorn --bind 0.0.0.0:{APP_PORT} et EXPOSE {APP_PORT}.")
    return (f"L'application ne répond pas sur le port {APP_PORT} du conteneur après "
            f"{timeout:.0f} s (port publié sur l'hôte). Derniers journaux :\n" + logs_tail(ctr)
            + f"\nÀ faire : écoutez sur 0.0.0.0:{APP_PORT} (gunicorn --bind 0.0.0.0:{APP_PORT}), "
            "pas sur 127.0.0.1, et vérifiez que l'import de app.py se termine.")
