"""Notebook 03, § 3.2–3.3: images — a small image built live (the classic
builder's ``Step N/M`` output parsed into steps and cache hits), its history
and which instructions add filesystem layers, the build cache and what makes an
image ID, and the build context with and without ``.dockerignore``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import engine
from .common import (
    CONTENT_HASH,
    IMAGE,
    OUI_NON,
    UNIT,
    decimal,
    french_number,
    human_size,
    needs_docker,
    short_id,
    verdict,
    write_context,
)


@dataclass
class BuildStep:
    number: int
    total: int
    instruction: str
    cached: bool = False


@dataclass
class BuildResult:
    tag: str
    image_id: str | None
    seconds: float
    steps: list[BuildStep] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    @property
    def cache_hits(self) -> int:
        return sum(s.cached for s in self.steps)


def parse_build_log(lines: list[str]) -> tuple[list[BuildStep], str | None]:
    """Pure: the classic builder's output (``Step N/M : INSTR``, `` ---> Using cache``,
    ``Successfully built <id>``) → steps with their cache hit, and the short image ID."""
    steps: list[BuildStep] = []
    image_id = None
    for line in lines:
        s = line.strip()
        if s.startswith("Step ") and " : " in s:
            head, instr = s.split(" : ", 1)
            n, total = head[len("Step "):].split("/")
            steps.append(BuildStep(int(n), int(total), instr))
        elif s == "---> Using cache" and steps:
            steps[-1].cached = True
        elif s.startswith("Successfully built "):
            image_id = s.split()[-1]
    return steps, image_id


def build(context: str | Path, tag: str = IMAGE, nocache: bool = False) -> BuildResult:
    """Build with the SDK (legacy builder here: BuildKit's output differs and is not parsed)."""
    c = engine.client()
    t0 = time.monotonic()
    lines: list[str] = []
    errors = []
    for chunk in c.api.build(path=str(context), tag=tag, rm=True, forcerm=True, nocache=nocache, decode=True):
        if "stream" in chunk:
            lines.extend(chunk["stream"].splitlines())
        if "error" in chunk:
            errors.append(chunk["error"].strip())
    seconds = time.monotonic() - t0
    if errors:
        raise RuntimeError("La construction de l'image a échoué : " + " / ".join(errors))
    steps, _short = parse_build_log(lines)
    image_id = c.images.get(tag).id
    return BuildResult(tag, image_id, seconds, steps, lines)


def steps_frame(result: BuildResult):
    import pandas as pd

    return pd.DataFrame([{"étape": f"{s.number}/{s.total}", "instruction": s.instruction,
                          "cache utilisé": OUI_NON[s.cached]} for s in result.steps])


@needs_docker
def build_and_show(context: str | Path, label: str, tag: str = IMAGE, nocache: bool = False):
    """Build, print one line (duration, cache hits, ID) and return the result."""
    result = build(context, tag, nocache=nocache)
    print(f"{label} : {decimal(result.seconds)} s, {result.cache_hits}/{len(result.steps)} étapes "
          f"reprises du cache, ID {short_id(result.image_id)}")
    return result


@needs_docker
def show_steps(result: BuildResult | None):
    engine.client()
    return steps_frame(result)




def clean_created_by(created_by: str) -> str:
    """Pure: ``/bin/sh -c #(nop)  CMD ["python"]`` → ``CMD ["python"]``;
    ``/bin/sh -c pip install …`` → ``RUN pip install …``."""
    s = CONTENT_HASH.sub(lambda m: f"{m.group(1)}:{m.group(2)[:12]}…", (created_by or "").strip())
    if s.startswith("/bin/sh -c #(nop)"):
        return s[len("/bin/sh -c #(nop)"):].strip()
    if s.startswith("/bin/sh -c "):
        return "RUN " + s[len("/bin/sh -c "):].strip()
    return s or "(image de base importée)"


def history_rows(history: list[dict]) -> list[dict]:
    """Pure: ``docker history`` JSON (newest first) → rows oldest first."""
    rows = []
    for h in reversed(history):
        rows.append({"couche": short_id(h.get("Id")) if h.get("Id", "<missing>") != "<missing>" else "<missing>",
                     "instruction": clean_created_by(h.get("CreatedBy", "")),
                     "octets": int(h.get("Size") or 0),
                     "commentaire": h.get("Comment") or ""})
    return rows


@needs_docker
def history_frame(image: str = IMAGE, width: int = 200, last: int | None = None):
    """``docker history`` as a DataFrame (oldest layer first, or only the ``last``
    ones), sizes readable; the exact sizes are in ``.attrs["octets"]``."""
    import pandas as pd

    rows = history_rows(engine.client().api.history(image))
    df = pd.DataFrame(rows)
    df["instruction"] = [i if len(i) <= width else i[:width - 1] + "…" for i in df["instruction"]]
    df["taille"] = [human_size(n) for n in df["octets"]]
    out = df[["instruction", "taille", "commentaire"]].copy()
    out.attrs["octets"] = [int(n) for n in df["octets"]]  # for the chart (exact sizes vary between machines)
    if last is not None:
        out = out.tail(last)
        out.attrs["octets"] = [int(n) for n in df["octets"]][-last:]
    return out


@needs_docker
def plot_layer_sizes(df):
    """Horizontal bar chart of the layer sizes (MB), annotated."""
    import matplotlib.pyplot as plt
    import pandas as pd

    engine.client()
    sizes = pd.Series(df.attrs["octets"], dtype=float) / 2**20
    labels = [i if len(i) <= 45 else i[:44] + "…" for i in df["instruction"]]
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(df) + 1.2))
    ax.barh(range(len(df)), sizes, color="#2496ed")
    ax.set_yticks(range(len(df)), labels)
    ax.invert_yaxis()
    for y, (mb, text) in enumerate(zip(sizes, df["taille"], strict=True)):
        ax.text(mb, y, " " + french_number(text), va="center", fontsize=9)
    ax.set_xlabel("taille de la couche (Mio)")
    ax.set_title("Couches de l'image, de la plus ancienne (en haut) à la plus récente")
    ax.set_xlim(0, max(sizes.max() * 1.25, 1))
    fig.tight_layout()
    plt.show()


def build_table(results: list[tuple[str, BuildResult]]):
    import pandas as pd

    return pd.DataFrame([{"construction": label, "durée": f"{decimal(r.seconds, 2)} s",
                          "étapes en cache": f"{r.cache_hits}/{len(r.steps)}", "ID": short_id(r.image_id)}
                         for label, r in results])


@needs_docker
def compare_builds(named: dict[str, BuildResult | None]):
    """Print the verdicts about IDs (deterministic) and return the timing table."""
    engine.client()
    first, again, changed = list(named.values())[:3]  # first build, identical rebuild, app.py changed
    verdict("même contenu → même ID", first.image_id == again.image_id,
            f"{short_id(first.image_id)} puis {short_id(again.image_id)}")
    verdict("un fichier change → nouvel ID", first.image_id != changed.image_id, "l'ID n'a pas changé")
    everything = again.cache_hits == len(again.steps) - 1  # FROM is never "Using cache"
    verdict("la reconstruction identique a repris du cache toutes les étapes après FROM", everything,
            f"{again.cache_hits}/{len(again.steps)} étapes reprises du cache")
    print(f"après la modification, étapes reprises du cache : {changed.cache_hits}/{len(changed.steps)}")
    return build_table(list(named.items()))




# --------------------------------------------------------------------------- layers, explained once

#: Instructions whose step writes files, hence a new filesystem layer. WORKDIR
#: writes one too (an empty folder, a few bytes) when the folder does not exist yet.
FILE_INSTRUCTIONS = ("RUN", "COPY", "ADD", "WORKDIR")
#: Instructions that only change the image's configuration (its JSON), never its files.
CONFIG_INSTRUCTIONS = ("ENV", "CMD", "ENTRYPOINT", "EXPOSE", "USER", "LABEL", "HEALTHCHECK", "ARG",
                       "STOPSIGNAL", "SHELL", "VOLUME", "ONBUILD", "MAINTAINER")
FILES = "couche de fichiers"
CONFIG = "configuration seulement"
EMPTY = "couche vide (0 o) ou aucune"


def layer_kind(instruction: str, size: int | None = None) -> str:
    """Pure: what a ``docker history`` row adds. Configuration instructions never
    add files; a row with bytes is a layer, whatever wrote it (``# debian.sh …``,
    the command that made an official base image, included); a ``RUN``/``COPY``/
    ``ADD`` that wrote 0 bytes may be an empty layer or no layer at all (Docker
    20.10's classic builder and BuildKit skip it: :func:`resolve_kinds` decides with
    the real layer count). ``WORKDIR`` creates its folder: a layer of 0 bytes."""
    word = instruction.split(" ", 1)[0].upper()
    if word in CONFIG_INSTRUCTIONS and not size:
        return CONFIG
    if instruction.startswith("(image de base"):
        return FILES
    if word == "WORKDIR" and not size:
        return f"{FILES} (un dossier vide)"
    if size == 0:
        return EMPTY if word in FILE_INSTRUCTIONS else CONFIG
    return FILES


def resolve_kinds(kinds: list[str], real_layers: int) -> list[str]:
    """Pure: decide the rows :func:`layer_kind` left open (0-byte file instructions)
    with the image's real layer count (``RootFS.Layers``): all of them are layers, or
    none is; otherwise they stay open."""
    sure = sum(k.startswith(FILES) for k in kinds)
    open_ = sum(k == EMPTY for k in kinds)
    if open_ and real_layers == sure + open_:
        return [f"{FILES} (vide ou presque : 0 o)" if k == EMPTY else k for k in kinds]
    if open_ and real_layers == sure:
        return ["aucune couche (l'étape n'a rien écrit)" if k == EMPTY else k for k in kinds]
    return kinds


def plural(n: int, word: str) -> str:
    """Pure: ``1 couche``, ``4 couches``."""
    return f"{n} {word}" + ("s" if n > 1 else "")


@needs_docker
def layers_explained(image: str = IMAGE):
    """History rows with what each adds, checked against the image's real filesystem
    layers (``RootFS.Layers``); the base image's rows and layers are counted apart
    (the offline stand-in has one layer and one row, python:3.13-slim has several)."""
    import pandas as pd

    c = engine.client()
    df = history_frame(image)
    sizes = df.attrs["octets"]
    real = len(c.images.get(image).attrs["RootFS"]["Layers"])
    base_rows = len(c.api.history(engine.BASE_IMAGE))
    base_img = c.images.get(engine.BASE_IMAGE)
    base_layers = len(base_img.attrs["RootFS"]["Layers"])
    kinds = resolve_kinds([layer_kind(i, n) for i, n in zip(df["instruction"], sizes, strict=True)], real)
    origin = ["image de base" if i < base_rows else "notre Dockerfile" for i in range(len(df))]
    out = pd.DataFrame({"instruction": df["instruction"], "taille": df["taille"], "origine": origin,
                        "ce qu'elle ajoute": kinds})
    counted = sum(k.startswith(FILES) for k in kinds)
    print(f"lignes de l'historique : {len(df)}, dont {base_rows} de l'image de base ; couches de fichiers de "
          f"l'image (RootFS.Layers) : {real}, dont {base_layers} de l'image de base")
    share = sum(sizes[:base_rows]) / max(sum(sizes), 1)
    print(f"l'image de base ({engine.BASE_IMAGE}) : {plural(base_layers, 'couche')}, "
          f"{share:.0%} de la taille de l'image".replace("%", " %"))
    verdict("chaque ligne qui a écrit des fichiers correspond à une couche de RootFS.Layers, les instructions de "
            "configuration n'en ajoutent aucune", counted == real,
            f"{counted} lignes de couches dans l'historique pour {real} couches")
    return out


# --------------------------------------------------------------------------- same content, same ID?


@needs_docker
def nocache_rebuild(context: str | Path, first: BuildResult | None, tag: str = IMAGE + ":sans-cache"):
    """``docker build --no-cache``: the same Dockerfile and files, every step run
    again. Prints the verdicts and returns the comparison table."""
    import pandas as pd

    c = engine.client()
    print(f"$ docker build --no-cache -t {tag} .")
    again = build(context, tag, nocache=True)
    a, b = c.images.get(first.image_id), c.images.get(again.image_id)
    verdict("même Dockerfile, mêmes fichiers, mais un nouvel ID", again.image_id != first.image_id,
            "l'ID est resté le même")
    verdict("la date de création (« created ») de la configuration a changé", a.attrs["Created"] != b.attrs["Created"],
            "même date de création")
    verdict("aucune étape reprise du cache", again.cache_hits == 0,
            f"{again.cache_hits} étapes reprises du cache malgré --no-cache")
    base = len(c.images.get(engine.BASE_IMAGE).attrs["RootFS"]["Layers"])
    shared = a.attrs["RootFS"]["Layers"][:base] == b.attrs["RootFS"]["Layers"][:base]
    verdict(f"les couches de l'image de base ({base}) restent partagées (mêmes empreintes)", shared,
            "les couches de base diffèrent")
    return pd.DataFrame([
        {"construction": "première construction", "ID": short_id(first.image_id), "created": a.attrs["Created"][:19]},
        {"construction": "--no-cache", "ID": short_id(again.image_id), "created": b.attrs["Created"][:19]},
    ])


# --------------------------------------------------------------------------- à vous : the order of a Dockerfile


@needs_docker
def cache_after_code_change(dockerfile: str, unit: str = UNIT, tag: str | None = None):
    """Build ``dockerfile`` (with an app.py and a requirements.txt), change app.py,
    build again: which steps came from the cache? Prints whether the slow
    ``pip install`` step was reused; returns the steps of the second build."""
    tag = tag or engine.name(unit, "a-vous")
    import uuid

    run = uuid.uuid4().hex[:8]  # a new app.py each time: a re-run of the cell does not hit an old cache
    files = {"Dockerfile": dockerfile, "requirements.txt": "flask==3.1.3\n",
             "app.py": f"VERSION = 1  # {run}\n"}
    ctx = write_context(files, unit=unit, sub="a-vous")
    build(ctx, tag)
    write_context({**files, "app.py": f"VERSION = 2  # {run}\n"}, unit=unit, sub="a-vous")
    second = build(ctx, tag)
    pip = [s for s in second.steps if "pip install" in s.instruction]
    print(f"2e construction, après modification de app.py : {second.cache_hits}/{len(second.steps)} étapes reprises "
          "du cache")
    print(f"l'étape « pip install » a été reprise du cache : {OUI_NON[bool(pip) and all(s.cached for s in pip)]}")
    return steps_frame(second)


# --------------------------------------------------------------------------- the build context and .dockerignore


def ignore_patterns(text: str) -> list[str]:
    """Pure: the patterns of a ``.dockerignore`` (comments and blank lines dropped)."""
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def context_members(path: str | Path, patterns: list[str] | None = None) -> tuple[int, list[str]]:
    """(bytes, files) of the build context the client sends to the daemon: the tar
    archive the Docker SDK makes, excluding ``patterns`` (Docker's rules: each pattern
    is anchored at the context's root and matched with Go's ``filepath.Match``, plus
    ``**`` for any number of folders — not .gitignore's rules)."""
    import tarfile

    import docker

    with docker.utils.tar(str(path), exclude=patterns or []) as f:
        size = len(f.read())
        f.seek(0)
        files = sorted(m.name for m in tarfile.open(fileobj=f) if m.isfile())
    return size, files


def context_size(path: str | Path, dockerignore: bool = True) -> tuple[int, int]:
    """(bytes, number of files) of the build context, honouring ``.dockerignore`` or not."""
    path = Path(path)
    ignore_file = path / ".dockerignore"
    patterns = ignore_patterns(ignore_file.read_text()) if dockerignore and ignore_file.exists() else []
    size, files = context_members(path, patterns)
    return size, len(files)


def size_verdict(n: int) -> str:
    """Pure: a size as a verdict that does not depend on the machine."""
    if n > 10 * 2**20:
        return "plus de 10 Mio"
    if n < 2**20:
        return "moins de 1 Mio"
    return "entre 1 et 10 Mio"


DOCKERIGNORE = """\
# ce qui n'a rien à faire dans l'image
.git
.venv
**/__pycache__
**/*.pyc
donnees/
"""
#: The same file written as for .gitignore: ``__pycache__`` and ``*.pyc`` only match at the root.
DOCKERIGNORE_ROOT_ONLY = DOCKERIGNORE.replace("**/", "")


@needs_docker
def dockerignore_demo(unit: str = UNIT):
    """A project folder with the usual clutter (a 20 Mio data file, a fake
    virtualenv, .git, Python caches at the root and in a sub-folder), its build
    context measured without a ``.dockerignore``, with patterns anchored at the
    root only (``__pycache__``), and with ``**/__pycache__``. Returns the table;
    prints the verdicts."""
    import os
    import shutil

    import pandas as pd

    engine.client()
    files = {"Dockerfile": "FROM python:3.13-slim\nCOPY . /app\n", "app.py": "print('bonjour')\n",
             "paquet/outils.py": "OUTIL = 1\n",
             "donnees/mesures.csv": os.urandom(20 * 2**20),
             ".venv/lib/site.py": os.urandom(3 * 2**20),
             ".git/objects/pack.bin": os.urandom(2 * 2**20),
             "__pycache__/app.cpython-313.pyc": os.urandom(10_000),
             "paquet/__pycache__/outils.cpython-313.pyc": os.urandom(10_000)}
    ctx = write_context(files, unit=unit, sub="contexte")
    rows = []
    for label, text in (("sans .dockerignore", None), ("__pycache__ et *.pyc (à la racine)", DOCKERIGNORE_ROOT_ONLY),
                        ("**/__pycache__ et **/*.pyc", DOCKERIGNORE)):
        if text is not None:
            (ctx / ".dockerignore").write_text(text)
        size, sent = context_members(ctx, ignore_patterns(text) if text else [])
        caches = [f for f in sent if "__pycache__" in f]
        rows.append({"contexte": label, "fichiers envoyés": len(sent), "taille": human_size(size),
                     "caches Python envoyés": ", ".join(caches) or "aucun", "octets": size, "files": sent})
    shutil.rmtree(ctx, ignore_errors=True)  # 25 Mio of random bytes: not kept in the state folder
    verdict("sans .dockerignore, le contexte envoyé au démon pèse plus de 10 Mio", rows[0]["octets"] > 10 * 2**20,
            f"il pèse {rows[0]['taille']}")
    verdict("un motif sans **/ ne vaut qu'à la racine du contexte : __pycache__ exclut le cache de la racine, "
            "pas celui de paquet/", rows[1]["caches Python envoyés"] == "paquet/__pycache__/outils.cpython-313.pyc",
            f"caches envoyés : {rows[1]['caches Python envoyés']}")
    expected = [".dockerignore", "Dockerfile", "app.py", "paquet/outils.py"]
    verdict("avec **/, il pèse moins de 1 Mio : seuls Dockerfile, app.py, paquet/outils.py et .dockerignore partent",
            rows[2]["octets"] < 2**20 and rows[2]["files"] == expected,
            f"il pèse {rows[2]['taille']}, fichiers : {', '.join(rows[2]['files'])}")
    df = pd.DataFrame(rows).drop(columns=["octets", "files"])
    df.attrs["octets"] = [r["octets"] for r in rows]
    return df
