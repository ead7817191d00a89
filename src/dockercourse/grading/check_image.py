"""The checks that read the student's image: it builds from the official slim base, starts in
exec form with gunicorn, runs as a user, documents its port, stays small, and rebuilds from the
cache when only the code changes."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import tempfile
from pathlib import Path

from .. import engine
from . import dockerfile
from .build import (
    BASE_IMAGE,
    _base_info,
    _remove_image,
    base_images,
    docker_build,
    stage_context,
    syntax_hint,
)
from .containers import (
    run_once,
)
from .context import Context, _needs_image, check
from .protocol import Result
from .snapshot import APP_DIR, APP_PORT, image_repo

#: Image size allowed over the base image (MB, 10**6 bytes).
SIZE_BUDGET_MB = 30


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
