"""Helper container (``--pid=host --cgroupns=host``): print raw /proc and cgroup files as JSON.

argv[1] is a JSON request: ``root`` (where the host's /sys/fs/cgroup is mounted), ``names``
(cgroup files to copy), ``pids``; with ``snapshot`` one JSON line and exit, else a ready line
then one sample per ``interval`` during ``duration`` seconds.
"""

import json
import os
import sys
import time

req = json.loads(sys.argv[1])
ROOT = req["root"]
if not os.path.isdir(ROOT):  # no bind mount (Docker Desktop may refuse it): the container's own
    ROOT = "/sys/fs/cgroup"  # view, complete on cgroup v2 with --cgroupns=host
NAMES = set(req["names"])
NS = ("pid", "net", "mnt", "uts", "ipc", "user", "cgroup", "time")


def read(p, limit=65536):
    try:
        with open(p) as f:
            return f.read(limit)
    except OSError:
        return None


def ns_of(pid):
    out = {}
    for n in NS:
        try:
            out[n] = os.readlink(f"/proc/{pid}/ns/{n}")
        except OSError:
            out[n] = None
    return out


def cg_files(proc_cgroup):
    files = {}
    top = read(os.path.join(ROOT, "cgroup.controllers"))
    if top is not None:
        files["cgroup.controllers"] = top
    try:
        mounts = [d for d in os.listdir(ROOT) if os.path.isdir(os.path.join(ROOT, d))]
    except OSError:
        mounts = []
    for line in (proc_cgroup or "").splitlines():
        path = line.split(":", 2)[-1].strip("/")
        for base in ["", *mounts]:
            d = os.path.join(ROOT, base, path) if path else os.path.join(ROOT, base)
            if not os.path.isdir(d):
                continue
            rel = "/".join(x for x in (base, path) if x)
            for name in NAMES:
                t = read(os.path.join(d, name))
                if t is not None:
                    files[(rel + "/" if rel else "") + name] = t
    return files


def nprocs():
    return sum(1 for d in os.listdir("/proc") if d.isdigit())


def _ref(pid):
    comm = read(f"/proc/{pid}/comm", 64)
    if comm is None:
        return None
    ns = ns_of(pid)
    if ns["pid"] is None or ns["user"] is None:
        return None
    return {"pid": int(pid), "comm": comm.strip(), "ns": ns,
            "mounts": len((read(f"/proc/{pid}/mounts", 1 << 22) or "").splitlines())}


def _ppid(pid):
    for line in (read(f"/proc/{pid}/status") or "").splitlines():
        if line.startswith("PPid:"):
            return line.split()[1]
    return None


def _root_owned(pid):
    for line in (read(f"/proc/{pid}/status") or "").splitlines():
        if line.startswith("Uid:"):
            return line.split()[1] == "0"
    return False


def host_reference(targets):
    """The process whose namespaces stand for "the host": PID 1 when readable; else the
    containerd-shim that started the first target (the daemon's own namespaces, even when other
    dockerd processes, rootless or in other containers, are visible); else dockerd/containerd."""
    ref = _ref("1")
    if ref:
        return ref
    for target in targets[:1]:
        pid, seen = _ppid(target), 0
        while pid and pid not in ("0", "1") and seen < 8:
            if (read(f"/proc/{pid}/comm", 64) or "").startswith("containerd-shim"):
                ref = _ref(pid)
                if ref:
                    return ref
            pid, seen = _ppid(pid), seen + 1
    for cand in sorted((d for d in os.listdir("/proc") if d.isdigit()), key=int):
        if not _root_owned(cand):  # a rootless dockerd (its own user namespace) is not "the host"
            continue
        if (read(f"/proc/{cand}/comm", 64) or "").strip() in ("dockerd", "containerd"):
            ref = _ref(cand)
            if ref:
                return ref
    return None


pids = [str(p) for p in req["pids"]]
proc_cg = req.get("proc_cgroup") or {p: read(f"/proc/{p}/cgroup") for p in pids}  # override: tests
if req.get("snapshot"):
    out = {
        "ref": host_reference(pids),
        "self_ns": ns_of("self"),
        "ns": {p: ns_of(p) for p in pids},
        "comm": {p: (read(f"/proc/{p}/comm", 64) or "").strip() for p in pids},
        "proc_cgroup": proc_cg,
        "cgroup": {p: cg_files(proc_cg[p]) for p in pids},
        "hostname": (read("/proc/sys/kernel/hostname") or "").strip(),
        "interfaces": [line.split(":")[0].strip() for line in (read("/proc/net/dev") or "").splitlines()[2:]],
        "shm": (read("/proc/sysvipc/shm") or "").splitlines()[1:],
        "nprocs": nprocs(),
    }
    print(json.dumps(out), flush=True)
    sys.exit(0)
t0 = time.monotonic()
seen = False
print(json.dumps({"ready": True, "proc_cgroup": proc_cg}), flush=True)
while time.monotonic() - t0 < req["duration"]:
    t = time.monotonic() - t0
    sample, stamps = {}, {}
    for p in pids:  # each pid's own time, taken right after its files were read
        sample[p] = cg_files(proc_cg[p])
        stamps[p] = time.monotonic() - t0
    alive = any(len(v) > 1 for v in sample.values())
    if alive:
        seen = True
    elif seen and req.get("stop_when_gone", True):
        break
    print(json.dumps({"t": t, "tp": stamps, "cgroup": sample, "nprocs": nprocs()}), flush=True)
    time.sleep(req["interval"])
