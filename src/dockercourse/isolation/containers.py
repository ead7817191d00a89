"""The course's demo container and what the Docker host sees of it (namespaces, cgroup, effects).

Containers are labelled ``dockercourse.unit=nb02`` and named ``dockercourse-nb02-<part>``.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field

from .. import engine
from .cgroups import Cgroup, DictTree
from .helper import host_snapshot, script
from .namespaces import namespace_table, parse_ns_link, read_namespaces

#: The course container the notebook inspects (sleeps, bounded, removed by the notebook).
DEMO_LIMITS = dict(mem_limit="64m", memswap_limit="64m", nano_cpus=500_000_000, pids_limit=20)


def run_container(part: str, command, **kwargs):
    """Start a labelled course container named ``dockercourse-nb02-<part>`` (removing a
    leftover of the same name first, so that cells can be re-run at once)."""
    c = engine.client()
    name = engine.name("nb02", part)
    engine.remove_container(name)
    kwargs.setdefault("detach", True)
    return c.containers.run(engine.BASE_IMAGE, command, name=name,
                            labels=engine.labels(unit="nb02", role=part), **kwargs)


#: docker SDK keyword -> ``docker run`` option, for the commands shown to students.
_CLI_OPTIONS = (("mem_limit", "--memory"), ("memswap_limit", "--memory-swap"), ("nano_cpus", "--cpus"),
                ("pids_limit", "--pids-limit"))


def run_command(part: str, args, script_name: str | None = None, **kwargs) -> str:
    """Pure: the ``docker run`` line a student types to start what :func:`run_container` starts.

    ``args`` follow the image name; with ``script_name`` the command is
    ``python3 -c "$(cat <script path in the repository>)" args...`` (the script is in
    ``src/dockercourse/isolation/scripts/``, to read and to paste)."""
    opts = ["docker", "run", "-d"]  # the course starts them in the background, then watches them
    if kwargs.get("auto_remove"):
        opts.append("--rm")
    opts += ["--name", engine.name("nb02", part), "--label", f"{engine.LABEL}=1"]
    for key, flag in _CLI_OPTIONS:
        if kwargs.get(key) is None:
            continue
        value = kwargs[key]
        if key == "nano_cpus":
            value = f"{value / 1e9:g}"
        opts += [flag, str(value)]
    opts.append(engine.BASE_IMAGE)
    cmd = " ".join(shlex.quote(str(o)) for o in opts)
    if script_name:
        cmd += f' python3 -c "$(cat {SCRIPTS_DIR}/{script_name}.py)"'
    return " ".join([cmd, *(shlex.quote(str(a)) for a in args)])


#: Where the in-container scripts are, from the repository's root (shown in commands).
SCRIPTS_DIR = "src/dockercourse/isolation/scripts"


#: At worst, the demo container removes itself after this many seconds (``--rm``).
DEMO_SECONDS = 600


def start_demo(seconds: int = DEMO_SECONDS):
    """The container inspected in the notebook: ``python3`` sleeping, with the three limits
    (``--memory 64m --memory-swap 64m --cpus 0.5 --pids-limit 20``); removes itself after
    ``seconds`` at worst (``--rm``)."""
    return run_container("demo", ["python3", "-c", f"import time; time.sleep({int(seconds)})"],
                         auto_remove=True, **DEMO_LIMITS)


def stop(container) -> None:
    """Remove a container started here (ignores one already gone)."""
    if container is not None:
        engine.remove_container(container.name)


def leftovers() -> list[str]:
    """Names of this unit's containers still present."""
    return [c.name for c in engine.client().containers.list(all=True, filters={"label": f"{engine.LABEL}.unit=nb02"})]


def cleanup() -> list[str]:
    """Remove this unit's containers (label ``dockercourse.unit=nb02``), nothing else."""
    names = []
    for ctr in engine.client().containers.list(all=True, filters={"label": f"{engine.LABEL}.unit=nb02"}):
        names.append(ctr.name)
        engine.remove_container(ctr.name)
    return names


def container_pid(container) -> int:
    container.reload()
    return int(container.attrs["State"]["Pid"])


@dataclass
class ContainerView:
    """What the Docker host sees of one container."""

    name: str
    pid: int
    comm: str
    ns: dict[str, int | None]
    host_ns: dict[str, int | None]
    host_ref: str
    cgroup: Cgroup
    snapshot: dict = field(repr=False)

    def namespace_table(self):
        return namespace_table(self.ns, self.host_ns, host_label=f"hôte ({self.host_ref})")


def view(container) -> ContainerView:
    """Namespaces and cgroup of a running container, seen from the Docker host."""
    pid = container_pid(container)
    snap = host_snapshot([pid])
    key = str(pid)
    ref = snap.get("ref") or {"comm": "aide --pid=host", "ns": snap["self_ns"]}
    return ContainerView(
        name=container.name, pid=pid, comm=snap["comm"][key],
        ns={k: parse_ns_link(v) for k, v in snap["ns"][key].items()},
        host_ns={k: parse_ns_link(v) for k, v in ref["ns"].items()},
        host_ref=_ref_label(ref["comm"]),
        cgroup=Cgroup(DictTree(snap["cgroup"][key]), snap["proc_cgroup"][key] or ""),
        snapshot=snap,
    )


def _ref_label(comm: str) -> str:
    return "containerd-shim, son parent" if comm.startswith("containerd-shim") else comm


def namespaces(container):
    """DataFrame of the 8 namespace types, container vs Docker host (inode ids, shared?)."""
    return view(container).namespace_table()


def local_namespaces():
    """Fallback without a daemon: this notebook's own namespaces vs PID 1 (when readable)."""
    own = read_namespaces("self")
    init = read_namespaces(1)
    readable = any(v is not None for v in init.values())
    return namespace_table(own, init, container_label="ce notebook",
                           host_label="PID 1 local" if readable else "PID 1 local (illisible)")


@dataclass(repr=False)
class Effects:
    pid1_comm: str
    host_pid: int
    hostname: str
    host_hostname: str
    interfaces: list[str]
    host_interfaces: list[str]
    root_fstype: str
    host_mounts: int
    container_mounts: int
    ipc_key: str
    ipc_in_container: bool
    ipc_visible_on_host: bool
    host_ref: str = "dockerd"  # the host process whose mounts were counted

    def _repr_html_(self) -> str:
        return self.table().to_html()

    def __repr__(self) -> str:
        return self.table().to_string()

    def table(self):
        import pandas as pd

        rows = [
            ("pid", f"PID 1 = {self.pid1_comm}", f"{self.pid1_comm} a le PID {self.host_pid}"),
            ("uts", self.hostname, self.host_hostname),
            ("net", ", ".join(self.interfaces), f"{len(self.host_interfaces)} interfaces : "
             + ", ".join(self.host_interfaces[:6]) + ("…" if len(self.host_interfaces) > 6 else "")),
            ("mnt", f"/ = {self.root_fstype}, {self.container_mounts} montages",
             f"{self.host_mounts} montages (vus par {self.host_ref})"),
            ("ipc", f"segment {self.ipc_key} présent : {oui(self.ipc_in_container)}",
             f"segment {self.ipc_key} présent : {oui(self.ipc_visible_on_host)}"),
        ]
        return pd.DataFrame(rows, columns=["espace de noms", "dans le conteneur", "sur l'hôte Docker"]
                            ).set_index("espace de noms")


def oui(b: bool) -> str:
    """French yes/no for sentences and tables shown to students (never Python's True/False)."""
    return "oui" if b else "non"


_EFFECTS_SCRIPT = script("effects")


def effects(container) -> Effects:
    """Show each namespace's effect: run probes inside the container (``docker exec``),
    read the same things on the Docker host (helper), compare."""
    res = container.exec_run(["python3", "-c", _EFFECTS_SCRIPT])
    if res.exit_code != 0:
        raise RuntimeError(res.output.decode()[-800:])
    inside = json.loads(res.output.decode().strip().splitlines()[-1])
    pid = container_pid(container)
    snap = host_snapshot([pid])
    shmkeys_host = {line.split()[0] for line in snap["shm"] if line.split()}
    mounts_on_host = int((snap.get("ref") or {}).get("mounts") or 0)
    return Effects(
        pid1_comm=inside["comm1"], host_pid=pid, hostname=inside["hostname"],
        host_hostname=snap["hostname"], interfaces=inside["interfaces"],
        host_interfaces=sorted(snap["interfaces"]), root_fstype=inside["root_fstype"],
        host_mounts=mounts_on_host, container_mounts=inside["mounts"],
        ipc_key=inside["shmkey"], ipc_in_container=inside["shm_here"],
        ipc_visible_on_host=inside["shmkey"] in shmkeys_host,
        host_ref=_ref_label((snap.get("ref") or {}).get("comm") or "dockerd"),
    )

