"""Live experiments: what the kernel does at each limit (memory/OOM, CPU throttling, fork bomb),
and namespaces without Docker (``unshare``).

Each experiment starts labelled containers running a script from ``scripts/``, samples their
cgroup from the helper container, and always removes what it started.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .. import engine
from .cgroups import MIB
from .containers import container_pid, run_command, run_container
from .helper import Sampler, script


@dataclass
class MemoryResult:
    samples: object  # DataFrame: temps (s), utilisation (Mio), limite (Mio), refus (limit_hits)
    limit_mib: float
    oom_killed: bool
    exit_code: int
    events: dict[str, int]
    allocated_mib: int
    peak_mib: float
    version: int
    commands: list[str] = field(default_factory=list)  # what a student types to repeat it

    def summary(self) -> str:
        return (f"le conteneur a été tué par le noyau : {'oui' if self.oom_killed else 'non'} "
                f"(OOMKilled={str(self.oom_killed).lower()}, code de sortie {self.exit_code})")


_ALLOC_SCRIPT = script("alloc")


def go_command(part: str) -> str:
    """The ``docker exec`` that gives the start signal the scripts wait for (``/tmp/go``)."""
    return f"docker exec {engine.name('nb02', part)} touch /tmp/go"


def _go(container) -> None:
    res = container.exec_run(["touch", "/tmp/go"])
    if res.exit_code != 0:
        raise RuntimeError(res.output.decode())


def memory_experiment(limit: str = "64m", step_mib: int = 4, max_mib: int = 256, pause: float = 0.1,
                      timeout: float = 60) -> MemoryResult:
    """A process allocates ``step_mib`` MiB at a time under ``--memory limit --memory-swap limit``
    until the kernel OOM-kills it; its cgroup is sampled from the host meanwhile."""
    import pandas as pd

    args = [str(step_mib), str(max_mib), str(pause)]
    opts = dict(mem_limit=limit, memswap_limit=limit, pids_limit=20)
    commands = [run_command("oom", args, "alloc", **opts), go_command("oom")]
    ctr = run_container("oom", ["python3", "-c", _ALLOC_SCRIPT, *args], **opts)
    sampler = None
    try:
        pid = container_pid(ctr)
        sampler = Sampler([pid], interval=0.02, duration=timeout)
        _go(ctr)
        status = ctr.wait(timeout=timeout)
        samples = sampler.finish()
        ctr.reload()
        state = ctr.attrs["State"]
        logs = ctr.logs(stdout=True, stderr=False).decode().split()
    finally:
        if sampler is not None:
            sampler.close()
        engine.remove_container(ctr.name)
    rows, events, version, peak = [], {}, 1, 0
    limit_mib = None
    for s in samples:
        cg = sampler.cgroups(s)[str(pid)]
        usage = cg.memory_usage()
        if usage is None:
            continue
        version = cg.version
        lim = cg.memory_limit()
        limit_mib = lim / MIB if lim else limit_mib
        ev = cg.memory_events()
        events = ev or events
        peak = max(peak, cg.memory_peak() or 0, usage)
        rows.append((s["t"], usage / MIB, lim / MIB if lim else None, ev.get("limit_hits", 0)))
    df = pd.DataFrame(rows, columns=["temps (s)", "utilisation (Mio)", "limite (Mio)", "refus à la limite"])
    if not df.empty:
        df["temps (s)"] -= df["temps (s)"].iloc[0]
    allocated = max((int(x) for x in logs if x.isdigit()), default=0)
    return MemoryResult(samples=df, limit_mib=limit_mib or 0.0, oom_killed=bool(state.get("OOMKilled")),
                        exit_code=int(status.get("StatusCode", state.get("ExitCode", -1))),
                        events=events, allocated_mib=allocated, peak_mib=peak / MIB,
                        version=version, commands=commands)


def plot_memory(res: MemoryResult):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    df = res.samples
    ax.plot(df["temps (s)"], df["utilisation (Mio)"], marker=".", label="mémoire utilisée par le cgroup")
    ax.axhline(res.limit_mib, color="red", linestyle="--", label=f"limite --memory ({res.limit_mib:g} Mio)")
    ax.set_xlabel("temps depuis le début de l'allocation (s)")
    ax.set_ylabel("mémoire (Mio)")
    ax.set_title(f"Allocation pas à pas sous --memory {res.limit_mib:g}m"
                 + (" : le noyau tue le processus (OOM)" if res.oom_killed else " : limite jamais atteinte"))
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


@dataclass
class CpuResult:
    samples: object   # DataFrame: temps (s), conteneur, temps CPU cumulé (s)
    summary: object   # DataFrame per container
    version: int
    commands: list[str] = field(default_factory=list)  # what a student types to repeat it

    def limited(self) -> dict:
        return self.summary.loc["--cpus 0.5"].to_dict()

    def unlimited(self) -> dict:
        return self.summary.loc["sans limite"].to_dict()


_BUSY_SCRIPT = script("busy")


def cpu_experiment(cpus: float = 0.5, seconds: float = 3.0) -> CpuResult:
    """Two busy loops side by side for ``seconds``: one under ``--cpus``, one unlimited.
    Returns the CPU time each got (cgroup accounting) and the throttling counters."""
    import pandas as pd

    labels_ = {f"--cpus {cpus:g}": dict(nano_cpus=int(cpus * 1e9)), "sans limite": {}}
    common = dict(mem_limit="64m", memswap_limit="64m", pids_limit=20)
    commands = [run_command(f"cpu{i}", [f"{seconds:g}"], "busy", **common, **kw)
                for i, kw in enumerate(labels_.values())]
    commands += [go_command(f"cpu{i}") for i in range(len(labels_))]
    ctrs = {}
    sampler = None
    try:
        for i, (lab, kw) in enumerate(labels_.items()):
            ctrs[lab] = run_container(f"cpu{i}", ["python3", "-c", _BUSY_SCRIPT, f"{seconds:g}"], **common, **kw)
        pids = {lab: container_pid(c) for lab, c in ctrs.items()}
        sampler = Sampler(pids.values(), interval=0.1, duration=seconds + 30)
        for c in ctrs.values():
            _go(c)
        for c in ctrs.values():
            c.wait(timeout=seconds + 30)
        samples = sampler.finish()
    finally:
        if sampler is not None:
            sampler.close()
        for c in ctrs.values():
            engine.remove_container(c.name)
    rows, last, first, version = [], {}, {}, 1
    for s in samples:
        for lab, pid in pids.items():
            cg = sampler.cgroups(s)[str(pid)]
            st = cg.cpu_stat()
            if "usage_usec" not in st:
                continue
            version = cg.version
            t = (s.get("tp") or {}).get(str(pid), s["t"])  # when this cgroup was read
            first.setdefault(lab, (t, st))
            last[lab] = (t, st)
            rows.append((t, lab, st["usage_usec"] / 1e6, cg.cpu_limit()))
    df = pd.DataFrame(rows, columns=["temps (s)", "conteneur", "temps CPU cumulé (s)", "limite (CPU)"])
    summ = []
    for lab in labels_:
        (t0, s0), (t1, s1) = first[lab], last[lab]
        wall = max(t1 - t0, 1e-9)
        summ.append((lab, (s1["usage_usec"] - s0["usage_usec"]) / 1e6 / wall,
                     s1.get("nr_periods", 0), s1.get("nr_throttled", 0), s1.get("throttled_usec", 0) / 1e6))
    summary = pd.DataFrame(summ, columns=["conteneur", "part de CPU mesurée", "périodes (nr_periods)",
                                          "périodes bridées (nr_throttled)", "temps bridé (s)"]
                           ).set_index("conteneur")
    if not df.empty:
        df["temps (s)"] -= df["temps (s)"].min()
    return CpuResult(samples=df, summary=summary, version=version, commands=commands)


def cpu_share(samples, window: float = 0.5):
    """Pure: CPU share of each container over sliding windows of about ``window`` seconds
    (cumulated CPU time gained / wall time elapsed), from :attr:`CpuResult.samples`.

    Over one 0.1 s sampling interval the share is noisy: the helper competes for the same
    2 cores, so a reading that comes 30 ms late makes a single thread look like 1.3 cores.
    A window of several samples keeps that error small."""
    import pandas as pd

    rows = []
    for lab, grp in samples.groupby("conteneur", sort=False):
        t = grp["temps (s)"].to_numpy()
        used = grp["temps CPU cumulé (s)"].to_numpy()
        j = 0
        for i in range(1, len(t)):
            while j < i - 1 and t[i] - t[j + 1] >= window:
                j += 1
            if t[i] - t[j] > 0:
                rows.append((t[i], lab, (used[i] - used[j]) / (t[i] - t[j])))
    return pd.DataFrame(rows, columns=["temps (s)", "conteneur", "part d'un cœur"])


def plot_cpu(res: CpuResult):
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
    for lab, grp in cpu_share(res.samples).groupby("conteneur", sort=False):
        ax1.plot(grp["temps (s)"], grp["part d'un cœur"], marker=".", label=lab)
    ax1.axhline(0.5, color="red", linestyle="--", label="quota --cpus 0.5")
    ax1.set_xlabel("temps écoulé (s)")
    ax1.set_ylabel("part d'un cœur (CPU)")
    ax1.set_ylim(bottom=0)
    ax1.set_title("Boucle active : CPU obtenu (moyenne sur 0,5 s)")
    ax1.legend()
    summ = res.summary
    ax2.bar(summ.index, summ["part de CPU mesurée"], color=["tab:blue", "tab:orange"])
    ax2.set_ylabel("part d'un cœur (CPU)")
    ax2.set_title("Part de CPU mesurée")
    ax2.axhline(0.5, color="red", linestyle="--", label="quota --cpus 0.5")
    ax2.legend()
    fig.tight_layout()
    return fig


def throttling_consistent(summary_row: dict, quota: float = 0.5) -> bool:
    """Pure: the limited container was throttled, or it never reached its quota (a loaded
    machine gave it less CPU than allowed, so the kernel had nothing to throttle)."""
    return summary_row["périodes bridées (nr_throttled)"] > 0 or summary_row["part de CPU mesurée"] < 0.9 * quota



@dataclass
class PidsResult:
    samples: object  # DataFrame: temps (s), processus (pids.current), processus sur l'hôte
    limit: int | None
    max_seen: int
    refused_forks: int
    other_container_ok: bool
    version: int
    commands: list[str] = field(default_factory=list)  # what a student types to repeat it


_BOMB_SCRIPT = script("forkbomb")


def pids_experiment(limit: int = 20, seconds: float = 3.0) -> PidsResult:
    """A fork bomb under ``--pids-limit``: count its processes over time, check that another
    container still starts meanwhile, then kill it (all its processes die with its PID 1)."""
    import pandas as pd

    opts = dict(pids_limit=limit, mem_limit="256m", memswap_limit="256m", nano_cpus=500_000_000)
    witness = engine.name("nb02", "witness")
    commands = [run_command("forkbomb", [], "forkbomb", **opts), go_command("forkbomb"),
                f"docker run --rm --name {witness} --label {engine.LABEL}=1 {engine.BASE_IMAGE} "
                "python3 -c \"print('ok')\"",
                f"docker kill {engine.name('nb02', 'forkbomb')}"]
    ctr = run_container("forkbomb", ["python3", "-c", _BOMB_SCRIPT], **opts)
    sampler = None
    try:
        pid = container_pid(ctr)
        sampler = Sampler([pid], interval=0.1, duration=seconds + 2, stop_when_gone=True)
        _go(ctr)
        time.sleep(seconds / 2)
        other = engine.client().containers.run(
            engine.BASE_IMAGE, ["python3", "-c", "print('ok')"], name=engine.name("nb02", "witness"),
            labels=engine.labels(unit="nb02", role="witness"), remove=True)
        other_ok = other.decode().strip() == "ok"
        time.sleep(seconds / 2)
        ctr.kill()
        samples = sampler.finish()
    finally:
        if sampler is not None:
            sampler.close()
        engine.remove_container(ctr.name)
        engine.remove_container(engine.name("nb02", "witness"))
    rows, lim, refused, version = [], None, 0, 1
    for s in samples:
        cg = sampler.cgroups(s)[str(pid)]
        cur = cg.pids_current()
        if cur is None:
            continue
        version = cg.version
        lim = cg.pids_max()
        refused = cg.pids_events().get("max", refused)
        rows.append((s["t"], cur, s["nprocs"]))
    df = pd.DataFrame(rows, columns=["temps (s)", "processus du conteneur", "processus sur l'hôte"])
    if not df.empty:
        df["temps (s)"] -= df["temps (s)"].iloc[0]
    return PidsResult(samples=df, limit=lim, max_seen=int(df["processus du conteneur"].max()) if len(df) else 0,
                      refused_forks=refused, other_container_ok=other_ok, version=version,
                      commands=commands)


def plot_pids(res: PidsResult):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    df = res.samples
    ax.plot(df["temps (s)"], df["processus du conteneur"], marker=".", label="processus dans le conteneur")
    if res.limit:
        ax.axhline(res.limit, color="red", linestyle="--", label=f"--pids-limit {res.limit}")
    ax.set_xlabel("temps (s)")
    ax.set_ylabel("nombre de processus")
    ax.set_ylim(0, max(res.limit or 0, res.max_seen) * 1.5 + 1)
    ax.set_title("Bombe fork contenue par le cgroup pids")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


# =========================================================================== unshare, without Docker


def unshare_demo() -> dict[str, str]:
    """Namespaces without Docker, with util-linux ``unshare`` (root needed)."""
    import shutil
    import socket
    import subprocess

    if shutil.which("unshare") is None:
        raise RuntimeError("La commande « unshare » (util-linux) est introuvable sur cette machine.")
    ps = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "ps", "-eo", "pid,comm"],
                        capture_output=True, text=True, timeout=30)
    uts = subprocess.run(["unshare", "--uts", "sh", "-c", "hostname demo; hostname"],
                         capture_output=True, text=True, timeout=30)
    return {"ps": ps.stdout + ps.stderr, "ps_rc": ps.returncode, "hostname_inside": uts.stdout.strip(),
            "uts_rc": uts.returncode, "hostname_host": socket.gethostname()}

