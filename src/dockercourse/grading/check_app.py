"""The checks that run the student's app once, as a service (:class:`~.context.AppRun`): its
HEALTHCHECK makes it « healthy », it answers on the published port, reads ``MESSAGE``, logs each
request on stdout, and stops on ``docker stop`` (last: it stops the shared app)."""

from __future__ import annotations

import json
import re
import secrets
import time

from . import timing
from .containers import (
    http_get,
    in_french,
    logs_tail,
    wait_until,
)
from .context import MESSAGE_VAR, Context, _answering_app, _needs_image, check
from .protocol import Result
from .snapshot import APP_PORT

STOP_LIMIT_S = 3.0


#: How long ``docker stop`` waits before SIGKILL in the stop check (Docker's default).
STOP_GRACE_S = 10


HEALTHY_TIMEOUT_S = 15.0

#: How long the logs check waits for the request's access line in ``docker logs``. gunicorn writes
#: it after the response has gone out, then the engine copies it from the container's pipe into its
#: log: on a loaded machine that takes seconds (CI, stop 23: more than 2 s for the reference solution,
#: in a class server session beside a whole term's grading). Only an app without an access log waits
#: all of it, once.
LOG_WAIT_S = 10.0


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
        last = in_french(logs[-1].get("Output", "").strip())[-300:] if logs else logs_tail(ctr, 4)
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

    _, secs = wait_until(logged, LOG_WAIT_S, interval=0.2)
    res.timings["access_line_s"] = round(secs, 2)
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
