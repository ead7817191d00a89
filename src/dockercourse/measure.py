"""Timings and memory measured live, returned as pandas tables for the notebooks.

Containers vs virtual machines (notebook 01):

- :func:`container_startups` runs ``docker run --rm -i`` N times from the course
  base image and times *launch of the command → the container prints a marker*;
  while the container waits on its stdin it reads the container's cgroup memory
  through the Docker API (``docker stats``), then closes stdin: the container
  exits and ``--rm`` removes it.
- :func:`vm_boots` boots the tiny QEMU VM of :mod:`dockercourse.vm` N times
  (launch of qemu → the guest's ``/init`` prints its marker) and reads qemu's
  RSS; where QEMU cannot run it prints one French sentence and returns the
  committed reference measurements (``data/vm_reference.csv``) instead.
- :func:`comparison`, :func:`plot_comparison`, :func:`kernels` and
  :func:`check_shared_kernel` turn them into the lesson's table, figure and proof.

Column names are French: they are what students read.
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path

from . import engine, vm

READY = "DOCKERCOURSE_PRET"

COL_RUN = "essai"
COL_KIND = "technologie"
COL_READY = "lancement → prêt (s)"
COL_MEM = "mémoire à l'état prêt (Mio)"
COL_PEAK = "mémoire de pointe (Mio)"
COL_KERNEL = "noyau vu (uname -r)"
COL_ACCEL = "accélérateur"
COL_SOURCE = "source"

KIND_CONTAINER = "conteneur"
SOURCE_LIVE = "mesure en direct"
SOURCE_REFERENCE = "référence"
MISSING = "— (pas de mesure)"

REFERENCE_CSV = "vm_reference.csv"
REFERENCE_COLUMNS = ["machine", "date", "accel", "kernel_image", "run", "launch_to_ready_s",
                     "qemu_rss_at_ready_mib", "qemu_peak_rss_mib", "guest_mem_used_mib",
                     "guest_kernel", "host_kernel", "qemu_version"]


def vm_kind(accel: str) -> str:
    return f"VM QEMU ({accel})"


# --------------------------------------------------------------------------- containers


@dataclass
class ContainerRun:
    launch_to_ready_s: float
    total_s: float
    mem_kib: float | None
    peak_kib: float | None
    kernel: str | None
    shim_kib: tuple[float, float] | None = None  # (RSS, private) of its containerd-shim, when visible


def parse_smaps_rollup(text: str) -> tuple[float, float] | None:
    """Pure: ``(Rss, Private_Clean + Private_Dirty)`` in KiB from ``/proc/<pid>/smaps_rollup``."""
    vals: dict[str, float] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
            vals[parts[0][:-1]] = float(parts[1])
    if "Rss" not in vals:
        return None
    return vals["Rss"], vals.get("Private_Clean", 0.0) + vals.get("Private_Dirty", 0.0)


def shim_memory_kib(container_id: str, proc: str | Path = "/proc") -> tuple[float, float] | None:
    """Memory of the ``containerd-shim`` that Docker starts on the host for one container
    (``-id <container id>`` on its command line): ``(RSS, private)`` in KiB. ``None`` when this
    process cannot see it (Docker Desktop, a notebook inside a container, not allowed)."""
    root = Path(proc)
    try:
        entries = [d for d in root.iterdir() if d.name.isdigit()]
    except OSError:
        return None
    for d in entries:
        try:
            cmd = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not cmd or b"containerd-shim" not in cmd[0]:
            continue
        if container_id.encode() not in cmd:
            continue
        try:
            return parse_smaps_rollup((d / "smaps_rollup").read_text())
        except OSError:
            return None
    return None


def cgroup_memory_kib(memory_stats: dict) -> tuple[float | None, float | None]:
    """Pure: ``(used, peak)`` in KiB from the Docker API's ``memory_stats``,
    as ``docker stats`` computes "used" (usage minus inactive page cache, for
    cgroup v1 and v2); peak only exists on cgroup v1 (``max_usage``)."""
    usage = memory_stats.get("usage")
    if usage is None:
        return None, None
    stats = memory_stats.get("stats") or {}
    cache = stats.get("total_inactive_file", stats.get("inactive_file", 0)) or 0
    used = max(usage - cache, 0) / 1024
    peak = memory_stats.get("max_usage")
    return used, (peak / 1024 if peak else None)


def container_run(name: str, image: str = engine.BASE_IMAGE, unit: str = "nb01",
                  timeout: float = 60) -> ContainerRun:
    """One ``docker run --rm -i`` timed from launch to the marker; reads its
    cgroup memory while it waits, then lets it exit. Never leaves it behind."""
    client = engine.client()  # raises DockerUnavailable (French) when no daemon answers
    engine.remove_container(name)
    label_args = [a for k, v in engine.labels(unit=unit).items() for a in ("--label", f"{k}={v}")]
    cmd = ["docker", "run", "--rm", "-i", "--name", name, *label_args, image,
           "sh", "-c", f"echo {READY}; uname -r; cat > /dev/null"]
    lines: list[str] = []
    got = threading.Event()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready_at: list[float] = []

    def reader() -> None:
        for line in proc.stdout:
            if not ready_at and line.strip() == READY:
                ready_at.append(time.perf_counter())
            lines.append(line.strip())
            if len(lines) >= 2:
                got.set()
        got.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    mem = peak = None
    try:
        got.wait(timeout)
        shim = None
        if ready_at:
            stats = client.api.stats(name, stream=False, one_shot=True)
            mem, peak = cgroup_memory_kib(stats.get("memory_stats") or {})
            if not engine.in_container():
                shim = shim_memory_kib(client.api.inspect_container(name)["Id"])
        proc.stdin.close()
        proc.wait(timeout=timeout)
        ended = time.perf_counter()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        engine.remove_container(name)
        thread.join(timeout=5)
    if not ready_at:
        err = proc.stderr.read() if proc.stderr else ""
        if engine._looks_unreachable(err):
            raise engine.DockerUnavailable(engine._unreachable_message(RuntimeError(err)))
        raise RuntimeError(f"le conteneur n'a pas démarré : {err.strip()[:300]}")
    return ContainerRun(launch_to_ready_s=ready_at[0] - t0, total_s=ended - t0, mem_kib=mem, peak_kib=peak,
                        kernel=lines[1] if len(lines) > 1 else None, shim_kib=shim)


def _container_startups(n: int = 5, unit: str = "nb01", image: str = engine.BASE_IMAGE):
    import pandas as pd

    rows, shims = [], []
    for i in range(1, n + 1):
        r = container_run(engine.name(unit, "start", str(i)), image=image, unit=unit)
        rows.append({COL_RUN: i, COL_KIND: KIND_CONTAINER, COL_ACCEL: "—",
                     COL_READY: r.launch_to_ready_s,
                     COL_MEM: None if r.mem_kib is None else r.mem_kib / 1024,
                     COL_PEAK: None if r.peak_kib is None else r.peak_kib / 1024,
                     COL_KERNEL: r.kernel, COL_SOURCE: SOURCE_LIVE})
        if r.shim_kib:
            shims.append(r.shim_kib)
    df = pd.DataFrame(rows)
    if shims:  # not part of the cgroup: kept aside, for what the comparison does not count
        df.attrs["shim_rss_mib"] = statistics.median(s[0] for s in shims) / 1024
        df.attrs["shim_private_mib"] = statistics.median(s[1] for s in shims) / 1024
    return df


@engine.needs_docker
def container_startups(n: int = 5, unit: str = "nb01", image: str = engine.BASE_IMAGE):
    """N containers started one after the other (``docker run --rm`` from the
    course base image): one row each. Without Docker: one French sentence, ``None``."""
    return _container_startups(n=n, unit=unit, image=image)


def memory_verdicts(containers, vms) -> list[str]:
    """Pure: the exercise's French verdicts: do N containers together (their cgroups, then with
    their containerd-shims too) hold less memory than one VM? Verdicts only, no raw numbers:
    they are what a student predicts, and they do not change from run to run."""
    n = len(containers)
    total = float(containers[COL_MEM].sum())
    vm_mem = float(vms[COL_MEM].median())
    out = [f"{n} conteneur{'s' if n > 1 else ''} démarré{'s' if n > 1 else ''} l'un après l'autre ; "
           f"une VM mesurée plus haut.",
           f"leur mémoire à tous (somme des cgroups à l'état prêt) reste sous celle d'une seule VM : "
           f"{'oui' if total < vm_mem else 'non'}"]
    shim = containers.attrs.get("shim_rss_mib")
    if shim is None:
        out.append("avec leurs containerd-shim : non mesuré (ces processus sont invisibles d'ici)")
    else:
        out.append("en comptant aussi le containerd-shim de chacun, elle reste sous celle d'une seule VM : "
                   f"{'oui' if total + n * shim < vm_mem else 'non'}")
    return out


@engine.needs_docker
def try_containers(n: int, vms):
    """Notebook 01's exercise: ``n`` containers, compared with the VM measured above."""
    n = max(1, min(int(n), 20))
    containers = _container_startups(n=n)
    print(f"$ docker run --rm -i --name {engine.name('nb01', 'start', 'N')} --label {engine.LABEL}=1 "
          f"{engine.BASE_IMAGE} sh -c 'echo {READY}; uname -r; cat > /dev/null'    # N = 1 à {n}")
    for line in memory_verdicts(containers, vms):
        print(line)
    return containers


def docker_host_kernel() -> str:
    """The kernel of the machine where dockerd runs (``docker info``): on Linux
    this machine, with Docker Desktop the small VM that hosts the engine."""
    return engine.client().info().get("KernelVersion")


# --------------------------------------------------------------------------- VMs


def vm_boots(n: int = 3, log=print):
    """N boots of the tiny VM, one row each. Where QEMU cannot run, prints one
    French sentence and returns the committed reference measurements."""
    import pandas as pd

    try:
        art = vm.ensure_artifacts(log=log)
        accel = vm.choose_accel()[0]
        results = [vm.boot(accel=accel, artifacts=art) for _ in range(n)]
    except vm.VMUnavailable as err:
        print(f"⚠️  {str(err).splitlines()[0]}")
        return reference_table()
    except vm.VMBootError as err:
        print(f"⚠️  La VM n'a pas démarré ({err}) : voici des mesures de référence à la place.")
        return reference_table()
    rows = []
    for i, r in enumerate(results, start=1):
        rows.append({COL_RUN: i, COL_KIND: vm_kind(r.accel), COL_ACCEL: r.accel,
                     COL_READY: r.launch_to_ready_s,
                     COL_MEM: None if r.qemu_rss_at_ready_kib is None else r.qemu_rss_at_ready_kib / 1024,
                     COL_PEAK: r.qemu_peak_rss_kib / 1024,
                     "mémoire utilisée par l'invité (Mio)": (None if r.guest_mem_used_kib is None
                                                              else r.guest_mem_used_kib / 1024),
                     COL_KERNEL: r.guest_kernel, COL_SOURCE: SOURCE_LIVE})
    df = pd.DataFrame(rows)
    df.attrs["console"] = vm.clean_console(results[0].console) if results else []
    return df


def qemu_version() -> str | None:
    try:
        out = subprocess.run([vm.QEMU, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    first = out.splitlines()[0] if out else ""
    return first.replace("QEMU emulator version ", "") or None


def reference_rows(results: list[vm.BootResult], machine: str | None = None) -> list[dict]:
    """Rows of the reference CSV for real boots made here (see benchmarks/startup.py)."""
    machine = machine or f"{_os_name()}, {_cpu_summary()}"
    qv = qemu_version()
    return [{"machine": machine, "date": date.today().isoformat(), "accel": r.accel,
             "kernel_image": r.kernel_kind, "run": i, "launch_to_ready_s": round(r.launch_to_ready_s, 3),
             "qemu_rss_at_ready_mib": round((r.qemu_rss_at_ready_kib or 0) / 1024, 1),
             "qemu_peak_rss_mib": round(r.qemu_peak_rss_kib / 1024, 1),
             "guest_mem_used_mib": round((r.guest_mem_used_kib or 0) / 1024, 1),
             "guest_kernel": r.guest_kernel, "host_kernel": platform.release(), "qemu_version": qv}
            for i, r in enumerate(results, start=1)]


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


def _cpu_summary() -> str:
    import os

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cœurs {model}".strip()


def reference_path() -> Path:
    return Path(str(resources.files("dockercourse") / "data" / REFERENCE_CSV))


def reference_table(kernel_image: str = "vmlinux"):
    """The committed reference measurements, in the same shape as :func:`vm_boots`
    (only the boots of ``kernel_image``, the one :func:`vm_boots` uses)."""
    import pandas as pd

    ref = pd.read_csv(reference_path())
    ref = ref[ref["kernel_image"] == kernel_image].reset_index(drop=True)
    missing = set(REFERENCE_COLUMNS) - set(ref.columns)
    if missing:
        raise ValueError(f"{REFERENCE_CSV}: missing columns {sorted(missing)}")
    out = pd.DataFrame({
        COL_RUN: ref["run"], COL_KIND: [vm_kind(a) for a in ref["accel"]], COL_ACCEL: ref["accel"],
        COL_READY: ref["launch_to_ready_s"], COL_MEM: ref["qemu_rss_at_ready_mib"],
        COL_PEAK: ref["qemu_peak_rss_mib"], "mémoire utilisée par l'invité (Mio)": ref["guest_mem_used_mib"],
        COL_KERNEL: ref["guest_kernel"],
        COL_SOURCE: [f"{SOURCE_REFERENCE} ({m}, {d})" for m, d in zip(ref["machine"], ref["date"], strict=True)],
    })
    out.attrs["host_kernel"] = str(ref["host_kernel"].iloc[0])
    return out


# --------------------------------------------------------------------------- comparison


def _frames(containers, vms):
    return [df for df in (containers, vms) if df is not None and len(df)]


def comparison(containers, vms):
    """One row per technology: median/min/max launch → ready and memory."""
    import pandas as pd

    rows = []
    for df in _frames(containers, vms):
        for kind, g in df.groupby(COL_KIND, sort=False):
            t = g[COL_READY]
            rows.append({COL_KIND: kind, "essais": len(g),
                         "prêt en (s, médiane)": t.median(), "min (s)": t.min(), "max (s)": t.max(),
                         "mémoire à l'état prêt (Mio, médiane)": g[COL_MEM].median(),
                         "mémoire de pointe (Mio, max)": g[COL_PEAK].max(),
                         "noyau": g[COL_KERNEL].iloc[0], COL_SOURCE: g[COL_SOURCE].iloc[0]})
    if not rows:
        print("Aucune mesure à comparer.")
        return None
    table = pd.DataFrame(rows).set_index(COL_KIND)
    if len(table) == 2:
        c, v = table.iloc[0], table.iloc[1]
        table.attrs["time_ratio"] = v["prêt en (s, médiane)"] / c["prêt en (s, médiane)"]
        mem = "mémoire à l'état prêt (Mio, médiane)"
        table.attrs["memory_ratio"] = v[mem] / c[mem]
        table.attrs["vm_kind"] = str(table.index[1])
        if containers is not None and "shim_rss_mib" in containers.attrs:
            table.attrs["shim_rss_mib"] = containers.attrs["shim_rss_mib"]
            table.attrs["shim_private_mib"] = containers.attrs["shim_private_mib"]
            table.attrs["memory_ratio_with_shim"] = v[mem] / (c[mem] + containers.attrs["shim_rss_mib"])
    rounded = table.round(3)
    rounded.attrs.update(table.attrs)
    return rounded


def ratio_sentence(table) -> str:
    """French sentence with the two ratios of a :func:`comparison` table."""
    if table is None or "time_ratio" not in table.attrs:
        return "Il manque l'une des deux mesures : pas de rapport à calculer."
    a = table.attrs
    lines = [f"Ici, la VM met environ {a['time_ratio']:.0f} fois plus de temps qu'un conteneur pour être "
             f"prête, et occupe environ {a['memory_ratio']:.0f} fois plus de mémoire.",
             "Ce que ce rapport compte : la mémoire du cgroup du conteneur (ses processus) face à celle du "
             "processus qemu qui fait tourner la VM."]
    if "shim_rss_mib" in a:
        lines.append(f"Ce qu'il ne compte pas : le processus containerd-shim que Docker lance sur l'hôte pour "
                     f"chaque conteneur, mesuré ici à {_fr(a['shim_rss_mib'])} Mio (dont "
                     f"{_fr(a['shim_private_mib'])} Mio qui ne sont qu'à lui, le reste étant du code partagé "
                     "avec les autres shims), ni les démons dockerd et containerd, partagés par tous les "
                     "conteneurs. En comptant ce shim tout entier, la VM occupe encore environ "
                     f"{a['memory_ratio_with_shim']:.0f} fois plus de mémoire.")
    else:
        lines.append("Ce qu'il ne compte pas : le processus containerd-shim que Docker lance sur l'hôte pour "
                     "chaque conteneur (une dizaine de Mio ; invisible d'ici), ni les démons dockerd et "
                     "containerd, partagés par tous les conteneurs.")
    if "tcg" in a.get("vm_kind", "").lower():
        lines.append("La VM est émulée (TCG) : ses temps sont ceux d'une émulation logicielle, bien plus lente "
                     "qu'un hyperviseur matériel (KVM).")
    return "\n".join(lines)


def _fr(x: float) -> str:
    """A number as French text: one decimal, decimal comma."""
    return f"{x:.1f}".replace(".", ",")


def plot_comparison(containers, vms):
    """Two panels: launch → ready per run, and memory, both on log scales."""
    import matplotlib.pyplot as plt

    frames = _frames(containers, vms)
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {KIND_CONTAINER: "tab:blue"}
    labels, medians_mem, peaks_mem, bar_colors = [], [], [], []
    for pos, df in enumerate(frames):
        for kind, g in df.groupby(COL_KIND, sort=False):
            color = colors.get(kind, "tab:red")
            ax_t.scatter([pos] * len(g), g[COL_READY], color=color, alpha=0.7, zorder=3)
            med = g[COL_READY].median()
            ax_t.hlines(med, pos - 0.25, pos + 0.25, color=color, lw=2)
            ax_t.annotate(f"{med:.2f} s", (pos + 0.27, med), va="center", fontsize=9)
            labels.append(kind)
            medians_mem.append(g[COL_MEM].median())
            peaks_mem.append(g[COL_PEAK].max())
            bar_colors.append(color)
    ax_t.set_xticks(range(len(labels)), labels)
    ax_t.set_yscale("log")
    _decades(ax_t, [v for df in frames for v in df[COL_READY]])
    ax_t.set_xlim(-0.6, len(labels) - 0.4)
    ax_t.set_ylabel("temps lancement → prêt (s, échelle log)")
    ax_t.set_title("Démarrage : chaque point est un essai, le trait la médiane")
    ax_t.grid(True, which="both", axis="y", alpha=0.3)
    xs = range(len(labels))
    ax_m.bar([x - 0.2 for x in xs], medians_mem, width=0.4, color=bar_colors, label="à l'état prêt")
    ax_m.bar([x + 0.2 for x in xs], peaks_mem, width=0.4, color=bar_colors, alpha=0.45, label="pic")
    ax_m.set_xticks(list(xs), labels)
    ax_m.set_yscale("log")
    _decades(ax_m, [v for v in medians_mem + peaks_mem if v == v and v is not None])
    for x, v in zip(xs, medians_mem, strict=True):
        ax_m.annotate(f"{v:.1f}", (x - 0.2, v), ha="center", va="bottom", fontsize=9)
    ax_m.set_ylabel("mémoire (Mio, échelle log)")
    ax_m.set_title("Mémoire : cgroup du conteneur vs processus qemu")
    ax_m.legend()
    ax_m.grid(True, which="both", axis="y", alpha=0.3)
    fig.suptitle("Conteneur vs machine virtuelle, mesurés sur cette machine")
    fig.tight_layout()
    return fig


def _decades(ax, values) -> None:
    """Whole powers of ten around ``values``, ticks written as plain numbers."""
    import math

    from matplotlib.ticker import FuncFormatter

    vals = [v for v in values if v and v > 0]
    if not vals:
        return
    ax.set_ylim(10 ** math.floor(math.log10(min(vals))), 10 ** math.ceil(math.log10(max(vals)) + 1e-9))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:g}"))


# --------------------------------------------------------------------------- shared kernel


def kernels(containers, vms):
    """Which kernel each party sees (``uname -r``): this notebook, the Docker
    host, the container, the VM."""
    import pandas as pd

    rows = [("ce notebook (platform.release())", platform.release())]
    try:
        rows.append(("hôte Docker (docker info)", docker_host_kernel()))
    except engine.DockerUnavailable:
        rows.append(("hôte Docker (docker info)", None))
    rows.append(("conteneur (uname -r)", None if containers is None else containers[COL_KERNEL].iloc[0]))
    vm_kernel = None if vms is None else vms[COL_KERNEL].iloc[0]
    rows.append(("VM (uname -r, affiché par son /init)", vm_kernel))
    rows = [(who, MISSING if kernel is None or pd.isna(kernel) else kernel) for who, kernel in rows]
    return pd.DataFrame(rows, columns=["qui", "noyau"]).set_index("qui")


def check_shared_kernel(table) -> bool:
    """Prints the conclusion in French; raises AssertionError if the facts
    contradict it (the container must see the Docker host's kernel, the VM
    another one). Returns True when both were checked live."""
    import pandas as pd

    k = [None if v is None or pd.isna(v) or v == MISSING else v for v in table["noyau"]]
    here, host, ctr, guest = k
    host_or_here = host or here
    checked = 0
    if ctr is None or host is None:
        print("Pas de conteneur mesuré (Docker indisponible) : la comparaison côté conteneur est impossible.")
    else:
        assert ctr == host, f"le conteneur voit {ctr}, l'hôte Docker {host} : ce n'est pas le même noyau ?!"
        print("✔ Le conteneur voit exactement le noyau de l'hôte Docker : il n'a pas de noyau à lui.")
        checked += 1
    if guest is None:
        print("Pas de VM mesurée : la comparaison côté VM est impossible.")
    else:
        assert guest != host_or_here, f"la VM voit le même noyau que l'hôte ({guest}) : ce n'est pas une vraie VM ?!"
        print("✔ La VM voit un autre noyau, le sien : elle a démarré son propre système d'exploitation.")
        checked += 1
    return checked == 2


def summary_stats(values) -> tuple[float, float, float]:
    """``(median, min, max)`` of a list of numbers."""
    vals = list(values)
    return statistics.median(vals), min(vals), max(vals)
