"""What notebook 02's cells call: each function prints or returns what a cell shows.

Without a daemon, the ones that need Docker print one French sentence (``engine.needs_docker``)
and return None; the next cells, given None, print the same kind of sentence instead of failing.
"""

from __future__ import annotations

import os
import re

from .. import engine
from .cgroups import MIB
from .containers import (
    DEMO_LIMITS,
    DEMO_SECONDS,
    cleanup,
    effects,
    leftovers,
    local_namespaces,
    namespaces,
    oui,
    run_command,
    start_demo,
    stop,
    view,
)
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
from .namespaces import namespace_notes


def _require(obj, what: str = "l'étape précédente"):
    if obj is None:
        engine.client()  # no daemon: raises DockerUnavailable with the right sentence
        raise engine.DockerUnavailable(f"{what} n'a pas abouti : ré-exécutez les cellules précédentes.")
    return obj


def _bytes(text: str) -> int:
    return int(text[:-1]) * {"k": 1024, "m": MIB, "g": 1024 * MIB}[text[-1]]


def _commands(commands) -> None:
    """Print the real commands of an experiment, as a student would type them (repo root)."""
    print("Les commandes de l'expérience, à retaper dans un terminal (depuis la racine du dépôt) :")
    for cmd in commands:
        print(f"  $ {cmd}")


@engine.needs_docker
def nb_start_demo():
    ctr = start_demo()
    cmd = run_command("demo", ["python3", "-c", f"import time; time.sleep({DEMO_SECONDS})"],
                      auto_remove=True, **DEMO_LIMITS)
    print(f"$ {cmd}")
    print(f"Conteneur {ctr.name} démarré : python3 qui dort, avec trois limites (mémoire, CPU, processus).")
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
    """What the namespace table measured, in sentences written from the table itself."""
    _require(container, "Le démarrage du conteneur")
    c = engine.client()
    version = engine.facts_from_info(c.info(), c.version())["cgroup_version"]
    for line in namespace_notes(table["partagé"].to_dict(), version):
        print("•", line)


@engine.needs_docker
def nb_effects(container):
    return effects(_require(container, "Le démarrage du conteneur"))


@engine.needs_docker
def nb_print_effects(eff, container):
    eff = _require(eff)
    container.reload()
    print("PID 1 dans le conteneur :", eff.pid1_comm)
    print("Vu de l'hôte, ce processus a un autre numéro que 1 :", oui(eff.host_pid != 1))
    print("Nom d'hôte du conteneur = début de son identifiant :", oui(eff.hostname == container.id[:12]))
    print("Nom d'hôte du conteneur différent de celui de l'hôte :", oui(eff.hostname != eff.host_hostname))
    print("Interfaces réseau du conteneur :", ", ".join(eff.interfaces))
    print("Racine / du conteneur montée depuis :", eff.root_fstype)
    print("Segment de mémoire partagée créé dans le conteneur, visible dedans :", oui(eff.ipc_in_container),
          "; visible sur l'hôte :", oui(eff.ipc_visible_on_host))


def nb_unshare():
    """`unshare` without Docker (root on Linux): PID 1 and hostname in new namespaces."""
    import shutil
    import socket

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
    print("Le nom de l'hôte, lui, n'a pas changé :", oui(socket.gethostname() == res["hostname_host"] != "demo"))
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
    print(f"cgroup du conteneur (lu dans /proc/<pid>/cgroup) : {cg.path}")
    return cg.limits_table()


@engine.needs_docker
def nb_stop(container):
    stop(_require(container, "Le démarrage du conteneur"))
    print("Conteneur de démonstration supprimé.")


def memory_counters_table(res):
    """Pure: the OOM experiment's cgroup counters as a French table (counter, file, value,
    meaning). A zero ``limit_hits`` next to an OOM kill is explained, not hidden: on cgroup v1,
    recent kernels leave ``memory.failcnt`` at 0 even at the limit (measured here)."""
    import pandas as pd

    v2 = res.version == 2
    rows = []
    kills = res.events.get("oom_kill")
    if kills is not None:
        rows.append(("processus tués par l'OOM killer", "memory.events (oom_kill)" if v2 else
                     "memory.oom_control (oom_kill)", kills,
                     "le noyau a tué un processus du conteneur" if kills else
                     "relevé avant la mort du processus"))
    if v2 and "oom" in res.events:
        rows.append(("manques de mémoire (OOM)", "memory.events (oom)", res.events["oom"],
                     "fois où le cgroup n'a plus rien pu libérer"))
    hits = res.events.get("limit_hits")
    if hits is not None:
        if hits:
            meaning = "fois où une allocation a buté sur la limite"
        elif not v2 and (res.oom_killed or kills):
            meaning = "0 : ce noyau ne compte plus ces refus en v1"
        else:
            meaning = "la limite n'a pas été atteinte"
        rows.append(("refus à la limite", "memory.events (max)" if v2 else
                     "memory.failcnt + memory.memsw.failcnt", hits, meaning))
    rows.append(("pic d'utilisation", "memory.peak" if v2 else "memory.max_usage_in_bytes",
                 f"{res.peak_mib:.0f} Mio", f"limite : {res.limit_mib:g} Mio"))
    return pd.DataFrame(rows, columns=["compteur", "fichier du cgroup", "valeur", "ce que ça veut dire"]
                        ).set_index("compteur")


@engine.needs_docker
def nb_memory_events(res):
    return memory_counters_table(_require(res))


@engine.needs_docker
def nb_cpu_summary(res):
    return _require(res).summary.round(3)


@engine.needs_docker
def nb_memory(limit: str = "64m"):
    """Run the experiment, print its commands and draw its figure."""
    res = memory_experiment(limit=limit)
    _commands(res.commands)
    plot_memory(res)
    return res


@engine.needs_docker
def nb_report_memory(res):
    res = _require(res)
    print(res.summary())
    print(f"pic d'utilisation du cgroup au niveau de la limite ({res.limit_mib:g} Mio) :",
          oui(res.peak_mib >= 0.9 * res.limit_mib))
    print("le processus n'a pas pu allouer les 256 Mio demandés :", oui(res.allocated_mib < 256))


@engine.needs_docker
def nb_try_memory(limit: str):
    """The student's exercise: the same allocation under another ``--memory``; verdicts only
    (the exact amount allocated before the kill varies from run to run)."""
    text = str(limit).strip().lower()
    if not re.fullmatch(r"\d+[kmg]", text) or _bytes(text) < 8 * MIB:
        print(f"⚠️  « {limit} » n'est pas une limite utilisable : écrivez un nombre suivi de m (Mio) ou g (Gio), "
              "au moins 8m, par exemple \"96m\".")
        return None
    res = memory_experiment(limit=text)
    _commands(res.commands[:1])
    plot_memory(res)
    lim = f"{res.limit_mib:g} Mio" if res.limit_mib else "aucune"
    print(f"limite lue dans le cgroup du conteneur : {lim}")
    print("tué par le noyau (OOM, code 137) :", oui(res.oom_killed and res.exit_code == 137))
    if res.oom_killed:
        print("il a alloué moins que la limite avant d'être tué :", oui(res.allocated_mib < res.limit_mib))
    else:
        print("il a pu allouer les 256 Mio qu'il voulait, puis s'est terminé normalement :",
              oui(res.allocated_mib >= 256 and res.exit_code == 0))
    return res


@engine.needs_docker
def nb_cpu():
    """Run the experiment, print its commands and draw its figure."""
    res = cpu_experiment()
    _commands(res.commands)
    plot_cpu(res)
    return res


@engine.needs_docker
def nb_report_cpu(res):
    res = _require(res)
    lim, free = res.limited(), res.unlimited()
    limit = res.samples.loc[res.samples["conteneur"] == "--cpus 0.5", "limite (CPU)"].iloc[0]
    print("limite lue dans le cgroup du conteneur limité :", f"{limit:g} CPU".replace(".", ","))
    print("part de CPU du conteneur limité au plus 0,5 (marge de mesure 0,05) :",
          oui(lim["part de CPU mesurée"] <= 0.55))
    print("périodes de quota décomptées par le noyau (nr_periods > 0) : conteneur limité",
          oui(lim["périodes (nr_periods)"] > 0), "; sans limite", oui(free["périodes (nr_periods)"] > 0))
    print("conteneur limité suspendu quand il épuise son quota (nr_throttled) :", oui(throttling_consistent(lim)))
    print("conteneur sans limite jamais suspendu (nr_throttled = 0) :",
          oui(free["périodes bridées (nr_throttled)"] == 0))


@engine.needs_docker
def nb_pids():
    """Run the experiment, print its commands and draw its figure."""
    res = pids_experiment()
    _commands(res.commands)
    plot_pids(res)
    return res


@engine.needs_docker
def nb_report_pids(res):
    res = _require(res)
    print(f"processus au plus dans le conteneur : {res.max_seen} (limite lue dans pids.max : {res.limit})")
    print("fork() refusés par le noyau (pids.events) :", oui(res.refused_forks > 0))
    print("un autre conteneur a démarré normalement pendant la bombe :", oui(res.other_container_ok))


@engine.needs_docker
def nb_cleanup():
    cleanup()
    print("Conteneurs de ce notebook restants :", leftovers() or "aucun")
