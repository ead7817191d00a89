"""The grading sandbox's pure parts: the worker's environment (hence the student's kernel's)
and the engine's command line. No sandbox is made."""

from __future__ import annotations

from pathlib import Path

from dockercourse.grading import sandbox

JOB = {"sandbox": "/var/lib/dockercourse-grading/slots/3", "user": "dcgrade3", "docker_cli": "/usr/bin/docker"}


def test_the_kernel_builds_with_plain_progress():
    """The student's `!docker build` runs in a pty: without BUILDKIT_PROGRESS=plain, BuildKit
    draws its TTY progress and the feedback shows raw escape codes."""
    env = sandbox.worker_env(JOB)
    assert env["BUILDKIT_PROGRESS"] == "plain"
    assert env["DOCKER_BUILDKIT"] == "1"
    assert env["DOCKER_HOST"] == "unix:///var/lib/dockercourse-grading/slots/3/run/docker.sock"
    assert env["HOME"] == "/var/lib/dockercourse-grading/slots/3/home"


def test_the_engine_uses_the_cgroupfs_driver():
    """dockerd picks the systemd driver on cgroup v2 when /run/systemd/system exists; the sandbox
    user has no systemd session, so every container start would fail."""
    cmd = sandbox.engine_command(Path(JOB["sandbox"]), "/usr/bin/dockerd-rootless.sh", ["--debug"])
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
