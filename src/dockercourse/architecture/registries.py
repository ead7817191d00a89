"""Notebook 04, § 4.4: registries — push and pull to the course's local
registry (:mod:`dockercourse.registry`), its HTTP API by hand, tags against
digests, and the image ID as the SHA-256 of the image's configuration."""

from __future__ import annotations

import hashlib
import json
import re

from .. import engine, registry
from .common import REPO, UNIT04, containerd_store, human_size, needs_docker, unit_labels, verdict
from .images import BuildResult

UNIT = UNIT04

#: The push's last status line, ``<tag>: digest: sha256:… size: N`` (the only place the containerd image
#: store of Engine 26 gives the digest: it sends no ``aux`` message).
PUSHED_DIGEST = re.compile(r"^\S+: digest: (sha256:[0-9a-f]{64}) size: (\d+)$")


def summarize_push(events: list[dict]) -> dict:
    """Pure: the push's JSON messages → ``{"layers": {id: last status}, "digest", "size", "error"}``.
    The digest comes from the ``aux`` message (classic image store) or from the last status line."""
    layers: dict[str, str] = {}
    out = {"layers": layers, "digest": None, "size": None, "error": None}
    for ev in events:
        pushed = PUSHED_DIGEST.match(ev.get("status") or "")
        if "error" in ev:
            out["error"] = ev["error"]
        elif "aux" in ev and ev["aux"].get("Digest"):
            out["digest"] = ev["aux"]["Digest"]
            out["size"] = ev["aux"].get("Size")
        elif pushed and out["digest"] is None:
            out["digest"], out["size"] = pushed.group(1), int(pushed.group(2))
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
        inner = image_manifest_digest(m)
        if inner:  # an index (containerd image store, BuildKit's attestations): its image manifest
            print(f"   un index ({len(m['manifests'])} manifestes) ; celui de l'image : {inner}")
            m = registry.manifest(reg.url, REPO, inner)
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
        verdict("1.0 et latest désignent le même manifeste (même digest)",
                same_time.get("1.0") == same_time.get("latest"), "leurs digests diffèrent")
    else:
        verdict("latest a bougé (nouveau digest)", later.get("latest") != same_time.get("latest"),
                "latest a gardé son digest")
        verdict("1.0 n'a pas bougé", later.get("1.0") == same_time.get("1.0"), "le digest de 1.0 a changé")


def registry_size(n: int) -> str:
    return human_size(n)


def image_manifest_digest(m: dict) -> str | None:
    """Pure: for an image *index* (``manifests``: one per platform, plus BuildKit's
    attestations, platform ``unknown/unknown``), the digest of the image's own manifest;
    None for a plain image manifest (it has ``config`` itself)."""
    if "manifests" not in m:
        return None
    for entry in m["manifests"]:
        platform = entry.get("platform") or {}
        if platform.get("os") != "unknown" and "attestation-manifest" not in (entry.get("annotations") or {}).get(
                "vnd.docker.reference.type", ""):
            return entry["digest"]
    return m["manifests"][0]["digest"] if m["manifests"] else None


def image_id_sentences(containerd: bool, image_id: str, config_digest: str, computed: str,
                       pushed_digest: str | None) -> list[tuple[str, bool, str]]:
    """Pure: (claim, holds, why not) for what an image ID is, on the store that was measured.
    Classic store: the ID is the SHA-256 of the configuration JSON. Containerd store: the ID
    is the digest of the manifest (or index) that was pushed; the configuration has its own."""
    out = [("le SHA-256 calculé ici est bien l'empreinte annoncée par le manifeste (config.digest)",
            computed == config_digest, f"calculé {computed}, annoncé {config_digest}")]
    if containerd:
        out.append(("avec le magasin d'images containerd, l'ID de l'image est le digest de son manifeste "
                    "(ou de son index), celui que le registre a reçu — pas l'empreinte de sa configuration",
                    image_id == pushed_digest and image_id != config_digest,
                    f"ID {image_id}, digest poussé {pushed_digest}"))
    else:
        out.append(("avec le magasin d'images classique, l'ID de l'image est l'empreinte SHA-256 de sa "
                    "configuration", image_id == config_digest, f"ID {image_id}, configuration {config_digest}"))
    return out


@needs_docker
def config_digest_is_image_id(reg, tag: str, built: BuildResult | None) -> None:
    """Download the image's config blob from the registry and hash it; compare with
    the local image ID, on the image store this daemon uses (``docker info``)."""
    c = engine.client()
    if reg is None or built is None:
        print("Pas de registre.")
        return
    containerd = containerd_store(c.info())
    print("Magasin d'images de ce démon (docker info, driver-type) : "
          + ("containerd (io.containerd.snapshotter.v1)" if containerd else "classique (pilote de stockage)"))
    image_id = built.image_id
    pushed = reg.manifest_digest(REPO, tag)
    m = registry.manifest(reg.url, REPO, tag)
    inner = image_manifest_digest(m)
    if inner:
        m = registry.manifest(reg.url, REPO, inner)
    cfg_digest = m["config"]["digest"]
    with registry._open(f"{reg.url}/v2/{REPO}/blobs/{cfg_digest}") as resp:
        blob = resp.read()
    computed = "sha256:" + hashlib.sha256(blob).hexdigest()
    keys = ", ".join(sorted(json.loads(blob))[:6])
    print(f"GET {reg.url}/v2/{REPO}/blobs/{cfg_digest} → le JSON de configuration de l'image ({keys}, …)")
    print(f"sha256 calculé ici          : {computed}")
    print(f"digest du manifeste poussé  : {pushed}")
    print(f"ID de l'image locale        : {image_id}")
    for claim, holds, why_not in image_id_sentences(containerd, image_id, cfg_digest, computed, pushed):
        verdict(claim, holds, why_not)


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
        verdict("l'image tirée a exactement l'ID de l'image construite", img.id == built.image_id,
                f"ID tiré {img.id}, construit {built.image_id}")
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
    verdict("registre local arrêté, dossier temporaire supprimé", reg.tmpdir is None,
            f"le dossier {reg.tmpdir} est resté")
