"""Namespaces: which ones a process belongs to, and what each one isolates (pure readers)."""

from __future__ import annotations

import os
import re
from pathlib import Path

NAMESPACE_TYPES = ("pid", "net", "mnt", "uts", "ipc", "user", "cgroup", "time")

#: What each namespace isolates (French, shown to students).
NAMESPACE_ROLES = {
    "pid": "numéros de processus (son propre PID 1)",
    "net": "interfaces réseau, adresses, routes, ports",
    "mnt": "points de montage (les fichiers visibles)",
    "uts": "nom d'hôte et nom de domaine",
    "ipc": "mémoire partagée, sémaphores, files de messages",
    "user": "identifiants d'utilisateurs (uid, gid)",
    "cgroup": "vue des cgroups (/proc/self/cgroup)",
    "time": "horloges CLOCK_MONOTONIC et CLOCK_BOOTTIME",
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



def namespace_notes(shared: dict[str, str], cgroup_version: int | str | None = None) -> list[str]:
    """Pure: French sentences that say what the namespace table *measured* (``shared`` maps each
    namespace type to the table's « partagé » column: ``oui``/``non``/``inconnu``).

    The sentences follow the measurement, not an assumption about the machine: the cgroup
    namespace, for instance, is private on most cgroup v2 hosts and shared on v1 ones."""
    v = str(cgroup_version or "?")
    notes = []
    private = [ns for ns in ("pid", "net", "mnt", "uts", "ipc") if shared.get(ns) == "non"]
    if private:
        notes.append(f"{', '.join(private)} : privés — Docker a créé pour ce conteneur un namespace neuf "
                     "de chaque type.")
    for ns in ("pid", "net", "mnt", "uts", "ipc"):
        if shared.get(ns) == "oui":
            notes.append(f"{ns} : partagé avec l'hôte — ce conteneur a été lancé avec --{ns}=host.")
    user = shared.get("user")
    if user == "oui":
        notes.append("user : partagé — le root du conteneur (uid 0) EST le root de l'hôte ; seuls les autres "
                     "namespaces, les capacités réduites et les cgroups le bornent. D'où l'instruction USER "
                     "d'un Dockerfile (vue au TP), ou Docker rootless / userns-remap, qui donnent au conteneur "
                     "son propre namespace user.")
    elif user == "non":
        notes.append("user : privé — Docker remappe les utilisateurs (mode rootless ou userns-remap) : le root "
                     "du conteneur n'est qu'un utilisateur ordinaire sur l'hôte.")
    cg = shared.get("cgroup")
    if cg == "oui":
        why = (f"cet hôte utilise les cgroups v{v}, et Docker ne donne un namespace cgroup privé qu'avec "
               "les cgroups v2" if v != "2" else
               "Docker est réglé ici pour le partager (option --cgroupns=host ou réglage du démon)")
        notes.append(f"cgroup : partagé — {why} ; le conteneur voit donc le chemin complet de son cgroup "
                     "dans /proc/self/cgroup.")
    elif cg == "non":
        notes.append(f"cgroup : privé — avec les cgroups v{v}, Docker donne au conteneur son propre namespace "
                     "cgroup : dans /proc/self/cgroup, il se voit à la racine « / ».")
    tm = shared.get("time")
    if tm == "oui":
        notes.append("time : partagé — Docker ne crée pas de namespace time (il sert surtout à déplacer un "
                     "conteneur d'une machine à l'autre sans que ses horloges sautent).")
    elif tm == "non":
        notes.append("time : privé — ce conteneur a ses propres horloges CLOCK_MONOTONIC et CLOCK_BOOTTIME.")
    unknown = [ns for ns in NAMESPACE_TYPES if shared.get(ns) not in ("oui", "non")]
    if unknown:
        notes.append(f"{', '.join(unknown)} : illisible(s) ici (droits insuffisants ou noyau trop ancien).")
    return notes
