"""Notebook 03, « L'architecture de Docker » : the helpers behind each live demo.

- the daemon is just processes: ``dockerd`` → ``containerd`` → ``containerd-shim``
  → the container's process, read from ``/proc`` of the Docker host (a short-lived
  ``--pid=host`` helper container when this Python is not on that host);
- images: build a small image (legacy builder output parsed into steps and cache
  hits), its history as a table, layer sizes;
- containers: the writable layer (``docker diff``, overlay2's upper directory,
  ``docker commit``), the lifecycle observed live, writable layer vs volume;
- registries: push/pull to the course's local registry (:mod:`dockercourse.registry`)
  and what tags and digests are;
- the inner loop of the chapter's diagram, drawn with matplotlib.

Everything created is named ``dockercourse-nb03-*`` and labelled
``dockercourse.unit=nb03`` so that :func:`cleanup` removes exactly that.
Notebook-facing functions are wrapped with :func:`needs_docker` (one French
sentence per cell when no daemon answers).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import engine, registry

UNIT = "nb03"
UNIT_LABEL = f"{engine.LABEL}.unit"
IMAGE = engine.name(UNIT, "app")          # dockercourse-nb03-app
COMMIT_IMAGE = engine.name(UNIT, "commit")
VOLUME = engine.name(UNIT, "data")
REPO = engine.name(UNIT, "app")           # repository name inside the registry

OUI_NON = {True: "oui", False: "non"}
BASE_IMAGE_TAG = engine.BASE_IMAGE
ANSI = re.compile(r"\x1b\[[0-9;]*m")
CONTENT_HASH = re.compile(r"\b(file|multi|dir):([0-9a-f]{64})\b")


def unit_labels(unit: str | None = None, **extra: str) -> dict[str, str]:
    return engine.labels(unit=unit or UNIT, **extra)


_last_skipped_cell: list = [object()]


def _cell_key():
    """The IPython execution count of the running cell (None outside IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    ip = get_ipython()
    return None if ip is None else ip.execution_count


def needs_docker(func):
    """Like :func:`engine.needs_docker`, but a cell that calls several of these
    helpers prints the French sentence only once (per IPython cell)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except engine.DockerUnavailable as err:
            key = _cell_key()
            if key is None or key != _last_skipped_cell[0]:
                print(f"⚠️  Cellule non exécutée : {err}")
            _last_skipped_cell[0] = key
            return None

    return wrapper


# =========================================================================== daemon, client, API


@needs_docker
def cli(*args: str) -> None:
    """``docker <args>`` shown like in a terminal (one French sentence without a daemon)."""
    engine.docker_cli(*args)


@needs_docker
def sdk_version() -> dict:
    """The same question through the Docker SDK: ``client.version()`` (a few keys)."""
    v = engine.client().version()
    keys = ("Version", "ApiVersion", "MinAPIVersion", "Os", "Arch")
    out = {k: v.get(k) for k in keys}
    print("client.version() →", json.dumps(out, indent=2))


def versions_rows(cli_client: dict, cli_server: dict, sdk_lib: str, sdk_server: dict, raw_server: dict,
                  sdk_api: str | None = None) -> list[dict]:
    """Pure: who answers what, as table rows."""
    return [
        {"qui": "client docker (CLI)", "rôle": "client", "version": cli_client.get("Version"),
         "API": cli_client.get("ApiVersion")},
        {"qui": "SDK Python « docker »", "rôle": "client", "version": sdk_lib, "API": sdk_api},
        {"qui": "dockerd vu par la CLI", "rôle": "serveur", "version": cli_server.get("Version"),
         "API": cli_server.get("ApiVersion")},
        {"qui": "dockerd vu par le SDK", "rôle": "serveur", "version": sdk_server.get("Version"),
         "API": sdk_server.get("ApiVersion")},
        {"qui": "dockerd vu par l'API brute", "rôle": "serveur", "version": raw_server.get("Version"),
         "API": raw_server.get("ApiVersion")},
    ]


def live_versions_rows() -> list[dict]:
    """Ask the CLI, the SDK and the raw API for the versions (raises DockerUnavailable)."""
    import subprocess

    import docker

    from . import rawapi

    c = engine.client()
    fmt = '{"client": {"Version": "{{.Client.Version}}", "ApiVersion": "{{.Client.APIVersion}}"}, ' \
          '"server": {"Version": "{{.Server.Version}}", "ApiVersion": "{{.Server.APIVersion}}"}}'
    proc = subprocess.run(["docker", "version", "--format", fmt], capture_output=True, text=True, timeout=30)
    cli_json = json.loads(proc.stdout.strip() or "{}") if proc.returncode == 0 else {}
    return versions_rows(cli_json.get("client", {}), cli_json.get("server", {}), docker.__version__,
                         c.version(), rawapi.get_json("/version"), c.api.api_version)


def versions_facts(rows: list[dict]) -> dict[str, bool]:
    """Pure: do the three server answers agree, and do both clients speak the server's API version?"""
    servers = {(r["version"], r["API"]) for r in rows if r["rôle"] == "serveur"}
    server_api = next(iter(servers))[1] if len(servers) == 1 else None
    return {"same_server": len(servers) == 1 and None not in next(iter(servers)),
            "clients_speak_server_api": server_api is not None
            and all(r["API"] == server_api for r in rows if r["rôle"] == "client")}


@needs_docker
def versions_table():
    """Client versus server versions, asked three ways (a DataFrame; the
    versions depend on the machine)."""
    import pandas as pd

    return pd.DataFrame(live_versions_rows())


@needs_docker
def versions_agree() -> None:
    """The machine-independent conclusions of :func:`versions_table`, as sentences."""
    facts = versions_facts(live_versions_rows())
    print(f"✔ la CLI, le SDK et l'API brute interrogent le même démon et obtiennent la même réponse : "
          f"{OUI_NON[facts['same_server']]}")
    print(f"✔ les deux clients parlent la version d'API du serveur (négociée) : "
          f"{OUI_NON[facts['clients_speak_server_api']]}")


# =========================================================================== processes


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


#: The helper container runs this with the host's PID namespace (``--pid=host``):
#: its ``/proc`` is then the Docker host's. Same parsing as above, standard library only.
HOST_PS_SCRIPT = r"""
import json, os
out = []
for name in os.listdir("/proc"):
    if not name.isdigit():
        continue
    try:
        text = open(f"/proc/{name}/stat").read()
        raw = open(f"/proc/{name}/cmdline", "rb").read()
    except OSError:
        continue
    o, c = text.index("("), text.rindex(")")
    rest = text[c + 2:].split()
    comm = text[o + 1:c]
    cmd = " ".join(p.decode(errors="replace") for p in raw.split(b"\0") if p) or f"[{comm}]"
    out.append({"pid": int(text[:o]), "ppid": int(rest[1]), "comm": comm, "cmdline": cmd})
print(json.dumps(out))
"""


def processes_via_helper(image: str = engine.BASE_IMAGE) -> list[Proc]:
    """The Docker host's processes, seen from a short-lived ``--pid=host`` container
    (works when this notebook is itself in a container, or the daemon is in a VM)."""
    c = engine.client()
    name = engine.name(UNIT, "hostps", str(os.getpid()))
    ctr = c.containers.run(image, ["python3", "-c", HOST_PS_SCRIPT], name=name, detach=True,
                           pid_mode="host", network_mode="none", labels=unit_labels(purpose="host-ps"))
    try:
        ctr.wait(timeout=60)
        data = json.loads(ctr.logs(stdout=True, stderr=False).decode())
    finally:
        ctr.remove(force=True)
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


def host_processes() -> tuple[list[Proc], str]:
    """(processes of the Docker host, how they were read)."""
    if host_point_of_view() == "local":
        return read_processes(), "local"
    return processes_via_helper(), "helper"


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
    return rows


def chain_frame(rows: list[dict], width: int = 110):
    import pandas as pd

    data = [{"pid": r["pid"], "ppid": r["ppid"], "rôle": ROLES[r["role"]],
             "commande": r["cmdline"] if len(r["cmdline"]) <= width else r["cmdline"][:width - 1] + "…"}
            for r in rows]
    return pd.DataFrame(data, columns=["pid", "ppid", "rôle", "commande"])


def chain_facts(rows: list[dict]) -> dict[str, bool]:
    """Pure: the checks the notebook prints about the chain (deterministic booleans)."""
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
        "shim": bool(shims),
        "shim_child_of_containerd": shim_under_containerd,
        "container_child_of_shim": any(r["ppid"] in shims for r in by_role.get("container", [])),
        "runc_running": bool(by_role.get("runc")),
    }


@needs_docker
def process_chain(command: tuple[str, ...] = ("sleep", "300")) -> dict:
    """Start a labelled container, read the Docker host's processes, remove the
    container; returns ``{"frame": DataFrame, "facts": {...}, "how": "local"|"helper"}``."""
    c = engine.client()
    name = engine.name(UNIT, "chain")
    engine.remove_container(name)
    ctr = c.containers.run(engine.BASE_IMAGE, list(command), name=name, detach=True, network_mode="none",
                           labels=unit_labels(purpose="process-chain"))
    try:
        procs, how = host_processes()
        rows = docker_chain(procs, container_id=ctr.id)
    finally:
        ctr.remove(force=True)
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


CHAIN_SENTENCES = [
    ("dockerd", "un processus dockerd tourne sur l'hôte"),
    ("containerd", "containerd tourne à côté de lui"),
    ("containerd_child_of_dockerd", "containerd a été lancé par dockerd (son ppid est celui de dockerd)"),
    ("shim", "le conteneur a son propre containerd-shim"),
    ("shim_child_of_containerd", "le shim est un enfant direct de containerd"),
    ("container_child_of_shim", "le processus du conteneur est un enfant du shim"),
    ("runc_running", "un processus runc tourne encore"),
]


@needs_docker
def print_chain_facts(chain: dict | None) -> None:
    engine.client()
    facts = chain["facts"]
    for key, sentence in CHAIN_SENTENCES:
        print(f"{'✔' if facts[key] else '✘'} {sentence} : {OUI_NON[facts[key]]}")


# =========================================================================== images


def workdir(unit: str = UNIT) -> Path:
    """A build folder in the state directory (not in the repository)."""
    path = engine.state_dir() / unit / "build"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_context(files: dict[str, str], unit: str = UNIT) -> Path:
    """Write the build context (``{"Dockerfile": ..., "app.py": ...}``), removing
    files of a previous run that are not in ``files``. Returns the folder."""
    path = workdir(unit)
    for old in path.iterdir():
        if old.is_file() and old.name not in files:
            old.unlink()
    for fname, text in files.items():
        (path / fname).write_text(text)
    return path


@dataclass
class BuildStep:
    number: int
    total: int
    instruction: str
    cached: bool = False


@dataclass
class BuildResult:
    tag: str
    image_id: str | None
    seconds: float
    steps: list[BuildStep] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    @property
    def cache_hits(self) -> int:
        return sum(s.cached for s in self.steps)


def parse_build_log(lines: list[str]) -> tuple[list[BuildStep], str | None]:
    """Pure: the classic builder's output (``Step N/M : INSTR``, `` ---> Using cache``,
    ``Successfully built <id>``) → steps with their cache hit, and the short image ID."""
    steps: list[BuildStep] = []
    image_id = None
    for line in lines:
        s = line.strip()
        if s.startswith("Step ") and " : " in s:
            head, instr = s.split(" : ", 1)
            n, total = head[len("Step "):].split("/")
            steps.append(BuildStep(int(n), int(total), instr))
        elif s == "---> Using cache" and steps:
            steps[-1].cached = True
        elif s.startswith("Successfully built "):
            image_id = s.split()[-1]
    return steps, image_id


def build(context: str | Path, tag: str = IMAGE, nocache: bool = False) -> BuildResult:
    """Build with the SDK (legacy builder here: BuildKit's output differs and is not parsed)."""
    c = engine.client()
    t0 = time.monotonic()
    lines: list[str] = []
    errors = []
    for chunk in c.api.build(path=str(context), tag=tag, rm=True, forcerm=True, nocache=nocache, decode=True):
        if "stream" in chunk:
            lines.extend(chunk["stream"].splitlines())
        if "error" in chunk:
            errors.append(chunk["error"].strip())
    seconds = time.monotonic() - t0
    if errors:
        raise RuntimeError("La construction de l'image a échoué : " + " / ".join(errors))
    steps, _short = parse_build_log(lines)
    image_id = c.images.get(tag).id
    return BuildResult(tag, image_id, seconds, steps, lines)


def steps_frame(result: BuildResult):
    import pandas as pd

    return pd.DataFrame([{"étape": f"{s.number}/{s.total}", "instruction": s.instruction,
                          "cache utilisé": OUI_NON[s.cached]} for s in result.steps])


@needs_docker
def build_and_show(context: str | Path, label: str, tag: str = IMAGE):
    """Build, print one line (duration, cache hits, ID) and return the result."""
    result = build(context, tag)
    print(f"{label} : {result.seconds:.1f} s, {result.cache_hits}/{len(result.steps)} étapes "
          f"reprises du cache, ID {short_id(result.image_id)}")
    return result


@needs_docker
def show_steps(result: BuildResult | None):
    engine.client()
    return steps_frame(result)


def short_id(image_id: str | None) -> str:
    return (image_id or "").removeprefix("sha256:")[:12]


def human_size(n: float) -> str:
    """Pure: bytes → ``"12.3 MB"`` (decimal units, like the docker CLI)."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def french_units(size_text: str) -> str:
    """Pure: ``"4.8 MB"`` → ``"4,8 Mo"`` (French units and decimal comma, for plots)."""
    number, _, unit = size_text.partition(" ")
    unit = {"B": "o", "kB": "ko", "MB": "Mo", "GB": "Go"}.get(unit, unit)
    return f"{number.replace('.', ',')} {unit}"


def clean_created_by(created_by: str) -> str:
    """Pure: ``/bin/sh -c #(nop)  CMD ["python"]`` → ``CMD ["python"]``;
    ``/bin/sh -c pip install …`` → ``RUN pip install …``."""
    s = CONTENT_HASH.sub(lambda m: f"{m.group(1)}:{m.group(2)[:12]}…", (created_by or "").strip())
    if s.startswith("/bin/sh -c #(nop)"):
        return s[len("/bin/sh -c #(nop)"):].strip()
    if s.startswith("/bin/sh -c "):
        return "RUN " + s[len("/bin/sh -c "):].strip()
    return s or "(image de base importée)"


def history_rows(history: list[dict]) -> list[dict]:
    """Pure: ``docker history`` JSON (newest first) → rows oldest first."""
    rows = []
    for h in reversed(history):
        rows.append({"couche": short_id(h.get("Id")) if h.get("Id", "<missing>") != "<missing>" else "<missing>",
                     "instruction": clean_created_by(h.get("CreatedBy", "")),
                     "octets": int(h.get("Size") or 0),
                     "commentaire": h.get("Comment") or ""})
    return rows


@needs_docker
def history_frame(image: str = IMAGE, width: int = 70, last: int | None = None):
    """``docker history`` as a DataFrame (oldest layer first, or only the ``last``
    ones), sizes readable; the exact sizes are in ``.attrs["octets"]``."""
    import pandas as pd

    rows = history_rows(engine.client().api.history(image))
    df = pd.DataFrame(rows)
    df["instruction"] = [i if len(i) <= width else i[:width - 1] + "…" for i in df["instruction"]]
    df["taille"] = [human_size(n) for n in df["octets"]]
    out = df[["instruction", "taille", "commentaire"]].copy()
    out.attrs["octets"] = [int(n) for n in df["octets"]]  # for the chart (exact sizes vary between machines)
    if last is not None:
        out = out.tail(last)
        out.attrs["octets"] = [int(n) for n in df["octets"]][-last:]
    return out


@needs_docker
def plot_layer_sizes(df):
    """Horizontal bar chart of the layer sizes (MB), annotated."""
    import matplotlib.pyplot as plt
    import pandas as pd

    engine.client()
    sizes = pd.Series(df.attrs["octets"], dtype=float) / 1e6
    labels = [i if len(i) <= 45 else i[:44] + "…" for i in df["instruction"]]
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(df) + 1.2))
    ax.barh(range(len(df)), sizes, color="#2496ed")
    ax.set_yticks(range(len(df)), labels)
    ax.invert_yaxis()
    for y, (mb, text) in enumerate(zip(sizes, df["taille"], strict=True)):
        ax.text(mb, y, " " + french_units(text), va="center", fontsize=9)
    ax.set_xlabel("taille de la couche (Mo)")
    ax.set_title("Couches de l'image, de la plus ancienne (en haut) à la plus récente")
    ax.set_xlim(0, max(sizes.max() * 1.25, 1))
    fig.tight_layout()
    plt.show()


def build_table(results: list[tuple[str, BuildResult]]):
    import pandas as pd

    return pd.DataFrame([{"construction": label, "durée": f"{r.seconds:.2f} s",
                          "étapes en cache": f"{r.cache_hits}/{len(r.steps)}", "ID": short_id(r.image_id)}
                         for label, r in results])


@needs_docker
def compare_builds(named: dict[str, BuildResult | None]):
    """Print the verdicts about IDs (deterministic) and return the timing table."""
    engine.client()
    first, again, changed = named["premier build"], named["rebuild identique"], named["app.py modifié"]
    print(f"✔ même contenu → même ID : {OUI_NON[first.image_id == again.image_id]}")
    print(f"✔ un fichier change → nouvel ID : {OUI_NON[first.image_id != changed.image_id]}")
    everything = again.cache_hits == len(again.steps) - 1  # FROM is never "Using cache"
    print(f"✔ le rebuild identique a repris du cache toutes les étapes après FROM : {OUI_NON[everything]}")
    print(f"✔ après la modification, étapes reprises du cache : {changed.cache_hits}/{len(changed.steps)}")
    return build_table(list(named.items()))


# =========================================================================== containers


DIFF_KINDS = {0: "C (modifié)", 1: "A (ajouté)", 2: "D (supprimé)"}


def diff_rows(changes: list[dict]) -> list[dict]:
    """Pure: ``docker diff`` JSON → rows sorted by path."""
    return sorted(({"type": DIFF_KINDS.get(ch["Kind"], str(ch["Kind"])), "chemin": ch["Path"]}
                   for ch in changes or []), key=lambda r: r["chemin"])


def upper_dir_entries(upper: str | Path) -> list[dict]:
    """What overlay2's upper (writable) directory holds: files, folders, and
    *whiteouts* (character devices 0/0 that hide a deleted file of a lower layer)."""
    out = []
    upper = Path(upper)
    for root, dirs, files in os.walk(upper):
        for n in sorted(dirs) + sorted(files):
            p = Path(root) / n
            st = p.lstat()
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                kind = "whiteout (fichier supprimé)"
            elif stat.S_ISDIR(st.st_mode):
                kind = "dossier"
            else:
                kind = "fichier"
            out.append({"chemin": "/" + str(p.relative_to(upper)), "nature": kind})
    return sorted(out, key=lambda r: r["chemin"])


@needs_docker
def start_rw_container(image: str = IMAGE):
    """A long-running container (``sleep infinity``) to play with."""
    c = engine.client()
    name = engine.name(UNIT, "rw")
    engine.remove_container(name)
    return c.containers.run(image, ["sleep", "infinity"], name=name, detach=True,
                            network_mode="none", labels=unit_labels(purpose="writable-layer"))


@needs_docker
def exec_show(container, command: str) -> None:
    """``docker exec <name> sh -c <command>``, printed like the CLI."""
    engine.client()
    print(f"$ docker exec {container.name} sh -c '{command}'")
    code, out = container.exec_run(["sh", "-c", command])
    text = out.decode(errors="replace")
    if text:
        print(text, end="" if text.endswith("\n") else "\n")
    if code != 0:
        print(f"(code de sortie {code})")


@needs_docker
def diff_frame(container):
    import pandas as pd

    engine.client()
    return pd.DataFrame(diff_rows(container.diff()), columns=["type", "chemin"])


@needs_docker
def writable_layer(container):
    """The container's overlay2 directories, seen from the Docker host."""
    import pandas as pd

    engine.client()
    container.reload()
    gd = container.attrs.get("GraphDriver") or {}
    data = gd.get("Data") or {}
    lowers = [p for p in (data.get("LowerDir") or "").split(":") if p]
    upper = data.get("UpperDir")
    print(f"Pilote de stockage : {gd.get('Name')}")
    print(f"Couches en lecture seule (LowerDir) : {len(lowers)} dossiers superposés")
    if gd.get("Name") != "overlay2" or not upper:
        print("Ce pilote n'expose pas de dossier « upper » : rien de plus à montrer ici.")
        return None
    if host_point_of_view() != "local" or not Path(upper).exists():
        print("La couche en écriture est un dossier de l'hôte Docker, invisible d'ici "
              "(Docker Desktop ou notebook dans un conteneur).")
        return None
    print("Couche en écriture (UpperDir) : un simple dossier de l'hôte, "
          f"…/{Path(upper).parent.name[:12]}…/{Path(upper).name}")
    return pd.DataFrame(upper_dir_entries(upper), columns=["chemin", "nature"])


@needs_docker
def image_unchanged(image: str, before: BuildResult | None) -> None:
    """Print and return whether the image still has the ID it had when built."""
    now = engine.client().images.get(image).id
    same = now == before.image_id
    print(f"✔ l'image {image} a toujours le même ID ({short_id(now)}) : {OUI_NON[same]}")


@needs_docker
def run_once(image: str, command: str) -> None:
    """``docker run --rm <image> sh -c <command>``: the output, printed."""
    c = engine.client()
    print(f"$ docker run --rm {image} sh -c '{command}'")
    out = c.containers.run(image, ["sh", "-c", command], remove=True, network_mode="none",
                           name=engine.name(UNIT, "run-once"),
                           labels=unit_labels(purpose="run-once")).decode(errors="replace")
    print(out, end="" if out.endswith("\n") else "\n")


@needs_docker
def commit(container, repository: str = COMMIT_IMAGE, tag: str = "v1", base: str = IMAGE):
    """``docker commit``: the writable layer becomes a new read-only layer on top
    of the image's. Prints the layer counts; returns the new image."""
    c = engine.client()
    # (the new image keeps the container's labels, dockercourse.unit included)
    img = container.commit(repository=repository, tag=tag, message="couche en écriture figée par docker commit")
    before = len(c.images.get(base).attrs["RootFS"]["Layers"])
    after = len(img.attrs["RootFS"]["Layers"])
    print(f"$ docker commit {container.name} {repository}:{tag}")
    print(f"couches de {base} : {before} — couches de {repository}:{tag} : {after} "
          f"(une de plus : {OUI_NON[after == before + 1]})")
    return img


@needs_docker
def remove_image(name: str) -> None:
    import docker

    c = engine.client()
    try:
        c.images.remove(name)
        print(f"$ docker rmi {name}")
    except docker.errors.ImageNotFound:
        pass


@needs_docker
def remove_container(container) -> None:
    engine.client()
    container.remove(force=True, v=True)
    print(f"conteneur {container.name} supprimé")


LIFECYCLE = [
    ("create", "docker create"),
    ("start", "docker start"),
    ("pause", "docker pause"),
    ("unpause", "docker unpause"),
    ("stop", "docker stop"),
    ("rm", "docker rm"),
]


@needs_docker
def lifecycle(image: str = IMAGE):
    """Drive one container through its lifecycle and read its state from the
    daemon after each command. Returns a DataFrame (command → observed state)."""
    import docker
    import pandas as pd

    c = engine.client()
    name = engine.name(UNIT, "lifecycle")
    engine.remove_container(name)
    rows = []
    ctr = None

    def observe(cmd: str) -> None:
        try:
            state = c.api.inspect_container(name)["State"]
            status, running, paused = state["Status"], state["Running"], state["Paused"]
            pid = state["Pid"]
        except docker.errors.NotFound:
            status, running, paused, pid = "(supprimé : introuvable)", False, False, 0
        rows.append({"commande": f"{cmd} {name}" if cmd != "docker create" else f"{cmd} --name {name} …",
                     "état (State.Status)": status, "Running": OUI_NON[running], "Paused": OUI_NON[paused],
                     "processus sur l'hôte": OUI_NON[pid > 0]})

    try:
        for action, cmd in LIFECYCLE:
            if action == "create":
                ctr = c.containers.create(image, ["sleep", "infinity"], name=name, init=True,
                                          network_mode="none", labels=unit_labels(purpose="lifecycle"))
            elif action == "start":
                ctr.start()
            elif action == "pause":
                ctr.pause()
            elif action == "unpause":
                ctr.unpause()
            elif action == "stop":
                ctr.stop(timeout=5)
            elif action == "rm":
                ctr.remove()
            observe(cmd)
    finally:
        engine.remove_container(name)
    return pd.DataFrame(rows)


@needs_docker
def volume_vs_writable_layer(image: str = IMAGE):
    """Write one file in a volume and one in the writable layer, remove the
    container, look again from a new container. Returns a DataFrame."""
    import pandas as pd

    c = engine.client()
    import docker

    try:
        c.volumes.get(VOLUME).remove(force=True)
    except docker.errors.NotFound:
        pass
    vol = c.volumes.create(VOLUME, labels=unit_labels(purpose="volume-demo"))
    mounts = {VOLUME: {"bind": "/donnees", "mode": "rw"}}
    first = engine.name(UNIT, "writer")
    second = engine.name(UNIT, "reader")
    for n in (first, second):
        engine.remove_container(n)
    write = "echo 'écrit par le 1er conteneur' > /donnees/volume.txt && echo 'idem' > /app/couche.txt"
    print(f"$ docker run --name {first} -v {VOLUME}:/donnees {image} sh -c \"{write}\"")
    ctr = c.containers.run(image, ["sh", "-c", write], name=first, volumes=mounts, detach=True,
                           network_mode="none", labels=unit_labels(purpose="volume-demo"))
    ctr.wait(timeout=60)
    print(f"$ docker rm {first}")
    ctr.remove()
    check = ("for f in /donnees/volume.txt /app/couche.txt; do "
             "if [ -e $f ]; then echo \"$f:présent\"; else echo \"$f:absent\"; fi; done")
    print(f"$ docker run --rm --name {second} -v {VOLUME}:/donnees {image} sh -c '…' (les fichiers sont-ils là ?)")
    out = c.containers.run(image, ["sh", "-c", check], name=second, volumes=mounts, remove=True,
                           network_mode="none", labels=unit_labels(purpose="volume-demo")).decode()
    found = dict(line.split(":", 1) for line in out.split())
    where = {"/donnees/volume.txt": "dans le volume " + VOLUME, "/app/couche.txt": "dans la couche en écriture"}
    rows = [{"fichier": f, "écrit": where[f], "après suppression du conteneur": found.get(f, "?")}
            for f in where]
    vol.reload()
    return pd.DataFrame(rows)


# =========================================================================== registries


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
                           labels=unit_labels(purpose="hub")).decode()[:300])
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


# =========================================================================== inner loop


@needs_docker
def run_app(image: str = IMAGE, port: int = 5000, timeout: float = 30):
    """« run » then « test » by hand: start the web app detached, wait for its log,
    ask it ``GET /`` from inside the container, show the answer, remove it."""
    c = engine.client()
    name = engine.name(UNIT, "run")
    engine.remove_container(name)
    print(f"$ docker run -d --name {name} {image}")
    ctr = c.containers.run(image, name=name, detach=True, network_mode="none",
                           labels=unit_labels(purpose="run-app"))
    try:
        # Docker copies the two pipes in separate goroutines, so the interleaving
        # of `docker logs` is a race: show each stream on its own, in its order.
        deadline = time.monotonic() + timeout
        out = err = ""
        while time.monotonic() < deadline and not ("Debug mode" in out and "CTRL+C" in err):
            time.sleep(0.2)
            out = ctr.logs(stdout=True, stderr=False).decode(errors="replace")
            err = ctr.logs(stdout=False, stderr=True).decode(errors="replace")
        print(f"$ docker logs {name}")
        for stream, text in (("stdout", out), ("stderr", err)):
            for line in ANSI.sub("", text).strip().splitlines():
                print(f"   {stream} │ {line.strip()}")
        probe = ("import urllib.request; "
                 f"print(urllib.request.urlopen('http://127.0.0.1:{port}/').read().decode(), end='')")
        code, out = ctr.exec_run(["python", "-c", probe])
        print(f"$ docker exec {name} python -c \"urllib.request.urlopen('http://127.0.0.1:{port}/')…\"")
        print("   " + out.decode(errors="replace").strip())
        if code != 0:
            print(f"(code de sortie {code})")
    finally:
        ctr.remove(force=True)

INNER_LOOP = [
    ("Code", "écrire app.py et test_app.py", "Path(...).write_text(...) dans ce notebook"),
    ("Dockerfile", "décrire l'image", "FROM python:3.13-slim … CMD"),
    ("Build", "construire l'image (cache !)", f"docker build -t {IMAGE} ."),
    ("Compose (optionnel)", "décrire plusieurs services", "docker compose up (pas utilisé ici)"),
    ("Run", "lancer un conteneur", f"docker run -d {IMAGE}:v2"),
    ("Test", "vérifier le comportement", f"docker run --rm {IMAGE}:v2 python -m unittest"),
    ("Push", "publier dans un registre", f"docker push 127.0.0.1:PORT/{REPO}:1.0"),
]


def inner_loop_frame():
    import pandas as pd

    return pd.DataFrame([{"étape": s, "rôle": r, "commande utilisée ici": c} for s, r, c in INNER_LOOP])


def plot_inner_loop():
    """The chapter's « inner loop » diagram: boxes and arrows, with the
    command used in this notebook under each step, and the loop back to the code."""
    import textwrap

    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    n = len(INNER_LOOP)
    fig, ax = plt.subplots(figsize=(14, 4.6))
    xs = [i * 2.0 for i in range(n)]
    y = 1.0
    for i, ((step, role, cmd), x) in enumerate(zip(INNER_LOOP, xs, strict=True)):
        optional = "optionnel" in step
        ax.add_patch(FancyBboxPatch((x - 0.8, y - 0.35), 1.6, 0.7, boxstyle="round,pad=0.05",
                                    facecolor="#e8f1fb" if not optional else "#f4f4f4",
                                    edgecolor="#2496ed", linestyle="--" if optional else "-", linewidth=1.5))
        title = step.replace(" (optionnel)", "\n(optionnel)")
        ax.text(x, y + (0.12 if optional else 0.08), title, ha="center", va="center", fontsize=10,
                fontweight="bold", linespacing=0.9)
        ax.text(x, y - 0.22, textwrap.fill(role, 24), ha="center", va="center", fontsize=7.5)
        ax.plot([x, x], [y - 0.42, y - 0.58], color="#999999", linewidth=0.8)
        wrapped = textwrap.fill(cmd, 26, break_on_hyphens=False, break_long_words=False)
        ax.text(x, y - 0.62, wrapped, ha="center", va="top", fontsize=7, family="monospace", color="#333333",
                bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "edgecolor": "#cccccc"})
        if i < n - 1:
            ax.add_patch(FancyArrowPatch((x + 0.85, y), (xs[i + 1] - 0.85, y), arrowstyle="-|>",
                                         mutation_scale=14, color="#2496ed"))
    test_x = xs[[s for s, _, _ in INNER_LOOP].index("Test")]
    ax.add_patch(FancyArrowPatch((test_x, y + 0.4), (xs[0], y + 0.4), connectionstyle="arc3,rad=0.25",
                                 arrowstyle="-|>", mutation_scale=14, color="#e8590c", linewidth=1.5))
    ax.text((test_x + xs[0]) / 2, y + 1.42, "boucle interne : on corrige le code et on recommence",
            ha="center", color="#e8590c", fontsize=10)
    ax.set_xlim(-1, xs[-1] + 1.4)
    ax.text(xs[-1], y - 1.3, "→ le TP", ha="center", fontsize=10, fontweight="bold", color="#2496ed")
    ax.set_ylim(-0.5, 2.6)
    ax.axis("off")
    ax.set_title("Inner loop : le cycle de développement d'une application Docker")
    fig.tight_layout()
    plt.show()


# =========================================================================== cleanup


@needs_docker
def cleanup(unit: str = UNIT, quiet: bool = False) -> dict[str, int]:
    """Remove what this unit created: containers, images (all their tags,
    registry names included), volumes with ``dockercourse.unit=<unit>``, and its
    local registry (process + temp folder)."""
    done = engine.clean(selector=f"{UNIT_LABEL}={unit}", quiet=True)
    counts = {"conteneurs": done["containers"], "images": done["images"], "volumes": done["volumes"],
              "registre": 0}
    global _registry
    if _registry is not None and unit == UNIT:
        _registry.stop()
        _registry = None
        counts["registre"] += 1
    if registry.stop_stale(unit):
        counts["registre"] += 1
    if not quiet:
        print("Nettoyage : " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return counts


@needs_docker
def leftovers(unit: str = UNIT) -> dict[str, int]:
    """What is still there for this unit (the notebook's last cell prints it: all zeros)."""
    c = engine.client()
    flt = {"label": f"{UNIT_LABEL}={unit}"}
    procs = [p for p in read_processes() if p.comm in registry.BINARIES and "dockercourse-registry-" in p.cmdline]
    return {"conteneurs": len(c.containers.list(all=True, filters=flt)),
            "images": len(c.images.list(filters=flt)),
            "volumes": len(c.volumes.list(filters=flt)),
            "registres": len(procs)}
