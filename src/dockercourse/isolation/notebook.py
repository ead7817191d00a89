"""What notebook 02's cells call: each function prints or returns what a cell shows.

Without a daemon, the ones that need Docker print one French sentence (``engine.needs_docker``)
and return None; the next cells, given None, print the same kind of sentence instead of failing.
"""

from __future__ import annotations

import os

from .. import engine
from .containers import cleanup, effects, leftovers, local_namespaces, namespaces, start_demo, stop, view
from .experiments import (
    cpu_experiment,
    memory_experiment,
    pids_experiment,
    plot_cpu,
    plot_memory,
    plot_pids,
    throttling_consistent,
    unshare_demo,
)


def _require(obj, what: str = "l'étape précédente"):
    if obj is None:
        engine.client()  # no daemon: raises DockerUnavailable with the right sentence
        raise engine.DockerUnavailable(f"{what} n'a pas abouti : ré-exécutez les cellules précédentes.")
    return obj


@engine.needs_docker
def nb_start_demo():
    ctr = start_demo()
    print(f"Conteneur {ctr.name} démarré : python3 qui dort, avec --memory 64m --memory-swap 64m "
          "--cpus 0.5 --pids-limit 20.")
    return ctr


def nb_namespaces(container):
    """The namespace table seen from the Docker host; without a daemon, this notebook's own
    namespaces against the local PID 1 (on Binder: you are inside a container)."""
    try:
        return namespaces(_require(container, "Le démarrage du conteneur"))
    except engine.DockerUnavailable as err:
        print(f"⚠️  Cellule non exécutée : {err} À la place : les espaces de noms de ce notebook "
              "comparés à ceux du PID 1 local.")
        return local_namespaces()


@engine.needs_docker
def nb_shared(table, container):
    _require(container, "Le démarrage du conteneur")
    for ns, row in table.iterrows():
        print(f"{ns:<7} partagé avec l'hôte : {row['partagé']}")


@engine.needs_docker
def nb_effects(container):
    return effects(_require(container, "Le démarrage du conteneur"))


@engine.needs_docker
def nb_print_effects(eff, container):
    eff = _require(eff)
    container.reload()
    print("PID 1 dans le conteneur :", eff.pid1_comm)
    print("Vu de l'hôte, ce processus a un autre numéro :", eff.host_pid != 1)
    print("Nom d'hôte du conteneur = début de son identifiant :", eff.hostname == container.id[:12])
    print("Nom d'hôte du conteneur différent de celui de l'hôte :", eff.hostname != eff.host_hostname)
    print("Interfaces réseau du conteneur :", ", ".join(eff.interfaces))
    print("Racine / du conteneur montée depuis :", eff.root_fstype)
    print("Segment de mémoire partagée créé dans le conteneur, visible dedans :", eff.ipc_in_container,
          "; visible sur l'hôte :", eff.ipc_visible_on_host)


def nb_unshare():
    """`unshare` without Docker (root on Linux): PID 1 and hostname in new namespaces."""
    import shutil

    if os.geteuid() != 0 or shutil.which("unshare") is None:
        print("⚠️  Cellule non exécutée : « unshare » demande les droits root sur une machine Linux.")
        return None
    res = unshare_demo()
    if res["ps_rc"] != 0 or res["uts_rc"] != 0:
        first = (res["ps"].strip().splitlines() or ["?"])[0]
        print(f"⚠️  Cellule non exécutée : le noyau a refusé « unshare » ici ({first}) ; "
              "c'est le cas dans un conteneur non privilégié.")
        return None
    print("$ unshare --pid --fork --mount-proc ps -eo pid,comm")
    print(res["ps"].rstrip())
    print("$ unshare --uts sh -c 'hostname demo; hostname'")
    print(res["hostname_inside"])
    import socket

    print("Le nom de l'hôte, lui, n'a pas changé :", socket.gethostname() == res["hostname_host"] != "demo")
    return res


@engine.needs_docker
def nb_cgroup(container):
    v = view(_require(container, "Le démarrage du conteneur"))
    cg = v.cgroup
    layout = ("v2 : une seule hiérarchie, un dossier par cgroup" if cg.version == 2 else
              "v1 : une hiérarchie par contrôleur (memory/, cpu/, pids/…)")
    print(f"cgroups sur l'hôte Docker : {layout}")
    c = engine.client()
    facts = engine.facts_from_info(c.info(), c.version())
    if facts["docker_desktop"]:
        print("Docker Desktop : l'hôte Docker est sa machine virtuelle Linux ; ces fichiers sont les siens.")
    if facts["rootless"]:
        print("Docker rootless : les limites ne s'appliquent qu'avec les cgroups v2 et la délégation systemd "
              "(sans elles, le tableau ci-dessous montre des valeurs « illimité »).")
    print(f"cgroup du conteneur (lu dans /proc/{{pid}}/cgroup) : {cg.path}")
    return cg.limits_table()


@engine.needs_docker
def nb_stop(container):
    stop(_require(container, "Le démarrage du conteneur"))
    print("Conteneur de démonstration supprimé.")


@engine.needs_docker
def nb_memory_events(res):
    import pandas as pd

    res = _require(res)
    return pd.Series(res.events, name="compteurs du cgroup", dtype="int64")


@engine.needs_docker
def nb_cpu_summary(res):
    return _require(res).summary.round(3)


@engine.needs_docker
def nb_memory():
    """Run the experiment and draw its figure."""
    res = memory_experiment()
    plot_memory(res)
    return res


@engine.needs_docker
def nb_report_memory(res):
    res = _require(res)
    print(res.summary())
    print(f"pic d'utilisation du cgroup au niveau de la limite ({res.limit_mib:g} Mio) :",
          res.peak_mib >= 0.9 * res.limit_mib)
    print("le processus n'a pas pu allouer les 256 Mio demandés :", res.allocated_mib < 256)


@engine.needs_docker
def nb_cpu():
    """Run the experiment and draw its figure."""
    res = cpu_experiment()
    plot_cpu(res)
    return res


@engine.needs_docker
def nb_report_cpu(res):
    res = _require(res)
    lim, free = res.limited(), res.unlimited()
    print("limite lue dans le cgroup du conteneur limité :",
          f"{res.samples.loc[res.samples['conteneur'] == '--cpus 0.5', 'limite (CPU)'].iloc[0]:g} CPU")
    print("part de CPU du conteneur limité au plus 0,5 (marge de mesure 0,05) :", lim["part de CPU mesurée"] <= 0.55)
    print("périodes de quota décomptées par le noyau (nr_periods > 0) : conteneur limité",
          lim["périodes (nr_periods)"] > 0, "; sans limite", free["périodes (nr_periods)"] > 0)
    print("conteneur limité suspendu quand il épuise son quota (nr_throttled) :", throttling_consistent(lim))
    print("conteneur sans limite jamais suspendu (nr_throttled = 0) :", free["périodes bridées (nr_throttled)"] == 0)


@engine.needs_docker
def nb_pids():
    """Run the experiment and draw its figure."""
    res = pids_experiment()
    plot_pids(res)
    return res


@engine.needs_docker
def nb_report_pids(res):
    res = _require(res)
    print(f"processus au plus dans le conteneur : {res.max_seen} (limite lue dans pids.max : {res.limit})")
    print("fork() refusés par le noyau (pids.events) :", "oui" if res.refused_forks > 0 else "non")
    print("un autre conteneur a démarré normalement pendant la bombe :", res.other_container_ok)


@engine.needs_docker
def nb_cleanup():
    cleanup()
    print("Conteneurs de ce notebook restants :", leftovers() or "aucun")
