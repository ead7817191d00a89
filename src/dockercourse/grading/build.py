"""The build: one ``docker build`` per state of a submission's files.

:func:`ensure_image` stages a :class:`~.snapshot.Snapshot` into a clean context,
builds it with the classic builder (its "Step N/M" and "Using cache" lines are what
the cache check reads) and caches the outcome under the snapshot's hash in
``state_dir()/grading/<submission>.json``; the image carries the same hash as a
label. A failed build is remembered for a while instead of being retried by every
check, and leaves no untagged steps behind.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from .. import engine
from . import dockerfile
from .snapshot import MAX_CONTEXT_MB, SUB_LABEL, Snapshot, image_repo, submission_id
from .timing import span

BASE_IMAGE = engine.BASE_IMAGE
BUILD_TIMEOUT_S = 300
#: A failed build is reused (not retried) by the following checks for this long.
FAILED_BUILD_TTL_S = 1800
#: Set (to "1") inside a grading sandbox, whose engine is thrown away with it.
SANDBOX_ENV = "DOCKERCOURSE_SANDBOX"
BUILD_LIMITS = ["--memory", "1g", "--cpu-period", "100000", "--cpu-quota", "100000"]


#: Set (to "1") inside a grading sandbox whose only network interface is ``lo`` (offline base).
OFFLINE_SANDBOX_ENV = "DOCKERCOURSE_SANDBOX_OFFLINE"


def in_sandbox() -> bool:
    return os.environ.get(SANDBOX_ENV) == "1"


def build_network_none(standin: bool) -> bool:
    """Whether the grader's builds run with ``--network none``: with the offline stand-in base
    (nothing to download), except in a sandbox that has no network at all. There the student's
    own ``docker build`` cell (default network) must find the grader's layers in the cache, and
    BuildKit keys a ``RUN`` step on its network mode: with ``--network none`` here, the
    notebook would run ``pip install`` again."""
    return standin and os.environ.get(OFFLINE_SANDBOX_ENV) != "1"


def docker_cli() -> str:
    """The docker client to run (the sandbox picks one that can use BuildKit)."""
    return os.environ.get("DOCKERCOURSE_DOCKER") or "docker"


def _docker_env() -> dict[str, str]:
    # The classic builder prints "Step N/M" and "Using cache", which the cache check reads
    # (BuildKit's plain progress says "CACHED", read too). In a grading sandbox, BuildKit:
    # a rootless engine commits classic-builder steps with a naive diff (~1 s a step).
    return dict(os.environ, DOCKER_BUILDKIT="1" if in_sandbox() else "0", DOCKER_CLI_HINTS="false")


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
    frontend: str = ""       # the ``# syntax=`` frontend the built-in one replaced


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
                 timeout: float = BUILD_TIMEOUT_S, dockerfile: Path | None = None,
                 output: str | None = None) -> tuple[int, str, float]:
    """``docker build`` (classic builder; BuildKit in a grading sandbox); returns
    (exit code, output, seconds). ``output`` (BuildKit only) exports the result instead of
    making an image (``type=tar,dest=…``): no tag, no labels."""
    if in_sandbox():  # the engine has no cgroups and is thrown away afterwards
        cmd = [docker_cli(), "build", "--progress=plain"] + (["--output", output] if output else ["-t", tag])
    else:
        cmd = [docker_cli(), "build", "--force-rm", "--rm", *BUILD_LIMITS, "-t", tag]
    if output:
        labels = {}
    if network_none and build_network_none(True):
        cmd += ["--network", "none"]
    if dockerfile is not None:
        cmd += ["-f", str(dockerfile)]
    for k, v in labels.items():
        cmd += ["--label", f"{k}={v}"]
    cmd.append(str(context))
    t0 = time.monotonic()
    try:
        with span("build " + (tag.rsplit("-", 1)[-1].split(":")[0] if tag else "export")):
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


def stage_context(snap: Snapshot, dest: Path) -> str:
    """Stage ``snap`` into ``dest`` for a build, its Dockerfile without a ``# syntax=``
    directive (the frontend image it names is on Docker Hub; the engine's built-in frontend
    builds it the same, offline too). Returns the frontend removed ("" when none)."""
    snap.stage(dest)
    path = dest / "Dockerfile"
    if not path.is_file():
        return ""
    text, frontend = dockerfile.without_syntax_directive(path.read_bytes().decode("utf-8", "surrogateescape"))
    if frontend:
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
    return frontend or ""


def syntax_hint(frontend: str) -> str:
    """The 💡 line shown when :func:`stage_context` removed a ``# syntax=`` directive."""
    return (f"La ligne « # syntax={frontend} » demande à Docker de télécharger ce frontend depuis Docker Hub, "
            "ce que la correction ne fait pas (elle tourne hors ligne) : votre Dockerfile a été construit avec "
            "le frontend Dockerfile intégré au moteur de correction, qui comprend la même syntaxe. "
            "Vous pouvez garder cette ligne.")


def base_images(text: str) -> list[str]:
    """The external images the ``FROM`` lines of ``text`` resolve to (ARG defaults applied)."""
    return [s.image for s in dockerfile.stages(text) if s.parent is None and s.image.lower() != "scratch"]


def _build_failure_reason(snap: Snapshot, log: str) -> str:
    if "Dockerfile" not in snap.files:
        return "il n'y a pas de fichier Dockerfile dans le dossier du TP (exécutez la cellule %%writefile Dockerfile)."
    froms = base_images(snap.text("Dockerfile") or "")
    froms = [f for f in froms if f != BASE_IMAGE] + [f for f in froms if f == BASE_IMAGE]
    if froms and re.search(r"pull access denied|failed to resolve source metadata|manifest unknown|not found: "
                           r"manifest|no such host|dial tcp|lookup .* on|repository does not exist|"
                           r"failed to do request", log, re.I):
        return (f"l'image de base « {froms[0]} » est introuvable : elle n'est pas sur ce démon Docker et ne peut "
                f"pas être téléchargée (pas de registre joignable, ou ce tag n'existe pas). "
                f"Partez de FROM {BASE_IMAGE}, l'image prévue pour le TP.")
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


def ensure_image(project: str | Path, client=None, timeout: float = BUILD_TIMEOUT_S,
                 snapshot: Snapshot | None = None) -> Build:
    """Build the submission once per state of its files; later calls reuse it."""
    project = Path(project).resolve()
    client = client or engine.client()
    sub = submission_id(project)
    snap = snapshot or Snapshot.of(project)
    base_id, standin = _base_info(client)
    if not base_id:
        return Build(False, reason=f"l'image de base {BASE_IMAGE} est absente de ce démon Docker "
                                   "(make lab / make test la préparent).")
    key = snap.hash(base_id)
    cache = _cache_path(sub)
    with _locked(cache):
        state = {}
        if cache.exists():
            try:
                state = json.loads(cache.read_text())
            except ValueError:
                state = {}
        if state.get("key") == key:
            b = Build(**{k: state[k] for k in ("ok", "image", "tag", "log", "seconds", "reason")},
                      frontend=state.get("frontend", ""), cached=True)
            fresh = time.time() - state.get("time", 0) < FAILED_BUILD_TTL_S
            if (b.ok and _image_exists(client, b.image)) or (not b.ok and fresh):
                return b
        if "Dockerfile" not in snap.files:
            b = Build(False, reason=_build_failure_reason(snap, ""))
        elif snap.oversize:
            b = Build(False, reason=f"le dossier app/ et le Dockerfile pèsent plus de {MAX_CONTEXT_MB} Mo (ou "
                                    "comptent trop de fichiers) : ne gardez dans app/ que le code.")
        else:
            tag = f"{image_repo(sub)}:{key}"
            with tempfile.TemporaryDirectory(prefix="dockercourse-tp-ctx-") as tmp:
                frontend = stage_context(snap, Path(tmp))
                code, log, secs = docker_build(Path(tmp), tag, engine.labels(**{
                    "role": "tp-submission", "tp.submission": sub, "tp.files": key}), standin, timeout)
            if code == 0:
                img = client.images.get(tag)
                b = Build(True, image=img.id, tag=tag, log=log, seconds=round(secs, 2), frontend=frontend)
            else:
                b = Build(False, tag=tag, log=log, seconds=round(secs, 2), frontend=frontend,
                          reason=_build_failure_reason(snap, log))
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

