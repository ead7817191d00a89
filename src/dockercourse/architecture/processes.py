"""Notebook 03, § 3.1 (suite): the daemon is just processes — ``dockerd`` →
``containerd`` → ``containerd-shim`` → the container's process, read from
``/proc`` of the Docker host (a short-lived ``--pid=host`` helper container when
this Python is not on that host)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .. import engine
from .common import UNIT, needs_docker, script, unit_labels, verdict_line


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    comm: str
    cmdline: str


def parse_stat(text: str) -> tuple[int, str, str, int]:
    """Pure: ``/proc/<pid>/stat`` → (pid, comm, state, ppid). The command name is
    between the first ``(`` and the *last* ``)`` (it may contain spaces and parentheses)."""
    open_ = text.index("(")
    close = text.rindex(")")
    pid = int(text[:open_].strip())
    comm = text[open_ + 1:close]
    rest = text[close + 2:].split()
    return pid, comm, rest[0], int(rest[1])


def parse_cmdline(raw: bytes) -> str:
    """Pure: ``/proc/<pid>/cmdline`` (NUL-separated) → a readable command line."""
    return " ".join(p.decode(errors="replace") for p in raw.split(b"\0") if p)


def read_processes(proc_root: str | Path = "/proc") -> list[Proc]:
    """Every process visible in ``proc_root`` (processes that vanish meanwhile are skipped)."""
    out = []
    root = Path(proc_root)
    for entry in root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            pid, comm, _state, ppid = parse_stat((entry / "stat").read_text())
            cmd = parse_cmdline((entry / "cmdline").read_bytes()) or f"[{comm}]"
        except (OSError, ValueError, IndexError):
            continue
        out.append(Proc(pid, ppid, comm, cmd))
    return sorted(out, key=lambda p: p.pid)


#: The helper container runs this with the host's PID namespace (``--pid=host``).
HOST_PS_SCRIPT = script("host_ps.py")

def processes_via_helper(image: str = engine.BASE_IMAGE, unit: str = UNIT) -> list[Proc]:
    """The Docker host's processes, seen from a short-lived ``--pid=host`` container
    (works when this notebook is itself in a container, or the daemon is in a VM)."""
    c = engine.client()
    name = engine.name(unit, "hostps", str(os.getpid()))
    ctr = c.containers.run(image, ["python3", "-c", HOST_PS_SCRIPT], name=name, detach=True,
                           pid_mode="host", network_mode="none", labels=unit_labels(unit, purpose="host-ps"))
    try:
        ctr.wait(timeout=60)
        data = json.loads(ctr.logs(stdout=True, stderr=False).decode())
    finally:
        engine.remove_container(ctr.name)
    helper_shims = {p["pid"] for p in data if "containerd-shim" in p["comm"] and ctr.id in p["cmdline"]}
    procs = [Proc(p["pid"], p["ppid"], p["comm"], p["cmdline"]) for p in data]
    # leave the helper itself (its shim and its python) out of the picture
    return [p for p in procs if p.pid not in helper_shims and p.ppid not in helper_shims]


def host_point_of_view() -> str:
    """``"local"`` when this Python sees the Docker host's processes itself (a
    ``dockerd`` is visible in our /proc and we are not in a container), else ``"helper"``."""
    if engine.in_container() or not Path("/proc/self/stat").exists():
        return "helper"
    return "local" if any(p.comm == "dockerd" for p in read_processes()) else "helper"


def host_processes(unit: str = UNIT) -> tuple[list[Proc], str]:
    """(processes of the Docker host, how they were read)."""
    if host_point_of_view() == "local":
        return read_processes(), "local"
    return processes_via_helper(unit=unit), "helper"


ROLES = {
    "dockerd": "démon Docker (dockerd)",
    "containerd": "containerd",
    "shim": "containerd-shim",
    "runc": "runc",
    "container": "processus du conteneur",
}


def classify(p: Proc) -> str | None:
    """Pure: the role of a process in Docker's chain, or None."""
    if p.comm == "dockerd":
        return "dockerd"
    if p.comm == "containerd":
        return "containerd"
    if p.comm.startswith("containerd-shim"):
        return "shim"
    if p.comm == "runc":
        return "runc"
    return None


def docker_chain(procs: list[Proc], container_id: str | None = None) -> list[dict]:
    """Pure: the rows of Docker's process chain. With ``container_id``, only the
    shim of that container (its command line says ``-id <container id>``) and
    the processes below it; otherwise every shim and its descendants."""
    by_parent: dict[int, list[Proc]] = {}
    for p in procs:
        by_parent.setdefault(p.ppid, []).append(p)
    rows = []
    order = {"dockerd": 0, "containerd": 1, "shim": 2, "runc": 3, "container": 4}
    for p in procs:
        role = classify(p)
        if role is None:
            continue
        if role in ("shim", "runc") and container_id and container_id not in p.cmdline:
            continue  # another container's (other runc processes come and go as containers start)
        rows.append({"pid": p.pid, "ppid": p.ppid, "role": role, "cmdline": p.cmdline})
        if role == "shim":
            stack = list(by_parent.get(p.pid, []))
            while stack:
                child = stack.pop()
                rows.append({"pid": child.pid, "ppid": child.ppid, "role": "container",
                             "cmdline": child.cmdline})
                stack.extend(by_parent.get(child.pid, []))
    rows.sort(key=lambda r: (order[r["role"]], r["pid"]))
    return ours_only(rows) if container_id else rows


def ours_only(rows: list[dict]) -> list[dict]:
    """Pure: with several engines on one host (rootless engines, other test daemons),
    keep the containerd our shim talks to (its ``-address`` folder is in containerd's
    command line, or it is the only one) and the dockerd that started it, if one did."""
    import re

    shims = [r for r in rows if r["role"] == "shim"]
    addr = next((m.group(1) for r in shims if (m := re.search(r"-address (\S+)/containerd\.sock", r["cmdline"]))), None)
    ctrds = [r for r in rows if r["role"] == "containerd"]
    mine = [r for r in ctrds if addr and addr in r["cmdline"]] or \
        [r for r in ctrds if addr == "/run/containerd" and "--config" not in r["cmdline"]] or ctrds
    parents = {r["ppid"] for r in mine}
    dockerds = [r for r in rows if r["role"] == "dockerd"]
    keep_dockerd = [r for r in dockerds if r["pid"] in parents] or \
        [r for r in dockerds if " --data-root " not in f" {r['cmdline']} " and " -H " not in f" {r['cmdline']} "] \
        or dockerds
    dropped = {r["pid"] for r in ctrds if r not in mine} | {r["pid"] for r in dockerds if r not in keep_dockerd}
    return [r for r in rows if r["pid"] not in dropped]


def chain_frame(rows: list[dict]):
    """Pure: the chain as a table; 64-hex container ids are shortened to 12 characters
    (like ``docker ps``) so the whole command line fits without being cut."""
    import re

    import pandas as pd

    data = [{"pid": r["pid"], "ppid": r["ppid"], "rôle": ROLES[r["role"]],
             "commande": re.sub(r"\b([0-9a-f]{12})[0-9a-f]{52}\b", r"\1", r["cmdline"])}
            for r in rows]
    return pd.DataFrame(data, columns=["pid", "ppid", "rôle", "commande"])


def is_runc_init(row: dict) -> bool:
    """Pure: a container process that is still ``runc init`` (runc's child, before it
    ``execve``s the container's command)."""
    return row["role"] == "container" and row["cmdline"].split(" ", 1)[0].startswith("runc")


def chain_facts(rows: list[dict]) -> dict:
    """Pure: the facts the notebook prints about the chain (booleans, and the parent
    PID of containerd and of the shim: 0 when absent)."""
    pids = {r["pid"]: r for r in rows}
    by_role: dict[str, list[dict]] = {}
    for r in rows:
        by_role.setdefault(r["role"], []).append(r)
    dockerd = [r["pid"] for r in by_role.get("dockerd", [])]
    shims = [r["pid"] for r in by_role.get("shim", [])]
    containerd_child_of_dockerd = any(r["ppid"] in dockerd for r in by_role.get("containerd", []))
    shim_under_containerd = any(pids.get(r["ppid"], {}).get("role") == "containerd" for r in by_role.get("shim", []))
    return {
        "dockerd": bool(dockerd),
        "containerd": bool(by_role.get("containerd")),
        "containerd_child_of_dockerd": containerd_child_of_dockerd,
        "containerd_ppid": (by_role.get("containerd") or [{"ppid": 0}])[0]["ppid"],
        "shim": bool(shims),
        "shim_child_of_containerd": shim_under_containerd,
        "shim_ppid": (by_role.get("shim") or [{"ppid": 0}])[0]["ppid"],
        "container_child_of_shim": any(r["ppid"] in shims for r in by_role.get("container", [])),
        "runc_running": bool(by_role.get("runc")) or any(is_runc_init(r) for r in rows),
    }


def _chain_after_execve(container_id: str, timeout: float = 10.0, unit: str = UNIT) -> tuple[list[dict], str]:
    """Read the chain until the container's process has replaced ``runc init`` by its
    own command (``docker run -d`` returns once runc has *started* the container:
    for a few milliseconds its process is still runc's child, before its ``execve``)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        procs, how = host_processes(unit)
        rows = docker_chain(procs, container_id=container_id)
        settled = any(r["role"] == "container" for r in rows) and not any(is_runc_init(r) for r in rows)
        if settled or time.monotonic() > deadline:
            return rows, how
        time.sleep(0.1)


@needs_docker
def process_chain(command: tuple[str, ...] = ("sleep", "300"), unit: str = UNIT) -> dict:
    """Start a labelled container, read the Docker host's processes, remove the
    container; returns ``{"frame": DataFrame, "facts": {...}, "how": "local"|"helper"}``.
    ``unit``: the name and label of that container (the tests' own, beside a notebook's run)."""
    c = engine.client()
    name = engine.name(unit, "chain")
    engine.remove_container(name)
    ctr = c.containers.run(engine.BASE_IMAGE, list(command), name=name, detach=True, network_mode="none",
                           labels=unit_labels(unit, purpose="process-chain"))
    try:
        rows, how = _chain_after_execve(ctr.id, unit=unit)
    finally:
        engine.remove_container(ctr.name)
    return {"frame": chain_frame(rows), "facts": chain_facts(rows), "how": how}


@needs_docker
def show_chain(chain: dict | None):
    """Say from where the processes were read, return the table."""
    engine.client()
    if chain["how"] == "local":
        print("Processus lus dans /proc : ce notebook tourne directement sur l'hôte Docker.")
    else:
        print("Processus lus depuis un conteneur auxiliaire lancé avec --pid=host : "
              "ce notebook ne tourne pas sur l'hôte Docker lui-même.")
    return chain["frame"]


def chain_sentences(facts: dict) -> list[str]:
    """Pure: one verdict per fact. Who starts containerd depends on the packaging
    (Debian's ``docker.io``: ``dockerd`` does; Docker CE: systemd's
    ``containerd.service``, parent PID 1): the sentence states what was measured."""
    if facts["containerd_child_of_dockerd"]:
        who = verdict_line("containerd a été lancé par dockerd (son ppid est celui de dockerd) : c'est ainsi "
                           "que le paquet docker.io de Debian l'organise", True)
    else:
        who = verdict_line(f"containerd n'a pas été lancé par dockerd : c'est un service à part (son parent est "
                           f"le PID {facts['containerd_ppid']}), comme le containerd.service de Docker CE",
                           facts["containerd"], "containerd est introuvable")
    return [
        verdict_line("un processus dockerd tourne sur l'hôte", facts["dockerd"], "aucun dockerd n'est visible d'ici"),
        verdict_line("containerd tourne à côté de lui", facts["containerd"], "aucun containerd n'est visible d'ici"),
        who,
        verdict_line("le conteneur a son propre containerd-shim", facts["shim"], "aucun shim n'a été trouvé"),
        verdict_line("le shim n'est pas un enfant de containerd : il s'est détaché", facts["shim"]
                     and not facts["shim_child_of_containerd"],
                     "son parent est containerd" if facts["shim"] else "aucun shim n'a été trouvé"),
        verdict_line("le processus du conteneur est un enfant du shim", facts["container_child_of_shim"],
                     "aucun processus du conteneur sous le shim"),
        verdict_line("aucun processus runc ne tourne plus : runc se termine une fois le conteneur lancé",
                     not facts["runc_running"], "un processus runc tourne encore (le conteneur démarrait)"),
    ]


@needs_docker
def print_chain_facts(chain: dict | None) -> None:
    engine.client()
    for line in chain_sentences(chain["facts"]):
        print(line)
