"""The last cell of notebooks 03 and 04: remove what the unit created
(containers, images, volumes, its local registry) and check nothing is left."""

from __future__ import annotations

from .. import engine, registry
from . import registries
from .common import UNIT, UNIT_LABEL, needs_docker


@needs_docker
def cleanup(unit: str = UNIT, quiet: bool = False) -> dict[str, int]:
    """Remove what this unit created: containers, images (all their tags,
    registry names included), volumes with ``dockercourse.unit=<unit>``, and its
    local registry (process + temp folder)."""
    done = engine.clean(selector=f"{UNIT_LABEL}={unit}", quiet=True)
    counts = {"conteneurs": done["containers"], "images": done["images"], "volumes": done["volumes"],
              "registre": 0}
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


def leftover_counts(unit: str = UNIT) -> dict[str, int]:
    """What is still there for this unit (raises DockerUnavailable without a daemon)."""
    c = engine.client()
    flt = {"label": f"{UNIT_LABEL}={unit}"}
    running = registry._pidfile(unit).exists()  # written by the unit's registry while it runs
    return {"conteneurs": len(c.containers.list(all=True, filters=flt)),
            "images": len(c.images.list(filters=flt)),
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
    print(f"✔ tout ce que ce notebook a créé a été supprimé : {'oui' if not any(left.values()) else 'non'}")
