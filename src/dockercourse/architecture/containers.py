"""Notebook 04, § 4.1–4.2: containers — the writable layer (``docker diff``,
overlay2's upper directory, ``docker commit``), the lifecycle observed live,
and the writable layer against a volume."""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

from .. import engine
from .common import APP04, COMMIT_IMAGE, OUI_NON, UNIT04, needs_docker, short_id, unit_labels, verdict
from .images import BuildResult
from .processes import host_point_of_view

UNIT = UNIT04
IMAGE = APP04
VOLUME = engine.name(UNIT04, "data")

DIFF_KINDS = {0: "C (modifié)", 1: "A (ajouté)", 2: "D (supprimé)"}


def diff_rows(changes: list[dict]) -> list[dict]:
    """Pure: ``docker diff`` JSON → rows sorted by path."""
    return sorted(({"type": DIFF_KINDS.get(ch["Kind"], str(ch["Kind"])), "chemin": ch["Path"]}
                   for ch in changes or []), key=lambda r: r["chemin"])


def upper_dir_entries(upper: str | Path) -> list[dict]:
    """What overlay2's upper (writable) directory holds: files, folders, and
    *whiteouts* (character devices 0/0 that hide a deleted file of a lower layer)."""
    out = []
    upper = Path(upper)
    for root, dirs, files in os.walk(upper):
        for n in sorted(dirs) + sorted(files):
            p = Path(root) / n
            st = p.lstat()
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                kind = "whiteout (fichier supprimé)"
            elif stat.S_ISDIR(st.st_mode):
                kind = "dossier"
            else:
                kind = "fichier"
            out.append({"chemin": "/" + str(p.relative_to(upper)), "nature": kind})
    return sorted(out, key=lambda r: r["chemin"])


@needs_docker
def start_rw_container(image: str = IMAGE):
    """A long-running container (``sleep infinity``) to play with."""
    c = engine.client()
    name = engine.name(UNIT, "rw")
    engine.remove_container(name)
    return c.containers.run(image, ["sleep", "infinity"], name=name, detach=True,
                            network_mode="none", labels=unit_labels(UNIT, purpose="writable-layer"))


@needs_docker
def exec_show(container, command: str) -> None:
    """``docker exec <name> sh -c <command>``, printed like the CLI."""
    engine.client()
    print("$ " + shlex.join(["docker", "exec", container.name, "sh", "-c", command]))
    code, out = container.exec_run(["sh", "-c", command])
    text = out.decode(errors="replace")
    if text:
        print(text, end="" if text.endswith("\n") else "\n")
    if code != 0:
        print(f"(code de sortie {code})")


@needs_docker
def diff_frame(container):
    import pandas as pd

    engine.client()
    return pd.DataFrame(diff_rows(container.diff()), columns=["type", "chemin"])


def root_overlay(mountinfo: str) -> dict | None:
    """Pure: the overlay mounted on ``/`` in a ``/proc/<pid>/mountinfo`` text →
    ``{"lower": [dirs], "upper": dir}``, or None when ``/`` is not an overlay."""
    for line in mountinfo.splitlines():
        left, sep, right = line.partition(" - ")
        fields, more = left.split(), right.split()
        if not sep or len(fields) < 5 or fields[4] != "/" or len(more) < 3 or more[0] != "overlay":
            continue
        opts = dict(o.partition("=")[::2] for o in more[2].split(","))
        return {"lower": [d for d in opts.get("lowerdir", "").split(":") if d], "upper": opts.get("upperdir")}
    return None


def short_layer_path(path: str) -> str:
    """Pure: the end of a layer folder's path, enough to recognise it: overlay2's
    ``…/<12 first hex digits>…/diff``, the containerd snapshotter's ``…/snapshots/<n>/fs``."""
    p = Path(path)
    if p.parent.parent.name == "snapshots":
        return f"…/snapshots/{p.parent.name}/{p.name}"
    return f"…/{p.parent.name[:12]}…/{p.name}"


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


@needs_docker
def writable_layer(container):
    """The container's overlay directories, seen from the Docker host: overlay2's ``GraphDriver``
    in ``docker inspect`` (classic image store), or the overlay mounted on the container's ``/``
    (``/proc/<pid>/mountinfo``; the containerd image store's snapshotter puts nothing in
    ``GraphDriver``). The upper directory is read through the root of the container's
    ``containerd-shim``, which sees the engine's files even when the engine runs in a mount
    namespace of its own."""
    import pandas as pd

    engine.client()
    container.reload()
    gd = container.attrs.get("GraphDriver") or {}
    data = gd.get("Data") or {}
    pid = int(container.attrs.get("State", {}).get("Pid") or 0)
    local = host_point_of_view() == "local" and pid > 0
    print(f"Pilote de stockage : {gd.get('Name')}")
    if data.get("UpperDir"):
        lowers = [p for p in (data.get("LowerDir") or "").split(":") if p]
        upper, source = data["UpperDir"], "docker inspect, GraphDriver"
    else:
        try:
            mount = root_overlay(Path(f"/proc/{pid}/mountinfo").read_text()) if local else None
        except OSError:
            mount = None
        if mount is None:
            print("docker inspect ne donne pas les dossiers de ce pilote (GraphDriver vide : magasin d'images "
                  "containerd), et ce notebook ne voit pas les montages des conteneurs (Docker Desktop, notebook "
                  "dans un conteneur) : rien de plus à montrer ici.")
            return None
        lowers, upper = mount["lower"], mount["upper"]
        source = "le montage overlay de / du conteneur, /proc/<pid>/mountinfo"
    print(f"Couches en lecture seule (lowerdir) : {len(lowers)} dossiers superposés ({source})")
    shim = _ppid(pid) if local else None
    seen = Path(f"/proc/{shim}/root{upper}") if shim else None
    try:
        readable = seen is not None and seen.is_dir()
    except OSError:
        readable = False
    if not readable:
        print("La couche en écriture est un dossier de l'hôte Docker, invisible d'ici (Docker Desktop, notebook "
              "dans un conteneur, ou sans être root sur l'hôte).")
        return None
    print(f"Couche en écriture (upperdir) : un simple dossier de l'hôte, {short_layer_path(upper)}")
    return pd.DataFrame(upper_dir_entries(seen), columns=["chemin", "nature"])


@needs_docker
def image_unchanged(image: str, before: BuildResult | None) -> None:
    """Print and return whether the image still has the ID it had when built."""
    now = engine.client().images.get(image).id
    same = now == before.image_id
    verdict(f"l'image {image} a toujours le même ID ({short_id(before.image_id)})", same,
            f"son ID est maintenant {short_id(now)}")


@needs_docker
def run_once(image: str, command: str, unit: str = UNIT) -> None:
    """``docker run --rm <image> sh -c <command>``: the output, printed (the
    container is named and labelled for ``unit``, the notebook's own)."""
    c = engine.client()
    print("$ " + shlex.join(["docker", "run", "--rm", "--network", "none", image, "sh", "-c", command]))
    out = c.containers.run(image, ["sh", "-c", command], remove=True, network_mode="none",
                           name=engine.name(unit, "run-once"),
                           labels=unit_labels(unit, purpose="run-once")).decode(errors="replace")
    print(out, end="" if out.endswith("\n") else "\n")


@needs_docker
def commit(container, repository: str = COMMIT_IMAGE, tag: str = "v1", base: str = IMAGE):
    """``docker commit``: the writable layer becomes a new read-only layer on top
    of the image's. Prints the layer counts; returns the new image."""
    c = engine.client()
    # (the new image keeps the container's labels, dockercourse.unit included)
    img = container.commit(repository=repository, tag=tag, message="couche en écriture figée par docker commit")
    before = len(c.images.get(base).attrs["RootFS"]["Layers"])
    after = len(img.attrs["RootFS"]["Layers"])
    print(f"$ docker commit {container.name} {repository}:{tag}")
    print(f"couches de fichiers (RootFS) de {base} : {before} — de {repository}:{tag} : {after}")
    verdict("docker commit a ajouté exactement une couche", after == before + 1, f"{after - before} de plus")
    return img


@needs_docker
def remove_image(name: str) -> None:
    import docker

    c = engine.client()
    try:
        c.images.remove(name)
        print(f"$ docker rmi {name}")
    except docker.errors.ImageNotFound:
        pass


@needs_docker
def remove_container(container) -> None:
    """``docker rm -f``, through the package's one removal helper."""
    engine.client()
    engine.remove_container(container.name)
    print(f"$ docker rm -f {container.name}")


LIFECYCLE = [
    ("create", "docker create"),
    ("start", "docker start"),
    ("pause", "docker pause"),
    ("unpause", "docker unpause"),
    ("stop", "docker stop"),
    ("rm", "docker rm"),
]


@needs_docker
def lifecycle(image: str = IMAGE):
    """Drive one container through its lifecycle and read its state from the
    daemon after each command. Returns a DataFrame (command → observed state)."""
    import docker
    import pandas as pd

    c = engine.client()
    name = engine.name(UNIT, "lifecycle")
    engine.remove_container(name)
    rows = []
    ctr = None

    def observe(cmd: str) -> None:
        try:
            state = c.api.inspect_container(name)["State"]
            status, running, paused = state["Status"], state["Running"], state["Paused"]
            pid = state["Pid"]
        except docker.errors.NotFound:
            status, running, paused, pid = "(supprimé : introuvable)", False, False, 0
        full = f"{cmd} --name {name} --init --network none {image} sleep infinity" if cmd == "docker create" \
            else f"{cmd} {name}"
        rows.append({"commande": full,
                     "état (State.Status)": status, "Running": OUI_NON[running], "Paused": OUI_NON[paused],
                     "processus sur l'hôte": OUI_NON[pid > 0]})

    try:
        for action, cmd in LIFECYCLE:
            if action == "create":
                ctr = c.containers.create(image, ["sleep", "infinity"], name=name, init=True,
                                          network_mode="none", labels=unit_labels(UNIT, purpose="lifecycle"))
            elif action == "start":
                ctr.start()
            elif action == "pause":
                ctr.pause()
            elif action == "unpause":
                ctr.unpause()
            elif action == "stop":
                ctr.stop(timeout=5)
            elif action == "rm":
                ctr.remove()
            observe(cmd)
    finally:
        engine.remove_container(name)
    return pd.DataFrame(rows)


@needs_docker
def volume_vs_writable_layer(image: str = IMAGE, unit: str = UNIT):
    """Write one file in a volume and one in the writable layer, remove the
    container, look again from a new container. Returns a DataFrame."""
    import docker
    import pandas as pd

    c = engine.client()
    VOLUME = engine.name(unit, "data")  # noqa: N806 (the module's default, for another unit)
    try:
        c.volumes.get(VOLUME).remove(force=True)
    except docker.errors.NotFound:
        pass
    vol = c.volumes.create(VOLUME, labels=unit_labels(unit, purpose="volume-demo"))
    mounts = {VOLUME: {"bind": "/donnees", "mode": "rw"}}
    first = engine.name(unit, "writer")
    second = engine.name(unit, "reader")
    for n in (first, second):
        engine.remove_container(n)
    write = "echo 'écrit par le 1er conteneur' > /donnees/volume.txt && echo 'idem' > /app/couche.txt"
    print("$ " + shlex.join(["docker", "run", "--name", first, "--network", "none", "-v", f"{VOLUME}:/donnees",
                             image, "sh", "-c", write]))
    ctr = c.containers.run(image, ["sh", "-c", write], name=first, volumes=mounts, detach=True,
                           network_mode="none", labels=unit_labels(unit, purpose="volume-demo"))
    ctr.wait(timeout=60)
    print(f"$ docker rm {first}")
    ctr.remove()
    check = ("for f in /donnees/volume.txt /app/couche.txt; do "
             "if [ -e $f ]; then echo \"$f:présent\"; else echo \"$f:absent\"; fi; done")
    print("$ " + shlex.join(["docker", "run", "--rm", "--name", second, "--network", "none", "-v",
                             f"{VOLUME}:/donnees", image, "sh", "-c", check]))
    out = c.containers.run(image, ["sh", "-c", check], name=second, volumes=mounts, remove=True,
                           network_mode="none", labels=unit_labels(unit, purpose="volume-demo")).decode()
    found = dict(line.split(":", 1) for line in out.split())
    where = {"/donnees/volume.txt": "dans le volume " + VOLUME, "/app/couche.txt": "dans la couche en écriture"}
    rows = [{"fichier": f, "écrit": where[f], "après suppression du conteneur": found.get(f, "?")}
            for f in where]
    vol.reload()
    return pd.DataFrame(rows)



# --------------------------------------------------------------------------- notebook 04's image

#: Notebook 03's Dockerfile, for the copies of the image that notebooks 04 and 05 build under their own names.
APP_DOCKERFILE = f"""\
FROM python:3.13-slim
LABEL dockercourse="1" dockercourse.unit="{UNIT04}"
WORKDIR /app
RUN pip install --no-cache-dir flask==3.1.3
COPY app.py test_app.py ./
CMD ["python", "app.py"]
"""


@needs_docker
def build_app(unit: str = UNIT04, tag: str = IMAGE, version: int = 1) -> BuildResult:
    """Notebook 03's application (the same ``app.py``, ``test_app.py`` and
    Dockerfile), built again under this notebook's name; ``version=2`` changes
    its message and tags it ``:v2``. Prints one line."""
    from .common import script, write_context
    from .images import build

    engine.client()
    app = script("bonjour_app.py")
    if version != 1:
        app = app.replace("Bonjour depuis un conteneur !", f"Bonjour depuis la version {version} !")
        tag = f"{tag}:v{version}"
    files = {"Dockerfile": APP_DOCKERFILE.replace(f'"{UNIT04}"', f'"{unit}"'),
             "app.py": app, "test_app.py": script("bonjour_test_app.py")}
    result = build(write_context(files, unit=unit), tag)
    print(f"Image {tag} construite : {len(result.steps)} étapes, ID {short_id(result.image_id)}")
    return result
