"""The probe: the student's Flask app imported and called with Flask's test client, where only the
student's own packages are installed, never the grader's.

In a grading sandbox :func:`probe_in_image` runs ``probe_app.py`` in a container: of the **probe
base** (the base image with the TP's pins, built once on the grading host and loaded with the base
image, :func:`ensure_probe_base`) with the app's files copied in, when ``requirements.txt`` asks for
exactly those pins (:func:`pins_only`); else of an image built from the base and the student's
requirements. :func:`probe_app` runs it in a separate interpreter on this machine (the student's
own session, :func:`~.kernel.essayer_app`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

from .. import engine
from .build import (
    BASE_IMAGE,
    _base_info,
    _remove_image,
    docker_build,
)
from .containers import (
    run_once,
)
from .context import MESSAGE_VAR, REQUIRED_PINS, Context
from .protocol import PROBE_MARK
from .snapshot import APP_DIR, Snapshot, image_repo

PROBE_TIMEOUT_S = 10.0


def probe_script() -> str:
    return resources.files("dockercourse.grading").joinpath("probe_app.py").read_text()


def _template(name: str) -> str:
    """A Dockerfile template shipped beside this module."""
    return resources.files("dockercourse.grading").joinpath(name).read_text()


def _parse_probe(output: str) -> dict:
    """The probe's answer: its line is the last :data:`~.protocol.PROBE_MARK` line of its output
    (what the student's code printed before it is not believed)."""
    for line in reversed(output.splitlines()):
        if line.startswith(PROBE_MARK):
            try:
                value = json.loads(line[len(PROBE_MARK):])
            except ValueError:
                break
            return value if isinstance(value, dict) else {"error": "exception", "detail": "sortie illisible"}
    return {"error": "exception", "detail": "l'interpréteur s'est arrêté sans réponse : "
            + (output.strip().splitlines() or ["(aucune sortie)"])[-1][:300]}


def probe_app(app_file: Path, marker: str = "", timeout: float = PROBE_TIMEOUT_S) -> dict:
    """Run the probe on the host in a separate interpreter (the student's own session:
    :func:`~.kernel.essayer_app`). The grader uses :func:`probe_in_image` instead."""
    import os

    with tempfile.TemporaryDirectory(prefix="dockercourse-probe-") as tmp:
        script = Path(tmp) / "probe_app.py"
        script.write_text(probe_script())
        env = {k: v for k, v in os.environ.items() if k != MESSAGE_VAR}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        proc = subprocess.Popen([sys.executable, "-I", "-B", str(script), str(app_file), marker], env=env,
                                cwd=tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_probe_limits)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            out = None
        finally:  # whatever the app started at import goes with it
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, 9)
            proc.wait()
        return {"error": "timeout"} if out is None else _parse_probe(out)


def _probe_limits() -> None:
    """In the probe's child: a fork bomb or a huge allocation at import stops there."""
    import resource

    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (2**31, 2**31))
    if os.geteuid() != 0:  # RLIMIT_NPROC counts every process of the user; root ignores it
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NPROC, (64, 64))


#: The image the probe runs in when the student's requirements are not exactly the TP's pins
#: (``probe.Dockerfile``, a template: ``{base}``, ``{req}``).
PROBE_DOCKERFILE = "probe.Dockerfile"


#: The probe base: the base image with the TP's pins installed, built once on the grading host
#: (:func:`ensure_probe_base`) and loaded into every sandbox beside the base image.
PROBE_BASE_REPO = engine.name("grading", "sonde")


#: The probe base (``probe-base.Dockerfile``, a template: ``{base}``, ``{pins}``).
PROBE_BASE_DOCKERFILE = "probe-base.Dockerfile"


_PIN_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([A-Za-z0-9.+!]+)$")


def pins_only(text: str) -> bool:
    """Pure: whether a requirements file asks for exactly the TP's pins (:data:`REQUIRED_PINS`),
    one ``name==version`` line each, comments and blank lines aside. pip installs exactly the
    probe base's packages from such a file; anything else (another version, an extra package,
    an option, extras, markers) is installed for real."""
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = _PIN_LINE.match(line)
        if not m:
            return False
        found[re.sub(r"[-_.]+", "-", m.group(1).lower())] = m.group(2)
    return found == REQUIRED_PINS


def probe_base_tag(base_id: str) -> str:
    """Pure: the probe base's tag for a base image id (it changes with the base and the pins)."""
    import hashlib

    key = base_id + "|" + ",".join(f"{k}=={v}" for k, v in sorted(REQUIRED_PINS.items()))
    return f"{PROBE_BASE_REPO}:{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def ensure_probe_base(client) -> str:
    """The probe base on this engine (built once, a few seconds); returns its tag. The grading
    host builds it from the base image and the TP's pins only, nothing of a student's."""
    base_id, standin = _base_info(client)
    tag = probe_base_tag(base_id)
    with contextlib.suppress(Exception):
        client.images.get(tag)
        return tag
    pins = " ".join(f"{k}=={v}" for k, v in sorted(REQUIRED_PINS.items()))
    with tempfile.TemporaryDirectory(prefix="dockercourse-probe-base-") as tmp:
        (Path(tmp) / "Dockerfile").write_text(_template(PROBE_BASE_DOCKERFILE).format(base=BASE_IMAGE, pins=pins))
        code, log, _ = docker_build(Path(tmp), tag, engine.labels(role="grading-probe-base"), standin)
    if code != 0:
        raise RuntimeError("l'image de base de la sonde ne se construit pas : " + "\n".join(log.splitlines()[-3:]))
    return tag


def _probe_base(client) -> str | None:
    """The probe base's tag when this engine has it (a grading sandbox), else None."""
    base_id, _ = _base_info(client)
    tag = probe_base_tag(base_id)
    try:
        client.images.get(tag)
    except Exception:
        return None
    return tag


def probe_in_image(ctx: Context, marker: str) -> tuple[dict, str]:
    """Run the probe on the student's ``app/`` with the packages of their ``requirements.txt``
    (never the grader's): in the probe base when they are the TP's pins (its files copied into
    the container, no image built), else in an image built from the base and their requirements.
    No network, limits, an unprivileged uid. Returns ``(result, note)``. When the student's
    requirements do not install, the TP's pins are used instead and ``note`` says so."""
    client = ctx.client
    _, standin = _base_info(client)
    labels = engine.labels(role="tp-check", **{"tp.submission": ctx.sub})
    built = f"{image_repo(ctx.sub)}-sonde:app"
    app_files = {k: v for k, v in ctx.snapshot.files.items() if k.startswith(APP_DIR + "/")}
    probe_base = _probe_base(client)
    requirements = ctx.snapshot.text(f"{APP_DIR}/requirements.txt")
    note = ""
    pins_note = ("les dépendances de app/requirements.txt ne s'installent pas : l'application est essayée avec "
                 "celles du TP (" + ", ".join(f"{k}=={v}" for k, v in REQUIRED_PINS.items()) + ").")

    def build(req: str) -> tuple[int, str]:
        with tempfile.TemporaryDirectory(prefix="dockercourse-tp-probe-") as tmp:
            root = Path(tmp)
            Snapshot(app_files).stage(root)
            (root / APP_DIR).mkdir(exist_ok=True)
            (root / ".dockercourse-probe.py").write_text(probe_script())
            (root / ".dockercourse-pins.txt").write_text("".join(f"{k}=={v}\n" for k, v in REQUIRED_PINS.items()))
            (root / "probe.Dockerfile").write_text(_template(PROBE_DOCKERFILE).format(base=BASE_IMAGE, req=req))
            code, log, _ = docker_build(root, built, labels, standin, dockerfile=root / "probe.Dockerfile")
        return code, log

    image, files = built, None
    try:
        if requirements is not None and probe_base is not None and pins_only(requirements):
            image = probe_base
        else:
            code = 1
            if requirements is not None:
                code, log = build(f"{APP_DIR}/requirements.txt")
            if code != 0:
                note = pins_note
                if probe_base is not None:
                    image = probe_base
                else:
                    code, log = build(".dockercourse-pins.txt")
                    if code != 0:
                        return {"error": "exception", "detail": "l'image de test ne se construit pas : "
                                + "\n".join(log.strip().splitlines()[-3:])}, note
        if image == probe_base:
            files = {f"/{k}": v for k, v in app_files.items()} | {"/probe_app.py": probe_script().encode()}
        import docker  # noqa: F811 (the SDK is imported only when a check runs)

        code, out = run_once(client, image, ctx.sub, "sonde", ["python", "-I", "-B", "/probe_app.py", "/app/app.py",
                                                                marker], timeout=PROBE_TIMEOUT_S, files=files,
                             user="65534:65534", entrypoint="", working_dir="/app",
                             ulimits=[docker.types.Ulimit(name="nproc", soft=64, hard=64)])
        if code == 124:
            return {"error": "timeout"}, note
        return _parse_probe(out), note
    finally:
        _remove_image(client, built)
