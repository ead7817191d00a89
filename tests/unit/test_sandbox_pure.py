"""The grading sandbox's pure parts: the worker's environment (hence the student's kernel's)
and the engine's command line. No sandbox is made."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from dockercourse.grading import engine_ns, enter
from dockercourse.grading.protocol import Job

JOB = Job(notebook_name="tp.ipynb", base_tar="/base.tar", isolated_net=False,
          sandbox="/var/lib/dockercourse-grading/slots/3", user="dcgrade3", docker_cli="/usr/bin/docker")


def test_the_kernel_builds_with_plain_progress():
    """The student's `!docker build` runs in a pty: without BUILDKIT_PROGRESS=plain, BuildKit
    draws its TTY progress and the feedback shows raw escape codes."""
    env = enter.worker_env(JOB)
    assert env["BUILDKIT_PROGRESS"] == "plain"
    assert env["DOCKER_BUILDKIT"] == "1"
    assert env["DOCKER_HOST"] == "unix:///var/lib/dockercourse-grading/slots/3/run/docker.sock"
    assert env["HOME"] == "/var/lib/dockercourse-grading/slots/3/home"


def test_the_engine_uses_the_cgroupfs_driver():
    """dockerd picks the systemd driver on cgroup v2 when /run/systemd/system exists; the sandbox
    user has no systemd session, so every container start would fail."""
    cmd = engine_ns.engine_command(Path(JOB.sandbox), "/usr/bin/dockerd-rootless.sh", ["--debug"])
    assert cmd[0] == "/usr/bin/dockerd-rootless.sh"
    assert cmd[cmd.index("--exec-opt") + 1] == "native.cgroupdriver=cgroupfs"
    assert cmd[cmd.index("-H") + 1] == "unix:///var/lib/dockercourse-grading/slots/3/run/docker.sock"
    assert cmd[cmd.index("--data-root") + 1] == "/var/lib/dockercourse-grading/slots/3/home/docker"
    assert cmd[-1] == "--debug"  # the instructor's extra flags come last


def test_per_container_limits_only_where_the_engine_applies_them():
    from dockercourse.grading.containers import CONTAINER_LIMITS, container_limits

    every = {"MemoryLimit": True, "PidsLimit": True, "CpuCfsQuota": True, "CpuCfsPeriod": True}
    assert container_limits({"CgroupDriver": "cgroupfs", **every}) == CONTAINER_LIMITS
    assert container_limits({"CgroupDriver": "systemd", **every}) == CONTAINER_LIMITS
    assert container_limits({"CgroupDriver": "none", **every}) == {}  # rootless on cgroup v1
    assert container_limits({}) == {}
    # cgroup v2 without the cpu controller delegated: no NanoCPUs (« NanoCPUs can not be set »)
    no_cpu = container_limits({"CgroupDriver": "cgroupfs", **every, "CpuCfsQuota": False})
    assert no_cpu == {k: v for k, v in CONTAINER_LIMITS.items() if k != "nano_cpus"}
    assert container_limits({"CgroupDriver": "cgroupfs", "PidsLimit": True}) == {
        "pids_limit": CONTAINER_LIMITS["pids_limit"]}


def test_the_engine_root_holds_only_usr_etc_and_the_slot():
    """The sandbox's current engine runs in a root of its own: the Debian root's /usr and /etc
    read-only, the host's account files (newuidmap reads the sandbox user's ranges), fresh /proc,
    the sandbox's private /tmp and the slot's folder; nothing else of the host."""
    view, slot = Path("/var/lib/dockercourse-grading/engine"), Path(JOB.sandbox)
    layout = engine_ns.root_layout(view, slot)
    assert layout[0][-1] == "{new}" and layout[0][1] == "tmpfs"
    binds = {a[-1]: a[1] for a in layout if a[0] in ("--bind", "--rbind")}
    assert binds == {"{new}/usr": f"{view}/usr", "{new}/etc": f"{view}/etc", "{new}/etc/passwd": "/etc/passwd",
                     "{new}/etc/group": "/etc/group", "{new}/etc/subuid": "/etc/subuid",
                     "{new}/etc/subgid": "/etc/subgid", "{new}/sys": "/sys", "{new}/dev": "/dev",
                     "{new}/tmp": "/tmp", "{new}" + str(slot): str(slot)}
    assert ("-o", "remount,bind,ro", "{new}/usr") in layout and ("-o", "remount,bind,ro", "{new}/etc") in layout
    assert engine_ns.ROOTLESS_SCRIPT.startswith("/usr/")  # inside the engine root's /usr


def test_the_cli_wrappers_run_the_engine_roots_binaries_with_its_loader():
    text = engine_ns.wrapper_text(Path("/var/lib/dockercourse-grading/engine"), "/usr/bin/docker", "x86_64")
    lib = "/var/lib/dockercourse-grading/engine/usr/lib/x86_64-linux-gnu"
    assert text.splitlines()[-1] == (f"exec {lib}/ld-linux-x86-64.so.2 --library-path {lib} "
                                     '/var/lib/dockercourse-grading/engine/usr/bin/docker "$@"')


def test_the_engine_command_runs_inside_the_engine_root():
    cmd = engine_ns.engine_command(Path(JOB.sandbox), engine_ns.ROOTLESS_SCRIPT)
    assert cmd[0] == "/usr/share/docker.io/contrib/dockerd-rootless.sh"
    assert cmd[cmd.index("--exec-opt") + 1] == "native.cgroupdriver=cgroupfs"


def test_an_offline_sandbox_fails_registry_requests_at_once():
    """With the offline base the sandbox has no network: its engine's pulls go to a proxy where
    nothing listens (an immediate refusal) instead of waiting 10 s for DNS through slirp4netns;
    its builds run on the default network, like the student's own `docker build`."""
    env = engine_ns.engine_env(True)
    assert env["HTTPS_PROXY"] == env["https_proxy"] == engine_ns.NO_REGISTRY_PROXY and env["NO_PROXY"] == ""
    assert engine_ns.engine_env(False) == {}
    from dockercourse.grading.build import OFFLINE_SANDBOX_ENV

    assert enter.worker_env(dataclasses.replace(JOB, isolated_net=True))[OFFLINE_SANDBOX_ENV] == "1"
    assert OFFLINE_SANDBOX_ENV not in enter.worker_env(JOB)


def test_slots_made_on_threads_at_once_each_keep_their_subordinate_ids(tmp_path, monkeypatch):
    """The class command makes its slots concurrently: every slot's line must end up in both files
    (a lost /etc/subgid line made a whole fresh-machine class « correction à refaire »)."""
    import pwd
    import threading
    import time
    from pathlib import Path

    from dockercourse.grading import host

    files = (tmp_path / "subuid", tmp_path / "subgid")
    monkeypatch.setattr(host, "SUBID_FILES", tuple(str(f) for f in files))
    monkeypatch.setattr(host.pwd, "getpwnam", lambda name: pwd.struct_passwd((name, "x", 999, 999, "", "/", "/")))
    slow_write = Path.write_text

    def write_text(self, text, *a, **kw):  # a busy machine: another thread reads meanwhile
        time.sleep(0.02)
        return slow_write(self, text, *a, **kw)

    monkeypatch.setattr(Path, "write_text", write_text)
    threads = [threading.Thread(target=host.ensure_user, args=(slot,)) for slot in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for f in files:
        assert sorted(ln.split(":")[0] for ln in f.read_text().splitlines()) == [
            f"{host.USER_PREFIX}{slot}" for slot in range(6)]
