"""Namespaces: which ones a process belongs to, and what each one isolates (pure readers)."""

from __future__ import annotations

import os
import re
from pathlib import Path

NAMESPACE_TYPES = ("pid", "net", "mnt", "uts", "ipc", "user", "cgroup", "time")

#: What each namespace isolates (French, shown to students).
NAMESPACE_ROLES = {
    "pid": "numéros de processus (le conteneur a son propre PID 1)",
    "net": "interfaces réseau, adresses, routes, ports",
    "mnt": "points de montage (le système de fichiers vu par le processus)",
    "uts": "nom d'hôte (hostname) et nom de domaine",
    "ipc": "files de messages, sémaphores, mémoire partagée System V/POSIX",
    "user": "identifiants d'utilisateurs (root dedans ≠ root dehors, en mode rootless)",
    "cgroup": "vue de l'arborescence des cgroups (/proc/self/cgroup)",
    "time": "horloges CLOCK_MONOTONIC / CLOCK_BOOTTIME",
}




def parse_ns_link(link: str) -> int | None:
    """``"pid:[4026531836]"`` -> ``4026531836`` (``None`` if it does not look like one)."""
    m = re.search(r"\[(\d+)\]", link or "")
    return int(m.group(1)) if m else None


def read_namespaces(pid: int | str = "self", proc: str | Path = "/proc") -> dict[str, int | None]:
    """Inode number of each namespace of ``pid`` (``None`` when unreadable or absent)."""
    out: dict[str, int | None] = {}
    for ns in NAMESPACE_TYPES:
        try:
            out[ns] = parse_ns_link(os.readlink(Path(proc) / str(pid) / "ns" / ns))
        except OSError:
            out[ns] = None
    return out


def namespace_table(container: dict[str, int | None], host: dict[str, int | None],
                    container_label: str = "conteneur", host_label: str = "hôte"):
    """Pure: one row per namespace type, the two inode numbers and whether they are shared."""
    import pandas as pd

    rows = []
    for ns in NAMESPACE_TYPES:
        a, b = container.get(ns), host.get(ns)
        if a is None or b is None:
            shared = "inconnu"
        else:
            shared = "oui" if a == b else "non"
        rows.append((ns, NAMESPACE_ROLES[ns], b, a, shared))
    df = pd.DataFrame(rows, columns=["espace de noms", "ce qu'il isole", f"{host_label} (inode)",
                                     f"{container_label} (inode)", "partagé"])
    return df.set_index("espace de noms")

