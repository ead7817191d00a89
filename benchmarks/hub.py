"""The class server's costs, measured (root): ``python benchmarks/hub.py [--sessions 10]``.

Starts ``python -m dockercourse hub`` on loopback with a throw-away class (``--sessions`` students and
one instructor, real accounts, removed at the end) and measures:

- login to a ready JupyterLab: one student's server, from the spawn request to the hub saying it is
  ready (the first session: a new disk, the base image loaded into a new engine), then again
  (a session on an existing disk);
- an idle session's memory (JupyterLab + a kernel + the rootless engine), read from its cgroup once
  the engine has loaded the base image: what the cgroup is charged, and of it the processes' own
  memory (anon) and the page cache (file);
- a session running the TP (the reference solution executed in the student's kernel: build, run,
  checks): its wall time, the session's peak memory, and what the student's disk holds after it;
- ``--sessions`` servers spawned at once: the time until all are ready, and the memory of them all.

From those it prints how many students a machine serves: (RAM − a reserve for the OS, the hub and
the page cache) ÷ the working set of a session, at two points — every student idle or reading, and
every student running the TP at the same moment (the worst case, rare in a class).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _table import print_table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402
import requests  # noqa: E402

from dockercourse.hub import session  # noqa: E402
from tests.utils import corpus  # noqa: E402
from tests.utils.assignment import AID, NB, not_at_full_marks_as_released  # noqa: E402
from tests.utils.hub import Hub  # noqa: E402

BENCH_ROOT = Path("/var/lib/dockercourse-hub-bench")


def cgroup_of(hub: Hub, user: str):
    return session.SessionSpec(user=user, uid=0, gid=0, index=hub.index(user), root=str(hub.root)).cgroup()


def settle(hub: Hub, user: str, timeout: float = 180) -> None:
    """Until the session's engine has the base image (its first load is part of a first session)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rc, out = hub.sh(user, "test -f ~/.dockercourse/base-ready && echo ok || echo no")
        if out.strip() == "ok":
            return
        time.sleep(1)
    raise RuntimeError(f"{user}'s engine never had the base image")


def mib(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=10, help="servers spawned at once (default 10)")
    ap.add_argument("--ram-gib", type=float, default=None, help="RAM of the machine to size (default: this one's)")
    ap.add_argument("--reserve-gib", type=float, default=4.0, help="kept for the OS, the hub and the page cache")
    ap.add_argument("--json", help="also write the measures as JSON")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("run as root (the class server makes accounts, disks and namespaces)", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="dockercourse-hub-bench-"))
    students = [f"bench{i:02d}" for i in range(args.sessions)]
    roster = tmp / "classe.csv"
    roster.write_text("id,role\n" + "".join(f"{s},student\n" for s in students) + "benchprof,instructor\n")
    hub = Hub(roster, BENCH_ROOT, tmp / "hub.log")
    import subprocess

    subprocess.run([*hub.command, "--remove"], capture_output=True)
    m: dict = {}
    t0 = time.monotonic()
    try:
        hub.start()
        m["hub_start_s"] = time.monotonic() - t0
        first = students[0]
        m["first_spawn_s"] = hub.spawn(first)
        settle(hub, first)
        m["first_ready_with_base_s"] = time.monotonic() - t0 - m["hub_start_s"]
        hub.stop_server(first)
        m["spawn_s"] = hub.spawn(first)
        hub.sh(first, "true")  # a kernel, as a student with a notebook open
        settle(hub, first)
        time.sleep(10)
        m["idle"] = cgroup_of(hub, first).memory_mib()
        # the TP in the student's kernel
        r = requests.put(f"{hub.url}/user/{first}/api/contents/{AID}", headers=hub.headers,
                         json={"type": "directory"}, timeout=60)
        r = requests.put(f"{hub.url}/user/{first}/api/contents/{AID}/{NB}", headers=hub.headers, timeout=60,
                         json={"type": "notebook", "content": json.loads(nbformat.writes(corpus.solved()))})
        r.raise_for_status()
        t1 = time.monotonic()
        rc, out = hub.sh(first, f"cd ~/cours/{AID} && jupyter nbconvert --to notebook --execute --inplace "
                                f"--ExecutePreprocessor.timeout=600 {NB}", timeout=1200)
        m["tp_s"] = time.monotonic() - t1
        nb = requests.get(f"{hub.url}/user/{first}/api/contents/{AID}/{NB}", headers=hub.headers, timeout=60)
        m["tp_full_marks"] = rc == 0 and not_at_full_marks_as_released(nbformat.from_dict(nb.json()["content"])) == []
        m["tp_peak_mib"] = cgroup_of(hub, first).memory_peak_mib()
        _, used = hub.sh(first, "df -m --output=used ~ | tail -1")  # the student's disk after the TP
        m["disk_used_mib"] = float(used.strip())
        hub.stop_server(first)
        # N at once (the first one's disk exists; the others are new)
        t2 = time.monotonic()
        with ThreadPoolExecutor(len(students)) as pool:
            waits = list(pool.map(lambda s: hub.spawn(s, timeout=900), students))
        m["n_at_once_s"] = time.monotonic() - t2
        m["n_at_once_median_s"] = statistics.median(waits)
        for s in students:
            settle(hub, s, timeout=900)
        m["n_ready_with_base_s"] = time.monotonic() - t2
        time.sleep(10)
        per = [cgroup_of(hub, s).memory_mib() for s in students]
        m["n_charged_mib"] = sum(p.get("charged", 0) for p in per)
        m["n_anon_mib"] = sum(p.get("anon", 0) for p in per)
    finally:
        hub.stop()
        subprocess.run([*hub.command, "--remove"], capture_output=True)
    ram = args.ram_gib or os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    idle_ws = m["idle"].get("anon", 0) + 64  # + a little page cache each session keeps warm
    busy_ws = m["tp_peak_mib"] or 0
    usable = (ram - args.reserve_gib) * 1024
    m["students_idle"] = int(usable // idle_ws) if idle_ws else None
    m["students_all_building"] = int(usable // busy_ws) if busy_ws else None
    rows = [
        ["hub start (accounts, network, JupyterHub)", f"{m['hub_start_s']:.1f} s"],
        ["first session: spawn -> JupyterLab ready", f"{m['first_spawn_s']:.1f} s"],
        ["first session: ... and the base image in its engine", f"{m['first_ready_with_base_s']:.1f} s"],
        ["later session (existing disk): spawn -> ready", f"{m['spawn_s']:.1f} s"],
        ["idle session: charged / anon / page cache", " / ".join(mib(m["idle"].get(k)) for k in
                                                                  ("charged", "anon", "file")) + " MiB"],
        ["TP in the student's kernel: wall", f"{m['tp_s']:.0f} s (full marks: {m['tp_full_marks']})"],
        ["TP: session's peak memory", f"{mib(m['tp_peak_mib'])} MiB"],
        ["the student's disk used after the TP", f"{mib(m['disk_used_mib'])} MiB"],
        [f"{args.sessions} sessions at once: all ready", f"{m['n_at_once_s']:.1f} s "
                                                         f"(median {m['n_at_once_median_s']:.1f} s)"],
        [f"{args.sessions} sessions: ... with the base in every engine", f"{m['n_ready_with_base_s']:.1f} s"],
        [f"{args.sessions} idle sessions: charged / anon", f"{mib(m['n_charged_mib'])} / {mib(m['n_anon_mib'])} MiB"],
        [f"students on {ram:.0f} GiB (reserve {args.reserve_gib:g}): idle or reading", str(m["students_idle"])],
        [f"students on {ram:.0f} GiB: all running the TP at once", str(m["students_all_building"])],
    ]
    print_table(["measure", "value"], rows, left=(0,))
    print(f"({os.cpu_count()} cores; sessions capped at {hub.memory_mib} MiB and 1 core each)")
    if args.json:
        Path(args.json).write_text(json.dumps(m, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
