"""Notebook 04, § 4.4: registries — push and pull to the course's local
registry (:mod:`dockercourse.registry`), its HTTP API by hand, tags against
digests, and the image ID as the SHA-256 of the image's configuration."""

from __future__ import annotations

import hashlib
import json

from .. import engine, registry
from .common import OUI_NON, REPO, UNIT04, human_size, needs_docker, unit_labels
from .images import BuildResult

UNIT = UNIT04

def summarize_push(events: list[dict]) -> dict:
    """Pure: the push's JSON messages → ``{"layers": {id: last status}, "digest", "size", "error"}``."""
    layers: dict[str, str] = {}
    out = {"layers": layers, "digest": None, "size": None, "error": None}
    for ev in events:
        if "error" in ev:
            out["error"] = ev["error"]
        elif "aux" in ev and ev["aux"].get("Digest"):
            out["digest"] = ev["aux"]["Digest"]
            out["size"] = ev["aux"].get("Size")
        elif ev.get("id") and ev.get("status") and ev["status"] not in ("Pushing", "Preparing", "Waiting"):
            layers[ev["id"]] = ev["status"]
    return out


def summarize_pull(events: list[dict]) -> dict:
    """Pure: the pull's JSON messages → ``{"layers": {id: last status}, "digest", "status", "error"}``."""
    layers: dict[str, str] = {}
    out = {"layers": layers, "digest": None, "status": None, "error": None}
    for ev in events:
        status = ev.get("status", "")
        if "error" in ev:
            out["error"] = ev["error"]
        elif status.startswith("Digest: "):
            out["digest"] = status.split(": ", 1)[1]
        elif status.startswith("Status: "):
            out["status"] = status.split(": ", 1)[1]
        elif ev.get("id") and status and status not in ("Downloading", "Extracting", "Waiting",
                                                         "Verifying Checksum", "Pulling fs layer"):
            if not status.startswith("Pulling from"):
                layers[ev["id"]] = status
    return out


def count_statuses(layers: dict[str, str]) -> str:
    """Pure: ``{"a": "Pushed", "b": "Pushed"}`` → ``"Pushed × 2"``."""
    counts: dict[str, int] = {}
    for s in layers.values():
        counts[s] = counts.get(s, 0) + 1
    return ", ".join(f"{k} × {v}" for k, v in sorted(counts.items())) or "aucune couche"


_registry: registry.LocalRegistry | None = None


@needs_docker
def start_registry():
    """Start the course's local registry (loopback, temp folder); None (with a
    French sentence) when it cannot be installed or started."""
    global _registry
    engine.client()
    if _registry is not None:  # the cell was run again: one registry at a time
        _registry.stop()
        _registry = None
    try:
        reg = registry.LocalRegistry(UNIT).start()
    except registry.RegistryError as err:
        print(f"⚠️  Cellule non exécutée : {err}")
        return None
    _registry = reg
    if reg.container is None:
        print(f"Registre local démarré : le programme docker-registry écoute sur {reg.address} "
              "(boucle locale uniquement), ses données sont dans un dossier temporaire.")
    else:
        print(f"Registre local démarré dans un conteneur (image construite depuis le programme "
              f"docker-registry), publié sur {reg.address} de l'hôte Docker, données en mémoire (tmpfs).")
    return reg


@needs_docker
def push(reg, image: str, tag: str):
    """``docker tag`` + ``docker push`` to the local registry; prints a summary,
    returns the manifest digest."""
    c = engine.client()
    if reg is None:
        print("Pas de registre : rien à pousser.")
        return None
    target = reg.image(REPO)
    c.images.get(image).tag(target, tag)
    print(f"$ docker tag {image} {target}:{tag}")
    print(f"$ docker push {target}:{tag}")
    events = list(c.api.push(target, tag=tag, stream=True, decode=True))
    summary = summarize_push(events)
    if summary["error"]:
        raise RuntimeError(f"docker push a échoué : {summary['error']}")
    print(f"   couches : {count_statuses(summary['layers'])}")
    print(f"   {tag}: digest: {summary['digest']}")
    return summary["digest"]


@needs_docker
def registry_api(reg, *, show_manifest: bool = True):
    """The registry's HTTP API by hand: catalog, tags, manifest digests, and the
    manifest's config digest (= the local image ID)."""
    engine.client()
    if reg is None:
        print("Pas de registre : rien à interroger.")
        return None
    print(f"GET {reg.url}/v2/_catalog")
    print("   " + json.dumps({"repositories": reg.catalog()}))
    print(f"GET {reg.url}/v2/{REPO}/tags/list")
    tag_list = reg.tags(REPO)
    print("   " + json.dumps({"name": REPO, "tags": tag_list}))
    digests = {}
    for t in tag_list:
        digests[t] = reg.manifest_digest(REPO, t)
        print(f"HEAD {reg.url}/v2/{REPO}/manifests/{t} → Docker-Content-Digest: {digests[t]}")
    if show_manifest and tag_list:
        m = registry.manifest(reg.url, REPO, tag_list[0])
        print(f"GET {reg.url}/v2/{REPO}/manifests/{tag_list[0]} (extrait) :")
        print(f"   config.digest = {m['config']['digest']}")
        print(f"   {len(m['layers'])} couches compressées, tailles : "
              + ", ".join(registry_size(layer["size"]) for layer in m["layers"]))
    return digests


@needs_docker
def tag_verdicts(same_time: dict | None, later: dict | None = None) -> None:
    """What the digests say (they are sanitized in the notebook's outputs, so the
    comparisons are printed as sentences)."""
    engine.client()
    if not same_time:
        print("Pas de registre : rien à comparer.")
        return
    if not later:
        print(f"✔ 1.0 et latest désignent le même manifeste (même digest) : "
              f"{OUI_NON[same_time.get('1.0') == same_time.get('latest')]}")
    else:
        print(f"✔ latest a bougé (nouveau digest) : {OUI_NON[later.get('latest') != same_time.get('latest')]}")
        print(f"✔ 1.0 n'a pas bougé : {OUI_NON[later.get('1.0') == same_time.get('1.0')]}")


def registry_size(n: int) -> str:
    return human_size(n)


@needs_docker
def config_digest_is_image_id(reg, tag: str, built: BuildResult | None) -> None:
    """Download the image's config blob from the registry, hash it: the SHA-256
    of that JSON *is* the image ID."""
    engine.client()
    if reg is None or built is None:
        print("Pas de registre.")
        return
    image_id = built.image_id
    m = registry.manifest(reg.url, REPO, tag)
    cfg_digest = m["config"]["digest"]
    with registry._open(f"{reg.url}/v2/{REPO}/blobs/{cfg_digest}") as resp:
        blob = resp.read()
    computed = "sha256:" + hashlib.sha256(blob).hexdigest()
    keys = ", ".join(sorted(json.loads(blob))[:6])
    print(f"GET {reg.url}/v2/{REPO}/blobs/{cfg_digest} → le JSON de configuration de l'image ({keys}, …)")
    print(f"sha256 calculé ici   : {computed}")
    print(f"ID de l'image locale : {image_id}")
    ok = computed == cfg_digest == image_id
    print(f"✔ l'ID d'une image est l'empreinte SHA-256 de sa configuration : {OUI_NON[ok]}")


@needs_docker
def remove_local_names(built: BuildResult | None, keep: tuple[str, ...] = ()) -> None:
    """Untag every local name of ``image_id`` (so that the next pull really
    downloads it); images that are parents of others are kept, untagged."""
    import docker

    c = engine.client()
    image_id = built.image_id
    try:
        img = c.images.get(image_id)
    except docker.errors.ImageNotFound:
        return
    for t in img.tags:
        if t not in keep:
            print(f"$ docker rmi {t}")
            c.images.remove(t)
    try:
        c.images.remove(image_id)
    except docker.errors.APIError:
        pass  # still a parent of another image (kept untagged)


@needs_docker
def pull(reg, tag: str, built: BuildResult | None = None):
    """``docker pull`` from the local registry; prints a summary and whether the
    pulled image has the expected ID."""
    c = engine.client()
    if reg is None:
        print("Pas de registre : rien à tirer.")
        return None
    target = reg.image(REPO)
    print(f"$ docker pull {target}:{tag}")
    summary = summarize_pull(list(c.api.pull(target, tag=tag, stream=True, decode=True)))
    if summary["error"]:
        raise RuntimeError(f"docker pull a échoué : {summary['error']}")
    print(f"   couches : {count_statuses(summary['layers'])}")
    print(f"   Digest: {summary['digest']}")
    print(f"   {summary['status']}")
    img = c.images.get(f"{target}:{tag}")
    if built is not None:
        print(f"✔ l'image tirée a exactement l'ID de l'image construite : {OUI_NON[img.id == built.image_id]}")
    return img


@needs_docker
def pull_by_digest(reg, digest: str | None):
    """``docker pull name@sha256:...``: a digest names one exact content, forever."""
    c = engine.client()
    if reg is None or digest is None:
        print("Pas de registre : rien à tirer.")
        return None
    target = reg.image(REPO)
    print(f"$ docker pull {target}@{digest}")
    summary = summarize_pull(list(c.api.pull(f"{target}@{digest}", stream=True, decode=True)))
    if summary["error"]:
        raise RuntimeError(f"docker pull a échoué : {summary['error']}")
    print(f"   {summary['status']}")
    img = c.images.get(f"{target}@{digest}")
    print(f"   RepoDigests : {img.attrs.get('RepoDigests')}")


HUB_IMAGE = "hello-world:latest"


@needs_docker
def docker_hub_pull(image: str = HUB_IMAGE):
    """With Docker Hub reachable, pull a tiny public image (removed afterwards
    unless it was already there); otherwise one French sentence."""
    import docker

    c = engine.client()
    if not engine.docker_hub_reachable():
        print("Docker Hub n'est pas joignable depuis cette machine : la démonstration du pull depuis "
              "Docker Hub est sautée, le registre local ci-dessus a joué le même rôle.")
        return None
    try:
        c.images.get(image)
        existed = True
    except docker.errors.ImageNotFound:
        existed = False
    print(f"$ docker pull {image}")
    summary = summarize_pull(list(c.api.pull(image, stream=True, decode=True)))
    if summary["error"]:
        print(f"Le pull depuis Docker Hub a échoué : {summary['error']}")
        return None
    print(f"   Digest: {summary['digest']}\n   {summary['status']}")
    print(c.containers.run(image, remove=True, name=engine.name(UNIT, "hub"),
                           labels=unit_labels(UNIT, purpose="hub")).decode()[:300])
    if not existed:
        c.images.remove(image)
    return summary


@needs_docker
def stop_registry(reg) -> None:
    global _registry
    engine.client()
    if reg is None:
        return
    reg.stop()
    _registry = None
    print(f"Registre local arrêté, dossier temporaire supprimé : {OUI_NON[reg.tmpdir is None]}")
