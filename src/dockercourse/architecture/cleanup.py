"""The last cell of notebooks 03, 04 and 05: remove what the unit created
(containers, images, volumes, its local registry) and check nothing is left."""

from __future__ import annotations

from .. import engine, registry
from . import registries
from .common import UNIT, UNIT_LABEL, needs_docker, short_id, verdict


@needs_docker
def cleanup(unit: str = UNIT, quiet: bool = False) -> dict[str, int]:
    """Remove what this unit created: containers, images (all their tags,
    registry names included), volumes with ``dockercourse.unit=<unit>``, and its
    local registry (process + temp folder)."""
    done = engine.clean(selector=f"{UNIT_LABEL}={unit}", quiet=True)
    counts = {"conteneurs": done["containers"], "images": done["images"] + remove_unit_images(unit),
              "volumes": done["volumes"], "registre": 0}
    reg = registries._registry
    if reg is not None and reg.unit == unit:
        reg.stop()
        registries._registry = None
        counts["registre"] += 1
    if registry.stop_stale(unit):
        counts["registre"] += 1
    if not quiet:
        print("Nettoyage : " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return counts


def unit_images(unit: str = UNIT) -> list:
    """Every image with the unit's label, untagged (dangling) ones included: with
    the containerd image store, a tag moved to a new build leaves the old image as
    ``<none>`` (still labelled), and ``docker images`` lists it apart."""
    c = engine.client()
    flt = {"label": f"{UNIT_LABEL}={unit}"}
    seen: dict[str, object] = {}
    for extra in ({}, {"dangling": True}):
        for img in c.images.list(all=True, filters={**flt, **extra}):
            seen.setdefault(img.id, img)
    return list(seen.values())


def remove_unit_images(unit: str = UNIT, rounds: int = 3) -> int:
    """Remove what :func:`engine.clean` left of the unit's images (dangling ones,
    children before parents): by each of their names, then by ID. Returns how many."""
    import docker

    c = engine.client()
    removed = 0
    for _ in range(rounds):
        images = sorted(unit_images(unit), key=lambda i: i.attrs.get("Created", ""), reverse=True)
        if not images:
            break
        for img in images:
            for ref in [*(img.attrs.get("RepoTags") or []), *(img.attrs.get("RepoDigests") or []), img.id]:
                if ref == "<none>:<none>" or ref.startswith("<none>@"):
                    continue
                try:
                    c.images.remove(ref, force=True)
                except docker.errors.NotFound:
                    pass
                except docker.errors.APIError:  # a parent of another image: the next round
                    continue
            removed += 1
    return removed


def leftover_counts(unit: str = UNIT) -> dict[str, int]:
    """What is still there for this unit (raises DockerUnavailable without a daemon)."""
    c = engine.client()
    flt = {"label": f"{UNIT_LABEL}={unit}"}
    running = registry._pidfile(unit).exists()  # written by the unit's registry while it runs
    return {"conteneurs": len(c.containers.list(all=True, filters=flt)),
            "images": len(unit_images(unit)),
            "volumes": len(c.volumes.list(filters=flt)),
            "registres": int(running)}


@needs_docker
def leftovers(unit: str = UNIT) -> dict[str, int]:
    """What is still there for this unit, returned (tests) — see :func:`show_leftovers` for the notebooks."""
    return leftover_counts(unit)


@needs_docker
def show_leftovers(unit: str = UNIT) -> None:
    """The notebook's last line: one sentence per kind of object, then the verdict."""
    left = leftover_counts(unit)
    print("Reste-t-il quelque chose ? " + ", ".join(f"{k} : {v}" for k, v in left.items()))
    images = ", ".join((i.tags or ["<none>"])[0] + f" ({short_id(i.id)})" for i in unit_images(unit)) \
        if left["images"] else ""
    verdict("tout ce que ce notebook a créé a été supprimé", not any(left.values()),
            leftover_sentence(left, images))


def leftover_sentence(left: dict[str, int], images: str = "") -> str:
    """Pure: what is still there, in words (the ✘'s explanation)."""
    parts = [f"{k} : {v}" for k, v in left.items() if v]
    return "il reste " + ", ".join(parts) + (f" — images : {images}" if images else "")
