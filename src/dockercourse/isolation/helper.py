"""The Docker host's point of view: a short-lived helper container.

With Docker Desktop the daemon lives in a VM, and a notebook inside a container only sees its own
namespaces. So the live readers start a labelled helper container with ``--pid=host
--cgroupns=host`` (and ``--net/--uts/--ipc=host``) that runs ``scripts/helper.py`` and prints raw
``/proc`` and cgroup files as JSON; parsing stays in :mod:`.cgroups` and :mod:`.namespaces`.
"""

from __future__ import annotations

import json
import time
import uuid
from importlib import resources

from .. import engine
from .cgroups import Cgroup, DictTree

HELPER_MOUNT = "/host/cgroup"



def script(name: str) -> str:
    """Text of ``scripts/<name>.py``, to run in a container with ``python3 -c``."""
    return resources.files(__package__).joinpath("scripts", f"{name}.py").read_text()


#: Runs inside the helper container (stdlib only): prints JSON lines of raw files.
HELPER_SCRIPT = script("helper")

#: cgroup files the helper copies (both layouts).
HELPER_FILES = (
    "cgroup.controllers",
    "memory.max", "memory.current", "memory.peak", "memory.events",
    "memory.limit_in_bytes", "memory.usage_in_bytes", "memory.max_usage_in_bytes",
    "memory.failcnt", "memory.memsw.failcnt", "memory.oom_control",
    "cpu.max", "cpu.stat", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpuacct.usage",
    "pids.max", "pids.current", "pids.events",
)


def _helper_kwargs(name_part: str, mount: bool = True) -> dict:
    kw = dict(
        name=engine.name("nb02", name_part, uuid.uuid4().hex[:6]),
        labels=engine.labels(unit="nb02", role="helper"),
        pid_mode="host", ipc_mode="host", uts_mode="host", network_mode="host", cgroupns="host",
        cap_add=["SYS_PTRACE"],  # reading another process's /proc/<pid>/ns needs it
        mem_limit="64m", pids_limit=16,
    )
    if mount:
        kw["volumes"] = {"/sys/fs/cgroup": {"bind": HELPER_MOUNT, "mode": "ro"}}
    return kw


def _helper_request(pids, **kw) -> str:
    return json.dumps({"root": HELPER_MOUNT, "names": list(HELPER_FILES), "pids": list(pids), **kw})


def _run_helper(name_part: str, request: str):
    """Start the helper container (detached); without the /sys/fs/cgroup bind mount when the
    daemon refuses it (Docker Desktop only shares some host folders)."""
    import docker

    c = engine.client()
    cmd = ["python3", "-c", HELPER_SCRIPT, request]
    try:
        return c.containers.run(engine.BASE_IMAGE, cmd, detach=True, **_helper_kwargs(name_part))
    except docker.errors.APIError as err:
        if "mount" not in str(err).lower() and "shared" not in str(err).lower():
            raise
        return c.containers.run(engine.BASE_IMAGE, cmd, detach=True, **_helper_kwargs(name_part, mount=False))



def host_snapshot(pids=(), timeout: float = 60) -> dict:
    """Raw view of the Docker host: namespaces of ``pids`` and of a host reference process
    (PID 1, else dockerd), their ``/proc/<pid>/cgroup`` and cgroup files, the host's hostname,
    network interfaces and System V shared memory segments. Needs Docker."""
    ctr = _run_helper("hostview", _helper_request(pids, snapshot=True))
    try:
        status = ctr.wait(timeout=timeout)
        out = ctr.logs(stdout=True, stderr=False).decode()
        if status.get("StatusCode") != 0:
            err = ctr.logs(stdout=False, stderr=True).decode()
            raise RuntimeError(f"host view helper failed: {err[-800:]}")
    finally:
        engine.remove_container(ctr.name)
    return json.loads(out.strip().splitlines()[-1])


class Sampler:
    """Samples the cgroups of some host pids from a helper container, in the background."""

    def __init__(self, pids, interval: float = 0.05, duration: float = 30.0, stop_when_gone: bool = True):
        self.pids = [str(p) for p in pids]
        self.ctr = _run_helper("sampler", _helper_request(self.pids, interval=interval, duration=duration,
                                                           stop_when_gone=stop_when_gone))
        self.duration = duration
        self.proc_cgroup: dict[str, str] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until the first line says it is ready
            lines = self.ctr.logs(stdout=True, stderr=False).decode().splitlines()
            if lines:
                self.proc_cgroup = json.loads(lines[0])["proc_cgroup"]
                return
            self.ctr.reload()
            if self.ctr.status == "exited":
                break
            time.sleep(0.05)
        err = self.ctr.logs(stdout=False, stderr=True).decode()
        self.close()
        raise RuntimeError(f"sampler helper did not start: {err[-800:]}")

    def finish(self, timeout: float | None = None) -> list[dict]:
        """Wait for the sampler to stop (target gone or duration over); raw samples."""
        try:
            self.ctr.wait(timeout=timeout or self.duration + 30)
            lines = self.ctr.logs(stdout=True, stderr=False).decode().splitlines()
        finally:
            self.close()
        return [json.loads(x) for x in lines[1:] if x.strip()]

    def close(self) -> None:
        engine.remove_container(self.ctr.name)

    def cgroups(self, sample: dict) -> dict[str, Cgroup]:
        return {p: Cgroup(DictTree(sample["cgroup"][p]), self.proc_cgroup.get(p) or "") for p in self.pids}

